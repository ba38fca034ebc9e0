#!/usr/bin/env bash
# Runs the dashboard's browser test against real `qasmat dev` clusters: a
# public one and a private one (CORS origin restricted, identity headers set
# by the test as an authentication proxy would, shares sealed with QKD keys from
# the built-in key manager simulator). Called by `make test-e2e`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
bin="${QASMAT_BIN:-$root/bin/qasmat}"
[ -x "$bin" ] || { echo "e2e: $bin is missing: run 'make build' first" >&2; exit 1; }
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || { echo "e2e: no Chromium at ${CHROMIUM:-/usr/bin/chromium}: apt-get install -y chromium" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work="$(mktemp -d /tmp/qasmat-e2e-XXXXXX)"
pub_port="$(free_port)"; priv_port="$(free_port)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$bin" dev --data-dir "$work/public" --port "$pub_port" --storages 3 >"$work/public.log" 2>&1 &
pids+=($!)
"$bin" dev --data-dir "$work/private" --port "$priv_port" --storages 3 --kms AES \
	--allowed-origin "http://127.0.0.1:$priv_port" >"$work/private.log" 2>&1 &
pids+=($!)

export QASMAT_URL="http://127.0.0.1:$pub_port"
export QASMAT_PRIVATE_URL="http://127.0.0.1:$priv_port"
export QASMAT_PRIVATE_TRANSIT=AES
export QASMAT_SCREENSHOTS="${QASMAT_SCREENSHOTS:-$root/test-artifacts/e2e-screenshots}"
mkdir -p "$QASMAT_SCREENSHOTS"
cd "$here/.."
if ! npm run --silent e2e; then
	echo "e2e failed; cluster logs:" >&2
	tail -n 40 "$work/public.log" "$work/private.log" >&2
	exit 1
fi
