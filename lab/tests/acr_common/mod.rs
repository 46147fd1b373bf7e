//! Helpers for the lab end-to-end tests (`azure::acr_*`, `kubelet::pull_ctr`, `kube::lab`):
//! start a lab, talk to its Entra / ARM / ACR endpoints over TLS, pull with `ctr`.
#![allow(dead_code, reason = "shared by several test binaries, each using a part")]

use std::path::Path;
use std::time::Duration;

use acr_chaos_lab::lab::{Lab, LabBuilder};

pub const KUBELET_CLIENT: &str = "5b0c3a1e-0000-4000-8000-00000000c1d1";
pub const KUBELET_OBJECT: &str = "9a7d3c2b-0000-4000-8000-00000000ab1d";
pub const ATTACH_ASSIGNMENT: &str = "0f2a8d54-0000-4000-8000-0000000acd01";
pub const ACR_PULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
pub const TOKEN_NAME: &str = "probe-pull";
pub const TOKEN_PASSWORD: &str = "lab-token-password-1-not-a-secret";
pub const NULL_GUID: &str = "00000000-0000-0000-0000-000000000000";

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    // /proc/self is owned by the process's effective uid.
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// Whether the system binaries are there (and we are root for containerd). Missing →
/// panic under CI=true, else a loud SKIPPED line and `false`.
pub fn have(binaries: &[&str], need_root: bool) -> bool {
    let mut missing: Vec<String> =
        binaries.iter().filter(|b| !Path::new(b).exists()).map(|b| b.to_string()).collect();
    if need_root && !is_root() {
        missing.push("root privileges".into());
    }
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "missing {}: install the Debian packages (make deps) and run as root",
        missing.join(", ")
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    false
}

/// A lab with fast clocks (propagation 30 s × 0.01 = 0.3 s) in a temp dir.
pub async fn start(dir: &Path, containerd: bool) -> Lab {
    builder(dir).containerd(containerd).start().await.expect("lab starts")
}

pub fn builder(dir: &Path) -> LabBuilder {
    Lab::builder()
        .state_dir(dir)
        .time_scale(0.01)
        .propagation_delay(Duration::from_secs(30))
        .lro_delay(Duration::from_secs(2))
}

pub fn http(lab: &Lab) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured((*lab.rustls_client_config()).clone())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("reqwest client")
}

/// A managed-identity token for the kubelet identity (IMDS style, on the Entra emulator).
pub async fn kubelet_entra_token(lab: &Lab, http: &reqwest::Client) -> String {
    let url = format!(
        "{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/&client_id={KUBELET_CLIENT}",
        lab.authority_host()
    );
    let resp = http.get(url).header("Metadata", "true").send().await.unwrap();
    assert!(resp.status().is_success(), "IMDS token: {}", resp.status());
    let v: serde_json::Value = resp.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

/// ACR refresh token for an Entra token (`POST /oauth2/exchange`).
pub async fn exchange(lab: &Lab, http: &reqwest::Client, aad: &str) -> reqwest::Response {
    http.post(format!("{}/oauth2/exchange", lab.registry_url()))
        .form(&[
            ("grant_type", "access_token"),
            ("service", lab.login_server()),
            ("tenant", &lab.tenant_id()),
            ("access_token", aad),
        ])
        .send()
        .await
        .unwrap()
}

pub async fn kubelet_refresh_token(lab: &Lab, http: &reqwest::Client) -> String {
    let aad = kubelet_entra_token(lab, http).await;
    let resp = exchange(lab, http, &aad).await;
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    v["refresh_token"].as_str().unwrap().to_string()
}

/// Client-credentials token of the chaos principal for ARM.
pub async fn arm_token(lab: &Lab, http: &reqwest::Client) -> String {
    let p = lab.chaos_principal().expect("world has a chaos principal");
    let resp = http
        .post(format!("{}/{}/oauth2/v2.0/token", lab.authority_host(), lab.tenant_id()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", p.client_id.as_str()),
            ("client_secret", p.secret.as_str()),
            ("scope", "https://management.azure.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "ARM token: {}", resp.status());
    let v: serde_json::Value = resp.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

pub fn attach_assignment_url(lab: &Lab) -> String {
    format!(
        "{}{}/providers/Microsoft.Authorization/roleAssignments/{ATTACH_ASSIGNMENT}?api-version=2022-04-01",
        lab.arm_endpoint(),
        lab.registry_id()
    )
}

/// Deletes the kubelet identity's AcrPull assignment through ARM.
pub async fn detach(lab: &Lab, http: &reqwest::Client, bearer: &str) {
    let resp = http.delete(attach_assignment_url(lab)).bearer_auth(bearer).send().await.unwrap();
    assert!(resp.status().is_success(), "DELETE role assignment: {}", resp.status());
}

/// Re-creates it under the same name.
pub async fn attach(lab: &Lab, http: &reqwest::Client, bearer: &str) {
    let body = serde_json::json!({"properties": {
        "roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{ACR_PULL}", lab.subscription_id()),
        "principalId": KUBELET_OBJECT,
        "principalType": "ServicePrincipal",
    }});
    let resp =
        http.put(attach_assignment_url(lab)).bearer_auth(bearer).json(&body).send().await.unwrap();
    let status = resp.status();
    assert!(status.is_success(), "PUT role assignment: {status} {}", resp.text().await.unwrap());
}

/// PATCHes the registry's network settings through ARM and waits for the operation.
pub async fn patch_network(
    lab: &Lab,
    http: &reqwest::Client,
    bearer: &str,
    properties: serde_json::Value,
) {
    let url = format!("{}{}?api-version=2025-04-01", lab.arm_endpoint(), lab.registry_id());
    let resp = http
        .patch(url)
        .bearer_auth(bearer)
        .json(&serde_json::json!({ "properties": properties }))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert!(status.is_success(), "PATCH registry: {status} {}", resp.text().await.unwrap());
    // LRO delay 2 s × 0.01.
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// Waits out the (scaled) RBAC propagation delay with margin.
pub async fn wait_propagation() {
    tokio::time::sleep(Duration::from_millis(800)).await;
}

/// `ctr images pull` against the lab's containerd. `Ok(stdout)` or `Err(stderr)`.
pub async fn ctr_pull(lab: &Lab, reference: &str, user: Option<&str>) -> Result<String, String> {
    let c = lab.containerd().expect("lab started with containerd");
    let hosts_dir = c.dir().join("certs.d");
    let mut cmd = tokio::process::Command::new("/usr/bin/ctr");
    cmd.arg("-a").arg(c.socket()).arg("images").arg("pull");
    cmd.arg("--snapshotter").arg("native").arg("--hosts-dir").arg(&hosts_dir);
    if let Some(u) = user {
        cmd.arg("--user").arg(u);
    }
    cmd.arg(reference);
    let out = tokio::time::timeout(Duration::from_secs(180), cmd.output())
        .await
        .expect("ctr pull finished within 180 s")
        .expect("ctr runs");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Asserts a pull fails and its error contains every needle.
pub async fn expect_pull_error(lab: &Lab, reference: &str, user: Option<&str>, needles: &[&str]) {
    match ctr_pull(lab, reference, user).await {
        Ok(out) => {
            panic!("pull of {reference} succeeded, expected failure with {needles:?}:\n{out}")
        }
        Err(err) => {
            for n in needles {
                assert!(err.contains(n), "pull of {reference}: expected {n:?} in:\n{err}");
            }
        }
    }
}

pub async fn expect_pull_ok(lab: &Lab, reference: &str, user: Option<&str>) {
    if let Err(e) = ctr_pull(lab, reference, user).await {
        panic!("pull of {reference} failed:\n{e}");
    }
}
