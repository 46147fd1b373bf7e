//! The in-cluster deployment (deploy/kubernetes/acr-chaos.yaml): every object parsed as
//! its Kubernetes type, the RBAC equal to docs/acr-chaos-rbac.yaml's, the target and scenarios in its
//! ConfigMaps valid for acr-chaos when mounted the way the kubelet mounts a ConfigMap, the
//! whole file applied with the real `kubectl` to the lab's API, and acr-chaos finding the
//! cluster from inside a "pod" (service-account token, KUBERNETES_SERVICE_HOST) with no
//! flag, running a scenario there.

use crate::ci_support::*;
use acr_chaos::engine::lab::{LAB_JOURNAL_NAMESPACE, LabFacts, write_target};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const MANIFEST: &str = "deploy/kubernetes/acr-chaos.yaml";

#[derive(Default)]
struct Objects {
    namespaces: Vec<Namespace>,
    accounts: Vec<ServiceAccount>,
    cluster_roles: Vec<ClusterRole>,
    cluster_bindings: Vec<ClusterRoleBinding>,
    roles: Vec<Role>,
    bindings: Vec<RoleBinding>,
    config_maps: Vec<ConfigMap>,
    claims: Vec<PersistentVolumeClaim>,
    cron_jobs: Vec<CronJob>,
}

fn typed<T: serde::de::DeserializeOwned>(doc: &Value) -> T {
    serde_json::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("{} {}: {e}", doc["kind"], doc["metadata"]["name"]))
}

/// Every document as its k8s-openapi type (unknown fields fail: a typo is not ignored).
fn objects() -> Objects {
    let mut o = Objects::default();
    for doc in yaml_docs(&repo_root().join(MANIFEST)) {
        assert_unknown_fields_absent(&doc);
        match (doc["apiVersion"].as_str().unwrap(), doc["kind"].as_str().unwrap()) {
            ("v1", "Namespace") => o.namespaces.push(typed(&doc)),
            ("v1", "ServiceAccount") => o.accounts.push(typed(&doc)),
            ("v1", "ConfigMap") => o.config_maps.push(typed(&doc)),
            ("v1", "PersistentVolumeClaim") => o.claims.push(typed(&doc)),
            ("rbac.authorization.k8s.io/v1", "ClusterRole") => o.cluster_roles.push(typed(&doc)),
            ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
                o.cluster_bindings.push(typed(&doc))
            }
            ("rbac.authorization.k8s.io/v1", "Role") => o.roles.push(typed(&doc)),
            ("rbac.authorization.k8s.io/v1", "RoleBinding") => o.bindings.push(typed(&doc)),
            ("batch/v1", "CronJob") => o.cron_jobs.push(typed(&doc)),
            (v, k) => panic!("unexpected {v} {k} in {MANIFEST}"),
        }
    }
    o
}

/// k8s-openapi ignores unknown fields; round-trip each object and compare so that a
/// misspelt field (`concurencyPolicy`) fails.
fn assert_unknown_fields_absent(doc: &Value) {
    fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(doc: &Value) -> Value {
        serde_json::to_value(typed::<T>(doc)).unwrap()
    }
    let back = match doc["kind"].as_str().unwrap() {
        "Namespace" => round_trip::<Namespace>(doc),
        "ServiceAccount" => round_trip::<ServiceAccount>(doc),
        "ConfigMap" => round_trip::<ConfigMap>(doc),
        "PersistentVolumeClaim" => round_trip::<PersistentVolumeClaim>(doc),
        "ClusterRole" => round_trip::<ClusterRole>(doc),
        "ClusterRoleBinding" => round_trip::<ClusterRoleBinding>(doc),
        "Role" => round_trip::<Role>(doc),
        "RoleBinding" => round_trip::<RoleBinding>(doc),
        "CronJob" => round_trip::<CronJob>(doc),
        k => panic!("unexpected kind {k}"),
    };
    assert_eq!(
        &normalize(doc.clone()),
        &normalize(back),
        "{} {}: a field k8s-openapi does not know",
        doc["kind"],
        doc["metadata"]["name"]
    );
}

/// Numbers as strings and empty objects dropped, as the round trip writes them.
fn normalize(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, normalize(v)))
                .filter(|(_, v)| !matches!(v, Value::Object(m) if m.is_empty()))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(normalize).collect()),
        Value::Number(n) => Value::String(n.to_string()),
        other => other,
    }
}

/// The rules of docs/acr-chaos-rbac.yaml (what docs/azure.md documents and the lab's
/// least-privileged runner holds).
fn documented_rules() -> (Vec<PolicyRule>, Vec<PolicyRule>) {
    let docs = yaml_docs(&repo_root().join("docs/acr-chaos-rbac.yaml"));
    let rules = |kind: &str| -> Vec<PolicyRule> {
        let d = docs.iter().find(|d| d["kind"] == kind).unwrap();
        serde_json::from_value(d["rules"].clone()).unwrap()
    };
    (rules("ClusterRole"), rules("Role"))
}

#[test]
fn manifests_are_kubernetes_objects_with_least_privilege_and_workload_identity() {
    let o = objects();
    let ns = o.namespaces[0].metadata.name.clone().unwrap();
    assert_eq!(ns, "acr-chaos");
    // Everything namespaced lives in its own namespace.
    for m in o
        .accounts
        .iter()
        .map(|x| &x.metadata)
        .chain(o.roles.iter().map(|x| &x.metadata))
        .chain(o.bindings.iter().map(|x| &x.metadata))
        .chain(o.config_maps.iter().map(|x| &x.metadata))
        .chain(o.claims.iter().map(|x| &x.metadata))
        .chain(o.cron_jobs.iter().map(|x| &x.metadata))
    {
        assert_eq!(m.namespace.as_deref(), Some(ns.as_str()), "{:?}", m.name);
    }
    // RBAC exactly as documented.
    let (cluster_rules, journal_rules) = documented_rules();
    assert_eq!(o.cluster_roles.len(), 1);
    assert_eq!(o.cluster_roles[0].rules.as_ref().unwrap(), &cluster_rules);
    assert_eq!(o.roles[0].rules.as_ref().unwrap(), &journal_rules);
    let sa = &o.accounts[0];
    let sa_name = sa.metadata.name.clone().unwrap();
    for subjects in
        o.cluster_bindings.iter().map(|b| &b.subjects).chain(o.bindings.iter().map(|b| &b.subjects))
    {
        let s = &subjects.as_ref().unwrap()[0];
        assert_eq!(
            (s.kind.as_str(), s.name.as_str(), s.namespace.as_deref()),
            ("ServiceAccount", sa_name.as_str(), Some(ns.as_str()))
        );
    }
    assert_eq!(
        o.cluster_bindings[0].role_ref.name,
        o.cluster_roles[0].metadata.name.clone().unwrap()
    );
    assert_eq!(o.bindings[0].role_ref.name, o.roles[0].metadata.name.clone().unwrap());
    // AKS workload identity: the account's client id, the pod label the webhook looks for.
    let ann = sa.metadata.annotations.as_ref().unwrap();
    assert!(ann.contains_key("azure.workload.identity/client-id"));
    let cj = &o.cron_jobs[0];
    let spec = cj.spec.as_ref().unwrap();
    assert_eq!(spec.concurrency_policy.as_deref(), Some("Forbid"));
    let job = spec.job_template.spec.as_ref().unwrap();
    assert_eq!(job.backoff_limit, Some(0), "a chaos run is not retried blindly");
    let pod_meta = job.template.metadata.as_ref().unwrap();
    assert_eq!(pod_meta.labels.as_ref().unwrap()["azure.workload.identity/use"], "true");
    let pod = job.template.spec.as_ref().unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some(sa_name.as_str()));
    assert_eq!(pod.security_context.as_ref().unwrap().run_as_non_root, Some(true));
    assert!(pod.termination_grace_period_seconds.unwrap() >= 600, "time to restore on SIGTERM");
    // recover first, with the same target and working directory (the local journal) as run
    let init = &pod.init_containers.as_ref().unwrap()[0];
    let run = &pod.containers[0];
    let args = |c: &k8s_openapi::api::core::v1::Container| c.args.clone().unwrap();
    assert_eq!(args(init)[0], "recover");
    assert_eq!(args(run)[0], "run");
    let target_of = |a: Vec<String>| a[a.iter().position(|x| x == "--target").unwrap() + 1].clone();
    assert_eq!(target_of(args(init)), target_of(args(run)));
    assert_eq!(init.working_dir, run.working_dir);
    assert_eq!(init.image, run.image);
    for c in [init, run] {
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
    }
    // reports on the claim, under the working directory
    let report_dir = {
        let a = args(run);
        a[a.iter().position(|x| x == "--report-dir").unwrap() + 1].clone()
    };
    let data = run.volume_mounts.as_ref().unwrap().iter().find(|m| m.name == "data").unwrap();
    assert!(report_dir.starts_with(&data.mount_path));
    let vol = pod.volumes.as_ref().unwrap().iter().find(|v| v.name == "data").unwrap();
    assert_eq!(
        vol.persistent_volume_claim.as_ref().unwrap().claim_name,
        o.claims[0].metadata.name.clone().unwrap()
    );
}

/// A directory laid out like a ConfigMap volume: `..<timestamp>/` with the files,
/// `..data` -> it, and one symlink per key.
fn config_map_volume(dir: &Path, cm: &ConfigMap) {
    let stamp = dir.join("..2026_12_01_02_17_00.123456789");
    std::fs::create_dir_all(&stamp).unwrap();
    for (k, v) in cm.data.as_ref().unwrap() {
        std::fs::write(stamp.join(k), v).unwrap();
        std::os::unix::fs::symlink(format!("..data/{k}"), dir.join(k)).unwrap();
    }
    std::os::unix::fs::symlink(stamp.file_name().unwrap(), dir.join("..data")).unwrap();
}

#[test]
fn the_config_maps_hold_a_valid_target_and_scenarios_as_mounted() {
    let o = objects();
    let dir = tempfile::tempdir().unwrap();
    let cm = |name: &str| {
        o.config_maps.iter().find(|c| c.metadata.name.as_deref() == Some(name)).unwrap()
    };
    let (target, scenarios) = (dir.path().join("target"), dir.path().join("scenarios"));
    config_map_volume(&target, cm("acr-chaos-target"));
    config_map_volume(&scenarios, cm("acr-chaos-scenarios"));
    let n = cm("acr-chaos-scenarios").data.as_ref().unwrap().len();
    let out = Command::new(env!("CARGO_BIN_EXE_acr-chaos"))
        .arg("validate")
        .arg(target.join("target.yaml"))
        .arg(&scenarios)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    // each scenario once (the ..data copies are not read again)
    assert!(text.contains(&format!("{n} scenario(s), 1 target(s)")), "{text}");
    // The in-cluster target names no kubeconfig (the service account is used).
    let t: Value =
        serde_saphyr::from_str(&cm("acr-chaos-target").data.as_ref().unwrap()["target.yaml"])
            .unwrap();
    assert!(t.get("kubernetes").is_none());
    assert_eq!(t["azure"]["credential"]["kind"], "workload-identity");
    assert_eq!(t["journalNamespace"], "acr-chaos");
    // The scenario copies say what the shipped files say.
    for (file, text) in cm("acr-chaos-scenarios").data.as_ref().unwrap() {
        let copy: Value = serde_saphyr::from_str(text).unwrap();
        let shipped = yaml(&repo_root().join("scenarios").join(file));
        for field in ["name", "fault", "probe", "expect", "recovery"] {
            assert_eq!(
                copy[field], shipped[field],
                "{file}: {field} differs from scenarios/{file}"
            );
        }
    }
}

fn kubectl_and_lab_missing() -> Option<String> {
    if !is_root() {
        return Some("not root".into());
    }
    for b in ["kubectl", "containerd", "docker-registry", "unshare", "mount"] {
        if find_bin(b).is_none() {
            return Some(format!("{b} not installed (make deps)"));
        }
    }
    None
}

fn kubectl(kubeconfig: &Path, home: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(find_bin("kubectl").unwrap())
        .args(args)
        .arg("--request-timeout=30s")
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", home)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_the_manifests_to_the_lab_api() {
    if !require("kubectl apply of deploy/kubernetes on the lab", kubectl_and_lab_missing()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lab = acr_chaos_lab::Lab::builder()
        .state_dir(dir.path().join("lab"))
        .start()
        .await
        .expect("lab starts");
    let kc = lab.kube().kubeconfig.clone();
    let manifest = repo_root().join(MANIFEST);
    let (ok, out) = kubectl(&kc, dir.path(), &["apply", "-f", manifest.to_str().unwrap()]);
    assert!(ok, "kubectl apply:\n{out}");
    for obj in [
        "namespace/acr-chaos",
        "serviceaccount/acr-chaos",
        "clusterrole.rbac.authorization.k8s.io/acr-chaos-runner",
        "clusterrolebinding.rbac.authorization.k8s.io/acr-chaos-runner",
        "role.rbac.authorization.k8s.io/acr-chaos-journal",
        "rolebinding.rbac.authorization.k8s.io/acr-chaos-journal",
        "configmap/acr-chaos-target",
        "configmap/acr-chaos-scenarios",
        "persistentvolumeclaim/acr-chaos-data",
        "cronjob.batch/acr-chaos",
    ] {
        assert!(out.contains(&format!("{obj} created")), "{obj}:\n{out}");
    }
    // Served back as stored; a second apply changes nothing.
    let (ok, json) =
        kubectl(&kc, dir.path(), &["-n", "acr-chaos", "get", "cronjob", "acr-chaos", "-o", "json"]);
    assert!(ok, "{json}");
    let cj: CronJob = serde_json::from_str(&json).unwrap();
    let spec = cj.spec.unwrap();
    assert_eq!(spec.concurrency_policy.as_deref(), Some("Forbid"));
    assert_eq!(spec.schedule, "17 2 * * *");
    let (ok, out) = kubectl(&kc, dir.path(), &["apply", "-f", manifest.to_str().unwrap()]);
    assert!(ok && !out.contains("created") && !out.contains(" configured"), "second apply:\n{out}");
    lab.stop().await;
}

/// acr-chaos inside a "pod": a private mount namespace where the lab's token and CA sit at
/// the service-account path, KUBERNETES_SERVICE_HOST/PORT set, no KUBECONFIG and no
/// ~/.kube: it finds the lab's API with no flag and runs a scenario there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acr_chaos_uses_the_service_account_in_a_pod() {
    if !require("in-cluster config on the lab", kubectl_and_lab_missing()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lab = acr_chaos_lab::Lab::builder()
        .state_dir(dir.path().join("lab"))
        .time_scale(0.05)
        .with_kubelet(true)
        .start()
        .await
        .expect("lab starts");
    let facts = LabFacts::from_lab(&lab);
    let (target, _) = write_target(&facts, dir.path()).unwrap();
    let kube =
        acr_chaos::clients::kube::Kube::connect(Some(&facts.kubeconfig), None).await.unwrap();
    kube.ensure_namespace(LAB_JOURNAL_NAMESPACE, "setup").await.unwrap();
    // the target as a CronJob's ConfigMap holds it: no kubernetes section
    let text = std::fs::read_to_string(&target).unwrap();
    let kube_lines = format!("kubernetes:\n  kubeconfig: {}\n", facts.kubeconfig.display());
    let in_cluster_target = dir.path().join("in-cluster.yaml");
    std::fs::write(&in_cluster_target, text.replace(&kube_lines, "")).unwrap();
    // the service account volume
    let kc: Value = yaml(&facts.kubeconfig);
    let server = url::Url::parse(kc["clusters"][0]["cluster"]["server"].as_str().unwrap()).unwrap();
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD
        .decode(kc["clusters"][0]["cluster"]["certificate-authority-data"].as_str().unwrap())
        .unwrap();
    let sa = dir.path().join("sa");
    std::fs::create_dir_all(&sa).unwrap();
    std::fs::write(sa.join("token"), kc["users"][0]["user"]["token"].as_str().unwrap()).unwrap();
    std::fs::write(sa.join("ca.crt"), ca).unwrap();
    std::fs::write(sa.join("namespace"), "acr-chaos").unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let p = lab.chaos_principal().unwrap();
    let script = format!(
        "set -e; mount -t tmpfs tmpfs /run; mkdir -p /run/secrets/kubernetes.io; \
         ln -s '{sa}' /run/secrets/kubernetes.io/serviceaccount; \
         test -e /var/run/secrets/kubernetes.io/serviceaccount/token; \
         exec \"$0\" \"$@\"",
        sa = sa.display()
    );
    let out = tokio::process::Command::new(find_bin("unshare").unwrap())
        .args(["--mount", "--propagation", "private", "bash", "-c", &script])
        .arg(env!("CARGO_BIN_EXE_acr-chaos"))
        .args(["run", "--only", "image", "--quiet", "--report-dir"])
        .arg(dir.path().join("reports"))
        .arg("--target")
        .arg(&in_cluster_target)
        .arg(repo_root().join("scenarios"))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("KUBERNETES_SERVICE_HOST", server.host_str().unwrap())
        .env("KUBERNETES_SERVICE_PORT", server.port().unwrap().to_string())
        .env("ACR_CHAOS_LAB_CLIENT_ID", &p.client_id)
        .env("ACR_CHAOS_LAB_CLIENT_SECRET", &p.secret)
        .env("ACR_CHAOS_LAB_TENANT_ID", lab.tenant_id())
        .env("ACR_CHAOS_LAB_CA", lab.ca_path())
        .output()
        .await
        .unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{text}");
    let junit = find_file(&dir.path().join("reports"), "junit.xml").expect("a report");
    let junit = std::fs::read_to_string(junit).unwrap();
    assert!(junit.contains("name=\"image-tag-missing\"") && !junit.contains("<failure"), "{junit}");
    lab.stop().await;
}

fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()? {
        let p = e.ok()?.path();
        if p.is_dir() {
            if let Some(f) = find_file(&p, name) {
                return Some(f);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}
