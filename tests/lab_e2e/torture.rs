//! Torture: runs of the state-changing built-in scenarios against the lab, each stopped at
//! a random point (SIGKILL, SIGTERM, SIGHUP, SIGINT, SIGTERM then SIGKILL during the
//! restore, a `recover` started while the run is alive, a `recover` against a second
//! cluster), then `recover`; the lab's ARM and Kubernetes state must equal its snapshot
//! from before the run, and no `run` or `recover` may exit 0 while anything is left.
//!
//! `make test` runs a short version (ACR_CHAOS_TORTURE_TRIALS, default 6); `make torture`
//! a long one and writes its figures to ACR_CHAOS_TORTURE_REPORT (reports/torture.json).
//! ACR_CHAOS_TORTURE_SEED replays a sequence. Needs the lab (root, containerd,
//! docker-registry, nft): SKIPPED without, a failure under CI=true.

#![allow(
    clippy::await_holding_lock,
    reason = "the binary's lab tests run one at a time (lab_support::SERIAL); the test owns its runtime"
)]

use crate::lab_support::{self, External, SERIAL, Snapshot, external_lab, root, snapshot};
use crate::require_lab;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The built-in scenarios that change something (every one creates a namespace; most
/// change ARM or a Secret).
const SCENARIOS: &[&str] = &[
    "acr-detach",
    "role-assignment-delete",
    "registry-firewall-deny",
    "registry-public-access-disabled",
    "network-path-cut",
    "pull-secret-wrong",
    "pull-secret-expired",
    "pull-secret-missing",
    "private-registry-no-secret",
    "image-tag-missing",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Blow {
    Kill,
    Term,
    Hup,
    Int,
    /// SIGTERM, then SIGKILL while the restore runs.
    TermThenKill,
    /// `recover` while the run is alive (it must not touch it), then SIGTERM.
    RecoverWhileAlive,
    /// SIGKILL, then `recover` against a second cluster from the same workspace first.
    KillThenRecoverElsewhere,
    /// SIGKILL, then a `recover` that is itself SIGKILLed at a random point.
    KillThenKillRecover,
}

const BLOWS: &[Blow] = &[
    Blow::Kill,
    Blow::Term,
    Blow::Hup,
    Blow::Int,
    Blow::TermThenKill,
    Blow::RecoverWhileAlive,
    Blow::KillThenRecoverElsewhere,
    Blow::KillThenKillRecover,
];

#[derive(Default)]
struct Figures {
    trials: usize,
    by_blow: BTreeMap<String, usize>,
    by_scenario: BTreeMap<String, usize>,
    run_exit_codes: BTreeMap<String, usize>,
    recover_exit_codes: BTreeMap<String, usize>,
    /// Trials where the run ended by itself before the blow.
    finished_before_the_blow: usize,
    faults_left_after_recover: usize,
    /// Why runs that ended by themselves did not pass (first problem line of summary.md).
    run_failures: BTreeMap<String, usize>,
    /// A run or recover that said 0 while the state differed: the worst bug there is.
    exit_0_with_fault_left: usize,
    violations: Vec<String>,
}

fn count(m: &mut BTreeMap<String, usize>, k: impl ToString) {
    *m.entry(k.to_string()).or_default() += 1;
}

fn signal(child: &Child, sig: &str) {
    let _ = Command::new("kill").args([sig, &child.id().to_string()]).status();
}

/// Wait for a child's exit code (`None`: killed by a signal) at most `limit`.
async fn wait_exit(child: &mut Child, limit: Duration) -> Option<i32> {
    let t0 = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code();
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("a run did not exit within {limit:?} after its blow");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn code_name(c: Option<i32>) -> String {
    c.map_or_else(|| "signal".to_string(), |c| c.to_string())
}

struct Trial<'a> {
    a: &'a External,
    b: &'a External,
    before: Snapshot,
    n: usize,
    scenario: &'static str,
    blow: Blow,
    delay: Duration,
}

impl Trial<'_> {
    fn name(&self) -> String {
        format!("trial {} ({} {:?} after {:?})", self.n, self.scenario, self.blow, self.delay)
    }

    async fn run(&self, f: &mut Figures) {
        let scenario = root().join(format!("scenarios/{}.yaml", self.scenario));
        let report_dir = format!("r{}", self.n);
        let mut run = self
            .a
            .child(&["run", scenario.to_str().unwrap(), "--quiet", "--report-dir", &report_dir])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(self.delay).await;
        if run.try_wait().unwrap().is_some() {
            f.finished_before_the_blow += 1;
        }
        let code = self.blow(&mut run, f).await;
        count(&mut f.run_exit_codes, code_name(code));
        if code == Some(1) || code == Some(2) {
            count(&mut f.run_failures, first_problem(&self.a.dir.path().join(&report_dir)));
        }
        // judged before anything else touches the cluster: 0, 1, 2 and 130 all claim the
        // run restored what it changed
        if code.is_some_and(|c| c != 3) && snapshot(self.a).await != self.before {
            f.exit_0_with_fault_left += usize::from(code == Some(0));
            f.violations.push(format!("{}: run exited {code:?} with a fault left", self.name()));
        }
        match self.blow {
            Blow::KillThenRecoverElsewhere => self.recover_elsewhere(f).await,
            Blow::KillThenKillRecover => self.kill_a_recover().await,
            _ => {}
        }
        self.recover_until_clean(f).await;
    }

    async fn blow(&self, run: &mut Child, f: &mut Figures) -> Option<i32> {
        let limit = Duration::from_secs(240);
        match self.blow {
            Blow::Kill | Blow::KillThenRecoverElsewhere | Blow::KillThenKillRecover => {
                let _ = run.kill();
                wait_exit(run, limit).await
            }
            Blow::Term | Blow::Hup | Blow::Int => {
                let sig = match self.blow {
                    Blow::Term => "-TERM",
                    Blow::Hup => "-HUP",
                    _ => "-INT",
                };
                signal(run, sig);
                wait_exit(run, limit).await
            }
            Blow::TermThenKill => {
                signal(run, "-TERM");
                let pause = rand::rng().random_range(0..400);
                tokio::time::sleep(Duration::from_millis(pause)).await;
                let _ = run.kill();
                wait_exit(run, limit).await
            }
            Blow::RecoverWhileAlive => {
                let alive_before = run.try_wait().unwrap().is_none();
                let out = self.a.child(&["recover"]).output().unwrap();
                let alive_after = run.try_wait().unwrap().is_none();
                let code = out.status.code();
                count(&mut f.recover_exit_codes, format!("while-alive:{}", code_name(code)));
                let stdout = String::from_utf8_lossy(&out.stdout);
                // every trial starts clean: an undo replayed now can only be the live run's
                if alive_before && alive_after && stdout.contains("restored:") {
                    f.violations.push(format!(
                        "{}: recover replayed a live run's undos: {stdout}",
                        self.name()
                    ));
                }
                signal(run, "-TERM");
                wait_exit(run, limit).await
            }
        }
    }

    /// A `recover` killed wherever it is after up to 1.5 s (it must be safe to run again).
    async fn kill_a_recover(&self) {
        let mut r =
            self.a.child(&["recover"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let pause = rand::rng().random_range(0..1500);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let _ = r.kill();
        let _ = r.wait();
    }

    /// `recover --target B` from A's workspace: B is clean, A must stay as it is.
    async fn recover_elsewhere(&self, f: &mut Figures) {
        let a_before = snapshot(self.a).await;
        let out =
            self.a.child_in(self.a.dir.path(), &self.b.target, &["recover"]).output().unwrap();
        count(&mut f.recover_exit_codes, format!("other-cluster:{}", code_name(out.status.code())));
        if out.status.code() != Some(0) {
            f.violations.push(format!(
                "{}: recover against the clean cluster B exited {:?}: {}",
                self.name(),
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        if snapshot(self.a).await != a_before {
            f.violations.push(format!("{}: recover against B changed A", self.name()));
        }
    }

    /// `recover` until it says 0; it must never say 0 while the state differs.
    async fn recover_until_clean(&self, f: &mut Figures) {
        for attempt in 0..3 {
            let out = self.a.child(&["recover"]).output().unwrap();
            let code = out.status.code();
            count(&mut f.recover_exit_codes, code_name(code));
            let clean = snapshot(self.a).await == self.before;
            match (code, clean) {
                (Some(0), true) => return,
                (Some(0), false) => {
                    f.exit_0_with_fault_left += 1;
                    f.violations.push(format!(
                        "{}: recover exited 0 with a fault left: {}",
                        self.name(),
                        String::from_utf8_lossy(&out.stdout)
                    ));
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(500 * (attempt + 1))).await,
            }
        }
        if snapshot(self.a).await != self.before {
            f.faults_left_after_recover += 1;
            f.violations.push(format!("{}: state differs after recover", self.name()));
        }
    }
}

/// The first line of a run's summary.md that says what went wrong, with ids masked so
/// that equal reasons count together.
fn first_problem(report_dir: &std::path::Path) -> String {
    let text = lab_support::all_text(report_dir);
    let line = text
        .lines()
        .find(|l| l.contains("error in") || l.contains("Refused") || l.contains("expected "))
        .unwrap_or("no summary line")
        .to_string();
    let masked: String = line
        .split_whitespace()
        .map(|w| if w.chars().filter(char::is_ascii_digit).count() > 3 { "#" } else { w })
        .collect::<Vec<_>>()
        .join(" ");
    masked.chars().take(200).collect()
}

fn figures_json(f: &Figures, seed: u64, elapsed: Duration) -> serde_json::Value {
    json!({
        "seed": seed,
        "trials": f.trials,
        "seconds": elapsed.as_secs_f64(),
        "byBlow": f.by_blow,
        "byScenario": f.by_scenario,
        "runExitCodes": f.run_exit_codes,
        "recoverExitCodes": f.recover_exit_codes,
        "finishedBeforeTheBlow": f.finished_before_the_blow,
        "faultsLeftBehindAfterRecover": f.faults_left_after_recover,
        "runFailures": f.run_failures,
        "exit0WithFaultLeft": f.exit_0_with_fault_left,
        "violations": f.violations,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_runs_never_leave_a_fault_behind_after_recover() {
    require_lab!();
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let trials: usize =
        std::env::var("ACR_CHAOS_TORTURE_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(6);
    let seed: u64 = std::env::var("ACR_CHAOS_TORTURE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    eprintln!("torture: {trials} trials, ACR_CHAOS_TORTURE_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let a = external_lab(None).await;
    let b = external_lab(None).await;
    let t0 = Instant::now();
    let mut f = Figures::default();
    let offset = rng.random_range(0..BLOWS.len());
    for n in 0..trials {
        let trial = Trial {
            a: &a,
            b: &b,
            before: snapshot(&a).await,
            n,
            // every scenario and every blow comes up, in a seeded order
            scenario: SCENARIOS[(n + rng.random_range(0..SCENARIOS.len())) % SCENARIOS.len()],
            blow: BLOWS[(n + offset) % BLOWS.len()],
            delay: Duration::from_millis(rng.random_range(0..3000)),
        };
        eprintln!("torture: {}", trial.name());
        count(&mut f.by_blow, format!("{:?}", trial.blow));
        count(&mut f.by_scenario, trial.scenario);
        trial.run(&mut f).await;
        f.trials += 1;
        if snapshot(&a).await != trial.before {
            // later trials need a clean start to mean anything
            break;
        }
    }
    let report = figures_json(&f, seed, t0.elapsed());
    eprintln!("{}", serde_json::to_string_pretty(&report).unwrap());
    if let Ok(path) = std::env::var("ACR_CHAOS_TORTURE_REPORT") {
        std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    }
    assert!(f.violations.is_empty(), "{:#?}", f.violations);
}
