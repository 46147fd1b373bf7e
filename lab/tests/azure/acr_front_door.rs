//! The ACR front door over HTTPS against a started lab (real docker-registry behind it):
//! challenge and bodies, exchange and token grants, role inheritance and Reader, the
//! firewall, token lifetimes (issued tokens stay valid), knobs, lab.env, child clean-up.
//! Needs /usr/bin/docker-registry.

use std::time::Duration;

use acr_chaos_lab::acr::{Lifetimes, UNAUTHORIZED_BODY};

use crate::acr_common::*;

const BINARIES: [&str; 1] = ["/usr/bin/docker-registry"];
const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";

async fn token_with_refresh(
    lab: &acr_chaos_lab::lab::Lab,
    http: &reqwest::Client,
    rt: &str,
    scope: &str,
) -> reqwest::Response {
    http.post(format!("{}/oauth2/token", lab.registry_url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("service", lab.login_server()),
            ("scope", scope),
            ("refresh_token", rt),
        ])
        .send()
        .await
        .unwrap()
}

async fn tags(
    lab: &acr_chaos_lab::lab::Lab,
    http: &reqwest::Client,
    access: &str,
) -> reqwest::Response {
    http.get(format!("{}/v2/probe/hello/tags/list", lab.registry_url()))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
}

async fn access_token(resp: reqwest::Response) -> String {
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenge_exchange_token_and_proxy() {
    if !have(&BINARIES, false) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lab = start(tmp.path(), false).await;
    let http = http(&lab);

    // Challenge on /v2/ with ACR's 401 body; realm = the host the client used.
    let resp = http.get(format!("{}/v2/", lab.registry_url())).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert_eq!(
        challenge,
        format!(
            r#"Bearer realm="https://{}/oauth2/token",service="{}""#,
            lab.registry_addr(),
            lab.login_server()
        )
    );
    assert_eq!(resp.text().await.unwrap(), UNAUTHORIZED_BODY);

    // Anonymous token → 401 with ACR's body.
    let resp = http
        .get(format!(
            "{}/oauth2/token?service={}&scope=repository:probe/hello:pull",
            lab.registry_url(),
            lab.login_server()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.text().await.unwrap(), UNAUTHORIZED_BODY);

    // A forged Entra token is refused by the exchange.
    let resp = exchange(&lab, &http, "eyJhbGciOiJFUzI1NiJ9.e30.c2ln").await;
    assert_eq!(resp.status(), 401);

    // Kubelet identity: exchange → refresh token → access token → the real registry answers.
    let rt = kubelet_refresh_token(&lab, &http).await;
    let at =
        access_token(token_with_refresh(&lab, &http, &rt, "repository:probe/hello:pull").await)
            .await;
    let resp = tags(&lab, &http, &at).await;
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    let mut listed: Vec<String> =
        v["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
    listed.sort();
    assert_eq!(listed, ["latest", "v1", "v2"]);

    // A token for one repository does not open another: the registry says insufficient_scope.
    let resp = http
        .get(format!("{}/v2/team-a/api/tags/list", lab.registry_url()))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(challenge.contains(r#"error="insufficient_scope""#), "{challenge}");
    assert!(
        challenge.contains(&format!("https://{}/oauth2/token", lab.registry_addr())),
        "{challenge}"
    );

    // password grant is refused with 400 as on ACR (containerd falls back to GET + Basic).
    let resp = http
        .post(format!("{}/oauth2/token", lab.registry_url()))
        .form(&[
            ("grant_type", "password"),
            ("service", lab.login_server()),
            ("username", "x"),
            ("password", "y"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // Basic auth with the ACR token's name and password.
    let resp = http
        .get(format!(
            "{}/oauth2/token?service={}&scope=repository:probe/hello:pull",
            lab.registry_url(),
            lab.login_server()
        ))
        .basic_auth(TOKEN_NAME, Some(TOKEN_PASSWORD))
        .send()
        .await
        .unwrap();
    let at = access_token(resp).await;
    assert_eq!(tags(&lab, &http, &at).await.status(), 200);

    // Service principal appId + secret: the chaos runner (Owner on the resource group,
    // inherited) pulls; a wrong secret and the expired legacy SP are refused.
    let runner = lab.chaos_principal().unwrap();
    let sp_token = |user: &str, pass: &str| {
        http.get(format!(
            "{}/oauth2/token?service={}&scope=repository:probe/hello:pull",
            lab.registry_url(),
            lab.login_server()
        ))
        .basic_auth(user, Some(pass))
        .send()
    };
    assert_eq!(sp_token(&runner.client_id, &runner.secret).await.unwrap().status(), 200);
    assert_eq!(sp_token(&runner.client_id, "wrong").await.unwrap().status(), 401);
    let legacy =
        sp_token("1a2b3c4d-0000-4000-8000-0000000e4b1e", "lab-expired-secret-not-a-real-secret")
            .await
            .unwrap();
    assert_eq!(legacy.status(), 401);
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_inherit_reader_does_not_pull_and_issued_tokens_stay_valid() {
    if !have(&BINARIES, false) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // Propagation 150 s × 0.01 = 1.5 s: long enough to observe "not yet" reliably.
    let lab =
        builder(tmp.path()).propagation_delay(Duration::from_secs(150)).start().await.unwrap();
    let settle = || tokio::time::sleep(Duration::from_millis(2500));
    let http = http(&lab);
    let arm = arm_token(&lab, &http).await;
    let rt = kubelet_refresh_token(&lab, &http).await;
    let scope = "repository:probe/hello:pull";
    let issued = access_token(token_with_refresh(&lab, &http, &rt, scope).await).await;

    // Give the kubelet Reader on the resource group, then remove AcrPull.
    let sub = format!("/subscriptions/{}", lab.subscription_id());
    let rg_scope = format!("{sub}/resourceGroups/rg-acr-chaos-lab");
    let put = |name: &'static str, role: &'static str| {
        let url = format!(
            "{}{rg_scope}/providers/Microsoft.Authorization/roleAssignments/{name}?api-version=2022-04-01",
            lab.arm_endpoint()
        );
        let body = serde_json::json!({"properties": {
            "roleDefinitionId": format!("{sub}/providers/Microsoft.Authorization/roleDefinitions/{role}"),
            "principalId": KUBELET_OBJECT,
            "principalType": "ServicePrincipal",
        }});
        let req = http.put(url).bearer_auth(&arm).json(&body);
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status();
            assert!(status.is_success(), "PUT: {status} {}", resp.text().await.unwrap());
        }
    };
    put("5e7d3a10-0000-4000-8000-00000000beef", READER).await;
    detach(&lab, &http, &arm).await;
    settle().await;
    let resp = token_with_refresh(&lab, &http, &rt, scope).await;
    assert_eq!(resp.status(), 401, "Reader must not grant pull on ACR");
    assert_eq!(resp.text().await.unwrap(), UNAUTHORIZED_BODY);
    // The access token issued before the change stays valid until it expires.
    assert_eq!(tags(&lab, &http, &issued).await.status(), 200);

    // AcrPull at resource-group scope is inherited by the registry.
    put("6f8e4b21-0000-4000-8000-00000000beef", ACR_PULL).await;
    // Not before the propagation delay...
    let early = token_with_refresh(&lab, &http, &rt, scope).await;
    assert_eq!(early.status(), 401, "role change must wait for propagation");
    settle().await;
    let at = access_token(token_with_refresh(&lab, &http, &rt, scope).await).await;
    assert_eq!(tags(&lab, &http, &at).await.status(), 200);
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firewall_bodies_knobs_and_short_lifetimes() {
    if !have(&BINARIES, false) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lab = builder(tmp.path())
        .token_lifetimes(Lifetimes {
            refresh_token: Duration::from_secs(3600),
            access_token: Duration::from_secs(2),
        })
        .start()
        .await
        .unwrap();
    let http = http(&lab);
    let token_url = format!(
        "{}/oauth2/token?service={}&scope=repository:probe/hello:pull",
        lab.registry_url(),
        lab.login_server()
    );

    // Access token lifetime comes from the builder; the real registry refuses expired
    // tokens (distribution 2.8 allows 60 s of clock leeway, so forge one well past it).
    let resp =
        http.get(&token_url).basic_auth(TOKEN_NAME, Some(TOKEN_PASSWORD)).send().await.unwrap();
    let at = access_token(resp).await;
    let claims = lab.acr_signer().decode_access(&at).unwrap();
    assert_eq!(claims.exp - claims.iat, 2);
    assert_eq!(tags(&lab, &http, &at).await.status(), 200);
    let expired =
        lab.acr_signer().access_token(lab.login_server(), TOKEN_NAME, claims.access, -120);
    assert_eq!(tags(&lab, &http, &expired).await.status(), 401, "expired token must be refused");

    // Firewall deny: 403 DENIED on /oauth2/* and on credentialed /v2/*; the anonymous
    // challenge still comes first.
    let arm = arm_token(&lab, &http).await;
    patch_network(
        &lab,
        &http,
        &arm,
        serde_json::json!({"networkRuleSet": {"defaultAction": "Deny"}}),
    )
    .await;
    let resp = http.get(&token_url).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    let body = resp.text().await.unwrap();
    assert_eq!(
        body,
        r#"{"errors":[{"code":"DENIED","message":"client with IP \u0027127.0.0.1\u0027 is not allowed access. Refer https://aka.ms/acr/firewall to grant access."}]}"#
    );
    let resp =
        http.get(format!("{}/v2/", lab.registry_url())).bearer_auth("x").send().await.unwrap();
    assert_eq!(resp.status(), 403);
    let resp = http.get(format!("{}/v2/", lab.registry_url())).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    patch_network(
        &lab,
        &http,
        &arm,
        serde_json::json!({"networkRuleSet": {"defaultAction": "Allow"}}),
    )
    .await;
    assert_eq!(http.get(&token_url).send().await.unwrap().status(), 401);

    // Knobs over the ARM admin endpoint: 429 + Retry-After once, then normal again.
    let knobs = format!("{}/_lab/knobs", lab.arm_endpoint());
    let resp = http
        .post(&knobs)
        .json(&serde_json::json!({"endpoint": "acr-token", "fault": {"kind": "tooManyRequests", "retryAfterSecs": 3}, "next": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let resp =
        http.get(&token_url).basic_auth(TOKEN_NAME, Some(TOKEN_PASSWORD)).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "3");
    let resp =
        http.get(&token_url).basic_auth(TOKEN_NAME, Some(TOKEN_PASSWORD)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // Dropped connection on the registry path.
    lab.knobs()
        .set(
            "registry",
            acr_chaos_lab::knobs::Knob::next(acr_chaos_lab::knobs::Fault::DropConnection, 1),
        )
        .unwrap();
    let err = http.get(format!("{}/v2/", lab.registry_url())).send().await;
    assert!(err.is_err(), "connection should have been dropped: {err:?}");
    assert_eq!(http.get(format!("{}/v2/", lab.registry_url())).send().await.unwrap().status(), 401);
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_env_and_children_die_on_drop() {
    if !have(&BINARIES, false) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lab = start(tmp.path(), false).await;
    assert!(lab.started_in() < Duration::from_secs(20));
    let env = std::fs::read_to_string(tmp.path().join("lab.env")).unwrap();
    for key in [
        "ACR_CHAOS_LAB_CA",
        "ACR_CHAOS_LAB_REGISTRY",
        "ACR_CHAOS_LAB_REGISTRY_URL",
        "ACR_CHAOS_LAB_ARM_ENDPOINT",
        "ACR_CHAOS_LAB_AUTHORITY_HOST",
        "ACR_CHAOS_LAB_TENANT_ID",
        "ACR_CHAOS_LAB_SUBSCRIPTION_ID",
        "ACR_CHAOS_LAB_CLIENT_ID",
        "ACR_CHAOS_LAB_CLIENT_SECRET",
        "ACR_CHAOS_LAB_REGISTRY_ID",
        "ACR_CHAOS_LAB_CLUSTER_ID",
    ] {
        assert!(env.contains(&format!("export {key}='")), "{key} missing in:\n{env}");
    }
    assert!(env.contains(&format!("export ACR_CHAOS_LAB_REGISTRY_URL='{}'", lab.registry_url())));
    let pids = lab.registry_pids();
    assert_eq!(pids.len(), 3, "ACR, hub and the team registry");
    let url = lab.registry_url();
    drop(lab);
    for pid in pids {
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "registry {pid} survived");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
    assert!(http.get(format!("{url}/v2/")).send().await.is_err(), "front door still serving");
}
