//! `acr-chaos diff` and `acr-chaos baseline accept` through the real binary, on recorded
//! runs (event logs with fixed timestamps): an identical run is green; a re-wrapped
//! message, a changed cause, a slower time-to-effect beyond tolerance, a missing scenario
//! and a kubelet upgrade each show as exactly the expected findings and JUnit failures,
//! exit 4; accepting them makes the next diff green; broken or mismatched inputs exit 2
//! with an error naming the file. The schemas in docs/ are up to date.

use crate::report_support::*;
use acr_chaos::environment::{Environment, KubernetesFacts, NodeFacts};
use acr_chaos::events::{Event, EventKind, Verdict};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_acr-chaos"));
    c.env("NO_COLOR", "1").env("ACR_CHAOS_LOG", "warn");
    c
}

fn env_event(kubelet: &str) -> Event {
    run_ev(
        0.1,
        EventKind::EnvironmentObserved {
            environment: Environment {
                kubernetes: Some(KubernetesFacts {
                    server_version: "v1.32.4".into(),
                    platform: "linux/amd64".into(),
                }),
                nodes: vec![NodeFacts {
                    name: "aks-nodepool1-1-vmss000000".into(),
                    kubelet_version: kubelet.into(),
                    container_runtime_version: "containerd://1.7.27-1".into(),
                    os_image: "Ubuntu 22.04.5 LTS".into(),
                    kernel_version: "5.15.0-1089-azure".into(),
                    pool: Some("nodepool1".into()),
                    ..NodeFacts::default()
                }],
                ..Environment::default()
            },
        },
    )
}

/// Two scenarios; `msg` is acr-detach's observed message, `tte_ms` its time-to-effect.
fn run_events(run_id: &str, kubelet: &str, msg: &str, causes: &[&str], tte_ms: u64) -> Vec<Event> {
    let o = obs("probe-1", "ImagePullBackOff", msg, causes);
    let mut body = scenario_events(
        0.2,
        "acr-detach",
        "acr-detach",
        o,
        expected(&["ErrImagePull", "ImagePullBackOff"], causes, None),
        &[],
        vec![undo("re-create role assignment", None)],
        Verdict::Passed,
    );
    for e in &mut body {
        if let EventKind::FaultEffective { time_to_effect, .. } = &mut e.kind {
            *time_to_effect = Duration::from_millis(tte_ms);
        }
    }
    let tag = obs(
        "probe-7",
        "ErrImagePull",
        "Failed to pull image \"chaoslab.azurecr.io/probe:nope\": rpc error: code = NotFound desc = failed to pull and unpack image \"chaoslab.azurecr.io/probe:nope\": not found",
        &["not-found"],
    );
    body.extend(scenario_events(
        30.0,
        "image-tag-missing",
        "image-tag-missing",
        tag,
        expected(&["ErrImagePull"], &["not-found"], None),
        &[],
        vec![],
        Verdict::Passed,
    ));
    body.insert(0, env_event(kubelet));
    let mut events = wrap_run(&["acr-detach", "image-tag-missing"], body, 0);
    if let EventKind::RunStarted { run_id: r, .. } = &mut events[0].kind {
        *r = run_id.to_string();
    }
    events
}

fn write_run(root: &Path, events: &[Event]) -> PathBuf {
    let id = match &events[0].kind {
        EventKind::RunStarted { run_id, .. } => run_id.clone(),
        _ => unreachable!(),
    };
    let dir = root.join(&id);
    std::fs::create_dir_all(&dir).unwrap();
    let text: String = events.iter().map(|e| serde_json::to_string(e).unwrap() + "\n").collect();
    std::fs::write(dir.join("events.jsonl"), text).unwrap();
    dir
}

/// The same run with other pods, namespace, registry port and run id.
fn nightly(id: &str) -> Vec<Event> {
    let events = run_events(id, "v1.32.4", ANON_401, &["unauthorized-anonymous"], 12_350);
    let suffix = &id[id.len() - 4..];
    events
        .into_iter()
        .map(|e| {
            let text = serde_json::to_string(&e)
                .unwrap()
                .replace("acr-chaos-3f2a", &format!("acr-chaos-{suffix}-acr-detach"))
                .replace("probe-1", &format!("probe-fault-{suffix}"))
                .replace(
                    "chaoslab.azurecr.io/",
                    &format!(
                        "chaoslab.azurecr.io:{}/",
                        40000 + suffix.len() * 1000 + suffix.as_bytes()[0] as usize
                    ),
                );
            serde_json::from_str(&text).unwrap()
        })
        .collect()
}

fn diff(base: &Path, cur: &Path, extra: &[&str]) -> (i32, String, String) {
    let out = bin().arg("diff").arg(base).arg(cur).args(extra).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn identical_runs_have_no_regression() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write_run(tmp.path(), &nightly("20261124T041907Z-aaaa"));
    let b = write_run(tmp.path(), &nightly("20261125T041907Z-bbbb"));
    let (code, out, err) = diff(&a, &b, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("no regression"), "{out}");
    assert!(out.contains("environment: unchanged"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("diff.json")).unwrap()).unwrap();
    assert_eq!(json["schemaVersion"], "acr-chaos.diff/v1");
    assert_eq!(json["regressions"], false);
    assert!(b.join("diff.md").is_file() && b.join("diff-junit.xml").is_file());
}

#[test]
fn kubelet_upgrade_rewrap_shows_as_signature_and_environment_change() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write_run(tmp.path(), &nightly("20261124T041907Z-aaaa"));
    // kubelet < 1.28 kept the gRPC prefix for Unknown
    let old = ANON_401
        .replace(": failed to pull and", ": rpc error: code = Unknown desc = failed to pull and");
    let b = write_run(
        tmp.path(),
        &run_events("20261125T041907Z-bbbb", "v1.27.9", &old, &["unauthorized-anonymous"], 12_900),
    );
    let (code, out, err) = diff(&a, &b, &[]);
    assert_eq!(code, 4, "{out}{err}");
    assert!(out.contains("nodes[nodepool1].kubeletVersion: v1.32.4 → v1.27.9"), "{out}");
    assert!(out.contains("{+rpc error: code = Unknown desc =+}"), "word diff: {out}");
    let junit = std::fs::read_to_string(b.join("diff-junit.xml")).unwrap();
    let report = quick_junit_failures(&junit);
    assert_eq!(report, vec!["acr-detach: error signature".to_string()], "{junit}");
    let md = std::fs::read_to_string(b.join("diff.md")).unwrap();
    assert!(md.contains("acr-detach: error signature changed"), "{md}");
}

/// Names of the failing test cases of a JUnit document.
fn quick_junit_failures(xml: &str) -> Vec<String> {
    let mut out = Vec::new();
    for case in xml.split("<testcase ").skip(1) {
        let name = case.split("name=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or("");
        let body = case.split("</testcase>").next().unwrap_or("");
        if body.contains("<failure") {
            out.push(name.replace("&quot;", "\""));
        }
    }
    out
}

#[test]
fn cause_timing_and_missing_scenario_are_regressions() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write_run(tmp.path(), &nightly("20261124T041907Z-aaaa"));
    let oauth = ANON_401.replace("anonymous token", "oauth token");
    let mut ev = run_events(
        "20261125T041907Z-bbbb",
        "v1.32.4",
        &oauth,
        &["unauthorized-credentials"],
        95_000,
    );
    ev.retain(|e| e.scenario.as_deref() != Some("image-tag-missing"));
    let b = write_run(tmp.path(), &ev);
    let (code, out, _) = diff(&a, &b, &[]);
    assert_eq!(code, 4, "{out}");
    let junit = std::fs::read_to_string(b.join("diff-junit.xml")).unwrap();
    let mut failing = quick_junit_failures(&junit);
    failing.sort();
    assert_eq!(
        failing,
        [
            "acr-detach: causes",
            "acr-detach: error signature",
            "acr-detach: time to effect",
            "image-tag-missing: presence"
        ]
    );
    assert!(out.contains("7.7× slower"), "{out}");
    // within tolerance when the floor is wide enough
    let (code, out, _) = diff(&a, &b, &["--floor", "100", "--no-write"]);
    assert_eq!(code, 4, "causes still changed: {out}");
    assert!(!out.contains("slower"), "{out}");
}

#[test]
fn accepting_the_differences_makes_the_next_night_green() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write_run(tmp.path(), &nightly("20261124T041907Z-aaaa"));
    let base = tmp.path().join("baseline.yaml");
    let out = bin().args(["baseline", "accept"]).arg(&a).arg("--out").arg(&base).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&base).unwrap();
    assert!(text.starts_with("# acr-chaos baseline"), "{text}");
    assert!(text.contains("schemaVersion: acr-chaos.baseline/v1"), "{text}");
    assert!(text.contains("failed to fetch anonymous token"), "{text}");
    assert!(!text.contains("chaoslab.azurecr.io"), "run-specific values are templated: {text}");

    let new = ANON_401
        .replace(": failed to pull and", ": rpc error: code = Unknown desc = failed to pull and");
    let ev =
        run_events("20261125T041907Z-bbbb", "v1.27.9", &new, &["unauthorized-anonymous"], 12_000);
    let b = write_run(tmp.path(), &ev);
    assert_eq!(diff(&base, &b, &["--no-write"]).0, 4);
    let out = bin()
        .args(["baseline", "accept"])
        .arg(&b)
        .arg("--out")
        .arg(&base)
        .args(["--reason", "kubelet downgrade test"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&base).unwrap();
    assert!(text.contains("check: error-signature"), "{text}");
    assert!(text.contains("reason: kubelet downgrade test"), "{text}");
    // the next night on the new kubelet is green, and so is one on the old
    let c = write_run(
        tmp.path(),
        &run_events("20261126T041907Z-cccc", "v1.27.9", &new, &["unauthorized-anonymous"], 13_000),
    );
    let (code, out, _) = diff(&base, &c, &["--no-write"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("accepted"), "{out}");
    assert_eq!(diff(&base, &a, &["--no-write"]).0, 0);
}

fn assert_exit2(args: &[&std::ffi::OsStr], names: &str, what: &str) {
    let out = bin().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(names), "error names {names}: {err}");
    assert!(err.contains(what), "error says {what}: {err}");
}

#[test]
fn broken_or_mismatched_inputs_exit_2_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write_run(tmp.path(), &nightly("20261124T041907Z-aaaa"));
    let (_t, dir, _) = render_all(&nightly("20261125T041907Z-bbbb"));
    let report = dir.join("report.json");
    let os = |p: &Path| p.as_os_str().to_owned();

    // another schema version
    let v9 = tmp.path().join("v9.json");
    let text = std::fs::read_to_string(&report).unwrap();
    std::fs::write(&v9, text.replace("acr-chaos.report/v2", "acr-chaos.report/v9")).unwrap();
    assert_exit2(&[&os("diff".as_ref()), &os(&a), &os(&v9)], "v9.json", "acr-chaos.report/v9");

    // truncated
    let cut = tmp.path().join("truncated.json");
    std::fs::write(&cut, &text[..text.len() / 2]).unwrap();
    assert_exit2(&[&os("diff".as_ref()), &os(&a), &os(&cut)], "truncated.json", "EOF");

    // a different target
    let mut other = nightly("20261125T041907Z-cccc");
    if let EventKind::RunStarted { target, .. } = &mut other[0].kind {
        *target = "prod".into();
    }
    let o = write_run(tmp.path(), &other);
    assert_exit2(
        &[&os("diff".as_ref()), &os(&a), &os(&o)],
        "20261125T041907Z-cccc",
        "target \"prod\"",
    );
    let out =
        bin().arg("diff").arg(&a).arg(&o).args(["--cross-target", "--no-write"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "--cross-target compares on purpose");

    // a baseline of another version, and one with a typo
    let b9 = tmp.path().join("old.yaml");
    std::fs::write(&b9, "schemaVersion: acr-chaos.baseline/v0\nname: x\n").unwrap();
    assert_exit2(&[&os("diff".as_ref()), &os(&b9), &os(&a)], "old.yaml", "acr-chaos.baseline/v0");
    let typo = tmp.path().join("typo.yaml");
    std::fs::write(
        &typo,
        "schemaVersion: acr-chaos.baseline/v1\nname: x\ntarget: lab\nacceptedFrom: {runId: r}\nscenarios: {}\ntolerence: {}\n",
    )
    .unwrap();
    assert_exit2(&[&os("diff".as_ref()), &os(&typo), &os(&a)], "typo.yaml", "tolerence");

    // an events.jsonl cut in the middle of a line
    let log = a.join("events.jsonl");
    let t = std::fs::read_to_string(&log).unwrap();
    let half = tmp.path().join("half").join("events.jsonl");
    std::fs::create_dir_all(half.parent().unwrap()).unwrap();
    std::fs::write(&half, &t[..t.len() - 40]).unwrap();
    assert_exit2(
        &[&os("diff".as_ref()), &os(&a), &os(half.parent().unwrap())],
        "events.jsonl:",
        "EOF",
    );

    // not a run at all
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert_exit2(&[&os("diff".as_ref()), &os(&a), &os(&empty)], "empty", "holds no events");
}

#[test]
fn v1_reports_are_still_read() {
    let tmp = tempfile::tempdir().unwrap();
    let (_t, dir, _) = render_all(&passing());
    let v1 = tmp.path().join("report.json");
    let text = std::fs::read_to_string(dir.join("report.json")).unwrap();
    std::fs::write(&v1, text.replace("acr-chaos.report/v2", "acr-chaos.report/v1")).unwrap();
    let (code, out, err) = diff(&dir, &v1, &["--no-write"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn schemas_in_docs_are_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (file, schema) in [
        ("docs/diff.schema.json", acr_chaos::diff::render::json_schema()),
        ("docs/baseline.schema.json", acr_chaos::diff::baseline::json_schema()),
    ] {
        let path = root.join(file);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &schema).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(want == schema, "{file} is out of date; run with UPDATE_GOLDEN=1");
    }
}

#[test]
fn run_with_a_baseline_of_another_target_is_refused_before_any_change() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write_run(tmp.path(), &nightly("20261124T041907Z-aaaa"));
    let base = tmp.path().join("lab.baseline.yaml");
    let out = bin().args(["baseline", "accept"]).arg(&a).arg("--out").arg(&base).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = bin()
        .current_dir(tmp.path())
        .arg("run")
        .arg(root.join("scenarios/image-tag-missing.yaml"))
        .arg("--target")
        .arg(root.join("scenarios/targets/aks-example.yaml"))
        .arg("--baseline")
        .arg(&base)
        .args(["--report-dir", "reports"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("lab.baseline.yaml") && err.contains("\"aks-example\""), "{err}");
    // refused before anything ran: the reports say why, and nothing was journaled
    let run_dir =
        std::fs::read_dir(tmp.path().join("reports")).unwrap().next().unwrap().unwrap().path();
    let junit = std::fs::read_to_string(run_dir.join("junit.xml")).unwrap();
    assert!(junit.contains("run refused") && junit.contains("lab.baseline.yaml"), "{junit}");
    assert!(!run_dir.join("journal.json").exists(), "nothing ran: {err}");
}

#[test]
fn a_baseline_can_make_environment_changes_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write_run(tmp.path(), &nightly("20261124T041907Z-aaaa"));
    let base = tmp.path().join("pinned.yaml");
    let out = bin().args(["baseline", "accept"]).arg(&a).arg("--out").arg(&base).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let b = write_run(
        tmp.path(),
        &run_events(
            "20261125T041907Z-bbbb",
            "v1.33.2",
            ANON_401,
            &["unauthorized-anonymous"],
            12_350,
        ),
    );
    assert_eq!(diff(&base, &b, &["--no-write"]).0, 0, "reported, not failed, by default");
    let text = std::fs::read_to_string(&base).unwrap();
    std::fs::write(&base, text.replace("scenarios:\n", "failOnEnvironment: true\nscenarios:\n"))
        .unwrap();
    let (code, out, _) = diff(&base, &b, &[]);
    assert_eq!(code, 4, "{out}");
    let junit = std::fs::read_to_string(b.join("diff-junit.xml")).unwrap();
    assert_eq!(
        quick_junit_failures(&junit),
        vec!["environment: nodes[nodepool1].kubeletVersion".to_string()],
        "{junit}"
    );
    // accepted like any other difference
    let out = bin().args(["baseline", "accept"]).arg(&b).arg("--out").arg(&base).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&base).unwrap();
    assert!(text.contains("failOnEnvironment: true"), "kept: {text}");
    assert_eq!(diff(&base, &b, &["--no-write"]).0, 0);
}
