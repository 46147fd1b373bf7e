"""The official Azure SDK for Python as a real client of the acr-chaos lab.

Run by tests/tooling/sdk_clients.rs with the lab's endpoints in the environment, the way a user
points their own scripts at the lab:

  AZURE_AUTHORITY_HOST      the lab's Entra ID (https://127.0.0.1:port)
  REQUESTS_CA_BUNDLE        the lab CA (requests, hence azure-core and MSAL, trust it)
  AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET   a service principal
  AZURE_FEDERATED_TOKEN_FILE a projected service-account token (workload identity)
  LAB_ARM_ENDPOINT, LAB_SUBSCRIPTION_ID, LAB_RESOURCE_GROUP, LAB_REGISTRY, LAB_LOGIN_SERVER

The one offline setting: instance discovery is disabled (MSAL would otherwise ask
login.microsoftonline.com whether the lab's authority is a known cloud).

Usage: check_lab.py secret|federated. Prints one `ok <check>` line per check and exits
non-zero on the first failure (the Rust test asserts the lines).
"""

import os
import sys

from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential, WorkloadIdentityCredential
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.containerregistry import ContainerRegistryManagementClient

ARM_SCOPE = "https://management.azure.com/.default"
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"


def env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"check_lab.py: {name} is not set")
    return value


def credential(mode):
    common = {
        "tenant_id": env("AZURE_TENANT_ID"),
        "client_id": env("AZURE_CLIENT_ID"),
        "authority": env("AZURE_AUTHORITY_HOST"),
        "disable_instance_discovery": True,
    }
    if mode == "secret":
        return ClientSecretCredential(client_secret=env("AZURE_CLIENT_SECRET"), **common)
    if mode == "federated":
        return WorkloadIdentityCredential(token_file_path=env("AZURE_FEDERATED_TOKEN_FILE"), **common)
    sys.exit(f"check_lab.py: unknown mode {mode!r} (secret or federated)")


def check(name, ok, detail=""):
    if not ok:
        sys.exit(f"FAILED {name}: {detail}")
    print(f"ok {name}", flush=True)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "secret"
    cred = credential(mode)
    token = cred.get_token(ARM_SCOPE)
    check("token", token.token.count(".") == 2 and token.expires_on > 0, repr(token.expires_on))

    arm = env("LAB_ARM_ENDPOINT")
    sub = env("LAB_SUBSCRIPTION_ID")
    rg = env("LAB_RESOURCE_GROUP")
    name = env("LAB_REGISTRY")
    kwargs = {"base_url": arm, "credential_scopes": [ARM_SCOPE]}
    acr = ContainerRegistryManagementClient(cred, sub, **kwargs)

    in_sub = [r.name for r in acr.registries.list()]
    check("registries.list", name in in_sub, in_sub)
    in_rg = [r.name for r in acr.registries.list_by_resource_group(rg)]
    check("registries.list_by_resource_group", name in in_rg, in_rg)
    reg = acr.registries.get(rg, name)
    check(
        "registries.get",
        reg.login_server == env("LAB_LOGIN_SERVER") and reg.sku.name == "Premium",
        f"{reg.login_server} {reg.sku}",
    )
    maps = {m.name: m for m in acr.scope_maps.list(rg, name)}
    check("scope_maps.list", "_repositories_pull" in maps, sorted(maps))
    pull = acr.scope_maps.get(rg, name, "_repositories_pull")
    props = pull.properties
    check(
        "scope_maps.get",
        props.type == "SystemDefined" and "repositories/*/content/read" in (props.actions or []),
        props,
    )
    try:
        acr.registries.get(rg, "doesnotexist0")
        check("registries.get missing", False, "no error")
    except HttpResponseError as e:
        check("registries.get missing", e.status_code == 404 and e.error.code == "ResourceNotFound", e)

    auth = AuthorizationManagementClient(cred, sub, **kwargs)
    scope = f"/subscriptions/{sub}/resourceGroups/{rg}"
    roles = {r.role_name: r for r in auth.role_definitions.list(scope)}
    check("role_definitions.list", "AcrPull" in roles and "Owner" in roles, sorted(roles))
    acr_pull = auth.role_definitions.get(scope, ACR_PULL)
    check(
        "role_definitions.get",
        acr_pull.role_name == "AcrPull"
        and "Microsoft.ContainerRegistry/registries/pull/read" in acr_pull.permissions[0].actions,
        acr_pull,
    )
    perms = list(auth.permissions.list_for_resource_group(rg))
    check("permissions.list_for_resource_group", any("*" in p.actions for p in perms), perms)


if __name__ == "__main__":
    main()
