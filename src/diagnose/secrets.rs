//! `pull-secret` (the pod's imagePullSecrets exist and are dockerconfigjson with an entry
//! for the image's host) and `pull-secret-credentials` (the registry's token service
//! accepts them: 200 → accepted, 401 → refused). Passwords are never printed.

use super::{Check, Context, Facts, Status, names};
use crate::clients::SecretString;
use crate::clients::registry::BasicAuth;
use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use serde_json::Value;

/// Credentials found in one secret for the image's host.
#[derive(Debug, Clone)]
pub struct Found {
    pub secret: String,
    pub auth: BasicAuth,
}

/// Whether a dockerconfig `auths` key names `host`.
pub fn key_matches(key: &str, host: &str) -> bool {
    let k = key.trim().trim_start_matches("https://").trim_start_matches("http://");
    let k = k.split('/').next().unwrap_or(k).to_ascii_lowercase();
    let h = host.to_ascii_lowercase();
    let hub = ["docker.io", "index.docker.io", "registry-1.docker.io"];
    k == h || (hub.contains(&k.as_str()) && hub.contains(&h.as_str()))
}

/// The credentials a secret holds for `host`: `Ok(None)` when it has no entry for it,
/// `Err(why)` when it is not a usable docker config secret.
pub fn credentials_for(s: &Secret, host: &str) -> Result<Option<BasicAuth>, String> {
    let ty = s.type_.as_deref().unwrap_or("Opaque");
    let data = s.data.as_ref();
    let (raw, nested) = match ty {
        "kubernetes.io/dockerconfigjson" => (data.and_then(|d| d.get(".dockerconfigjson")), true),
        "kubernetes.io/dockercfg" => (data.and_then(|d| d.get(".dockercfg")), false),
        other => {
            return Err(format!(
                "type {other}; a pull secret must be kubernetes.io/dockerconfigjson"
            ));
        }
    };
    let raw = raw.ok_or_else(|| format!("type {ty} but no data key for it"))?;
    let v: Value = serde_json::from_slice(&raw.0).map_err(|e| format!("not JSON: {e}"))?;
    let auths = if nested { v.get("auths").cloned().unwrap_or(Value::Null) } else { v };
    let Some(map) = auths.as_object() else {
        return Err("no `auths` object".into());
    };
    let Some((_, entry)) = map.iter().find(|(k, _)| key_matches(k, host)) else {
        return Ok(None);
    };
    let field = |n: &str| entry.get(n).and_then(Value::as_str).map(str::to_string);
    let (user, pass) = match (field("username"), field("password")) {
        (Some(u), Some(p)) => (u, p),
        _ => {
            let auth = field("auth").ok_or("entry has neither username/password nor auth")?;
            let dec = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| "entry's `auth` is not base64".to_string())?;
            let text = String::from_utf8(dec).map_err(|_| "entry's `auth` is not UTF-8")?;
            let (u, p) = text.split_once(':').ok_or("entry's `auth` is not user:password")?;
            (u.to_string(), p.to_string())
        }
    };
    Ok(Some(BasicAuth { username: user, password: SecretString::new(pass) }))
}

/// Both checks; returns the first accepted credential (used to look the tag up).
pub async fn pull_secrets(
    ctx: &Context,
    f: &mut Facts,
    secret_names: &[String],
) -> (Check, Check, Option<BasicAuth>) {
    let host = f.image.host.clone();
    let ns = f.namespace.clone();
    f.secret_names = secret_names.to_vec();
    let mut evidence = Vec::new();
    let mut found: Vec<Found> = Vec::new();
    let mut missing = Vec::new();
    let mut unusable = false;
    for name in secret_names {
        match ctx.kube.get_secret(&ns, name).await {
            Ok(None) => {
                missing.push(name.clone());
                evidence.push(format!("Secret {ns}/{name} does not exist"));
            }
            Ok(Some(s)) => match credentials_for(&s, &host) {
                Ok(Some(auth)) => {
                    evidence.push(format!(
                        "Secret {ns}/{name}: {} with an entry for {host} (username {})",
                        s.type_.as_deref().unwrap_or("?"),
                        auth.username
                    ));
                    f.secret_usernames.push(auth.username.clone());
                    found.push(Found { secret: name.clone(), auth });
                }
                Ok(None) => {
                    evidence.push(format!("Secret {ns}/{name} has no entry for {host}"));
                }
                Err(why) => {
                    unusable = true;
                    evidence.push(format!("Secret {ns}/{name}: {why}"));
                }
            },
            Err(e) => evidence.push(format!("Secret {ns}/{name}: cannot read: {e}")),
        }
    }
    let secret_check = if secret_names.is_empty() {
        if f.is_target_registry {
            Check::new(
                names::PULL_SECRET,
                Status::Skipped,
                "the pod names no imagePullSecrets: the kubelet identity pulls from the target registry",
            )
        } else {
            anonymous(ctx, f).await
        }
    } else if !missing.is_empty() {
        Check::new(
            names::PULL_SECRET,
            Status::Fail,
            format!("imagePullSecrets name missing Secret(s): {}", missing.join(", ")),
        )
    } else if found.is_empty() {
        let status = if f.is_target_registry { Status::Skipped } else { Status::Fail };
        Check::new(
            names::PULL_SECRET,
            status,
            format!(
                "no imagePullSecret holds {}credentials for {host}",
                if unusable { "usable " } else { "" }
            ),
        )
    } else {
        Check::new(
            names::PULL_SECRET,
            Status::Pass,
            format!("imagePullSecrets exist and hold credentials for {host}"),
        )
    };
    let mut secret_check = secret_check;
    secret_check.evidence.splice(0..0, evidence);
    let (cred_check, accepted) = test_credentials(ctx, f, &found).await;
    (secret_check, cred_check, accepted)
}

async fn anonymous(ctx: &Context, f: &Facts) -> Check {
    let host = f.image.api_host();
    let base = format!("the pod names no imagePullSecrets for {}", f.image.host);
    if f.unreachable {
        return Check::new(names::PULL_SECRET, Status::Unknown, base).with(format!(
            "{} does not answer from here: anonymous access not tested",
            f.image.host
        ));
    }
    match ctx.registry.token(host, &f.image.repo, None).await {
        Ok(t) if t.status == 200 => {
            match &t.granted {
                Some(g) if !g.iter().any(|a| a == "pull" || a == "*") => Check::new(
                    names::PULL_SECRET,
                    Status::Fail,
                    format!("{base}, and anonymous callers get no pull on {}", f.image.repo),
                )
                .with(format!("anonymous token from {}: granted [{}]", t.endpoint, g.join(", "))),
                _ => Check::new(
                    names::PULL_SECRET,
                    Status::Pass,
                    format!("{base}; anonymous pull of {} is allowed", f.image.repo),
                )
                .with(format!("anonymous token from {} → 200", t.endpoint)),
            }
        }
        Ok(t) => Check::new(
            names::PULL_SECRET,
            Status::Fail,
            format!("{base}, and the registry refuses anonymous callers"),
        )
        .with(format!("anonymous token from {} → HTTP {}", t.endpoint, t.status)),
        Err(e) => Check::new(names::PULL_SECRET, Status::Unknown, base).with(e.to_string()),
    }
}

async fn test_credentials(ctx: &Context, f: &Facts, found: &[Found]) -> (Check, Option<BasicAuth>) {
    let name = names::PULL_SECRET_CREDENTIALS;
    if found.is_empty() {
        return (Check::new(name, Status::Skipped, "no pull-secret credentials to test"), None);
    }
    if f.unreachable {
        return (
            Check::new(
                name,
                Status::Unknown,
                format!("not tested: {} does not answer from here", f.image.host),
            ),
            None,
        );
    }
    let host = f.image.api_host();
    let mut evidence = Vec::new();
    let mut accepted = None;
    let mut refused = Vec::new();
    let mut unknown = false;
    for fd in found {
        match ctx.registry.token(host, &f.image.repo, Some(&fd.auth)).await {
            Ok(t) if t.status == 200 => {
                let pulls = t.granted.as_ref().is_none_or(|g| g.iter().any(|a| a == "pull"));
                evidence.push(format!(
                    "{}: token service {} → 200 (accepted{})",
                    fd.secret,
                    t.endpoint,
                    match &t.granted {
                        Some(g) => format!(", grants [{}] on {}", g.join(", "), f.image.repo),
                        None => String::new(),
                    }
                ));
                if pulls {
                    accepted.get_or_insert(fd.auth.clone());
                } else {
                    refused.push(fd.secret.clone());
                }
            }
            Ok(t) => {
                evidence.push(format!(
                    "{}: token service {} → HTTP {} ({}){}",
                    fd.secret,
                    t.endpoint,
                    t.status,
                    if t.status == 401 { "refused" } else { "error" },
                    t.error.map(|e| format!(": {e}")).unwrap_or_default()
                ));
                if t.status == 401 {
                    refused.push(fd.secret.clone());
                } else {
                    unknown = true;
                }
            }
            Err(e) => {
                unknown = true;
                evidence.push(format!("{}: {e}", fd.secret));
            }
        }
    }
    let mut c = if accepted.is_some() {
        Check::new(name, Status::Pass, "the registry accepts the pull secret's credentials")
    } else if !refused.is_empty() && !unknown {
        Check::new(
            name,
            Status::Fail,
            format!(
                "the registry refuses the credentials of {} (wrong, expired or without pull on {})",
                refused.join(", "),
                f.image.repo
            ),
        )
    } else {
        Check::new(name, Status::Unknown, "could not test the pull secret's credentials")
    };
    c.evidence = evidence;
    (c, accepted)
}
