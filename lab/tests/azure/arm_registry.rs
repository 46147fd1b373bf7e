//! ARM emulator: registries (GET, PATCH as an async operation), registry tokens,
//! generateCredentials (LRO via Location, passwords with expiry), managedClusters.

use std::net::IpAddr;
use std::time::Duration;

use acr_chaos_lab::arm;
use acr_chaos_lab::state::{DenyReason, SharedState, TokenError};
use http::StatusCode;
use serde_json::json;

use crate::arm_support::*;

const API: &str = "api-version=2025-04-01";
const LRO: Duration = Duration::from_secs(5);

async fn setup() -> (SharedState, axum::Router, String) {
    let st = shared(Duration::ZERO, LRO);
    let router = arm::router(st.clone());
    let token = token_for(&st, RUNNER_CLIENT, RUNNER_SECRET, ARM).await;
    (st, router, token)
}

fn reg_uri(suffix: &str) -> String {
    format!("{}{suffix}?{API}", registry_id())
}

fn path_of(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    format!("{}?{}", u.path(), u.query().unwrap_or(""))
}

#[tokio::test]
async fn registry_and_cluster_get_shapes() {
    let (_st, router, token) = setup().await;
    let r = arm(&router, "GET", &reg_uri(""), Some(&token), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let v = r.json();
    assert_eq!(v["id"], registry_id());
    assert_eq!(v["name"], "acrchaoslab");
    assert_eq!(v["type"], "Microsoft.ContainerRegistry/registries");
    assert_eq!(v["sku"]["name"], "Premium");
    assert_eq!(v["properties"]["loginServer"], "acrchaoslab.azurecr.io");
    assert_eq!(v["properties"]["provisioningState"], "Succeeded");
    assert_eq!(v["properties"]["publicNetworkAccess"], "Enabled");
    assert_eq!(v["properties"]["networkRuleSet"], json!({"defaultAction": "Allow", "ipRules": []}));

    // Case-insensitive ids.
    let upper = format!("{}?{API}", registry_id().to_uppercase());
    assert_eq!(arm(&router, "GET", &upper, Some(&token), None).await.status, StatusCode::OK);

    let missing =
        format!("{}/providers/Microsoft.ContainerRegistry/registries/otherreg?{API}", rg_id());
    let r = arm(&router, "GET", &missing, Some(&token), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"]["code"], "ResourceNotFound");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Microsoft.ContainerRegistry/registries/otherreg")
    );

    let cluster = format!(
        "{}/providers/Microsoft.ContainerService/managedClusters/aks-chaos-lab?api-version=2025-10-01",
        rg_id()
    );
    let r = arm(&router, "GET", &cluster, Some(&token), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let k = &r.json()["properties"]["identityProfile"]["kubeletidentity"];
    assert_eq!(k["clientId"], KUBELET_CLIENT);
    assert_eq!(k["objectId"], KUBELET_OBJECT);
    assert!(
        k["resourceId"]
            .as_str()
            .unwrap()
            .contains("/userAssignedIdentities/aks-chaos-lab-agentpool")
    );
    let r =
        arm(&router, "GET", &cluster.replace("aks-chaos-lab?", "nope?"), Some(&token), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn firewall_patch_is_an_async_operation_applied_on_success() {
    let (st, router, token) = setup().await;
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let deny = json!({ "properties": { "networkRuleSet": { "defaultAction": "Deny", "ipRules": [ { "action": "Allow", "value": "203.0.113.0/24" } ] } } });
    let r = arm(&router, "PATCH", &reg_uri(""), Some(&token), Some(deny)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json()["properties"]["provisioningState"], "Updating");
    assert_eq!(r.json()["properties"]["networkRuleSet"]["defaultAction"], "Deny");
    let op = r.header("azure-asyncoperation").expect("Azure-AsyncOperation header");
    assert!(op.starts_with("https://") && op.contains("api-version="), "{op}");
    assert!(r.header("retry-after").is_some());

    // Not applied while the operation runs.
    assert_eq!(st.read().network_allows(ip), Ok(()));
    let poll = arm(&router, "GET", &path_of(&op), Some(&token), None).await;
    assert_eq!(poll.status, StatusCode::OK);
    assert_eq!(poll.json()["status"], "InProgress");
    assert_eq!(
        arm(&router, "GET", &reg_uri(""), Some(&token), None).await.json()["properties"]["provisioningState"],
        "Updating"
    );

    st.read().clock.advance(LRO + Duration::from_millis(10));
    let poll = arm(&router, "GET", &path_of(&op), Some(&token), None).await;
    assert_eq!(poll.json()["status"], "Succeeded");
    assert!(poll.json()["endTime"].is_string());
    assert_eq!(st.read().network_allows(ip), Err(DenyReason::NotInIpRules(ip)));
    let v = arm(&router, "GET", &reg_uri(""), Some(&token), None).await.json();
    assert_eq!(v["properties"]["provisioningState"], "Succeeded");
    assert_eq!(v["properties"]["networkRuleSet"]["ipRules"][0]["value"], "203.0.113.0/24");

    // publicNetworkAccess=Disabled, then restore the exact prior values.
    let r = arm(
        &router,
        "PATCH",
        &reg_uri(""),
        Some(&token),
        Some(json!({"properties": {"publicNetworkAccess": "Disabled"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    st.read().clock.advance(LRO + Duration::from_millis(10));
    assert_eq!(st.read().network_allows(ip), Err(DenyReason::PublicNetworkAccessDisabled));
    let restore = json!({"properties": {"publicNetworkAccess": "Enabled", "networkRuleSet": {"defaultAction": "Allow", "ipRules": []}}});
    arm(&router, "PATCH", &reg_uri(""), Some(&token), Some(restore)).await;
    st.read().clock.advance(LRO + Duration::from_millis(10));
    assert_eq!(st.read().network_allows(ip), Ok(()));

    // Validation.
    for (bad, code) in [
        (json!({"properties": {"publicNetworkAccess": "Sometimes"}}), "BadRequest"),
        (json!({"properties": {"networkRuleSet": {"ipRules": []}}}), "InvalidRequestContent"),
        (
            json!({"properties": {"networkRuleSet": {"defaultAction": "Deny", "ipRules": [{"value": "2001:db8::/32"}]}}}),
            "InvalidIpRule",
        ),
    ] {
        let r = arm(&router, "PATCH", &reg_uri(""), Some(&token), Some(bad)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert_eq!(r.json()["error"]["code"], code, "{}", r.text);
    }
    let r = send(
        &router,
        http::Request::patch(reg_uri(""))
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::from("{\"properties\": "))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("line 1"), "{}", r.text);
}

#[tokio::test]
async fn tokens_get_and_patch_status() {
    let (st, router, token) = setup().await;
    let pw = "lab-token-password-1-not-a-secret";
    let r = arm(&router, "GET", &reg_uri("/tokens"), Some(&token), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["value"][0]["name"], "probe-pull");
    let r = arm(&router, "GET", &reg_uri("/tokens/PROBE-PULL"), Some(&token), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let v = r.json();
    assert_eq!(v["type"], "Microsoft.ContainerRegistry/registries/tokens");
    assert_eq!(v["properties"]["status"], "enabled");
    assert_eq!(v["properties"]["credentials"]["passwords"][0]["name"], "password1");
    assert!(!r.text.contains(pw), "GET never returns password values");

    let r = arm(
        &router,
        "PATCH",
        &reg_uri("/tokens/probe-pull"),
        Some(&token),
        Some(json!({"properties": {"status": "disabled"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["properties"]["status"], "disabled");
    assert!(matches!(
        st.read().check_token("probe-pull", pw, "probe/hello"),
        Err(TokenError::Disabled(_))
    ));
    arm(
        &router,
        "PATCH",
        &reg_uri("/tokens/probe-pull"),
        Some(&token),
        Some(json!({"properties": {"status": "enabled"}})),
    )
    .await;
    assert_eq!(st.read().check_token("probe-pull", pw, "probe/hello"), Ok(()));

    let r = arm(
        &router,
        "PATCH",
        &reg_uri("/tokens/probe-pull"),
        Some(&token),
        Some(json!({"properties": {"status": "paused"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = arm(&router, "GET", &reg_uri("/tokens/nosuchtoken"), Some(&token), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"]["code"], "ResourceNotFound");
}

#[tokio::test]
async fn generate_credentials_lro_with_expiry() {
    let (st, router, token) = setup().await;
    let expiry = st.read().clock.utc_now() + chrono::Duration::seconds(120);
    let body = json!({ "tokenId": format!("{}/tokens/probe-pull", registry_id()), "expiry": expiry.to_rfc3339(), "name": "password1" });
    let r = arm(&router, "POST", &reg_uri("/generateCredentials"), Some(&token), Some(body)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let location = r.header("location").expect("Location header");
    let poll = arm(&router, "GET", &path_of(&location), Some(&token), None).await;
    assert_eq!(poll.status, StatusCode::ACCEPTED);
    st.read().clock.advance(LRO + Duration::from_millis(10));
    let poll = arm(&router, "GET", &path_of(&location), Some(&token), None).await;
    assert_eq!(poll.status, StatusCode::OK, "{}", poll.text);
    let v = poll.json();
    assert_eq!(v["username"], "probe-pull");
    let passwords = v["passwords"].as_array().unwrap();
    assert_eq!(passwords.len(), 1);
    assert_eq!(passwords[0]["name"], "password1");
    assert!(passwords[0]["creationTime"].is_string());
    let got =
        chrono::DateTime::parse_from_rfc3339(passwords[0]["expiry"].as_str().unwrap()).unwrap();
    assert_eq!(got.timestamp(), expiry.timestamp());
    let value = passwords[0]["value"].as_str().unwrap().to_string();

    // The new password works until it expires; the old one is gone.
    assert_eq!(st.read().check_token("probe-pull", &value, "probe/hello"), Ok(()));
    assert!(matches!(
        st.read().check_token("probe-pull", "lab-token-password-1-not-a-secret", "probe/hello"),
        Err(TokenError::WrongPassword(_))
    ));
    st.read().clock.advance(Duration::from_secs(120));
    assert!(matches!(
        st.read().check_token("probe-pull", &value, "probe/hello"),
        Err(TokenError::Expired { .. })
    ));
    // The token GET shows expiry, not the value.
    let r = arm(&router, "GET", &reg_uri("/tokens/probe-pull"), Some(&token), None).await;
    assert!(r.json()["properties"]["credentials"]["passwords"][0]["expiry"].is_string());
    assert!(!r.text.contains(&value));

    // Without a name both passwords come back.
    let body = json!({ "tokenId": format!("{}/tokens/probe-pull", registry_id()) });
    let r = arm(&router, "POST", &reg_uri("/generateCredentials"), Some(&token), Some(body)).await;
    st.read().clock.advance(LRO + Duration::from_millis(10));
    let v = arm(&router, "GET", &path_of(&r.header("location").unwrap()), Some(&token), None)
        .await
        .json();
    assert_eq!(v["passwords"].as_array().unwrap().len(), 2);

    let body = json!({ "tokenId": format!("{}/tokens/ghost-token", registry_id()) });
    let r = arm(&router, "POST", &reg_uri("/generateCredentials"), Some(&token), Some(body)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let body = json!({ "tokenId": "/subscriptions/x/tokens/y", "expiry": "tomorrow" });
    let r = arm(&router, "POST", &reg_uri("/generateCredentials"), Some(&token), Some(body)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn registry_writes_need_contributor() {
    let (st, router, _) = setup().await;
    // The kubelet identity (AcrPull only) can neither read nor patch the registry resource.
    let kubelet = acr_chaos_lab::entra::issue_access_token(
        &st.read(),
        KUBELET_CLIENT,
        KUBELET_OBJECT,
        ARM,
        None,
    )
    .0;
    let r = arm(
        &router,
        "PATCH",
        &reg_uri(""),
        Some(&kubelet),
        Some(json!({"properties": {"publicNetworkAccess": "Disabled"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Microsoft.ContainerRegistry/registries/write")
    );
    let r = arm(&router, "GET", &reg_uri(""), Some(&kubelet), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(st.read().registry_network.public_network_access, "Enabled");
}

#[tokio::test]
async fn sub_second_operations_advertise_no_retry_after() {
    // A sped-up lab (scaled LRO delay under ARM's one-second Retry-After granularity)
    // must not make clients wait a whole second per poll.
    let st = shared(Duration::ZERO, Duration::from_millis(100));
    let router = arm::router(st.clone());
    let token = token_for(&st, RUNNER_CLIENT, RUNNER_SECRET, ARM).await;
    let deny = json!({ "properties": { "publicNetworkAccess": "Disabled" } });
    let r = arm(&router, "PATCH", &reg_uri(""), Some(&token), Some(deny)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert!(r.header("azure-asyncoperation").is_some());
    assert!(r.header("retry-after").is_none(), "no Retry-After for a 100 ms operation");
}

#[tokio::test]
async fn scope_maps_list_the_system_maps_and_one_per_token() {
    let (_st, router, token) = setup().await;
    let r = arm(&router, "GET", &reg_uri("/scopeMaps"), Some(&token), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let v = r.json();
    let names: Vec<&str> =
        v["value"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    for system in ["_repositories_admin", "_repositories_pull", "_repositories_push"] {
        assert!(names.contains(&system), "{names:?}");
    }
    assert!(names.contains(&"probe-pull-scope-map"), "{names:?}");

    let r =
        arm(&router, "GET", &reg_uri("/scopeMaps/_repositories_pull"), Some(&token), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let m = r.json();
    assert_eq!(m["id"], format!("{}/scopeMaps/_repositories_pull", registry_id()));
    assert_eq!(m["type"], "Microsoft.ContainerRegistry/registries/scopeMaps");
    assert_eq!(m["properties"]["type"], "SystemDefined");
    assert_eq!(m["properties"]["actions"], json!(["repositories/*/content/read"]));

    // The token's own scope map: the one its scopeMapId names.
    let t = arm(&router, "GET", &reg_uri("/tokens/probe-pull"), Some(&token), None).await.json();
    let id = t["properties"]["scopeMapId"].as_str().unwrap().to_string();
    let r = arm(&router, "GET", &format!("{id}?{API}"), Some(&token), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["properties"]["type"], "UserDefined");
    assert_eq!(r.json()["properties"]["actions"], json!(["repositories/probe/hello/content/read"]));

    let r = arm(&router, "GET", &reg_uri("/scopeMaps/nope"), Some(&token), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"]["code"], "ResourceNotFound");
    let r =
        arm(&router, "DELETE", &reg_uri("/scopeMaps/_repositories_pull"), Some(&token), None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn unsupported_api_versions_are_refused_as_arm_refuses_them() {
    let (_st, router, token) = setup().await;
    let r = arm(
        &router,
        "GET",
        &format!("{}?api-version=2016-01-01", registry_id()),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let e = &r.json()["error"];
    assert_eq!(e["code"], "NoRegisteredProviderFound");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.starts_with("No registered resource provider found for location 'westeurope' and API version '2016-01-01' for type 'registries'. The supported api-versions are '")
            && msg.contains("2025-04-01")
            && msg.ends_with("The supported locations are 'westeurope'."),
        "{msg}"
    );
    assert_eq!(e["target"], serde_json::Value::Null);

    let defs = format!(
        "{}/providers/Microsoft.Authorization/roleDefinitions?api-version=2099-01-01",
        rg_id()
    );
    let r = arm(&router, "GET", &defs, Some(&token), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.json()["error"]["code"], "InvalidResourceType");
    assert!(r.json()["error"]["message"].as_str().unwrap().starts_with(
        "The resource type 'roleDefinitions' could not be found in the namespace 'Microsoft.Authorization' for api version '2099-01-01'. The supported api-versions are '"
    ));

    let cluster = format!(
        "{}/providers/Microsoft.ContainerService/managedClusters/aks-chaos-lab?api-version=2025-04-01-preview",
        rg_id()
    );
    let r = arm(&router, "GET", &cluster, Some(&token), None).await;
    assert_eq!(r.json()["error"]["code"], "NoRegisteredProviderFound", "{}", r.text);
    assert!(r.text.contains("for type 'managedClusters'"), "{}", r.text);
    // The versions in use answer.
    let ok = format!(
        "{}/providers/Microsoft.ContainerRegistry/registries?api-version=2025-11-01",
        rg_id()
    );
    assert_eq!(arm(&router, "GET", &ok, Some(&token), None).await.status, StatusCode::OK);
}
