#!/bin/bash
# Installs the Debian packages the project needs, only when one is missing.
# Quiet and fast when everything is present. Needs root (or sudo) to install.
#   scripts/deps.sh          build and run
#   scripts/deps.sh --test   also what the tests need (Node.js, Chromium)
#   scripts/deps.sh --keep-services
#                            a server's install: the system MariaDB,
#                            memcached and lighttpd stay as Debian sets them
#                            up (started and enabled), with lighttpd's TLS
#                            module
set -euo pipefail

PKGS=(gcc make pkg-config libfcgi-dev libmariadb-dev libmemcached-dev libcurl4-openssl-dev
      libjson-c-dev libjwt-dev libsodium-dev libssl-dev libunistring-dev mariadb-server mariadb-client memcached
      lighttpd curl ca-certificates)
KEEP_SERVICES=0
TEST=0
for arg in "$@"; do
	case "$arg" in
	# lighttpd's TLS module: production's TLS block (the tests check it).
	--test) PKGS+=(nodejs npm chromium lighttpd-mod-openssl openssl); TEST=1 ;;
	--keep-services) PKGS+=(lighttpd-mod-openssl); KEEP_SERVICES=1 ;;
	*) echo "deps: unknown option $arg" >&2; exit 2 ;;
	esac
done

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# The test tools (Playwright, Redocly) need Node.js 20 or later; Debian 12's
# own is 18. Then Node.js 20 comes from the npm registry (the node-linux-*
# packages hold the official binaries) into /usr/local, ahead of /usr/bin.
node20() { node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' 2>/dev/null; }
node_for_tests() {
	[ "$TEST" = 1 ] || return 0
	node20 && return 0
	local arch
	case "$(uname -m)" in
	x86_64) arch=x64 ;;
	aarch64) arch=arm64 ;;
	*) echo "deps: the tests need Node.js 20 or later (this one is $(node -v 2>/dev/null))" >&2; return 1 ;;
	esac
	echo "deps: installing Node.js 20 (node-linux-$arch from the npm registry) into /usr/local" >&2
	$SUDO npm install -g --prefix /usr/local --no-audit --no-fund --loglevel=error "node-linux-$arch@20" >/dev/null
	hash -r
	node20 || { echo "deps: Node.js 20 was installed in /usr/local/bin; put it ahead of $(command -v node) in PATH" >&2; return 1; }
}

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && { node_for_tests; exit $?; }

# npm ships inside Debian's nodejs on some images; don't replace a working one.
if command -v npm >/dev/null 2>&1; then
	m2=(); for p in "${missing[@]}"; do [ "$p" = npm ] || [ "$p" = nodejs ] || m2+=("$p"); done
	missing=("${m2[@]}")
	[ ${#missing[@]} -eq 0 ] && { node_for_tests; exit $?; }
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# The servers this installs are run by the project itself (scripts/stack.sh,
# private data directory, 127.0.0.1, its own sockets). Debian would also
# start and enable their system services (lighttpd on port 80 of every
# address, a system MariaDB and memcached) that nothing here uses: for the
# packages installed now, and only those, they are neither started
# (policy-rc.d, while installing) nor enabled at boot.
services=()
[ "$KEEP_SERVICES" = 1 ] || for p in "${missing[@]}"; do
	case "$p" in
	mariadb-server) services+=(mariadb) ;;
	memcached) services+=(memcached) ;;
	lighttpd) services+=(lighttpd) ;;
	esac
done
policy=""
if [ ${#services[@]} -gt 0 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
	policy=/usr/sbin/policy-rc.d
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
	$SUDO chmod 755 "$policy"
	trap '$SUDO rm -f "$policy"' EXIT
fi
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for s in "${services[@]}"; do
	$SUDO systemctl disable --now "$s" >/dev/null 2>&1 || true
done
node_for_tests
