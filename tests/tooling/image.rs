//! The product image (`make image` = scripts/image.sh): built from scratch with buildah,
//! smaller than 40 MB, no lab code in it, non-root; pushed through the lab's ACR front door
//! (an Entra token of an AcrPush identity exchanged for an ACR refresh token, as
//! `az acr login` does), pulled by the lab's containerd, and run there with runc
//! (`ctr run`) to execute `acr-chaos validate` on the shipped scenarios.
//!
//! Build cost: `make image` builds the shipped `image` profile (release, stripped) — a
//! second compile of every dependency, minutes on two cores. The test runs the same make
//! target with the `dev` profile and shares the dependency artifacts `cargo test` already
//! built: same build dir (`CARGO_BUILD_BUILD_DIR`), the same feature set (the extra `-p`s
//! below bring in what the test build's dev-dependencies switch on), so only the acr-chaos
//! crate itself compiles again; its binary lands in its own target dir so the test build's
//! lab-carrying `target/debug/acr-chaos` is left alone. image.sh strips it either way.
//! Same code and features as the shipped image, less optimised, so a larger binary: the
//! size limit holds for the shipped image with room to spare when it holds here.

use crate::ci_support::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const ACR_PUSH: &str = "8311e382-0749-4cb8-b61a-304f252e45ec";
const NULL_GUID: &str = "00000000-0000-0000-0000-000000000000";
const MAX_BYTES: u64 = 40 * 1000 * 1000;

fn missing() -> Option<String> {
    if !is_root() {
        return Some("not root".into());
    }
    for b in [
        "make",
        "buildah",
        "strip",
        "jq",
        "runc",
        "containerd",
        "ctr",
        "docker-registry",
        "containerd-shim-runc-v2",
    ] {
        if find_bin(b).is_none() {
            return Some(format!("{b} not installed (make deps)"));
        }
    }
    None
}

struct Built {
    tag: String,
    archive: PathBuf,
    layer_bytes: u64,
    rootfs_bytes: u64,
}

/// The number on scripts/image.sh's line `image: <what> <bytes> bytes ...`.
fn size_line(text: &str, what: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("image: {what} ")))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `{what}` line:\n{text}"))
}

/// `make image`, the one documented command, with the test build's artifacts shared.
fn build_image(dir: &Path) -> Built {
    let tag = format!("acr-chaos:test-{}", std::process::id());
    let archive = dir.join("acr-chaos.oci.tar");
    let root = repo_root();
    let started = std::time::Instant::now();
    let out = Command::new("make")
        .args(["-s", "image"])
        .current_dir(&root)
        // a `make test` around this test must not hand its jobserver to this make
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .env("IMAGE_TAG", &tag)
        .env("ACR_CHAOS_IMAGE_PROFILE", "dev")
        .env("ACR_CHAOS_IMAGE_CARGO_ARGS", SHARE_TEST_BUILD)
        .env("ACR_CHAOS_IMAGE_ARCHIVE", &archive)
        .env("CARGO_BUILD_BUILD_DIR", root.join("target"))
        .env("CARGO_TARGET_DIR", root.join("target/image/test-build"))
        .output()
        .expect("run make image");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "make image:\n{text}");
    let compiled: Vec<&str> =
        text.lines().filter(|l| l.trim_start().starts_with("Compiling ")).collect();
    eprintln!("make image took {:?}; compiled {compiled:?}", started.elapsed());
    eprintln!(
        "{}",
        text.lines().filter(|l| l.starts_with("image: ")).collect::<Vec<_>>().join("\n")
    );
    Built {
        tag,
        archive,
        layer_bytes: size_line(&text, "compressed layers"),
        rootfs_bytes: size_line(&text, "uncompressed rootfs"),
    }
}

fn buildah(args: &[&str]) -> (bool, String) {
    let root = repo_root().join("target/image");
    let out = Command::new("buildah")
        .arg("--root")
        .arg(root.join("storage"))
        .arg("--runroot")
        .arg(root.join("run"))
        .args(["--storage-driver", "vfs"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

/// Strings only the lab's code carries: its source paths (panic locations survive
/// stripping) and a text it writes into containerd's configuration. (Not the crate name
/// `acr_chaos_lab`: the product's default log filter names it in every build.)
const LAB_MARKERS: [&str; 2] = ["lab/src/", "io.containerd.snapshotter.v1.btrfs"];

fn lab_markers_in(bytes: &[u8]) -> Vec<&'static str> {
    LAB_MARKERS
        .iter()
        .copied()
        .filter(|m| bytes.windows(m.len()).any(|w| w == m.as_bytes()))
        .collect()
}

/// The binary inside the image, read from the OCI archive's layers.
fn binary_from_archive(archive: &Path, dir: &Path) -> Vec<u8> {
    let out = dir.join("unpacked");
    std::fs::create_dir_all(&out).unwrap();
    assert!(
        Command::new("tar").arg("-xf").arg(archive).arg("-C").arg(&out).status().unwrap().success()
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    let blob = |digest: &str| out.join("blobs/sha256").join(digest.trim_start_matches("sha256:"));
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(blob(manifest["config"]["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    assert_eq!(config["config"]["User"], "65532:65532", "the image runs as non-root");
    assert_eq!(config["config"]["Entrypoint"][0], "/usr/bin/acr-chaos");
    for layer in manifest["layers"].as_array().unwrap() {
        let rootfs = dir.join("rootfs");
        std::fs::create_dir_all(&rootfs).unwrap();
        let ok = Command::new("tar")
            .arg("-xf")
            .arg(blob(layer["digest"].as_str().unwrap()))
            .arg("-C")
            .arg(&rootfs)
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let bin = rootfs.join("usr/bin/acr-chaos");
        if bin.exists() {
            assert!(rootfs.join("etc/ssl/certs/ca-certificates.crt").exists(), "CA certificates");
            assert!(rootfs.join("usr/share/acr-chaos/scenarios/acr-detach.yaml").exists());
            return std::fs::read(bin).unwrap();
        }
    }
    panic!("no /usr/bin/acr-chaos in the image");
}

async fn refresh_token_with_push(lab: &acr_chaos_lab::Lab) -> String {
    let http =
        acr_chaos::clients::credential::http_client(Some(&std::fs::read(lab.ca_path()).unwrap()))
            .unwrap();
    let p = lab.chaos_principal().unwrap();
    let token = |scope: &'static str| {
        let (http, p) = (http.clone(), p.clone());
        let url = format!("{}/{}/oauth2/v2.0/token", lab.authority_host(), lab.tenant_id());
        async move {
            let v: serde_json::Value = http
                .post(url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", p.client_id.as_str()),
                    ("client_secret", p.secret.as_str()),
                    ("scope", scope),
                ])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["access_token"].as_str().unwrap().to_string()
        }
    };
    // The pipeline identity that pushes images holds AcrPush on the registry.
    let arm = token("https://management.azure.com/.default").await;
    let url = format!(
        "{}{}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01",
        lab.arm_endpoint(),
        lab.registry_id(),
        "1d3c0000-0000-4000-8000-0000000aa501"
    );
    let body = serde_json::json!({"properties": {
        "roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{ACR_PUSH}", lab.subscription_id()),
        "principalId": p.object_id,
        "principalType": "ServicePrincipal",
    }});
    let resp = http.put(url).bearer_auth(&arm).json(&body).send().await.unwrap();
    assert!(resp.status().is_success(), "AcrPush assignment: {}", resp.text().await.unwrap());
    // wait out the (scaled) RBAC propagation
    tokio::time::sleep(Duration::from_secs(2)).await;
    let v: serde_json::Value = http
        .post(format!("{}/oauth2/exchange", lab.registry_url()))
        .form(&[
            ("grant_type", "access_token"),
            ("service", lab.login_server()),
            ("tenant", &lab.tenant_id()),
            ("access_token", &arm),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["refresh_token"].as_str().expect("ACR refresh token").to_string()
}

fn ctr(lab: &acr_chaos_lab::Lab, args: &[&str]) -> (bool, String) {
    let c = lab.containerd().expect("lab containerd");
    let out = Command::new(find_bin("ctr").unwrap())
        .arg("-a")
        .arg(c.socket())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

/// `cargo tree` of acr-chaos's normal and build dependencies, one package a line.
fn dependency_tree(features: &[&str]) -> String {
    let out = Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .args(["tree", "--locked", "-p", "acr-chaos", "-e", "normal,build", "--prefix", "none"])
        .args(features)
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo tree: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_image_build_depends_on_no_lab_crate() {
    // The shipped build (`--no-default-features`, whatever the profile) has no path to
    // the lab crate; the default build does (so the check can see it).
    let lab_line = |tree: &str| tree.lines().any(|l| l.starts_with("acr-chaos-lab "));
    assert!(
        !lab_line(&dependency_tree(&["--no-default-features"])),
        "the image build links the lab"
    );
    assert!(lab_line(&dependency_tree(&[])), "the default build has the lab");
    let script = std::fs::read_to_string(repo_root().join("scripts/image.sh")).unwrap();
    assert!(
        script.contains("cargo build --locked -p acr-chaos --bin acr-chaos --no-default-features"),
        "scripts/image.sh builds without the lab"
    );
}

fn run_in_image(
    lab: &acr_chaos_lab::Lab,
    reference: &str,
    name: &str,
    args: &[&str],
) -> (bool, String) {
    let id = format!("acr-chaos-{name}-{}", std::process::id());
    let mut all = vec!["run", "--rm", "--snapshotter", "native", reference, &id];
    all.extend_from_slice(args);
    ctr(lab, &all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_is_small_has_no_lab_and_runs_validate_through_the_lab_containerd() {
    if !require("the product image", missing()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let built = build_image(dir.path());
    for (what, bytes) in [("compressed layers", built.layer_bytes), ("rootfs", built.rootfs_bytes)]
    {
        assert!(bytes < MAX_BYTES, "image {what}: {bytes} bytes (limit {MAX_BYTES})");
    }
    assert!(built.layer_bytes < built.rootfs_bytes, "the layer is compressed");

    // No lab code: none of the lab's markers in the image's binary, all of them in the
    // default (lab-carrying) build the tests run.
    let bin = binary_from_archive(&built.archive, dir.path());
    assert_eq!(lab_markers_in(&bin), Vec::<&str>::new(), "lab code in the image");
    let with_lab = std::fs::read(env!("CARGO_BIN_EXE_acr-chaos")).unwrap();
    assert_eq!(lab_markers_in(&with_lab), LAB_MARKERS.to_vec(), "the markers do find the lab");

    // Push through the ACR front door, as a pipeline would after `az acr login`.
    let lab = acr_chaos_lab::Lab::builder()
        .state_dir(dir.path().join("lab"))
        .time_scale(0.01)
        .containerd(true)
        .start()
        .await
        .expect("lab starts");
    let rt = refresh_token_with_push(&lab).await;
    let creds = format!("{NULL_GUID}:{rt}");
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(lab.ca_path(), certs.join("ca.crt")).unwrap();
    let dest =
        format!("docker://{}/acr-chaos:0.1.0", lab.registry_url().trim_start_matches("https://"));
    let (ok, out) = buildah(&[
        "push",
        "--quiet",
        "--cert-dir",
        certs.to_str().unwrap(),
        "--creds",
        &creds,
        &built.tag,
        &dest,
    ]);
    assert!(ok, "buildah push:\n{}", out.replace(&rt, "[REDACTED]"));
    let _ = buildah(&["rmi", &built.tag]);

    // Pull through the lab's containerd (its hosts.toml maps the login server to the
    // front door), then run with runc.
    let reference = format!("{}/acr-chaos:0.1.0", lab.login_server());
    let hosts = lab.containerd().unwrap().dir().join("certs.d");
    let (ok, out) = ctr(
        &lab,
        &[
            "images",
            "pull",
            "--snapshotter",
            "native",
            "--hosts-dir",
            hosts.to_str().unwrap(),
            "--user",
            &creds,
            &reference,
        ],
    );
    assert!(ok, "ctr pull:\n{}", out.replace(&rt, "[REDACTED]"));
    let (ok, out) = run_in_image(
        &lab,
        &reference,
        "validate",
        &["/usr/bin/acr-chaos", "validate", "/usr/share/acr-chaos/scenarios"],
    );
    assert!(ok, "ctr run acr-chaos validate:\n{out}");
    let scenarios = std::fs::read_dir(repo_root().join("scenarios"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "yaml"))
        .count();
    assert!(out.contains(&format!("{scenarios} scenario(s)")) && out.contains("0 errors"), "{out}");

    // The lab is not there, and the binary says so.
    let (ok, out) = run_in_image(&lab, &reference, "lab", &["/usr/bin/acr-chaos", "lab", "--help"]);
    assert!(!ok, "`acr-chaos lab --help` succeeded in the image:\n{out}");
    assert!(out.contains("built without the embedded lab"), "{out}");
    lab.stop().await;
}
