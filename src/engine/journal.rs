//! The journal: every change is recorded BEFORE it is made, as a typed undo, in a local
//! file (`<report-dir>/<run-id>/journal.json` and `.acr-chaos/journal/<run-id>.json`) and
//! in a ConfigMap `acr-chaos-journal-<run-id>` in the target cluster's journal namespace
//! (CI agents are ephemeral). No secret is ever stored: a Secret's prior bytes live in a
//! backup Secret in the cluster and the journal only names it.

use crate::clients::kube::{Kube, label_value};
use crate::faults::Undo;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokio::sync::Mutex;

pub const CONFIG_MAP_PREFIX: &str = "acr-chaos-journal-";
const DATA_KEY: &str = "journal.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryState {
    Pending,
    Done,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: u32,
    pub scenario: String,
    pub fault: String,
    pub undo: Undo,
    pub state: EntryState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The persisted form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalDoc {
    pub version: u32,
    pub run_id: String,
    pub target: String,
    pub entries: Vec<Entry>,
}

impl JournalDoc {
    pub fn unfinished(&self) -> impl DoubleEndedIterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.state != EntryState::Done)
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("journal {what}: {message}")]
    Format { what: String, message: String },
    #[error("journal ConfigMap: {0}")]
    Cluster(#[from] crate::clients::ClientError),
}

/// A run's journal, shared by the scenarios of the run.
#[derive(Debug)]
pub struct Journal {
    doc: Mutex<JournalDoc>,
    files: Vec<PathBuf>,
    cluster: Option<(Kube, String)>,
}

impl Journal {
    /// A journal writing to `files` and, when given, to a ConfigMap in `(kube, namespace)`.
    pub fn new(
        run_id: &str,
        target: &str,
        files: Vec<PathBuf>,
        cluster: Option<(Kube, String)>,
    ) -> Self {
        Self {
            doc: Mutex::new(JournalDoc {
                version: 1,
                run_id: run_id.to_string(),
                target: target.to_string(),
                entries: vec![],
            }),
            files,
            cluster,
        }
    }

    /// Resume a loaded journal (recover), writing back to the same places.
    pub fn resume(doc: JournalDoc, files: Vec<PathBuf>, cluster: Option<(Kube, String)>) -> Self {
        Self { doc: Mutex::new(doc), files, cluster }
    }

    /// Standard local files for a run.
    pub fn standard_files(report_dir: &Path, work_dir: &Path, run_id: &str) -> Vec<PathBuf> {
        vec![
            report_dir.join(run_id).join("journal.json"),
            pointer_dir(work_dir).join(format!("{run_id}.json")),
        ]
    }

    /// Record an undo as pending and persist everywhere. Returns its id.
    pub async fn record(
        &self,
        scenario: &str,
        fault: &str,
        undo: Undo,
    ) -> Result<u32, JournalError> {
        let mut doc = self.doc.lock().await;
        let id = doc.entries.len() as u32 + 1;
        doc.entries.push(Entry {
            id,
            scenario: scenario.to_string(),
            fault: fault.to_string(),
            undo,
            state: EntryState::Pending,
            error: None,
        });
        self.persist(&doc).await?;
        Ok(id)
    }

    /// Mark an entry done or failed and persist.
    pub async fn mark(
        &self,
        id: u32,
        state: EntryState,
        error: Option<String>,
    ) -> Result<(), JournalError> {
        let mut doc = self.doc.lock().await;
        if let Some(e) = doc.entries.iter_mut().find(|e| e.id == id) {
            e.state = state;
            e.error = error;
        }
        self.persist(&doc).await
    }

    /// When every entry is done, delete the cluster copy (the local files stay as the
    /// record). Returns whether everything was done.
    pub async fn close(&self) -> Result<bool, JournalError> {
        let doc = self.doc.lock().await;
        if doc.unfinished().next().is_some() {
            return Ok(false);
        }
        if let Some((kube, ns)) = &self.cluster {
            kube.delete_config_map(ns, &config_map_name(&doc.run_id)).await?;
        }
        Ok(true)
    }

    pub async fn snapshot(&self) -> JournalDoc {
        self.doc.lock().await.clone()
    }

    async fn persist(&self, doc: &JournalDoc) -> Result<(), JournalError> {
        let text = serde_json::to_string_pretty(doc).map_err(|e| JournalError::Format {
            what: doc.run_id.clone(),
            message: e.to_string(),
        })?;
        for f in &self.files {
            write_atomic(f, &text)?;
        }
        if let Some((kube, ns)) = &self.cluster {
            let data = BTreeMap::from([(DATA_KEY.to_string(), text.clone())]);
            kube.put_config_map(ns, &config_map_name(&doc.run_id), &doc.run_id, data).await?;
        }
        Ok(())
    }
}

/// `.acr-chaos/journal/` under the working directory: stable place `recover` looks in.
pub fn pointer_dir(work_dir: &Path) -> PathBuf {
    work_dir.join(".acr-chaos").join("journal")
}

pub fn config_map_name(run_id: &str) -> String {
    label_value(&format!("{CONFIG_MAP_PREFIX}{}", run_id.to_ascii_lowercase()))
}

fn write_atomic(path: &Path, text: &str) -> Result<(), JournalError> {
    let err = |source| JournalError::Io { path: path.to_path_buf(), source };
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(err)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

pub fn parse(what: &str, text: &str) -> Result<JournalDoc, JournalError> {
    serde_json::from_str(text)
        .map_err(|e| JournalError::Format { what: what.to_string(), message: e.to_string() })
}

/// Read a local journal file.
pub fn read_file(path: &Path) -> Result<JournalDoc, JournalError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| JournalError::Io { path: path.to_path_buf(), source })?;
    parse(&path.display().to_string(), &text)
}

/// Every local journal under `.acr-chaos/journal/`.
pub fn local_journals(work_dir: &Path) -> Vec<(PathBuf, JournalDoc)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(pointer_dir(work_dir)) {
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json")
                && let Ok(doc) = read_file(&p)
            {
                out.push((p, doc));
            }
        }
    }
    out.sort_by(|a, b| a.1.run_id.cmp(&b.1.run_id));
    out
}

/// Every journal ConfigMap in the cluster's journal namespace.
pub async fn cluster_journals(kube: &Kube, ns: &str) -> Result<Vec<JournalDoc>, JournalError> {
    let mut out = Vec::new();
    for cm in kube.list_our_config_maps(ns).await? {
        let name = cm.metadata.name.clone().unwrap_or_default();
        if !name.starts_with(CONFIG_MAP_PREFIX) {
            continue;
        }
        if let Some(text) = cm.data.as_ref().and_then(|d| d.get(DATA_KEY)) {
            out.push(parse(&format!("ConfigMap {ns}/{name}"), text)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_before_and_marks_after() {
        let dir = tempfile::tempdir().unwrap();
        let files = Journal::standard_files(&dir.path().join("reports"), dir.path(), "r1");
        let j = Journal::new("r1", "lab", files.clone(), None);
        let id = j
            .record(
                "s",
                "network-path-cut",
                Undo::DeleteSecurityRule { rule_id: "/x/securityRules/y".into() },
            )
            .await
            .unwrap();
        for f in &files {
            let d = read_file(f).unwrap();
            assert_eq!(d.entries[0].state, EntryState::Pending);
        }
        j.mark(id, EntryState::Done, None).await.unwrap();
        let d = read_file(&files[1]).unwrap();
        assert_eq!(d.entries[0].state, EntryState::Done);
        assert_eq!(d.unfinished().count(), 0);
        assert_eq!(local_journals(dir.path()).len(), 1);
    }
}
