//! Streaming reverse proxy from a TLS front door to the plain-HTTP registry on loopback.
//! Bodies are streamed both ways; the only rewrite is on `401`: the challenge realm points
//! at the front door as the client addressed it, and the body is the front door's own.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// HTTP/1.1 client to the registry (connection pooling on).
pub type UpstreamClient = Client<HttpConnector, Body>;

pub fn upstream_client() -> UpstreamClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// The host (and port) the client used: `Host` (HTTP/1.1) or the URI authority (HTTP/2).
pub fn request_host(headers: &HeaderMap, uri: &Uri) -> String {
    uri.authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_string))
        .unwrap_or_else(|| "localhost".to_string())
}

/// `https://<host><token_path>` for the client-visible host.
pub fn realm_for(host: &str, token_path: &str) -> String {
    format!("https://{host}{token_path}")
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for h in HOP_BY_HOP {
        headers.remove(h);
    }
}

/// Replaces `realm="…"` in a Bearer challenge.
pub fn rewrite_realm(challenge: &str, realm: &str) -> String {
    let Some(start) = challenge.find("realm=\"") else { return challenge.to_string() };
    let value_start = start + "realm=\"".len();
    let Some(len) = challenge[value_start..].find('"') else { return challenge.to_string() };
    format!("{}{}{}", &challenge[..value_start], realm, &challenge[value_start + len..])
}

/// Forwards `req` to `upstream`. On a `401` the challenge realm becomes
/// `https://<client-visible host><token_path>` and the body `unauthorized_body`.
pub async fn forward(
    client: &UpstreamClient,
    upstream: SocketAddr,
    req: Request,
    token_path: &str,
    unauthorized_body: &'static str,
) -> Response {
    let host = request_host(req.headers(), req.uri());
    let (mut parts, body) = req.into_parts();
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let uri: Uri = match format!("http://{upstream}{path}").parse() {
        Ok(u) => u,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    parts.uri = uri;
    parts.version = http::Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(header::HOST);
    parts.headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
    let upstream_req = Request::from_parts(parts, body);
    let resp = match client.request(upstream_req).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, %upstream, "registry unreachable");
            let body =
                r#"{"errors":[{"code":"UNAVAILABLE","message":"registry backend unavailable"}]}"#;
            return (StatusCode::BAD_GATEWAY, [(header::CONTENT_TYPE, "application/json")], body)
                .into_response();
        }
    };
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    if parts.status == StatusCode::UNAUTHORIZED {
        let realm = realm_for(&host, token_path);
        let challenges: Vec<HeaderValue> = parts
            .headers
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| HeaderValue::from_str(&rewrite_realm(v, &realm)).ok())
            .collect();
        parts.headers.remove(header::WWW_AUTHENTICATE);
        for c in challenges {
            parts.headers.append(header::WWW_AUTHENTICATE, c);
        }
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        return Response::from_parts(parts, Body::from(unauthorized_body));
    }
    Response::from_parts(parts, Body::new(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realm_rewrite_keeps_other_parameters() {
        let c = r#"Bearer realm="https://127.0.0.1:1/oauth2/token",service="a.azurecr.io",scope="repository:x:pull",error="insufficient_scope""#;
        let out = rewrite_realm(c, "https://a.azurecr.io/oauth2/token");
        assert_eq!(
            out,
            r#"Bearer realm="https://a.azurecr.io/oauth2/token",service="a.azurecr.io",scope="repository:x:pull",error="insufficient_scope""#
        );
        assert_eq!(rewrite_realm("Basic", "x"), "Basic");
    }
}
