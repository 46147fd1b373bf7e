//! Entra ID emulator: token endpoint, error bodies, managed-identity endpoint, token
//! verification, and azure_identity's ClientSecretCredential over real TLS.

use std::sync::Arc;
use std::time::Duration;

use acr_chaos_lab::entra::{self, TokenVerifyError, verify_access_token};
use axum::body::Body;
use http::{Request, StatusCode};

use crate::arm_support::*;

fn state() -> acr_chaos_lab::state::SharedState {
    shared(Duration::ZERO, Duration::ZERO)
}

fn cc_body(client: &str, secret: &str) -> String {
    format!(
        "grant_type=client_credentials&client_id={client}&client_secret={secret}&scope={}",
        url_encode("https://management.azure.com/.default")
    )
}

#[tokio::test]
async fn client_credentials_issue_a_verifiable_arm_token() {
    let st = state();
    let router = entra::router(st.clone());
    let r = form(
        &router,
        &format!("/{TENANT}/oauth2/v2.0/token"),
        &cc_body(RUNNER_CLIENT, RUNNER_SECRET),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let body = r.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599, "expires_in is a number");
    assert!(body["ext_expires_in"].is_number());
    let token = body["access_token"].as_str().unwrap();
    let claims =
        verify_access_token(&st.read(), token, "https://management.azure.com/.default").unwrap();
    assert_eq!(claims.aud, ARM);
    assert_eq!(claims.oid, RUNNER_OBJECT);
    assert_eq!(claims.appid, RUNNER_CLIENT);
    assert_eq!(claims.tid, TENANT);
    assert_eq!(claims.iss, format!("https://sts.windows.net/{TENANT}/"));
    assert!(claims.exp > claims.iat && claims.nbf <= claims.iat);
    // Wrong audience, tampering, expiry.
    assert!(matches!(
        verify_access_token(&st.read(), token, "https://api.loganalytics.io"),
        Err(TokenVerifyError::WrongAudience { .. })
    ));
    let mut tampered = token.to_string();
    tampered.insert(tampered.len() - 3, 'A');
    assert!(matches!(
        verify_access_token(&st.read(), &tampered, ARM),
        Err(TokenVerifyError::Invalid(_))
    ));
    // A token from another lab (another key) is refused.
    let other = state();
    let foreign = token_for(&other, RUNNER_CLIENT, RUNNER_SECRET, ARM).await;
    assert!(matches!(
        verify_access_token(&st.read(), &foreign, ARM),
        Err(TokenVerifyError::Invalid(_))
    ));
    st.read().clock.advance(Duration::from_secs(3600));
    assert_eq!(verify_access_token(&st.read(), token, ARM), Err(TokenVerifyError::Expired));
}

fn assert_aad_error(r: &Reply, status: StatusCode, error: &str, code: u64) {
    assert_eq!(r.status, status, "{}", r.text);
    let body = r.json();
    assert_eq!(body["error"], error);
    assert_eq!(body["error_codes"][0], code);
    let desc = body["error_description"].as_str().unwrap();
    assert!(desc.starts_with(&format!("AADSTS{code}: ")), "{desc}");
    assert!(desc.contains("\r\nTrace ID: "), "{desc:?}");
    assert!(desc.contains("\r\nCorrelation ID: "), "{desc:?}");
    assert!(desc.contains("\r\nTimestamp: "), "{desc:?}");
    let ts = body["timestamp"].as_str().unwrap();
    assert!(chrono::NaiveDateTime::parse_from_str(ts, "%Y-%m-%d %H:%M:%SZ").is_ok(), "{ts}");
    assert_eq!(body["error_uri"], format!("https://login.microsoftonline.com/error?code={code}"));
}

#[tokio::test]
async fn wrong_expired_and_unknown_clients_get_aadsts_errors() {
    let router = entra::router(state());
    let uri = format!("/{TENANT}/oauth2/v2.0/token");

    let r = form(&router, &uri, &cc_body(RUNNER_CLIENT, "not-the-secret")).await;
    assert_aad_error(&r, StatusCode::UNAUTHORIZED, "invalid_client", 7000215);
    assert!(r.json()["error_description"].as_str().unwrap().contains(RUNNER_CLIENT));
    assert!(!r.text.contains(RUNNER_SECRET), "secrets never echo");

    let r = form(&router, &uri, &cc_body(EXPIRED_CLIENT, EXPIRED_SECRET)).await;
    assert_aad_error(&r, StatusCode::UNAUTHORIZED, "invalid_client", 7000222);
    assert!(r.json()["error_description"].as_str().unwrap().contains("are expired"));

    let r = form(&router, &uri, &cc_body("00000000-1111-2222-3333-444444444444", "x")).await;
    assert_aad_error(&r, StatusCode::BAD_REQUEST, "unauthorized_client", 700016);

    // The kubelet identity has no secret: client credentials with any secret fail.
    let r = form(&router, &uri, &cc_body(KUBELET_CLIENT, "guess")).await;
    assert_aad_error(&r, StatusCode::UNAUTHORIZED, "invalid_client", 7000215);

    let r = form(
        &router,
        "/11111111-0000-4000-8000-000000000000/oauth2/v2.0/token",
        &cc_body(RUNNER_CLIENT, RUNNER_SECRET),
    )
    .await;
    assert_aad_error(&r, StatusCode::BAD_REQUEST, "invalid_request", 90002);

    let r =
        form(&router, &uri, &format!("client_id={RUNNER_CLIENT}&client_secret={RUNNER_SECRET}"))
            .await;
    assert_aad_error(&r, StatusCode::BAD_REQUEST, "invalid_request", 900144);
    assert!(r.text.contains("'grant_type'"));

    let r = form(
        &router,
        &uri,
        &format!("grant_type=client_credentials&client_id={RUNNER_CLIENT}&client_secret={RUNNER_SECRET}&scope=https%3A%2F%2Fmanagement.azure.com%2Fuser_impersonation"),
    )
    .await;
    assert_aad_error(&r, StatusCode::BAD_REQUEST, "invalid_scope", 1002012);

    let r = form(&router, &uri, &format!("grant_type=password&client_id={RUNNER_CLIENT}")).await;
    assert_aad_error(&r, StatusCode::BAD_REQUEST, "unsupported_grant_type", 70003);
}

#[tokio::test]
async fn secret_expiry_follows_the_lab_clock() {
    let st = state();
    {
        let mut s = st.write();
        let exp = s.clock.utc_now() + chrono::Duration::seconds(60);
        s.principals.iter_mut().find(|p| p.client_id == RUNNER_CLIENT).unwrap().secret_expires =
            Some(exp);
    }
    let router = entra::router(st.clone());
    let uri = format!("/{TENANT}/oauth2/v2.0/token");
    assert_eq!(
        form(&router, &uri, &cc_body(RUNNER_CLIENT, RUNNER_SECRET)).await.status,
        StatusCode::OK
    );
    st.read().clock.advance(Duration::from_secs(61));
    let r = form(&router, &uri, &cc_body(RUNNER_CLIENT, RUNNER_SECRET)).await;
    assert_aad_error(&r, StatusCode::UNAUTHORIZED, "invalid_client", 7000222);
}

async fn imds(router: &axum::Router, query: &str, metadata: bool) -> Reply {
    let mut b = Request::get(format!("/metadata/identity/oauth2/token?{query}"));
    if metadata {
        b = b.header("Metadata", "true");
    }
    send(router, b.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn imds_managed_identity_endpoint() {
    let st = state();
    let router = entra::router(st.clone());
    let resource = url_encode(ARM);
    let r = imds(
        &router,
        &format!("api-version=2018-02-01&resource={resource}&client_id={KUBELET_CLIENT}"),
        true,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let body = r.json();
    for field in [
        "access_token",
        "client_id",
        "expires_in",
        "expires_on",
        "ext_expires_in",
        "not_before",
        "resource",
        "token_type",
    ] {
        assert!(body[field].is_string(), "{field} must be a string: {body}");
    }
    assert_eq!(body["resource"], ARM);
    assert_eq!(body["client_id"], KUBELET_CLIENT);
    let claims =
        verify_access_token(&st.read(), body["access_token"].as_str().unwrap(), ARM).unwrap();
    assert_eq!(claims.oid, KUBELET_OBJECT);
    assert!(claims.xms_mirid.unwrap().ends_with("/aks-chaos-lab-agentpool"));
    assert_eq!(body["expires_on"].as_str().unwrap().parse::<i64>().unwrap(), claims.exp);

    // By object id and with no id (the node's only identity).
    let r = imds(
        &router,
        &format!("api-version=2018-02-01&resource={resource}&object_id={KUBELET_OBJECT}"),
        true,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = imds(&router, &format!("api-version=2018-02-01&resource={resource}"), true).await;
    assert_eq!(r.status, StatusCode::OK);

    let r = imds(&router, &format!("api-version=2018-02-01&resource={resource}"), false).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error_description"], "Required metadata header not specified");
    let r = imds(
        &router,
        &format!("api-version=2018-02-01&resource={resource}&client_id={RUNNER_CLIENT}"),
        true,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error_description"], "Identity not found");
    let r = imds(&router, "api-version=2018-02-01", true).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn openid_discovery_and_jwks() {
    let router = entra::router(state());
    let r = send(
        &router,
        Request::get(format!("/{TENANT}/v2.0/.well-known/openid-configuration"))
            .header("host", "login.lab:8443")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json()["token_endpoint"],
        format!("https://login.lab:8443/{TENANT}/oauth2/v2.0/token")
    );
    let r = send(
        &router,
        Request::get(format!("/{TENANT}/discovery/v2.0/keys")).body(Body::empty()).unwrap(),
    )
    .await;
    let key = &r.json()["keys"][0];
    assert_eq!(key["kty"], "EC");
    assert_eq!(key["x"].as_str().unwrap().len(), 43);
}

/// azure_identity's ClientSecretCredential and WorkloadIdentityCredential, with only the
/// authority host changed (plus a transport that trusts the lab CA), get tokens from the
/// emulator over TLS.
#[tokio::test]
async fn azure_identity_secret_and_workload_identity_credentials_over_tls() {
    use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
    use azure_core::credentials::TokenCredential;
    use azure_core::http::{ClientOptions, Transport};
    use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};

    let st = state();
    let ca = acr_chaos_lab::tls::LabCa::generate().unwrap();
    let tls = ca.rustls_server_config(&["login.lab"], &["127.0.0.1".parse().unwrap()]).unwrap();
    let served = acr_chaos_lab::server::serve_tls(
        entra::router(st.clone()),
        tls,
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured((*ca.rustls_client_config()).clone())
        .build()
        .unwrap();
    let options = |authority: String| ClientSecretCredentialOptions {
        client_options: ClientOptions {
            transport: Some(Transport::new(Arc::new(http.clone()))),
            cloud: Some(Arc::new(CloudConfiguration::Custom({
                let mut custom = CustomConfiguration::default();
                custom.authority_host = authority;
                custom
            }))),
            ..Default::default()
        },
    };
    let authority = served.url("https");
    let authority_host = authority.clone();
    let cred = ClientSecretCredential::new(
        TENANT,
        RUNNER_CLIENT.into(),
        RUNNER_SECRET.to_string().into(),
        Some(options(authority.clone())),
    )
    .unwrap();
    let token = cred.get_token(&["https://management.azure.com/.default"], None).await.unwrap();
    let claims = verify_access_token(&st.read(), token.token.secret(), ARM).unwrap();
    assert_eq!(claims.oid, RUNNER_OBJECT);
    assert!(
        token.expires_on
            > azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::minutes(50)
    );

    // The expired secret surfaces AADSTS7000222 through the SDK's error.
    let cred = ClientSecretCredential::new(
        TENANT,
        EXPIRED_CLIENT.into(),
        EXPIRED_SECRET.to_string().into(),
        Some(options(authority)),
    )
    .unwrap();
    let err = cred.get_token(&["https://management.azure.com/.default"], None).await.unwrap_err();
    assert!(err.to_string().contains("AADSTS7000222"), "{err}");

    // Workload identity: WorkloadIdentityCredential with a projected service-account token
    // in its token file signs in as the principal that federates that service account.
    use azure_identity::{
        ClientAssertionCredentialOptions, WorkloadIdentityCredential,
        WorkloadIdentityCredentialOptions,
    };
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("azure-identity-token");
    let sa_token = entra::workload::mint_service_account_token(
        &st.read(),
        "acr-chaos",
        "acr-chaos",
        entra::workload::EXCHANGE_AUDIENCE,
    );
    std::fs::write(&token_file, sa_token).unwrap();
    let cred = WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
        credential_options: ClientAssertionCredentialOptions {
            client_options: options(authority_host.clone()).client_options,
        },
        client_id: Some(RUNNER_CLIENT.into()),
        tenant_id: Some(TENANT.into()),
        token_file_path: Some(token_file),
    }))
    .unwrap();
    let token = cred.get_token(&["https://management.azure.com/.default"], None).await.unwrap();
    let claims = verify_access_token(&st.read(), token.token.secret(), ARM).unwrap();
    assert_eq!(claims.oid, RUNNER_OBJECT);
    served.shutdown().await;
}

fn assertion_body(client: &str, assertion: &str) -> String {
    format!(
        "grant_type=client_credentials&client_id={client}&scope={}&client_assertion_type={}&client_assertion={assertion}",
        url_encode("https://management.azure.com/.default"),
        url_encode(entra::workload::JWT_BEARER),
    )
}

/// Workload identity: a projected service-account token from the cluster's issuer signs
/// in the principal whose federated credential names that issuer, subject and audience;
/// anything else gets the AADSTS error Entra gives.
#[tokio::test]
async fn federated_tokens_from_the_cluster_issuer_sign_in_workload_identities() {
    use entra::workload::{
        EXCHANGE_AUDIENCE, ServiceAccountClaims, issuer_url, mint_service_account_token,
    };
    let st = state();
    let router = entra::router(st.clone());
    let uri = format!("/{TENANT}/oauth2/v2.0/token");
    let mint = |ns: &str, sa: &str, aud: &str| mint_service_account_token(&st.read(), ns, sa, aud);

    let good = mint("acr-chaos", "acr-chaos", EXCHANGE_AUDIENCE);
    let r = form(&router, &uri, &assertion_body(RUNNER_CLIENT, &good)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let token = r.json()["access_token"].as_str().unwrap().to_string();
    let claims = verify_access_token(&st.read(), &token, ARM).unwrap();
    assert_eq!((claims.oid.as_str(), claims.appid.as_str()), (RUNNER_OBJECT, RUNNER_CLIENT));

    let other_sa = mint("default", "default", EXCHANGE_AUDIENCE);
    let r = form(&router, &uri, &assertion_body(RUNNER_CLIENT, &other_sa)).await;
    assert_aad_error(&r, StatusCode::BAD_REQUEST, "invalid_client", 700213);
    assert!(r.text.contains("system:serviceaccount:default:default"), "{}", r.text);

    let wrong_aud = mint("acr-chaos", "acr-chaos", "https://kubernetes.default.svc");
    let r = form(&router, &uri, &assertion_body(RUNNER_CLIENT, &wrong_aud)).await;
    assert_aad_error(&r, StatusCode::BAD_REQUEST, "invalid_client", 700212);

    // The same subject on a principal without that federated credential.
    let r = form(&router, &uri, &assertion_body(KUBELET_CLIENT, &good)).await;
    assert_aad_error(&r, StatusCode::BAD_REQUEST, "invalid_client", 700213);

    // Another cluster's issuer; this issuer's URL signed with another key.
    let other = state();
    let foreign =
        mint_service_account_token(&other.read(), "acr-chaos", "acr-chaos", EXCHANGE_AUDIENCE);
    let r = form(&router, &uri, &assertion_body(RUNNER_CLIENT, &foreign)).await;
    assert_aad_error(&r, StatusCode::BAD_REQUEST, "invalid_client", 700211);
    let now = st.read().clock.utc_now().timestamp();
    let forged_claims = ServiceAccountClaims {
        aud: vec![EXCHANGE_AUDIENCE.into()],
        exp: now + 600,
        iat: now,
        nbf: now,
        iss: issuer_url(&st.read()),
        sub: "system:serviceaccount:acr-chaos:acr-chaos".into(),
    };
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        &forged_claims,
        &other.read().workload_issuer.key.encoding,
    )
    .unwrap();
    let r = form(&router, &uri, &assertion_body(RUNNER_CLIENT, &forged)).await;
    assert_aad_error(&r, StatusCode::BAD_REQUEST, "invalid_client", 50013);

    // Expired (the lab clock moves past the projected token's hour).
    st.read().clock.advance(Duration::from_secs(3601));
    let r = form(&router, &uri, &assertion_body(RUNNER_CLIENT, &good)).await;
    assert_aad_error(&r, StatusCode::BAD_REQUEST, "invalid_client", 700024);

    // The issuer publishes its discovery document and key.
    let iss = issuer_url(&st.read());
    let path = url::Url::parse(&iss).unwrap().path().to_string();
    let r = send(
        &router,
        Request::get(format!("{path}.well-known/openid-configuration"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["issuer"], iss);
    let jwks = url::Url::parse(r.json()["jwks_uri"].as_str().unwrap()).unwrap();
    let r = send(&router, Request::get(jwks.path()).body(Body::empty()).unwrap()).await;
    assert_eq!(r.json()["keys"][0]["kid"], st.read().workload_issuer.key.kid);
}
