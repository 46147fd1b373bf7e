//! kind/ without Docker: what can be run here, run for real (kind/README.md says what not).
//!
//! 1. The containerd configuration kind nodes get — the very `certs.d` files
//!    kind/create-cluster.sh writes and its kind config mounts at /etc/containerd/certs.d,
//!    with the `config_path` patch pointing there — is loaded by a real containerd (the
//!    Debian one the lab runs), which then pulls the lab's images through the ACR front
//!    door, the team registry's front door and the private hub, trusting the lab CA only
//!    through those files (without them: x509 failure).
//! 2. The "external cluster" path: the script in `--kubeconfig` mode (an existing cluster
//!    instead of a new kind one; the lab's API server stands in for kind's) copies what the
//!    target needs into the cluster and writes the target, and `acr-chaos run --target`
//!    passes a scenario on it as on any non-embedded target.

use crate::ci_support::{self, repo_root};
use crate::lab_support;
use crate::require_lab;
use acr_chaos::clients::kube::Kube;
use acr_chaos::engine::lab::{LAB_JOURNAL_NAMESPACE, LabFacts, lab_pull_secrets, write_target};
use acr_chaos_lab::containerd::{Containerd, ContainerdOptions};
use acr_chaos_lab::cri::AuthConfig;
use std::path::Path;
use std::process::Command;

fn script(lab_env: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let out = Command::new(repo_root().join("kind/create-cluster.sh"))
        .arg("--lab-env")
        .arg(lab_env)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("run kind/create-cluster.sh");
    assert!(
        out.status.success(),
        "create-cluster.sh failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

fn login(username: &str, password: &str) -> Option<AuthConfig> {
    Some(AuthConfig { username: username.into(), password: password.into(), ..Default::default() })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kind_nodes_containerd_config_pulls_through_the_lab_front_doors() {
    require_lab!();
    let tmp = tempfile::tempdir().unwrap();
    // Listening on another address than 127.0.0.1, as `lab up --listen` does for kind
    // nodes (here one they cannot have, but the certificates must name it all the same).
    let lab = acr_chaos_lab::Lab::builder()
        .state_dir(tmp.path().join("lab"))
        .listen("127.0.0.2".parse().unwrap())
        .start()
        .await
        .expect("lab starts");
    let lab_env = lab.write_env().unwrap();
    let out = tmp.path().join("kind");
    script(&lab_env, &out, &["--config-only"]);

    // The kind config: containerd reads registry hosts from the mounted certs.d.
    let cfg = ci_support::yaml(&out.join("kind-config.yaml"));
    assert_eq!(cfg["kind"], "Cluster");
    assert_eq!(cfg["apiVersion"], "kind.x-k8s.io/v1alpha4");
    let patch = cfg["containerdConfigPatches"][0].as_str().unwrap();
    assert!(patch.contains("[plugins.\"io.containerd.grpc.v1.cri\".registry]"), "{patch}");
    assert!(patch.contains("config_path = \"/etc/containerd/certs.d\""), "{patch}");
    let mount = &cfg["nodes"][0]["extraMounts"][0];
    assert_eq!(mount["containerPath"], "/etc/containerd/certs.d");
    assert_eq!(mount["hostPath"], out.join("certs.d").display().to_string());

    // Those files, byte for byte, as the certs.d of a real containerd (the lab's own
    // config_path, the same setting the patch makes).
    let ctd = Containerd::start(ContainerdOptions::new(tmp.path().join("node")))
        .await
        .expect("containerd starts");
    let certs_d = ctd.dir().join("certs.d");
    copy_dir(&out.join("certs.d"), &certs_d);
    let cri = ctd.cri().await.unwrap();
    let acr_hosts = std::fs::read_to_string(certs_d.join(lab.login_server()).join("hosts.toml"));
    assert!(acr_hosts.as_ref().unwrap().contains("[host.\"https://127.0.0.2:"), "{acr_hosts:?}");
    // Only the [host] pulls: containerd tries `server` after it, and a second entry that
    // pulls would dial the same front door again under a packet drop (issue #11).
    let server_part = acr_hosts.as_ref().unwrap().split("\n[host.").next().unwrap();
    assert!(server_part.contains("\ncapabilities = [\"push\"]"), "{acr_hosts:?}");

    let facts = lab.facts();
    let acr_token = {
        let st = lab.state().read();
        let t = st.tokens.first().expect("the default world has a registry token");
        (t.name.clone(), t.passwords[0].value.clone())
    };
    let team = facts.team_token.clone().expect("team token");
    let pulls = [
        (facts.acr_image.clone(), login(&acr_token.0, &acr_token.1)),
        (facts.team_image.clone().unwrap(), login(&team.username, &team.password)),
        (
            facts.private_image.clone().unwrap(),
            login(&facts.private_login.username, &facts.private_login.password),
        ),
    ];
    for (image, auth) in &pulls {
        let id = cri.pull_image(image, auth.clone(), None).await;
        assert!(id.as_ref().is_ok_and(|i| i.starts_with("sha256:")), "{image}: {id:?}");
    }

    // The CA comes from those files: without it, the front door's certificate is unknown.
    let (image, auth) = &pulls[0];
    cri.remove_image(image).await.unwrap();
    let host = image.split('/').next().unwrap();
    let hosts_toml = certs_d.join(host).join("hosts.toml");
    let without_ca: String = std::fs::read_to_string(&hosts_toml)
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with("ca = "))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&hosts_toml, without_ca).unwrap();
    let err = cri.pull_image(image, auth.clone(), None).await.unwrap_err().to_string();
    assert!(err.contains("x509") || err.contains("certificate"), "{err}");
    drop(ctd);
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_script_targets_an_existing_cluster_and_run_passes_on_it() {
    require_lab!();
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("lab");
    let lab = acr_chaos_lab::Lab::builder()
        .state_dir(&state)
        .time_scale(0.05)
        .with_kubelet(true)
        .start()
        .await
        .expect("lab starts");
    let facts = LabFacts::from_lab(&lab);
    let lab_env = lab.write_env().unwrap();
    write_target(&facts, &state).unwrap();
    // What `lab up` creates in its API server: the journal namespace, the pull secrets.
    let kube = Kube::connect(Some(&facts.kubeconfig), None).await.unwrap();
    kube.ensure_namespace(LAB_JOURNAL_NAMESPACE, "setup").await.unwrap();
    for s in lab_pull_secrets(&lab) {
        kube.put_secret(LAB_JOURNAL_NAMESPACE, &s).await.unwrap();
    }
    // The lab's API server stands in for kind's: the script copies the journal namespace
    // and the private registry's pull secret into "the cluster" from the lab's API server.
    let out = tmp.path().join("kind");
    script(&lab_env, &out, &["--kubeconfig", &facts.kubeconfig.display().to_string()]);
    let target = out.join("target.yaml");
    let text = std::fs::read_to_string(&target).unwrap();
    assert!(text.contains(&format!("  kubeconfig: {}\n", facts.kubeconfig.display())), "{text}");
    assert!(text.contains("name: acr-chaos\n"), "{text}");

    let p = lab.chaos_principal().unwrap();
    let reports = tmp.path().join("reports");
    let run = lab_support::bin()
        .current_dir(tmp.path())
        .arg("run")
        .arg(repo_root().join("scenarios/image-tag-missing.yaml"))
        .args(["--quiet", "--target"])
        .arg(&target)
        .arg("--report-dir")
        .arg(&reports)
        .env("ACR_CHAOS_LAB_RUNNER_CLIENT_ID", &p.client_id)
        .env("ACR_CHAOS_LAB_RUNNER_CLIENT_SECRET", &p.secret)
        .env("ACR_CHAOS_LAB_CLIENT_ID", &p.client_id)
        .env("ACR_CHAOS_LAB_CLIENT_SECRET", &p.secret)
        .env("ACR_CHAOS_LAB_TENANT_ID", lab.tenant_id())
        .env("ACR_CHAOS_LAB_CA", lab.ca_path())
        .output()
        .unwrap();
    let log =
        format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert_eq!(run.status.code(), Some(0), "run --target on the script's target:\n{log}");
    let junit = lab_support::all_text(&reports);
    assert!(junit.contains("<testsuite") && junit.contains("failures=\"0\""), "{junit}");
    assert!(junit.contains("image-tag-missing"), "{junit}");
    lab.stop().await;
}

#[test]
fn the_kind_script_passes_shellcheck() {
    let shellcheck = match ci_support::tool("shellcheck") {
        Ok(p) => p,
        Err(e) => {
            ci_support::require("shellcheck (tool environment)", Some(e));
            return;
        }
    };
    let out = Command::new(shellcheck)
        .args(["kind/create-cluster.sh", "scripts/tools_npm.sh"])
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}
