//! Registry (OCI distribution) client for `diagnose`: reachability of `/v2/`, the token
//! service found through the `WWW-Authenticate` challenge (ACR: `/oauth2/token`), ACR's
//! `/oauth2/exchange` (Entra token → ACR refresh token) and a manifest `HEAD`.
//!
//! Credentials travel only in request headers/forms; no error or log line carries them.
//! Host names can be pinned to addresses (the lab's registries listen on 127.0.0.1).

use super::{ClientError, SecretString};
use base64::Engine as _;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;

/// Media types a manifest `HEAD` accepts.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// The null GUID: the Basic-auth user that marks the password as an ACR refresh token.
pub const ACR_REFRESH_USER: &str = "00000000-0000-0000-0000-000000000000";

/// A `Bearer realm=…,service=…` challenge.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Challenge {
    pub scheme: String,
    pub realm: Option<String>,
    pub service: Option<String>,
}

/// What `GET /v2/` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reachability {
    pub status: u16,
    pub challenge: Option<Challenge>,
}

/// What the token service answered.
#[derive(Debug, Clone)]
pub struct TokenAnswer {
    pub status: u16,
    /// The access token (only when the status is 200).
    pub token: Option<SecretString>,
    /// The actions granted on the requested repository, read from the token's `access`
    /// claim when it is a JWT (`None` when the token is opaque).
    pub granted: Option<Vec<String>>,
    /// The token endpoint asked (no query, no credentials).
    pub endpoint: String,
    /// The server's error text (short), for non-200 answers.
    pub error: Option<String>,
}

/// A basic-auth credential.
#[derive(Clone)]
pub struct BasicAuth {
    pub username: String,
    pub password: SecretString,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth").field("username", &self.username).finish_non_exhaustive()
    }
}

/// The registry client. Cheap to clone.
#[derive(Clone, Debug)]
pub struct RegistryClient {
    http: reqwest::Client,
    scheme: &'static str,
}

impl RegistryClient {
    /// A client trusting the platform roots plus `extra_ca_pem`, with `pins` mapping host
    /// names to the addresses they really listen on.
    pub fn new(
        extra_ca_pem: Option<&[u8]>,
        pins: &[(String, SocketAddr)],
    ) -> Result<Self, ClientError> {
        super::install_crypto_provider();
        let mut b = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = extra_ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| ClientError::Config(format!("extra CA PEM: {e}")))?;
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        for (host, addr) in pins {
            b = b.resolve(host, *addr);
        }
        let http = b.build().map_err(|e| ClientError::Config(format!("HTTP client: {e}")))?;
        Ok(Self { http, scheme: "https" })
    }

    /// Talk plain HTTP (local test registries only; real registries are HTTPS).
    pub fn plain_http(mut self) -> Self {
        self.scheme = "http";
        self
    }

    /// `GET https://<host>/v2/`: any HTTP answer means the registry is reachable.
    pub async fn ping(&self, host: &str) -> Result<Reachability, ClientError> {
        let url = format!("{}://{host}/v2/", self.scheme);
        let resp = self.http.get(&url).send().await.map_err(|e| transport("GET", "/v2/", &e))?;
        Ok(Reachability {
            status: resp.status().as_u16(),
            challenge: resp
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(parse_challenge),
        })
    }

    /// Ask the registry's token service for `repository:<repo>:pull`, with `auth` (or
    /// anonymously). The token endpoint comes from the `/v2/` challenge, falling back to
    /// ACR's `https://<host>/oauth2/token`.
    pub async fn token(
        &self,
        host: &str,
        repo: &str,
        auth: Option<&BasicAuth>,
    ) -> Result<TokenAnswer, ClientError> {
        let ch = self.ping(host).await?.challenge.unwrap_or_default();
        let realm =
            ch.realm.clone().unwrap_or_else(|| format!("{}://{host}/oauth2/token", self.scheme));
        let service = ch.service.clone().unwrap_or_else(|| host.to_string());
        let mut url = url::Url::parse(&realm)
            .map_err(|e| ClientError::Config(format!("token realm {realm:?}: {e}")))?;
        let endpoint = format!(
            "{}://{}{}",
            url.scheme(),
            url.host_str().unwrap_or(""),
            url.port().map(|p| format!(":{p}")).unwrap_or_default()
        ) + url.path();
        url.query_pairs_mut()
            .append_pair("service", &service)
            .append_pair("scope", &format!("repository:{repo}:pull"));
        let mut req = self.http.get(url);
        if let Some(a) = auth {
            req = req.basic_auth(&a.username, Some(a.password.expose()));
        }
        let resp = req.send().await.map_err(|e| transport("GET", &endpoint, &e))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if status != StatusCode::OK {
            return Ok(TokenAnswer {
                status: status.as_u16(),
                token: None,
                granted: None,
                endpoint,
                error: Some(short_error(&text)),
            });
        }
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let token = v
            .get("access_token")
            .or_else(|| v.get("token"))
            .and_then(Value::as_str)
            .map(SecretString::new);
        let granted = token.as_ref().and_then(|t| granted_actions(t.expose(), repo));
        Ok(TokenAnswer { status: 200, token, granted, endpoint, error: None })
    }

    /// ACR's `POST /oauth2/exchange`: an Entra access token for an ACR refresh token.
    pub async fn exchange(
        &self,
        host: &str,
        entra_token: &SecretString,
        tenant: Option<&str>,
    ) -> Result<SecretString, ClientError> {
        let path = "/oauth2/exchange";
        let mut form = vec![
            ("grant_type", "access_token".to_string()),
            ("service", host.to_string()),
            ("access_token", entra_token.expose().to_string()),
        ];
        if let Some(t) = tenant {
            form.push(("tenant", t.to_string()));
        }
        let resp = self
            .http
            .post(format!("{}://{host}{path}", self.scheme))
            .form(&form)
            .send()
            .await
            .map_err(|e| transport("POST", path, &e))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(ClientError::Http {
                method: "POST".into(),
                path: path.into(),
                status: status.as_u16(),
                code: None,
                message: short_error(&text),
            });
        }
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        v.get("refresh_token").and_then(Value::as_str).map(SecretString::new).ok_or_else(|| {
            ClientError::Decode { path: path.into(), message: "no refresh_token in answer".into() }
        })
    }

    /// `HEAD /v2/<repo>/manifests/<reference>` with a bearer token; returns the status.
    pub async fn head_manifest(
        &self,
        host: &str,
        repo: &str,
        reference: &str,
        bearer: Option<&SecretString>,
    ) -> Result<u16, ClientError> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let mut req = self
            .http
            .head(format!("{}://{host}{path}", self.scheme))
            .header("accept", MANIFEST_ACCEPT);
        if let Some(t) = bearer {
            req = req.header(AUTHORIZATION, format!("Bearer {}", t.expose()));
        }
        let resp = req.send().await.map_err(|e| transport("HEAD", &path, &e))?;
        Ok(resp.status().as_u16())
    }
}

/// Parse `Bearer realm="…",service="…",scope="…"`.
pub fn parse_challenge(h: &str) -> Challenge {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut c = Challenge { scheme: scheme.to_string(), ..Default::default() };
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else { break };
        let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        match key.as_str() {
            "realm" => c.realm = Some(value.to_string()),
            "service" => c.service = Some(value.to_string()),
            _ => {}
        }
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    c
}

/// The actions a registry JWT grants on `repository:<repo>` (its `access` claim).
pub fn granted_actions(token: &str, repo: &str) -> Option<Vec<String>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    let access = v.get("access")?.as_array()?;
    let mut out = Vec::new();
    for a in access {
        if a.get("type").and_then(Value::as_str) == Some("repository")
            && a.get("name").and_then(Value::as_str) == Some(repo)
        {
            for act in a.get("actions").and_then(Value::as_array).into_iter().flatten() {
                if let Some(s) = act.as_str() {
                    out.push(s.to_string());
                }
            }
        }
    }
    Some(out)
}

fn short_error(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let msg = v
        .pointer("/errors/0/message")
        .or_else(|| v.get("error_description"))
        .or_else(|| v.get("error"))
        .or_else(|| v.get("details"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| body.trim().to_string());
    msg.chars().take(200).collect()
}

fn transport(method: &str, path: &str, e: &reqwest::Error) -> ClientError {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    ClientError::Transport { method: method.into(), path: path.into(), message: s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        let c = parse_challenge(
            r#"Bearer realm="https://a.azurecr.io/oauth2/token",service="a.azurecr.io",scope="repository:x:pull""#,
        );
        assert_eq!(c.scheme, "Bearer");
        assert_eq!(c.realm.as_deref(), Some("https://a.azurecr.io/oauth2/token"));
        assert_eq!(c.service.as_deref(), Some("a.azurecr.io"));
        let b = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!(b.scheme, "Basic");
        assert_eq!(b.service, None);
    }

    #[test]
    fn access_claim_is_read() {
        let enc =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let body = serde_json::json!({"access":[{"type":"repository","name":"probe/hello","actions":["pull"]}]});
        let jwt = format!("{}.{}.sig", enc(&serde_json::json!({"alg":"RS256"})), enc(&body));
        assert_eq!(granted_actions(&jwt, "probe/hello"), Some(vec!["pull".to_string()]));
        assert_eq!(granted_actions(&jwt, "other"), Some(vec![]));
        assert_eq!(granted_actions("opaque", "x"), None);
    }
}
