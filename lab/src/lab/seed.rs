//! Objects `lab up` creates for a target before anyone points a client at the lab, written
//! straight into the API server's store (there is no client yet whose identity could).

use serde_json::{Value, json};

use super::{Lab, LabError};
use crate::kube::Kind;

impl Lab {
    /// Create namespace `name` unless it exists.
    pub fn ensure_namespace(&self, name: &str) -> Result<(), LabError> {
        let ns = json!({"metadata": {"name": name}});
        self.ensure(&Kind::Namespace, None, ns, || format!("namespace {name}"))
    }

    /// Create `secret` (a core/v1 Secret as JSON) in `namespace` unless one of its name exists.
    pub fn ensure_secret(&self, namespace: &str, secret: Value) -> Result<(), LabError> {
        let name = secret["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        self.ensure(&Kind::Secret, Some(namespace), secret, || format!("secret {namespace}/{name}"))
    }

    fn ensure(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        obj: Value,
        what: impl FnOnce() -> String,
    ) -> Result<(), LabError> {
        match self.kube.store().create(kind, namespace, obj) {
            Ok(_) => Ok(()),
            Err(e) if e.code == 409 => Ok(()),
            Err(source) => Err(LabError::Seed { what: what(), source }),
        }
    }
}
