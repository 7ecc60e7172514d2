#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Serves the same handler with cluster and with the hand-written baseline, and measures both.
#
# Usage: bench/runtime/run.sh BUILD_DIR [load|respawn|callgrind|health|all] [seconds] [connections]
#   load       wrk against both, alternating (BENCH_ROUNDS rounds of `seconds`, default 3 x 5 s):
#              requests/s, p99 latency, server CPU time per request (master and workers, from
#              /proc/PID/stat), the master's VmRSS, then the respawn latency (the first SIGKILL
#              of the only worker, in each of BENCH_RESPAWNS fresh masters, default 15);
#              medians and cluster/baseline ratios
#   respawn    the respawn latency alone, as in `load`
#   callgrind  instructions per request in one worker under valgrind --tool=callgrind, for
#              keep-alive requests and for one connection per request
#   health     the cost of the liveness check and of recording the request in flight: cluster
#              with `liveness timeout` 30 s (the default) against 0 (off), in callgrind
#              instructions per keep-alive request and in server CPU per request under wrk
# Example: bench/runtime/run.sh build-core all
#
# The script stops by itself and kills every process group it started, also on Ctrl-C.
set -euo pipefail
usage="Usage: bench/runtime/run.sh BUILD_DIR [load|respawn|callgrind|health|all] [seconds] [connections]"
build=${1:?$usage}
mode=${2:-load}
seconds=${3:-5}
connections=${4:-64}
workers=${WEB_CONCURRENCY:-2}
rounds=${BENCH_ROUNDS:-3}
respawns=${BENCH_RESPAWNS:-15}
case $mode in load | respawn | callgrind | health | all) ;; *) echo "$usage" >&2; exit 2 ;; esac
bin=$build/bench/runtime
for p in cluster_hello baseline_hello probe; do
  [ -x "$bin/$p" ] || { echo "missing $bin/$p: cmake --build $build --target $p" >&2; exit 1; }
done

# shellcheck source=../processes.sh
source "$(dirname "$0")/../processes.sh"

# Starts PROGRAM (optionally under a wrapper) in a process group of its own with PORT=0; sets
# `pid` (the master's) and `port` (from its `listening on` line).
start() {  # name workers limit_s command...
  local name=$1 n=$2 limit=$3 log
  shift 3
  log=$tmp/$name.log
  PORT=0 WEB_CONCURRENCY=$n setsid "$@" 2>"$log" &
  pid=$!
  started+=("$pid")
  port=$(listening_port "$log" "$limit")
  [ -n "$port" ] || { echo "$name did not start:" >&2; cat "$log" >&2; exit 1; }
}

median() { sort -g | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : "nan" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf (b > 0 ? "%.3fx" : "n/a"), a / b }'; }
# wrk prints latencies as 812.00us, 3.21ms or 1.02s.
to_ms() {
  awk '{ v = $1 + 0; if ($1 ~ /us$/) v /= 1000; else if ($1 ~ /[0-9]s$/) v *= 1000; print v }'
}

#=== load: wrk, CPU per request, memory, respawn ===#

# wrk with the script's threads and connections. In the background with `wait`: wrk catches
# Ctrl-C and exits normally, and bash then ignores the SIGINT it was waiting through, traps
# included; `wait` is interrupted by it, so the trap runs and the script stops.
run_wrk() {  # wrk arguments...
  wrk -t2 -c"$connections" "$@" &
  load=$!
  wait "$load"
  load=
}

# One wrk run against `port`, appending "req/s p99_ms cpu_us_per_request" to FILE.
load_once() {  # name master_pid port file
  local name=$1 master=$2 p=$3 out=$tmp/$1.wrk before after served rps p99 cpu
  before=$(server_ticks "$master")
  run_wrk -d"${seconds}s" --latency "http://127.0.0.1:$p/" >"$out"
  after=$(server_ticks "$master")
  served=$(awk '/requests in/ { print $1 }' "$out")
  rps=$(awk '/^Requests\/sec/ { print $2 }' "$out")
  p99=$(awk '$1 == "99%" { print $2 }' "$out" | to_ms)
  cpu=$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$served" \
    'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
  grep 'Socket errors\|Non-2xx' "$out" | sed "s/^/  $name: /" || true
  printf '  %-9s %10.0f req/s   p99 %7.2f ms   server CPU %6.2f us/request\n' \
    "$name" "$rps" "$p99" "$cpu"
  echo "$rps $p99 $cpu" >>"$4"
}

# Warms two servers up, then measures them in `rounds` rounds, alternating which goes first so
# that a warming or throttling machine favours neither; rows go to $tmp/NAME.rows.
alternate() {  # name_a pid_a port_a name_b pid_b port_b
  local a=$1 apid=$2 aport=$3 b=$4 bpid=$5 bport=$6
  # Page faults and first connections outside the measurement.
  run_wrk -d1s "http://127.0.0.1:$aport/" >/dev/null
  run_wrk -d1s "http://127.0.0.1:$bport/" >/dev/null
  : >"$tmp/$a.rows"
  : >"$tmp/$b.rows"
  for r in $(seq "$rounds"); do
    echo "round $r"
    if ((r % 2)); then
      load_once "$a" "$apid" "$aport" "$tmp/$a.rows"
      load_once "$b" "$bpid" "$bport" "$tmp/$b.rows"
    else
      load_once "$b" "$bpid" "$bport" "$tmp/$b.rows"
      load_once "$a" "$apid" "$aport" "$tmp/$a.rows"
    fi
  done
}

# Respawn: one worker each, so that only the replacement can answer after the kill; the first
# death of a fresh master each time, alternating. A second death soon after the first would be
# paced by cluster's crash-loop policy (100 ms, 200 ms, ...), which the baseline does not have:
# that would measure the policy, not the respawn. Sets `bresp` and `cresp` (medians, ms).
measure_respawn() {
  local b_ms=() c_ms=()
  for _ in $(seq "$respawns"); do
    start baseline 1 10 "$bin/baseline_hello"
    b_ms+=("$("$bin/probe" respawn "$port" 1)")
    stop_master "$pid" TERM
    start cluster 1 10 "$bin/cluster_hello"
    c_ms+=("$("$bin/probe" respawn "$port" 1)")
    stop_master "$pid" TERM
  done
  bresp=$(printf '%s\n' "${b_ms[@]}" | median)
  cresp=$(printf '%s\n' "${c_ms[@]}" | median)
}
respawn_row() {
  printf '%-40s %12s %12s %10s\n' "respawn, SIGKILL to answer (ms, $respawns)" "$bresp" "$cresp" \
    "$(ratio "$cresp" "$bresp")"
}

run_respawn() {
  measure_respawn
  printf '%-40s %12s %12s %10s\n' "median of $respawns" baseline cluster cluster/baseline
  respawn_row
}

run_load() {
  echo "HTTP hello, $workers workers, $connections connections, $rounds rounds of ${seconds}s" \
    "alternating (wrk -t2 --latency), loopback"
  start baseline "$workers" 10 "$bin/baseline_hello"
  local bpid=$pid bport=$port
  start cluster "$workers" 10 "$bin/cluster_hello"
  local cpid=$pid cport=$port
  alternate baseline "$bpid" "$bport" cluster "$cpid" "$cport"
  local brss crss
  brss=$(awk '/^VmRSS/ { print $2 }' "/proc/$bpid/status")
  crss=$(awk '/^VmRSS/ { print $2 }' "/proc/$cpid/status")
  stop_master "$cpid" TERM
  stop_master "$bpid" TERM

  measure_respawn

  local b c
  echo
  printf '%-40s %12s %12s %10s\n' "median of $rounds" baseline cluster cluster/baseline
  for col in 1 2 3; do
    b=$(awk -v c=$col '{ print $c }' "$tmp/baseline.rows" | median)
    c=$(awk -v c=$col '{ print $c }' "$tmp/cluster.rows" | median)
    case $col in
      1) label="requests/s" ;;
      2) label="p99 latency (ms)" ;;
      3) label="server CPU per request (us)" ;;
    esac
    printf '%-40s %12s %12s %10s\n' "$label" "$b" "$c" "$(ratio "$c" "$b")"
  done
  respawn_row
  printf '%-40s %12s %12s %10s\n' "master VmRSS (kB)" "$brss" "$crss" "$(ratio "$crss" "$brss")"
}

#=== callgrind: instructions per request in one worker ===#

# Sets `ir` to the instructions the worker executed in its life, serving REQUESTS requests: the
# master and its one worker run under callgrind, which follows fork() (and, with
# --trace-children, exec) and writes one file per process; the worker's is picked by the pid it
# reports on /pid.
worker_instructions() {  # name program requests [close]
  local name=$1 program=$2 n=$3 how=${4:-} worker file
  start "cg-$name" 1 60 valgrind --tool=callgrind --trace-children=yes \
    --callgrind-out-file="$tmp/cg.$name.$n$how.%p" "$program"
  worker=$(curl -sf "http://127.0.0.1:$port/pid")
  "$bin/probe" requests "$port" "$n" $how >/dev/null
  # Callgrind writes its counts when the worker exits, but not when it is SIGKILLed: cluster's
  # graceful stop (SIGQUIT), and the baseline's SIGTERM, passed on to its worker.
  if [ "$name" = cluster ]; then stop_master "$pid" QUIT; else stop_master "$pid" TERM; fi
  file=$tmp/cg.$name.$n$how.$worker
  [ -s "$file" ] || { echo "callgrind wrote no $file" >&2; exit 1; }
  ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$file")
}

run_callgrind() {
  command -v valgrind >/dev/null || { echo "no valgrind: run scripts/install-deps" >&2; exit 1; }
  local small=${BENCH_CG_SMALL:-500} large=${BENCH_CG_LARGE:-2500}
  echo "instructions per request in one worker (callgrind; difference of $large and $small" \
    "requests, so start-up and exit cancel)"
  printf '%-40s %12s %12s %10s\n' "" baseline cluster cluster/baseline
  local how label b c
  for how in "" close; do
    for name in baseline cluster; do
      local lo hi
      worker_instructions "$name" "$bin/${name}_hello" "$small" "$how"
      lo=$ir
      worker_instructions "$name" "$bin/${name}_hello" "$large" "$how"
      hi=$ir
      awk -v a="$lo" -v b="$hi" -v n=$((large - small)) 'BEGIN { printf "%.0f\n", (b - a) / n }' \
        >"$tmp/cg.$name"
    done
    b=$(cat "$tmp/cg.baseline")
    c=$(cat "$tmp/cg.cluster")
    label="keep-alive request (Ir)"
    [ -n "$how" ] && label="connection per request (Ir)"
    printf '%-40s %12s %12s %10s\n' "$label" "$b" "$c" "$(ratio "$c" "$b")"
  done
}

#=== health: liveness on against off ===#

run_health() {
  command -v valgrind >/dev/null || { echo "no valgrind: run scripts/install-deps" >&2; exit 1; }
  local small=${BENCH_CG_SMALL:-500} large=${BENCH_CG_LARGE:-2500} lo hi setting
  echo "liveness check on (liveness timeout 30000 ms, the default) against off (0): callgrind" \
    "instructions per keep-alive request in one worker (difference of $large and $small" \
    "requests), then server CPU per request under wrk ($rounds rounds of ${seconds}s alternating)"
  for setting in 0 30000; do
    BENCH_LIVENESS_MS=$setting worker_instructions cluster "$bin/cluster_hello" "$small"
    lo=$ir
    BENCH_LIVENESS_MS=$setting worker_instructions cluster "$bin/cluster_hello" "$large"
    hi=$ir
    awk -v a="$lo" -v b="$hi" -v n=$((large - small)) 'BEGIN { printf "%.0f\n", (b - a) / n }' \
      >"$tmp/cg.liveness.$setting"
  done
  BENCH_LIVENESS_MS=0 start off "$workers" 10 "$bin/cluster_hello"
  local opid=$pid oport=$port
  BENCH_LIVENESS_MS=30000 start on "$workers" 10 "$bin/cluster_hello"
  local npid=$pid nport=$port
  alternate off "$opid" "$oport" on "$npid" "$nport"
  stop_master "$npid" TERM
  stop_master "$opid" TERM
  local a b
  echo
  printf '%-40s %12s %12s %10s\n' "" off on on/off
  a=$(cat "$tmp/cg.liveness.0")
  b=$(cat "$tmp/cg.liveness.30000")
  printf '%-40s %12s %12s %10s\n' "keep-alive request (Ir)" "$a" "$b" "$(ratio "$b" "$a")"
  a=$(awk '{ print $3 }' "$tmp/off.rows" | median)
  b=$(awk '{ print $3 }' "$tmp/on.rows" | median)
  printf '%-40s %12s %12s %10s\n' "server CPU per request (us, median)" "$a" "$b" "$(ratio "$b" "$a")"
}

case $mode in
  load) run_load ;;
  respawn) run_respawn ;;
  callgrind) run_callgrind ;;
  health) run_health ;;
  all) run_load; echo; run_callgrind; echo; run_health ;;
esac
