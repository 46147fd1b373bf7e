//! The image reference, and the `image-tag` check: `HEAD /v2/<repo>/manifests/<tag>` with
//! a registry token from an accepted pull secret, else (target registry) from acr-chaos's
//! own identity through ACR's `/oauth2/exchange`, else anonymous.

use super::{Check, Context, Facts, Status, names};
use crate::clients::registry::{ACR_REFRESH_USER, BasicAuth};

/// `host/repo[:tag][@digest]`, with Docker's defaults (`docker.io`, `library/`, `latest`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageRef {
    pub host: String,
    pub repo: String,
    /// Tag or digest (`sha256:…`).
    pub reference: String,
}

impl ImageRef {
    pub fn parse(image: &str) -> Self {
        let (name, digest) = match image.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (image, None),
        };
        let (host, path) = match name.split_once('/') {
            Some((h, rest)) if h.contains('.') || h.contains(':') || h == "localhost" => {
                (h.to_string(), rest.to_string())
            }
            _ => ("docker.io".to_string(), name.to_string()),
        };
        let (repo, tag) = match path.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r.to_string(), Some(t.to_string())),
            _ => (path.clone(), None),
        };
        let repo = if host == "docker.io" && !repo.contains('/') {
            format!("library/{repo}")
        } else {
            repo
        };
        let reference = digest.map(str::to_string).or(tag).unwrap_or_else(|| "latest".to_string());
        ImageRef { host, repo, reference }
    }

    /// Registry host the token service and manifests live on (Docker Hub's API host).
    pub fn api_host(&self) -> &str {
        if self.host == "docker.io" { "registry-1.docker.io" } else { &self.host }
    }
}

/// The `image-tag` check.
pub async fn tag_exists(ctx: &Context, f: &Facts, accepted: Option<&BasicAuth>) -> Check {
    let img = &f.image;
    let host = img.api_host();
    if f.unreachable {
        return Check::new(
            names::IMAGE_TAG,
            Status::Unknown,
            format!("not looked up: {} does not answer from here", img.host),
        );
    }
    let (auth, how) = match accepted {
        Some(a) => (Some(a.clone()), "the pod's pull secret".to_string()),
        None => match own_identity(ctx, f).await {
            Ok(Some(a)) => (Some(a), "acr-chaos's own identity (not the kubelet's)".to_string()),
            Ok(None) => (None, "anonymous access".to_string()),
            Err(e) => {
                return Check::new(
                    names::IMAGE_TAG,
                    Status::Unknown,
                    format!("could not get a registry token to look {} up", img.reference),
                )
                .with(format!("ACR token exchange with acr-chaos's own identity failed: {e}"));
            }
        },
    };
    let unknown = |why: String| {
        Check::new(
            names::IMAGE_TAG,
            Status::Unknown,
            format!("could not look up {}:{}", img.repo, img.reference),
        )
        .with(why)
    };
    let token = match ctx.registry.token(host, &img.repo, auth.as_ref()).await {
        Ok(t) if t.status == 200 => t,
        Ok(t) => {
            return unknown(format!(
                "token service {} refused {how}: HTTP {}{}",
                t.endpoint,
                t.status,
                t.error.map(|e| format!(" ({e})")).unwrap_or_default()
            ));
        }
        Err(e) => return unknown(format!("token service: {e}")),
    };
    if let Some(g) = &token.granted
        && !g.iter().any(|a| a == "pull" || a == "*")
    {
        return unknown(format!(
            "the token from {how} grants no pull on repository {} (granted: [{}])",
            img.repo,
            g.join(", ")
        ));
    }
    match ctx.registry.head_manifest(host, &img.repo, &img.reference, token.token.as_ref()).await {
        Ok(200) => Check::new(
            names::IMAGE_TAG,
            Status::Pass,
            format!("{}:{} exists", img.repo, img.reference),
        )
        .with(format!("HEAD /v2/{}/manifests/{} → 200 (with {how})", img.repo, img.reference)),
        Ok(404) => Check::new(
            names::IMAGE_TAG,
            Status::Fail,
            format!("{} has no manifest {} on {}", img.repo, img.reference, img.host),
        )
        .with(format!("HEAD /v2/{}/manifests/{} → 404 (with {how})", img.repo, img.reference)),
        Ok(s) => unknown(format!(
            "HEAD /v2/{}/manifests/{} → HTTP {s} (with {how})",
            img.repo, img.reference
        )),
        Err(e) => unknown(e.to_string()),
    }
}

/// For the target registry: an ACR refresh token for acr-chaos's own identity.
async fn own_identity(ctx: &Context, f: &Facts) -> Result<Option<BasicAuth>, String> {
    let Some(tokens) = ctx.registry_tokens.as_ref().filter(|_| f.is_target_registry) else {
        return Ok(None);
    };
    let entra = tokens.token().await.map_err(|e| e.to_string())?;
    let rt = ctx
        .registry
        .exchange(f.image.api_host(), &entra, ctx.tenant_id.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    Ok(Some(BasicAuth { username: ACR_REFRESH_USER.to_string(), password: rt }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse() {
        let r = ImageRef::parse("acr.azurecr.io/probe/hello:1.0");
        assert_eq!(
            (r.host.as_str(), r.repo.as_str(), r.reference.as_str()),
            ("acr.azurecr.io", "probe/hello", "1.0")
        );
        let r = ImageRef::parse("nginx");
        assert_eq!(
            (r.host.as_str(), r.repo.as_str(), r.reference.as_str()),
            ("docker.io", "library/nginx", "latest")
        );
        assert_eq!(r.api_host(), "registry-1.docker.io");
        let r = ImageRef::parse("localhost:5000/a/b@sha256:abc");
        assert_eq!(
            (r.host.as_str(), r.repo.as_str(), r.reference.as_str()),
            ("localhost:5000", "a/b", "sha256:abc")
        );
        let r = ImageRef::parse("registry.hub.lab/team/app");
        assert_eq!(r.reference, "latest");
    }
}
