//! azure_identity's ManagedIdentityCredential against the lab's managed-identity endpoint.
//!
//! The SDK hard-codes the IMDS address (169.254.169.254), so the only endpoint override
//! it offers is the App Service source (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`), which
//! the lab's endpoint also speaks (api-version 2019-08-01, `X-IDENTITY-HEADER`). The SDK
//! reads them from the process environment, which a test must not change while other
//! tests of the binary run: the SDK half runs in a child process (this test binary,
//! running only this test, with the variables set on the child).

use std::time::Duration;

use acr_chaos_lab::entra::{self, verify_access_token};
use azure_core::credentials::TokenCredential;
use azure_identity::{ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId};

use crate::arm_support::*;

/// Set on the child: run the SDK half.
const CHILD: &str = "ACR_CHAOS_LAB_TEST_MI_CHILD";
/// The child's stdout line that carries the token it got.
const TOKEN_LINE: &str = "managed-identity token: ";

#[tokio::test]
async fn managed_identity_credential_through_identity_endpoint() {
    if std::env::var_os(CHILD).is_some() {
        return sdk_half().await;
    }
    let st = shared(Duration::ZERO, Duration::ZERO);
    let served = acr_chaos_lab::server::serve_http(
        entra::router(st.clone()),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let endpoint = format!("{}/metadata/identity/oauth2/token", served.url("http"));
    // This test, by its full name without the binary's: `entra_managed_identity::...`.
    let module = module_path!().split_once("::").expect("module in a test binary").1;
    let name = format!("{module}::managed_identity_credential_through_identity_endpoint");
    let child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([name.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("IDENTITY_ENDPOINT", &endpoint)
        .env("IDENTITY_HEADER", "lab-identity-header")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), child)
        .await
        .expect("the SDK half finished within 60 s")
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // libtest's "test <name> ... " may precede the line.
    let token = stdout.lines().find_map(|l| l.split_once(TOKEN_LINE)).map(|(_, t)| t.trim());
    let shown: Vec<&str> = stdout.lines().filter(|l| !l.contains(TOKEN_LINE)).collect();
    let shown = format!("{}\n{}", shown.join("\n"), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the SDK half failed ({}):\n{shown}", out.status);
    let token = token.unwrap_or_else(|| panic!("the SDK half printed no token:\n{shown}"));
    let claims = verify_access_token(&st.read(), token, ARM).unwrap();
    assert_eq!(claims.oid, KUBELET_OBJECT);
    assert_eq!(claims.appid, KUBELET_CLIENT);
    served.shutdown().await;
}

/// In the child, with `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` set: the kubelet identity
/// gets a token (printed for the parent to verify); an identity the node does not have is
/// refused (400 → SDK error).
async fn sdk_half() {
    let options = ManagedIdentityCredentialOptions {
        user_assigned_id: Some(UserAssignedId::ClientId(KUBELET_CLIENT.into())),
        ..Default::default()
    };
    let cred = ManagedIdentityCredential::new(Some(options)).unwrap();
    let token = cred.get_token(&["https://management.azure.com/.default"], None).await.unwrap();
    println!("{TOKEN_LINE}{}", token.token.secret());

    let options = ManagedIdentityCredentialOptions {
        user_assigned_id: Some(UserAssignedId::ClientId(RUNNER_CLIENT.into())),
        ..Default::default()
    };
    let cred = ManagedIdentityCredential::new(Some(options)).unwrap();
    let err = cred.get_token(&["https://management.azure.com/.default"], None).await.unwrap_err();
    assert!(err.to_string().contains("not been assigned"), "{err}");
}
