#!/usr/bin/env bash
# Create the tool environment: a Python venv with the given PyPI packages.
# Usage: tools.sh VENV PKG==VERSION...
# Needs python3 with venv (Debian: python3-venv, installed here when missing and root).
set -euo pipefail
venv=$1; shift
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv
  else
    echo "tools: python3 venv is missing: sudo apt-get install -y python3-venv" >&2
    exit 1
  fi
fi
if [ ! -x "$venv/bin/pip" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
echo "tools: $venv has $*"
