#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Server CPU time per request for the same HTTP server without a plugin, with stats (connections
# and requests counted) and with logger (one access line per request), measured in one run.
#
# Usage: bench/plugins/run.sh BUILD_DIR [seconds] [connections]
#   wrk -t2 against each variant in turn, BENCH_ROUNDS rounds (default 5) of `seconds` (default
#   3), the order rotating each round; CPU time of the master and its workers from /proc/PID/stat;
#   medians, and ratios to the server without a plugin. Loopback only.
# Example: bench/plugins/run.sh build-stats
#
# The script kills every process group it started, also on Ctrl-C.
set -euo pipefail
usage="Usage: bench/plugins/run.sh BUILD_DIR [seconds] [connections]"
build=${1:?$usage}
seconds=${2:-3}
connections=${3:-64}
workers=${WEB_CONCURRENCY:-2}
rounds=${BENCH_ROUNDS:-5}
bin=$build/bench/plugins
command -v wrk >/dev/null || { echo "no wrk: run scripts/install-deps" >&2; exit 1; }

variants=()
for v in none stats logger; do
  [ -x "$bin/bench_plugin_$v" ] && variants+=("$v")
done
[ -x "$bin/bench_plugin_none" ] ||
  { echo "missing $bin/bench_plugin_none: cmake --build $build --target bench.plugins" >&2; exit 1; }

# shellcheck source=../processes.sh
source "$(dirname "$0")/../processes.sh"

declare -A pids ports
start() {  # variant
  local v=$1 log=$tmp/$1.log port=
  mkdir -p "$tmp/logs-$v"
  PORT=0 WEB_CONCURRENCY=$workers BENCH_LOG_DIR="$tmp/logs-$v" setsid "$bin/bench_plugin_$v" \
    2>"$log" &
  pids[$v]=$!
  started+=("$!")
  for _ in $(seq 200); do
    port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "$v did not start:" >&2; cat "$log" >&2; exit 1; }
  ports[$v]=$port
}

run_wrk() {
  wrk -t2 -c"$connections" "$@" &
  load=$!
  wait "$load"
  load=
}

measure() {  # variant: appends "req/s cpu_us_per_request" to its rows
  local v=$1 out=$tmp/$1.wrk before after served rps cpu
  before=$(server_ticks "${pids[$v]}")
  run_wrk -d"${seconds}s" "http://127.0.0.1:${ports[$v]}/" >"$out"
  after=$(server_ticks "${pids[$v]}")
  served=$(awk '/requests in/ { print $1 }' "$out")
  rps=$(awk '/^Requests\/sec/ { print $2 }' "$out")
  cpu=$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$served" \
    'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
  grep 'Socket errors\|Non-2xx' "$out" | sed "s/^/  $v: /" || true
  printf '  %-8s %10.0f req/s   server CPU %6.2f us/request\n' "$v" "$rps" "$cpu"
  echo "$rps $cpu" >>"$tmp/$v.rows"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : "nan" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf (b > 0 ? "%.3fx" : "n/a"), a / b }'; }

echo "HTTP hello, $workers workers, $connections keep-alive connections, $rounds rounds of" \
  "${seconds}s, order rotating (wrk -t2), loopback; variants: ${variants[*]}"
for v in "${variants[@]}"; do
  start "$v"
  : >"$tmp/$v.rows"
  run_wrk -d1s "http://127.0.0.1:${ports[$v]}/" >/dev/null  # warm-up, not measured
done
n=${#variants[@]}
for r in $(seq "$rounds"); do
  echo "round $r"
  for i in $(seq 0 $((n - 1))); do
    measure "${variants[$(((i + r) % n))]}"
  done
done

echo
printf '%-32s' "median of $rounds"
for v in "${variants[@]}"; do printf '%12s' "$v"; done
echo
for col in 1 2; do
  case $col in 1) label="requests/s" ;; 2) label="server CPU per request (us)" ;; esac
  printf '%-32s' "$label"
  declare -A med=()
  for v in "${variants[@]}"; do
    med[$v]=$(awk -v c=$col '{ print $c }' "$tmp/$v.rows" | median)
    printf '%12s' "${med[$v]}"
  done
  echo
  printf '%-32s' "  ratio to none"
  for v in "${variants[@]}"; do printf '%12s' "$(ratio "${med[$v]}" "${med[none]}")"; done
  echo
done
if [ -d "$tmp/logs-logger" ]; then
  echo "(logger wrote $(cat "$tmp"/logs-logger/workers.access.log 2>/dev/null | wc -l) access lines)"
fi
