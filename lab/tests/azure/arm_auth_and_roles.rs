//! ARM emulator: authentication, api-version, the error envelope, and role assignments
//! (list with $filter, paging, get, PUT, DELETE, re-create, propagation delay, 403).

use std::time::Duration;

use acr_chaos_lab::arm;
use acr_chaos_lab::state::SharedState;
use acr_chaos_lab::world::{Principal, RoleAssignmentSpec};
use http::StatusCode;
use serde_json::{Value, json};

use crate::arm_support::*;

const API: &str = "api-version=2022-04-01";
const READER_CLIENT: &str = "77777777-0000-4000-8000-00000000eade";
const READER_OBJECT: &str = "88888888-0000-4000-8000-00000000eade";
const READER_SECRET: &str = "lab-reader-secret-not-a-secret";

/// Default world plus a principal holding only Reader on the resource group.
fn lab(propagation: Duration) -> SharedState {
    let st = shared(propagation, Duration::from_secs(2));
    {
        let mut s = st.write();
        s.principals.push(Principal {
            display_name: "reader".into(),
            client_id: READER_CLIENT.into(),
            object_id: READER_OBJECT.into(),
            secret: Some(READER_SECRET.into()),
            secret_expires: None,
            principal_type: "ServicePrincipal".into(),
            federated_credentials: Vec::new(),
        });
        let mut w = s.world.clone();
        w.role_assignments = vec![RoleAssignmentSpec {
            name: "3d5e1a87-0000-4000-8000-0000000acd04".into(),
            scope: rg_id(),
            role: "acdd72a7-3385-48ef-bd42-f606fba81ae7".into(),
            principal_id: READER_OBJECT.into(),
            principal_type: "ServicePrincipal".into(),
            description: None,
        }];
        let seeded = acr_chaos_lab::state::State::new(w, Default::default()).role_assignments;
        s.role_assignments.extend(seeded);
    }
    st
}

fn ra_list(scope: &str, filter: Option<&str>) -> String {
    match filter {
        Some(f) => format!(
            "{scope}/providers/Microsoft.Authorization/roleAssignments?{API}&$filter={}",
            f.replace(' ', "%20").replace('\'', "%27")
        ),
        None => format!("{scope}/providers/Microsoft.Authorization/roleAssignments?{API}"),
    }
}

fn ra(scope: &str, name: &str) -> String {
    format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}?{API}")
}

fn body(role: &str, principal: &str) -> Value {
    json!({ "properties": {
        "roleDefinitionId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{role}"),
        "principalId": principal, "principalType": "ServicePrincipal" } })
}

fn assert_arm_error(r: &Reply, status: StatusCode, code: &str) -> String {
    assert_eq!(r.status, status, "{}", r.text);
    let v = r.json();
    assert_eq!(v["error"]["code"], code, "{}", r.text);
    v["error"]["message"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn requests_without_valid_token_or_api_version_are_refused_like_arm() {
    let st = lab(Duration::ZERO);
    let router = arm::router(st.clone());
    let uri = ra_list(&registry_id(), None);

    let r = arm(&router, "GET", &uri, None, None).await;
    let msg = assert_arm_error(&r, StatusCode::UNAUTHORIZED, "AuthenticationFailed");
    assert_eq!(msg, "Authentication failed. The 'Authorization' header is missing.");
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer authorization_uri="));

    let r = arm(&router, "GET", &uri, Some("not-a-jwt"), None).await;
    assert_arm_error(&r, StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");

    let other_aud =
        token_for(&st, RUNNER_CLIENT, RUNNER_SECRET, "https://api.loganalytics.io/").await;
    let r = arm(&router, "GET", &uri, Some(&other_aud), None).await;
    assert_arm_error(&r, StatusCode::UNAUTHORIZED, "InvalidAuthenticationTokenAudience");

    let token = token_for(&st, RUNNER_CLIENT, RUNNER_SECRET, ARM).await;
    let no_version = format!("{}/providers/Microsoft.Authorization/roleAssignments", registry_id());
    let r = arm(&router, "GET", &no_version, Some(&token), None).await;
    let msg = assert_arm_error(&r, StatusCode::BAD_REQUEST, "MissingApiVersionParameter");
    assert_eq!(
        msg,
        "The api-version query parameter (?api-version=) is required for all requests."
    );
    let r = arm(&router, "GET", &format!("{no_version}?api-version=yesterday"), Some(&token), None)
        .await;
    assert_arm_error(&r, StatusCode::BAD_REQUEST, "InvalidApiVersionParameter");

    let r = arm(&router, "GET", &format!("/subscriptions/{}/resourceGroups/nope/providers/Microsoft.ContainerRegistry/registries/x?{API}", SUB), Some(&token), None).await;
    assert_arm_error(&r, StatusCode::NOT_FOUND, "ResourceGroupNotFound");
    let r = arm(
        &router,
        "GET",
        &format!("/subscriptions/11111111-0000-4000-8000-000000000000/resourceGroups/rg?{API}"),
        Some(&token),
        None,
    )
    .await;
    assert_arm_error(&r, StatusCode::NOT_FOUND, "SubscriptionNotFound");

    assert_eq!(arm(&router, "GET", &uri, Some(&token), None).await.status, StatusCode::OK);
    st.read().clock.advance(Duration::from_secs(3600));
    let r = arm(&router, "GET", &uri, Some(&token), None).await;
    assert_arm_error(&r, StatusCode::UNAUTHORIZED, "ExpiredAuthenticationToken");
}

fn names(v: &Value) -> Vec<String> {
    let mut n: Vec<String> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

#[tokio::test]
async fn list_filter_semantics() {
    let st = lab(Duration::ZERO);
    let router = arm::router(st.clone());
    let token = token_for(&st, RUNNER_CLIENT, RUNNER_SECRET, ARM).await;
    const KUBELET_RA: &str = "0f2a8d54-0000-4000-8000-0000000acd01";
    const RUNNER_RG_RA: &str = "1b3c9e65-0000-4000-8000-0000000acd02";
    const READER_RA: &str = "3d5e1a87-0000-4000-8000-0000000acd04";

    // atScope() at the registry: at or above (the RG-scope ones inherited), not the node RG's.
    let r =
        arm(&router, "GET", &ra_list(&registry_id(), Some("atScope()")), Some(&token), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(names(&r.json()), vec![KUBELET_RA, RUNNER_RG_RA, READER_RA]);

    // atScope() at the RG: the registry-scope (child) assignment is excluded ...
    let r = arm(&router, "GET", &ra_list(&rg_id(), Some("atScope()")), Some(&token), None).await;
    assert_eq!(names(&r.json()), vec![RUNNER_RG_RA, READER_RA]);
    // ... but principalId alone includes at, above and below.
    let filter = format!("principalId eq '{KUBELET_OBJECT}'");
    let r = arm(&router, "GET", &ra_list(&rg_id(), Some(&filter)), Some(&token), None).await;
    assert_eq!(names(&r.json()), vec![KUBELET_RA]);
    // Combined with 'and', principal id in upper case.
    let filter = format!("atScope() and principalId eq '{}'", KUBELET_OBJECT.to_uppercase());
    let r = arm(&router, "GET", &ra_list(&rg_id(), Some(&filter)), Some(&token), None).await;
    assert!(names(&r.json()).is_empty());
    let r = arm(
        &router,
        "GET",
        &ra_list(&registry_id().to_uppercase(), Some(&filter)),
        Some(&token),
        None,
    )
    .await;
    let v = r.json();
    assert_eq!(names(&v), vec![KUBELET_RA]);
    let a = &v["value"][0];
    assert_eq!(a["type"], "Microsoft.Authorization/roleAssignments");
    assert_eq!(a["properties"]["principalId"], KUBELET_OBJECT);
    assert_eq!(a["properties"]["scope"], registry_id());
    assert!(a["properties"]["roleDefinitionId"].as_str().unwrap().ends_with(ACR_PULL));
    assert_eq!(
        a["id"],
        format!("{}/providers/Microsoft.Authorization/roleAssignments/{KUBELET_RA}", registry_id())
    );

    // No filter at the RG: all that apply (at, above, below).
    let r = arm(&router, "GET", &ra_list(&rg_id(), None), Some(&token), None).await;
    assert_eq!(names(&r.json()), vec![KUBELET_RA, RUNNER_RG_RA, READER_RA]);

    let r = arm(
        &router,
        "GET",
        &ra_list(&rg_id(), Some("roleDefinitionId eq 'x'")),
        Some(&token),
        None,
    )
    .await;
    assert_arm_error(&r, StatusCode::BAD_REQUEST, "InvalidFilterInQueryString");
}

#[tokio::test]
async fn paging_follows_next_link() {
    let st = lab(Duration::ZERO);
    st.write().options.page_size = 1;
    let router = arm::router(st.clone());
    let token = token_for(&st, RUNNER_CLIENT, RUNNER_SECRET, ARM).await;
    let mut uri = ra_list(&registry_id(), Some("atScope()"));
    let mut seen = Vec::new();
    for _ in 0..10 {
        let r = arm(&router, "GET", &uri, Some(&token), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let v = r.json();
        assert_eq!(v["value"].as_array().unwrap().len(), 1);
        seen.extend(names(&v));
        match v["nextLink"].as_str() {
            Some(next) => {
                assert!(next.starts_with("https://"), "{next}");
                let u = url::Url::parse(next).unwrap();
                uri = format!("{}?{}", u.path(), u.query().unwrap());
            }
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen.len(), 3);
}

#[tokio::test]
async fn put_get_delete_recreate_and_errors() {
    let st = lab(Duration::ZERO);
    let router = arm::router(st.clone());
    let token = token_for(&st, RUNNER_CLIENT, RUNNER_SECRET, ARM).await;
    let reg = registry_id();
    let name = "5e8f2b11-1111-4000-8000-00000000beef";
    let principal = "99999999-0000-4000-8000-000000000099"; // unknown to Entra: principalType set

    let r =
        arm(&router, "PUT", &ra(&reg, name), Some(&token), Some(body(ACR_PULL, principal))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let created = r.json();
    assert_eq!(created["name"], name);
    assert_eq!(created["properties"]["scope"], reg);
    assert_eq!(created["properties"]["createdBy"], RUNNER_OBJECT);
    // Idempotent repeat.
    let r =
        arm(&router, "PUT", &ra(&reg, name), Some(&token), Some(body(ACR_PULL, principal))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // Same principal/role/scope under another name.
    let r = arm(
        &router,
        "PUT",
        &ra(&reg, "6f9a3c22-2222-4000-8000-00000000beef"),
        Some(&token),
        Some(body(ACR_PULL, principal)),
    )
    .await;
    let msg = assert_arm_error(&r, StatusCode::CONFLICT, "RoleAssignmentExists");
    assert!(msg.starts_with("The role assignment already exists."), "{msg}");
    assert!(msg.contains("5e8f2b1111114000800000000000beef"), "{msg}");
    // Changing the role of an existing name.
    let r = arm(
        &router,
        "PUT",
        &ra(&reg, name),
        Some(&token),
        Some(body("8311e382-0749-4cb8-b61a-304f252e45ec", principal)),
    )
    .await;
    assert_arm_error(&r, StatusCode::BAD_REQUEST, "RoleAssignmentUpdateNotPermitted");
    // Non-GUID name.
    let r =
        arm(&router, "PUT", &ra(&reg, "not-a-guid"), Some(&token), Some(body(ACR_PULL, principal)))
            .await;
    let msg = assert_arm_error(&r, StatusCode::BAD_REQUEST, "InvalidRoleAssignmentId");
    assert_eq!(
        msg,
        "The role assignment ID 'not-a-guid' is not valid. The role assignment ID must be a GUID."
    );
    // Unknown principal without principalType; unknown role; bad body.
    let mut b = body(ACR_PULL, principal);
    b["properties"].as_object_mut().unwrap().remove("principalType");
    let r = arm(
        &router,
        "PUT",
        &ra(&reg, "7a0b4d33-3333-4000-8000-00000000beef"),
        Some(&token),
        Some(b),
    )
    .await;
    assert_arm_error(&r, StatusCode::BAD_REQUEST, "PrincipalNotFound");
    let r = arm(
        &router,
        "PUT",
        &ra(&reg, "7a0b4d33-3333-4000-8000-00000000beef"),
        Some(&token),
        Some(body("00000000-0000-0000-0000-000000000000", principal)),
    )
    .await;
    assert_arm_error(&r, StatusCode::BAD_REQUEST, "RoleDefinitionDoesNotExist");
    let r = arm(
        &router,
        "PUT",
        &ra(&reg, "7a0b4d33-3333-4000-8000-00000000beef"),
        Some(&token),
        Some(json!({"properties": {}})),
    )
    .await;
    assert!(
        assert_arm_error(&r, StatusCode::BAD_REQUEST, "InvalidRequestContent")
            .contains("roleDefinitionId")
    );

    // GET by full id, case-insensitively.
    let id = created["id"].as_str().unwrap();
    let r = arm(&router, "GET", &format!("{}?{API}", id.to_uppercase()), Some(&token), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["name"], name);

    // DELETE by id: 200 + body, then 204; GET → 404.
    let r = arm(&router, "DELETE", &format!("{id}?{API}"), Some(&token), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["name"], name);
    let r = arm(&router, "DELETE", &format!("{id}?{API}"), Some(&token), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = arm(&router, "GET", &format!("{id}?{API}"), Some(&token), None).await;
    assert_arm_error(&r, StatusCode::NOT_FOUND, "RoleAssignmentNotFound");
    // Re-create under the same name works.
    let r =
        arm(&router, "PUT", &ra(&reg, name), Some(&token), Some(body(ACR_PULL, principal))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

#[tokio::test]
async fn callers_without_rights_get_authorization_failed() {
    let st = lab(Duration::ZERO);
    let router = arm::router(st.clone());
    let reader = token_for(&st, READER_CLIENT, READER_SECRET, ARM).await;
    let reg = registry_id();
    // Reader may list ...
    assert_eq!(
        arm(&router, "GET", &ra_list(&reg, None), Some(&reader), None).await.status,
        StatusCode::OK
    );
    // ... but not write or delete.
    let r = arm(
        &router,
        "PUT",
        &ra(&reg, "5e8f2b11-1111-4000-8000-00000000beef"),
        Some(&reader),
        Some(body(ACR_PULL, READER_OBJECT)),
    )
    .await;
    let msg = assert_arm_error(&r, StatusCode::FORBIDDEN, "AuthorizationFailed");
    assert_eq!(
        msg,
        format!(
            "The client '{READER_CLIENT}' with object id '{READER_OBJECT}' does not have authorization to perform action 'Microsoft.Authorization/roleAssignments/write' over scope '{reg}' or the scope is invalid. If access was recently granted, please refresh your credentials."
        )
    );
    let r = arm(
        &router,
        "DELETE",
        &ra(&reg, "0f2a8d54-0000-4000-8000-0000000acd01"),
        Some(&reader),
        None,
    )
    .await;
    assert_arm_error(&r, StatusCode::FORBIDDEN, "AuthorizationFailed");
    assert!(st.read().can_pull(KUBELET_OBJECT), "nothing was deleted");
    // The kubelet identity (token from IMDS) holds only AcrPull: no reads either.
    let kubelet = {
        let s = st.read();
        acr_chaos_lab::entra::issue_access_token(&s, KUBELET_CLIENT, KUBELET_OBJECT, ARM, None).0
    };
    let r = arm(&router, "GET", &ra_list(&reg, None), Some(&kubelet), None).await;
    assert_arm_error(&r, StatusCode::FORBIDDEN, "AuthorizationFailed");
}

#[tokio::test]
async fn role_changes_take_effect_after_the_propagation_delay() {
    let st = lab(Duration::from_secs(30));
    let router = arm::router(st.clone());
    let token = token_for(&st, RUNNER_CLIENT, RUNNER_SECRET, ARM).await;
    let reg = registry_id();
    let kubelet_ra = ra(&reg, "0f2a8d54-0000-4000-8000-0000000acd01");

    assert!(st.read().can_pull(KUBELET_OBJECT));
    assert_eq!(
        arm(&router, "DELETE", &kubelet_ra, Some(&token), None).await.status,
        StatusCode::OK
    );
    assert!(st.read().can_pull(KUBELET_OBJECT), "deletion not yet propagated");
    st.read().clock.advance(Duration::from_secs(31));
    assert!(!st.read().can_pull(KUBELET_OBJECT), "deletion propagated");

    // Re-attach under the same name: not effective until the delay passes.
    let r =
        arm(&router, "PUT", &kubelet_ra, Some(&token), Some(body(ACR_PULL, KUBELET_OBJECT))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert!(!st.read().can_pull(KUBELET_OBJECT));
    st.read().clock.advance(Duration::from_secs(31));
    assert!(st.read().can_pull(KUBELET_OBJECT));

    // Time scale shrinks the real delay: 30 s × 0.001 = 30 ms.
    let fast = shared(Duration::from_secs(30), Duration::ZERO);
    {
        let mut s = fast.write();
        s.options.time_scale = 0.001;
        s.clock = acr_chaos_lab::state::Clock::new(0.001);
    }
    let router = arm::router(fast.clone());
    let token = token_for(&fast, RUNNER_CLIENT, RUNNER_SECRET, ARM).await;
    assert_eq!(
        arm(&router, "DELETE", &kubelet_ra, Some(&token), None).await.status,
        StatusCode::OK
    );
    assert!(fast.read().can_pull(KUBELET_OBJECT));
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert!(!fast.read().can_pull(KUBELET_OBJECT));
}

#[tokio::test]
async fn role_assignment_scopes_outside_the_world_are_not_found() {
    let st = lab(Duration::ZERO);
    let router = arm::router(st.clone());
    let token = token_for(&st, RUNNER_CLIENT, RUNNER_SECRET, ARM).await;
    let other_sub = "/subscriptions/11111111-0000-4000-8000-000000000000";
    let r = arm(&router, "GET", &ra_list(other_sub, None), Some(&token), None).await;
    assert_arm_error(&r, StatusCode::NOT_FOUND, "SubscriptionNotFound");
    let other_rg = format!("/subscriptions/{SUB}/resourceGroups/rg-missing");
    let r = arm(
        &router,
        "PUT",
        &ra(&other_rg, "5e8f2b11-1111-4000-8000-00000000beef"),
        Some(&token),
        Some(body(ACR_PULL, KUBELET_OBJECT)),
    )
    .await;
    assert_arm_error(&r, StatusCode::NOT_FOUND, "ResourceGroupNotFound");
}

/// Over real TLS with a token from azure_identity: the same answers, and absolute URLs
/// (nextLink) point back at this endpoint.
#[tokio::test]
async fn over_tls_with_an_azure_identity_token() {
    use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
    use azure_core::credentials::TokenCredential;
    use azure_core::http::{ClientOptions, Transport};
    use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
    use std::sync::Arc;

    let st = lab(Duration::ZERO);
    st.write().options.page_size = 2;
    let ca = acr_chaos_lab::tls::LabCa::generate().unwrap();
    let ips = ["127.0.0.1".parse().unwrap()];
    let loopback = "127.0.0.1:0".parse().unwrap();
    let entra = acr_chaos_lab::server::serve_tls(
        acr_chaos_lab::entra::router(st.clone()),
        ca.rustls_server_config(&["localhost"], &ips).unwrap(),
        loopback,
    )
    .await
    .unwrap();
    let arm_srv = acr_chaos_lab::server::serve_tls(
        arm::router(st.clone()),
        ca.rustls_server_config(&["localhost"], &ips).unwrap(),
        loopback,
    )
    .await
    .unwrap();
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured((*ca.rustls_client_config()).clone())
        .build()
        .unwrap();
    let mut cloud = CustomConfiguration::default();
    cloud.authority_host = entra.url("https");
    let cred = ClientSecretCredential::new(
        TENANT,
        RUNNER_CLIENT.into(),
        RUNNER_SECRET.to_string().into(),
        Some(ClientSecretCredentialOptions {
            client_options: ClientOptions {
                transport: Some(Transport::new(Arc::new(http.clone()))),
                cloud: Some(Arc::new(CloudConfiguration::Custom(cloud))),
                ..Default::default()
            },
        }),
    )
    .unwrap();
    let token = cred.get_token(&["https://management.azure.com/.default"], None).await.unwrap();
    let base = arm_srv.url("https");

    let resp = http
        .get(format!("{base}{}", ra_list(&registry_id(), Some("atScope()"))))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "no token");
    let mut url = format!("{base}{}", ra_list(&registry_id(), Some("atScope()")));
    let mut total = 0;
    loop {
        let resp = http.get(&url).bearer_auth(token.token.secret()).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        total += v["value"].as_array().unwrap().len();
        match v["nextLink"].as_str() {
            Some(next) => {
                assert!(next.starts_with(&base), "{next} must point at {base}");
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(total, 3);
    let resp = http
        .get(format!("{base}{}", registry_id()))
        .bearer_auth(token.token.secret())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "MissingApiVersionParameter");
}

/// A principal holding `role` (a custom role from the world, or a built-in GUID) on the
/// resource group, with a token.
async fn principal_with(st: &SharedState, role_guid: &str, n: u8) -> (String, String) {
    let (client, object) = (
        format!("9{n}9{n}9{n}9{n}-0000-4000-8000-0000000c0570"),
        format!("8{n}8{n}8{n}8{n}-0000-4000-8000-0000000c0570"),
    );
    {
        let mut s = st.write();
        s.principals.push(Principal {
            display_name: format!("custom-{n}"),
            client_id: client.clone(),
            object_id: object.clone(),
            secret: Some("custom-secret".into()),
            secret_expires: None,
            principal_type: "ServicePrincipal".into(),
            federated_credentials: Vec::new(),
        });
        let mut w = s.world.clone();
        w.role_assignments = vec![RoleAssignmentSpec {
            name: format!("4e5f6a7b-0000-4000-8000-0000000c05{n:02}"),
            scope: rg_id(),
            role: role_guid.into(),
            principal_id: object.clone(),
            principal_type: "ServicePrincipal".into(),
            description: None,
        }];
        let seeded = acr_chaos_lab::state::State::new(w, Default::default()).role_assignments;
        s.role_assignments.extend(seeded);
    }
    (object, token_for(st, &client, "custom-secret", ARM).await)
}

#[tokio::test]
async fn custom_roles_authorize_by_action_with_wildcards_not_actions_and_inheritance() {
    let st = lab(Duration::ZERO);
    let spec: acr_chaos_lab::state::CustomRoleSpec = serde_json::from_value(json!({
        "Name": "registry operator",
        "Actions": ["Microsoft.ContainerRegistry/registries/*", "*/read"],
        "NotActions": ["Microsoft.ContainerRegistry/registries/write"],
        "AssignableScopes": [rg_id()],
    }))
    .unwrap();
    let guid = spec.guid();
    st.write().role_definitions.push(spec.definition());
    let (object, token) = principal_with(&st, &guid, 1).await;
    let router = arm::router(st.clone());
    let reg = registry_id();
    // Inherited from the resource group: `*/read` reads the registry...
    let r = arm(&router, "GET", &format!("{reg}?api-version=2025-04-01"), Some(&token), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // ...but notActions take registries/write away although registries/* grants it.
    let body = json!({"properties": {"networkRuleSet": {"defaultAction": "Deny"}}});
    let r =
        arm(&router, "PATCH", &format!("{reg}?api-version=2025-04-01"), Some(&token), Some(body))
            .await;
    let msg = assert_arm_error(&r, StatusCode::FORBIDDEN, "AuthorizationFailed");
    assert!(msg.contains("'Microsoft.ContainerRegistry/registries/write'"), "{msg}");
    assert!(msg.contains(&object), "{msg}");
    // The permissions API answers with the role's own blocks at any scope below.
    let r = arm(
        &router,
        "GET",
        &format!("{reg}/providers/Microsoft.Authorization/permissions?{API}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let v = r.json();
    assert_eq!(
        v["value"][0]["notActions"],
        json!(["Microsoft.ContainerRegistry/registries/write"])
    );
    // Role definitions resolve by name (as `az role assignment create --role NAME` does).
    let r = arm(
        &router,
        "GET",
        &format!(
            "{}/providers/Microsoft.Authorization/roleDefinitions?{API}&$filter=roleName%20eq%20%27registry%20operator%27",
            rg_id()
        ),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let v = r.json();
    assert_eq!(v["value"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["value"][0]["name"], json!(guid));
    assert_eq!(v["value"][0]["properties"]["type"], "CustomRole");
    // A built-in one by id, with Azure's permissions.
    let r = arm(
        &router,
        "GET",
        &format!(
            "{}/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c?{API}",
            rg_id()
        ),
        Some(&token),
        None,
    )
    .await;
    let v = r.json();
    assert_eq!(v["properties"]["roleName"], "Contributor");
    assert!(
        v["properties"]["permissions"][0]["notActions"]
            .as_array()
            .unwrap()
            .contains(&json!("Microsoft.Authorization/*/Write"))
    );
}

#[tokio::test]
async fn contributor_cannot_change_role_assignments_but_user_access_administrator_can() {
    let st = lab(Duration::ZERO);
    let router = arm::router(st.clone());
    let reg = registry_id();
    let put = |n: &str| ra(&reg, &format!("5f6a7b8c-0000-4000-8000-0000000c05{n}"));
    let assignment = json!({"properties": {
        "roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d", st.read().world.subscription_id),
        "principalId": READER_OBJECT, "principalType": "ServicePrincipal"}});
    let (_, contributor) = principal_with(&st, "b24988ac-6180-42a0-ab88-20f7382dd24c", 2).await;
    let r = arm(&router, "PUT", &put("01"), Some(&contributor), Some(assignment.clone())).await;
    let msg = assert_arm_error(&r, StatusCode::FORBIDDEN, "AuthorizationFailed");
    assert!(msg.contains("roleAssignments/write"), "{msg}");
    let (_, uaa) = principal_with(&st, "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9", 3).await;
    let r = arm(&router, "PUT", &put("02"), Some(&uaa), Some(assignment)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

#[tokio::test]
async fn registries_list_by_scope_and_cluster_user_credential() {
    let st = lab(Duration::ZERO);
    st.write().cluster_user_kubeconfig = Some("apiVersion: v1\nkind: Config\n".into());
    let router = arm::router(st.clone());
    let token = token_for(&st, RUNNER_CLIENT, RUNNER_SECRET, ARM).await;
    let sub = st.read().world.subscription_id.clone();
    for scope in [rg_id(), format!("/subscriptions/{sub}")] {
        let uri = format!(
            "{scope}/providers/Microsoft.ContainerRegistry/registries?api-version=2025-04-01"
        );
        let r = arm(&router, "GET", &uri, Some(&token), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let names: Vec<String> = r.json()["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_string())
            .collect();
        assert!(names.contains(&"acrchaoslab".to_string()), "{scope}: {names:?}");
    }
    let cluster = st.read().world.cluster_id();
    let uri = format!("{cluster}/listClusterUserCredential?api-version=2025-10-01");
    let r = arm(&router, "POST", &uri, Some(&token), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    use base64::Engine as _;
    let v = r.json();
    let kc = base64::engine::general_purpose::STANDARD
        .decode(v["kubeconfigs"][0]["value"].as_str().unwrap())
        .unwrap();
    assert!(String::from_utf8(kc).unwrap().contains("kind: Config"));
    // The reader may not (listClusterUserCredential is an action, not a read).
    let reader = token_for(&st, READER_CLIENT, READER_SECRET, ARM).await;
    let r = arm(&router, "POST", &uri, Some(&reader), None).await;
    assert_arm_error(&r, StatusCode::FORBIDDEN, "AuthorizationFailed");
}
