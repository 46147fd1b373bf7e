//! ARM emulator: NSG security rules (PUT/GET/list/DELETE, LRO headers, validation) and,
//! as root with `nft`, a deny rule towards the registry that really drops TCP.

use std::time::Duration;

use acr_chaos_lab::arm;
use acr_chaos_lab::state::SharedState;
use http::StatusCode;
use serde_json::{Value, json};

use crate::arm_support::*;

const API: &str = "api-version=2025-05-01";

fn nsg_id() -> String {
    format!(
        "/subscriptions/{SUB}/resourceGroups/MC_rg-acr-chaos-lab_aks-chaos-lab_westeurope/providers/Microsoft.Network/networkSecurityGroups/aks-agentpool-00000000-nsg"
    )
}

fn rule_uri(name: &str) -> String {
    format!("{}/securityRules/{name}?{API}", nsg_id())
}

fn deny_acr(priority: i32) -> Value {
    json!({ "properties": {
        "description": "acr-chaos: cut the path to ACR", "protocol": "Tcp",
        "sourcePortRange": "*", "destinationPortRange": "443",
        "sourceAddressPrefix": "VirtualNetwork", "destinationAddressPrefix": "AzureContainerRegistry",
        "access": "Deny", "priority": priority, "direction": "Outbound" } })
}

fn path_of(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    format!("{}?{}", u.path(), u.query().unwrap_or(""))
}

async fn setup(lro: Duration) -> (SharedState, axum::Router, String) {
    let st = shared(Duration::ZERO, lro);
    let router = arm::router(st.clone());
    let token = token_for(&st, RUNNER_CLIENT, RUNNER_SECRET, ARM).await;
    (st, router, token)
}

#[tokio::test]
async fn security_rule_crud_and_lro_headers() {
    let lro = Duration::from_secs(3);
    let (st, router, token) = setup(lro).await;
    let r = arm(&router, "PUT", &rule_uri("deny-acr"), Some(&token), Some(deny_acr(100))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let v = r.json();
    assert_eq!(v["type"], "Microsoft.Network/networkSecurityGroups/securityRules");
    assert_eq!(v["id"], format!("{}/securityRules/deny-acr", nsg_id()));
    assert_eq!(v["properties"]["provisioningState"], "Updating");
    assert_eq!(v["properties"]["destinationAddressPrefix"], "AzureContainerRegistry");
    assert!(v["etag"].as_str().unwrap().starts_with("W/\""));
    let op = r.header("azure-asyncoperation").unwrap();
    assert_eq!(
        arm(&router, "GET", &path_of(&op), Some(&token), None).await.json()["status"],
        "InProgress"
    );
    st.read().clock.advance(lro + Duration::from_millis(10));
    assert_eq!(
        arm(&router, "GET", &path_of(&op), Some(&token), None).await.json()["status"],
        "Succeeded"
    );

    // Update → 200; GET (case-insensitive) and list.
    let r = arm(&router, "PUT", &rule_uri("deny-acr"), Some(&token), Some(deny_acr(110))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = arm(
        &router,
        "GET",
        &rule_uri("DENY-ACR").to_uppercase().replace("API-VERSION", "api-version"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["properties"]["priority"], 110);
    let list = format!("{}/securityRules?{API}", nsg_id());
    assert_eq!(
        arm(&router, "GET", &list, Some(&token), None).await.json()["value"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let nsg = arm(&router, "GET", &format!("{}?{API}", nsg_id()), Some(&token), None).await;
    assert_eq!(nsg.json()["properties"]["securityRules"][0]["name"], "deny-acr");

    // Validation: same priority+direction, priority range, bad enum, missing properties.
    let r = arm(&router, "PUT", &rule_uri("other"), Some(&token), Some(deny_acr(110))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"]["code"], "SecurityRuleConflict");
    let r = arm(&router, "PUT", &rule_uri("other"), Some(&token), Some(deny_acr(5000))).await;
    assert_eq!(r.json()["error"]["code"], "SecurityRuleInvalidPriority");
    let mut bad = deny_acr(120);
    bad["properties"]["access"] = json!("Maybe");
    let r = arm(&router, "PUT", &rule_uri("other"), Some(&token), Some(bad)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = arm(
        &router,
        "PUT",
        &rule_uri("other"),
        Some(&token),
        Some(json!({"properties": {"access": "Deny"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"]["code"], "InvalidRequestContent");

    // DELETE → 202 + Location → 200 (done); again → 204; GET → 404.
    let r = arm(&router, "DELETE", &rule_uri("deny-acr"), Some(&token), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let loc = r.header("location").unwrap();
    assert_eq!(
        arm(&router, "GET", &path_of(&loc), Some(&token), None).await.status,
        StatusCode::ACCEPTED
    );
    st.read().clock.advance(lro + Duration::from_millis(10));
    assert_eq!(
        arm(&router, "GET", &path_of(&loc), Some(&token), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        arm(&router, "DELETE", &rule_uri("deny-acr"), Some(&token), None).await.status,
        StatusCode::NO_CONTENT
    );
    let r = arm(&router, "GET", &rule_uri("deny-acr"), Some(&token), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"]["code"], "ResourceNotFound");

    // Another NSG name → 404; a caller without rights → 403.
    let r = arm(
        &router,
        "GET",
        &format!("{}/securityRules?{API}", nsg_id().replace("00000000-nsg", "x-nsg")),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let kubelet = acr_chaos_lab::entra::issue_access_token(
        &st.read(),
        KUBELET_CLIENT,
        KUBELET_OBJECT,
        ARM,
        None,
    )
    .0;
    let r = arm(&router, "PUT", &rule_uri("deny-acr"), Some(&kubelet), Some(deny_acr(100))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["error"]["code"], "AuthorizationFailed");
}

fn is_root() -> bool {
    // Effective uid from /proc (no extra dependency).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

async fn connects(port: u16) -> bool {
    matches!(
        tokio::time::timeout(
            Duration::from_millis(1500),
            tokio::net::TcpStream::connect(("127.0.0.1", port))
        )
        .await,
        Ok(Ok(_))
    )
}

fn nft_tables() -> String {
    let out = std::process::Command::new("nft").args(["list", "tables"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A deny rule towards the registry becomes a real nftables drop: connects time out;
/// deleting the rule brings connectivity back, and the table goes away.
#[tokio::test]
async fn deny_rule_drops_tcp_to_the_registry_port_for_real() {
    if !require(acr_chaos_lab::nft::nft_available() && is_root(), "nft (nftables) as root") {
        return;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_port = other.local_addr().unwrap().port();
    for l in [listener, other] {
        tokio::spawn(async move {
            loop {
                if let Ok((s, _)) = l.accept().await {
                    drop(s);
                }
            }
        });
    }
    // A table left behind by a lab process that no longer runs is cleaned up.
    let stale_pid = (4_000_000..4_194_304u32)
        .find(|p| !std::path::Path::new(&format!("/proc/{p}")).exists())
        .unwrap();
    let stale = format!("acr_chaos_lab_{stale_pid}_0");
    let status =
        std::process::Command::new("nft").args(["add", "table", "inet", &stale]).status().unwrap();
    assert!(status.success());
    let (st, router, token) = setup(Duration::ZERO).await;
    st.write().registry_ports = vec![port];
    assert!(connects(port).await, "reachable before the rule");

    let r = arm(&router, "PUT", &rule_uri("deny-acr"), Some(&token), Some(deny_acr(110))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert!(!connects(port).await, "the registry port must time out under the deny rule");
    assert!(connects(other_port).await, "other ports are untouched");
    let table = format!("acr_chaos_lab_{}_", std::process::id());
    assert!(nft_tables().contains(&table));
    assert!(!nft_tables().contains(&stale), "stale table removed");

    // An Allow at a higher priority wins over the deny.
    let mut allow = deny_acr(100);
    allow["properties"]["access"] = json!("Allow");
    let r = arm(&router, "PUT", &rule_uri("allow-acr"), Some(&token), Some(allow)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert!(connects(port).await, "higher-priority allow wins");
    arm(&router, "DELETE", &rule_uri("allow-acr"), Some(&token), None).await;
    assert!(!connects(port).await);

    let r = arm(&router, "DELETE", &rule_uri("deny-acr"), Some(&token), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(connects(port).await, "reachable again after DELETE");
    assert!(!nft_tables().contains(&table), "table removed when nothing is blocked");

    // Dropping the state removes the table too.
    arm(&router, "PUT", &rule_uri("deny-acr"), Some(&token), Some(deny_acr(110))).await;
    assert!(nft_tables().contains(&table));
    drop(router);
    drop(st);
    assert!(!nft_tables().contains(&table), "table removed on drop");
    assert!(connects(port).await);
    deny_rule_follows_the_listen_address().await;
}

/// Front doors listening on another address (`lab up --listen`, for kind nodes): the deny
/// drops TCP to that address, not only to 127.0.0.1. (Run by the test above: the tables of
/// one process share a name prefix that test checks.)
async fn deny_rule_follows_the_listen_address() {
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            drop(s);
        }
    });
    let reach = || async move {
        matches!(
            tokio::time::timeout(
                Duration::from_millis(1500),
                tokio::net::TcpStream::connect(("127.0.0.2", port))
            )
            .await,
            Ok(Ok(_))
        )
    };
    let (st, router, token) = setup(Duration::ZERO).await;
    {
        let mut s = st.write();
        s.registry_ports = vec![port];
        s.registry_ip = "127.0.0.2".parse().unwrap();
    }
    assert!(reach().await, "reachable before the rule");
    let r = arm(&router, "PUT", &rule_uri("deny-acr"), Some(&token), Some(deny_acr(110))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert!(!reach().await, "the deny drops TCP to the listen address");
    arm(&router, "DELETE", &rule_uri("deny-acr"), Some(&token), None).await;
    assert!(reach().await, "reachable again after DELETE");
}
