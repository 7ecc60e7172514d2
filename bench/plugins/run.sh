#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# What plugins cost per request: the same HTTP server without a plugin, with stats (connections
# and requests counted) and with logger (one access line per request), measured in one run.
#
# Usage: bench/plugins/run.sh BUILD_DIR [load|callgrind|all] [seconds] [connections]
#   load       wrk -t2 against each variant in turn, BENCH_ROUNDS rounds (default 5) of `seconds`
#              (default 3), the order rotating each round; CPU time of the master and its
#              workers from /proc/PID/stat; medians, and ratios to the server without a plugin
#   callgrind  instructions per keep-alive request in the one worker of each variant under
#              valgrind --tool=callgrind (the difference of 2500 and 500 requests), which does
#              not move from run to run as CPU time on a shared machine does
# Example: bench/plugins/run.sh build all    (needs the bench_plugin_* programs and
#          bench/runtime's probe: cmake --build build --target bench.plugins probe)
#
# Loopback only. The script kills every process group it started, also on Ctrl-C.
set -euo pipefail
usage="Usage: bench/plugins/run.sh BUILD_DIR [load|callgrind|all] [seconds] [connections]"
build=${1:?$usage}
mode=${2:-load}
seconds=${3:-3}
connections=${4:-64}
workers=${WEB_CONCURRENCY:-2}
rounds=${BENCH_ROUNDS:-5}
bin=$build/bench/plugins
case $mode in load | callgrind | all) ;; *) echo "$usage" >&2; exit 2 ;; esac
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
start() {  # variant [workers [wrapper...]]
  local v=$1 n=${2:-$workers} log=$tmp/$1.log port=
  shift $(($# < 2 ? $# : 2))
  mkdir -p "$tmp/logs-$v"
  PORT=0 WEB_CONCURRENCY=$n BENCH_LOG_DIR="$tmp/logs-$v" setsid "$@" "$bin/bench_plugin_$v" \
    2>"$log" &
  pids[$v]=$!
  started+=("$!")
  port=$(listening_port "$log")
  [ -n "$port" ] || { echo "$v did not start:" >&2; cat "$log" >&2; exit 1; }
  ports[$v]=$port
}

# Stops master PID gracefully (its workers exit, and callgrind writes their counts) and waits.
stop() {  # pid
  kill -QUIT "$1" 2>/dev/null || true
  for _ in $(seq 600); do
    running "$1" || return 0
    sleep 0.05
  done
  kill -KILL -- -"$1" 2>/dev/null || true
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

run_load() {
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
}

#=== callgrind: instructions per request in one worker ===#

# Sets `ir` to the instructions the worker of VARIANT executed in its life, serving REQUESTS
# keep-alive requests; callgrind follows fork() and writes one file per process, and the
# worker's is picked by the pid it answers on /pid.
worker_instructions() {  # variant requests
  local v=$1 n=$2 worker file
  start "$v" 1 valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$v.$n.%p"
  worker=$(curl -sf "http://127.0.0.1:${ports[$v]}/pid")
  "$probe" requests "${ports[$v]}" "$n" >/dev/null
  stop "${pids[$v]}"
  file=$tmp/cg.$v.$n.$worker
  [ -s "$file" ] || { echo "callgrind wrote no $file" >&2; exit 1; }
  ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$file")
}

run_callgrind() {
  command -v valgrind >/dev/null || { echo "no valgrind: run scripts/install-deps" >&2; exit 1; }
  probe=$build/bench/runtime/probe
  [ -x "$probe" ] || { echo "missing $probe: cmake --build $build --target probe" >&2; exit 1; }
  local small=${BENCH_CG_SMALL:-500} large=${BENCH_CG_LARGE:-2500} v lo hi
  declare -A per=()
  echo "instructions per keep-alive request in one worker (callgrind; difference of $large and" \
    "$small requests, so start-up and exit cancel)"
  for v in "${variants[@]}"; do
    worker_instructions "$v" "$small"
    lo=$ir
    worker_instructions "$v" "$large"
    hi=$ir
    per[$v]=$(awk -v a="$lo" -v b="$hi" -v n=$((large - small)) 'BEGIN { printf "%.0f", (b - a) / n }')
  done
  printf '%-32s' ""
  for v in "${variants[@]}"; do printf '%12s' "$v"; done
  echo
  printf '%-32s' "instructions per request (Ir)"
  for v in "${variants[@]}"; do printf '%12s' "${per[$v]}"; done
  echo
  printf '%-32s' "  ratio to none"
  for v in "${variants[@]}"; do printf '%12s' "$(ratio "${per[$v]}" "${per[none]}")"; done
  echo
}

case $mode in
  load) run_load ;;
  callgrind) run_callgrind ;;
  all) run_load; echo; run_callgrind ;;
esac
