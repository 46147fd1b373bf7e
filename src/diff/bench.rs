//! Figures for `make bench` (`acr-chaos-bench --only diff`): `diff` of two recorded
//! 10-scenario runs (load both event logs, compare, render the table, diff.md, diff.json
//! and JUnit) and `report --html` of 30 recorded runs (load and render), best of 5, on
//! synthetic runs shaped like real ones (probe observations, alert checks, environment).

use crate::environment::{Environment, KubernetesFacts, NodeFacts, RegistryFacts};
use crate::events::{Event, EventKind, ExpectedSummary, Observation, UndoOutcome, Verdict};
use chrono::{DateTime, Duration as Cd, Utc};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Builds events at offsets from a run's start.
struct At(DateTime<Utc>);

impl At {
    fn ev(&self, secs: f64, scenario: Option<&str>, kind: EventKind) -> Event {
        Event {
            at: self.0 + Cd::milliseconds((secs * 1000.0) as i64),
            scenario: scenario.map(str::to_string),
            kind,
        }
    }
}

/// A recorded run of `scenarios` scenarios; `night` shifts time, ids and timings a little.
pub fn synthetic_run(night: u32, scenarios: usize) -> Vec<Event> {
    let t0: DateTime<Utc> =
        DateTime::from_timestamp(1_795_000_000 + i64::from(night) * 86_400, 0).unwrap_or_default();
    let at = At(t0);
    let run_id = format!("{}-{:04x}", t0.format("%Y%m%dT%H%M%SZ"), night);
    let names: Vec<String> = (0..scenarios).map(|i| format!("scenario-{i:02}")).collect();
    let started = EventKind::RunStarted {
        run_id: run_id.clone(),
        target: "bench".into(),
        scenarios: names.clone(),
        dry_run: false,
    };
    let mut out = vec![
        at.ev(0.0, None, started),
        at.ev(0.1, None, EventKind::EnvironmentObserved { environment: environment() }),
    ];
    for (i, name) in names.iter().enumerate() {
        let obs = observation(night, i, &format!("acr-chaos-{run_id}-{name}").to_lowercase());
        out.extend(scenario_events(&at, 1.0 + i as f64 * 60.0, name, night, obs));
    }
    out.push(at.ev(1.0 + scenarios as f64 * 60.0, None, EventKind::RunFinished { exit_code: 0 }));
    out
}

/// A network-cut observation with run-specific ports, IPs, pod, namespace and request id.
fn observation(night: u32, i: usize, namespace: &str) -> Observation {
    let p = 40_000 + night;
    let image = format!("bench{i}.azurecr.io:{p}/team/app:v{i}");
    Observation {
        pod: format!("probe-fault-{night}-{i}"),
        namespace: namespace.to_string(),
        image: image.clone(),
        waiting_reason: Some("ErrImagePull".into()),
        message: Some(format!(
            "Failed to pull image \"{image}\": failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": failed to do request: Head \"https://bench{i}.azurecr.io:{p}/v2/team/app/manifests/v{i}\": dial tcp 10.0.{night}.4:{p}: i/o timeout (request 3f2a9c0d1e2b4a5c{night:04x})"
        )),
        causes: vec![crate::classify::Cause::NetworkUnreachable],
        event_reasons: vec!["Pulling".into(), "Failed".into(), "BackOff".into()],
        running: false,
    }
}

/// One passing scenario: preflight, injection, five observations, effect, assertion, two
/// alert checks, restore, recovery.
fn scenario_events(at: &At, start: f64, name: &str, night: u32, obs: Observation) -> Vec<Event> {
    let s = Some(name);
    let jitter = f64::from(night % 7) * 0.3;
    let tte = 12.0 + jitter;
    let expected = ExpectedSummary {
        waiting_reasons: vec!["ErrImagePull".into()],
        causes: obs.causes.clone(),
        message_regex: None,
        deadline: Duration::from_secs(300),
    };
    let undo = UndoOutcome { description: "delete NSG rule".into(), ok: true, error: None };
    let mut kinds = vec![
        (
            0.0,
            EventKind::ScenarioStarted {
                fault: "network-path-cut".into(),
                description: "bench".into(),
                tags: vec![],
                changes: vec![],
            },
        ),
        (1.0, EventKind::PreflightPassed { baseline_pull: Duration::from_millis(900) }),
        (1.1, EventKind::Journaled { change: "delete NSG rule".into() }),
        (1.2, EventKind::FaultInjected { description: "NSG deny rule".into() }),
        (
            1.3,
            EventKind::ProbeCreated {
                pod: obs.pod.clone(),
                namespace: obs.namespace.clone(),
                image: obs.image.clone(),
            },
        ),
    ];
    for k in 0..5 {
        kinds.push((2.0 + f64::from(k), EventKind::ProbeObserved { observation: obs.clone() }));
    }
    kinds.extend([
        (
            1.2 + tte,
            EventKind::FaultEffective {
                time_to_effect: Duration::from_secs_f64(tte),
                observation: obs.clone(),
            },
        ),
        (
            1.3 + tte,
            EventKind::Asserted { passed: true, expected, observed: obs, failures: vec![] },
        ),
    ]);
    for a in ["rule-fires", "alertmanager-receives"] {
        let evidence = "1 series".to_string();
        kinds.push((
            30.0,
            EventKind::AlertChecked { name: a.into(), passed: true, evidence, failure: None },
        ));
    }
    kinds.extend([
        (35.0, EventKind::RestoreFinished { undos: vec![undo] }),
        (
            40.0 + jitter,
            EventKind::RecoveryFinished {
                ok: true,
                time_to_recover: Some(Duration::from_secs_f64(5.0 + jitter)),
                error: None,
            },
        ),
        (41.0 + jitter, EventKind::ScenarioFinished { verdict: Verdict::Passed }),
    ]);
    kinds.into_iter().map(|(t, k)| at.ev(start + t, s, k)).collect()
}

fn environment() -> Environment {
    Environment {
        kubernetes: Some(KubernetesFacts {
            server_version: "v1.32.4".into(),
            platform: "linux/amd64".into(),
        }),
        nodes: (0..3)
            .map(|i| NodeFacts {
                name: format!("aks-nodepool1-1-vmss00000{i}"),
                kubelet_version: "v1.32.4".into(),
                container_runtime_version: "containerd://1.7.27-1".into(),
                os_image: "Ubuntu 22.04.5 LTS".into(),
                kernel_version: "5.15.0-1089-azure".into(),
                architecture: "amd64".into(),
                pool: Some("nodepool1".into()),
                node_image: Some("AKSUbuntu-2204gen2containerd-202511.07.0".into()),
            })
            .collect(),
        registry: Some(RegistryFacts { sku: Some("Premium".into()), ..RegistryFacts::default() }),
        ..Environment::default()
    }
}

/// Write a run's events.jsonl under `root`; returns the run folder.
pub fn write_run(root: &Path, events: &[Event]) -> std::io::Result<PathBuf> {
    let id = match events.first().map(|e| &e.kind) {
        Some(EventKind::RunStarted { run_id, .. }) => run_id.clone(),
        _ => "run".into(),
    };
    let dir = root.join(id);
    std::fs::create_dir_all(&dir)?;
    let mut text = String::new();
    for e in events {
        text.push_str(&serde_json::to_string(e).map_err(std::io::Error::other)?);
        text.push('\n');
    }
    std::fs::write(dir.join(crate::report::EVENT_LOG_FILE), text)?;
    Ok(dir)
}

fn best_of<T>(n: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..n {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        last = Some(v);
    }
    (best, last.expect("n > 0"))
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// The figures (JSON), using `dir` for the recorded runs.
pub fn bench(dir: &Path) -> Value {
    match run(dir) {
        Ok(v) => v,
        Err(e) => json!({ "error": e }),
    }
}

fn run(dir: &Path) -> Result<Value, String> {
    let e = |x: &dyn std::fmt::Display| x.to_string();
    let a = write_run(dir, &synthetic_run(1, 10)).map_err(|x| e(&x))?;
    let b = write_run(dir, &synthetic_run(2, 10)).map_err(|x| e(&x))?;
    let (diff_best, report) = best_of(5, || {
        let r = super::cli::diff_paths(&a, &b, super::compare::Options::default(), false);
        r.inspect(|r| {
            let _ = super::render::table::render(r, false);
            let _ = super::render::markdown::render(r);
            let _ = super::render::json(r);
            let _ = super::render::junit::render(r);
        })
    });
    let report = report.map_err(|x| e(&x))?;
    let runs: Vec<PathBuf> = (1..=30)
        .map(|n| write_run(dir, &synthetic_run(n, 10)))
        .collect::<Result<_, _>>()
        .map_err(|x| e(&x))?;
    let (html_best, bytes) = best_of(5, || {
        let mut inputs = Vec::new();
        for r in &runs {
            let model = super::input::load_run(r).map_err(|x| x.to_string())?;
            inputs.push(crate::report::html::RunInput { label: model.run_id.clone(), model });
        }
        Ok::<usize, String>(crate::report::html::render(&mut inputs, Utc::now()).len())
    });
    let bytes = bytes?;
    Ok(json!({
        "diff10ScenariosBestOf5Ms": ms(diff_best),
        "diffChecks": report.totals.checks,
        "diffRegressions": report.totals.regressions,
        "diffTarget": "two 10-scenario runs well under 1 s (load, compare, render all outputs)",
        "diffMet": diff_best < Duration::from_millis(500),
        "html30RunsBestOf5Ms": ms(html_best),
        "htmlBytes": bytes,
        "htmlTarget": "30 runs of 10 scenarios well under 1 s (load, render)",
        "htmlMet": html_best < Duration::from_millis(500),
    }))
}
