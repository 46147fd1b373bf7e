//! Credential resolution as the kubelet does it: the pod's pull secrets
//! (`kubernetes.io/dockerconfigjson` / `kubernetes.io/dockercfg`) matched against the
//! image's registry by the keyring's URL glob rules, then the node's credential provider
//! (for `*.azurecr.io`: kubelet identity → Entra managed-identity endpoint → ACR
//! `/oauth2/exchange`, like `acr-credential-provider`). Secrets never reach logs.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use super::image::ImageRef;
use crate::cri::AuthConfig;

/// One credential: what goes into the CRI `AuthConfig`. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The keyring key that matched (e.g. `acrchaoslab.azurecr.io`), for logs.
    pub matched: String,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("matched", &self.matched)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credential {
    /// The CRI `AuthConfig` the kubelet sends: user name and password only. The kubelet's
    /// keyring leaves `server_address` empty; containerd would drop credentials whose
    /// server address differs from the host it talks to (here the mapped endpoint).
    pub fn to_auth(&self) -> AuthConfig {
        AuthConfig {
            username: self.username.clone(),
            password: self.password.clone(),
            ..Default::default()
        }
    }
}

/// What the kubelet pulls with when the node's ACR credential provider fails, per
/// provider kind (see [`super::profile`] for the sources). The in-tree provider still
/// answers its anonymous `*.azurecr.*` entry (empty user name and password), so the
/// kubelet sends an empty `AuthConfig`; the exec plugin's error leaves no credential, so
/// the kubelet sends none. containerd's `ParseAuth` makes both an anonymous pull.
pub fn after_provider_failure(
    kind: super::CredentialProviderKind,
    login_server: &str,
    err: &str,
) -> Vec<Credential> {
    match kind {
        super::CredentialProviderKind::ExecPlugin => {
            tracing::warn!(
                "Failed getting credential from external registry credential provider: {err}"
            );
            Vec::new()
        }
        super::CredentialProviderKind::InTree => {
            tracing::warn!("error getting credentials from ACR for {login_server} {err}");
            vec![Credential {
                matched: "*.azurecr.*".into(),
                username: String::new(),
                password: String::new(),
            }]
        }
    }
}

/// Parse a Secret object into `(key, username, password)` entries. The error names the
/// field that is wrong.
pub fn parse_pull_secret(secret: &Value) -> Result<Vec<Credential>, String> {
    let name = secret.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("?");
    let ty = secret.get("type").and_then(Value::as_str).unwrap_or("Opaque");
    let (field, nested) = match ty {
        "kubernetes.io/dockerconfigjson" => (".dockerconfigjson", true),
        "kubernetes.io/dockercfg" => (".dockercfg", false),
        other => {
            return Err(format!(
                "secret {name}: type {other:?} is not a pull secret (kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg)"
            ));
        }
    };
    let b64 = secret
        .pointer(&format!("/data/{}", field.replace('/', "~1")))
        .and_then(Value::as_str)
        .ok_or_else(|| format!("secret {name}: data[{field:?}] is missing"))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| format!("secret {name}: data[{field:?}] is not base64: {e}"))?;
    let doc: Value = serde_json::from_slice(&raw)
        .map_err(|e| format!("secret {name}: data[{field:?}] is not JSON: {e}"))?;
    let auths = if nested { doc.get("auths").cloned().unwrap_or(Value::Null) } else { doc };
    let Some(auths) = auths.as_object() else {
        return Err(format!("secret {name}: data[{field:?}] has no auths object"));
    };
    let mut out = Vec::new();
    for (key, entry) in auths {
        let mut username = entry.get("username").and_then(Value::as_str).unwrap_or("").to_string();
        let mut password = entry.get("password").and_then(Value::as_str).unwrap_or("").to_string();
        if let Some(auth) = entry.get("auth").and_then(Value::as_str).filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth)
                .map_err(|e| format!("secret {name}: auths[{key:?}].auth is not base64: {e}"))?;
            let decoded = String::from_utf8_lossy(&decoded).to_string();
            let (u, p) = decoded.split_once(':').ok_or_else(|| {
                format!("secret {name}: auths[{key:?}].auth must be base64(user:password)")
            })?;
            username = u.to_string();
            password = p.to_string();
        }
        out.push(Credential { matched: key.clone(), username, password });
    }
    Ok(out)
}

/// A keyring key normalized as the kubelet's `BasicDockerKeyring.Add` does: scheme
/// dropped, `/v1/`/`/v2/` suffix dropped, `index.docker.io` → `docker.io`.
pub fn normalize_key(key: &str) -> String {
    let k = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    let mut k = k.trim_end_matches('/').to_string();
    for suffix in ["/v1", "/v2"] {
        if let Some(s) = k.strip_suffix(suffix) {
            k = s.to_string();
        }
    }
    if let Some(rest) = k.strip_prefix("index.docker.io") {
        k = format!("docker.io{rest}");
    }
    k
}

fn glob_part(pattern: &str, s: &str) -> bool {
    // path.Match for one DNS label: '*' matches any run of characters.
    match pattern.split_once('*') {
        None => pattern == s,
        Some((pre, rest)) => {
            if !s.starts_with(pre) {
                return false;
            }
            let tail = &s[pre.len()..];
            (0..=tail.len()).any(|i| tail.is_char_boundary(i) && glob_part(rest, &tail[i..]))
        }
    }
}

/// `URLsMatchStr(glob, target)`: same number of host labels, each globbed; same port;
/// the glob's path a prefix of the target's path. `target` is `host[:port]/path`.
pub fn url_matches(glob: &str, target: &str) -> bool {
    let glob = normalize_key(glob);
    let (g_hostport, g_path) = glob.split_once('/').map_or((glob.as_str(), ""), |(h, p)| (h, p));
    let (t_hostport, t_path) = target.split_once('/').map_or((target, ""), |(h, p)| (h, p));
    let split = |hp: &str| match hp.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => (h.to_string(), p.to_string()),
        _ => (hp.to_string(), String::new()),
    };
    let ((gh, gp), (th, tp)) = (split(g_hostport), split(t_hostport));
    if gp != tp {
        return false;
    }
    let (gl, tl): (Vec<&str>, Vec<&str>) = (gh.split('.').collect(), th.split('.').collect());
    if gl.len() != tl.len()
        || !gl
            .iter()
            .zip(&tl)
            .all(|(g, t)| glob_part(&g.to_ascii_lowercase(), &t.to_ascii_lowercase()))
    {
        return false;
    }
    t_path.starts_with(g_path)
}

/// Credentials from pull secrets that match `image`, most specific key first.
pub fn lookup(creds: &[Credential], image: &ImageRef) -> Vec<Credential> {
    let target = image.name();
    let mut matched: Vec<Credential> =
        creds.iter().filter(|c| url_matches(&c.matched, &target)).cloned().collect();
    // The kubelet keeps its index reverse-sorted, so longer (more specific) keys win.
    matched.sort_by_key(|c| std::cmp::Reverse(normalize_key(&c.matched)));
    matched
}

/// The node's ACR credential provider (what `acr-credential-provider` does).
#[derive(Clone)]
pub struct AcrCredentialProvider {
    /// `matchImages` globs, AKS: `*.azurecr.io`, `*.azurecr.cn`, `*.azurecr.de`, `*.azurecr.us`.
    pub match_images: Vec<String>,
    /// Managed-identity token URL (IMDS style), e.g. `https://127.0.0.1:p/metadata/identity/oauth2/token`.
    pub imds_url: String,
    /// The kubelet identity's client id.
    pub client_id: String,
    pub tenant_id: String,
    /// Login server → base URL of its front door (default `https://<login server>`).
    pub endpoints: HashMap<String, String>,
    pub http: reqwest::Client,
}

impl std::fmt::Debug for AcrCredentialProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcrCredentialProvider")
            .field("match_images", &self.match_images)
            .field("imds_url", &self.imds_url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// The user name ACR expects with a refresh token.
pub const ACR_REFRESH_USER: &str = "00000000-0000-0000-0000-000000000000";

impl AcrCredentialProvider {
    /// An HTTP client trusting `ca_pem` (the lab CA) only.
    pub fn http_client(ca_pem: Option<&str>) -> Result<reqwest::Client, String> {
        let mut b = reqwest::Client::builder().timeout(Duration::from_secs(15)).no_proxy();
        if let Some(pem) = ca_pem {
            let cert = reqwest::Certificate::from_pem(pem.as_bytes())
                .map_err(|e| format!("lab CA PEM: {e}"))?;
            b = b.tls_certs_only([cert]);
        }
        b.build().map_err(|e| format!("HTTP client: {e}"))
    }

    pub fn matches(&self, image: &ImageRef) -> bool {
        self.match_images.iter().any(|g| url_matches(g, &image.name()))
    }

    /// `None` if the provider does not handle this image; otherwise the credential or the
    /// provider's error text.
    pub async fn provide(&self, image: &ImageRef) -> Option<Result<Credential, String>> {
        if !self.matches(image) {
            return None;
        }
        Some(self.fetch(&image.domain).await)
    }

    async fn fetch(&self, login_server: &str) -> Result<Credential, String> {
        let resp = self
            .http
            .get(&self.imds_url)
            .header("Metadata", "true")
            .query(&[
                ("api-version", "2018-02-01"),
                ("resource", "https://management.azure.com/"),
                ("client_id", self.client_id.as_str()),
            ])
            .send()
            .await
            .map_err(|e| format!("failed to get a managed identity token: {e}"))?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let Some(aad) = body.get("access_token").and_then(Value::as_str).map(str::to_string) else {
            let desc = body.get("error_description").and_then(Value::as_str).unwrap_or("");
            return Err(format!("failed to get a managed identity token: {status}: {desc}"));
        };
        let base = self
            .endpoints
            .get(login_server)
            .cloned()
            .unwrap_or_else(|| format!("https://{login_server}"));
        let resp = self
            .http
            .post(format!("{}/oauth2/exchange", base.trim_end_matches('/')))
            .form(&[
                ("grant_type", "access_token"),
                ("service", login_server),
                ("tenant", self.tenant_id.as_str()),
                ("access_token", aad.as_str()),
            ])
            .send()
            .await
            .map_err(|e| {
                format!("failed to exchange an AAD token for an ACR refresh token: {e}")
            })?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        match body.get("refresh_token").and_then(Value::as_str) {
            Some(rt) if status.is_success() => Ok(Credential {
                matched: login_server.to_string(),
                username: ACR_REFRESH_USER.to_string(),
                password: rt.to_string(),
            }),
            _ => Err(format!(
                "failed to exchange an AAD token for an ACR refresh token: unexpected status: {status}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::image::parse_normalized;
    use super::*;
    use serde_json::json;

    fn secret(ty: &str, field: &str, doc: Value) -> Value {
        let b = base64::engine::general_purpose::STANDARD.encode(doc.to_string());
        json!({"metadata": {"name": "s"}, "type": ty, "data": {field: b}})
    }

    #[test]
    fn parses_dockerconfigjson_and_dockercfg() {
        let auth = base64::engine::general_purpose::STANDARD.encode("bob:pw2");
        let s = secret(
            "kubernetes.io/dockerconfigjson",
            ".dockerconfigjson",
            json!({"auths": {"acrchaoslab.azurecr.io": {"username": "u", "password": "p"}, "registry.hub.lab": {"auth": auth}}}),
        );
        let c = parse_pull_secret(&s).unwrap();
        assert_eq!(c.len(), 2);
        assert!(c.iter().any(|c| c.username == "bob" && c.password == "pw2"));
        let s = secret(
            "kubernetes.io/dockercfg",
            ".dockercfg",
            json!({"https://a.io": {"username": "u", "password": "p"}}),
        );
        assert_eq!(parse_pull_secret(&s).unwrap()[0].matched, "https://a.io");
        assert!(
            parse_pull_secret(&json!({"metadata": {"name": "x"}, "type": "Opaque"}))
                .unwrap_err()
                .contains("not a pull secret")
        );
        let bad = json!({"metadata": {"name": "x"}, "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "!!"}});
        assert!(parse_pull_secret(&bad).unwrap_err().contains("not base64"));
        assert!(!format!("{:?}", c[0]).contains("pw2") && !format!("{:?}", c[0]).contains("\"p\""));
    }

    #[test]
    fn provider_failure_per_kind() {
        use super::super::CredentialProviderKind::{ExecPlugin, InTree};
        assert!(after_provider_failure(ExecPlugin, "a.azurecr.io", "boom").is_empty());
        let c = after_provider_failure(InTree, "a.azurecr.io", "boom");
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].username.as_str(), c[0].password.as_str()), ("", ""));
        assert!(url_matches(&c[0].matched, "a.azurecr.io/probe/hello"));
        // An empty AuthConfig, not a missing one.
        let auth = c[0].to_auth();
        assert!(auth.username.is_empty() && auth.password.is_empty());
    }

    #[test]
    fn keyring_matching() {
        assert!(url_matches("*.azurecr.io", "acrchaoslab.azurecr.io/probe/hello"));
        assert!(!url_matches("*.azurecr.io", "a.b.azurecr.io/x"));
        assert!(url_matches(
            "https://acrchaoslab.azurecr.io/v1/",
            "acrchaoslab.azurecr.io/probe/hello"
        ));
        assert!(url_matches("acrchaoslab.azurecr.io/probe", "acrchaoslab.azurecr.io/probe/hello"));
        assert!(!url_matches(
            "acrchaoslab.azurecr.io/team-a",
            "acrchaoslab.azurecr.io/probe/hello"
        ));
        assert!(!url_matches("registry.hub.lab", "acrchaoslab.azurecr.io/probe/hello"));
        assert!(!url_matches("a.io:5000", "a.io/x"));
        assert!(url_matches("https://index.docker.io/v1/", "docker.io/library/nginx"));
        let img = parse_normalized("acrchaoslab.azurecr.io/probe/hello:v1").unwrap();
        let creds = vec![
            Credential {
                matched: "acrchaoslab.azurecr.io".into(),
                username: "a".into(),
                password: "1".into(),
            },
            Credential {
                matched: "registry.hub.lab".into(),
                username: "b".into(),
                password: "2".into(),
            },
            Credential {
                matched: "acrchaoslab.azurecr.io/probe".into(),
                username: "c".into(),
                password: "3".into(),
            },
        ];
        let got: Vec<_> = lookup(&creds, &img).into_iter().map(|c| c.username).collect();
        assert_eq!(got, vec!["c", "a"]);
    }
}
