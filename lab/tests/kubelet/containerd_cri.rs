//! containerd (Debian 1.6, child process) with the CRI plugin, pulling from a plain local
//! docker-registry through `certs.d/<host>/hosts.toml`. Needs root + the Debian packages.

use acr_chaos_lab::containerd::{Containerd, ContainerdOptions, RegistryHost};

use crate::containerd_support::{PlainRegistry, REGISTRY_BIN, prerequisites, push_image};

const HOST: &str = "registry.plain.lab";

fn plain_host(port: u16) -> RegistryHost {
    RegistryHost {
        host: HOST.into(),
        endpoint: format!("http://127.0.0.1:{port}"),
        ca_file: None,
        plain_http: true,
    }
}

#[tokio::test]
async fn containerd_cri_pulls_reresolves_and_reports_grpc_codes() {
    if !prerequisites("containerd_cri", &[acr_chaos_lab::containerd::CONTAINERD_BIN, REGISTRY_BIN])
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let reg = PlainRegistry::start(tmp.path()).await;
    let d1 = push_image(&reg.url(), "probe/hello", "v1", "one").await;

    let ctd = Containerd::start(ContainerdOptions::new(tmp.path()).host(plain_host(reg.port)))
        .await
        .expect("containerd starts with CRI");
    assert!(ctd.version().starts_with("containerd"), "{}", ctd.version());
    let cri = ctd.cri().await.unwrap();

    // A good pull returns the image id; the image is then present with a size.
    let image = format!("{HOST}/probe/hello:v1");
    let id1 = cri.pull_image(&image, None, None).await.expect("pull works");
    assert!(id1.starts_with("sha256:"), "{id1}");
    let st = cri.image_status(&image).await.unwrap().expect("image present");
    assert_eq!(st.id, id1);
    assert!(st.size > 0);
    assert!(st.repo_digests.iter().any(|d| d.ends_with(&d1)), "{:?} vs {d1}", st.repo_digests);

    // containerd re-resolves the tag on every PullImage: move the tag, pull again.
    let d2 = push_image(&reg.url(), "probe/hello", "v1", "two").await;
    assert_ne!(d1, d2);
    let id2 = cri.pull_image(&image, None, None).await.unwrap();
    assert_ne!(id1, id2, "PullImage re-resolved the moved tag");

    // RemoveImage makes it absent (and is idempotent).
    cri.remove_image(&image).await.unwrap();
    assert!(cri.image_status(&image).await.unwrap().is_none());
    cri.remove_image(&image).await.unwrap();

    // A missing tag is NotFound with containerd's resolver text.
    let missing = format!("{HOST}/probe/hello:nope");
    let err = cri.pull_image(&missing, None, None).await.unwrap_err();
    assert_eq!(err.code(), Some(tonic::Code::NotFound), "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with("rpc error: code = NotFound desc = failed to pull and unpack image"),
        "{text}"
    );
    assert!(
        text.contains(&format!("failed to resolve reference \"{missing}\": {missing}: not found")),
        "{text}"
    );

    // A closed port is Unknown with Go's dial error.
    drop(reg);
    let err = cri.pull_image(&image, None, None).await.unwrap_err();
    assert_eq!(err.code(), Some(tonic::Code::Unknown), "{err}");
    assert!(err.to_string().contains("connect: connection refused"), "{err}");
}

#[tokio::test]
async fn containerd_start_fails_clearly_when_cri_is_missing_from_socket() {
    if !prerequisites("containerd_cri", &[acr_chaos_lab::containerd::CONTAINERD_BIN]) {
        return;
    }
    // A CRI client on a socket nobody serves gives a Connect error naming the socket.
    let tmp = tempfile::tempdir().unwrap();
    let sock = tmp.path().join("none.sock");
    let err = acr_chaos_lab::cri::CriClient::connect(&sock).await.unwrap_err();
    assert!(err.to_string().contains("none.sock"), "{err}");
}
