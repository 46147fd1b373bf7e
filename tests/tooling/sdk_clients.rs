//! The official Azure SDKs of two languages as real clients of the lab: Python
//! (`azure-identity`, `azure-mgmt-containerregistry`, `azure-mgmt-authorization` from
//! PyPI) and JavaScript (`@azure/identity`, `@azure/arm-containerregistry`,
//! `@azure/arm-authorization` from npm), both installed by `make tools` into `.venv/`.
//!
//! Each signs in to the lab's Entra ID twice, with a client secret and with a federated
//! token (workload identity: a projected service-account token from the lab cluster's
//! OIDC issuer in `AZURE_FEDERATED_TOKEN_FILE`), then reads through the lab's ARM what
//! `az` and the SDKs read around our resources (registries by subscription and resource
//! group, a registry, scope maps, role definitions, permissions). The scripts
//! (tests/sdk/) print one `ok <check>` line per check; every check must be there.
//! What a user sets, and nothing else: the authority host, the lab CA, and instance
//! discovery off (docs/azure.md, "The lab as a cloud").

use crate::ci_support::{self, repo_root, require, tools_bin};
use crate::require_lab;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CHECKS: [&str; 11] = [
    "token",
    "registries.list",
    "registries.list_by_resource_group",
    "registries.get",
    "scope_maps.list",
    "scope_maps.get",
    "registries.get missing",
    "role_definitions.list",
    "role_definitions.get",
    "permissions.list_for_resource_group",
    // The wrong-secret run: MSAL's error carries Entra's AADSTS code.
    "AADSTS7000215",
];

/// The SDK runtimes `make tools` prepared, or why they are missing.
fn python() -> Result<PathBuf, String> {
    let py = tools_bin().join("python");
    let ok = py.is_file()
        && Command::new(&py)
            .args([
                "-c",
                "import azure.identity, azure.mgmt.containerregistry, azure.mgmt.authorization",
            ])
            .output()
            .is_ok_and(|o| o.status.success());
    if ok { Ok(py) } else { Err(format!("{} lacks the Azure SDK: run `make tools`", py.display())) }
}

fn node_modules() -> Result<PathBuf, String> {
    let dir = tools_bin().parent().map(|v| v.join("npm/node_modules")).unwrap_or_default();
    ci_support::find_bin("node").ok_or("node is not installed: run `make deps`")?;
    if dir.join("@azure/identity").is_dir() && dir.join("@azure/arm-containerregistry").is_dir() {
        Ok(dir)
    } else {
        Err(format!("{} lacks the Azure SDK: run `make tools`", dir.display()))
    }
}

struct Env {
    vars: Vec<(&'static str, String)>,
}

impl Env {
    fn apply(&self, c: &mut Command) {
        for (k, _) in std::env::vars() {
            if k.starts_with("AZURE_") || k.starts_with("MSAL_") {
                c.env_remove(k);
            }
        }
        c.envs(self.vars.iter().map(|(k, v)| (*k, v.as_str())));
    }
}

fn lab_env(lab: &acr_chaos_lab::Lab, token_file: &Path) -> Env {
    let p = lab.chaos_principal().expect("the default world has a chaos principal");
    let ca = lab.ca_path().display().to_string();
    let w = lab.state().read().world.clone();
    Env {
        vars: vec![
            ("AZURE_AUTHORITY_HOST", lab.authority_host()),
            ("AZURE_TENANT_ID", lab.tenant_id()),
            ("AZURE_CLIENT_ID", p.client_id),
            ("AZURE_CLIENT_SECRET", p.secret),
            ("AZURE_FEDERATED_TOKEN_FILE", token_file.display().to_string()),
            ("REQUESTS_CA_BUNDLE", ca.clone()),
            ("NODE_EXTRA_CA_CERTS", ca),
            ("LAB_ARM_ENDPOINT", lab.arm_endpoint()),
            ("LAB_SUBSCRIPTION_ID", lab.subscription_id()),
            ("LAB_RESOURCE_GROUP", w.resource_group),
            ("LAB_REGISTRY", w.registry.name),
            ("LAB_LOGIN_SERVER", w.registry.login_server),
        ],
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Runs `mode` (secret, federated) and checks every `ok` line came; a wrong secret must fail
/// with Entra's error.
fn run_checks(what: &str, command: impl Fn(&str) -> Command, env: &Env) -> Vec<String> {
    let mut failures = Vec::new();
    for mode in ["secret", "federated"] {
        let mut c = command(mode);
        env.apply(&mut c);
        let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
        let log = text(&out);
        let missing: Vec<&str> = CHECKS[..CHECKS.len() - 1]
            .iter()
            .filter(|check| !log.lines().any(|l| l == format!("ok {check}")))
            .copied()
            .collect();
        if !out.status.success() || !missing.is_empty() {
            failures.push(format!("{what} {mode}: missing {missing:?}\n{log}"));
        } else {
            eprintln!("{what} {mode}: {} checks passed", CHECKS.len() - 1);
        }
    }
    let mut c = command("secret");
    env.apply(&mut c);
    c.env("AZURE_CLIENT_SECRET", "not-the-secret");
    let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    if out.status.success() || !text(&out).contains(CHECKS[CHECKS.len() - 1]) {
        failures.push(format!("{what} wrong secret: expected AADSTS7000215\n{}", text(&out)));
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdks_sign_in_with_secret_and_federated_token_and_read_arm() {
    require_lab!();
    let py = python();
    let js = node_modules();
    let py_ok = require("Python Azure SDK (tool environment)", py.as_ref().err().cloned());
    let js_ok = require("JavaScript Azure SDK (tool environment)", js.as_ref().err().cloned());
    if !py_ok && !js_ok {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lab = acr_chaos_lab::Lab::builder()
        .state_dir(dir.path().join("lab"))
        .containerd(false)
        .with_kubelet(false)
        .seed_images(false)
        .start()
        .await
        .expect("lab starts");
    // What the kubelet projects for the CronJob's service account (deploy/kubernetes).
    let token_file = dir.path().join("azure-identity-token");
    std::fs::write(&token_file, lab.service_account_token("acr-chaos", "acr-chaos")).unwrap();
    let env = lab_env(&lab, &token_file);
    let scripts = repo_root().join("tests/sdk");

    let mut failures = Vec::new();
    if let Ok(py) = &py {
        let script = scripts.join("python/check_lab.py");
        failures.extend(run_checks(
            "python",
            |mode| {
                let mut c = Command::new(py);
                c.arg(&script).arg(mode);
                c
            },
            &env,
        ));
    }
    if let Ok(modules) = &js {
        let script = scripts.join("js/check_lab.js");
        failures.extend(run_checks(
            "javascript",
            |mode| {
                let mut c = Command::new("node");
                c.arg(&script).arg(mode).env("NODE_PATH", modules);
                c
            },
            &env,
        ));
    }
    lab.stop().await;
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
