//! Alertmanager API v2: the alerts it holds (`GET /api/v2/alerts?filter=…&active=true`).
//! An alert is firing when `status.state == "active"` (not silenced, not inhibited).

use super::ClientError;
use super::credential::TokenSource;
use super::prometheus::{base_url, send_json};
use super::retry::RetryPolicy;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use url::Url;

/// One alert as Alertmanager reports it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AmAlert {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub starts_at: Option<String>,
    #[serde(default)]
    pub ends_at: Option<String>,
    #[serde(default)]
    pub fingerprint: Option<String>,
    #[serde(default)]
    pub status: AmStatus,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AmStatus {
    /// `active`, `suppressed` or `unprocessed`.
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub silenced_by: Vec<String>,
    #[serde(default)]
    pub inhibited_by: Vec<String>,
}

impl AmAlert {
    /// Firing = `status.state == "active"`.
    pub fn is_firing(&self) -> bool {
        self.status.state == "active"
    }
    /// Whether every `(k, v)` of `want` is among the alert's labels.
    pub fn has_labels(&self, want: &BTreeMap<String, String>) -> bool {
        want.iter().all(|(k, v)| self.labels.get(k) == Some(v))
    }
    /// `{alertname="X",pod="p"} state since <startsAt>`.
    pub fn describe(&self) -> String {
        let labels: Vec<String> = self.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        format!(
            "{{{}}} {} since {}",
            labels.join(","),
            if self.status.state.is_empty() { "unknown" } else { &self.status.state },
            self.starts_at.as_deref().unwrap_or("?")
        )
    }
}

fn am_error(b: &Value) -> (Option<String>, String) {
    // Alertmanager answers errors as a JSON string or {"code":…, "message":…}.
    match b {
        Value::String(s) => (None, s.clone()),
        _ => (
            b.get("code").map(|c| c.to_string()),
            b.get("message").and_then(Value::as_str).unwrap_or("no error message").to_string(),
        ),
    }
}

/// Escape a label matcher value for Alertmanager's `filter` syntax.
fn quote(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

/// An Alertmanager API client.
#[derive(Clone)]
pub struct AlertmanagerClient {
    http: reqwest::Client,
    base: Url,
    token: Option<Arc<dyn TokenSource>>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for AlertmanagerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertmanagerClient").field("base", &self.base.as_str()).finish()
    }
}

impl AlertmanagerClient {
    /// `base`: e.g. `http://127.0.0.1:9093` (a path prefix is kept).
    pub fn new(http: reqwest::Client, base: &str) -> Result<Self, ClientError> {
        Ok(Self {
            http,
            base: base_url("alertmanager", base)?,
            token: None,
            retry: RetryPolicy::default(),
        })
    }
    pub fn with_token(mut self, token: Arc<dyn TokenSource>) -> Self {
        self.token = Some(token);
        self
    }
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Active (not silenced, not inhibited) alerts named `alertname` carrying `labels`.
    pub async fn firing(
        &self,
        alertname: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<AmAlert>, ClientError> {
        let all = self.alerts(alertname, labels).await?;
        Ok(all.into_iter().filter(|a| a.is_firing() && a.has_labels(labels)).collect())
    }

    /// Every alert Alertmanager holds named `alertname` with `labels` (active or not).
    pub async fn alerts(
        &self,
        alertname: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<AmAlert>, ClientError> {
        let url = self.base.join("api/v2/alerts").expect("relative path");
        let mut q: Vec<(String, String)> =
            vec![("filter".into(), format!("alertname={}", quote(alertname)))];
        for (k, v) in labels {
            q.push(("filter".into(), format!("{k}={}", quote(v))));
        }
        q.push(("active".into(), "true".into()));
        let body = send_json(
            &self.http,
            &self.retry,
            self.token.as_ref(),
            "GET",
            &url,
            |h| h.get(url.clone()).query(&q),
            am_error,
        )
        .await?;
        serde_json::from_value(body).map_err(|e| ClientError::Decode {
            path: url.path().to_string(),
            message: format!("expected a list of alerts: {e}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_alerts_and_matches_labels() {
        let a: AmAlert = serde_json::from_value(json!({
            "labels": {"alertname": "A", "pod": "p"}, "annotations": {},
            "startsAt": "2026-01-01T00:00:00Z", "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
            "fingerprint": "f", "receivers": [{"name": "x"}], "updatedAt": "x"
        }))
        .unwrap();
        assert!(a.is_firing());
        assert!(a.has_labels(&[("pod".to_string(), "p".to_string())].into()));
        assert!(!a.has_labels(&[("pod".to_string(), "q".to_string())].into()));
        assert_eq!(a.describe(), "{alertname=\"A\",pod=\"p\"} active since 2026-01-01T00:00:00Z");
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
    }
}
