#!/usr/bin/env bash
# Install the Debian packages the lab needs, only those whose binaries are missing.
# Usage: deps.sh PKG... -- BIN...   (PKG[i] provides BIN[i])
# Runs apt-get as root, or through sudo; says clearly what is missing when neither works.
set -euo pipefail
pkgs=(); bins=(); seen_sep=0
for a in "$@"; do
  if [ "$a" = "--" ]; then seen_sep=1; continue; fi
  if [ $seen_sep = 0 ]; then pkgs+=("$a"); else bins+=("$a"); fi
done
missing=()
for i in "${!pkgs[@]}"; do
  if ! command -v "${bins[$i]}" >/dev/null 2>&1 && [ ! -x "/usr/sbin/${bins[$i]}" ] && [ ! -x "/usr/bin/${bins[$i]}" ]; then
    missing+=("${pkgs[$i]}")
  fi
done
# kubectl: any one is fine (the machine's, or Debian's kubernetes-client).
if ! command -v kubectl >/dev/null 2>&1; then missing+=(kubernetes-client); fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all lab packages present (${pkgs[*]}, kubectl)"
  exit 0
fi
echo "deps: installing missing Debian packages: ${missing[*]}"
if [ "$(id -u)" = 0 ]; then
  apt=(apt-get)
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  apt=(sudo apt-get)
else
  echo "deps: cannot install ${missing[*]}: not root and no password-less sudo." >&2
  echo "deps: install them yourself:  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${apt[@]}" update -qq
"${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}"
echo "deps: installed ${missing[*]}"
