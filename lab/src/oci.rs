//! Probe images the lab builds itself: a minimal valid OCI image (one gzip layer holding a
//! text file, an `amd64`/`linux` config, an OCI manifest), pushed to the registry over the
//! distribution HTTP API with an admin token. containerd pulls and unpacks them.

use std::io::Write as _;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::jwt::{Access, TokenSigner};

pub const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Errors building or pushing an image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OciError {
    #[error(
        "invalid image reference {reference:?}: expected `repository:tag` (lowercase repository, tag [A-Za-z0-9_.-])"
    )]
    BadReference { reference: String },
    #[error("building the layer failed: {0}")]
    Build(#[from] std::io::Error),
    #[error("{method} {url}: {detail}")]
    Http { method: String, url: String, detail: String },
}

/// A built image: blobs and the manifest, with digests.
#[derive(Debug, Clone)]
pub struct Image {
    pub layer: Bytes,
    pub layer_digest: String,
    pub config: Bytes,
    pub config_digest: String,
    pub manifest: Bytes,
    #[cfg_attr(
        not(feature = "testing"),
        expect(dead_code, reason = "read by the classifier's capture program (tests/data)")
    )]
    pub manifest_digest: String,
}

/// `sha256:<hex>` of `data`.
pub fn digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Splits `repo:tag`, validating both parts (Docker reference grammar, simplified).
pub fn split_reference(reference: &str) -> Result<(&str, &str), OciError> {
    let bad = || OciError::BadReference { reference: reference.to_string() };
    let (repo, tag) = reference.rsplit_once(':').ok_or_else(bad)?;
    let repo_ok = !repo.is_empty()
        && repo.split('/').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && part.as_bytes()[0].is_ascii_alphanumeric()
        });
    let tag_ok = !tag.is_empty()
        && tag.len() <= 128
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && tag.as_bytes()[0] != b'.'
        && tag.as_bytes()[0] != b'-';
    if repo_ok && tag_ok { Ok((repo, tag)) } else { Err(bad()) }
}

/// Builds the probe image for `repo:tag` (content names the reference, so every tag
/// has its own digest). Deterministic: the same reference gives the same digests.
pub fn build_probe_image(repo: &str, tag: &str) -> Result<Image, OciError> {
    let text = format!("acr-chaos probe image {repo}:{tag}\n");
    let mut tar = tar::Builder::new(Vec::new());
    let mut hdr = tar::Header::new_gnu();
    hdr.set_path("hello.txt")?;
    hdr.set_size(text.len() as u64);
    hdr.set_mode(0o644);
    hdr.set_mtime(0);
    hdr.set_uid(0);
    hdr.set_gid(0);
    hdr.set_cksum();
    tar.append(&hdr, text.as_bytes())?;
    let tar = tar.into_inner()?;
    let diff_id = digest(&tar);
    let mut gz =
        flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar)?;
    let layer = Bytes::from(gz.finish()?);
    let layer_digest = digest(&layer);
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["/hello"], "Labels": {"org.opencontainers.image.title": "acr-chaos probe"}},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "acr-chaos lab"}],
    });
    let config = Bytes::from(serde_json::to_vec(&config).unwrap_or_default());
    let config_digest = digest(&config);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": MEDIA_LAYER, "digest": layer_digest, "size": layer.len()}],
    });
    let manifest = Bytes::from(serde_json::to_vec(&manifest).unwrap_or_default());
    let manifest_digest = digest(&manifest);
    Ok(Image { layer, layer_digest, config, config_digest, manifest, manifest_digest })
}

/// Pushes images to a plain-HTTP registry with a bearer token.
#[derive(Debug, Clone)]
pub struct Pusher {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Pusher {
    pub fn new(registry: SocketAddr) -> Pusher {
        Pusher {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: format!("http://{registry}"),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<(StatusCode, http::HeaderMap, Bytes), OciError> {
        let url = format!("{}{path}", self.base);
        let err = |detail: String| OciError::Http {
            method: method.to_string(),
            url: url.clone(),
            detail,
        };
        let mut req = Request::builder()
            .method(method.clone())
            .uri(&url)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_LENGTH, body.len());
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let req = req.body(Full::new(body)).map_err(|e| err(e.to_string()))?;
        let resp = self.client.request(req).await.map_err(|e| err(e.to_string()))?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.map_err(|e| err(e.to_string()))?.to_bytes();
        Ok((parts.status, parts.headers, body))
    }

    async fn expect(
        &self,
        method: Method,
        path: &str,
        token: &str,
        content_type: Option<&str>,
        body: Bytes,
        want: &[StatusCode],
    ) -> Result<(), OciError> {
        let (status, _, resp) = self.send(method.clone(), path, token, content_type, body).await?;
        if want.contains(&status) {
            Ok(())
        } else {
            Err(OciError::Http {
                method: method.to_string(),
                url: format!("{}{path}", self.base),
                detail: format!("unexpected {status}: {}", String::from_utf8_lossy(&resp)),
            })
        }
    }

    async fn push_blob(
        &self,
        repo: &str,
        token: &str,
        data: &Bytes,
        dgst: &str,
    ) -> Result<(), OciError> {
        let (status, _, _) = self
            .send(Method::HEAD, &format!("/v2/{repo}/blobs/{dgst}"), token, None, Bytes::new())
            .await?;
        if status == StatusCode::OK {
            return Ok(());
        }
        // Start an upload, then finish it in one PUT with the whole blob.
        let (status, headers, body) = self
            .send(Method::POST, &format!("/v2/{repo}/blobs/uploads/"), token, None, Bytes::new())
            .await?;
        let location = headers.get(header::LOCATION).and_then(|v| v.to_str().ok());
        let (StatusCode::ACCEPTED, Some(location)) = (status, location) else {
            return Err(OciError::Http {
                method: "POST".into(),
                url: format!("{}/v2/{repo}/blobs/uploads/", self.base),
                detail: format!("unexpected {status}: {}", String::from_utf8_lossy(&body)),
            });
        };
        // `relativeurls: true`: the location is a path; be tolerant of absolute URLs.
        let path = match location.find("/v2/") {
            Some(i) => &location[i..],
            None => location,
        };
        let sep = if path.contains('?') { '&' } else { '?' };
        self.expect(
            Method::PUT,
            &format!("{path}{sep}digest={dgst}"),
            token,
            Some("application/octet-stream"),
            data.clone(),
            &[StatusCode::CREATED],
        )
        .await
    }

    /// Pushes `image` as `repo:tag`. `token` must grant `repository:<repo>:pull,push`.
    pub async fn push(
        &self,
        repo: &str,
        tag: &str,
        image: &Image,
        token: &str,
    ) -> Result<(), OciError> {
        self.push_blob(repo, token, &image.layer, &image.layer_digest).await?;
        self.push_blob(repo, token, &image.config, &image.config_digest).await?;
        self.expect(
            Method::PUT,
            &format!("/v2/{repo}/manifests/{tag}"),
            token,
            Some(MEDIA_MANIFEST),
            image.manifest.clone(),
            &[StatusCode::CREATED],
        )
        .await
    }
}

/// Builds and pushes the probe image of every `repo:tag` in `images` (in parallel),
/// with an admin token from `signer` for `service`.
pub async fn seed(
    pusher: &Pusher,
    signer: &TokenSigner,
    service: &str,
    images: &[String],
) -> Result<(), OciError> {
    let pushes = images.iter().map(|reference| async move {
        let (repo, tag) = split_reference(reference)?;
        let image = build_probe_image(repo, tag)?;
        let access = vec![Access {
            kind: "repository".into(),
            name: repo.to_string(),
            actions: vec!["pull".into(), "push".into()],
        }];
        let token = signer.access_token(service, "lab-admin", access, 300);
        pusher.push(repo, tag, &image, &token).await
    });
    for r in futures::future::join_all(pushes).await {
        r?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_validated() {
        assert_eq!(split_reference("probe/hello:v1").unwrap(), ("probe/hello", "v1"));
        for bad in ["probe/hello", "Probe/x:v1", "a//b:v1", "a:", "a:-x", ":v1", "a:b c"] {
            let err = split_reference(bad).unwrap_err().to_string();
            assert!(err.contains("repository:tag"), "{bad}: {err}");
        }
    }

    #[test]
    fn probe_image_is_consistent_and_deterministic() {
        let a = build_probe_image("probe/hello", "v1").unwrap();
        let b = build_probe_image("probe/hello", "v1").unwrap();
        let c = build_probe_image("probe/hello", "v2").unwrap();
        assert_eq!(a.manifest_digest, b.manifest_digest);
        assert_ne!(a.manifest_digest, c.manifest_digest);
        assert_eq!(digest(&a.layer), a.layer_digest);
        let m: serde_json::Value = serde_json::from_slice(&a.manifest).unwrap();
        assert_eq!(m["layers"][0]["digest"], a.layer_digest);
        assert_eq!(m["config"]["size"], a.config.len());
        let cfg: serde_json::Value = serde_json::from_slice(&a.config).unwrap();
        assert_eq!(cfg["architecture"], "amd64");
        // The layer is a gzip'd tar holding hello.txt.
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&a.layer[..]));
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["hello.txt"]);
    }
}
