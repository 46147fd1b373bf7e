//! Azure Monitor Log Analytics query API v1:
//! `POST {endpoint}/v1/workspaces/{workspaceId}/query` with `{query, timespan}`, bearer
//! token for `https://api.loganalytics.io/.default` (azure_identity, see [`super::credential`]).
//! Row cells may arrive as native JSON or as strings (the spec declares strings); numeric
//! and boolean columns are normalised to JSON numbers/booleans either way.
//! 429 and 5xx answers are retried honouring `Retry-After`.

use super::credential::{CredentialConfig, TokenSource, token_source};
use super::prometheus::{base_url, send_json};
use super::retry::RetryPolicy;
use super::{BodyError, ClientError};
use serde::Deserialize;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// The token scope of the query API (also for `api.loganalytics.azure.com`).
pub const LOG_ANALYTICS_SCOPE: &str = "https://api.loganalytics.io/.default";

/// A token source for the query API from the target's credential.
pub fn log_analytics_token(
    config: &CredentialConfig,
    authority_host: Option<&str>,
    http: reqwest::Client,
) -> Result<Arc<dyn TokenSource>, ClientError> {
    // `token_source` asks for `<endpoint>/.default`.
    token_source(config, authority_host, LOG_ANALYTICS_SCOPE.trim_end_matches("/.default"), http)
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: String,
}

/// One result table, cells normalised by column type.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    /// Index of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
    /// A cell as a number (native or string), by row index and column name.
    pub fn number(&self, row: usize, column: &str) -> Option<f64> {
        let v = self.rows.get(row)?.get(self.column(column)?)?;
        as_f64(v)
    }
    /// A cell as text (strings as is, anything else as JSON).
    pub fn text(&self, row: usize, column: &str) -> Option<String> {
        let v = self.rows.get(row)?.get(self.column(column)?)?;
        Some(match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }
    /// Convert numeric/boolean cells sent as strings into JSON numbers/booleans.
    fn normalise(&mut self) {
        for row in &mut self.rows {
            for (i, cell) in row.iter_mut().enumerate() {
                let kind = self.columns.get(i).map(|c| c.kind.as_str()).unwrap_or("");
                if let Value::String(s) = cell {
                    match kind {
                        "long" | "int" => {
                            if let Ok(n) = s.trim().parse::<i64>() {
                                *cell = json!(n);
                            } else if let Ok(x) = s.trim().parse::<f64>() {
                                *cell = json!(x);
                            }
                        }
                        "real" | "decimal" => {
                            if let Ok(x) = s.trim().parse::<f64>()
                                && x.is_finite()
                            {
                                *cell = json!(x);
                            }
                        }
                        "bool" => match s.trim().to_ascii_lowercase().as_str() {
                            "true" | "1" => *cell = Value::Bool(true),
                            "false" | "0" => *cell = Value::Bool(false),
                            _ => {}
                        },
                        _ => {}
                    }
                }
            }
        }
    }
    /// Human evidence: columns and up to `max` rows.
    pub fn describe(&self, max: usize) -> String {
        let cols: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
        let mut out = format!("{}: {} row(s) [{}]", self.name, self.rows.len(), cols.join(", "));
        for r in self.rows.iter().take(max) {
            let cells: Vec<String> = r
                .iter()
                .map(|c| match c {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            let _ = write!(out, "\n  {}", cells.join(" | "));
        }
        if self.rows.len() > max {
            let _ = write!(out, "\n  … {} more", self.rows.len() - max);
        }
        out
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

/// The answer of a query: its tables, and a partial error if the service sent one.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResponse {
    pub tables: Vec<Table>,
    /// `error.code: error.message` of a `PartialError` answer (HTTP 200 with tables).
    pub partial_error: Option<String>,
}

impl QueryResponse {
    /// The first table (`PrimaryResult`).
    pub fn primary(&self) -> Option<&Table> {
        self.tables.first()
    }
    /// Rows of the primary table.
    pub fn row_count(&self) -> usize {
        self.primary().map_or(0, |t| t.rows.len())
    }
}

/// Decode a 200 answer.
pub fn parse_response(body: Value) -> Result<QueryResponse, BodyError> {
    let partial_error =
        body.get("error").map(|e| la_error(&json!({ "error": e }))).map(|(c, m)| match c {
            Some(c) => format!("{c}: {m}"),
            None => m,
        });
    let tables = body.get("tables").cloned().ok_or(BodyError::Missing("`tables`"))?;
    let mut tables: Vec<Table> = serde_json::from_value(tables)
        .map_err(|source| BodyError::Shape { what: "tables", source })?;
    for t in &mut tables {
        t.normalise();
    }
    Ok(QueryResponse { tables, partial_error })
}

/// `{"error": {"code", "message", "innererror": {"code","message"}}}`.
fn la_error(b: &Value) -> (Option<String>, String) {
    let e = b.get("error").unwrap_or(b);
    let code = e.get("code").and_then(Value::as_str).map(str::to_string);
    let mut message =
        e.get("message").and_then(Value::as_str).unwrap_or("no error message").to_string();
    let mut inner = e.get("innererror");
    while let Some(i) = inner {
        if let Some(m) = i.get("message").and_then(Value::as_str) {
            let c = i.get("code").and_then(Value::as_str).unwrap_or("");
            let _ = write!(message, " ({c}: {m})");
        }
        inner = i.get("innererror");
    }
    (code, message)
}

/// ISO-8601 duration for a timespan (`PT3600S`).
pub fn iso_timespan(d: Duration) -> String {
    format!("PT{}S", d.as_secs().max(1))
}

/// A Log Analytics query client for one workspace.
#[derive(Clone)]
pub struct LogAnalyticsClient {
    http: reqwest::Client,
    base: Url,
    workspace_id: String,
    token: Arc<dyn TokenSource>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for LogAnalyticsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogAnalyticsClient")
            .field("base", &self.base.as_str())
            .field("workspace_id", &self.workspace_id)
            .finish()
    }
}

impl LogAnalyticsClient {
    /// `endpoint`: e.g. `https://api.loganalytics.io`; `workspace_id`: the workspace GUID.
    pub fn new(
        http: reqwest::Client,
        endpoint: &str,
        workspace_id: &str,
        token: Arc<dyn TokenSource>,
    ) -> Result<Self, ClientError> {
        if workspace_id.is_empty() || workspace_id.contains(['/', '?', '#']) {
            return Err(ClientError::Config(format!(
                "Log Analytics workspace id {workspace_id:?}: expected the workspace GUID"
            )));
        }
        Ok(Self {
            http,
            base: base_url("log analytics", endpoint)?,
            workspace_id: workspace_id.to_string(),
            token,
            retry: RetryPolicy::default(),
        })
    }
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Run `kql` over the last `timespan`.
    pub async fn query(&self, kql: &str, timespan: Duration) -> Result<QueryResponse, ClientError> {
        let url = self
            .base
            .join(&format!("v1/workspaces/{}/query", self.workspace_id))
            .map_err(|e| ClientError::Config(format!("log analytics URL: {e}")))?;
        let body = json!({ "query": kql, "timespan": iso_timespan(timespan) });
        let answer = send_json(
            &self.http,
            &self.retry,
            Some(&self.token),
            "POST",
            &url,
            |h| h.post(url.clone()).json(&body),
            la_error,
        )
        .await?;
        parse_response(answer)
            .map_err(|source| ClientError::Body { path: url.path().to_string(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_numbers_or_strings() {
        let r = parse_response(json!({"tables": [{"name": "PrimaryResult",
            "columns": [{"name": "Name", "type": "string"}, {"name": "Count", "type": "long"},
                        {"name": "Ratio", "type": "real"}, {"name": "Ok", "type": "bool"}],
            "rows": [["a", 3, 0.5, true], ["b", "4", "0.25", "false"]]}]}))
        .unwrap();
        let t = r.primary().unwrap();
        assert_eq!(t.rows[1], vec![json!("b"), json!(4), json!(0.25), json!(false)]);
        assert_eq!(t.number(0, "Count"), Some(3.0));
        assert_eq!(t.number(1, "Count"), Some(4.0));
        assert_eq!(t.text(1, "Name").as_deref(), Some("b"));
        assert_eq!(r.row_count(), 2);
        assert!(r.partial_error.is_none());
    }

    #[test]
    fn errors_and_partial_errors() {
        let (c, m) = la_error(&json!({"error": {"code": "BadArgumentError", "message": "bad",
            "innererror": {"code": "SemanticError", "message": "no table Foo"}}}));
        assert_eq!(c.as_deref(), Some("BadArgumentError"));
        assert_eq!(m, "bad (SemanticError: no table Foo)");
        let r = parse_response(
            json!({"tables": [], "error": {"code": "PartialError", "message": "some"}}),
        )
        .unwrap();
        assert_eq!(r.partial_error.as_deref(), Some("PartialError: some"));
        assert!(parse_response(json!({"nope": 1})).is_err());
        assert_eq!(iso_timespan(Duration::from_secs(3600)), "PT3600S");
    }
}
