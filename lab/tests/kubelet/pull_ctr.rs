//! Done-when tests of the lab data plane: the real containerd (`ctr`) pulls through the
//! ACR front door and the private hub from the real registry, and fails with the real
//! messages for each fault; every undo brings success back.
//! Needs root, /usr/bin/containerd, /usr/bin/ctr, /usr/bin/docker-registry.

use crate::acr_common::*;

const BINARIES: [&str; 3] = ["/usr/bin/containerd", "/usr/bin/ctr", "/usr/bin/docker-registry"];

fn acr_ref(lab: &acr_chaos_lab::lab::Lab, repo_tag: &str) -> String {
    format!("{}/{repo_tag}", lab.login_server())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_assignment_delete_and_restore() {
    if !have(&BINARIES, true) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lab = start(tmp.path(), true).await;
    let http = http(&lab);
    let image = acr_ref(&lab, "probe/hello:v1");
    let rt = kubelet_refresh_token(&lab, &http).await;
    let kubelet_user = format!("{NULL_GUID}:{rt}");

    // Attached: the kubelet identity pulls; anonymous is refused (no anonymous pull on ACR).
    expect_pull_ok(&lab, &image, Some(&kubelet_user)).await;
    expect_pull_error(
        &lab,
        &image,
        None,
        &["failed to fetch anonymous token: unexpected status: 401 Unauthorized"],
    )
    .await;

    // Detach through ARM, wait out the propagation delay.
    let arm = arm_token(&lab, &http).await;
    detach(&lab, &http, &arm).await;
    wait_propagation().await;
    expect_pull_error(
        &lab,
        &image,
        Some(&kubelet_user),
        &["failed to fetch oauth token", "401 Unauthorized"],
    )
    .await;
    // A fresh exchange is refused too (no pull permission left): a credential provider
    // fails, so the kubelet falls back to the anonymous pull above.
    let aad = kubelet_entra_token(&lab, &http).await;
    assert_eq!(exchange(&lab, &http, &aad).await.status(), 401);

    // Undo: re-create the assignment under the same name.
    attach(&lab, &http, &arm).await;
    wait_propagation().await;
    expect_pull_ok(&lab, &image, Some(&kubelet_user)).await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firewall_missing_tag_and_token_expiry() {
    if !have(&BINARIES, true) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lab = start(tmp.path(), true).await;
    let http = http(&lab);
    let image = acr_ref(&lab, "probe/hello:v2");
    let token_user = format!("{TOKEN_NAME}:{TOKEN_PASSWORD}");
    expect_pull_ok(&lab, &image, Some(&token_user)).await;

    // Missing tag.
    expect_pull_error(
        &lab,
        &acr_ref(&lab, "probe/hello:does-not-exist"),
        Some(&token_user),
        &["not found"],
    )
    .await;
    // The token is scoped to probe/hello: another repository is refused at the token endpoint.
    expect_pull_error(
        &lab,
        &acr_ref(&lab, "team-a/api:2024.10"),
        Some(&token_user),
        &["failed to fetch oauth token", "401 Unauthorized"],
    )
    .await;

    // Firewall: default action Deny, no rule for 127.0.0.1.
    let arm = arm_token(&lab, &http).await;
    patch_network(
        &lab,
        &http,
        &arm,
        serde_json::json!({"networkRuleSet": {"defaultAction": "Deny", "ipRules": []}}),
    )
    .await;
    expect_pull_error(&lab, &image, None, &["failed to fetch anonymous token", "403 Forbidden"])
        .await;
    expect_pull_error(&lab, &image, Some(&token_user), &["403 Forbidden"]).await;
    // An IP rule for the client lets it through again.
    patch_network(
        &lab,
        &http,
        &arm,
        serde_json::json!({"networkRuleSet": {"defaultAction": "Deny", "ipRules": [{"action": "Allow", "value": "127.0.0.1"}]}}),
    )
    .await;
    expect_pull_ok(&lab, &image, Some(&token_user)).await;
    patch_network(&lab, &http, &arm, serde_json::json!({"publicNetworkAccess": "Disabled"})).await;
    expect_pull_error(&lab, &image, Some(&token_user), &["403 Forbidden"]).await;
    patch_network(
        &lab,
        &http,
        &arm,
        serde_json::json!({"publicNetworkAccess": "Enabled", "networkRuleSet": {"defaultAction": "Allow", "ipRules": []}}),
    )
    .await;
    expect_pull_ok(&lab, &image, Some(&token_user)).await;

    // Expired token password → oauth 401; undo → success.
    let past = chrono::Utc::now() - chrono::Duration::hours(1);
    lab.state().write().token_mut(TOKEN_NAME).unwrap().passwords[0].expiry = Some(past);
    expect_pull_error(
        &lab,
        &image,
        Some(&token_user),
        &["failed to fetch oauth token", "401 Unauthorized"],
    )
    .await;
    lab.state().write().token_mut(TOKEN_NAME).unwrap().passwords[0].expiry = None;
    expect_pull_ok(&lab, &image, Some(&token_user)).await;
    // Disabled token → oauth 401; re-enabled → success.
    lab.state().write().token_mut(TOKEN_NAME).unwrap().status = "disabled".into();
    expect_pull_error(
        &lab,
        &image,
        Some(&token_user),
        &["failed to fetch oauth token", "401 Unauthorized"],
    )
    .await;
    lab.state().write().token_mut(TOKEN_NAME).unwrap().status = "enabled".into();
    expect_pull_ok(&lab, &image, Some(&token_user)).await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_hub_needs_credentials() {
    if !have(&BINARIES, true) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lab = start(tmp.path(), true).await;
    let (user, password, image) = {
        let st = lab.state().read();
        let p = &st.world.private_registry;
        (p.username.clone(), p.password.clone(), format!("{}/{}", p.host, p.images[0]))
    };
    expect_pull_error(&lab, &image, None, &["insufficient_scope: authorization failed"]).await;
    // A public repository on the same host pulls anonymously.
    let public = format!("{}/{}", lab.hub_host(), acr_chaos_lab::hub::PUBLIC_IMAGES[0]);
    expect_pull_ok(&lab, &public, None).await;
    expect_pull_error(&lab, &image, Some(&format!("{user}:wrong-password")), &["401 Unauthorized"])
        .await;
    expect_pull_ok(&lab, &image, Some(&format!("{user}:{password}"))).await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nsg_deny_times_out_and_undo_restores() {
    if !have(
        &["/usr/bin/containerd", "/usr/bin/ctr", "/usr/bin/docker-registry", "/usr/sbin/nft"],
        true,
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lab = start(tmp.path(), true).await;
    let http = http(&lab);
    let image = acr_ref(&lab, "probe/hello:latest");
    let token_user = format!("{TOKEN_NAME}:{TOKEN_PASSWORD}");
    let arm = arm_token(&lab, &http).await;
    let nsg_id = lab.state().read().world.nsg_id();
    let rule = format!(
        "{}{nsg_id}/securityRules/acr-chaos-deny-acr?api-version=2025-05-01",
        lab.arm_endpoint()
    );
    let body = serde_json::json!({"properties": {
        "protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": "443",
        "sourceAddressPrefix": "VirtualNetwork", "destinationAddressPrefix": "AzureContainerRegistry",
        "access": "Deny", "priority": 100, "direction": "Outbound"}});
    let resp = http.put(&rule).bearer_auth(&arm).json(&body).send().await.unwrap();
    assert!(resp.status().is_success(), "PUT NSG rule: {}", resp.status());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // The packet filter drops TCP to the front door: Go's dialer times out (30 s per try).
    // A node dials its registry once; the lab's hosts.toml must not add a second dial of
    // the same endpoint (issue #11: 2 x 30 s). The bound only tells one dial from two.
    let started = std::time::Instant::now();
    expect_pull_error(&lab, &image, None, &["dial tcp", "i/o timeout"]).await;
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(45),
        "the denied pull took {took:?}: containerd dialed the front door more than once"
    );

    let resp = http.delete(&rule).bearer_auth(&arm).send().await.unwrap();
    assert!(resp.status().is_success(), "DELETE NSG rule: {}", resp.status());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    expect_pull_ok(&lab, &image, Some(&token_user)).await;
    lab.stop().await;
}
