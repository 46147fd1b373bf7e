//! The fixes: one per failed check (and per cause no check explains), with the `az` or
//! `kubectl` command and the target's real names filled in. Placeholders the target does
//! not know are written `<like-this>`.

use super::{Check, Context, Facts, Fix, Status, arm_name_rg, names};
use crate::classify::Cause;

/// Fixes for the failed checks, then for causes the checks do not explain, then the
/// guide's validation command.
#[expect(
    clippy::too_many_lines,
    reason = "a table: one rule per failed check or unexplained cause, in the guide's order"
)]
pub fn fixes(ctx: &Context, f: &Facts, checks: &[Check], causes: &[Cause]) -> Vec<Fix> {
    let (cluster, cluster_rg) = arm_name_rg(&ctx.cluster_id);
    let (acr, _) = arm_name_rg(&ctx.registry_id);
    let login = f.login_server.clone().unwrap_or_else(|| acr.clone());
    let ns = &f.namespace;
    let failed = |n: &str| checks.iter().any(|c| c.name == n && c.status == Status::Fail);
    let mut out: Vec<Fix> = Vec::new();
    let mut add = |for_: &str, reason: String, command: String| {
        if !out.iter().any(|x| x.command == command) {
            out.push(Fix { for_: for_.to_string(), reason, command });
        }
    };
    if failed(names::KUBELET_IDENTITY_ROLE) {
        add(
            names::KUBELET_IDENTITY_ROLE,
            format!(
                "attach the registry to the cluster (grants the kubelet identity AcrPull on {acr})"
            ),
            format!("az aks update -n {cluster} -g {cluster_rg} --attach-acr {acr}"),
        );
        add(
            names::KUBELET_IDENTITY_ROLE,
            "or grant the AcrPull role to the kubelet identity directly".into(),
            format!(
                "az role assignment create --assignee {} --role AcrPull --scope {}",
                f.kubelet_object_id.as_deref().unwrap_or("<kubelet-identity-object-id>"),
                ctx.registry_id
            ),
        );
    }
    if failed(names::REGISTRY_NETWORK) {
        if f.public_network_disabled {
            add(
                names::REGISTRY_NETWORK,
                "enable public network access on the registry (or give the cluster a private endpoint)".into(),
                format!("az acr update --name {acr} --public-network-enabled true"),
            );
        }
        if f.default_action_deny {
            add(
                names::REGISTRY_NETWORK,
                "allow the cluster's egress IP through the registry firewall".into(),
                format!("az acr network-rule add --name {acr} --ip-address <cluster-egress-ip>"),
            );
            add(
                names::REGISTRY_NETWORK,
                "or open the firewall (default action Allow)".into(),
                format!("az acr update --name {acr} --default-action Allow"),
            );
        }
    }
    let secret_name = f.secret_names.first().cloned().unwrap_or_else(|| "regcred".into());
    let create_secret = format!(
        "kubectl create secret docker-registry {secret_name} -n {ns} --docker-server={} --docker-username=<username> --docker-password=<password>",
        f.image.host
    );
    if failed(names::PULL_SECRET) {
        add(
            names::PULL_SECRET,
            format!("create the pull secret for {}", f.image.host),
            create_secret.clone(),
        );
        if f.secret_names.is_empty() {
            add(
                names::PULL_SECRET,
                "and reference it from the pod (spec.imagePullSecrets) or its service account"
                    .into(),
                format!(
                    "kubectl patch serviceaccount default -n {ns} -p '{{\"imagePullSecrets\":[{{\"name\":\"{secret_name}\"}}]}}'"
                ),
            );
        }
    }
    if failed(names::PULL_SECRET_CREDENTIALS) {
        if f.is_target_registry {
            for user in f.secret_usernames.iter().filter(|u| !looks_like_guid(u)) {
                add(
                    names::PULL_SECRET_CREDENTIALS,
                    format!("issue a new password for ACR token {user} (expired or wrong)"),
                    format!(
                        "az acr token credential generate --name {user} --registry {acr} --password1 --expiration-in-days 30"
                    ),
                );
            }
        }
        add(
            names::PULL_SECRET_CREDENTIALS,
            "replace the secret with valid credentials".into(),
            format!("kubectl delete secret {secret_name} -n {ns} && {create_secret}"),
        );
    }
    if failed(names::IMAGE_TAG) {
        let list = if f.is_target_registry {
            format!(
                "az acr repository show-tags --name {acr} --repository {} -o table",
                f.image.repo
            )
        } else {
            format!("# list the tags of {} on {}", f.image.repo, f.image.host)
        };
        add(
            names::IMAGE_TAG,
            format!("{} does not exist: pick an existing tag", f.image.reference),
            list,
        );
        add(
            names::IMAGE_TAG,
            "then point the workload at it".into(),
            format!(
                "kubectl set image pod/{} {}={}/{}:<existing-tag> -n {ns}",
                f.pod, f.container, f.image.host, f.image.repo
            ),
        );
    }
    if failed(names::REGISTRY_REACHABLE) {
        add(
            names::REGISTRY_REACHABLE,
            "the registry does not answer: check DNS, TLS and the registry's health".into(),
            format!("az acr check-health --name {acr} --ignore-errors --yes"),
        );
    }
    let network_cause =
        causes.iter().any(|c| matches!(c, Cause::NetworkUnreachable | Cause::Dns | Cause::Tls));
    if network_cause {
        let reason = "the node cannot reach the registry (a dial timeout or refusal): check the node subnet's NSG, route table and firewall".to_string();
        match &ctx.nsg_id {
            Some(nsg) => {
                let (nsg_name, nsg_rg) = arm_name_rg(nsg);
                add(
                    "network-unreachable",
                    reason,
                    format!("az network nsg rule list -g {nsg_rg} --nsg-name {nsg_name} -o table"),
                );
            }
            None => add(
                "network-unreachable",
                reason,
                "az network nsg rule list -g <node-resource-group> --nsg-name <node-nsg> -o table"
                    .into(),
            ),
        }
    }
    if f.is_target_registry {
        add(
            "validate",
            "validate the cluster's access to the registry".into(),
            format!(
                "az aks check-acr --name {cluster} --resource-group {cluster_rg} --acr {login}"
            ),
        );
    }
    out
}

fn looks_like_guid(s: &str) -> bool {
    s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}
