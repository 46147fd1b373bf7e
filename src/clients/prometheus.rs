//! Prometheus HTTP API: instant queries (`GET /api/v1/query`), with the result types
//! `vector`, `matrix`, `scalar` and `string`. Optional bearer token (Azure Monitor
//! managed Prometheus). Retries 429/5xx and connection errors as ARM calls do.
//!
//! Also home of [`send_json`], the small retrying JSON request helper the Alertmanager
//! and Log Analytics clients share.

use super::credential::TokenSource;
use super::retry::{RetryPolicy, parse_retry_after};
use super::{BodyError, ClientError};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use url::Url;

/// Parse a base URL (`http://prometheus:9090`, with an optional path prefix).
pub(crate) fn base_url(what: &str, s: &str) -> Result<Url, ClientError> {
    let mut u =
        Url::parse(s).map_err(|e| ClientError::Config(format!("{what} endpoint {s:?}: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(ClientError::Config(format!("{what} endpoint {s:?}: not http(s)")));
    }
    if !u.path().ends_with('/') {
        let p = format!("{}/", u.path());
        u.set_path(&p);
    }
    Ok(u)
}

/// One request with retries: builds it with `build` per attempt, adds the bearer token,
/// retries 408/429/5xx (honouring `Retry-After`) and transport errors, and decodes the
/// JSON body. On an error status, `error_of` extracts `(code, message)` from the body.
pub(crate) async fn send_json(
    http: &reqwest::Client,
    retry: &RetryPolicy,
    token: Option<&Arc<dyn TokenSource>>,
    method: &str,
    url: &Url,
    build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    error_of: fn(&Value) -> (Option<String>, String),
) -> Result<Value, ClientError> {
    let path = url.path().to_string();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let last = attempt >= retry.max_attempts.max(1);
        let mut req = build(http);
        if let Some(t) = token {
            req = req.bearer_auth(t.token().await?.expose());
        }
        match req.send().await {
            Err(e) => {
                if last {
                    return Err(ClientError::Transport {
                        method: method.into(),
                        path,
                        message: error_chain(&e),
                    });
                }
                tokio::time::sleep(retry.delay(attempt, None)).await;
            }
            Ok(resp) => {
                let status = resp.status().as_u16();
                let after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                let text = resp.text().await.unwrap_or_default();
                let body: Option<Value> = serde_json::from_str(&text).ok();
                if (200..300).contains(&status) {
                    return body.ok_or_else(|| ClientError::Decode {
                        path: path.clone(),
                        message: format!("not JSON: {}", snippet(&text)),
                    });
                }
                if RetryPolicy::retryable_status(status) && !last {
                    tracing::debug!(status, %path, attempt, "retrying");
                    tokio::time::sleep(retry.delay(attempt, after)).await;
                    continue;
                }
                let (code, message) = match &body {
                    Some(b) => error_of(b),
                    None => (None, snippet(&text)),
                };
                return Err(ClientError::Http {
                    method: method.into(),
                    path,
                    status,
                    code,
                    message,
                });
            }
        }
    }
}

fn snippet(text: &str) -> String {
    let t = text.trim();
    if t.chars().count() > 300 {
        format!("{}…", t.chars().take(300).collect::<String>())
    } else {
        t.to_string()
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let _ = write!(s, ": {c}");
        cur = c.source();
    }
    s
}

/// One labelled series with its value(s), as Prometheus returns them.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    /// `(unix time, value)`; one point for a vector, several for a matrix.
    pub points: Vec<(f64, String)>,
}

impl Series {
    /// `name{k="v",…} => value` (the last point).
    pub fn describe(&self) -> String {
        let name = self.labels.get("__name__").cloned().unwrap_or_default();
        let labels: Vec<String> = self
            .labels
            .iter()
            .filter(|(k, _)| k.as_str() != "__name__")
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        let value = self.points.last().map(|p| p.1.as_str()).unwrap_or("");
        format!("{name}{{{}}} => {value}", labels.join(","))
    }
}

/// The result of an instant query.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum QueryResult {
    Vector(Vec<Series>),
    Matrix(Vec<Series>),
    /// `(unix time, value)`.
    Scalar(f64, String),
    String(f64, String),
}

impl QueryResult {
    /// Series in the result; a scalar counts as one when its value is non-zero (so
    /// `scalar(...)` conditions read naturally), a string when it is not empty.
    pub fn len(&self) -> usize {
        match self {
            QueryResult::Vector(s) | QueryResult::Matrix(s) => s.len(),
            QueryResult::Scalar(_, v) => {
                usize::from(v.parse::<f64>().is_ok_and(|x| x != 0.0 && !x.is_nan()))
            }
            QueryResult::String(_, v) => usize::from(!v.is_empty()),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `vector`, `matrix`, `scalar` or `string`.
    pub fn result_type(&self) -> &'static str {
        match self {
            QueryResult::Vector(_) => "vector",
            QueryResult::Matrix(_) => "matrix",
            QueryResult::Scalar(..) => "scalar",
            QueryResult::String(..) => "string",
        }
    }
    /// Human evidence: result type, count and up to `max` series.
    pub fn describe(&self, max: usize) -> String {
        match self {
            QueryResult::Vector(s) | QueryResult::Matrix(s) => {
                let mut out = format!("{} with {} series", self.result_type(), s.len());
                for x in s.iter().take(max) {
                    let _ = write!(out, "\n  {}", x.describe());
                }
                if s.len() > max {
                    let _ = write!(out, "\n  … {} more", s.len() - max);
                }
                out
            }
            QueryResult::Scalar(_, v) => format!("scalar {v}"),
            QueryResult::String(_, v) => format!("string {v:?}"),
        }
    }
}

#[derive(Deserialize)]
struct RawSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    value: Option<(f64, String)>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// Decode the `data` member of a successful query answer.
pub fn parse_query_data(data: &Value) -> Result<QueryResult, BodyError> {
    let kind = data
        .get("resultType")
        .and_then(Value::as_str)
        .ok_or(BodyError::Missing("data.resultType"))?;
    let result = data.get("result").cloned().unwrap_or(Value::Null);
    let shape = |source| BodyError::Shape { what: "data.result", source };
    let series = |v: Value| -> Result<Vec<Series>, BodyError> {
        let raw: Vec<RawSeries> = serde_json::from_value(v).map_err(shape)?;
        Ok(raw
            .into_iter()
            .map(|r| Series {
                labels: r.metric,
                points: r.value.into_iter().chain(r.values).collect(),
            })
            .collect())
    };
    let point =
        |v: Value| -> Result<(f64, String), BodyError> { serde_json::from_value(v).map_err(shape) };
    Ok(match kind {
        "vector" => QueryResult::Vector(series(result)?),
        "matrix" => QueryResult::Matrix(series(result)?),
        "scalar" => {
            let (t, v) = point(result)?;
            QueryResult::Scalar(t, v)
        }
        "string" => {
            let (t, v) = point(result)?;
            QueryResult::String(t, v)
        }
        other => return Err(BodyError::ResultType(other.to_string())),
    })
}

/// `{"status":"error","errorType":…,"error":…}`.
pub(crate) fn prometheus_error(b: &Value) -> (Option<String>, String) {
    (
        b.get("errorType").and_then(Value::as_str).map(str::to_string),
        b.get("error").and_then(Value::as_str).unwrap_or("no error message").to_string(),
    )
}

/// A Prometheus HTTP API client.
#[derive(Clone)]
pub struct PrometheusClient {
    http: reqwest::Client,
    base: Url,
    token: Option<Arc<dyn TokenSource>>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for PrometheusClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusClient").field("base", &self.base.as_str()).finish()
    }
}

impl PrometheusClient {
    /// `base`: e.g. `http://127.0.0.1:9090` (a path prefix is kept).
    pub fn new(http: reqwest::Client, base: &str) -> Result<Self, ClientError> {
        Ok(Self {
            http,
            base: base_url("prometheus", base)?,
            token: None,
            retry: RetryPolicy::default(),
        })
    }
    /// Send a bearer token (Azure Monitor managed Prometheus query endpoints).
    pub fn with_token(mut self, token: Arc<dyn TokenSource>) -> Self {
        self.token = Some(token);
        self
    }
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
    pub fn base(&self) -> &str {
        self.base.as_str()
    }

    /// Evaluate `promql` now (`GET /api/v1/query?query=`).
    pub async fn query(&self, promql: &str) -> Result<QueryResult, ClientError> {
        let url = self.base.join("api/v1/query").expect("relative path");
        let body = send_json(
            &self.http,
            &self.retry,
            self.token.as_ref(),
            "GET",
            &url,
            |h| h.get(url.clone()).query(&[("query", promql)]),
            prometheus_error,
        )
        .await?;
        let path = url.path().to_string();
        if body.get("status").and_then(Value::as_str) != Some("success") {
            let (code, message) = prometheus_error(&body);
            return Err(ClientError::Http {
                method: "GET".into(),
                path,
                status: 200,
                code,
                message,
            });
        }
        parse_query_data(body.get("data").unwrap_or(&Value::Null))
            .map_err(|source| ClientError::Body { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn result_types_decode() {
        let v = parse_query_data(&json!({"resultType": "vector", "result": [
            {"metric": {"__name__": "up", "job": "x"}, "value": [1.5, "1"]}]}))
        .unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v.describe(5), "vector with 1 series\n  up{job=\"x\"} => 1");
        let m = parse_query_data(&json!({"resultType": "matrix", "result": [
            {"metric": {"a": "b"}, "values": [[1, "1"], [2, "3"]]}]}))
        .unwrap();
        match &m {
            QueryResult::Matrix(s) => assert_eq!(s[0].points.len(), 2),
            other => panic!("{other:?}"),
        }
        assert!(
            parse_query_data(&json!({"resultType": "scalar", "result": [1, "0"]}))
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            parse_query_data(&json!({"resultType": "scalar", "result": [1, "2"]})).unwrap().len(),
            1
        );
        assert!(
            parse_query_data(&json!({"resultType": "vector", "result": []})).unwrap().is_empty()
        );
        assert!(parse_query_data(&json!({"resultType": "weird", "result": []})).is_err());
    }

    #[test]
    fn base_urls_keep_prefixes() {
        assert_eq!(
            base_url("p", "http://h:9090").unwrap().join("api/v1/query").unwrap().as_str(),
            "http://h:9090/api/v1/query"
        );
        assert_eq!(
            base_url("p", "https://h/prom").unwrap().join("api/v1/query").unwrap().as_str(),
            "https://h/prom/api/v1/query"
        );
        assert!(base_url("p", "ftp://h").is_err());
    }
}
