#!/usr/bin/env bash
# Build the acr-chaos container image from scratch with buildah (Debian), no base image:
# the acr-chaos binary built without the embedded lab (`--no-default-features`), the shared
# libraries it links (copied from this Debian system, found with ldd), CA certificates, the
# shipped scenarios, and a non-root user (65532). Nothing is downloaded.
#
# Usage: scripts/image.sh [TAG]          (default acr-chaos:<version>)
# Env:   ACR_CHAOS_IMAGE_PROFILE  cargo profile (default image: release, stripped)
#        ACR_CHAOS_IMAGE_CARGO_ARGS  more `cargo build` arguments (tests/tooling/image.rs uses them to
#                                 share the test build's dependency artifacts)
#        ACR_CHAOS_IMAGE_ARCHIVE  also write an OCI archive there (default target/image/acr-chaos.oci.tar)
#        BUILDAH_ROOT             buildah's storage (default target/image/storage, vfs driver)
# Prints the image's size and where it is. Push it with:
#   buildah --root target/image/storage --runroot target/image/run --storage-driver vfs \
#     push acr-chaos:<version> docker://<registry>/acr-chaos:<version>
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
tag=${1:-acr-chaos:$version}
profile=${ACR_CHAOS_IMAGE_PROFILE:-image}
archive=${ACR_CHAOS_IMAGE_ARCHIVE:-target/image/acr-chaos.oci.tar}
root=${BUILDAH_ROOT:-$PWD/target/image/storage}
runroot=${BUILDAH_RUNROOT:-$PWD/target/image/run}
buildah=(buildah --root "$root" --runroot "$runroot" --storage-driver vfs)

for b in buildah ldd strip jq; do
  command -v "$b" >/dev/null || { echo "image: $b is missing (make deps installs it)" >&2; exit 1; }
done

read -ra extra <<< "${ACR_CHAOS_IMAGE_CARGO_ARGS:-}"
# The product only: no `lab` feature, so no emulator code (tests/tooling/image.rs checks the binary).
bin=$(cargo build --locked -p acr-chaos --bin acr-chaos --no-default-features --profile "$profile" \
  "${extra[@]}" --message-format json-render-diagnostics |
  jq -r 'select(.reason == "compiler-artifact" and .target.name == "acr-chaos" and .executable != null) | .executable')
[ -x "$bin" ] || { echo "image: cargo built no acr-chaos executable" >&2; exit 1; }

rootfs=$(mktemp -d)
chmod 0755 "$rootfs" # mktemp makes it 0700: the image's / would be closed to its user
trap 'rm -rf "$rootfs"' EXIT
install -D -m 0755 "$bin" "$rootfs/usr/bin/acr-chaos"
strip --strip-all "$rootfs/usr/bin/acr-chaos" # the image profile is stripped already; others are not
# The dynamic loader and every library the binary links, at the paths ldd resolves.
ldd "$bin" | awk '/=> \// { print $3 } /^\t\// { print $1 }' | sort -u | while read -r lib; do
  real=$(readlink -f "$lib")
  install -D -m "$(stat -c %a "$real")" "$real" "$rootfs$lib" # the loader must stay executable
done
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
mkdir -p "$rootfs/usr/share/acr-chaos" "$rootfs/tmp" "$rootfs/home/acr-chaos"
chmod 1777 "$rootfs/tmp"
cp -r scenarios "$rootfs/usr/share/acr-chaos/scenarios"
printf 'root:x:0:0:root:/root:/sbin/nologin\nacr-chaos:x:65532:65532:acr-chaos:/home/acr-chaos:/sbin/nologin\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nacr-chaos:x:65532:\n' > "$rootfs/etc/group"

ctr=$("${buildah[@]}" from scratch)
cleanup() { "${buildah[@]}" rm "$ctr" >/dev/null 2>&1 || true; rm -rf "$rootfs"; }
trap cleanup EXIT
# Owned by root, readable by all; the user owns only its home.
"${buildah[@]}" copy --quiet "$ctr" "$rootfs" /
"${buildah[@]}" copy --quiet --chown 65532:65532 "$ctr" "$rootfs/home/acr-chaos" /home/acr-chaos
"${buildah[@]}" config \
  --user 65532:65532 \
  --workingdir /home/acr-chaos \
  --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --env HOME=/home/acr-chaos \
  --entrypoint '["/usr/bin/acr-chaos"]' \
  --cmd '["--help"]' \
  --label org.opencontainers.image.title=acr-chaos \
  --label org.opencontainers.image.version="$version" \
  --label org.opencontainers.image.description="Chaos and conformance tests for the AKS -> ACR image-pull path" \
  --os linux --arch amd64 \
  "$ctr"
"${buildah[@]}" commit --quiet --rm "$ctr" "$tag" >/dev/null
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$(dirname "$archive")"
rm -f "$archive"
"${buildah[@]}" push --quiet "$tag" "oci-archive:$archive:$tag"
# What a pull downloads (the compressed layers) and what it unpacks (the root file system).
manifest=$(tar -xOf "$archive" index.json | jq -r '.manifests[0].digest | sub("sha256:"; "")')
layers=$(tar -xOf "$archive" "blobs/sha256/$manifest" | jq '[.layers[].size] | add')
unpacked=$(du -sb "$rootfs" | cut -f1)
echo "image: $tag ($profile build) at $archive"
echo "image: compressed layers $layers bytes ($((layers / 1000000)) MB)"
echo "image: uncompressed rootfs $unpacked bytes ($((unpacked / 1000000)) MB)"
