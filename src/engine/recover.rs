//! Replaying unfinished journals: `acr-chaos recover`, and every run before its first
//! change (after it took the lease, so no other live process can own those journals).
//!
//! Rules (architecture §4b): only journals of the cluster at hand are replayed, the others
//! are named and left alone; a journal that cannot be read or understood is named and
//! makes the result unclean (exit 3), never hiding the readable ones; each undo is retried
//! through transient failures until the restore deadline, and what did not hold stays
//! pending in every copy that can be written. Undos are idempotent and each is marked done
//! right after it held, so recover can be killed anywhere and run again.

use super::connect::{Connected, static_env};
use super::journal::{self, EntryState, Found, Journal, JournalDoc, Source, TargetIdentity};
use super::scenario::SharedSink;
use crate::events::{Event, EventKind};
use crate::faults::{self, Ctx};
use crate::scenario::Target;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which journals to replay.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Only this run.
    pub run_id: Option<String>,
    /// Never this run (the caller's own).
    pub exclude: Option<String>,
    /// Replay `run_id` even when its journal names another or no cluster (a human's call).
    pub force: bool,
}

/// What a recovery did; [`Recovery::clean`] decides the exit code.
#[derive(Debug, Default)]
pub struct Recovery {
    /// `run: undo` lines that were replayed and hold.
    pub restored: Vec<String>,
    /// `run: undo: error` lines that did not hold by the deadline.
    pub failed: Vec<String>,
    /// `source: reason` for journals that cannot be read or understood.
    pub unreadable: Vec<String>,
    /// Journals that may belong here but were not replayed (no identity; outside the
    /// allowlist).
    pub refused: Vec<String>,
    /// Journals of other clusters, left alone (not a problem of this target).
    pub skipped: Vec<String>,
    /// Whether `scope.run_id` was found at all.
    pub found: bool,
}

impl Recovery {
    /// Nothing this target could have left behind is known to remain.
    pub fn clean(&self) -> bool {
        self.failed.is_empty() && self.unreadable.is_empty() && self.refused.is_empty()
    }

    /// Every problem, one line each.
    pub fn problems(&self) -> impl Iterator<Item = String> + '_ {
        let unreadable = self.unreadable.iter().map(|u| format!("unreadable journal {u}"));
        let refused = self.refused.iter().map(|r| format!("not replayed: {r}"));
        let failed = self.failed.iter().map(|f| format!("undo failed: {f}"));
        unreadable.chain(refused).chain(failed)
    }
}

/// One run's journal, merged from every copy found.
struct RunJournal {
    doc: JournalDoc,
    files: Vec<PathBuf>,
    sources: Vec<Source>,
}

/// Replays journals against one connected target.
pub struct Replayer<'a> {
    pub c: &'a Connected,
    pub target: &'a Target,
    pub here: &'a TargetIdentity,
    pub jns: &'a str,
    pub work_dir: &'a Path,
    /// How long each run's undos may take, transient failures included.
    pub deadline: Duration,
    /// Where progress (notes), each replayed undo (`undo-replayed`) and, at the end,
    /// every problem (`undo-pending`) go: `recover`'s reporters, or the run's.
    pub sink: &'a SharedSink,
}

impl std::fmt::Debug for Replayer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replayer")
            .field("target", &self.target.name)
            .field("here", self.here)
            .field("jns", &self.jns)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl Replayer<'_> {
    /// Replay what `scope` selects; every problem is also announced as `undo-pending`.
    pub async fn recover(&self, scope: &Scope) -> Recovery {
        let rec = self.replay_scope(scope).await;
        for change in rec.problems() {
            self.sink.emit(Event::run(EventKind::UndoPending { change }));
        }
        rec
    }

    async fn replay_scope(&self, scope: &Scope) -> Recovery {
        let mut rec = Recovery::default();
        let runs = self.gather(&mut rec).await;
        for (run_id, run) in runs {
            if scope.exclude.as_deref() == Some(run_id.as_str())
                || scope.run_id.as_deref().is_some_and(|r| r != run_id)
            {
                continue;
            }
            rec.found = true;
            if run.doc.unfinished().next().is_none() {
                self.forget_finished(&run).await;
                continue;
            }
            if self.belongs_here(&run, scope, &mut rec) {
                self.replay(run, &mut rec).await;
            }
        }
        rec
    }

    /// Every copy, local and in the cluster, grouped by run (copies of a run are merged).
    async fn gather(&self, rec: &mut Recovery) -> BTreeMap<String, RunJournal> {
        let mut found = journal::local_journals(self.work_dir);
        match self.cluster_copies().await {
            Ok(mut f) => found.append(&mut f),
            Err(e) => rec.unreadable.push(format!(
                "ConfigMaps in {}: cannot list the cluster's journal copies: {e}",
                self.jns
            )),
        }
        let mut runs: BTreeMap<String, RunJournal> = BTreeMap::new();
        for f in found {
            let (source, doc) = match f {
                Found::Readable { source, doc } => (source, doc),
                Found::Unreadable { source, reason } => {
                    rec.unreadable.push(format!("{source}: {reason}"));
                    continue;
                }
            };
            let file = match &source {
                Source::File(p) => Some(p.clone()),
                Source::ConfigMap { .. } => None,
            };
            match runs.get_mut(&doc.run_id) {
                Some(r) => {
                    r.doc.merge(&doc);
                    r.files.extend(file);
                    r.sources.push(source);
                }
                None => {
                    let files = file.into_iter().collect();
                    let r = RunJournal { doc: doc.clone(), files, sources: vec![source] };
                    runs.insert(doc.run_id.clone(), r);
                }
            }
        }
        runs
    }

    /// The cluster's copies, listed again through transient failures until the deadline.
    async fn cluster_copies(&self) -> Result<Vec<Found>, journal::JournalError> {
        use backon::Retryable;
        (|| journal::cluster_journals(&self.c.kube, self.jns))
            .retry(patient(self.deadline))
            .when(|e| matches!(e, journal::JournalError::Cluster(c) if c.is_transient()))
            .notify(|e, wait| {
                self.sink.note(format!("listing journal copies: {e}; retrying in {wait:.1?}"))
            })
            .await
    }

    /// Whether a journal with unfinished undos is this cluster's; says why not.
    fn belongs_here(&self, run: &RunJournal, scope: &Scope, rec: &mut Recovery) -> bool {
        let Some(why) = run.doc.target.mismatch(self.here) else { return true };
        let forced = scope.force && scope.run_id.as_deref() == Some(run.doc.run_id.as_str());
        let sources = list(&run.sources);
        if forced {
            self.sink
                .note(format!("{}: --force: replaying although {why} ({sources})", run.doc.run_id));
            return true;
        }
        if run.doc.target.cluster_uid.is_empty() {
            rec.refused.push(format!(
                "run {} ({sources}): {why}; it may belong to this cluster: check it, then `acr-chaos recover --run-id {} --force --target FILE` against the right target",
                run.doc.run_id, run.doc.run_id
            ));
        } else {
            let line = format!("run {} ({sources}): {why}", run.doc.run_id);
            self.sink.note(format!("skipped {line}"));
            rec.skipped.push(line);
        }
        false
    }

    /// A run whose undos all hold: remove the cluster copy (a run that died after its
    /// last undo but before cleaning up leaves one).
    async fn forget_finished(&self, run: &RunJournal) {
        if run.sources.iter().any(|s| matches!(s, Source::ConfigMap { .. }))
            && run.doc.target.mismatch(self.here).is_none()
        {
            let j = Journal::resume(run.doc.clone(), vec![], self.cluster());
            if let Err(e) = j.close().await {
                tracing::warn!(error = %e, "removing a finished journal's cluster copy");
            }
        }
    }

    fn cluster(&self) -> Option<(crate::clients::kube::Kube, String)> {
        Some((self.c.kube.clone(), self.jns.to_string()))
    }

    /// Replay a run's unfinished undos, newest first.
    async fn replay(&self, run: RunJournal, rec: &mut Recovery) {
        let run_id = run.doc.run_id.clone();
        let pending: Vec<journal::Entry> = run.doc.unfinished().rev().cloned().collect();
        let j = Journal::resume(run.doc, run.files, self.cluster());
        let env = static_env(self.target, &run_id);
        let ctx = Ctx { arm: &self.c.arm, kube: &self.c.kube, env: &env };
        let until = tokio::time::Instant::now() + self.deadline;
        for e in pending {
            let what = e.undo.describe();
            if let Some(id) = e.undo.arm_id()
                && !self.target.allows_resource(&id)
            {
                rec.refused.push(format!("{run_id}: {what}: not in the target's allowlist"));
                continue;
            }
            let retrying = |err: &faults::FaultError, wait: Duration| {
                self.sink.note(format!("{run_id}: {what}: {err}; retrying in {wait:.1?}"));
            };
            let (state, error) =
                match faults::undo::restore_until(&ctx, &e.undo, until, retrying).await {
                    Ok(()) => {
                        self.sink.emit(Event::run(EventKind::UndoReplayed {
                            run: run_id.clone(),
                            change: what.clone(),
                        }));
                        rec.restored.push(format!("{run_id}: {what}"));
                        (EntryState::Done, None)
                    }
                    Err(err) => {
                        rec.failed.push(format!("{run_id}: {what}: {err}"));
                        (EntryState::Failed, Some(err.to_string()))
                    }
                };
            if let Err(err) = j.mark(e.id, state, error).await {
                // the undo holds (or not) whatever the copy says; a stale `pending` only
                // makes a later recover replay an idempotent undo again
                self.sink.note(format!("{run_id}: could not update every journal copy: {err}"));
            }
        }
        if let Err(err) = j.close().await {
            self.sink.note(format!("{run_id}: could not remove the cluster copy: {err}"));
        }
    }
}

/// Back-off for waiting out an API outage: up to `total` of sleeping.
fn patient(total: Duration) -> backon::ExponentialBuilder {
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(10))
        .with_total_delay(Some(total))
        .without_max_times()
}

fn list(sources: &[Source]) -> String {
    sources.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// The identity of the connected cluster, asked again through transient failures until
/// `deadline` (the `kube-system` namespace's uid is what binds a journal to a cluster).
pub async fn identify(
    c: &Connected,
    target: &Target,
    deadline: Duration,
) -> Result<TargetIdentity, crate::clients::ClientError> {
    use backon::Retryable;
    let uid = (|| c.kube.cluster_uid())
        .retry(patient(deadline))
        .when(crate::clients::ClientError::is_transient)
        .await?;
    Ok(TargetIdentity {
        name: target.name.to_string(),
        cluster_id: target.azure.cluster_id.to_string(),
        api_server: c.kube.server.clone(),
        cluster_uid: uid,
    })
}

/// Local journals only (no target given): what is unfinished or unreadable here.
pub fn list_local(work_dir: &Path, run_id: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    for f in journal::local_journals(work_dir) {
        match f {
            Found::Unreadable { source, reason } => {
                out.push(format!("unreadable journal {source}: {reason}"))
            }
            Found::Readable { source, doc } => {
                if run_id.is_some_and(|r| r != doc.run_id) {
                    continue;
                }
                for e in doc.unfinished() {
                    out.push(format!(
                        "{} ({source}, target {}): {} [{:?}]",
                        doc.run_id,
                        doc.target.name,
                        e.undo.describe(),
                        e.state
                    ));
                }
            }
        }
    }
    out
}
