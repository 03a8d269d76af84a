#!/usr/bin/env bash
# Starts the example three-node cluster on loopback in the foreground:
# makes the cluster certificates on first use, then runs node1..node3
# with their logs prefixed. Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")"
BIN=${BIN:-../../bin/authrim}
if [ ! -x "$BIN" ]; then
  echo "build first: make build (or set BIN)" >&2
  exit 1
fi
[ -f certs/ca.pem ] || "$BIN" cluster certs --nodes 3 --out certs
mkdir -p data
pids=()
stop() {
  trap - INT TERM EXIT
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait
}
trap stop INT TERM EXIT
for i in 1 2 3; do
  "$BIN" serve --config "node$i.yaml" > >(sed -u "s/^/[node$i] /") 2>&1 &
  pids+=($!)
done
echo "three nodes starting: http://localhost:8081 http://localhost:8082 http://localhost:8083"
echo "status: $BIN cluster status --server http://localhost:8081 --admin-token example-admin-token-change-me"
wait -n "${pids[@]}" || true
