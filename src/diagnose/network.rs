//! Network checks: `registry-network` (the registry's `publicNetworkAccess` and
//! `networkRuleSet`, read from ARM) and `registry-reachable` (`GET /v2/` from where
//! acr-chaos runs — not the node's view).

use super::{Check, Context, Facts, Status, names};
use serde_json::Value;

/// The `registry-network` check; records the login server in `facts`.
pub async fn registry_network(ctx: &Context, f: &mut Facts) -> Check {
    let reg = match ctx.arm.get_registry(&ctx.registry_id).await {
        Ok(r) => r,
        Err(e) => {
            return Check::new(
                names::REGISTRY_NETWORK,
                Status::Unknown,
                "could not read the registry from ARM",
            )
            .with(format!("GET {}: {e}", ctx.registry_id));
        }
    };
    f.login_server =
        reg.pointer("/properties/loginServer").and_then(Value::as_str).map(str::to_string);
    f.is_target_registry =
        f.login_server.as_deref().is_some_and(|l| l.eq_ignore_ascii_case(&f.image.host));
    let c = evaluate(&reg);
    f.public_network_disabled = c.0;
    f.default_action_deny = c.1;
    let mut check = c.2;
    if !f.is_target_registry {
        check.evidence.push(format!(
            "the image's host {} is not the target registry {}: these settings do not govern this pull",
            f.image.host,
            f.login_server.as_deref().unwrap_or("?")
        ));
        if check.status != Status::Pass {
            check.status = Status::Skipped;
        }
    }
    check
}

/// Judge a registry body: (public access disabled, default action deny, check).
pub fn evaluate(reg: &Value) -> (bool, bool, Check) {
    let pna = reg.pointer("/properties/publicNetworkAccess").and_then(Value::as_str);
    let nrs = reg.pointer("/properties/networkRuleSet");
    let action = nrs.and_then(|n| n.get("defaultAction")).and_then(Value::as_str);
    let ips: Vec<String> = nrs
        .and_then(|n| n.get("ipRules"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("value").or_else(|| r.get("ipAddressOrRange")))
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let facts = vec![
        format!("publicNetworkAccess={}", pna.unwrap_or("Enabled (not set)")),
        format!("networkRuleSet.defaultAction={}", action.unwrap_or("Allow (not set)")),
        format!(
            "networkRuleSet.ipRules=[{}]",
            if ips.is_empty() { String::new() } else { ips.join(", ") }
        ),
    ];
    let disabled = pna.is_some_and(|p| p.eq_ignore_ascii_case("Disabled"));
    let deny = action.is_some_and(|a| a.eq_ignore_ascii_case("Deny"));
    let mut check = if disabled {
        Check::new(
            names::REGISTRY_NETWORK,
            Status::Fail,
            "publicNetworkAccess=Disabled: the registry refuses every public client (only private endpoints)",
        )
    } else if deny && ips.is_empty() {
        Check::new(
            names::REGISTRY_NETWORK,
            Status::Fail,
            "networkRuleSet.defaultAction=Deny with no ipRules: the registry firewall denies every public client, the cluster included",
        )
    } else if deny {
        Check::new(
            names::REGISTRY_NETWORK,
            Status::Unknown,
            format!(
                "networkRuleSet.defaultAction=Deny, allowing only [{}]; the cluster's egress IP is unknown to acr-chaos: check it is in the list",
                ips.join(", ")
            ),
        )
    } else {
        Check::new(
            names::REGISTRY_NETWORK,
            Status::Pass,
            "public network access enabled, firewall default action Allow",
        )
    };
    check.evidence = facts;
    (disabled, deny, check)
}

/// The `registry-reachable` check. For the target registry it also asks the token
/// service anonymously: a `403` there is the registry firewall refusing acr-chaos's own
/// address (recorded in `facts.firewall_refuses_us`).
pub async fn reachable(ctx: &Context, f: &mut Facts) -> Check {
    let host = f.image.api_host().to_string();
    let vantage = "from where acr-chaos runs, not from the node";
    match ctx.registry.ping(&host).await {
        Ok(r) => {
            let mut c = Check::new(
                names::REGISTRY_REACHABLE,
                Status::Pass,
                format!("https://{host}/v2/ answers ({vantage})"),
            )
            .with(format!(
                "GET https://{host}/v2/ → HTTP {}{}",
                r.status,
                r.challenge.map(|c| format!(" ({} challenge)", c.scheme)).unwrap_or_default()
            ));
            if f.is_target_registry
                && let Ok(t) = ctx.registry.token(&host, &f.image.repo, None).await
            {
                c.evidence.push(format!("anonymous GET {} → HTTP {}", t.endpoint, t.status));
                if t.status == 403 {
                    f.firewall_refuses_us = true;
                    c.evidence.push(
                        "the registry firewall refuses acr-chaos's address too (403)".to_string(),
                    );
                }
            }
            c
        }
        Err(e) => {
            f.unreachable = true;
            Check::new(
                names::REGISTRY_REACHABLE,
                Status::Fail,
                format!("https://{host}/v2/ does not answer ({vantage})"),
            )
            .with(e.to_string())
        }
    }
}

/// A `Deny` firewall with ipRules is `unknown` on its own (the cluster's egress IP is not
/// visible); it becomes `fail` when the pod's error is the registry's 403
/// (`forbidden-network`) or the token service refuses acr-chaos with 403 too.
pub fn confirm_firewall(check: &mut Check, f: &Facts, causes: &[crate::classify::Cause]) {
    if check.name != names::REGISTRY_NETWORK
        || check.status != Status::Unknown
        || !f.default_action_deny
        || !f.is_target_registry
    {
        return;
    }
    let forbidden = causes.contains(&crate::classify::Cause::ForbiddenNetwork);
    if forbidden {
        check.evidence.push(
            "the pod's pull failed with the registry's 403 (forbidden-network): the cluster's egress IP is not admitted".into(),
        );
    }
    if f.firewall_refuses_us {
        check.evidence.push("the token service answers 403 to acr-chaos as well".into());
    }
    if forbidden || f.firewall_refuses_us {
        check.status = Status::Fail;
        check.summary = format!("{} — and the firewall is refusing pulls", check.summary);
    }
}
