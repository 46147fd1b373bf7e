//! Stage order of one scenario with a fake fault and a fake prober (no cluster): events
//! come in order, the journal is written before the injection, restore always runs
//! (after a failed expectation, an injection error, an interrupt), and one failing undo
//! does not stop the others.

use acr_chaos::classify::Cause;
use acr_chaos::clients::SecretString;
use acr_chaos::clients::arm::ArmClient;
use acr_chaos::clients::credential::StaticToken;
use acr_chaos::clients::kube::Kube;
use acr_chaos::clients::retry::RetryPolicy;
use acr_chaos::engine::journal::{self, EntryState, Journal, TargetIdentity};
use acr_chaos::engine::probe::{
    Goal, ProbeEnd, ProbeError, ProbeListener, ProbeRequest, ProbeResult, Prober,
};
use acr_chaos::engine::scenario::{self, Expectation, ScenarioPlan, Services, SharedSink};
use acr_chaos::events::{Event, EventKind, Observation, Sink, Verdict};
use acr_chaos::faults::{Ctx, Env, Fault, FaultError, FaultKind, Lock, Phase, ProbePlan, Undo};
use async_trait::async_trait;
use axum::http::StatusCode;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ---- a tiny ARM server: DELETE a rule ok (or 500 for names containing "broken"),
// ---- GET a rule 404 (so the restore check holds)
async fn arm_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let l2 = log.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let log = l2.clone();
        async move {
            let line = format!("{} {}", req.method(), req.uri().path());
            log.lock().unwrap().push(line.clone());
            if line.contains("broken") && req.method() == "DELETE" {
                return StatusCode::BAD_REQUEST;
            }
            match req.method().as_str() {
                "DELETE" => StatusCode::OK,
                _ => StatusCode::NOT_FOUND,
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, log)
}

#[derive(Debug)]
struct FakeFault {
    undos: Vec<Undo>,
    fail_inject: bool,
    journal_file: PathBuf,
    /// entries pending in the journal file when inject ran
    seen_pending: Arc<Mutex<Option<usize>>>,
    /// cancel the run while snapshotting (between the journal and the injection)
    cancel_on_snapshot: Option<tokio::sync::watch::Sender<bool>>,
    injected: Arc<Mutex<bool>>,
}

#[async_trait]
impl Fault for FakeFault {
    fn kind(&self) -> FaultKind {
        FaultKind::NetworkPathCut
    }
    fn locks(&self, _env: &Env) -> Vec<Lock> {
        vec![]
    }
    fn arm_ids(&self, _env: &Env) -> Vec<String> {
        vec![]
    }
    fn required_permissions(&self, _env: &Env) -> Vec<acr_chaos::faults::permissions::Need> {
        vec![]
    }
    fn describe(&self, _env: &Env) -> Vec<String> {
        vec!["PUT rule".into()]
    }
    fn probe(&self, _env: &Env, base: &ProbePlan, phase: Phase) -> ProbePlan {
        let mut p = base.clone();
        if phase == Phase::Faulted {
            p.image = format!("{}-faulted", p.image);
        }
        p
    }
    async fn snapshot(&self, _ctx: &Ctx<'_>) -> Result<Vec<Undo>, FaultError> {
        if let Some(tx) = &self.cancel_on_snapshot {
            let _ = tx.send(true);
        }
        Ok(self.undos.clone())
    }
    async fn inject(&self, _ctx: &Ctx<'_>, _s: &[Undo]) -> Result<Vec<String>, FaultError> {
        let doc = journal::read_file(&self.journal_file).ok();
        *self.seen_pending.lock().unwrap() =
            doc.map(|d| d.entries.iter().filter(|e| e.state == EntryState::Pending).count());
        *self.injected.lock().unwrap() = true;
        if self.fail_inject {
            return Err(FaultError::Precondition {
                fault: FaultKind::NetworkPathCut,
                message: "boom".into(),
            });
        }
        Ok(vec!["PUT rule done".into()])
    }
}

#[derive(Debug)]
struct FakeProber {
    faulted: Observation,
    calls: Mutex<Vec<(String, Goal)>>,
    interrupt_on_fault: Option<tokio::sync::watch::Sender<bool>>,
    /// the faulted probe fails to start (the API refuses the pod)
    fail_observe: bool,
    /// namespaces cleaned up
    cleaned: Mutex<Vec<String>>,
}

#[async_trait]
impl Prober for FakeProber {
    async fn prepare(&self, _ns: &str, _run: &str, _s: &[String]) -> Result<(), ProbeError> {
        Ok(())
    }
    async fn probe(
        &self,
        req: ProbeRequest,
        cancel: tokio::sync::watch::Receiver<bool>,
        listener: &mut dyn ProbeListener,
    ) -> Result<ProbeResult, ProbeError> {
        self.calls.lock().unwrap().push((req.plan.image.clone(), req.goal.clone()));
        listener.created(&req.name, &req.namespace, &req.plan.image);
        let faulted = matches!(req.goal, Goal::Fails { .. });
        if faulted && self.fail_observe {
            return Err(ProbeError::Other("create probe pod: connection refused".into()));
        }
        if faulted && let Some(tx) = &self.interrupt_on_fault {
            let _ = tx.send(true);
        }
        if *cancel.borrow() {
            return Ok(ProbeResult {
                end: ProbeEnd::Interrupted,
                observation: Observation::default(),
                elapsed: Duration::ZERO,
                attempts: 1,
            });
        }
        let obs = if faulted {
            self.faulted.clone()
        } else {
            Observation { pod: req.name.clone(), ..Default::default() }
        };
        listener.observed(&obs);
        Ok(ProbeResult {
            end: ProbeEnd::Met,
            observation: obs,
            elapsed: Duration::from_millis(5),
            attempts: 1,
        })
    }
    async fn cleanup(&self, ns: &str) -> Result<(), ProbeError> {
        self.cleaned.lock().unwrap().push(ns.to_string());
        Ok(())
    }
}

#[derive(Debug)]
struct Shared(Arc<Mutex<Vec<Event>>>);
impl Sink for Shared {
    fn event(&mut self, e: &Event) {
        self.0.lock().unwrap().push(e.clone());
    }
}

fn unauthorized() -> Observation {
    Observation {
        pod: "probe-fault-1".into(),
        namespace: "ns".into(),
        image: "r.io/x:1".into(),
        waiting_reason: Some("ErrImagePull".into()),
        message: Some("Failed to pull image \"r.io/x:1\": failed to fetch anonymous token: unexpected status: 401 Unauthorized".into()),
        causes: vec![Cause::UnauthorizedAnonymous],
        event_reasons: vec!["Pulling".into(), "Failed".into()],
        running: false,
    }
}

struct Setup {
    events: Arc<Mutex<Vec<Event>>>,
    out: scenario::Outcome,
    journal_file: PathBuf,
    seen_pending: Option<usize>,
    prober_calls: Vec<(String, Goal)>,
    arm_log: Vec<String>,
    cleaned: Vec<String>,
    injected: bool,
}

#[derive(Default)]
struct Case {
    undos: Vec<Undo>,
    fail_inject: bool,
    expect_causes: &'static [&'static str],
    interrupt: Interrupt,
    fail_observe: bool,
}

#[derive(Default, PartialEq)]
enum Interrupt {
    #[default]
    Never,
    /// while the faulted probe runs
    OnFault,
    /// after the journal, before the injection
    OnSnapshot,
}

async fn run_one(
    undos: Vec<Undo>,
    fail_inject: bool,
    expect_causes: &'static [&'static str],
    interrupt: bool,
) -> Setup {
    let interrupt = if interrupt { Interrupt::OnFault } else { Interrupt::Never };
    run_case(Case { undos, fail_inject, expect_causes, interrupt, ..Case::default() }).await
}

async fn run_case(case: Case) -> Setup {
    let Case { undos, fail_inject, expect_causes, interrupt, fail_observe } = case;
    let dir = tempfile::tempdir().unwrap();
    let files = Journal::standard_files(&dir.path().join("reports"), dir.path(), "run1");
    let journal_file = files[0].clone();
    let (base, arm_log) = arm_server().await;
    let arm = ArmClient::new(
        reqwest::Client::new(),
        &base,
        Arc::new(StaticToken(SecretString::new("t"))),
    )
    .unwrap()
    .with_retry(RetryPolicy { max_attempts: 1, ..RetryPolicy::fast() });
    let (svc_mock, _handle) = tower_test::mock::pair::<
        http::Request<kube::client::Body>,
        http::Response<kube::client::Body>,
    >();
    let kube = Kube::from_client(kube::Client::new(svc_mock, "default"));
    let (tx, rx) = tokio::sync::watch::channel(false);
    let prober = Arc::new(FakeProber {
        faulted: unauthorized(),
        calls: Mutex::default(),
        interrupt_on_fault: (interrupt == Interrupt::OnFault).then(|| tx.clone()),
        fail_observe,
        cleaned: Mutex::default(),
    });
    let events: Arc<Mutex<Vec<Event>>> = Arc::default();
    let svc = Services {
        arm,
        kube,
        prober: prober.clone(),
        journal: Arc::new(Journal::new("run1", TargetIdentity::default(), files, None)),
        sink: SharedSink::new(Box::new(Shared(events.clone()))),
        run_id: "run1".into(),
        namespace_prefix: "acr-chaos".into(),
        preflight_deadline: Duration::from_secs(5),
        restore_deadline: Duration::from_secs(5),
        cancel: rx,
        alerts: None,
        lease: None,
    };
    let seen = Arc::new(Mutex::new(None));
    let fault = FakeFault {
        undos,
        fail_inject,
        journal_file: journal_file.clone(),
        seen_pending: seen.clone(),
        cancel_on_snapshot: (interrupt == Interrupt::OnSnapshot).then_some(tx),
        injected: Arc::default(),
    };
    let plan = ScenarioPlan {
        name: "s1".into(),
        description: "d".into(),
        tags: vec![],
        probe: ProbePlan { image: "r.io/x:1".into(), pull_secrets: vec![] },
        node_selector: Default::default(),
        expect: Expectation {
            waiting_reasons: vec!["ErrImagePull".into(), "ImagePullBackOff".into()],
            causes: expect_causes.iter().map(|s| s.parse().unwrap()).collect(),
            message_regex: Some(regex::Regex::new("401").unwrap()),
            deadline: Duration::from_secs(5),
        },
        recovery_deadline: Duration::from_secs(5),
        alerts: vec![],
    };
    let out = scenario::run(&svc, &plan, &fault, &Env::default()).await;
    let seen_pending = *seen.lock().unwrap();
    let prober_calls = prober.calls.lock().unwrap().clone();
    let arm_log = arm_log.lock().unwrap().clone();
    let cleaned = prober.cleaned.lock().unwrap().clone();
    let injected = *fault.injected.lock().unwrap();
    std::mem::forget(dir);
    Setup { events, out, journal_file, seen_pending, prober_calls, arm_log, cleaned, injected }
}

fn kinds(events: &[Event]) -> Vec<&'static str> {
    events
        .iter()
        .map(|e| match &e.kind {
            EventKind::ScenarioStarted { .. } => "started",
            EventKind::PreflightPassed { .. } => "preflight",
            EventKind::Journaled { .. } => "journaled",
            EventKind::FaultInjected { .. } => "injected",
            EventKind::ProbeCreated { .. } => "probe",
            EventKind::ProbeObserved { .. } => "observed",
            EventKind::FaultEffective { .. } => "effective",
            EventKind::Asserted { .. } => "asserted",
            EventKind::RestoreFinished { .. } => "restored",
            EventKind::RecoveryFinished { .. } => "recovered",
            EventKind::ScenarioError { .. } => "error",
            EventKind::ScenarioFinished { .. } => "finished",
            _ => "other",
        })
        .filter(|k| *k != "probe" && *k != "observed")
        .collect()
}

fn rule(name: &str) -> Undo {
    Undo::DeleteSecurityRule {
        rule_id: format!(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n/securityRules/{name}"
        ),
    }
}

#[tokio::test]
async fn passing_scenario_runs_every_stage_in_order() {
    let s = run_one(vec![rule("r1")], false, &["unauthorized-anonymous"], false).await;
    let ev = s.events.lock().unwrap().clone();
    assert_eq!(
        kinds(&ev),
        [
            "started",
            "preflight",
            "journaled",
            "injected",
            "effective",
            "asserted",
            "restored",
            "recovered",
            "finished"
        ]
    );
    assert_eq!(s.out.verdict, Verdict::Passed);
    assert!(!s.out.restore_failed);
    assert_eq!(
        s.seen_pending,
        Some(2),
        "the probe namespace and the undo were journaled (pending) before inject ran"
    );
    let doc = journal::read_file(&s.journal_file).unwrap();
    assert_eq!(doc.entries[0].state, EntryState::Done);
    // the faulted probe used the fault's probe, baseline and recovery the scenario's
    let images: Vec<_> = s.prober_calls.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(images, ["r.io/x:1", "r.io/x:1-faulted", "r.io/x:1"]);
    assert!(s.arm_log.iter().any(|l| l.starts_with("DELETE ") && l.ends_with("/securityRules/r1")));
}

#[tokio::test]
async fn wrong_expectation_fails_readably_and_still_restores() {
    let s = run_one(vec![rule("r1")], false, &["not-found"], false).await;
    let ev = s.events.lock().unwrap().clone();
    assert_eq!(s.out.verdict, Verdict::Failed);
    let failures = ev
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Asserted { passed: false, failures, .. } => Some(failures.clone()),
            _ => None,
        })
        .expect("a failed assertion");
    assert!(
        failures.iter().any(|f| f.contains("expected [not-found]")
            && f.contains("observed [unauthorized-anonymous]")
            && f.contains("401 Unauthorized")),
        "{failures:?}"
    );
    assert!(kinds(&ev).contains(&"restored"));
}

#[tokio::test]
async fn failing_undo_does_not_stop_the_others() {
    let s = run_one(
        vec![rule("r1"), rule("broken"), rule("r3")],
        false,
        &["unauthorized-anonymous"],
        false,
    )
    .await;
    assert!(s.out.restore_failed);
    let ev = s.events.lock().unwrap().clone();
    // no recovery probe after a failed restore (it would wait out its deadline): recovery
    // is reported failed, with the reason
    let recovery = ev.iter().find_map(|e| match &e.kind {
        EventKind::RecoveryFinished { ok, error, .. } => Some((*ok, error.clone())),
        _ => None,
    });
    assert!(
        matches!(&recovery, Some((false, Some(e))) if e.contains("a restore failed")),
        "{recovery:?}"
    );
    let undos = ev
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::RestoreFinished { undos } => Some(undos.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(undos.len(), 3);
    assert_eq!(undos.iter().filter(|u| !u.ok).count(), 1);
    assert!(undos[0].description.ends_with("/r3"), "reverse order: {undos:?}");
    let doc = journal::read_file(&s.journal_file).unwrap();
    let states: Vec<_> = doc.entries.iter().map(|e| e.state).collect();
    // entry 1 is the probe namespace (deleted at cleanup)
    assert!(matches!(doc.entries[0].undo, Undo::DeleteNamespace { .. }));
    assert_eq!(states, [EntryState::Done, EntryState::Done, EntryState::Failed, EntryState::Done]);
}

#[tokio::test]
async fn injection_error_restores_and_reports_an_error() {
    let s = run_one(vec![rule("r1")], true, &["unauthorized-anonymous"], false).await;
    let ev = s.events.lock().unwrap().clone();
    assert_eq!(s.out.verdict, Verdict::Error);
    let k = kinds(&ev);
    assert!(k.contains(&"error") && k.contains(&"restored"), "{k:?}");
    assert!(!k.contains(&"asserted"));
    assert_eq!(journal::read_file(&s.journal_file).unwrap().entries[0].state, EntryState::Done);
}

#[tokio::test]
async fn interrupt_restores_and_skips_recovery() {
    let s = run_one(vec![rule("r1")], false, &["unauthorized-anonymous"], true).await;
    let ev = s.events.lock().unwrap().clone();
    assert!(s.out.interrupted);
    let k = kinds(&ev);
    assert!(k.contains(&"restored"), "{k:?}");
    assert!(!k.contains(&"recovered"), "{k:?}");
    assert_eq!(journal::read_file(&s.journal_file).unwrap().entries[0].state, EntryState::Done);
}

fn errors(events: &[Event]) -> Vec<(acr_chaos::events::Stage, String)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ScenarioError { stage, error } => Some((*stage, error.clone())),
            _ => None,
        })
        .collect()
}

/// The observe stage breaks (the API refuses the probe pod): every registered undo is
/// still applied, latest first, the namespace is cleaned up, and the scenario is an error
/// of the observe stage, not an interruption.
#[tokio::test]
async fn broken_observe_restores_in_reverse_and_cleans_up() {
    let s = run_case(Case {
        undos: vec![rule("r1"), rule("r2")],
        expect_causes: &["unauthorized-anonymous"],
        fail_observe: true,
        ..Case::default()
    })
    .await;
    let ev = s.events.lock().unwrap().clone();
    assert_eq!(s.out.verdict, Verdict::Error);
    assert!(!s.out.interrupted && !s.out.restore_failed, "{:?}", s.out);
    assert_eq!(
        kinds(&ev),
        [
            "started",
            "preflight",
            "journaled",
            "journaled",
            "injected",
            "error",
            "restored",
            "recovered",
            "finished"
        ]
    );
    let errs = errors(&ev);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, acr_chaos::events::Stage::Observe);
    assert!(errs[0].1.contains("connection refused"), "{errs:?}");
    let deletes: Vec<_> = s.arm_log.iter().filter(|l| l.starts_with("DELETE ")).collect();
    assert_eq!(deletes.len(), 2, "{:?}", s.arm_log);
    assert!(
        deletes[0].ends_with("/r2") && deletes[1].ends_with("/r1"),
        "reverse order: {deletes:?}"
    );
    assert_eq!(s.cleaned.len(), 1);
    let doc = journal::read_file(&s.journal_file).unwrap();
    assert!(doc.entries.iter().all(|e| e.state == EntryState::Done), "{:?}", doc.entries);
}

/// A signal between the journal and the injection: nothing is injected, the journaled
/// undos are still applied (they must hold when nothing changed), and the scenario is
/// interrupted, not passed.
#[tokio::test]
async fn cancel_before_injection_never_injects() {
    let s = run_case(Case {
        undos: vec![rule("r1")],
        expect_causes: &["unauthorized-anonymous"],
        interrupt: Interrupt::OnSnapshot,
        ..Case::default()
    })
    .await;
    let ev = s.events.lock().unwrap().clone();
    assert!(!s.injected, "injected after the run was cancelled");
    assert!(s.out.interrupted);
    assert_eq!(s.out.verdict, Verdict::Error);
    assert_eq!(kinds(&ev), ["started", "preflight", "journaled", "error", "restored", "finished"]);
    assert_eq!(errors(&ev)[0].1, "interrupted before the injection");
    assert_eq!(s.cleaned.len(), 1);
    let doc = journal::read_file(&s.journal_file).unwrap();
    assert!(doc.entries.iter().all(|e| e.state == EntryState::Done), "{:?}", doc.entries);
}
