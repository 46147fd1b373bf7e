//! The kubelet mounted in the `Lab` builder (`with_kubelet(true)`): pods created in the
//! API emulator's store are bound and pulled through containerd; a private repository on
//! the hub registry fails without a pull secret and runs with one. Needs root + Debian
//! containerd and docker-registry (loud SKIP otherwise).

use acr_chaos_lab::kube::Kind;
use acr_chaos_lab::lab::Lab;
use base64::Engine as _;
use serde_json::{Value, json};

use crate::containerd_support::{REGISTRY_BIN, prerequisites, wait_pod};

fn pod(name: &str, image: &str, secrets: &[&str]) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "containers": [{"name": "probe", "image": image, "imagePullPolicy": "Always"}],
            "imagePullSecrets": secrets.iter().map(|s| json!({"name": s})).collect::<Vec<_>>(),
        },
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_with_kubelet_pulls_acr_and_private_hub_images() {
    if !prerequisites("kubelet_lab", &[acr_chaos_lab::containerd::CONTAINERD_BIN, REGISTRY_BIN]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::builder()
        .state_dir(tmp.path())
        .time_scale(0.02)
        .with_kubelet(true)
        .start()
        .await
        .expect("lab starts");
    assert!(lab.kubelet().is_some());
    let env = std::fs::read_to_string(tmp.path().canonicalize().unwrap().join("lab.env")).unwrap();
    assert!(env.contains("ACR_CHAOS_LAB_CONTAINERD_SOCKET="), "{env}");
    let store = lab.kube().store().clone();
    let ns = "kubelet-lab";
    store.create(&Kind::Namespace, None, json!({"metadata": {"name": ns}})).unwrap();

    let acr_image = format!("{}/probe/hello:v1", lab.login_server());
    store.create(&Kind::Pod, Some(ns), pod("acr", &acr_image, &[])).unwrap();
    wait_pod(&store, ns, "acr", "Running", |p| p["status"]["phase"] == "Running").await;

    // Private repository on the hub registry, no secret: the registry refuses the pull.
    let (hub, user, password, repo) = {
        let st = lab.state().read();
        let p = &st.world.private_registry;
        (p.host.clone(), p.username.clone(), p.password.clone(), p.images[0].clone())
    };
    let hub_image = format!("{hub}/{repo}");
    store.create(&Kind::Pod, Some(ns), pod("hub-nosecret", &hub_image, &[])).unwrap();
    let p = wait_pod(&store, ns, "hub-nosecret", "ErrImagePull", |p| {
        p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
            .as_str()
            .is_some_and(|r| r == "ErrImagePull" || r == "ImagePullBackOff")
    })
    .await;
    let msg = p["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    eprintln!("hub without secret: {msg}");
    assert!(msg.contains(&format!("failed to pull and unpack image \"{hub_image}\"")), "{msg}");
    assert!(
        msg.contains("pull access denied, repository does not exist or may require authorization"),
        "{msg}"
    );

    // With a dockerconfigjson secret for the hub: it runs.
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let cfg =
        json!({"auths": {hub.clone(): {"username": user, "password": password, "auth": auth}}});
    store
        .create(
            &Kind::Secret,
            Some(ns),
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "hub-pull"},
                "type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": base64::engine::general_purpose::STANDARD.encode(cfg.to_string())},
            }),
        )
        .unwrap();
    store.create(&Kind::Pod, Some(ns), pod("hub-secret", &hub_image, &["hub-pull"])).unwrap();
    wait_pod(&store, ns, "hub-secret", "Running", |p| p["status"]["phase"] == "Running").await;
    lab.stop().await;
}
