//! Deletion, including the namespace cascade (Terminating, then every object in it, then
//! the namespace itself).

use serde_json::{Value, json};

use super::super::error::ApiError;
use super::super::kind::Kind;
use super::fanout::Change;
use super::{Key, Store, now_rfc3339, present};

impl Store {
    /// Delete an object and return its last state. Deleting a namespace marks it
    /// `Terminating`, deletes everything in it, then removes it; the Terminating namespace
    /// is returned.
    pub fn delete(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        self.delete_opts(kind, namespace, name, false)
    }

    /// `delete` with `dry_run`.
    pub fn delete_opts(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let kind = *kind;
        Self::writable(kind)?;
        let key = Self::key(kind, namespace, name)?;
        let mut inner = self.inner.write();
        let Some(old) = inner.objects.get(&key).cloned() else {
            return Err(ApiError::not_found(kind.group(), kind.plural(), name));
        };
        if dry_run {
            return Ok(old);
        }
        let cap = self.history_cap;
        if kind == Kind::Namespace {
            let mut term = old.clone();
            term["status"]["phase"] = json!("Terminating");
            term["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
            let rv = inner.next_rv();
            term["metadata"]["resourceVersion"] = json!(rv.to_string());
            inner.objects.insert(key.clone(), term.clone());
            inner.record(cap, Kind::Namespace, "", Change::Modified, &term, Some(old));
            let children: Vec<Key> = inner
                .objects
                .keys()
                .filter(|(k, ns, _)| *k != Kind::Namespace && ns == name)
                .cloned()
                .collect();
            for ck in children {
                if let Some(mut o) = inner.objects.remove(&ck) {
                    let rv = inner.next_rv();
                    o["metadata"]["resourceVersion"] = json!(rv.to_string());
                    inner.record(cap, ck.0, &ck.1, Change::Deleted, &o, None);
                }
            }
            let mut gone = inner.objects.remove(&key).unwrap_or_else(|| term.clone());
            let rv = inner.next_rv();
            gone["metadata"]["resourceVersion"] = json!(rv.to_string());
            inner.record(cap, Kind::Namespace, "", Change::Deleted, &gone, None);
            return Ok(term);
        }
        let mut o = inner.objects.remove(&key).unwrap_or(old);
        let rv = inner.next_rv();
        o["metadata"]["resourceVersion"] = json!(rv.to_string());
        inner.record(cap, kind.storage(), &key.1, Change::Deleted, &o, None);
        Ok(present(kind, &o))
    }
}
