//! azure_identity's ManagedIdentityCredential against the lab's managed-identity endpoint.
//!
//! The SDK hard-codes the IMDS address (169.254.169.254), so the only endpoint override
//! it offers is the App Service source (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`), which
//! the lab's endpoint also speaks (api-version 2019-08-01, `X-IDENTITY-HEADER`). This
//! binary holds a single test because it sets process environment variables.

#![allow(unsafe_code, reason = "std::env::set_var, in a binary with a single test")]

mod arm_support;

use std::time::Duration;

use acr_chaos_lab::entra::{self, verify_access_token};
use arm_support::*;
use azure_core::credentials::TokenCredential;
use azure_identity::{ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId};

#[tokio::test]
async fn managed_identity_credential_through_identity_endpoint() {
    let st = shared(Duration::ZERO, Duration::ZERO);
    let served = acr_chaos_lab::server::serve_http(
        entra::router(st.clone()),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let endpoint = format!("{}/metadata/identity/oauth2/token", served.url("http"));
    // SAFETY: this test binary runs exactly one test; nothing else reads the environment concurrently.
    unsafe {
        std::env::set_var("IDENTITY_ENDPOINT", &endpoint);
        std::env::set_var("IDENTITY_HEADER", "lab-identity-header");
    }
    let options = ManagedIdentityCredentialOptions {
        user_assigned_id: Some(UserAssignedId::ClientId(KUBELET_CLIENT.into())),
        ..Default::default()
    };
    let cred = ManagedIdentityCredential::new(Some(options)).unwrap();
    let token = cred.get_token(&["https://management.azure.com/.default"], None).await.unwrap();
    let claims = verify_access_token(&st.read(), token.token.secret(), ARM).unwrap();
    assert_eq!(claims.oid, KUBELET_OBJECT);
    assert_eq!(claims.appid, KUBELET_CLIENT);

    // An identity the node does not have is refused (400 → SDK error).
    let options = ManagedIdentityCredentialOptions {
        user_assigned_id: Some(UserAssignedId::ClientId(RUNNER_CLIENT.into())),
        ..Default::default()
    };
    let cred = ManagedIdentityCredential::new(Some(options)).unwrap();
    let err = cred.get_token(&["https://management.azure.com/.default"], None).await.unwrap_err();
    assert!(err.to_string().contains("not been assigned"), "{err}");
    served.shutdown().await;
}
