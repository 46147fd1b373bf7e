//! Recovery that is safe unattended, on the lab through the real binary: `recover` never
//! touches a live run; an unreadable journal is named and never hides the others (and
//! blocks the next run before its first change); a recover against another cluster
//! leaves this cluster's journal alone; SIGHUP restores like SIGTERM and a second signal
//! does not abandon the restore; transient API failures during a restore are waited out,
//! and what cannot be restored stays pending for `recover`. Needs the lab (root,
//! containerd, docker-registry, nft): SKIPPED without, a failure under CI=true.

// One std Mutex serializes the lab tests; each owns its runtime, so holding the guard
// across awaits cannot deadlock.
#![allow(
    clippy::await_holding_lock,
    reason = "one std Mutex serializes the lab tests; each test owns its runtime"
)]

use crate::lab_support::{self, External, SERIAL, external_lab, root, snapshot, wait_for};
use crate::require_lab;
use acr_chaos::engine::lab::LAB_JOURNAL_NAMESPACE;
use acr_chaos_lab::knobs::{Fault, Knob};
use k8s_openapi::api::core::v1::ConfigMap;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn scenario(name: &str) -> String {
    root().join(format!("scenarios/{name}.yaml")).display().to_string()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn spawn(mut c: Command) -> Child {
    c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

fn signal(child: &Child, sig: &str) {
    let pid = child.id().to_string();
    assert!(Command::new("kill").args([sig, &pid]).status().unwrap().success());
}

/// acr-detach whose expectation never shows (it waits for `not-found`): the run holds its
/// fault in place until the deadline, long enough to race it.
fn slow_detach(dir: &Path) -> String {
    let p = dir.join("slow-detach.yaml");
    std::fs::write(
        &p,
        "apiVersion: acr-chaos/v1\nkind: Scenario\nname: slow-detach\n\
         description: acr-detach waiting for a cause that never shows\n\
         fault:\n  kind: acr-detach\nprobe:\n  image: target:acr\n\
         expect:\n  waitingReasons: [ErrImagePull, ImagePullBackOff]\n  causes: [not-found]\n  deadline: 20s\n\
         recovery:\n  deadline: 2m\n",
    )
    .unwrap();
    p.display().to_string()
}

async fn put_journal_config_map(e: &External, name: &str, data: &str) {
    let api = kube::Api::<ConfigMap>::namespaced(e.kube.client().clone(), LAB_JOURNAL_NAMESPACE);
    let cm = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".into(),
                "acr-chaos".into(),
            )])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("journal.json".into(), data.into())])),
        ..Default::default()
    };
    api.create(&Default::default(), &cm).await.unwrap();
}

async fn kill_after_detach(e: &External, cwd: &Path) {
    let mut run = e
        .child_in(cwd, &e.target, &["run", &scenario("acr-detach"), "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the detach", Duration::from_secs(60), || e.kubelet_acr_pull_count() == 0).await;
    run.kill().unwrap();
    run.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_never_touches_a_live_run_and_a_second_run_is_refused() {
    require_lab!();
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let e = external_lab(None).await;
    let before = snapshot(&e).await;
    let sc = slow_detach(e.dir.path());
    let run = spawn(e.child(&["run", &sc, "--quiet", "--report-dir", "reports"]));
    wait_for("the detach", Duration::from_secs(60), || e.kubelet_acr_pull_count() == 0).await;
    let during = snapshot(&e).await;

    let out = e.child(&["recover"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("recover never touches a live run"), "{}", text(&out));
    let out = e.child(&["run", &scenario("image-tag-missing"), "--quiet"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("holds the lease"), "{}", text(&out));
    assert_eq!(snapshot(&e).await, during, "neither touched the live run's changes");

    let out = run.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "the wrong expectation fails: {}", text(&out));
    assert_eq!(snapshot(&e).await, before, "the live run restored its own changes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_journal_is_named_never_hides_the_others_and_blocks_the_next_run() {
    require_lab!();
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let e = external_lab(None).await;
    let before = snapshot(&e).await;
    let dead_agent = tempfile::tempdir().unwrap();
    kill_after_detach(&e, dead_agent.path()).await;
    put_journal_config_map(&e, "acr-chaos-journal-garbage", "{\"version\": 2, \"runId\"").await;
    let future = r#"{"version": 3, "runId": "from-the-future", "writer": {"version": "9.0.0"}, "entries": []}"#;
    put_journal_config_map(&e, "acr-chaos-journal-future", future).await;

    // a new agent: no local journal, only the cluster's copies
    let agent = tempfile::tempdir().unwrap();
    let out = e.child_in(agent.path(), &e.target, &["recover"]).output().unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "{t}");
    assert!(t.contains("acr-chaos-journal-garbage: truncated"), "{t}");
    assert!(t.contains("journal format 3 was written by a newer acr-chaos (9.0.0)"), "{t}");
    assert_eq!(e.kubelet_acr_pull_count(), 1, "the readable journal was still recovered: {t}");

    let out = e
        .child_in(agent.path(), &e.target, &["run", &scenario("image-tag-missing"), "--quiet"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("nothing was changed by this run"), "{}", text(&out));

    let api = kube::Api::<ConfigMap>::namespaced(e.kube.client().clone(), LAB_JOURNAL_NAMESPACE);
    for n in ["acr-chaos-journal-garbage", "acr-chaos-journal-future"] {
        api.delete(n, &Default::default()).await.unwrap();
    }
    let out = e.child_in(agent.path(), &e.target, &["recover"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(snapshot(&e).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_against_another_cluster_leaves_this_clusters_journal_alone() {
    require_lab!();
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let a = external_lab(None).await;
    let b = external_lab(None).await;
    let before = snapshot(&a).await;
    // one workspace drives both clusters
    let workspace = a.dir.path();
    kill_after_detach(&a, workspace).await;
    let journal = local_journal(workspace);
    let pending_before = std::fs::read_to_string(&journal).unwrap();

    let out = a.child_in(workspace, &b.target, &["recover"]).output().unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "cluster B has nothing to recover: {t}");
    assert!(t.contains("skipped run"), "it says what it skipped: {t}");
    assert_eq!(a.kubelet_acr_pull_count(), 0, "A's fault is untouched");
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), pending_before, "not marked done");

    let out = a.child_in(workspace, &a.target, &["recover"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(snapshot(&a).await, before, "A recovered from its own journal");
}

fn local_journal(workspace: &Path) -> PathBuf {
    let dir = workspace.join(".acr-chaos/journal");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.pop().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_restores_and_a_second_signal_does_not_abandon_the_restore() {
    require_lab!();
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let e = external_lab(None).await;
    let before = snapshot(&e).await;
    let run = spawn(e.child(&["run", &scenario("registry-firewall-deny"), "--quiet"]));
    wait_for("the firewall", Duration::from_secs(60), || {
        e.lab.state().read().effective_registry_network().network_rule_set.default_action == "Deny"
    })
    .await;
    signal(&run, "-HUP");
    tokio::time::sleep(Duration::from_millis(50)).await;
    signal(&run, "-TERM");
    let out = run.wait_with_output().unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(130), "{t}");
    assert!(t.contains("interrupted (SIGHUP)"), "{t}");
    assert!(t.contains("SIGTERM: the restore is still running"), "{t}");
    assert_eq!(snapshot(&e).await, before, "restored before exiting");
}

/// Wait until the run's live event log (under `reports`) has an event of `kind`.
async fn wait_event(reports: &Path, kind: &str) {
    let needle = format!("\"event\":\"{kind}\"");
    wait_for(kind, Duration::from_secs(90), || lab_support::all_text(reports).contains(&needle))
        .await;
}

/// A target file whose restores may take `restore` at most.
fn with_restore_timeout(e: &External, restore: &str) -> PathBuf {
    let text = std::fs::read_to_string(&e.target).unwrap();
    let changed =
        text.replace("  preflight: 2m\n", &format!("  preflight: 2m\n  restore: {restore}\n"));
    assert_ne!(changed, text);
    let p = e.dir.path().join("short-restore.yaml");
    std::fs::write(&p, changed).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_during_the_restore_are_waited_out() {
    require_lab!();
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let e = external_lab(None).await;
    let before = snapshot(&e).await;
    let run = spawn(e.child(&[
        "run",
        &scenario("registry-firewall-deny"),
        "--quiet",
        "--report-dir",
        "r",
    ]));
    wait_event(&e.dir.path().join("r"), "asserted").await;
    // more throttled answers than the ARM client retries on its own, and a Kubernetes API
    // that drops connections
    e.lab
        .knobs()
        .set("arm", Knob::next(Fault::TooManyRequests { retry_after_secs: 1 }, 10))
        .unwrap();
    e.lab.knobs().set("kube", Knob::next(Fault::DropConnection, 4)).unwrap();
    let out = run.wait_with_output().unwrap();
    e.lab.knobs().clear_all();
    let summary = lab_support::all_text(&e.dir.path().join("r"));
    assert_eq!(out.status.code(), Some(0), "{}\n{summary}", text(&out));
    assert_eq!(snapshot(&e).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_be_restored_stays_pending_everywhere_and_exits_3() {
    require_lab!();
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let e = external_lab(None).await;
    let before = snapshot(&e).await;
    let target = with_restore_timeout(&e, "3s");
    let cmd = e.child_in(
        e.dir.path(),
        &target,
        &["run", &scenario("registry-firewall-deny"), "--quiet", "--report-dir", "r"],
    );
    let run = spawn(cmd);
    wait_event(&e.dir.path().join("r"), "asserted").await;
    e.lab.knobs().set("arm", Knob::probability(Fault::ServerError, 1.0)).unwrap();
    let out = run.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    e.lab.knobs().clear_all();

    let local: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(local_journal(e.dir.path())).unwrap())
            .unwrap();
    let unfinished = |doc: &serde_json::Value| {
        doc["entries"].as_array().unwrap().iter().any(|x| x["state"] != "done")
    };
    assert!(unfinished(&local), "local copy: {local}");
    let api = kube::Api::<ConfigMap>::namespaced(e.kube.client().clone(), LAB_JOURNAL_NAMESPACE);
    let cms = api.list(&Default::default()).await.unwrap().items;
    let cluster: Vec<serde_json::Value> = cms
        .iter()
        .filter_map(|c| c.data.as_ref()?.get("journal.json"))
        .map(|t| serde_json::from_str(t).unwrap())
        .collect();
    assert!(cluster.iter().any(unfinished), "cluster copy still there and unfinished");

    let out = e.child(&["recover"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(snapshot(&e).await, before);
}
