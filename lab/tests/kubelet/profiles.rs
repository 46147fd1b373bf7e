//! Kubelet release profiles over the whole lab: the same pull failures (a missing tag, then
//! the kubelet identity's AcrPull deleted) under kubelets playing 1.27, 1.31 and 1.33, each
//! on its own API store, all pulling through the same real containerd from the real
//! registry behind the ACR front door. The pods' events and waiting messages differ exactly
//! where the releases differ (docs/lab-profiles.md) and nowhere else. Needs root + Debian
//! containerd and docker-registry.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use acr_chaos_lab::kube::{Kind, SharedStore, Store};
use acr_chaos_lab::kubelet::creds::AcrCredentialProvider;
use acr_chaos_lab::kubelet::{Kubelet, KubeletConfig, KubeletProfile};
use acr_chaos_lab::lab::Lab;
use acr_chaos_lab::world::roles;
use serde_json::{Value, json};

use crate::containerd_support::{REGISTRY_BIN, prerequisites};

const SCALE: f64 = 0.02;
const NS: &str = "profiles";

struct Node {
    profile: &'static str,
    store: SharedStore,
    _kubelet: Kubelet,
}

fn provider(lab: &Lab) -> AcrCredentialProvider {
    let st = lab.state().read();
    AcrCredentialProvider {
        match_images: vec!["*.azurecr.io".into()],
        imds_url: format!("{}/metadata/identity/oauth2/token", lab.authority_host()),
        client_id: st.world.cluster.kubelet_identity.client_id.clone(),
        tenant_id: st.world.tenant_id.clone(),
        endpoints: HashMap::from([(lab.login_server().to_string(), lab.registry_url())]),
        http: AcrCredentialProvider::http_client(Some(&lab.ca().cert_pem())).unwrap(),
    }
}

async fn node(lab: &Lab, profile: &'static str) -> Node {
    let store = Store::new();
    store.create(&Kind::Namespace, None, json!({"metadata": {"name": NS}})).unwrap();
    let mut cfg = KubeletConfig::for_world(&lab.state().read().world);
    cfg.time_scale = SCALE;
    cfg.profile = KubeletProfile::named(profile).unwrap().clone();
    cfg.credential_provider = Some(provider(lab));
    let cri = lab.containerd().expect("containerd on").cri().await.unwrap();
    Node { profile, _kubelet: Kubelet::start(store.clone(), cri, cfg).unwrap(), store }
}

fn pod(name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"containers": [{"name": "probe", "image": image, "imagePullPolicy": "Always"}]},
    })
}

/// What a user reads after a failed pull: the `Failed to pull image` event and the
/// container's waiting message once it is in back-off.
#[derive(Debug)]
struct Seen {
    failed_event: String,
    backoff_waiting: String,
}

async fn pull_failure(n: &Node, name: &str, image: &str) -> Seen {
    n.store.create(&Kind::Pod, Some(NS), pod(name, image)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let p = n.store.get(&Kind::Pod, Some(NS), name).unwrap();
        let w = &p["status"]["containerStatuses"][0]["state"]["waiting"];
        let (events, _) = n.store.list(&Kind::Event, Some(NS), None, None).unwrap();
        let failed = events
            .iter()
            .filter(|e| e["involvedObject"]["name"] == name)
            .filter_map(|e| e["message"].as_str())
            .find(|m| m.starts_with("Failed to pull image"));
        if let (Some(f), Some("ImagePullBackOff")) = (failed, w["reason"].as_str()) {
            return Seen {
                failed_event: f.to_string(),
                backoff_waiting: w["message"].as_str().unwrap_or("").to_string(),
            };
        }
        assert!(Instant::now() < deadline, "{}: {name} never reached back-off: {p:#}", n.profile);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn detach(lab: &Lab) {
    let mut st = lab.state().write();
    let oid = st.world.cluster.kubelet_identity.object_id.clone();
    let now = st.clock.now();
    for a in st.role_assignments.iter_mut() {
        if a.principal_id.eq_ignore_ascii_case(&oid) && a.role_guid() == roles::ACR_PULL {
            a.deleted_at = Some(now);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_differ_exactly_where_the_releases_do() {
    if !prerequisites(
        "kubelet_profiles",
        &[acr_chaos_lab::containerd::CONTAINERD_BIN, REGISTRY_BIN],
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::builder()
        .state_dir(tmp.path())
        .time_scale(SCALE)
        .propagation_delay(Duration::ZERO)
        .containerd(true)
        .start()
        .await
        .expect("lab starts");
    let login = lab.login_server().to_string();
    let (old, mid, new) =
        (node(&lab, "1.27").await, node(&lab, "1.31").await, node(&lab, "1.33").await);

    // A missing tag: containerd answers gRPC NotFound, which every release keeps as
    // `rpc error: code = NotFound desc = …`. Same event on all three; only 1.32+ repeats
    // the error in the back-off waiting message.
    let missing = format!("{login}/probe/hello:does-not-exist");
    let (a, b, c) = tokio::join!(
        pull_failure(&old, "missing", &missing),
        pull_failure(&mid, "missing", &missing),
        pull_failure(&new, "missing", &missing)
    );
    eprintln!("missing tag: {a:#?}\n{c:#?}");
    assert!(a.failed_event.contains(": rpc error: code = NotFound desc = "), "{a:?}");
    assert_eq!(a.failed_event, b.failed_event);
    assert_eq!(a.failed_event, c.failed_event);
    let bare = format!("Back-off pulling image \"{missing}\"");
    assert_eq!(a.backoff_waiting, bare);
    assert_eq!(b.backoff_waiting, bare);
    let err =
        c.failed_event.strip_prefix(&format!("Failed to pull image \"{missing}\": ")).unwrap();
    assert_eq!(c.backoff_waiting, format!("{bare}: ErrImagePull: {err}"));

    // AcrPull gone: the node's credential provider fails. 1.27's in-tree provider still
    // hands the kubelet its anonymous entry (an empty AuthConfig), 1.31+'s exec plugin
    // hands nothing; containerd pulls anonymously either way, so the registry's answer is
    // the same anonymous 401. 1.27 keeps gRPC's Unknown prefix, 1.28+ strips it.
    detach(&lab);
    let image = format!("{login}/probe/hello:v1");
    let (a, b, c) = tokio::join!(
        pull_failure(&old, "detached", &image),
        pull_failure(&mid, "detached", &image),
        pull_failure(&new, "detached", &image)
    );
    eprintln!("detached: {a:#?}\n{b:#?}\n{c:#?}");
    let head = format!("Failed to pull image \"{image}\": ");
    let err = c.failed_event.strip_prefix(&head).unwrap();
    assert!(
        err.starts_with(&format!("failed to pull and unpack image \"{image}\""))
            && err
                .ends_with("failed to fetch anonymous token: unexpected status: 401 Unauthorized"),
        "{err}"
    );
    assert_eq!(a.failed_event, format!("{head}rpc error: code = Unknown desc = {err}"));
    assert_eq!(b.failed_event, c.failed_event);
    let bare = format!("Back-off pulling image \"{image}\"");
    assert_eq!(a.backoff_waiting, bare);
    assert_eq!(b.backoff_waiting, bare);
    assert_eq!(c.backoff_waiting, format!("{bare}: ErrImagePull: {err}"));
}
