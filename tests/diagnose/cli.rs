//! `acr-chaos diagnose` as a user runs it: exit codes on bad input, `lab.env` parsing,
//! and (as root with containerd + docker-registry) the binary against a running lab.

use acr_chaos::diagnose::cli::{lab_pins, parse_env};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_acr-chaos"))
}

#[test]
fn missing_lab_state_is_bad_input_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["diagnose", "web", "-n", "shop", "--lab-state"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lab.env"), "{err}");
    assert!(err.contains("--target"), "{err}");
}

#[test]
fn bad_target_file_is_bad_input_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.yaml");
    std::fs::write(&t, "apiVersion: acr-chaos/v1\nkind: Target\nname: x\n").unwrap();
    let out = bin().args(["diagnose", "web", "--target"]).arg(&t).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("t.yaml"), "{err}");
    let missing = bin().args(["diagnose", "web", "--target", "/nonexistent/t.yaml"]).output();
    assert_eq!(missing.unwrap().status.code(), Some(2));
}

#[test]
fn target_and_lab_state_conflict() {
    let out = bin()
        .args(["diagnose", "web", "--target", "a.yaml", "--lab-state", "/tmp"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
}

#[test]
fn lab_env_is_parsed_and_registry_hosts_pinned() {
    let text = "# Written by `acr-chaos lab up`\nexport ACR_CHAOS_LAB_REGISTRY='acr.azurecr.io'\nexport ACR_CHAOS_LAB_REGISTRY_URL='https://127.0.0.1:4443'\nexport ACR_CHAOS_LAB_HUB='registry.hub.lab'\nexport ACR_CHAOS_LAB_HUB_URL='https://127.0.0.1:5443'\nexport Q='it'\\''s'\n";
    let vars = parse_env(text);
    assert_eq!(vars["ACR_CHAOS_LAB_REGISTRY"], "acr.azurecr.io");
    assert_eq!(vars["Q"], "it's");
    let pins = lab_pins(|k| vars.get(k).cloned());
    assert_eq!(
        pins,
        vec![
            ("acr.azurecr.io".to_string(), "127.0.0.1:4443".parse().unwrap()),
            ("registry.hub.lab".to_string(), "127.0.0.1:5443".parse().unwrap())
        ]
    );
    assert!(lab_pins(|_| None).is_empty());
}

fn prerequisites(test: &str) -> bool {
    let bins = [acr_chaos_lab::containerd::CONTAINERD_BIN, "/usr/bin/docker-registry"];
    let mut missing: Vec<String> =
        bins.iter().filter(|b| !std::path::Path::new(b).exists()).map(|b| b.to_string()).collect();
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(1) != 0 {
        missing.push("root privileges".into());
    }
    if missing.is_empty() {
        return true;
    }
    let msg = format!("{test}: needs {} (containerd, docker-registry; root)", missing.join(", "));
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true and prerequisites are missing: {msg}");
    }
    eprintln!("SKIPPED: ***** {msg} *****");
    false
}

/// The binary against a running lab (`--lab-state`): a pod with a missing tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(clippy::too_many_lines, reason = "one end-to-end story, step by step")]
async fn binary_diagnoses_a_pod_in_a_running_lab() {
    if !prerequisites("diagnose_cli") {
        return;
    }
    use acr_chaos_lab::kube::Kind;
    use serde_json::{Value, json};
    let tmp = tempfile::tempdir().unwrap();
    let lab = acr_chaos_lab::lab::Lab::builder()
        .state_dir(tmp.path())
        .time_scale(0.02)
        .with_kubelet(true)
        .start()
        .await
        .expect("lab starts");
    let store = lab.kube().store().clone();
    store.create(&Kind::Namespace, None, json!({"metadata": {"name": "shop"}})).unwrap();
    let image = format!("{}/probe/hello:no-such-tag", lab.login_server());
    store
        .create(
            &Kind::Pod,
            Some("shop"),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
                   "spec": {"containers": [{"name": "web", "image": image, "imagePullPolicy": "Always"}]}}),
        )
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let p = store.get(&Kind::Pod, Some("shop"), "web").unwrap();
        if p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "ErrImagePull" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no ErrImagePull: {p:#}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let state = tmp.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        bin()
            .args(["diagnose", "web", "-n", "shop", "--output", "json", "--lab-state"])
            .arg(&state)
            .env_remove("KUBECONFIG")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert!(v["causes"].as_array().unwrap().iter().any(|c| c["id"] == "not-found"), "{v:#}");
    let tag = v["checks"].as_array().unwrap().iter().find(|c| c["name"] == "image-tag").unwrap();
    assert_eq!(tag["status"], "fail", "{tag:#}");
    assert!(
        v["fixes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["command"].as_str().unwrap().contains(
                "az acr repository show-tags --name acrchaoslab --repository probe/hello"
            )),
        "{v:#}"
    );
    // the same through a target file (as `run` writes it for the lab), credential and CA
    // from the lab's variables in the environment
    let facts = acr_chaos::engine::lab::LabFacts::from_lab(&lab);
    let (target, _) = acr_chaos::engine::lab::write_target(&facts, tmp.path()).unwrap();
    let vars = parse_env(&std::fs::read_to_string(tmp.path().join("lab.env")).unwrap());
    let out = tokio::task::spawn_blocking(move || {
        bin()
            .args(["diagnose", "web", "-n", "shop", "--output", "json", "--target"])
            .arg(&target)
            .envs(vars.iter().filter(|(k, _)| k.starts_with("ACR_CHAOS_LAB_")))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let v2: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v2["checks"], v["checks"], "--target and --lab-state see the same");
    // unknown pod: exit 2
    let state = tmp.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        bin().args(["diagnose", "nope", "-n", "shop", "--lab-state"]).arg(&state).output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pod shop/nope not found"));
    lab.stop().await;
}
