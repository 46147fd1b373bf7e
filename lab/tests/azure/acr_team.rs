//! The world's team registry (a second ACR the cluster is NOT attached to), over HTTPS
//! against a started lab with its own real docker-registry: the kubelet identity's
//! exchange is refused there (no role), its own ACR token pulls, tokens are per registry
//! (neither registry accepts the other's), and ARM serves the team registry, its tokens
//! and generateCredentials, whose expired password the front door then refuses.
//! Needs /usr/bin/docker-registry.

use std::time::Duration;

use crate::acr_common::*;

const BINARIES: [&str; 1] = ["/usr/bin/docker-registry"];
const TEAM_TOKEN: &str = "acr-chaos-probe";
const TEAM_PASSWORD: &str = "lab-team-token-password-1-not-a-secret";
const API: &str = "api-version=2025-04-01";

async fn basic_token(
    http: &reqwest::Client,
    base: &str,
    service: &str,
    user: &str,
    password: &str,
    repo: &str,
) -> reqwest::Response {
    http.get(format!("{base}/oauth2/token"))
        .query(&[("service", service), ("scope", &format!("repository:{repo}:pull"))])
        .basic_auth(user, Some(password))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_registry_is_not_attached_and_has_its_own_tokens() {
    if !have(&BINARIES, false) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lab = builder(tmp.path()).lro_delay(Duration::ZERO).start().await.expect("lab starts");
    let http = http(&lab);
    let team = lab.team_login_server().expect("the default world has a team registry").to_string();
    let team_url = lab.team_registry_url().unwrap();
    assert_eq!(team, "acrchaosteam.azurecr.io");

    // The kubelet identity: refresh token from the attached registry, refused by the team one.
    let aad = kubelet_entra_token(&lab, &http).await;
    assert_eq!(exchange(&lab, &http, &aad).await.status(), 200);
    let resp = http
        .post(format!("{team_url}/oauth2/exchange"))
        .form(&[
            ("grant_type", "access_token"),
            ("service", team.as_str()),
            ("tenant", &lab.tenant_id()),
            ("access_token", aad.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "no role on the team registry");

    // The team token pulls from the team registry's real docker-registry.
    let resp = basic_token(&http, &team_url, &team, TEAM_TOKEN, TEAM_PASSWORD, "team/app").await;
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    let access = v["access_token"].as_str().unwrap();
    let tags = http
        .get(format!("{team_url}/v2/team/app/tags/list"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.status(), 200);
    assert!(tags.text().await.unwrap().contains("\"1.0\""));
    // ... and its access token is no good on the attached registry (another service).
    let other = http
        .get(format!("{}/v2/team/app/tags/list", lab.registry_url()))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 401);

    // Tokens are per registry.
    let (main_url, main) = (lab.registry_url(), lab.login_server().to_string());
    let r = basic_token(&http, &main_url, &main, TEAM_TOKEN, TEAM_PASSWORD, "team/app").await;
    assert_eq!(r.status(), 401, "the team token is unknown to the attached registry");
    let r = basic_token(&http, &team_url, &team, TOKEN_NAME, TOKEN_PASSWORD, "probe/hello").await;
    assert_eq!(r.status(), 401, "the attached registry's token is unknown to the team one");

    // ARM: the registry, its token, and generateCredentials with an expiry.
    let bearer = arm_token(&lab, &http).await;
    let id = lab.team_registry_id().unwrap();
    let arm = lab.arm_endpoint();
    let reg: serde_json::Value = http
        .get(format!("{arm}{id}?{API}"))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reg["properties"]["loginServer"], team.as_str());
    let token_id = format!("{id}/tokens/{TEAM_TOKEN}");
    let resp =
        http.get(format!("{arm}{token_id}?{API}")).bearer_auth(&bearer).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let main_token = format!("{}/tokens/{TEAM_TOKEN}?{API}", lab.registry_id());
    let resp = http.get(format!("{arm}{main_token}")).bearer_auth(&bearer).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let expiry = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let resp = http
        .post(format!("{arm}{id}/generateCredentials?{API}"))
        .bearer_auth(&bearer)
        .json(&serde_json::json!({"tokenId": token_id, "name": "password2", "expiry": expiry}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    let password = v["passwords"][0]["value"].as_str().unwrap().to_string();
    let r = basic_token(&http, &team_url, &team, TEAM_TOKEN, &password, "team/app").await;
    assert_eq!(r.status(), 200, "fresh password2 works");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let r = basic_token(&http, &team_url, &team, TEAM_TOKEN, &password, "team/app").await;
    assert_eq!(r.status(), 401, "expired password2 is refused");
    let r = basic_token(&http, &team_url, &team, TEAM_TOKEN, TEAM_PASSWORD, "team/app").await;
    assert_eq!(r.status(), 200, "password1 still works");
    lab.stop().await;
}
