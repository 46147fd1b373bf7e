//! End to end over the whole lab: the kubelet emulator resolves ACR credentials through
//! the node's credential provider (kubelet identity → Entra managed-identity endpoint →
//! ACR `/oauth2/exchange`) and pulls through containerd's CRI from the real registry
//! behind the ACR front door. After the kubelet identity's AcrPull assignment is deleted
//! (in the lab State, as the ARM emulator's DELETE does), a new pod shows ErrImagePull →
//! ImagePullBackOff with containerd's text, the event sequence of signatures.md §2 and the
//! time-scaled back-off intervals. Needs root + Debian containerd and docker-registry.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use acr_chaos_lab::kube::{Kind, Store, WatchEvent};
use acr_chaos_lab::kubelet::creds::AcrCredentialProvider;
use acr_chaos_lab::kubelet::{Kubelet, KubeletConfig};
use acr_chaos_lab::lab::Lab;
use acr_chaos_lab::world::roles;
use base64::Engine as _;
use serde_json::{Value, json};

use crate::containerd_support::{REGISTRY_BIN, events_of, prerequisites, wait_pod, waiting};

const SCALE: f64 = 0.02;

fn pod(name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"acr-chaos/run": "e2e"}},
        "spec": {"containers": [{"name": "probe", "image": image, "imagePullPolicy": "Always"}]},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acr_detach_turns_pulls_into_401_backoff() {
    if !prerequisites("kubelet_acr", &[acr_chaos_lab::containerd::CONTAINERD_BIN, REGISTRY_BIN]) {
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
    let ctd = lab.containerd().expect("containerd on");
    let (client_id, tenant) = {
        let st = lab.state().read();
        (st.world.cluster.kubelet_identity.client_id.clone(), st.world.tenant_id.clone())
    };
    let login = lab.login_server().to_string();
    let provider = AcrCredentialProvider {
        match_images: vec![
            "*.azurecr.io".into(),
            "*.azurecr.cn".into(),
            "*.azurecr.de".into(),
            "*.azurecr.us".into(),
        ],
        imds_url: format!("{}/metadata/identity/oauth2/token", lab.authority_host()),
        client_id,
        tenant_id: tenant,
        endpoints: HashMap::from([(login.clone(), lab.registry_url())]),
        http: AcrCredentialProvider::http_client(Some(&lab.ca().cert_pem())).unwrap(),
    };
    let probe_ref =
        acr_chaos_lab::kubelet::image::parse_normalized(&format!("{login}/probe/hello:v1"))
            .unwrap();
    match provider.provide(&probe_ref).await {
        Some(Ok(c)) => assert_eq!(c.username, acr_chaos_lab::kubelet::creds::ACR_REFRESH_USER),
        other => panic!("credential provider works while attached: {other:?}"),
    }
    let store = Store::new();
    let ns = "acr-e2e";
    store.create(&Kind::Namespace, None, json!({"metadata": {"name": ns}})).unwrap();
    let mut cfg = KubeletConfig::for_world(&lab.state().read().world);
    cfg.time_scale = SCALE;
    cfg.credential_provider = Some(provider);
    let _kubelet = Kubelet::start(store.clone(), ctd.cri().await.unwrap(), cfg).unwrap();

    // Attached: the pull works with the provider's refresh token.
    let image = format!("{login}/probe/hello:v1");
    store.create(&Kind::Pod, Some(ns), pod("before", &image)).unwrap();
    let p = wait_pod(&store, ns, "before", "Running", |p| p["status"]["phase"] == "Running").await;
    assert_eq!(p["status"]["containerStatuses"][0]["ready"], true);
    let reasons: Vec<String> = events_of(&store, ns, "before")
        .iter()
        .map(|e| e["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(reasons, ["Scheduled", "Pulling", "Pulled", "Created", "Started"]);

    // A wrong pull secret for the registry is tried first, then the provider's
    // credential, which works: the pod runs.
    let cfg =
        json!({"auths": {login.clone(): {"username": "probe-pull", "password": "wrong-password"}}});
    store
        .create(
            &Kind::Secret,
            Some(ns),
            json!({
                "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "wrong"},
                "type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": base64::engine::general_purpose::STANDARD.encode(cfg.to_string())},
            }),
        )
        .unwrap();
    let mut with_secret = pod("wrong-secret", &image);
    with_secret["spec"]["imagePullSecrets"] = json!([{"name": "wrong"}]);
    store.create(&Kind::Pod, Some(ns), with_secret).unwrap();
    wait_pod(&store, ns, "wrong-secret", "Running", |p| p["status"]["phase"] == "Running").await;

    // Detach: delete the kubelet identity's AcrPull assignment.
    {
        let mut st = lab.state().write();
        let oid = st.world.cluster.kubelet_identity.object_id.clone();
        let now = st.clock.now();
        let mut n = 0;
        for a in st.role_assignments.iter_mut() {
            if a.principal_id.eq_ignore_ascii_case(&oid)
                && a.role_guid() == roles::ACR_PULL
                && a.is_live()
            {
                a.deleted_at = Some(now);
                n += 1;
            }
        }
        assert_eq!(n, 1, "one AcrPull assignment for the kubelet identity");
    }

    let mut ev_rx =
        store.watch(&Kind::Event, Some(ns), Some(&store.resource_version()), None, None).unwrap();
    store.create(&Kind::Pod, Some(ns), pod("after", &image)).unwrap();
    let mut log: Vec<(Instant, String, String)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while log.iter().filter(|e| e.2.starts_with("Failed to pull image")).count() < 3 {
        let ev = tokio::time::timeout_at(deadline.into(), ev_rx.recv())
            .await
            .expect("events keep coming")
            .unwrap();
        let (WatchEvent::Added(e) | WatchEvent::Modified(e)) = ev else { continue };
        if e["involvedObject"]["name"] == "after" {
            log.push((
                Instant::now(),
                e["reason"].as_str().unwrap().into(),
                e["message"].as_str().unwrap().into(),
            ));
        }
    }
    let failed = log.iter().find(|e| e.2.starts_with("Failed to pull image")).unwrap().2.clone();
    eprintln!("pull error after detach: {failed}");
    let prefix = format!(
        "Failed to pull image \"{image}\": failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": "
    );
    assert!(failed.starts_with(&prefix), "{failed}");
    // containerd 1.6's authorizer text; "anonymous" when the credential provider failed
    // and no credentials were sent, "oauth" when the refresh token was sent and refused.
    // Which one depends on the front door's /oauth2/exchange policy for identities
    // without a role (see the report); both are the real 401 path.
    assert!(
        failed.ends_with("failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized")
            || failed.ends_with("failed to authorize: failed to fetch oauth token: unexpected status: 401 Unauthorized"),
        "{failed}"
    );
    assert!(!failed.contains("rpc error"), "kubelet >= 1.28 strips the Unknown prefix: {failed}");

    let mut firsts: Vec<(String, String)> = Vec::new();
    for (_, r, m) in &log {
        if !firsts.iter().any(|(r2, m2)| r2 == r && m2 == m) {
            firsts.push((r.clone(), m.clone()));
        }
    }
    let got: Vec<&str> = firsts
        .iter()
        .map(|(r, m)| if r == "Failed" { m.split(':').next().unwrap() } else { r.as_str() })
        .collect();
    assert_eq!(
        got,
        [
            "Scheduled",
            "Pulling",
            "Failed to pull image \"acrchaoslab.azurecr.io/probe/hello",
            "Error",
            "BackOff",
            "Error"
        ],
        "{firsts:#?}"
    );
    assert_eq!(firsts[3].1, "Error: ErrImagePull");
    assert_eq!(firsts[5].1, "Error: ImagePullBackOff");
    let fails: Vec<Instant> =
        log.iter().filter(|e| e.2.starts_with("Failed to pull")).map(|e| e.0).collect();
    let pulls: Vec<Instant> = log.iter().filter(|e| e.1 == "Pulling").map(|e| e.0).collect();
    for k in 0..2 {
        let gap = pulls[k + 1].duration_since(fails[k]);
        let want = Duration::from_secs(10 * (1 << k)).mul_f64(SCALE);
        assert!(
            gap >= want.mul_f64(0.9) && gap <= want + Duration::from_millis(250),
            "gap {k}: {gap:?}, want {want:?}"
        );
    }
    let p =
        wait_pod(&store, ns, "after", "ImagePullBackOff", |p| waiting(p).0 == "ImagePullBackOff")
            .await;
    let err = failed.strip_prefix(&format!("Failed to pull image \"{image}\": ")).unwrap();
    assert_eq!(waiting(&p).1, format!("Back-off pulling image \"{image}\": ErrImagePull: {err}"));
    assert_eq!(p["status"]["phase"], "Pending");
    // The pod that already runs is not affected.
    assert_eq!(store.get(&Kind::Pod, Some(ns), "before").unwrap()["status"]["phase"], "Running");
}

/// When the node's credential provider fails (here: a kubelet identity Entra does not
/// know), the kubelet logs it and pulls anonymously: ACR answers the anonymous 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_credential_provider_falls_back_to_anonymous_pull() {
    if !prerequisites("kubelet_acr", &[acr_chaos_lab::containerd::CONTAINERD_BIN, REGISTRY_BIN]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::builder()
        .state_dir(tmp.path())
        .time_scale(SCALE)
        .containerd(true)
        .start()
        .await
        .expect("lab starts");
    let login = lab.login_server().to_string();
    let provider = AcrCredentialProvider {
        match_images: vec!["*.azurecr.io".into()],
        imds_url: format!("{}/metadata/identity/oauth2/token", lab.authority_host()),
        client_id: "11111111-0000-4000-8000-000000000bad".into(),
        tenant_id: lab.tenant_id(),
        endpoints: HashMap::from([(login.clone(), lab.registry_url())]),
        http: AcrCredentialProvider::http_client(Some(&lab.ca().cert_pem())).unwrap(),
    };
    let image_ref =
        acr_chaos_lab::kubelet::image::parse_normalized(&format!("{login}/probe/hello:v1"))
            .unwrap();
    let err =
        provider.provide(&image_ref).await.expect("provider handles *.azurecr.io").unwrap_err();
    assert!(err.contains("managed identity token"), "{err}");
    let store = Store::new();
    let ns = "acr-anon";
    store.create(&Kind::Namespace, None, json!({"metadata": {"name": ns}})).unwrap();
    let mut cfg = KubeletConfig::for_world(&lab.state().read().world);
    cfg.time_scale = SCALE;
    cfg.credential_provider = Some(provider);
    let _kubelet =
        Kubelet::start(store.clone(), lab.containerd().unwrap().cri().await.unwrap(), cfg).unwrap();
    let image = format!("{login}/probe/hello:v1");
    store.create(&Kind::Pod, Some(ns), pod("anon", &image)).unwrap();
    let p = wait_pod(&store, ns, "anon", "ErrImagePull", |p| {
        !waiting(p).1.is_empty() && waiting(p).0 != "ContainerCreating"
    })
    .await;
    let (reason, message) = waiting(&p);
    assert!(reason == "ErrImagePull" || reason == "ImagePullBackOff", "{reason}");
    assert!(
        message.ends_with(&format!(
            "failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized"
        )),
        "{message}"
    );
}
