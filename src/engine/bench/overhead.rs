//! Fixed overhead of one run against a target that is already up (`acr-chaos-bench --only
//! overhead`), and the cost of `acr-chaos validate` (`--only validate`).
//!
//! The lab is started once with the product's own `acr-chaos lab up`; then a
//! namespace-local scenario is run again and again as a separate `acr-chaos run --target`
//! process, as a user (or a CI job) runs it. Each run's wall time is split with the run's
//! own typed event stream (`events.jsonl`), not with extra instrumentation:
//!
//! - start-up: spawn -> `run-started` (exec, argument parsing, scenario and target load
//!   and validation, reporters);
//! - connect: `run-started` -> the "connected to …" note (plan and guard rails, client
//!   configuration, first TLS handshake, first API answer);
//! - engine work: the run's preflight (`connected` -> first `scenario-started`: RBAC
//!   preflight, identity, ARM facts, lease, journal replay), each scenario stage minus its
//!   kubelet wait, and the run's finish (last `scenario-finished` -> process exit: journal,
//!   lease, reports);
//! - kubelet waits: in each stage, first `probe-created` -> last `probe-observed` (the
//!   kubelet pulling, failing, backing off).
//!
//! The parts add up to the wall time. Figures are medians and 90th percentiles (nearest
//! rank) over the repetitions. Speed targets live here, never in timed tests.

use crate::events::{Event, EventKind, Stage, Verdict};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The scenario measured: namespace-local (no ARM change, no propagation delay).
pub const SCENARIO: &str = "image-tag-missing";
/// Target for start-up + connect + engine work of one run (median), ms.
pub const FIXED_TARGET_MS: f64 = 50.0;
/// Target for `acr-chaos validate` of the built-in scenarios (median), ms.
pub const VALIDATE_TARGET_MS: f64 = 15.0;
/// The lab's time scale: kubelet back-offs 20x shorter (they are not what is measured).
const LAB_TIME_SCALE: &str = "0.05";

/// The scenario stages, in the order the engine runs them.
const STAGES: [Stage; 7] = [
    Stage::Preflight,
    Stage::Inject,
    Stage::Observe,
    Stage::Assert,
    Stage::Restore,
    Stage::Recover,
    Stage::Cleanup,
];

/// One stage of one run: engine time and kubelet wait, ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageTime {
    pub stage: Stage,
    pub engine_ms: f64,
    pub kubelet_ms: f64,
}

/// One run's wall time, split (ms).
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub startup_ms: f64,
    pub connect_ms: f64,
    pub run_preflight_ms: f64,
    /// Summed over the run's scenarios, in [`STAGES`] order.
    pub stages: Vec<StageTime>,
    pub run_finish_ms: f64,
    pub wall_ms: f64,
}

impl Split {
    /// Engine work: run preflight, stages without their kubelet waits, run finish.
    pub fn engine_ms(&self) -> f64 {
        self.run_preflight_ms
            + self.stages.iter().map(|s| s.engine_ms).sum::<f64>()
            + self.run_finish_ms
    }
    pub fn kubelet_ms(&self) -> f64 {
        self.stages.iter().map(|s| s.kubelet_ms).sum()
    }
    /// What the issue targets: start-up + connect + engine work.
    pub fn fixed_ms(&self) -> f64 {
        self.startup_ms + self.connect_ms + self.engine_ms()
    }
}

fn ms_between(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_microseconds().unwrap_or(0) as f64 / 1000.0
}

fn first_at(events: &[Event], pred: impl Fn(&EventKind) -> bool) -> Option<DateTime<Utc>> {
    events.iter().find(|e| pred(&e.kind)).map(|e| e.at)
}

fn last_at(events: &[Event], pred: impl Fn(&EventKind) -> bool) -> Option<DateTime<Utc>> {
    events.iter().rev().find(|e| pred(&e.kind)).map(|e| e.at)
}

/// Split a run spawned at `spawned` and reaped at `exited` by its events.
pub fn split(
    events: &[Event],
    spawned: DateTime<Utc>,
    exited: DateTime<Utc>,
) -> Result<Split, String> {
    let run_started = first_at(events, |k| matches!(k, EventKind::RunStarted { .. }))
        .ok_or("no run-started event")?;
    let connected = first_at(events, |k| {
        matches!(k, EventKind::Note { message } if message.starts_with(super::super::cli::CONNECTED_NOTE))
    })
    .ok_or("no \"connected to\" note (a refused run, or a binary older than the bench)")?;
    let first_scenario = first_at(events, |k| matches!(k, EventKind::ScenarioStarted { .. }))
        .ok_or("no scenario-started event")?;
    let last_finished = last_at(events, |k| matches!(k, EventKind::ScenarioFinished { .. }))
        .ok_or("no scenario-finished event")?;
    let mut stages: Vec<StageTime> =
        STAGES.iter().map(|&stage| StageTime { stage, engine_ms: 0.0, kubelet_ms: 0.0 }).collect();
    for name in scenario_names(events) {
        let mine: Vec<Event> =
            events.iter().filter(|e| e.scenario.as_deref() == Some(name)).cloned().collect();
        let times = stage_times(&mine).map_err(|e| format!("scenario {name}: {e}"))?;
        for (sum, t) in stages.iter_mut().zip(times) {
            sum.engine_ms += t.engine_ms;
            sum.kubelet_ms += t.kubelet_ms;
        }
    }
    Ok(Split {
        startup_ms: ms_between(spawned, run_started),
        connect_ms: ms_between(run_started, connected),
        run_preflight_ms: ms_between(connected, first_scenario),
        stages,
        run_finish_ms: ms_between(last_finished, exited),
        wall_ms: ms_between(spawned, exited),
    })
}

fn scenario_names(events: &[Event]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for e in events {
        if let (Some(n), EventKind::ScenarioStarted { .. }) = (e.scenario.as_deref(), &e.kind)
            && !names.contains(&n)
        {
            names.push(n);
        }
    }
    names
}

/// When each stage of one passed scenario ended (its events, in order).
fn stage_ends(events: &[Event]) -> Result<Vec<DateTime<Utc>>, String> {
    if let Some((stage, error)) = events.iter().find_map(|e| match &e.kind {
        EventKind::ScenarioError { stage, error } => Some((stage, error)),
        _ => None,
    }) {
        return Err(format!("error in {stage:?}: {error}"));
    }
    let at = |what: &str, pred: &dyn Fn(&EventKind) -> bool| {
        first_at(events, pred).ok_or_else(|| format!("no {what} event"))
    };
    let preflight = at("preflight-passed", &|k| matches!(k, EventKind::PreflightPassed { .. }))?;
    let asserted = at("asserted", &|k| matches!(k, EventKind::Asserted { .. }))?;
    let observed =
        first_at(events, |k| matches!(k, EventKind::FaultEffective { .. })).unwrap_or(asserted);
    // the injection's last word (journal entries, injected changes); none: nothing to do
    let injected = events
        .iter()
        .filter(|e| e.at <= observed)
        .filter(|e| matches!(e.kind, EventKind::Journaled { .. } | EventKind::FaultInjected { .. }))
        .map(|e| e.at)
        .next_back()
        .unwrap_or(preflight);
    let restored = at("restore-finished", &|k| matches!(k, EventKind::RestoreFinished { .. }))?;
    let recovered = at("recovery-finished", &|k| matches!(k, EventKind::RecoveryFinished { .. }))?;
    let finished = events
        .iter()
        .find_map(|e| match e.kind {
            EventKind::ScenarioFinished { verdict } => Some((e.at, verdict)),
            _ => None,
        })
        .ok_or("no scenario-finished event")?;
    if finished.1 != Verdict::Passed {
        return Err(format!("verdict {:?}", finished.1));
    }
    Ok(vec![preflight, injected, observed, asserted, restored, recovered, finished.0])
}

/// Engine time and kubelet wait of each stage of one passed scenario.
fn stage_times(events: &[Event]) -> Result<Vec<StageTime>, String> {
    let start = first_at(events, |k| matches!(k, EventKind::ScenarioStarted { .. }))
        .ok_or("no scenario-started event")?;
    let ends = stage_ends(events)?;
    let mut from = start;
    let mut out = Vec::new();
    for (&stage, &to) in STAGES.iter().zip(&ends) {
        let within: Vec<&Event> = events.iter().filter(|e| e.at > from && e.at <= to).collect();
        let created = within.iter().find(|e| matches!(e.kind, EventKind::ProbeCreated { .. }));
        let observed =
            within.iter().rev().find(|e| matches!(e.kind, EventKind::ProbeObserved { .. }));
        let kubelet_ms = match (created, observed) {
            (Some(c), Some(o)) if o.at > c.at => ms_between(c.at, o.at),
            _ => 0.0,
        };
        let total = ms_between(from, to).max(0.0);
        out.push(StageTime { stage, engine_ms: total - kubelet_ms, kubelet_ms });
        from = to;
    }
    Ok(out)
}

/// Nearest-rank percentile of `xs` (`p` in 0..=1); `None` when empty.
pub fn percentile(xs: &[f64], p: f64) -> Option<f64> {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1])
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `{median, p90, min, max}` in ms.
pub fn stats(xs: &[f64]) -> Value {
    let p = |q: f64| percentile(xs, q).map(round3);
    json!({ "median": p(0.5), "p90": p(0.9), "min": p(0.0), "max": p(1.0) })
}

/// The figures of several runs.
fn summarize(splits: &[Split]) -> Value {
    let col = |f: &dyn Fn(&Split) -> f64| -> Vec<f64> { splits.iter().map(f).collect() };
    // an array, so that the stages keep the engine's order
    let stages: Vec<Value> = STAGES
        .iter()
        .enumerate()
        .map(|(i, stage)| {
            json!({
                "stage": stage,
                "engine": stats(&col(&|s| s.stages[i].engine_ms)),
                "kubelet_wait": stats(&col(&|s| s.stages[i].kubelet_ms)),
            })
        })
        .collect();
    json!({
        "startup": stats(&col(&|s| s.startup_ms)),
        "connect": stats(&col(&|s| s.connect_ms)),
        "engine": stats(&col(&Split::engine_ms)),
        "fixed": stats(&col(&Split::fixed_ms)),
        "kubelet_wait": stats(&col(&Split::kubelet_ms)),
        "wall": stats(&col(&|s| s.wall_ms)),
        "run_preflight": stats(&col(&|s| s.run_preflight_ms)),
        "run_finish": stats(&col(&|s| s.run_finish_ms)),
        "stages": stages,
    })
}

/// `acr-chaos lab up` in the background; SIGTERM (the lab stops its children) on drop.
#[derive(Debug)]
pub struct LabUp {
    child: Child,
    state: PathBuf,
}

impl LabUp {
    /// Start the lab in `state` and wait until it wrote its target and runner credentials.
    pub fn start(exe: &Path, state: &Path) -> Result<Self, String> {
        let log_path = state.with_extension("log");
        let log =
            std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let child = Command::new(exe)
            .args(["lab", "up", "--time-scale", LAB_TIME_SCALE, "--state-dir"])
            .arg(state)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{}: {e}", exe.display()))?;
        let mut lab = LabUp { child, state: state.to_path_buf() };
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let env = std::fs::read_to_string(state.join("lab.env")).unwrap_or_default();
            if lab.target().exists() && env.contains(super::super::lab::RUNNER_SECRET_ENV) {
                return Ok(lab);
            }
            if let Ok(Some(status)) = lab.child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!("acr-chaos lab up exited ({status}): {log}"));
            }
            if Instant::now() > deadline {
                return Err("acr-chaos lab up was not ready within 180 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn target(&self) -> PathBuf {
        self.state.join("target.yaml")
    }

    /// The `export K='V'` lines of `lab.env`, as a shell would read them.
    pub fn env(&self) -> Result<Vec<(String, String)>, String> {
        let path = self.state.join("lab.env");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(text
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| {
                let v = v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).unwrap_or(v);
                (k.to_string(), v.replace(r"'\''", "'"))
            })
            .collect())
    }
}

impl Drop for LabUp {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id().cast_signed());
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `acr-chaos` with the environment a user has after sourcing `lab.env`, and nothing of
/// this process's lab or Azure settings.
fn product(exe: &Path, env: &[(String, String)]) -> Command {
    let mut c = Command::new(exe);
    for (k, _) in std::env::vars() {
        if k.starts_with("ACR_CHAOS_") || k.starts_with("AZURE_") || k == "KUBECONFIG" {
            c.env_remove(k);
        }
    }
    c.envs(env.iter().map(|(k, v)| (k, v))).stdout(Stdio::null()).stderr(Stdio::null());
    c
}

/// One `acr-chaos run --target` of `scenario`, split.
fn run_once(
    exe: &Path,
    target: &Path,
    env: &[(String, String)],
    scenario: &Path,
    reports: &Path,
) -> Result<Split, String> {
    let mut cmd = product(exe, env);
    cmd.arg("run").arg(scenario).arg("--quiet").arg("--target").arg(target);
    cmd.arg("--report-dir").arg(reports);
    let spawned = Utc::now();
    let status = cmd.status().map_err(|e| format!("{}: {e}", exe.display()))?;
    let exited = Utc::now();
    if !status.success() {
        return Err(format!("acr-chaos run exited with {status}"));
    }
    let folder = std::fs::read_dir(reports)
        .map_err(|e| format!("{}: {e}", reports.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .ok_or("no run folder")?;
    let (_, events) =
        crate::report::eventlog::load_events(&folder).map_err(|e| format!("events: {e}"))?;
    split(&events, spawned, exited)
}

/// Wall time of `repetitions` runs of `args`, ms (after one untimed run).
fn time_command(
    exe: &Path,
    args: &[&str],
    cwd: &Path,
    repetitions: usize,
) -> Result<Vec<f64>, String> {
    let mut out = Vec::new();
    for i in 0..=repetitions {
        let t = Instant::now();
        let status = product(exe, &[])
            .args(args)
            .current_dir(cwd)
            .status()
            .map_err(|e| format!("{}: {e}", exe.display()))?;
        let took = t.elapsed().as_secs_f64() * 1000.0;
        if !status.success() {
            return Err(format!("acr-chaos {} exited with {status}", args.join(" ")));
        }
        if i > 0 {
            out.push(took);
        }
    }
    Ok(out)
}

/// `acr-chaos validate scenarios/` (and `acr-chaos --version`, the floor: exec and
/// argument parsing), `repetitions` times each.
pub fn bench_validate(exe: &Path, scenarios_dir: &Path, repetitions: usize) -> Value {
    let cwd = scenarios_dir.parent().unwrap_or(Path::new("."));
    let dir = scenarios_dir.file_name().and_then(|n| n.to_str()).unwrap_or("scenarios");
    let files = std::fs::read_dir(scenarios_dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "yaml"))
                .count()
        })
        .unwrap_or(0);
    let validate = time_command(exe, &["validate", dir], cwd, repetitions);
    let version = time_command(exe, &["--version"], cwd, repetitions);
    let median = validate.as_ref().ok().and_then(|v| percentile(v, 0.5));
    json!({
        "command": format!("acr-chaos validate {dir}"),
        "files": files,
        "repetitions": repetitions,
        "validate_ms": validate.as_deref().map(stats).unwrap_or_else(|e| json!({ "error": e })),
        "version_ms": version.as_deref().map(stats).unwrap_or_else(|e| json!({ "error": e })),
        "target_ms": VALIDATE_TARGET_MS,
        "met": median.is_some_and(|m| m <= VALIDATE_TARGET_MS),
        "load_average": load_average(),
    })
}

/// `/proc/loadavg`'s first three fields (the machine is shared; figures vary with it).
fn load_average() -> Option<String> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

/// Start a lab with `acr-chaos lab up`, then run [`SCENARIO`] against it `repetitions`
/// times (after one untimed run); the figures.
pub fn bench(exe: &Path, scenarios_dir: &Path, repetitions: usize) -> Value {
    let dir = super::scratch_dir("overhead");
    let result = measure_on_lab(exe, scenarios_dir, &dir, repetitions);
    let _ = std::fs::remove_dir_all(&dir);
    result.unwrap_or_else(|e| json!({ "error": e }))
}

fn measure_on_lab(
    exe: &Path,
    scenarios_dir: &Path,
    dir: &Path,
    repetitions: usize,
) -> Result<Value, String> {
    let scenario = scenarios_dir.join(format!("{SCENARIO}.yaml"));
    let lab = LabUp::start(exe, &dir.join("lab"))?;
    let env = lab.env()?;
    let mut splits = Vec::new();
    let mut errors = Vec::new();
    for i in 0..=repetitions {
        let reports = dir.join(format!("reports-{i}"));
        match run_once(exe, &lab.target(), &env, &scenario, &reports) {
            Ok(s) if i > 0 => splits.push(s),
            Ok(_) => {}
            Err(e) => errors.push(format!("run {i}: {e}")),
        }
    }
    drop(lab);
    let median_fixed = percentile(&splits.iter().map(Split::fixed_ms).collect::<Vec<_>>(), 0.5);
    Ok(json!({
        "scenario": SCENARIO,
        "target": format!("acr-chaos lab up --time-scale {LAB_TIME_SCALE}, already running; each run a separate acr-chaos run --target process"),
        "repetitions": splits.len(),
        "ms": summarize(&splits),
        "fixed_target_ms": FIXED_TARGET_MS,
        "met": median_fixed.is_some_and(|m| m <= FIXED_TARGET_MS),
        "errors": errors,
        "load_average": load_average(),
        "note": "fixed = startup + connect + engine; engine = run_preflight + stage engine time + run_finish; the parts add up to wall (see docs/bench.md)",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{ExpectedSummary, Observation};

    fn at(t0: DateTime<Utc>, ms: i64) -> DateTime<Utc> {
        t0 + chrono::Duration::milliseconds(ms)
    }

    fn ev(t0: DateTime<Utc>, ms: i64, scenario: bool, kind: EventKind) -> Event {
        Event { at: at(t0, ms), scenario: scenario.then(|| "s".to_string()), kind }
    }

    fn probe(name: &str) -> EventKind {
        EventKind::ProbeCreated { pod: name.into(), namespace: "ns".into(), image: "i".into() }
    }

    fn observed() -> EventKind {
        EventKind::ProbeObserved { observation: Observation::default() }
    }

    /// A passed run of one scenario with known gaps between its events.
    fn run(t0: DateTime<Utc>, inject: bool) -> Vec<Event> {
        let note = |m: &str| EventKind::Note { message: m.into() };
        let mut v = vec![
            ev(
                t0,
                10,
                false,
                EventKind::RunStarted {
                    run_id: "r".into(),
                    target: "t".into(),
                    scenarios: vec!["s".into()],
                    dry_run: false,
                },
            ),
            ev(t0, 15, false, note("connected to https://x (Kubernetes v1.33.2) in 5.0 ms")),
            ev(
                t0,
                20,
                true,
                EventKind::ScenarioStarted {
                    fault: "f".into(),
                    description: String::new(),
                    tags: vec![],
                    changes: vec![],
                },
            ),
            ev(t0, 22, true, probe("b")),
            ev(t0, 100, true, observed()),
            ev(t0, 101, true, EventKind::PreflightPassed { baseline_pull: Duration::ZERO }),
        ];
        if inject {
            v.push(ev(t0, 103, true, EventKind::Journaled { change: "c".into() }));
            v.push(ev(t0, 104, true, EventKind::FaultInjected { description: "d".into() }));
        }
        v.extend([
            ev(t0, 106, true, probe("f")),
            ev(t0, 150, true, observed()),
            ev(
                t0,
                151,
                true,
                EventKind::FaultEffective {
                    time_to_effect: Duration::ZERO,
                    observation: Observation::default(),
                },
            ),
            ev(
                t0,
                152,
                true,
                EventKind::Asserted {
                    passed: true,
                    expected: ExpectedSummary::default(),
                    observed: Observation::default(),
                    failures: vec![],
                },
            ),
            ev(t0, 153, true, EventKind::RestoreFinished { undos: vec![] }),
            ev(t0, 155, true, probe("r")),
            ev(t0, 185, true, observed()),
            ev(
                t0,
                186,
                true,
                EventKind::RecoveryFinished { ok: true, time_to_recover: None, error: None },
            ),
            ev(t0, 190, true, EventKind::ScenarioFinished { verdict: Verdict::Passed }),
            ev(t0, 192, false, note("ARM requests: 6")),
            ev(t0, 193, false, EventKind::RunFinished { exit_code: 0 }),
        ]);
        v
    }

    #[test]
    fn parts_come_from_the_events_and_add_up_to_the_wall_time() {
        let t0 = Utc::now();
        let s = split(&run(t0, true), t0, at(t0, 200)).unwrap();
        assert_eq!((s.startup_ms, s.connect_ms, s.run_preflight_ms), (10.0, 5.0, 5.0));
        assert_eq!(s.run_finish_ms, 10.0);
        let by = |st: Stage| s.stages.iter().find(|t| t.stage == st).copied().unwrap();
        assert_eq!(
            by(Stage::Preflight),
            StageTime { stage: Stage::Preflight, engine_ms: 3.0, kubelet_ms: 78.0 }
        );
        assert_eq!((by(Stage::Inject).engine_ms, by(Stage::Inject).kubelet_ms), (3.0, 0.0));
        assert_eq!((by(Stage::Observe).engine_ms, by(Stage::Observe).kubelet_ms), (3.0, 44.0));
        assert_eq!(by(Stage::Assert).engine_ms, 1.0);
        assert_eq!(by(Stage::Restore).engine_ms, 1.0);
        assert_eq!((by(Stage::Recover).engine_ms, by(Stage::Recover).kubelet_ms), (3.0, 30.0));
        assert_eq!(by(Stage::Cleanup).engine_ms, 4.0);
        assert_eq!(s.kubelet_ms(), 152.0);
        assert_eq!(s.engine_ms(), 5.0 + 18.0 + 10.0);
        assert!((s.fixed_ms() + s.kubelet_ms() - s.wall_ms).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn a_fault_without_changes_has_an_empty_inject_stage() {
        let t0 = Utc::now();
        let s = split(&run(t0, false), t0, at(t0, 200)).unwrap();
        let inject = s.stages.iter().find(|t| t.stage == Stage::Inject).unwrap();
        assert_eq!(inject.engine_ms, 0.0);
        assert!((s.fixed_ms() + s.kubelet_ms() - s.wall_ms).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn a_run_that_did_not_pass_is_not_a_sample() {
        let t0 = Utc::now();
        let mut events = run(t0, true);
        events.retain(|e| !matches!(e.kind, EventKind::Note { .. }));
        assert!(split(&events, t0, at(t0, 200)).unwrap_err().contains("connected to"));
        let mut events = run(t0, true);
        events.insert(
            8,
            ev(
                t0,
                104,
                true,
                EventKind::ScenarioError { stage: Stage::Inject, error: "boom".into() },
            ),
        );
        assert!(split(&events, t0, at(t0, 200)).unwrap_err().contains("boom"));
    }

    #[test]
    fn nearest_rank_percentiles() {
        let xs: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&xs, 0.5), Some(5.0));
        assert_eq!(percentile(&xs, 0.9), Some(9.0));
        assert_eq!(percentile(&xs, 0.0), Some(1.0));
        assert_eq!(percentile(&xs, 1.0), Some(10.0));
        assert_eq!(percentile(&[3.0], 0.9), Some(3.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
