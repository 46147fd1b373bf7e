//! Captures real containerd CRI `PullImage` error texts from the acr-chaos lab, for the
//! classifier's test data (`containerd-1.6-lab.tsv`). Not built by cargo: to re-capture
//! (e.g. with another containerd), copy it to `src/main.rs` of a scratch crate depending on
//! `acr-chaos-lab = { path = "<repo>/lab" }`, tokio, reqwest (rustls), serde_json, tempfile
//! and bytes, then run it as root (containerd + docker-registry from Debian). It prints
//! `name<TAB>text` lines; the expected causes are added by hand from the fault each line
//! injected.
use acr_chaos_lab::containerd::RegistryHost;
use acr_chaos_lab::cri::{AuthConfig, CriClient};
use acr_chaos_lab::lab::Lab;
use std::io::{Read, Write};
use std::time::Duration;

const KUBELET_CLIENT: &str = "5b0c3a1e-0000-4000-8000-00000000c1d1";
const NULL_GUID: &str = "00000000-0000-0000-0000-000000000000";
const ATTACH: &str = "0f2a8d54-0000-4000-8000-0000000acd01";

fn auth(user: &str, pw: &str, server: &str) -> Option<AuthConfig> {
    // containerd 1.6 drops credentials whose server_address differs from the endpoint host
    // (the lab maps registry names to 127.0.0.1:<port>), so leave it empty.
    let _ = server;
    Some(AuthConfig { username: user.into(), password: pw.into(), ..Default::default() })
}

async fn cap(cri: &CriClient, name: &str, image: &str, a: Option<AuthConfig>) {
    let r = tokio::time::timeout(Duration::from_secs(90), cri.pull_image(image, a, None)).await;
    let text = match r {
        Err(_) => "TIMEOUT".to_string(),
        Ok(Ok(id)) => format!("OK {id}"),
        Ok(Err(e)) => e.to_string(),
    };
    let _ = cri.remove_image(image).await;
    println!("{name}\t{}", text.replace('\n', "\\n"));
}

fn http(lab: &Lab) -> reqwest::Client {
    reqwest::Client::builder().tls_backend_preconfigured((*lab.rustls_client_config()).clone()).timeout(Duration::from_secs(20)).build().unwrap()
}

async fn kubelet_rt(lab: &Lab, h: &reqwest::Client) -> String {
    let url = format!("{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/&client_id={KUBELET_CLIENT}", lab.authority_host());
    let v: serde_json::Value = h.get(url).header("Metadata", "true").send().await.unwrap().json().await.unwrap();
    let aad = v["access_token"].as_str().unwrap().to_string();
    let v: serde_json::Value = h.post(format!("{}/oauth2/exchange", lab.registry_url()))
        .form(&[("grant_type", "access_token"), ("service", lab.login_server()), ("tenant", &lab.tenant_id()), ("access_token", &aad)])
        .send().await.unwrap().json().await.unwrap();
    v["refresh_token"].as_str().unwrap().to_string()
}

async fn arm_token(lab: &Lab, h: &reqwest::Client) -> String {
    let p = lab.chaos_principal().unwrap();
    let v: serde_json::Value = h.post(format!("{}/{}/oauth2/v2.0/token", lab.authority_host(), lab.tenant_id()))
        .form(&[("grant_type", "client_credentials"), ("client_id", p.client_id.as_str()), ("client_secret", p.secret.as_str()), ("scope", "https://management.azure.com/.default")])
        .send().await.unwrap().json().await.unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

async fn patch_network(lab: &Lab, h: &reqwest::Client, bearer: &str, props: serde_json::Value) {
    let url = format!("{}{}?api-version=2025-04-01", lab.arm_endpoint(), lab.registry_id());
    let r = h.patch(url).bearer_auth(bearer).json(&serde_json::json!({"properties": props})).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    tokio::time::sleep(Duration::from_millis(400)).await;
}

async fn knob(lab: &Lab, h: &reqwest::Client, body: serde_json::Value) {
    let r = h.post(format!("{}/_lab/knobs", lab.arm_endpoint())).json(&body).send().await.unwrap();
    assert!(r.status().is_success(), "knob {}", r.status());
}

/// A TCP server answering every request with a fixed HTTP response.
fn fixed_http(status: &'static str) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = s.read(&mut buf);
                let _ = write!(s, "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}");
            });
        }
    });
    port
}

fn free_port() -> u16 { std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port() }

async fn plain_registry(dir: &std::path::Path) -> (std::process::Child, u16) {
    let port = free_port();
    let storage = dir.join("plain-data");
    std::fs::create_dir_all(&storage).unwrap();
    let cfg = dir.join("plain.yml");
    std::fs::write(&cfg, format!("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n", storage.display())).unwrap();
    let child = std::process::Command::new("/usr/bin/docker-registry").arg("serve").arg(&cfg)
        .stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let c = reqwest::Client::new();
    for _ in 0..100 {
        if let Ok(r) = c.get(format!("http://127.0.0.1:{port}/v2/")).send().await && r.status().is_success() { break; }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (child, port)
}

async fn push_blob(c: &reqwest::Client, base: &str, repo: &str, data: bytes::Bytes, digest: &str) {
    let r = c.post(format!("{base}/v2/{repo}/blobs/uploads/")).send().await.unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let loc = if loc.starts_with("http") { loc } else { format!("{base}{loc}") };
    let sep = if loc.contains('?') { '&' } else { '?' };
    let r = c.put(format!("{loc}{sep}digest={digest}")).body(data).send().await.unwrap();
    assert!(r.status().is_success(), "blob {}", r.status());
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::builder().state_dir(tmp.path()).time_scale(0.01).propagation_delay(Duration::from_secs(30)).lro_delay(Duration::from_secs(2))
        .containerd(true).start().await.expect("lab starts");
    let ctd = lab.containerd().unwrap();
    eprintln!("containerd: {}", ctd.version());
    let cri = ctd.cri().await.unwrap();
    let h = http(&lab);
    let login = lab.login_server().to_string();
    let img = format!("{login}/probe/hello:v1");
    let tok = || auth("probe-pull", "lab-token-password-1-not-a-secret", &login);

    cap(&cri, "acr-ok-token", &img, tok()).await;
    cap(&cri, "acr-anonymous", &img, None).await;
    cap(&cri, "acr-anonymous-missing-tag", &format!("{login}/probe/hello:nope"), None).await;
    cap(&cri, "acr-token-wrong-password", &img, auth("probe-pull", "wrong-password", &login)).await;
    cap(&cri, "acr-token-missing-tag", &format!("{login}/probe/hello:nope"), tok()).await;
    cap(&cri, "acr-token-out-of-scope-repo", &format!("{login}/probe/busybox:1.36"), tok()).await;
    let rt = kubelet_rt(&lab, &h).await;
    cap(&cri, "acr-kubelet-missing-repo", &format!("{login}/nope/missing:1"), auth(NULL_GUID, &rt, &login)).await;
    cap(&cri, "acr-expired-sp-secret", &img, auth("1a2b3c4d-0000-4000-8000-0000000e4b1e", "lab-expired-secret-not-a-real-secret", &login)).await;
    let arm = arm_token(&lab, &h).await;
    patch_network(&lab, &h, &arm, serde_json::json!({"networkRuleSet": {"defaultAction": "Deny", "ipRules": []}})).await;
    cap(&cri, "acr-firewall-anonymous", &img, None).await;
    cap(&cri, "acr-firewall-kubelet", &img, auth(NULL_GUID, &rt, &login)).await;
    patch_network(&lab, &h, &arm, serde_json::json!({"networkRuleSet": {"defaultAction": "Allow", "ipRules": []}, "publicNetworkAccess": "Disabled"})).await;
    cap(&cri, "acr-public-access-disabled-token", &img, tok()).await;
    patch_network(&lab, &h, &arm, serde_json::json!({"publicNetworkAccess": "Enabled"})).await;
    // Detach: delete the kubelet identity's AcrPull, wait out propagation.
    let url = format!("{}{}/providers/Microsoft.Authorization/roleAssignments/{ATTACH}?api-version=2022-04-01", lab.arm_endpoint(), lab.registry_id());
    let r = h.delete(url).bearer_auth(&arm).send().await.unwrap();
    eprintln!("detach: {}", r.status());
    tokio::time::sleep(Duration::from_millis(900)).await;
    let rt2 = kubelet_rt(&lab, &h).await;
    cap(&cri, "acr-detached-kubelet", &img, auth(NULL_GUID, &rt2, &login)).await;
    // Private hub.
    let hub = lab.hub_host().to_string();
    cap(&cri, "hub-private-anonymous", &format!("{hub}/acme/private-app:1.0"), None).await;
    cap(&cri, "hub-private-wrong-password", &format!("{hub}/acme/private-app:1.0"), auth("acme-bot", "wrong", &hub)).await;
    // Knobs: throttling and server errors.
    knob(&lab, &h, serde_json::json!({"endpoint": "registry", "fault": {"kind": "tooManyRequests", "retryAfterSecs": 1}, "next": 20})).await;
    cap(&cri, "acr-registry-429", &img, tok()).await;
    let _ = h.delete(format!("{}/_lab/knobs", lab.arm_endpoint())).send().await;
    knob(&lab, &h, serde_json::json!({"endpoint": "acr-token", "fault": {"kind": "tooManyRequests", "retryAfterSecs": 1}, "next": 20})).await;
    cap(&cri, "acr-token-429", &img, tok()).await;
    let _ = h.delete(format!("{}/_lab/knobs", lab.arm_endpoint())).send().await;
    knob(&lab, &h, serde_json::json!({"endpoint": "registry", "fault": {"kind": "serverError"}, "next": 20})).await;
    cap(&cri, "acr-registry-500", &img, tok()).await;
    let _ = h.delete(format!("{}/_lab/knobs", lab.arm_endpoint())).send().await;
    knob(&lab, &h, serde_json::json!({"endpoint": "acr-token", "fault": {"kind": "serverError"}, "next": 20})).await;
    cap(&cri, "acr-token-500", &img, None).await;
    let _ = h.delete(format!("{}/_lab/knobs", lab.arm_endpoint())).send().await;
    knob(&lab, &h, serde_json::json!({"endpoint": "registry", "fault": {"kind": "dropConnection"}, "next": 20})).await;
    cap(&cri, "acr-registry-drop", &img, tok()).await;
    let _ = h.delete(format!("{}/_lab/knobs", lab.arm_endpoint())).send().await;

    // Transport faults through hosts.toml.
    let set = |host: &str, endpoint: String, ca: bool| {
        ctd.set_host(&RegistryHost { host: host.into(), endpoint, ca_file: if ca { Some(lab.ca_path().to_path_buf()) } else { None }, plain_http: false }).unwrap();
    };
    set("dns.lab.example", "https://registry.does-not-exist.invalid".into(), false);
    cap(&cri, "dns-no-such-host", "dns.lab.example/probe/hello:v1", None).await;
    set("refused.lab.example", format!("https://127.0.0.1:{}", free_port()), false);
    cap(&cri, "connection-refused", "refused.lab.example/probe/hello:v1", None).await;
    set("tls.lab.example", format!("https://{}", lab.registry_addr()), false);
    cap(&cri, "tls-unknown-authority", "tls.lab.example/probe/hello:v1", None).await;
    let p = fixed_http("400 Bad Request");
    set("plainhttp.lab.example", format!("https://127.0.0.1:{p}"), false);
    cap(&cri, "tls-http-response-to-https", "plainhttp.lab.example/probe/hello:v1", None).await;
    let p = fixed_http("503 Service Unavailable");
    set("unavailable.lab.example", format!("http://127.0.0.1:{p}"), false);
    cap(&cri, "plain-503", "unavailable.lab.example/probe/hello:v1", None).await;
    let p = fixed_http("429 Too Many Requests");
    set("throttled.lab.example", format!("http://127.0.0.1:{p}"), false);
    cap(&cri, "plain-429", "throttled.lab.example/probe/hello:v1", None).await;
    let p = fixed_http("403 Forbidden");
    set("forbidden.lab.example", format!("http://127.0.0.1:{p}"), false);
    cap(&cri, "plain-403", "forbidden.lab.example/probe/hello:v1", None).await;

    // Platform mismatch on a plain registry.
    let (mut reg, port) = plain_registry(tmp.path()).await;
    let base = format!("http://127.0.0.1:{port}");
    let c = reqwest::Client::new();
    let im = acr_chaos_lab::oci::build_probe_image("multi/app", "1").unwrap();
    push_blob(&c, &base, "multi/app", im.layer.clone(), &im.layer_digest).await;
    push_blob(&c, &base, "multi/app", im.config.clone(), &im.config_digest).await;
    let r = c.put(format!("{base}/v2/multi/app/manifests/{}", im.manifest_digest)).header("content-type", acr_chaos_lab::oci::MEDIA_MANIFEST).body(im.manifest.clone()).send().await.unwrap();
    assert!(r.status().is_success(), "manifest {}", r.status());
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": acr_chaos_lab::oci::MEDIA_MANIFEST, "digest": im.manifest_digest, "size": im.manifest.len(), "platform": {"architecture": "arm64", "os": "linux"}}]});
    let r = c.put(format!("{base}/v2/multi/app/manifests/arm64-only")).header("content-type", "application/vnd.oci.image.index.v1+json").body(serde_json::to_vec(&index).unwrap()).send().await.unwrap();
    assert!(r.status().is_success(), "index {}", r.status());
    ctd.set_host(&RegistryHost { host: "plain.lab.example".into(), endpoint: base.clone(), ca_file: None, plain_http: true }).unwrap();
    cap(&cri, "plain-platform-mismatch", "plain.lab.example/multi/app:arm64-only", None).await;
    cap(&cri, "plain-missing-tag", "plain.lab.example/multi/app:nope", None).await;
    cap(&cri, "plain-missing-repo", "plain.lab.example/nope/missing:1", None).await;
    set("blackhole.lab.example", "https://10.255.255.1".into(), false);
    cap(&cri, "blackhole", "blackhole.lab.example/probe/hello:v1", None).await;
    let _ = reg.kill();
    lab.stop().await;
}
