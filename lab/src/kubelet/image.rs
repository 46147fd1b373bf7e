//! Image references as the kubelet handles them: Docker's normalized names
//! (`docker.io/library/…`), the default `:latest` tag, and the parse error text.

use std::sync::LazyLock;

use regex::Regex;

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host (with port if any), e.g. `acrchaoslab.azurecr.io`, `docker.io`.
    pub domain: String,
    /// Repository path without the domain, e.g. `probe/hello`, `library/nginx`.
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    /// `domain/path` (Docker's `Named.Name()`), the key for credential lookup.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }
}

static COMPONENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$").expect("regex"));
static DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?$")
        .expect("regex")
});
static TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[\w][\w.-]{0,127}$").expect("regex"));
static DIGEST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")
        .expect("regex")
});

/// Errors are Docker reference's texts.
pub fn parse_normalized(image: &str) -> Result<ImageRef, String> {
    const INVALID: &str = "invalid reference format";
    if image.is_empty() {
        return Err(INVALID.into());
    }
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => {
            if !DIGEST.is_match(d) {
                return Err(INVALID.into());
            }
            (r, Some(d.to_string()))
        }
        None => (image, None),
    };
    // A tag is after the last ':' that follows the last '/'.
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => {
            let t = &rest[last_slash + i + 1..];
            if !TAG.is_match(t) {
                return Err(INVALID.into());
            }
            (&rest[..last_slash + i], Some(t.to_string()))
        }
        None => (rest, None),
    };
    if name.len() > 255 {
        return Err("repository name must not be more than 255 characters".into());
    }
    let (domain, path) = match name.split_once('/') {
        Some((d, p))
            if d.contains(['.', ':'])
                || d == "localhost"
                || d.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (d.to_string(), p.to_string())
        }
        _ => ("docker.io".to_string(), name.to_string()),
    };
    if !DOMAIN.is_match(&domain) {
        return Err(INVALID.into());
    }
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!("{INVALID}: repository name must be lowercase"));
    }
    if path.is_empty() || !path.split('/').all(|c| COMPONENT.is_match(c)) {
        return Err(INVALID.into());
    }
    let domain = if domain == "index.docker.io" { "docker.io".to_string() } else { domain };
    let path =
        if domain == "docker.io" && !path.contains('/') { format!("library/{path}") } else { path };
    Ok(ImageRef { domain, path, tag, digest })
}

/// The kubelet's `applyDefaultImageTag`: the image string as given plus `:latest` when it
/// has neither tag nor digest. The error is the text after `Failed to apply default image
/// tag "<image>": `.
pub fn apply_default_tag(image: &str) -> Result<(String, ImageRef), String> {
    let r =
        parse_normalized(image).map_err(|e| format!("couldn't parse image name {image:?}: {e}"))?;
    if r.tag.is_none() && r.digest.is_none() {
        return Ok((format!("{image}:latest"), r));
    }
    Ok((image.to_string(), r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_docker() {
        let r = parse_normalized("nginx").unwrap();
        assert_eq!(r.name(), "docker.io/library/nginx");
        assert_eq!(r.tag, None);
        let r = parse_normalized("acrchaoslab.azurecr.io/probe/hello:v1").unwrap();
        assert_eq!(
            (r.domain.as_str(), r.path.as_str(), r.tag.as_deref()),
            ("acrchaoslab.azurecr.io", "probe/hello", Some("v1"))
        );
        let r = parse_normalized("localhost:5000/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(r.domain, "localhost:5000");
        assert!(r.digest.is_some());
    }

    #[test]
    fn default_tag_and_errors() {
        assert_eq!(apply_default_tag("nginx").unwrap().0, "nginx:latest");
        assert_eq!(apply_default_tag("a.io/x:1").unwrap().0, "a.io/x:1");
        assert_eq!(
            apply_default_tag("a.io/Probe/Hello:v1").unwrap_err(),
            "couldn't parse image name \"a.io/Probe/Hello:v1\": invalid reference format: repository name must be lowercase"
        );
        assert_eq!(
            apply_default_tag("a.io/x::v1").unwrap_err(),
            "couldn't parse image name \"a.io/x::v1\": invalid reference format"
        );
        assert!(apply_default_tag("").is_err());
        assert!(apply_default_tag("a.io/x:v1 ").is_err());
    }
}
