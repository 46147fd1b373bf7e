//! One scenario, stage by stage: preflight (baseline probe pulls), journal, inject,
//! observe (re-probe until the fault shows or the deadline passes), assert, restore
//! (always), recovery probe, clean up. Emits [`crate::events`] in that order.

use super::journal::{EntryState, Journal, JournalError};
use super::probe::{Goal, ProbeEnd, ProbeError, ProbeListener, ProbeRequest, ProbeResult, Prober};
use crate::alerts::AlertPhase;
use crate::classify::{Cause, join};
use crate::clients::ClientError;
use crate::clients::arm::ArmClient;
use crate::clients::kube::Kube;
use crate::events::{
    Event, EventKind, ExpectedSummary, Observation, Sink, Stage, UndoOutcome, Verdict,
};
use crate::faults::{self, Ctx, Env, Fault, FaultError, Phase, ProbePlan, Undo};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The event sink shared by concurrently running scenarios.
#[derive(Debug, Clone)]
pub struct SharedSink(pub Arc<Mutex<Box<dyn Sink>>>);

impl SharedSink {
    pub fn new(sink: Box<dyn Sink>) -> Self {
        Self(Arc::new(Mutex::new(sink)))
    }
    pub fn emit(&self, e: Event) {
        if let Ok(mut s) = self.0.lock() {
            s.event(&e);
        }
    }
    /// A run-level progress line.
    pub fn note(&self, message: String) {
        self.emit(Event::run(EventKind::Note { message }));
    }
}

/// What a scenario needs to run, fully resolved (no file types).
#[derive(Debug, Clone)]
pub struct ScenarioPlan {
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    /// The scenario's own probe (before any fault alters it).
    pub probe: ProbePlan,
    pub node_selector: BTreeMap<String, String>,
    pub expect: Expectation,
    pub recovery_deadline: Duration,
    /// Alert assertions (checked when the target has the endpoints).
    pub alerts: Vec<crate::scenario::Alert>,
}

#[derive(Debug, Clone)]
pub struct Expectation {
    pub waiting_reasons: Vec<String>,
    pub causes: Vec<Cause>,
    pub message_regex: Option<regex::Regex>,
    pub deadline: Duration,
}

impl Expectation {
    pub fn summary(&self) -> ExpectedSummary {
        ExpectedSummary {
            waiting_reasons: self.waiting_reasons.clone(),
            causes: self.causes.clone(),
            message_regex: self.message_regex.as_ref().map(|r| r.as_str().to_string()),
            deadline: self.deadline,
        }
    }

    /// One line per unmet expectation.
    pub fn check(&self, o: &Observation) -> Vec<String> {
        let mut f = Vec::new();
        let reason = o.waiting_reason.as_deref().unwrap_or("<none>");
        if !self.waiting_reasons.iter().any(|r| r == reason) {
            f.push(format!(
                "waiting reason: expected one of [{}], observed {reason}",
                self.waiting_reasons.join(", ")
            ));
        }
        let missing: Vec<Cause> =
            self.causes.iter().copied().filter(|c| !o.causes.contains(c)).collect();
        if !missing.is_empty() {
            f.push(format!(
                "causes: expected [{}], observed [{}] (missing {}) in message {:?}",
                join(&self.causes, ", "),
                join(&o.causes, ", "),
                join(&missing, ", "),
                o.message.as_deref().unwrap_or("<no message>")
            ));
        }
        if let Some(re) = &self.message_regex {
            let m = o.message.as_deref().unwrap_or("");
            if !re.is_match(m) {
                f.push(format!("message: does not match /{}/: {m:?}", re.as_str()));
            }
        }
        f
    }
}

/// Run-wide services shared by the scenarios.
#[derive(Debug)]
pub struct Services {
    pub arm: ArmClient,
    pub kube: Kube,
    pub prober: Arc<dyn Prober>,
    pub journal: Arc<Journal>,
    pub sink: SharedSink,
    pub run_id: String,
    pub namespace_prefix: String,
    pub preflight_deadline: Duration,
    /// How long one scenario's undos may take, transient API failures included.
    pub restore_deadline: Duration,
    pub cancel: tokio::sync::watch::Receiver<bool>,
    /// Alert clients; `None` when no scenario has alerts.
    pub alerts: Option<crate::alerts::AlertContext>,
    /// The run lease, confirmed before each injection (`None` in tests without a cluster).
    pub lease: Option<LeaseGuard>,
}

/// Where the run's lease is and who we are.
#[derive(Debug)]
pub struct LeaseGuard {
    pub kube: Kube,
    pub namespace: String,
    pub holder: String,
}

/// How a scenario ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: Verdict,
    pub restore_failed: bool,
    pub interrupted: bool,
}

struct Listener {
    sink: SharedSink,
    scenario: String,
}

impl ProbeListener for Listener {
    fn created(&mut self, pod: &str, namespace: &str, image: &str) {
        self.sink.emit(Event::scenario(
            &self.scenario,
            EventKind::ProbeCreated {
                pod: pod.into(),
                namespace: namespace.into(),
                image: image.into(),
            },
        ));
    }
    fn observed(&mut self, obs: &Observation) {
        self.sink.emit(Event::scenario(
            &self.scenario,
            EventKind::ProbeObserved { observation: obs.clone() },
        ));
    }
}

/// The per-scenario namespace `<prefix>-<run-id-short>-<scenario>` (≤ 63 chars).
pub fn scenario_namespace(prefix: &str, run_id: &str, scenario: &str) -> String {
    let short: String = run_id
        .rsplit('-')
        .next()
        .unwrap_or(run_id)
        .chars()
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase();
    let mut ns = format!("{prefix}-{short}-{scenario}").to_ascii_lowercase();
    ns.truncate(63);
    ns.trim_end_matches('-').to_string()
}

/// Why a stage stopped the scenario. Each one is reported as a [`EventKind::ScenarioError`]
/// of its stage; [`StageError::interrupted`] tells an interruption (signal, lost lease)
/// from a broken connection or a refused change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StageError {
    #[error("journal: {0}")]
    Journal(#[source] JournalError),
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// The run was cancelled (signal, lost lease) while the stage waited.
    #[error("interrupted")]
    Interrupted,
    /// The run was cancelled between the journal and the injection.
    #[error("interrupted before the injection")]
    InterruptedBeforeInjection,
    #[error("the run lease was taken by another process: not injecting")]
    LeaseLost,
    #[error("cannot confirm the run lease before injecting: {0}")]
    LeaseUnconfirmed(#[source] ClientError),
    #[error("snapshot: {0}")]
    Snapshot(#[source] FaultError),
    #[error(transparent)]
    Inject(FaultError),
    #[error("{what} did not pull within {deadline:?}: {reason} {message}")]
    NoPull { what: &'static str, deadline: Duration, reason: String, message: String },
    #[error("create Secret {namespace}/{BOGUS_PULL_SECRET}: {source}")]
    BogusSecret {
        namespace: String,
        #[source]
        source: ClientError,
    },
}

impl StageError {
    /// Whether the run was stopped rather than broken: the scenario reports an error, the
    /// run exits as interrupted (after restoring).
    pub fn interrupted(&self) -> bool {
        matches!(
            self,
            StageError::Interrupted
                | StageError::InterruptedBeforeInjection
                | StageError::LeaseLost
                | StageError::LeaseUnconfirmed(_)
        )
    }

    fn no_pull(what: &'static str, deadline: Duration, o: &Observation) -> Self {
        StageError::NoPull {
            what,
            deadline,
            reason: o.waiting_reason.clone().unwrap_or_else(|| "pending".into()),
            message: o.message.clone().unwrap_or_default(),
        }
    }
}

/// How preflight ended when nothing broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preflight {
    /// The baseline pulls; the fault can be injected.
    Ready,
    /// The fault cannot show on this target (the note says why): skip the scenario.
    Masked(String),
}

/// What the observe stage saw after the injection.
#[derive(Debug, Clone)]
pub struct Observed {
    /// `true` when the fault showed (the probe met its goal) before the deadline.
    pub effective: bool,
    pub observation: Observation,
}

/// The recover stage: does a fresh probe pull again after the restore?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovered {
    Pulls,
    NoPull,
    Interrupted,
    /// Not tried: the run was interrupted before it.
    Skipped,
}

/// The undos of a scenario, registered the moment each change is journaled (before it is
/// made) and applied in reverse registration order by [`Scenario::restore`].
#[derive(Debug, Default)]
pub struct Undos(Vec<(u32, Undo)>);

impl Undos {
    pub fn register(&mut self, journal_id: u32, undo: Undo) {
        self.0.push((journal_id, undo));
    }
    /// Latest registration first.
    pub fn in_restore_order(&self) -> impl Iterator<Item = &(u32, Undo)> {
        self.0.iter().rev()
    }
}

/// The scenario's own cleanup: its probe namespace, journaled (and so registered) when it
/// is created, deleted last whatever happened.
#[derive(Debug, Default)]
struct NamespaceCleanup(Option<u32>);

/// One scenario being run: the stages below are its only steps.
struct Scenario<'a> {
    svc: &'a Services,
    plan: &'a ScenarioPlan,
    fault: &'a dyn Fault,
    env: Env,
}

/// Run one scenario through every stage: preflight, inject, observe, assert (try);
/// restore (finally, whatever the try did); recover; clean up the namespace (finally).
pub async fn run(
    svc: &Services,
    plan: &ScenarioPlan,
    fault: &dyn Fault,
    base_env: &Env,
) -> Outcome {
    let mut env = base_env.clone();
    env.scenario = plan.name.clone();
    env.run_namespace = scenario_namespace(&svc.namespace_prefix, &svc.run_id, &plan.name);
    let sc = Scenario { svc, plan, fault, env };
    sc.emit(EventKind::ScenarioStarted {
        fault: fault.kind().into(),
        description: plan.description.clone(),
        tags: plan.tags.clone(),
        changes: fault.describe(&sc.env),
    });
    let mut ns = NamespaceCleanup::default();
    let out = sc.stages(&mut ns).await;
    sc.cleanup(ns).await;
    sc.emit(EventKind::ScenarioFinished { verdict: out.verdict });
    out
}

/// The scenario's verdict from what its stages found. `asserted` is `None` when a stage
/// failed before the assertion.
pub fn judge(asserted: Option<Verdict>, recovered: Recovered, alerts_ok: bool) -> Verdict {
    match (asserted, recovered) {
        (None, _) | (_, Recovered::Interrupted) => Verdict::Error,
        (Some(Verdict::Passed), Recovered::NoPull) => Verdict::Failed,
        (Some(Verdict::Passed), _) if !alerts_ok => Verdict::Failed,
        (Some(v), _) => v,
    }
}

impl Scenario<'_> {
    fn emit(&self, k: EventKind) {
        self.svc.sink.emit(Event::scenario(&self.plan.name, k));
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx { arm: &self.svc.arm, kube: &self.svc.kube, env: &self.env }
    }

    fn listener(&self) -> Listener {
        Listener { sink: self.svc.sink.clone(), scenario: self.plan.name.clone() }
    }

    fn cancelled(&self) -> bool {
        *self.svc.cancel.borrow()
    }

    /// Every stage but the namespace cleanup, in order.
    async fn stages(&self, ns: &mut NamespaceCleanup) -> Outcome {
        let mut out =
            Outcome { verdict: Verdict::Error, restore_failed: false, interrupted: false };
        match self.preflight(ns).await {
            Ok(Preflight::Ready) => {}
            Ok(Preflight::Masked(message)) => {
                self.emit(EventKind::Note { message });
                out.verdict = Verdict::Skipped;
                return out;
            }
            Err(e) => {
                out.interrupted = e.interrupted();
                self.emit(EventKind::ScenarioError {
                    stage: Stage::Preflight,
                    error: e.to_string(),
                });
                return out;
            }
        }
        let mut alerts_ok = self.check_alerts(AlertPhase::Baseline).await;
        let mut undos = Undos::default();
        let asserted = match self.fault_step(&mut undos).await {
            Ok((verdict, effective)) => {
                if effective {
                    alerts_ok &= self.check_alerts(AlertPhase::Faulted).await;
                }
                Some(verdict)
            }
            Err((stage, e)) => {
                out.interrupted = e.interrupted();
                self.emit(EventKind::ScenarioError { stage, error: e.to_string() });
                None
            }
        };
        // finally: every registered undo, whatever the fault step did
        out.restore_failed = !self.restore(&undos).await;
        let recovered = if out.interrupted || self.cancelled() {
            Recovered::Skipped
        } else if out.restore_failed {
            self.recovery_not_attempted()
        } else {
            self.recover().await
        };
        match recovered {
            Recovered::Pulls => alerts_ok &= self.check_alerts(AlertPhase::Restored).await,
            Recovered::Interrupted => out.interrupted = true,
            Recovered::NoPull | Recovered::Skipped => {}
        }
        out.verdict =
            if out.interrupted { Verdict::Error } else { judge(asserted, recovered, alerts_ok) };
        out
    }

    /// inject → observe → assert: the verdict of the assertion and whether the fault
    /// showed, or the stage that failed. Undos are registered in `undos` as they are
    /// journaled, so the caller restores whatever got that far.
    async fn fault_step(&self, undos: &mut Undos) -> Result<(Verdict, bool), (Stage, StageError)> {
        self.inject(undos).await.map_err(|e| (Stage::Inject, e))?;
        let observed = self.observe().await.map_err(|e| (Stage::Observe, e))?;
        Ok((self.assert(&observed), observed.effective))
    }

    fn probe_request(
        &self,
        phase: Phase,
        goal: Goal,
        deadline: Duration,
        tag: &str,
    ) -> ProbeRequest {
        ProbeRequest {
            namespace: self.env.run_namespace.clone(),
            name: format!("probe-{tag}"),
            plan: self.fault.probe(&self.env, &self.plan.probe, phase),
            node_selector: self.plan.node_selector.clone(),
            run_id: self.svc.run_id.clone(),
            scenario: self.plan.name.clone(),
            goal,
            deadline,
        }
    }

    async fn probe(&self, req: ProbeRequest) -> Result<ProbeResult, ProbeError> {
        self.svc.prober.probe(req, self.svc.cancel.clone(), &mut self.listener()).await
    }

    /// Preflight: journal the probe namespace (registering its cleanup) before creating
    /// it, copy the pull secrets into it, probe the baseline, and check that node
    /// credentials do not mask a pull-secret fault.
    async fn preflight(&self, ns: &mut NamespaceCleanup) -> Result<Preflight, StageError> {
        let undo = Undo::DeleteNamespace { namespace: self.env.run_namespace.clone() };
        let id = self
            .svc
            .journal
            .record(&self.plan.name, self.fault.kind().as_str(), undo)
            .await
            .map_err(StageError::Journal)?;
        ns.0 = Some(id);
        let secrets = self.pull_secrets();
        self.svc.prober.prepare(&self.env.run_namespace, &self.svc.run_id, &secrets).await?;
        let deadline = self.svc.preflight_deadline;
        let r = self
            .probe(self.probe_request(Phase::Baseline, Goal::Pulls, deadline, "baseline"))
            .await?;
        match r.end {
            ProbeEnd::Met => self.emit(EventKind::PreflightPassed { baseline_pull: r.elapsed }),
            ProbeEnd::Interrupted => return Err(StageError::Interrupted),
            ProbeEnd::Deadline => {
                return Err(StageError::no_pull("baseline probe", deadline, &r.observation));
            }
        }
        if !self.fault.masked_by_node_credentials() {
            return Ok(Preflight::Ready);
        }
        let faulted_image = self.fault.probe(&self.env, &self.plan.probe, Phase::Faulted).image;
        Ok(match self.node_credentials_mask(&faulted_image).await? {
            Some(note) => Preflight::Masked(note),
            None => Preflight::Ready,
        })
    }

    /// The pull secrets the baseline and recovery probes name.
    fn pull_secrets(&self) -> Vec<String> {
        let mut secrets =
            self.fault.probe(&self.env, &self.plan.probe, Phase::Baseline).pull_secrets;
        for s in self.fault.probe(&self.env, &self.plan.probe, Phase::Recovery).pull_secrets {
            if !secrets.contains(&s) {
                secrets.push(s);
            }
        }
        secrets
    }

    /// Inject: snapshot what the fault changes, journal every undo (registering it in
    /// `undos`), and only then — the run not cancelled, its lease still ours — change the
    /// target.
    async fn inject(&self, undos: &mut Undos) -> Result<(), StageError> {
        let snapshot = self.fault.snapshot(&self.ctx()).await.map_err(StageError::Snapshot)?;
        for u in &snapshot {
            let id = self
                .svc
                .journal
                .record(&self.plan.name, self.fault.kind().as_str(), u.clone())
                .await
                .map_err(StageError::Journal)?;
            self.emit(EventKind::Journaled { change: u.describe() });
            undos.register(id, u.clone());
        }
        if self.cancelled() {
            return Err(StageError::InterruptedBeforeInjection);
        }
        self.confirm_lease().await?;
        let lines = self.fault.inject(&self.ctx(), &snapshot).await.map_err(StageError::Inject)?;
        for description in lines {
            self.emit(EventKind::FaultInjected { description });
        }
        Ok(())
    }

    /// Why the run may no longer change the cluster, checked right before each injection:
    /// the renewer notices a lost lease only at its next round, and another process that
    /// took the lease over may be replaying our journal right now.
    async fn confirm_lease(&self) -> Result<(), StageError> {
        let Some(guard) = self.svc.lease.as_ref() else { return Ok(()) };
        match super::lease::held_by(&guard.kube, &guard.namespace, &guard.holder).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(StageError::LeaseLost),
            Err(e) => Err(StageError::LeaseUnconfirmed(e)),
        }
    }

    /// Observe: re-probe with the fault's probe until the expected failure shows or the
    /// deadline passes.
    async fn observe(&self) -> Result<Observed, StageError> {
        let expect = &self.plan.expect;
        let goal = Goal::Fails { causes: expect.causes.clone() };
        let injected_at = Instant::now();
        let r =
            self.probe(self.probe_request(Phase::Faulted, goal, expect.deadline, "fault")).await?;
        match r.end {
            ProbeEnd::Interrupted => Err(StageError::Interrupted),
            ProbeEnd::Met => {
                self.emit(EventKind::FaultEffective {
                    time_to_effect: injected_at.elapsed(),
                    observation: r.observation.clone(),
                });
                Ok(Observed { effective: true, observation: r.observation })
            }
            ProbeEnd::Deadline => Ok(Observed { effective: false, observation: r.observation }),
        }
    }

    /// Assert: the observation against the expectation, one line per unmet part.
    fn assert(&self, observed: &Observed) -> Verdict {
        let expect = &self.plan.expect;
        let mut failures = expect.check(&observed.observation);
        if !observed.effective {
            failures.insert(
                0,
                format!("the fault did not show within the deadline {:?}", expect.deadline),
            );
        }
        let passed = failures.is_empty();
        self.emit(EventKind::Asserted {
            passed,
            expected: expect.summary(),
            observed: observed.observation.clone(),
            failures,
        });
        if passed { Verdict::Passed } else { Verdict::Failed }
    }

    /// Restore: apply every registered undo (see [`restore`]); `true` when all held.
    async fn restore(&self, undos: &Undos) -> bool {
        let outcomes = restore(self.svc, &self.ctx(), undos).await;
        let ok = outcomes.iter().all(|u| u.ok);
        self.emit(EventKind::RestoreFinished { undos: outcomes });
        ok
    }

    /// After a failed restore the fault may still be in place: a recovery probe would only
    /// wait out its deadline (10 min by default) in a run nobody watches. Recovery counts as
    /// failed, and says why.
    fn recovery_not_attempted(&self) -> Recovered {
        self.emit(EventKind::RecoveryFinished {
            ok: false,
            time_to_recover: None,
            error: Some(
                "not checked: a restore failed, so the fault may still be in place \
                 (run `acr-chaos recover`)"
                    .to_owned(),
            ),
        });
        Recovered::NoPull
    }

    /// Recover: a fresh probe with the scenario's own probe must pull again.
    async fn recover(&self) -> Recovered {
        let deadline = self.plan.recovery_deadline;
        let r = self
            .probe(self.probe_request(Phase::Recovery, Goal::Pulls, deadline, "recovery"))
            .await;
        let (recovered, time_to_recover, error) = match r {
            Ok(r) if r.end == ProbeEnd::Met => (Recovered::Pulls, Some(r.elapsed), None),
            Ok(r) if r.end == ProbeEnd::Interrupted => {
                (Recovered::Interrupted, None, Some(StageError::Interrupted))
            }
            Ok(r) => (
                Recovered::NoPull,
                None,
                Some(StageError::no_pull("a fresh probe", deadline, &r.observation)),
            ),
            Err(e) => (Recovered::NoPull, None, Some(e.into())),
        };
        self.emit(EventKind::RecoveryFinished {
            ok: recovered == Recovered::Pulls,
            time_to_recover,
            error: error.map(|e| e.to_string()),
        });
        recovered
    }

    /// Check the scenario's alerts that apply to `phase`.
    async fn check_alerts(&self, phase: AlertPhase) -> bool {
        check_alerts(self.svc, self.plan, &self.env, phase).await
    }

    /// Cleanup: delete the probe namespace and mark its journal entry. The delete is
    /// tried even when journaling it failed: the namespace may exist all the same.
    async fn cleanup(&self, ns: NamespaceCleanup) {
        let svc = self.svc;
        let r = svc.prober.cleanup(&self.env.run_namespace).await;
        if let Some(id) = ns.0 {
            let (state, err) = match &r {
                Ok(()) => (EntryState::Done, None),
                Err(e) => (EntryState::Failed, Some(e.to_string())),
            };
            if let Err(e) = svc.journal.mark(id, state, err).await {
                tracing::warn!(error = %e, "journal update failed");
            }
        }
        if let Err(e) = r {
            self.emit(EventKind::ScenarioError { stage: Stage::Cleanup, error: e.to_string() });
        }
    }

    /// Whether node credentials mask a pull-secret fault on this target: probe `image`
    /// with only a deliberately bogus pull secret for its registry. `Some(note)` when the
    /// image still pulls (the scenario cannot show its fault here), `None` when the pull
    /// fails as a pull-secret fault needs.
    async fn node_credentials_mask(&self, image: &str) -> Result<Option<String>, StageError> {
        let Some(host) = image_host(image) else { return Ok(None) };
        let svc = self.svc;
        let namespace = &self.env.run_namespace;
        let secret = crate::clients::kube::docker_config_secret(
            BOGUS_PULL_SECRET,
            host,
            "acr-chaos-bogus",
            "acr-chaos-deliberately-wrong-password",
            &svc.run_id,
        );
        svc.kube
            .put_secret(namespace, &secret)
            .await
            .map_err(|source| StageError::BogusSecret { namespace: namespace.clone(), source })?;
        let req = ProbeRequest {
            namespace: namespace.clone(),
            name: "probe-masking".into(),
            plan: ProbePlan {
                image: image.to_string(),
                pull_secrets: vec![BOGUS_PULL_SECRET.into()],
            },
            node_selector: self.plan.node_selector.clone(),
            run_id: svc.run_id.clone(),
            scenario: self.plan.name.clone(),
            goal: Goal::Settles,
            deadline: svc.preflight_deadline,
        };
        let r = self.probe(req).await?;
        match r.end {
            ProbeEnd::Interrupted => Err(StageError::Interrupted),
            ProbeEnd::Met if r.observation.waiting_reason.is_none() => Ok(Some(format!(
                "the cluster pulls {host} with its node identity, so a pull-secret fault cannot break pulls there \
                 (a probe of {image} with a bogus pull secret still pulled); point the scenario's probe image \
                 (a target probeImages alias) at a registry the cluster is not attached to"
            ))),
            // it failed (or never settled): the fault's own probe decides
            _ => Ok(None),
        }
    }
}

/// Name of the deliberately bogus pull secret of the masking check.
pub const BOGUS_PULL_SECRET: &str = "acr-chaos-bogus-pull-secret";

/// The registry host of an image reference (`None` for a Docker Hub short name).
pub fn image_host(image: &str) -> Option<&str> {
    let (first, _) = image.split_once('/')?;
    (first.contains('.') || first.contains(':') || first == "localhost").then_some(first)
}

/// Apply every journaled undo of a scenario in reverse order; a failing undo does not
/// stop the others. Each applied undo is checked, and retried through transient failures
/// until the restore deadline. Interruptions do not cut a restore short.
pub async fn restore(svc: &Services, ctx: &Ctx<'_>, undos: &Undos) -> Vec<UndoOutcome> {
    let mut outcomes = Vec::new();
    let until = Instant::now() + svc.restore_deadline;
    for (id, u) in undos.in_restore_order() {
        let retrying = |e: &FaultError, wait: Duration| {
            svc.sink.emit(Event::scenario(
                &ctx.env.scenario,
                EventKind::Note {
                    message: format!("restore: {}: {e}; retrying in {wait:.1?}", u.describe()),
                },
            ));
        };
        let res = faults::undo::restore_until(ctx, u, until, retrying).await;
        let (state, error) = match &res {
            Ok(()) => (EntryState::Done, None),
            Err(e) => (EntryState::Failed, Some(e.to_string())),
        };
        if let Err(e) = svc.journal.mark(*id, state, error.clone()).await {
            tracing::warn!(error = %e, "journal update failed");
        }
        outcomes.push(UndoOutcome { description: u.describe(), ok: res.is_ok(), error });
    }
    outcomes
}

/// Check the scenario's alerts that apply to `phase`; emits one event per check. Returns
/// whether all checked ones passed (alerts whose endpoint is missing are skipped).
async fn check_alerts(svc: &Services, plan: &ScenarioPlan, env: &Env, phase: AlertPhase) -> bool {
    let Some(ctx) = &svc.alerts else { return true };
    if plan.alerts.is_empty() {
        return true;
    }
    let ctx = ctx.for_scenario(&plan.name, &env.run_namespace);
    let (ok, skipped) = crate::alerts::connect::checkable(&ctx, &plan.alerts);
    if phase == AlertPhase::Faulted {
        for message in skipped {
            svc.sink.emit(Event::scenario(&plan.name, EventKind::Note { message }));
        }
    }
    let alerts: Vec<crate::scenario::Alert> = ok.into_iter().cloned().collect();
    let outcomes = crate::alerts::check_phase(&alerts, &ctx, phase).await;
    let mut all = true;
    for o in outcomes {
        all &= o.passed;
        svc.sink.emit(Event::scenario(&plan.name, o.event()));
    }
    all
}

#[cfg(test)]
mod tests {
    use super::{Recovered, Undos, Verdict, image_host, judge};
    use crate::faults::Undo;

    #[test]
    fn verdicts_from_the_stages() {
        use Recovered::{Interrupted, NoPull, Pulls};
        use Verdict::{Error, Failed, Passed};
        // a stage failed before the assertion: an error, whatever followed
        assert_eq!(judge(None, Pulls, true), Error);
        assert_eq!(judge(Some(Passed), Pulls, true), Passed);
        assert_eq!(judge(Some(Passed), NoPull, true), Failed);
        assert_eq!(judge(Some(Passed), Pulls, false), Failed, "a missed alert fails it");
        assert_eq!(judge(Some(Passed), Interrupted, true), Error);
        // a signal after the assertion skips recovery but keeps the verdict
        assert_eq!(judge(Some(Passed), Recovered::Skipped, true), Passed);
        assert_eq!(judge(Some(Failed), Pulls, true), Failed);
        assert_eq!(judge(Some(Failed), NoPull, false), Failed);
    }

    #[test]
    fn undos_restore_latest_first() {
        let mut u = Undos::default();
        for (id, ns) in [(1, "a"), (2, "b"), (3, "c")] {
            u.register(id, Undo::DeleteNamespace { namespace: ns.into() });
        }
        let ids: Vec<u32> = u.in_restore_order().map(|(id, _)| *id).collect();
        assert_eq!(ids, [3, 2, 1]);
    }

    #[test]
    fn image_hosts() {
        assert_eq!(image_host("acr.azurecr.io/probe/hello:v1"), Some("acr.azurecr.io"));
        assert_eq!(image_host("127.0.0.1:5000/x:1"), Some("127.0.0.1:5000"));
        assert_eq!(image_host("localhost/x"), Some("localhost"));
        assert_eq!(image_host("library/nginx:1"), None);
        assert_eq!(image_host("nginx"), None);
    }
}
