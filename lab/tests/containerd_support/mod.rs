//! Shared helpers for the containerd / kubelet integration tests: prerequisite checks
//! (loud SKIP, or a panic under CI=true), a plain docker-registry child process (HTTP,
//! no auth) and a tiny OCI image pushed to it over the registry API.
#![allow(dead_code, reason = "shared by several test modules, each using a part")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// `true` when the test may run; otherwise prints SKIPPED (or panics when CI=true).
pub fn prerequisites(test: &str, bins: &[&str]) -> bool {
    let mut missing: Vec<String> =
        bins.iter().filter(|b| !Path::new(b).exists()).map(|b| b.to_string()).collect();
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(1) != 0 {
        missing.push("root privileges".into());
    }
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "{test}: needs {} (Debian packages containerd, docker-registry; run as root)",
        missing.join(", ")
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true and prerequisites are missing: {msg}");
    }
    eprintln!("SKIPPED: ***** {msg} *****");
    false
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A docker-registry child process serving plain HTTP on 127.0.0.1, no auth.
pub struct PlainRegistry {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl PlainRegistry {
    pub async fn start(dir: &Path) -> PlainRegistry {
        let port = free_port();
        let storage = dir.join("registry-data");
        std::fs::create_dir_all(&storage).unwrap();
        let cfg = dir.join("registry.yml");
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                storage.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("registry.log")).unwrap();
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn docker-registry");
        let reg = PlainRegistry { child, port, dir: dir.to_path_buf() };
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(r) = client.get(format!("{}/v2/", reg.url())).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "docker-registry did not start; see {}/registry.log",
                dir.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        reg
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for PlainRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Build a one-layer OCI image whose single file holds `content` and push it as
/// `repo:tag`. Returns the manifest digest.
pub async fn push_image(registry_url: &str, repo: &str, tag: &str, content: &str) -> String {
    // Layer: a gzip'd tar with /hello.txt.
    let mut tar_bytes = Vec::new();
    {
        let mut b = tar::Builder::new(&mut tar_bytes);
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, "hello.txt", content.as_bytes()).unwrap();
        b.finish().unwrap();
    }
    let diff_id = sha(&tar_bytes);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar_bytes).unwrap();
    let layer = gz.finish().unwrap();
    let config = serde_json::json!({
        "architecture": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
        "os": "linux",
        "config": {"Cmd": ["/hello"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    });
    let config = serde_json::to_vec(&config).unwrap();
    let client = reqwest::Client::new();
    for blob in [&layer, &config] {
        let r =
            client.post(format!("{registry_url}/v2/{repo}/blobs/uploads/")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 202, "start upload");
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        let loc = if loc.starts_with("http") { loc } else { format!("{registry_url}{loc}") };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let r = client
            .put(format!("{loc}{sep}digest={}", sha(blob)))
            .header("content-type", "application/octet-stream")
            .body(blob.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "finish upload");
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(&layer), "size": layer.len()}],
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let r = client
        .put(format!("{registry_url}/v2/{repo}/manifests/{tag}"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "put manifest: {:?}", r.text().await);
    sha(&manifest)
}

/// The first container's waiting `(reason, message)`, empty when it is not waiting.
pub fn waiting(p: &serde_json::Value) -> (String, String) {
    let w = &p["status"]["containerStatuses"][0]["state"]["waiting"];
    (w["reason"].as_str().unwrap_or("").into(), w["message"].as_str().unwrap_or("").into())
}

/// Wait, on a watch of pod `ns/name`, until `f(pod)` holds; panics naming `what` after
/// 30 s (a bound for a broken kubelet, far above any healthy wait at the tests' scale).
pub async fn wait_pod(
    store: &acr_chaos_lab::kube::SharedStore,
    ns: &str,
    name: &str,
    what: &str,
    f: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    use acr_chaos_lab::kube::{Kind, WatchEvent};
    let selector = format!("metadata.name={name}");
    let mut rx =
        store.watch(&Kind::Pod, Some(ns), None, None, Some(&selector)).expect("watch pods");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(WatchEvent::Added(p) | WatchEvent::Modified(p))) if f(&p) => return p,
            Ok(Some(_)) => {}
            Ok(None) => panic!("the pod watch closed while waiting for {what}"),
            Err(_) => {
                panic!("timed out waiting for {what}: {:#?}", store.get(&Kind::Pod, Some(ns), name))
            }
        }
    }
}

/// The events about object `name` in `ns`.
pub fn events_of(
    store: &acr_chaos_lab::kube::SharedStore,
    ns: &str,
    name: &str,
) -> Vec<serde_json::Value> {
    use acr_chaos_lab::kube::Kind;
    let (mut evs, _) = store.list(&Kind::Event, Some(ns), None, None).expect("list events");
    evs.retain(|e| e["involvedObject"]["name"] == name);
    evs
}
