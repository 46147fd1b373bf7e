#!/usr/bin/env bash
# A kind cluster whose nodes pull from the acr-chaos lab's registries, and the target file
# that points acr-chaos at it (kind/README.md says what was and was not run).
#
# Usage: kind/create-cluster.sh [--lab-env FILE] [--out DIR] [--name NAME]
#                               [--config-only | --kubeconfig FILE]
#   --lab-env FILE    the running lab's lab.env (default: ${ACR_CHAOS_LAB_STATE:-.lab}/lab.env)
#   --out DIR         where the generated files go (default: kind/generated)
#   --name NAME       kind cluster name (default: acr-chaos)
#   --config-only     write DIR/kind-config.yaml and DIR/certs.d only (no cluster, no target)
#   --kubeconfig FILE use this existing cluster instead of creating one with kind
#
# Writes:
#   DIR/certs.d/<host>/hosts.toml + ca.crt  one per lab registry host: containerd's registry
#                                           host config (server + host = the lab front door,
#                                           ca = the lab CA), mounted at /etc/containerd/certs.d
#   DIR/kind-config.yaml                    the kind cluster config (config_path patch + mount)
#   DIR/kubeconfig                          the cluster's kubeconfig (kind mode)
#   DIR/target.yaml                         the lab's target with this cluster's kubeconfig
set -euo pipefail

lab_env="${ACR_CHAOS_LAB_STATE:-.lab}/lab.env"
out="kind/generated"
name="acr-chaos"
mode="kind"
kubeconfig=""

die() { echo "create-cluster.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --lab-env) lab_env=${2:?--lab-env needs a file}; shift 2 ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --name) name=${2:?--name needs a name}; shift 2 ;;
    --config-only) mode="config"; shift ;;
    --kubeconfig) mode="existing"; kubeconfig=${2:?--kubeconfig needs a file}; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

[ -r "$lab_env" ] || die "$lab_env not found: start the lab first (acr-chaos lab up) or pass --lab-env"
# shellcheck source=/dev/null
. "$lab_env"
for v in ACR_CHAOS_LAB_CA ACR_CHAOS_LAB_REGISTRY ACR_CHAOS_LAB_REGISTRY_URL ACR_CHAOS_LAB_HUB ACR_CHAOS_LAB_HUB_URL ACR_CHAOS_LAB_STATE; do
  [ -n "${!v:-}" ] || die "$lab_env does not set $v"
done
mkdir -p "$out"
out=$(cd "$out" && pwd)

# One registry host: name in image references -> the lab front door that serves it.
write_host() {
  local host=$1 url=$2 dir="$out/certs.d/$1"
  mkdir -p "$dir"
  cp "$ACR_CHAOS_LAB_CA" "$dir/ca.crt"
  # `ca` is relative: containerd resolves it against this host's directory, so the same
  # files work wherever they are mounted. The one `[host]` is the only entry that pulls
  # and resolves, so a pull dials the front door once, as on a node without hosts.toml.
  # containerd always tries `server` after the hosts: it is the front door too (the real
  # name would mean DNS and the Internet) and may only push (empty would mean all), or a
  # dropped connection would be dialed twice (2 x 30 s). Same layout as the lab's own.
  cat > "$dir/hosts.toml" <<EOF
# Written by kind/create-cluster.sh: $host -> $url (the acr-chaos lab's front door)
server = "$url"
capabilities = ["push"]
ca = "ca.crt"

[host."$url"]
  capabilities = ["pull", "resolve"]
  ca = "ca.crt"
EOF
}

rm -rf "$out/certs.d"
write_host "$ACR_CHAOS_LAB_REGISTRY" "$ACR_CHAOS_LAB_REGISTRY_URL"
write_host "$ACR_CHAOS_LAB_HUB" "$ACR_CHAOS_LAB_HUB_URL"
if [ -n "${ACR_CHAOS_LAB_TEAM_REGISTRY:-}" ]; then
  write_host "$ACR_CHAOS_LAB_TEAM_REGISTRY" "$ACR_CHAOS_LAB_TEAM_REGISTRY_URL"
fi

cat > "$out/kind-config.yaml" <<EOF
# Written by kind/create-cluster.sh from $lab_env
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
name: $name
containerdConfigPatches:
  - |-
    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = "/etc/containerd/certs.d"
nodes:
  - role: control-plane
    extraMounts:
      - hostPath: $out/certs.d
        containerPath: /etc/containerd/certs.d
        readOnly: true
EOF
echo "create-cluster.sh: wrote $out/kind-config.yaml and $out/certs.d"
[ "$mode" = config ] && exit 0

case "$ACR_CHAOS_LAB_REGISTRY_URL" in
  https://127.*|https://localhost*)
    [ "$mode" = kind ] && die "the lab listens on $ACR_CHAOS_LAB_REGISTRY_URL, which kind nodes cannot reach:" \
      "restart it with \`acr-chaos lab up --listen <this host's address on the kind network>\`" \
      "(e.g. the gateway of \`docker network inspect kind\`)" ;;
esac

if [ "$mode" = kind ]; then
  command -v kind >/dev/null 2>&1 || die "kind is not installed (https://kind.sigs.k8s.io/)"
  kubeconfig="$out/kubeconfig"
  kind create cluster --config "$out/kind-config.yaml" --kubeconfig "$kubeconfig"
fi
[ -r "$kubeconfig" ] || die "$kubeconfig not found"

# What `lab up` creates in the lab's API server, the cluster needs too: the journal
# namespace and the pull secrets the target names (copied from the lab's API server).
target_in="$ACR_CHAOS_LAB_STATE/target.yaml"
[ -r "$target_in" ] || die "$target_in not found (acr-chaos lab up writes it)"
journal=$(sed -n 's/^journalNamespace: //p' "$target_in")
secret=$(sed -n 's/^  secretName: //p' "$target_in")
kubectl --kubeconfig "$kubeconfig" create namespace "$journal" --dry-run=client -o yaml |
  kubectl --kubeconfig "$kubeconfig" apply -f - >/dev/null
if [ -n "$secret" ]; then
  # shellcheck disable=SC2153 # KUBECONFIG: the lab's API server, from lab.env
  kubectl --kubeconfig "$KUBECONFIG" get secret "$secret" -n "$journal" -o json |
    jq 'del(.metadata.uid, .metadata.resourceVersion, .metadata.creationTimestamp, .metadata.managedFields)' |
    kubectl --kubeconfig "$kubeconfig" apply -f - >/dev/null
fi

sed -e "s#^  kubeconfig: .*#  kubeconfig: $kubeconfig#" \
    -e "s#^name: .*#name: $name#" \
    -e "1s#.*#\# Written by kind/create-cluster.sh: the lab's target with the cluster $name. Source lab.env for the credential.#" \
    "$target_in" > "$out/target.yaml"
echo "create-cluster.sh: wrote $out/target.yaml; run: . $lab_env && acr-chaos run --target $out/target.yaml"
