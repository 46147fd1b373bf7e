//! Explanations and first remediation steps per cause, drawn from the troubleshooting
//! guide (../shared/reference/troubleshooting-guide.md) and signatures.md §5.

use super::Cause;

pub(super) fn explanation(cause: Cause) -> &'static str {
    match cause {
        Cause::UnauthorizedAnonymous => {
            "The registry answered 401 and no credentials reached it: the registry is not \
             attached to the cluster, the kubelet identity lacks AcrPull on it, or the node's \
             credential provider failed and the kubelet pulled anonymously."
        }
        Cause::UnauthorizedCredentials => {
            "Credentials were sent and refused: a wrong or expired pull secret, an expired \
             service principal secret, or a disabled or expired ACR token."
        }
        Cause::Unauthorized => {
            "The registry answered 401 and the text does not tell whether credentials were \
             sent (typical of Docker Engine and CRI-O nodes): the cluster is not authorized \
             to pull, or its credentials are wrong."
        }
        Cause::ForbiddenNetwork => {
            "The registry refused the client's network (403): its firewall \
             (networkRuleSet defaultAction Deny without the cluster's egress IP) or disabled \
             public network access without a working private endpoint."
        }
        Cause::AccessDenied => {
            "Access to the repository was denied: a private (or nonexistent) repository on a \
             public registry pulled without credentials, or credentials without pull scope."
        }
        Cause::NotFound => {
            "The tag, manifest, repository or blob does not exist in the registry (a wrong \
             image reference). The gRPC code NotFound is the signal even when a 401 shows \
             beside it."
        }
        Cause::PlatformMismatch => {
            "The image has no manifest for the node's OS/architecture (e.g. an amd64-only \
             image on an arm64 node pool)."
        }
        Cause::NetworkUnreachable => {
            "TCP to the registry fails (timeout, refused, no route): an NSG or firewall rule, \
             a user-defined route or an unreachable private endpoint blocks the path from \
             the nodes to the registry."
        }
        Cause::Dns => {
            "The registry's name does not resolve from the node: a wrong login server, a \
             missing private DNS zone link for a private endpoint, or a failing DNS server."
        }
        Cause::Tls => {
            "The TLS connection to the registry failed: an untrusted or wrong certificate \
             (e.g. a TLS-inspecting proxy) or a registry speaking plain HTTP."
        }
        Cause::RateLimited => {
            "The pull was throttled: the registry answered 429/toomanyrequests (SKU or \
             public-registry limits) or the kubelet's own pull QPS limit was exceeded."
        }
        Cause::PullSecretMissing => {
            "The pod references an imagePullSecret that does not exist in its namespace; \
             the kubelet pulls without it, so the pull usually fails next."
        }
        Cause::InvalidImageName => {
            "The image reference cannot be parsed (upper-case letters in the repository, \
             bad characters, a malformed tag or digest)."
        }
        Cause::RegistryError => {
            "The registry answered with a server error (5xx): a registry-side outage or a \
             failing proxy in front of it."
        }
    }
}

#[expect(clippy::too_many_lines, reason = "a table: one remediation text per cause")]
pub(super) fn remediation(cause: Cause) -> &'static str {
    match cause {
        Cause::UnauthorizedAnonymous => {
            "Validate the integration: `az aks check-acr --resource-group <rg> --name \
             <cluster> --acr <acr>.azurecr.io`; then attach the registry (grants AcrPull at \
             the registry scope): `az aks update --resource-group <rg> --name <cluster> \
             --attach-acr <acr-resource-id>`."
        }
        Cause::UnauthorizedCredentials => {
            "Renew the credentials and update the pull secret: `az acr token credential \
             generate --registry <acr> --name <token> --password1` (or `az ad sp credential \
             reset --id <sp-app-id>` for a service principal), then `kubectl create secret \
             docker-registry <secret> --docker-server=<acr>.azurecr.io \
             --docker-username=<user> --docker-password=<password> --dry-run=client -o yaml \
             | kubectl apply -f -`."
        }
        Cause::Unauthorized => {
            "Validate the integration: `az aks check-acr --resource-group <rg> --name \
             <cluster> --acr <acr>.azurecr.io`; attach the registry with `az aks update \
             --resource-group <rg> --name <cluster> --attach-acr <acr-resource-id>`, or renew \
             the credentials in the pod's pull secret."
        }
        Cause::ForbiddenNetwork => {
            "Check the registry's network rules: `az acr show --name <acr> --query \
             \"{publicNetworkAccess:publicNetworkAccess, networkRuleSet:networkRuleSet}\"`; \
             allow the cluster's egress IP with `az acr network-rule add --name <acr> \
             --ip-address <egress-ip>`, or use a private endpoint with the \
             privatelink.azurecr.io DNS zone linked to the cluster's VNet."
        }
        Cause::AccessDenied => {
            "Give the pod credentials for the repository: `kubectl create secret \
             docker-registry <secret> --docker-server=<registry> --docker-username=<user> \
             --docker-password=<password>` and add it to the pod's `imagePullSecrets`; or \
             import the image into ACR: `az acr import --name <acr> --source \
             docker.io/<repository>:<tag> --username <user> --password <password>`."
        }
        Cause::NotFound => {
            "Fix the image reference: list what exists with `az acr repository show-tags \
             --name <acr> --repository <repository> --output table` and correct the tag or \
             repository."
        }
        Cause::PlatformMismatch => {
            "Check the image's platforms (`az acr manifest list-metadata --registry <acr> \
             --name <repository>`), then build it for the node's platform (`az acr build \
             --registry <acr> --image <repository>:<tag> --platform linux/arm64 .`) or \
             schedule the pod on matching nodes (nodeSelector kubernetes.io/arch)."
        }
        Cause::NetworkUnreachable => {
            "Test the path from the cluster: `az aks check-acr --resource-group <rg> --name \
             <cluster> --acr <acr>.azurecr.io`; then review outbound rules on the node subnet \
             (`az network nsg rule list --resource-group <rg> --nsg-name <nsg> --output \
             table`), firewalls and routes for <acr>.azurecr.io and \
             <acr>.<region>.data.azurecr.io on port 443."
        }
        Cause::Dns => {
            "Test name resolution from the cluster: `az aks check-acr --resource-group <rg> \
             --name <cluster> --acr <acr>.azurecr.io`; for a private endpoint, link the \
             privatelink.azurecr.io zone to the cluster's VNet: `az network private-dns link \
             vnet create --resource-group <rg> --zone-name privatelink.azurecr.io --name \
             <link> --virtual-network <vnet-id> --registration-enabled false`."
        }
        Cause::Tls => {
            "Check the registry endpoint and its certificate: `az acr check-health --name \
             <acr> --ignore-errors --yes`; make the nodes trust the issuing CA (or exempt \
             the registry from TLS inspection) and pull over https from the login server."
        }
        Cause::RateLimited => {
            "Check the registry's SKU limits (`az acr show --name <acr> --query sku.name`) \
             and upgrade if needed (`az acr update --name <acr> --sku Premium`); import \
             public images into ACR (`az acr import`) or raise the kubelet's \
             registryPullQPS/registryBurst."
        }
        Cause::PullSecretMissing => {
            "Create the referenced secret in the pod's namespace: `kubectl create secret \
             docker-registry <secret> --namespace <ns> --docker-server=<acr>.azurecr.io \
             --docker-username=<user> --docker-password=<password>` (ACR token credentials: \
             `az acr token create --registry <acr> --name <token> --repository <repository> \
             content/read`), or drop the reference and use `az aks update --attach-acr`."
        }
        Cause::InvalidImageName => {
            "Fix the image reference (lower-case `registry/repository:tag` or \
             `@sha256:<digest>`) and check it exists: `az acr repository show --name <acr> \
             --image <repository>:<tag>`."
        }
        Cause::RegistryError => {
            "Check the registry's health: `az acr check-health --name <acr> --ignore-errors \
             --yes` and Azure Resource Health; the kubelet retries with back-off, so a \
             transient 5xx clears on its own."
        }
    }
}
