#!/usr/bin/env bash
# The npm half of the tool environment: the packages of a package.json + package-lock.json
# (pinned, from the npm registry) installed into DIR/node_modules with `npm ci`.
# Usage: tools_npm.sh DIR PACKAGE_DIR   (PACKAGE_DIR holds package.json and package-lock.json)
# Needs node >= 20 and npm (Debian: nodejs, npm; `make deps` installs them when missing).
set -euo pipefail
dir=$1 src=$2
for bin in node npm; do
  if ! command -v "$bin" >/dev/null 2>&1; then
    echo "tools: $bin is missing: run \`make deps\` (Debian packages nodejs and npm)" >&2
    exit 1
  fi
done
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "tools: node $(node --version) is too old for the Azure SDK for JavaScript (needs >= 20;" \
    "Debian trixie's nodejs has 20)" >&2
  exit 1
fi
mkdir -p "$dir"
cp "$src/package.json" "$src/package-lock.json" "$dir/"
(cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
echo "tools: $dir/node_modules has $(cd "$dir" && npm ls --depth=0 --parseable 2>/dev/null | tail -n +2 | xargs -n1 basename | tr '\n' ' ')"
