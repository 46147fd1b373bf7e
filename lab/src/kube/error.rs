//! API errors as Kubernetes `Status` objects (metav1.Status).

use serde_json::{Value, json};

/// An error from the emulated API server. `code` is the HTTP status, `reason` the
/// machine-readable `StatusReason` (`NotFound`, `AlreadyExists`, `Conflict`, `Invalid`,
/// `Unauthorized`, `Gone`/`Expired`, `BadRequest`, `MethodNotAllowed`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
#[non_exhaustive]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    /// The Status `details`, if any (boxed to keep `Result<_, ApiError>` small).
    pub details: Option<Box<StatusDetails>>,
}

/// `details` of a metav1 Status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatusDetails {
    /// Object name.
    pub name: Option<String>,
    /// The resource plural (as the real server reports it) or the kind for `Invalid`.
    pub kind: Option<String>,
    pub group: Option<String>,
    /// Field causes for `Invalid`.
    pub causes: Vec<Value>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self { code, reason, message: message.into(), details: None }
    }

    /// Attach `details.{name,kind,group}`.
    pub fn with_details(mut self, group: &str, plural: &str, name: &str) -> Self {
        self.details = Some(Box::new(StatusDetails {
            name: Some(name.to_string()),
            kind: Some(plural.to_string()),
            group: (!group.is_empty()).then(|| group.to_string()),
            causes: Vec::new(),
        }));
        self
    }

    /// `pods "x" not found` (group-qualified for non-core groups, as the real server does).
    pub fn not_found(group: &str, plural: &str, name: &str) -> Self {
        Self::new(404, "NotFound", format!("{} \"{name}\" not found", qualified(group, plural)))
            .with_details(group, plural, name)
    }

    pub fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(group, plural)),
        )
        .with_details(group, plural, name)
    }

    /// The real optimistic-concurrency message.
    pub fn conflict(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                qualified(group, plural)
            ),
        )
        .with_details(group, plural, name)
    }

    /// `Pod "x" is invalid: spec.containers: Required value` style (422).
    pub fn invalid(kind: &str, group: &str, name: &str, field: &str, detail: &str) -> Self {
        let mut e =
            Self::new(422, "Invalid", format!("{kind} \"{name}\" is invalid: {field}: {detail}"));
        e.details = Some(Box::new(StatusDetails {
            name: Some(name.to_string()),
            kind: Some(kind.to_string()),
            group: (!group.is_empty()).then(|| group.to_string()),
            causes: vec![json!({
                "reason": "FieldValueInvalid",
                "message": detail,
                "field": field,
            })],
        }));
        e
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 410 for a compacted resourceVersion (`Expired`, as the real watch cache answers).
    pub fn gone(rv: &str, oldest: u64) -> Self {
        Self::new(410, "Expired", format!("too old resource version: {rv} ({oldest})"))
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    pub fn not_found_path(path: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    pub fn unsupported_media_type(ct: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct})"
            ),
        )
    }

    /// The metav1 `Status` object for this error.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        let mut details = serde_json::Map::new();
        let d = self.details.as_deref().cloned().unwrap_or_default();
        if let Some(n) = d.name {
            details.insert("name".into(), Value::String(n));
        }
        if let Some(g) = d.group {
            details.insert("group".into(), Value::String(g));
        }
        if let Some(k) = d.kind {
            details.insert("kind".into(), Value::String(k));
        }
        if !d.causes.is_empty() {
            details.insert("causes".into(), Value::Array(d.causes));
        }
        if !details.is_empty() {
            status["details"] = Value::Object(details);
        }
        status
    }
}

fn qualified(group: &str, plural: &str) -> String {
    if group.is_empty() { plural.to_string() } else { format!("{plural}.{group}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_object_shape() {
        let s = ApiError::not_found("", "pods", "x").to_status();
        assert_eq!(s["kind"], "Status");
        assert_eq!(s["status"], "Failure");
        assert_eq!(s["reason"], "NotFound");
        assert_eq!(s["code"], 404);
        assert_eq!(s["message"], "pods \"x\" not found");
        assert_eq!(s["details"]["name"], "x");
        assert_eq!(s["details"]["kind"], "pods");
        let c = ApiError::conflict("coordination.k8s.io", "leases", "l").to_status();
        assert!(
            c["message"]
                .as_str()
                .unwrap()
                .starts_with("Operation cannot be fulfilled on leases.coordination.k8s.io \"l\"")
        );
    }
}
