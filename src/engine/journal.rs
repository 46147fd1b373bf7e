//! The journal: every change is recorded BEFORE it is made, as a typed undo, in a local
//! file (`<report-dir>/<run-id>/journal.json` and `.acr-chaos/journal/<run-id>.json`) and
//! in a ConfigMap `acr-chaos-journal-<run-id>` in the target cluster's journal namespace
//! (CI agents are ephemeral). No secret is ever stored: a Secret's prior bytes live in a
//! backup Secret in the cluster and the journal only names it.
//!
//! A journal is bound to its run and its target ([`TargetIdentity`]: the cluster's ARM id,
//! API server and the UID of its `kube-system` namespace), so `recover` replays only the
//! journals of the cluster at hand. Reading never hides a journal: whatever cannot be read
//! or understood (bad JSON, a format this build does not know, an undo action it has never
//! heard of) comes back as [`Found::Unreadable`] with the reason, so callers report it by
//! name and never exit 0 on it.

use crate::clients::kube::{Kube, label_value};
use crate::faults::Undo;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokio::sync::Mutex;

pub const CONFIG_MAP_PREFIX: &str = "acr-chaos-journal-";
const DATA_KEY: &str = "journal.json";
/// The journal format this build writes and reads. Version 1 (acr-chaos before journals
/// were bound to a target) is read but never replayed without `--force`.
pub const FORMAT_VERSION: u32 = 2;
/// A journal file larger than this is not a journal (a handful of undos is a few KiB).
const MAX_JOURNAL_BYTES: u64 = 4 * 1024 * 1024;

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

/// Which cluster a journal belongs to. Two targets are the same cluster when the
/// `kube-system` UIDs are equal and the ARM cluster ids agree; the API server URL is kept
/// for the reader (it may change: private endpoint vs public FQDN).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetIdentity {
    /// The target file's `name`.
    pub name: String,
    /// ARM id of the managed cluster.
    pub cluster_id: String,
    pub api_server: String,
    /// UID of the cluster's `kube-system` namespace: stable for the cluster's lifetime.
    pub cluster_uid: String,
}

impl TargetIdentity {
    /// Why `self` (a journal's target) is not the cluster `here`, if it is not.
    pub fn mismatch(&self, here: &TargetIdentity) -> Option<String> {
        if self.cluster_uid.is_empty() {
            return Some("the journal records no cluster identity (journal format 1)".into());
        }
        if self.cluster_uid != here.cluster_uid {
            return Some(format!(
                "recorded against cluster {} (kube-system uid {}, API server {}); this target is kube-system uid {} at {}",
                self.name, self.cluster_uid, self.api_server, here.cluster_uid, here.api_server
            ));
        }
        if !self.cluster_id.eq_ignore_ascii_case(&here.cluster_id) {
            return Some(format!(
                "recorded against ARM cluster {}; this target names {}",
                self.cluster_id, here.cluster_id
            ));
        }
        None
    }
}

/// Which process wrote a journal (for the reader, and to tell a dead writer from a live one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Writer {
    /// The acr-chaos version.
    pub version: String,
    pub host: String,
    pub pid: u32,
}

impl Writer {
    pub fn this_process() -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION").to_string(),
            host: super::holder::hostname(),
            pid: std::process::id(),
        }
    }
}

/// The persisted form (format [`FORMAT_VERSION`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalDoc {
    pub version: u32,
    pub run_id: String,
    pub target: TargetIdentity,
    #[serde(default)]
    pub writer: Writer,
    pub entries: Vec<Entry>,
}

impl JournalDoc {
    pub fn unfinished(&self) -> impl DoubleEndedIterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.state != EntryState::Done)
    }

    /// Merge another copy of the same run: an entry is done when either copy says so, and
    /// entries only one copy has are kept.
    pub fn merge(&mut self, other: &JournalDoc) {
        for e in &other.entries {
            match self.entries.iter_mut().find(|x| x.id == e.id) {
                Some(x) if e.state == EntryState::Done => x.state = EntryState::Done,
                Some(_) => {}
                None => self.entries.push(e.clone()),
            }
        }
        self.entries.sort_by_key(|e| e.id);
        if self.target.cluster_uid.is_empty() {
            self.target = other.target.clone();
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    #[error("journal {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("journal {what}: {message}")]
    Format { what: String, message: String },
    #[error("journal ConfigMap: {0}")]
    Cluster(#[from] crate::clients::ClientError),
    /// Valid JSON of a known format version, but not a usable journal.
    #[error("journal {what}: {source}")]
    Invalid {
        what: String,
        #[source]
        source: FormatError,
    },
}

/// What is wrong inside a journal document of a known format version.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    #[error("`entries` is missing or not a list")]
    NoEntries,
    #[error("invalid journal header: {0}")]
    Header(#[source] serde_json::Error),
    #[error("no `runId`")]
    NoRunId,
    /// One line per entry this build cannot read.
    #[error("{}", .0.join("; "))]
    Entries(Vec<String>),
}

impl JournalError {
    /// What is wrong, without naming the journal again (callers name the source).
    pub fn reason(&self) -> String {
        match self {
            JournalError::Format { message, .. } => message.clone(),
            JournalError::Io { source, .. } => source.to_string(),
            JournalError::Cluster(e) => e.to_string(),
            JournalError::Invalid { source, .. } => source.to_string(),
        }
    }
}

/// Where a journal copy lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    ConfigMap { namespace: String, name: String },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::ConfigMap { namespace, name } => write!(f, "ConfigMap {namespace}/{name}"),
        }
    }
}

/// One journal copy as found.
#[derive(Debug, Clone)]
pub enum Found {
    /// Read and understood.
    Readable { source: Source, doc: JournalDoc },
    /// Cannot be read or understood; must never be passed over silently.
    Unreadable { source: Source, reason: String },
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
        target: TargetIdentity,
        files: Vec<PathBuf>,
        cluster: Option<(Kube, String)>,
    ) -> Self {
        let doc = JournalDoc {
            version: FORMAT_VERSION,
            run_id: run_id.to_string(),
            target,
            writer: Writer::this_process(),
            entries: vec![],
        };
        Self { doc: Mutex::new(doc), files, cluster }
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

    /// Record an undo as pending and persist everywhere. Returns its id. An error means
    /// the change must not be made.
    pub async fn record(
        &self,
        scenario: &str,
        fault: &str,
        undo: Undo,
    ) -> Result<u32, JournalError> {
        let mut doc = self.doc.lock().await;
        let id = doc.entries.iter().map(|e| e.id).max().unwrap_or(0) + 1;
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

    /// Mark an entry done or failed and persist. The state is written to every copy that
    /// can be reached: an error names the first copy that could not be written (a copy
    /// left `pending` only makes a later `recover` replay an idempotent undo again).
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

    /// Write every copy; keep going past a failing one so that the others still get the
    /// state, and return the first error.
    async fn persist(&self, doc: &JournalDoc) -> Result<(), JournalError> {
        let text = serde_json::to_string_pretty(doc).map_err(|e| JournalError::Format {
            what: doc.run_id.clone(),
            message: e.to_string(),
        })?;
        // The local copies (each fsynced) and the cluster copy are independent: written at
        // once, a journal update costs the slower of the two, not their sum.
        let files = self.files.clone();
        let local_text = text.clone();
        let local = tokio::task::spawn_blocking(move || {
            // every copy is written even when one fails; the first error is kept
            files.iter().fold(None, |first, f| first.or(write_atomic(f, &local_text).err()))
        });
        let cluster = async {
            let Some((kube, ns)) = &self.cluster else { return None };
            let data = BTreeMap::from([(DATA_KEY.to_string(), text)]);
            kube.put_config_map(ns, &config_map_name(&doc.run_id), &doc.run_id, data).await.err()
        };
        let (local, cluster) = tokio::join!(local, cluster);
        let local = local.unwrap_or_else(|e| {
            let path = self.files.first().cloned().unwrap_or_default();
            Some(JournalError::Io { path, source: std::io::Error::other(e) })
        });
        local.or(cluster.map(Into::into)).map_or(Ok(()), Err)
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
    use std::io::Write;
    let err = |source| JournalError::Io { path: path.to_path_buf(), source };
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(err)?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)?;
    // the rename must not become visible before the bytes are on disk (power loss)
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Parse a journal, telling exactly what is wrong when it cannot be used.
pub fn parse(what: &str, text: &str) -> Result<JournalDoc, JournalError> {
    let format = |message: String| JournalError::Format { what: what.to_string(), message };
    let invalid = |source| JournalError::Invalid { what: what.to_string(), source };
    let value: Value = serde_json::from_str(text).map_err(|e| {
        format(if e.is_eof() {
            format!("truncated: the JSON ends at line {} column {}", e.line(), e.column())
        } else {
            format!("not valid JSON: {e}")
        })
    })?;
    let version = value.get("version").and_then(Value::as_u64).ok_or_else(|| {
        format("no numeric `version`: not an acr-chaos journal, or a damaged one".into())
    })?;
    match version {
        1 => parse_v1(value).map_err(invalid),
        2 => parse_v2(value).map_err(invalid),
        v => Err(format(format!(
            "journal format {v} was written by a newer acr-chaos ({}); this build ({}) reads formats 1 and {FORMAT_VERSION}: run `recover` with that version",
            value.pointer("/writer/version").and_then(Value::as_str).unwrap_or("unknown version"),
            env!("CARGO_PKG_VERSION"),
        ))),
    }
}

/// Format 2: every entry is checked on its own so that the error names the entry and the
/// undo action this build does not know.
fn parse_v2(mut value: Value) -> Result<JournalDoc, FormatError> {
    let entries = value.get_mut("entries").map(Value::take).unwrap_or(Value::Null);
    let Value::Array(entries) = entries else {
        return Err(FormatError::NoEntries);
    };
    let mut doc: JournalDoc =
        serde_json::from_value(with_entries(value, vec![])).map_err(FormatError::Header)?;
    doc.entries = parse_entries(entries)?;
    Ok(doc)
}

/// Format 1 had `target` as a bare name: no identity, so it matches no cluster until a
/// human forces it.
fn parse_v1(mut value: Value) -> Result<JournalDoc, FormatError> {
    let name = value.get("target").and_then(Value::as_str).unwrap_or_default().to_string();
    let entries = value.get_mut("entries").map(Value::take).unwrap_or(Value::Null);
    let Value::Array(entries) = entries else {
        return Err(FormatError::NoEntries);
    };
    let run_id =
        value.get("runId").and_then(Value::as_str).ok_or(FormatError::NoRunId)?.to_string();
    Ok(JournalDoc {
        version: 1,
        run_id,
        target: TargetIdentity { name, ..TargetIdentity::default() },
        writer: Writer::default(),
        entries: parse_entries(entries)?,
    })
}

fn with_entries(mut v: Value, entries: Vec<Value>) -> Value {
    v["entries"] = Value::Array(entries);
    v
}

fn parse_entries(entries: Vec<Value>) -> Result<Vec<Entry>, FormatError> {
    let mut out = Vec::with_capacity(entries.len());
    let mut problems = Vec::new();
    for (i, e) in entries.into_iter().enumerate() {
        let action = e.pointer("/undo/action").and_then(Value::as_str).map(str::to_string);
        match serde_json::from_value::<Entry>(e) {
            Ok(entry) => out.push(entry),
            Err(err) => problems.push(match action {
                Some(a) if err.to_string().contains("unknown variant") => format!(
                    "entry {}: undo action {a:?} is not known to this build ({}): it was written by another acr-chaos version",
                    i + 1,
                    env!("CARGO_PKG_VERSION")
                ),
                _ => format!("entry {}: {err}", i + 1),
            }),
        }
    }
    if problems.is_empty() { Ok(out) } else { Err(FormatError::Entries(problems)) }
}

/// Read a local journal file (refusing anything that is not a small regular file).
pub fn read_file(path: &Path) -> Result<JournalDoc, JournalError> {
    let io = |source| JournalError::Io { path: path.to_path_buf(), source };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() || meta.len() > MAX_JOURNAL_BYTES {
        return Err(JournalError::Format {
            what: path.display().to_string(),
            message: format!("not a regular file of at most {MAX_JOURNAL_BYTES} bytes"),
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let text = String::from_utf8(bytes).map_err(|e| JournalError::Format {
        what: path.display().to_string(),
        message: format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
    })?;
    parse(&path.display().to_string(), &text)
}

/// Every local journal under `.acr-chaos/journal/`, readable or not. Leftover temporary
/// files of an interrupted write are ignored: the rename that would have published them
/// never happened, so the journal they belong to is still the previous complete version.
pub fn local_journals(work_dir: &Path) -> Vec<Found> {
    let mut out = Vec::new();
    let dir = pointer_dir(work_dir);
    let Ok(rd) = std::fs::read_dir(&dir) else { return out };
    let mut paths: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let source = Source::File(p.clone());
        out.push(match read_file(&p) {
            Ok(doc) => Found::Readable { source, doc },
            Err(e) => Found::Unreadable { source, reason: e.reason() },
        });
    }
    out
}

/// Every journal ConfigMap in the cluster's journal namespace, readable or not.
pub async fn cluster_journals(kube: &Kube, ns: &str) -> Result<Vec<Found>, JournalError> {
    let mut out = Vec::new();
    for cm in kube.list_our_config_maps(ns).await? {
        let name = cm.metadata.name.clone().unwrap_or_default();
        if !name.starts_with(CONFIG_MAP_PREFIX) {
            continue;
        }
        let source = Source::ConfigMap { namespace: ns.to_string(), name: name.clone() };
        let Some(text) = cm.data.as_ref().and_then(|d| d.get(DATA_KEY)) else {
            let reason = format!("has no `{DATA_KEY}` key");
            out.push(Found::Unreadable { source, reason });
            continue;
        };
        out.push(match parse(&source.to_string(), text) {
            Ok(doc) => Found::Readable { source, doc },
            Err(e) => Found::Unreadable { source, reason: e.reason() },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> TargetIdentity {
        TargetIdentity {
            name: "a".into(),
            cluster_id: "/subscriptions/s/resourceGroups/r/providers/Microsoft.ContainerService/managedClusters/a".into(),
            api_server: "https://a:443".into(),
            cluster_uid: "uid-a".into(),
        }
    }

    #[tokio::test]
    async fn records_before_and_marks_after() {
        let dir = tempfile::tempdir().unwrap();
        let files = Journal::standard_files(&dir.path().join("reports"), dir.path(), "r1");
        let j = Journal::new("r1", identity(), files.clone(), None);
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
            assert_eq!(d.target, identity());
            assert_eq!(d.version, FORMAT_VERSION);
        }
        j.mark(id, EntryState::Done, None).await.unwrap();
        let d = read_file(&files[1]).unwrap();
        assert_eq!(d.entries[0].state, EntryState::Done);
        assert_eq!(d.unfinished().count(), 0);
        assert!(matches!(local_journals(dir.path()).as_slice(), [Found::Readable { .. }]));
    }

    fn doc_text(action: &str, version: u32) -> String {
        serde_json::json!({
            "version": version, "runId": "r1", "target": identity(),
            "entries": [
                {"id": 1, "scenario": "s", "fault": "f", "state": "pending",
                 "undo": {"action": "delete-namespace", "namespace": "n"}},
                {"id": 2, "scenario": "s", "fault": "f", "state": "pending",
                 "undo": {"action": action, "namespace": "n"}},
            ]
        })
        .to_string()
    }

    #[test]
    fn unknown_undo_action_is_named() {
        let err = parse("j", &doc_text("rotate-the-moon", 2)).unwrap_err().to_string();
        assert!(err.contains("entry 2") && err.contains("\"rotate-the-moon\""), "{err}");
    }

    #[test]
    fn future_format_is_refused() {
        let err = parse("j", &doc_text("delete-namespace", 3)).unwrap_err().to_string();
        assert!(err.contains("journal format 3 was written by a newer acr-chaos"), "{err}");
    }

    #[test]
    fn truncated_journal_says_truncated() {
        let text = doc_text("delete-namespace", 2);
        let err = parse("j", &text[..text.len() / 2]).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
    }

    #[test]
    fn format_1_reads_without_identity() {
        let v1 = serde_json::json!({
            "version": 1, "runId": "old", "target": "lab",
            "entries": [{"id": 1, "scenario": "s", "fault": "f", "state": "pending",
                         "undo": {"action": "delete-namespace", "namespace": "n"}}]
        });
        let d = parse("j", &v1.to_string()).unwrap();
        assert_eq!(d.version, 1);
        assert!(d.target.mismatch(&identity()).unwrap().contains("format 1"));
    }

    #[test]
    fn identity_mismatch_names_both_clusters() {
        let mut other = identity();
        other.cluster_uid = "uid-b".into();
        let why = identity().mismatch(&other).unwrap();
        assert!(why.contains("uid-a") && why.contains("uid-b"), "{why}");
        assert_eq!(identity().mismatch(&identity()), None);
    }

    #[test]
    fn unreadable_local_files_are_listed_not_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let d = pointer_dir(dir.path());
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("bad.json"), b"{\"version\": 2, \"runId\": ").unwrap();
        std::fs::write(d.join("bin.json"), [0xff, 0xfe, 0x00]).unwrap();
        std::fs::write(d.join("x.json.tmp"), b"garbage").unwrap();
        let found = local_journals(dir.path());
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().all(|f| matches!(f, Found::Unreadable { .. })));
    }
}
