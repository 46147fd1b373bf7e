//! Azure Resource Manager REST client: role assignments, registries (+ tokens and
//! generateCredentials), managedClusters, NSG security rules. api-versions and shapes
//! from ../shared/reference/azure-rest.md. Every call retries 429/5xx/connection errors
//! (honouring `Retry-After`) and follows long-running operations.

use super::credential::TokenSource;
use super::retry::{RetryPolicy, parse_retry_after};
use super::{ClientError, SecretString};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use url::Url;

pub const API_ROLE_ASSIGNMENTS: &str = "2022-04-01";
pub const API_REGISTRY: &str = "2025-04-01";
pub const API_MANAGED_CLUSTER: &str = "2025-10-01";
pub const API_NETWORK: &str = "2025-05-01";

/// The AcrPull role definition GUID.
pub const ACR_PULL_ROLE: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";

/// A role assignment as ARM returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleAssignment {
    pub id: String,
    pub name: String,
    pub properties: RoleAssignmentProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignmentProperties {
    pub role_definition_id: String,
    pub principal_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition_version: Option<String>,
}

impl RoleAssignmentProperties {
    /// The trailing role GUID of `roleDefinitionId`, lower-cased.
    pub fn role_guid(&self) -> String {
        self.role_definition_id.rsplit('/').next().unwrap_or_default().to_ascii_lowercase()
    }
}

/// One permission block of `Microsoft.Authorization/permissions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArmPermission {
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub not_actions: Vec<String>,
    #[serde(default)]
    pub data_actions: Vec<String>,
    #[serde(default)]
    pub not_data_actions: Vec<String>,
}

impl ArmPermission {
    /// Whether this block grants `action`: an `actions` pattern matches and no
    /// `notActions` pattern does (case-insensitive, `*` matches any run of characters).
    pub fn allows(&self, action: &str) -> bool {
        self.actions.iter().any(|p| action_matches(p, action))
            && !self.not_actions.iter().any(|p| action_matches(p, action))
    }
}

/// ARM's action wildcard match (case-insensitive, `*` = any run of characters).
pub fn action_matches(pattern: &str, action: &str) -> bool {
    let (p, a) = (pattern.to_ascii_lowercase(), action.to_ascii_lowercase());
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == a;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !a.starts_with(first) || a.len() < first.len() + last.len() || !a.ends_with(last) {
        return false;
    }
    let mut rest = &a[first.len()..a.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// Password of an ACR token, as generateCredentials returns it.
#[derive(Debug, Clone)]
pub struct GeneratedCredentials {
    pub username: String,
    pub password: SecretString,
    pub expiry: Option<String>,
}

/// The kubelet identity of a managed cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeletIdentity {
    pub object_id: String,
    pub client_id: Option<String>,
    pub resource_id: Option<String>,
}

/// The ARM client. Cheap to clone.
#[derive(Clone)]
pub struct ArmClient {
    http: reqwest::Client,
    base: Url,
    token: Arc<dyn TokenSource>,
    retry: RetryPolicy,
    lro_interval: Duration,
    lro_timeout: Duration,
    requests: Arc<AtomicU64>,
}

impl std::fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmClient").field("base", &self.base.as_str()).finish_non_exhaustive()
    }
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl ArmClient {
    pub fn new(
        http: reqwest::Client,
        endpoint: &str,
        token: Arc<dyn TokenSource>,
    ) -> Result<Self, ClientError> {
        let base = Url::parse(endpoint)
            .map_err(|e| ClientError::Config(format!("ARM endpoint {endpoint:?}: {e}")))?;
        Ok(Self {
            http,
            base,
            token,
            retry: RetryPolicy::default(),
            lro_interval: Duration::from_secs(2),
            lro_timeout: Duration::from_secs(600),
            requests: Arc::new(AtomicU64::new(0)),
        })
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Default poll interval when an LRO answer gives no `Retry-After`, and the LRO deadline.
    pub fn with_lro(mut self, interval: Duration, timeout: Duration) -> Self {
        self.lro_interval = interval;
        self.lro_timeout = timeout;
        self
    }

    /// Requests sent so far (retries and polls included).
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn url(&self, id: &str, api_version: &str) -> Result<Url, ClientError> {
        let path = if id.starts_with('/') { id.to_string() } else { format!("/{id}") };
        let mut u = self.base.clone();
        let base_path = u.path().trim_end_matches('/').to_string();
        u.set_path(&format!("{base_path}{path}"));
        u.query_pairs_mut().append_pair("api-version", api_version);
        Ok(u)
    }

    /// Poll URLs come from the server; never send our token to another host.
    fn same_origin(&self, u: &Url) -> Result<(), ClientError> {
        if u.scheme() == self.base.scheme()
            && u.host_str() == self.base.host_str()
            && u.port_or_known_default() == self.base.port_or_known_default()
        {
            Ok(())
        } else {
            Err(ClientError::Decode {
                path: u.path().to_string(),
                message: format!(
                    "operation URL on another host than {}",
                    self.base.host_str().unwrap_or("?")
                ),
            })
        }
    }

    /// One call with retries. Non-2xx answers (after retries) become `ClientError::Http`.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Answer, ClientError> {
        let path = url.path().to_string();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let token = self.token.token().await?;
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token.expose())
                .header("accept", "application/json");
            if let Some(b) = body {
                req = req.json(b);
            }
            self.requests.fetch_add(1, Ordering::Relaxed);
            let last = attempt >= self.retry.max_attempts;
            match req.send().await {
                Err(e) => {
                    if last {
                        return Err(ClientError::Transport {
                            method: method.to_string(),
                            path,
                            message: error_chain(&e),
                        });
                    }
                    tracing::debug!(%method, %path, attempt, error = %error_chain(&e), "ARM transport error, retrying");
                    tokio::time::sleep(self.retry.delay(attempt, None)).await;
                }
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    if RetryPolicy::retryable_status(status.as_u16()) && !last {
                        let ra = retry_after(&headers);
                        tracing::debug!(%method, %path, attempt, status = status.as_u16(), "ARM retryable status");
                        tokio::time::sleep(self.retry.delay(attempt, ra)).await;
                        continue;
                    }
                    let text = match resp.text().await {
                        Ok(t) => t,
                        Err(e) if !last => {
                            tracing::debug!(%path, error = %e, "ARM body read failed, retrying");
                            tokio::time::sleep(self.retry.delay(attempt, None)).await;
                            continue;
                        }
                        Err(e) => {
                            return Err(ClientError::Transport {
                                method: method.to_string(),
                                path,
                                message: error_chain(&e),
                            });
                        }
                    };
                    let body: Value = if text.trim().is_empty() {
                        Value::Null
                    } else {
                        serde_json::from_str(&text).unwrap_or(Value::String(text))
                    };
                    if !status.is_success() {
                        let (code, message) = arm_error(&body);
                        return Err(ClientError::Http {
                            method: method.to_string(),
                            path,
                            status: status.as_u16(),
                            code,
                            message,
                        });
                    }
                    return Ok(Answer { status, headers, body });
                }
            }
        }
    }

    /// Follow a long-running operation started by `first` and return the final body
    /// (`None` when the operation has no result body).
    async fn follow(
        &self,
        first: Answer,
        resource: Option<&str>,
        api: &str,
    ) -> Result<Value, ClientError> {
        let async_op = header_url(&first.headers, "azure-asyncoperation");
        let location = header_url(&first.headers, "location");
        let deadline = tokio::time::Instant::now() + self.lro_timeout;
        let mut wait = retry_after(&first.headers).unwrap_or(self.lro_interval);
        if let Some(op) = async_op.filter(|_| first.status != StatusCode::OK) {
            self.same_origin(&op)?;
            loop {
                tokio::time::sleep(wait.min(self.retry.max_delay)).await;
                let a = self.call(Method::GET, op.clone(), None).await?;
                let status = a.body.get("status").and_then(Value::as_str).unwrap_or("");
                match status.to_ascii_lowercase().as_str() {
                    "succeeded" => break,
                    "failed" | "canceled" | "cancelled" => {
                        let (_, msg) = arm_error(&a.body);
                        return Err(ClientError::Lro {
                            path: op.path().to_string(),
                            status: status.to_string(),
                            message: msg,
                        });
                    }
                    _ => {}
                }
                if tokio::time::Instant::now() > deadline {
                    return Err(lro_timeout(&op));
                }
                wait = retry_after(&a.headers).unwrap_or(self.lro_interval);
            }
            return match resource {
                Some(id) => Ok(self.call(Method::GET, self.url(id, api)?, None).await?.body),
                None => Ok(Value::Null),
            };
        }
        if let Some(loc) = location.filter(|_| first.status == StatusCode::ACCEPTED) {
            self.same_origin(&loc)?;
            loop {
                tokio::time::sleep(wait.min(self.retry.max_delay)).await;
                let a = self.call(Method::GET, loc.clone(), None).await?;
                if a.status != StatusCode::ACCEPTED {
                    return Ok(a.body);
                }
                if tokio::time::Instant::now() > deadline {
                    return Err(lro_timeout(&loc));
                }
                wait = retry_after(&a.headers).unwrap_or(self.lro_interval);
            }
        }
        Ok(first.body)
    }

    async fn get_opt(&self, id: &str, api: &str) -> Result<Option<Value>, ClientError> {
        match self.call(Method::GET, self.url(id, api)?, None).await {
            Ok(a) => Ok(Some(a.body)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    // ---- role assignments -------------------------------------------------------------

    /// List role assignments applying to `scope` (an ARM id), with an optional raw
    /// `$filter` (e.g. `principalId eq '…'`). Follows `nextLink`.
    pub async fn list_role_assignments(
        &self,
        scope: &str,
        filter: Option<&str>,
    ) -> Result<Vec<RoleAssignment>, ClientError> {
        let id = format!(
            "{}/providers/Microsoft.Authorization/roleAssignments",
            scope.trim_end_matches('/')
        );
        let mut url = self.url(&id, API_ROLE_ASSIGNMENTS)?;
        if let Some(f) = filter {
            url.query_pairs_mut().append_pair("$filter", f);
        }
        let mut out = Vec::new();
        let mut next = Some(url);
        while let Some(u) = next.take() {
            let a = self.call(Method::GET, u, None).await?;
            let page: Page<RoleAssignment> = decode(&id, a.body)?;
            out.extend(page.value);
            if let Some(n) = page.next_link {
                let n = Url::parse(&n).map_err(|e| ClientError::Decode {
                    path: id.clone(),
                    message: format!("nextLink: {e}"),
                })?;
                self.same_origin(&n)?;
                next = Some(n);
            }
        }
        Ok(out)
    }

    /// The caller's own permission blocks at `scope` (`Microsoft.Authorization/permissions`,
    /// inherited from parent scopes). Follows `nextLink`.
    pub async fn list_permissions(&self, scope: &str) -> Result<Vec<ArmPermission>, ClientError> {
        let id = format!(
            "{}/providers/Microsoft.Authorization/permissions",
            scope.trim_end_matches('/')
        );
        let mut out = Vec::new();
        let mut next = Some(self.url(&id, API_ROLE_ASSIGNMENTS)?);
        while let Some(u) = next.take() {
            let a = self.call(Method::GET, u, None).await?;
            let page: Page<ArmPermission> = decode(&id, a.body)?;
            out.extend(page.value);
            if let Some(n) = page.next_link {
                let n = Url::parse(&n).map_err(|e| ClientError::Decode {
                    path: id.clone(),
                    message: format!("nextLink: {e}"),
                })?;
                self.same_origin(&n)?;
                next = Some(n);
            }
        }
        Ok(out)
    }

    /// Get a role assignment by full id; `None` when it does not exist.
    pub async fn get_role_assignment(
        &self,
        id: &str,
    ) -> Result<Option<RoleAssignment>, ClientError> {
        match self.get_opt(id, API_ROLE_ASSIGNMENTS).await? {
            Some(v) => Ok(Some(decode(id, v)?)),
            None => Ok(None),
        }
    }

    /// Create (or re-create, same name) a role assignment at `scope`.
    pub async fn put_role_assignment(
        &self,
        scope: &str,
        name: &str,
        props: &RoleAssignmentProperties,
    ) -> Result<RoleAssignment, ClientError> {
        let id = role_assignment_id(scope, name);
        let mut p = props.clone();
        p.scope = None; // read-only
        let body = serde_json::json!({ "properties": p });
        let a = self.call(Method::PUT, self.url(&id, API_ROLE_ASSIGNMENTS)?, Some(&body)).await?;
        decode(&id, a.body)
    }

    /// Delete a role assignment by id. `true` if it existed.
    pub async fn delete_role_assignment(&self, id: &str) -> Result<bool, ClientError> {
        let a = self.call(Method::DELETE, self.url(id, API_ROLE_ASSIGNMENTS)?, None).await;
        match a {
            Ok(a) => Ok(a.status != StatusCode::NO_CONTENT),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    // ---- registries -------------------------------------------------------------------

    pub async fn get_registry(&self, id: &str) -> Result<Value, ClientError> {
        Ok(self.call(Method::GET, self.url(id, API_REGISTRY)?, None).await?.body)
    }

    /// PATCH a registry (`RegistryUpdateParameters`) and wait for the operation.
    pub async fn patch_registry(&self, id: &str, body: &Value) -> Result<Value, ClientError> {
        let a = self.call(Method::PATCH, self.url(id, API_REGISTRY)?, Some(body)).await?;
        self.follow(a, Some(id), API_REGISTRY).await
    }

    /// GET an ACR token (`{registry}/tokens/{name}`).
    pub async fn get_registry_token(&self, token_id: &str) -> Result<Option<Value>, ClientError> {
        self.get_opt(token_id, API_REGISTRY).await
    }

    /// POST generateCredentials for an ACR token; the password expires at `expiry`.
    pub async fn generate_credentials(
        &self,
        registry_id: &str,
        token_id: &str,
        expiry: chrono::DateTime<chrono::Utc>,
        password_name: &str,
    ) -> Result<GeneratedCredentials, ClientError> {
        let id = format!("{}/generateCredentials", registry_id.trim_end_matches('/'));
        let body = serde_json::json!({
            "tokenId": token_id,
            "expiry": expiry.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "name": password_name,
        });
        let a = self.call(Method::POST, self.url(&id, API_REGISTRY)?, Some(&body)).await?;
        let v = self.follow(a, None, API_REGISTRY).await?;
        let username = v.get("username").and_then(Value::as_str).unwrap_or_default().to_string();
        let pw = v
            .get("passwords")
            .and_then(Value::as_array)
            .and_then(|ps| {
                ps.iter()
                    .find(|p| p.get("name").and_then(Value::as_str) == Some(password_name))
                    .or_else(|| ps.first())
            })
            .ok_or_else(|| ClientError::Decode {
                path: id.clone(),
                message: "generateCredentials returned no password".into(),
            })?;
        let password =
            pw.get("value").and_then(Value::as_str).ok_or_else(|| ClientError::Decode {
                path: id.clone(),
                message: "generateCredentials password has no value".into(),
            })?;
        Ok(GeneratedCredentials {
            username,
            password: SecretString::new(password),
            expiry: pw.get("expiry").and_then(Value::as_str).map(str::to_string),
        })
    }

    // ---- managed clusters -------------------------------------------------------------

    pub async fn get_managed_cluster(&self, id: &str) -> Result<Value, ClientError> {
        Ok(self.call(Method::GET, self.url(id, API_MANAGED_CLUSTER)?, None).await?.body)
    }

    /// The kubelet identity (`properties.identityProfile.kubeletidentity`).
    pub async fn kubelet_identity(&self, cluster_id: &str) -> Result<KubeletIdentity, ClientError> {
        let v = self.get_managed_cluster(cluster_id).await?;
        let k = v.pointer("/properties/identityProfile/kubeletidentity");
        let s = |f: &str| k.and_then(|k| k.get(f)).and_then(Value::as_str).map(str::to_string);
        match s("objectId") {
            Some(object_id) => Ok(KubeletIdentity {
                object_id,
                client_id: s("clientId"),
                resource_id: s("resourceId"),
            }),
            None => Err(ClientError::Decode {
                path: cluster_id.to_string(),
                message: "managed cluster has no identityProfile.kubeletidentity.objectId".into(),
            }),
        }
    }

    // ---- NSG security rules -----------------------------------------------------------

    pub async fn get_security_rule(&self, id: &str) -> Result<Option<Value>, ClientError> {
        self.get_opt(id, API_NETWORK).await
    }

    /// PUT a security rule (`{"properties": …}`) and wait for provisioning.
    pub async fn put_security_rule(&self, id: &str, body: &Value) -> Result<Value, ClientError> {
        let a = self.call(Method::PUT, self.url(id, API_NETWORK)?, Some(body)).await?;
        self.follow(a, Some(id), API_NETWORK).await
    }

    /// DELETE a security rule and wait. `Ok` also when it did not exist.
    pub async fn delete_security_rule(&self, id: &str) -> Result<(), ClientError> {
        match self.call(Method::DELETE, self.url(id, API_NETWORK)?, None).await {
            Ok(a) => self.follow(a, None, API_NETWORK).await.map(|_| ()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// `{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`.
pub fn role_assignment_id(scope: &str, name: &str) -> String {
    format!(
        "{}/providers/Microsoft.Authorization/roleAssignments/{name}",
        scope.trim_end_matches('/')
    )
}

/// Subscription-form role definition id.
pub fn role_definition_id(subscription_id: &str, role_guid: &str) -> String {
    format!(
        "/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role_guid}"
    )
}

#[derive(Deserialize)]
struct Page<T> {
    #[serde(default = "Vec::new")]
    value: Vec<T>,
    #[serde(default, rename = "nextLink")]
    next_link: Option<String>,
}

fn decode<T: serde::de::DeserializeOwned>(path: &str, v: Value) -> Result<T, ClientError> {
    serde_json::from_value(v)
        .map_err(|e| ClientError::Decode { path: path.to_string(), message: e.to_string() })
}

fn arm_error(body: &Value) -> (Option<String>, String) {
    let e = body.get("error").unwrap_or(body);
    let code = e.get("code").and_then(Value::as_str).map(str::to_string);
    let message = e.get("message").and_then(Value::as_str).map(str::to_string).unwrap_or_else(
        || match body {
            Value::Null => String::new(),
            Value::String(s) => s.chars().take(300).collect(),
            other => other.to_string().chars().take(300).collect(),
        },
    );
    (code, message)
}

fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    h.get("retry-after").and_then(|v| v.to_str().ok()).and_then(parse_retry_after)
}

fn header_url(h: &reqwest::header::HeaderMap, name: &str) -> Option<Url> {
    h.get(name).and_then(|v| v.to_str().ok()).and_then(|s| Url::parse(s).ok())
}

fn lro_timeout(u: &Url) -> ClientError {
    ClientError::Lro {
        path: u.path().to_string(),
        status: "timed out".into(),
        message: "the operation did not finish in time".into(),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}
