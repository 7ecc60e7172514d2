#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Serves the same handler with cluster and with the hand-written baseline; wrk measures both.
# Usage: bench/runtime/run.sh BUILD_DIR [seconds] [connections]
set -euo pipefail
build=${1:?Usage: bench/runtime/run.sh BUILD_DIR [seconds] [connections]}
seconds=${2:-5}
connections=${3:-64}
workers=${WEB_CONCURRENCY:-2}

measure() {  # name program
  local name=$1 program=$2 log pid port
  log=$(mktemp)
  # A process group of its own, so that the master and every worker are stopped together.
  PORT=0 WEB_CONCURRENCY=$workers setsid "$program" 2>"$log" &
  pid=$!
  for _ in $(seq 200); do
    port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "$name did not start:"; cat "$log"; kill -KILL -- -"$pid"; exit 1; }
  wrk -t2 -c"$connections" -d"${seconds}s" --latency "http://127.0.0.1:$port/" >"$log.wrk"
  kill -TERM -- -"$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  printf '%-10s %12s req/s   p50 %8s   p99 %8s\n' "$name" \
    "$(awk '/Requests\/sec/ {print $2}' "$log.wrk")" \
    "$(awk '$1 == "50%" {print $2}' "$log.wrk")" "$(awk '$1 == "99%" {print $2}' "$log.wrk")"
  rm -f "$log" "$log.wrk"
}

echo "HTTP hello, $workers workers, $connections connections, ${seconds}s each (wrk -t2)"
# Alternate the two, twice, so that a warming machine does not favour one of them.
for round in 1 2; do
  measure baseline "$build/bench/runtime/baseline_hello"
  measure cluster "$build/bench/runtime/cluster_hello"
done
