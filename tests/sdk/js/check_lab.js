// The official Azure SDK for JavaScript as a real client of the acr-chaos lab; the
// JavaScript twin of ../python/check_lab.py (same environment, same checks, same output:
// one `ok <check>` line per check, exit 1 on the first failure).
//
// NODE_EXTRA_CA_CERTS holds the lab CA (Node reads it at start-up); instance discovery
// is disabled, the one setting an offline authority needs.
"use strict";

const { ClientSecretCredential, WorkloadIdentityCredential } = require("@azure/identity");
const { ContainerRegistryManagementClient } = require("@azure/arm-containerregistry");
const { AuthorizationManagementClient } = require("@azure/arm-authorization");

const ARM_SCOPE = "https://management.azure.com/.default";
const ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d";

function env(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`check_lab.js: ${name} is not set`);
    process.exit(2);
  }
  return value;
}

function credential(mode) {
  const options = { authorityHost: env("AZURE_AUTHORITY_HOST"), disableInstanceDiscovery: true };
  const tenant = env("AZURE_TENANT_ID");
  const client = env("AZURE_CLIENT_ID");
  if (mode === "secret") {
    return new ClientSecretCredential(tenant, client, env("AZURE_CLIENT_SECRET"), options);
  }
  if (mode === "federated") {
    return new WorkloadIdentityCredential({
      ...options,
      tenantId: tenant,
      clientId: client,
      tokenFilePath: env("AZURE_FEDERATED_TOKEN_FILE"),
    });
  }
  console.error(`check_lab.js: unknown mode '${mode}' (secret or federated)`);
  process.exit(2);
}

function check(name, ok, detail) {
  if (!ok) {
    console.error(`FAILED ${name}: ${JSON.stringify(detail)}`);
    process.exit(1);
  }
  console.log(`ok ${name}`);
}

async function collect(iter) {
  const out = [];
  for await (const item of iter) out.push(item);
  return out;
}

async function main() {
  const cred = credential(process.argv[2] || "secret");
  const token = await cred.getToken(ARM_SCOPE);
  check("token", token.token.split(".").length === 3 && token.expiresOnTimestamp > Date.now(), token.expiresOnTimestamp);

  const sub = env("LAB_SUBSCRIPTION_ID");
  const rg = env("LAB_RESOURCE_GROUP");
  const name = env("LAB_REGISTRY");
  // Both clients would ask for a token for the endpoint's own URL: ARM's audience is asked
  // for instead (the new-style client names the option `credentials.scopes`).
  const endpoint = env("LAB_ARM_ENDPOINT");
  const acr = new ContainerRegistryManagementClient(cred, sub, { endpoint, credentials: { scopes: [ARM_SCOPE] } });

  const inSub = (await collect(acr.registries.list())).map((r) => r.name);
  check("registries.list", inSub.includes(name), inSub);
  const inRg = (await collect(acr.registries.listByResourceGroup(rg))).map((r) => r.name);
  check("registries.list_by_resource_group", inRg.includes(name), inRg);
  const reg = await acr.registries.get(rg, name);
  check("registries.get", reg.loginServer === env("LAB_LOGIN_SERVER") && reg.sku.name === "Premium", reg);
  const maps = (await collect(acr.scopeMaps.list(rg, name))).map((m) => m.name);
  check("scope_maps.list", maps.includes("_repositories_pull"), maps);
  const pull = await acr.scopeMaps.get(rg, name, "_repositories_pull");
  check(
    "scope_maps.get",
    pull.typePropertiesType === "SystemDefined" && (pull.actions || []).includes("repositories/*/content/read"),
    pull,
  );
  try {
    await acr.registries.get(rg, "doesnotexist0");
    check("registries.get missing", false, "no error");
  } catch (e) {
    check("registries.get missing", e.statusCode === 404 && e.code === "ResourceNotFound", `${e.statusCode} ${e.code}`);
  }

  const auth = new AuthorizationManagementClient(cred, sub, { endpoint, credentialScopes: [ARM_SCOPE] });
  const scope = `/subscriptions/${sub}/resourceGroups/${rg}`;
  const roles = (await collect(auth.roleDefinitions.list(scope))).map((r) => r.roleName);
  check("role_definitions.list", roles.includes("AcrPull") && roles.includes("Owner"), roles);
  const acrPull = await auth.roleDefinitions.get(scope, ACR_PULL);
  check(
    "role_definitions.get",
    acrPull.roleName === "AcrPull" && acrPull.permissions[0].actions.includes("Microsoft.ContainerRegistry/registries/pull/read"),
    acrPull,
  );
  const perms = await collect(auth.permissions.listForResourceGroup(rg));
  check("permissions.list_for_resource_group", perms.some((p) => (p.actions || []).includes("*")), perms);
}

main().catch((e) => {
  const body = e && e.response ? ` ${e.response.status} ${e.response.bodyAsText}` : "";
  console.error(`FAILED: ${e && e.stack ? e.stack : e}${body}`);
  process.exit(1);
});
