#!/bin/bash
# Installs the Debian packages the project needs, only when one is missing.
# Quiet and fast when everything is present. Needs root (or sudo) to install.
#   scripts/deps.sh          build and run
#   scripts/deps.sh --test   also what the tests need (Node.js, Chromium)
set -euo pipefail

PKGS=(gcc make pkg-config libfcgi-dev libmariadb-dev libmemcached-dev libcurl4-openssl-dev
      libjson-c-dev libjwt-dev libsodium-dev libssl-dev mariadb-server mariadb-client memcached
      lighttpd curl ca-certificates)
if [ "${1:-}" = "--test" ]; then
	PKGS+=(nodejs npm chromium)
fi

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

# npm ships inside Debian's nodejs on some images; don't replace a working one.
if command -v npm >/dev/null 2>&1; then
	m2=(); for p in "${missing[@]}"; do [ "$p" = npm ] || [ "$p" = nodejs ] || m2+=("$p"); done
	missing=("${m2[@]}")
	[ ${#missing[@]} -eq 0 ] && exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
