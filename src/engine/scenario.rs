//! One scenario, stage by stage: preflight (baseline probe pulls), journal, inject,
//! observe (re-probe until the fault shows or the deadline passes), assert, restore
//! (always), recovery probe, clean up. Emits [`crate::events`] in that order.

use super::journal::{EntryState, Journal};
use super::probe::{Goal, ProbeEnd, ProbeListener, ProbeRequest, Prober};
use crate::classify::{Cause, join};
use crate::clients::arm::ArmClient;
use crate::clients::kube::Kube;
use crate::events::{
    Event, EventKind, ExpectedSummary, Observation, Sink, Stage, UndoOutcome, Verdict,
};
use crate::faults::{self, Ctx, Env, Fault, Phase, ProbePlan, Undo};
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

/// Run one scenario through every stage.
#[expect(
    clippy::too_many_lines,
    reason = "being split into one function per stage (issue #12 item 1)"
)]
pub async fn run(
    svc: &Services,
    plan: &ScenarioPlan,
    fault: &dyn Fault,
    base_env: &Env,
) -> Outcome {
    let name = plan.name.as_str();
    let emit = |k: EventKind| svc.sink.emit(Event::scenario(name, k));
    let mut env = base_env.clone();
    env.scenario = name.to_string();
    env.run_namespace = scenario_namespace(&svc.namespace_prefix, &svc.run_id, name);
    let ctx = Ctx { arm: &svc.arm, kube: &svc.kube, env: &env };
    emit(EventKind::ScenarioStarted {
        fault: fault.kind().into(),
        description: plan.description.clone(),
        tags: plan.tags.clone(),
        changes: fault.describe(&env),
    });
    let mut listener = Listener { sink: svc.sink.clone(), scenario: name.to_string() };
    let mut out = Outcome { verdict: Verdict::Error, restore_failed: false, interrupted: false };
    let probe_req = |phase: Phase, goal: Goal, deadline: Duration, tag: &str| ProbeRequest {
        namespace: env.run_namespace.clone(),
        name: format!("probe-{tag}"),
        plan: fault.probe(&env, &plan.probe, phase),
        node_selector: plan.node_selector.clone(),
        run_id: svc.run_id.clone(),
        scenario: name.to_string(),
        goal,
        deadline,
    };

    // ---- preflight -----------------------------------------------------------------
    let mut secrets = fault.probe(&env, &plan.probe, Phase::Baseline).pull_secrets;
    for s in fault.probe(&env, &plan.probe, Phase::Recovery).pull_secrets {
        if !secrets.contains(&s) {
            secrets.push(s);
        }
    }
    let ns_entry = match svc
        .journal
        .record(
            name,
            fault.kind().as_str(),
            Undo::DeleteNamespace { namespace: env.run_namespace.clone() },
        )
        .await
    {
        Ok(id) => id,
        Err(e) => {
            let msg = format!("journal: {e}");
            return finish_error(svc, name, &env, Stage::Preflight, msg, None, out).await;
        }
    };
    let ns_entry = Some(ns_entry);
    if let Err(e) = svc.prober.prepare(&env.run_namespace, &svc.run_id, &secrets).await {
        let e = e.to_string();
        return finish_error(svc, name, &env, Stage::Preflight, e, ns_entry, out).await;
    }
    let baseline = svc
        .prober
        .probe(
            probe_req(Phase::Baseline, Goal::Pulls, svc.preflight_deadline, "baseline"),
            svc.cancel.clone(),
            &mut listener,
        )
        .await;
    match baseline {
        Ok(r) if r.end == ProbeEnd::Met => {
            emit(EventKind::PreflightPassed { baseline_pull: r.elapsed })
        }
        Ok(r) if r.end == ProbeEnd::Interrupted => {
            out.interrupted = true;
            return finish_error(
                svc,
                name,
                &env,
                Stage::Preflight,
                "interrupted".into(),
                ns_entry,
                out,
            )
            .await;
        }
        Ok(r) => {
            let msg = format!(
                "baseline probe did not pull within {:?}: {} {}",
                svc.preflight_deadline,
                r.observation.waiting_reason.as_deref().unwrap_or("pending"),
                r.observation.message.as_deref().unwrap_or("")
            );
            return finish_error(svc, name, &env, Stage::Preflight, msg, ns_entry, out).await;
        }
        Err(e) => {
            let e = e.to_string();
            return finish_error(svc, name, &env, Stage::Preflight, e, ns_entry, out).await;
        }
    }
    if fault.masked_by_node_credentials() {
        let faulted_image = fault.probe(&env, &plan.probe, Phase::Faulted).image;
        match node_credentials_mask(svc, plan, &env, &faulted_image, &mut listener).await {
            Ok(None) => {}
            Ok(Some(message)) => {
                emit(EventKind::Note { message });
                cleanup(svc, name, &env, ns_entry).await;
                out.verdict = Verdict::Skipped;
                emit(EventKind::ScenarioFinished { verdict: Verdict::Skipped });
                return out;
            }
            Err((interrupted, e)) => {
                out.interrupted = interrupted;
                return finish_error(svc, name, &env, Stage::Preflight, e, ns_entry, out).await;
            }
        }
    }

    use crate::alerts::AlertPhase;
    let mut alerts_ok = check_alerts(svc, plan, &env, AlertPhase::Baseline).await;

    // ---- journal + inject ----------------------------------------------------------
    let mut journaled: Vec<(u32, Undo)> = Vec::new();
    let mut stage_error: Option<(Stage, String)> = None;
    match fault.snapshot(&ctx).await {
        Err(e) => stage_error = Some((Stage::Inject, format!("snapshot: {e}"))),
        Ok(snap) => {
            for u in &snap {
                match svc.journal.record(name, fault.kind().as_str(), u.clone()).await {
                    Ok(id) => {
                        emit(EventKind::Journaled { change: u.describe() });
                        journaled.push((id, u.clone()));
                    }
                    Err(e) => {
                        stage_error = Some((Stage::Inject, format!("journal: {e}")));
                        break;
                    }
                }
            }
            if stage_error.is_none() && *svc.cancel.borrow() {
                out.interrupted = true;
                stage_error = Some((Stage::Inject, "interrupted before the injection".into()));
            }
            if stage_error.is_none()
                && let Some(lost) = lease_lost(svc).await
            {
                out.interrupted = true;
                stage_error = Some((Stage::Inject, lost));
            }
            if stage_error.is_none() {
                match fault.inject(&ctx, &snap).await {
                    Ok(lines) => {
                        for l in lines {
                            emit(EventKind::FaultInjected { description: l });
                        }
                    }
                    Err(e) => stage_error = Some((Stage::Inject, e.to_string())),
                }
            }
        }
    }

    // ---- observe + assert ----------------------------------------------------------
    let mut verdict = Verdict::Error;
    if stage_error.is_none() {
        let injected_at = Instant::now();
        let r = svc
            .prober
            .probe(
                probe_req(
                    Phase::Faulted,
                    Goal::Fails { causes: plan.expect.causes.clone() },
                    plan.expect.deadline,
                    "fault",
                ),
                svc.cancel.clone(),
                &mut listener,
            )
            .await;
        match r {
            Err(e) => stage_error = Some((Stage::Observe, e.to_string())),
            Ok(r) if r.end == ProbeEnd::Interrupted => {
                out.interrupted = true;
                stage_error = Some((Stage::Observe, "interrupted".into()));
            }
            Ok(r) => {
                if r.end == ProbeEnd::Met {
                    emit(EventKind::FaultEffective {
                        time_to_effect: injected_at.elapsed(),
                        observation: r.observation.clone(),
                    });
                }
                let mut failures = plan.expect.check(&r.observation);
                if r.end == ProbeEnd::Deadline {
                    failures.insert(
                        0,
                        format!(
                            "the fault did not show within the deadline {:?}",
                            plan.expect.deadline
                        ),
                    );
                }
                let passed = failures.is_empty();
                emit(EventKind::Asserted {
                    passed,
                    expected: plan.expect.summary(),
                    observed: r.observation,
                    failures,
                });
                verdict = if passed { Verdict::Passed } else { Verdict::Failed };
                if r.end == ProbeEnd::Met {
                    alerts_ok &= check_alerts(svc, plan, &env, AlertPhase::Faulted).await;
                }
            }
        }
    }
    if let Some((stage, e)) = &stage_error {
        emit(EventKind::ScenarioError { stage: *stage, error: e.clone() });
    }

    // ---- restore (always) ----------------------------------------------------------
    let undos = restore(svc, &ctx, &journaled).await;
    out.restore_failed = undos.iter().any(|u| !u.ok);
    emit(EventKind::RestoreFinished { undos });

    // ---- recovery ------------------------------------------------------------------
    if !out.interrupted && !*svc.cancel.borrow() {
        let r = svc
            .prober
            .probe(
                probe_req(Phase::Recovery, Goal::Pulls, plan.recovery_deadline, "recovery"),
                svc.cancel.clone(),
                &mut listener,
            )
            .await;
        let (ok, ttr, error) = match r {
            Ok(r) if r.end == ProbeEnd::Met => (true, Some(r.elapsed), None),
            Ok(r) if r.end == ProbeEnd::Interrupted => {
                out.interrupted = true;
                (false, None, Some("interrupted".to_string()))
            }
            Ok(r) => (
                false,
                None,
                Some(format!(
                    "a fresh probe did not pull within {:?}: {} {}",
                    plan.recovery_deadline,
                    r.observation.waiting_reason.as_deref().unwrap_or("pending"),
                    r.observation.message.as_deref().unwrap_or("")
                )),
            ),
            Err(e) => (false, None, Some(e.to_string())),
        };
        emit(EventKind::RecoveryFinished { ok, time_to_recover: ttr, error });
        if !ok && verdict == Verdict::Passed {
            verdict = Verdict::Failed;
        }
        if ok {
            alerts_ok &= check_alerts(svc, plan, &env, AlertPhase::Restored).await;
        }
    }
    if !alerts_ok && verdict == Verdict::Passed {
        verdict = Verdict::Failed;
    }
    if out.interrupted {
        verdict = Verdict::Error;
    }

    // ---- cleanup -------------------------------------------------------------------
    cleanup(svc, name, &env, ns_entry).await;
    if stage_error.is_some() && verdict != Verdict::Failed {
        verdict = Verdict::Error;
    }
    out.verdict = verdict;
    emit(EventKind::ScenarioFinished { verdict });
    out
}

/// Why the run may no longer change the cluster, checked right before each injection: the
/// renewer notices a lost lease only at its next round, and another process that took the
/// lease over may be replaying our journal right now.
async fn lease_lost(svc: &Services) -> Option<String> {
    let guard = svc.lease.as_ref()?;
    match super::lease::held_by(&guard.kube, &guard.namespace, &guard.holder).await {
        Ok(true) => None,
        Ok(false) => Some("the run lease was taken by another process: not injecting".into()),
        Err(e) => Some(format!("cannot confirm the run lease before injecting: {e}")),
    }
}

/// Name of the deliberately bogus pull secret of the masking check.
pub const BOGUS_PULL_SECRET: &str = "acr-chaos-bogus-pull-secret";

/// The registry host of an image reference (`None` for a Docker Hub short name).
pub fn image_host(image: &str) -> Option<&str> {
    let (first, _) = image.split_once('/')?;
    (first.contains('.') || first.contains(':') || first == "localhost").then_some(first)
}

/// Whether node credentials mask a pull-secret fault on this target: probe `image` with
/// only a deliberately bogus pull secret for its registry. `Ok(Some(note))` when the
/// image still pulls (the scenario cannot show its fault here), `Ok(None)` when the pull
/// fails as a pull-secret fault needs, `Err((interrupted, error))` otherwise.
async fn node_credentials_mask(
    svc: &Services,
    plan: &ScenarioPlan,
    env: &Env,
    image: &str,
    listener: &mut Listener,
) -> Result<Option<String>, (bool, String)> {
    let Some(host) = image_host(image) else { return Ok(None) };
    let secret = crate::clients::kube::docker_config_secret(
        BOGUS_PULL_SECRET,
        host,
        "acr-chaos-bogus",
        "acr-chaos-deliberately-wrong-password",
        &svc.run_id,
    );
    svc.kube.put_secret(&env.run_namespace, &secret).await.map_err(|e| {
        (false, format!("create Secret {}/{BOGUS_PULL_SECRET}: {e}", env.run_namespace))
    })?;
    let req = ProbeRequest {
        namespace: env.run_namespace.clone(),
        name: "probe-masking".into(),
        plan: ProbePlan { image: image.to_string(), pull_secrets: vec![BOGUS_PULL_SECRET.into()] },
        node_selector: plan.node_selector.clone(),
        run_id: svc.run_id.clone(),
        scenario: plan.name.clone(),
        goal: Goal::Settles,
        deadline: svc.preflight_deadline,
    };
    let r = svc
        .prober
        .probe(req, svc.cancel.clone(), listener)
        .await
        .map_err(|e| (false, e.to_string()))?;
    match r.end {
        ProbeEnd::Interrupted => Err((true, "interrupted".into())),
        ProbeEnd::Met if r.observation.waiting_reason.is_none() => Ok(Some(format!(
            "the cluster pulls {host} with its node identity, so a pull-secret fault cannot break pulls there \
             (a probe of {image} with a bogus pull secret still pulled); point the scenario's probe image \
             (a target probeImages alias) at a registry the cluster is not attached to"
        ))),
        // it failed (or never settled): the fault's own probe decides
        _ => Ok(None),
    }
}

/// Apply every journaled undo of a scenario in reverse order; a failing undo does not
/// stop the others. Each applied undo is checked, and retried through transient failures
/// until the restore deadline. Interruptions do not cut a restore short.
pub async fn restore(svc: &Services, ctx: &Ctx<'_>, journaled: &[(u32, Undo)]) -> Vec<UndoOutcome> {
    let mut outcomes = Vec::new();
    let until = Instant::now() + svc.restore_deadline;
    for (id, u) in journaled.iter().rev() {
        let retrying = |e: &faults::FaultError, wait: Duration| {
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
async fn check_alerts(
    svc: &Services,
    plan: &ScenarioPlan,
    env: &Env,
    phase: crate::alerts::AlertPhase,
) -> bool {
    let Some(ctx) = &svc.alerts else { return true };
    if plan.alerts.is_empty() {
        return true;
    }
    let ctx = ctx.for_scenario(&plan.name, &env.run_namespace);
    let (ok, skipped) = crate::alerts::connect::checkable(&ctx, &plan.alerts);
    if phase == crate::alerts::AlertPhase::Faulted {
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

/// Delete the probe namespace and mark its journal entry.
async fn cleanup(svc: &Services, name: &str, env: &Env, ns_entry: Option<u32>) {
    let r = svc.prober.cleanup(&env.run_namespace).await;
    if let Some(id) = ns_entry {
        let (state, err) = match &r {
            Ok(()) => (EntryState::Done, None),
            Err(e) => (EntryState::Failed, Some(e.to_string())),
        };
        if let Err(e) = svc.journal.mark(id, state, err).await {
            tracing::warn!(error = %e, "journal update failed");
        }
    }
    if let Err(e) = r {
        svc.sink.emit(Event::scenario(
            name,
            EventKind::ScenarioError { stage: Stage::Cleanup, error: e.to_string() },
        ));
    }
}

async fn finish_error(
    svc: &Services,
    name: &str,
    env: &Env,
    stage: Stage,
    error: String,
    ns_entry: Option<u32>,
    mut out: Outcome,
) -> Outcome {
    svc.sink.emit(Event::scenario(name, EventKind::ScenarioError { stage, error }));
    cleanup(svc, name, env, ns_entry).await;
    out.verdict = Verdict::Error;
    svc.sink.emit(Event::scenario(name, EventKind::ScenarioFinished { verdict: Verdict::Error }));
    out
}

#[cfg(test)]
mod tests {
    use super::image_host;

    #[test]
    fn image_hosts() {
        assert_eq!(image_host("acr.azurecr.io/probe/hello:v1"), Some("acr.azurecr.io"));
        assert_eq!(image_host("127.0.0.1:5000/x:1"), Some("127.0.0.1:5000"));
        assert_eq!(image_host("localhost/x"), Some("localhost"));
        assert_eq!(image_host("library/nginx:1"), None);
        assert_eq!(image_host("nginx"), None);
    }
}
