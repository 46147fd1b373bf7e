//! The API emulator as mounted in a running `Lab`: kubeconfig and lab.env variables, the
//! real kubectl through them, the metrics endpoint, the store shared in-process.

use std::process::Command;

use acr_chaos_lab::kube::Kind;

use crate::acr_common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_serves_kube_api_with_kubeconfig() {
    if !acr_common::have(&["/usr/bin/docker-registry", "/usr/bin/kubectl"], false) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lab = acr_common::start(tmp.path(), false).await;
    let env = std::fs::read_to_string(tmp.path().join("lab.env")).unwrap();
    let var = |k: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("export {k}='")))
            .and_then(|v| v.strip_suffix('\''))
            .unwrap_or_else(|| panic!("{k} missing from lab.env:\n{env}"))
            .to_string()
    };
    let kubeconfig = var("KUBECONFIG");
    assert_eq!(
        std::path::Path::new(&kubeconfig),
        tmp.path().canonicalize().unwrap().join("kubeconfig")
    );
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(text.contains("current-context: aks-chaos-lab"));
    assert!(text.contains(&format!("server: {}", var("ACR_CHAOS_LAB_KUBE_API"))));
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&kubeconfig).unwrap().permissions().mode() & 0o777, 0o600);

    // The kubelet emulator and the HTTP API share one store.
    let mut p = serde_json::json!({"metadata": {"name": "in-process"},
        "spec": {"containers": [{"name": "c", "image": "acrchaoslab.azurecr.io/app:v1"}]}});
    p["metadata"]["labels"] = serde_json::json!({"via": "store"});
    lab.kube().store().create(&Kind::Pod, Some("default"), p).unwrap();
    let kc = kubeconfig.clone();
    let home = tmp.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("/usr/bin/kubectl")
            .args(["get", "pods", "-l", "via=store", "-o", "name", "--request-timeout=20s"])
            .env("KUBECONFIG", kc)
            .env("HOME", home)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "pod/in-process");

    let metrics =
        reqwest::get(var("ACR_CHAOS_LAB_METRICS_URL")).await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("kube_pod_info{namespace=\"default\",pod=\"in-process\""),
        "{metrics}"
    );
    lab.stop().await;
}
