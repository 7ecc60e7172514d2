#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Requests failed, p99 latency and throughput while a master under load restarts, against the
# plain stop-and-start baseline and against the same load with no restart.
#
# Usage: bench/restart/run.sh BUILD_DIR [steady|master|rolling|plain ...]
#   steady   no restart: the reference figures
#   master   master restart: SIGUSR2; a new master takes over the sockets, then the old one stops
#   rolling  rolling restart: SIGHUP; each worker is replaced in place
#   plain    the baseline: SIGQUIT (graceful stop), wait for the exit, start a new master on the
#            same port
# Example: bench/restart/run.sh build
#
# Each run starts the test server (http mode, WEB_CONCURRENCY=2) and puts it under steady load
# (cluster_load, BENCH_CONNECTIONS=50 keep-alive connections) for BENCH_SECONDS (default 4); the
# restart happens half-way, and the load goes on for the rest of the period once the restart is
# complete. BENCH_RUNS (default 5) rounds, the scenarios interleaved in each; medians are printed.
# A failed request is any that did not get a 200: lost on a reused keep-alive connection, failed
# on a fresh one, refused at connect() (each connection retries every 10 ms), or another status.
#
# The script waits on the masters' stderr lines and process exits, never on fixed sleeps (other
# than the load periods), stops by itself and kills everything it started, also on Ctrl-C.
set -euo pipefail
usage="Usage: bench/restart/run.sh BUILD_DIR [steady|master|rolling|plain ...]"
build=${1:?$usage}
shift
scenarios=("$@")
((${#scenarios[@]})) || scenarios=(steady master rolling plain)
for s in "${scenarios[@]}"; do
  case $s in steady | master | rolling | plain) ;; *) echo "$usage" >&2; exit 2 ;; esac
done
runs=${BENCH_RUNS:-5}
seconds=${BENCH_SECONDS:-4}
connections=${BENCH_CONNECTIONS:-50}
workers=2

# A master started by SIGUSR2 is a child of the old master; once the old one exits it would be
# adopted by PID 1, which in some containers never reaps it. As a child subreaper, this script
# adopts it instead (the flag survives exec, and bash reaps every child it has).
if [ -z "${BENCH_RESTART_SUBREAPER:-}" ] && command -v python3 >/dev/null; then
  export BENCH_RESTART_SUBREAPER=1
  exec python3 -c 'import ctypes, os, sys
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
os.execv(sys.argv[1], sys.argv[1:])' /usr/bin/env bash "$0" "$build" "$@"
fi

[ -f "$build/CMakeCache.txt" ] ||
  { echo "$build is not a build directory: cmake -S . -B $build -G Ninja first" >&2; exit 1; }
cmake --build "$build" --parallel 2 --target cluster_test_server cluster_load >/dev/null ||
  { echo "cannot build cluster_test_server and cluster_load in $build" >&2; exit 1; }
server=$build/test/integration/cluster_test_server
load_bin=$build/test/integration/cluster_load
for p in "$server" "$load_bin"; do [ -x "$p" ] || { echo "missing $p" >&2; exit 1; }; done

tmp=$(mktemp -d)
masters=()  # every master pid this run knows of (started here or by a restart)
groups=()   # process groups started here (each first master leads its own)
load=       # the cluster_load running now
cleanup() {
  local p
  if [ -n "$load" ]; then
    kill -KILL "$load" 2>/dev/null || true
    wait "$load" 2>/dev/null || true
  fi
  # SIGTERM first: each master stops and reaps its workers.
  for p in "${masters[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 100); do
    local left=0
    for p in "${masters[@]}"; do running "$p" && left=1; done
    ((left)) || break
    sleep 0.05
  done
  for p in "${masters[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "${groups[@]}"; do kill -KILL -- -"$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

running() {  # pid: true until it exits (a zombie waiting for `wait` has exited)
  local text
  text=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  text=${text##*) }
  [ "${text:0:1}" != Z ]
}

# Polls until COMMAND succeeds, for at most LIMIT seconds.
wait_for() {  # limit command...
  local limit=$1 i
  shift
  for ((i = 0; i < limit * 50; ++i)); do
    "$@" && return 0
    sleep 0.02
  done
  "$@"
}

has_line() { grep -qE "$2" "$1" 2>/dev/null; }
exited() { ! running "$1"; }

fail() {  # message log
  echo "  $1" >&2
  [ -z "${2:-}" ] || sed 's/^/    | /' "$2" | tail -20 >&2
  exit 1
}

# Starts a master on PORT (0: any) with its stderr in LOG; sets `pid` and `port` once it listens
# and its workers are up.
start_master() {  # log port
  local log=$1
  PORT=$2 WEB_CONCURRENCY=$workers CLUSTER_TEST_EVENTS=1 setsid "$server" http 2>"$log" &
  pid=$!
  masters+=("$pid")
  groups+=("$pid")
  wait_for 10 has_line "$log" '^cluster: listening on ' || fail "the master did not start" "$log"
  port=$(grep -oE '^cluster: listening on .*:[0-9]+$' "$log" | head -1 | grep -oE '[0-9]+$')
  local id
  for ((id = 0; id < workers; ++id)); do
    wait_for 10 has_line "$log" "worker_connected id=$id " || fail "no worker $id" "$log"
  done
}

# Drops PID from the processes and groups to clean up: once it has exited and been reaped its
# number may be reused by another program.
forget() {  # pid [group]
  local p kept=()
  for p in "${masters[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
  masters=("${kept[@]}")
  [ "${2:-}" = group ] || return 0
  kept=()
  for p in "${groups[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
  groups=("${kept[@]}")
}

# Stops master PID (SIGTERM) and waits for it; then its group, which a master started by a
# restart shares with its first master, GROUP.
stop_master() {  # pid [group]
  kill -TERM "$1" 2>/dev/null || true
  wait_for 10 exited "$1" || kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  forget "$1"
  local g=${2:-$1}
  kill -KILL -- -"$g" 2>/dev/null || true
  forget "$g" group
}

now() { date +%s.%N; }
# Sleeps until START + SECONDS (a load period), at once if that has passed.
sleep_until() {  # start seconds
  local left
  left=$(awk -v s="$1" -v d="$2" -v n="$(now)" 'BEGIN { l = s + d - n; print (l > 0 ? l : 0) }')
  sleep "$left"
}

# One run of SCENARIO; appends "failed p99_ms requests_per_s" to $tmp/SCENARIO.rows.
run_once() {  # scenario run
  local scenario=$1 n=$2 log=$tmp/$1.$2.log out=$tmp/$1.$2.load
  start_master "$log" 0
  local first=$pid
  "$load_bin" --port "$port" --connections "$connections" \
    --max-seconds $((seconds * 4 + 60)) >"$out" &
  load=$!
  wait_for 10 has_line "$out" '^load: running$' || fail "the load did not start" "$out"
  local t0 current=$first group=$first
  t0=$(now)
  sleep "$(awk -v s="$seconds" 'BEGIN { print s / 2 }')"

  case $scenario in
    master)
      kill -USR2 "$first"
      wait_for 10 has_line "$log" '^cluster: restart(ing: starting a new master| failed)' ||
        fail "no restart after SIGUSR2" "$log"
      has_line "$log" '^cluster: restart failed' && fail "the restart failed" "$log"
      current=$(grep -oE '^cluster: restarting: starting a new master \(pid [0-9]+\)' "$log" |
        grep -oE '[0-9]+')
      [ -n "$current" ] || fail "no pid in the restarting line" "$log"
      masters+=("$current")
      wait_for 30 has_line "$log" \
        "^cluster: restart(: new master $current is serving| failed)" ||
        fail "the new master never served" "$log"
      has_line "$log" '^cluster: restart failed' && fail "the restart failed" "$log"
      wait_for 30 exited "$first" || fail "the old master did not stop" "$log"
      wait "$first" 2>/dev/null || true
      forget "$first"  # its group lives on in the new master
      ;;
    rolling)
      kill -HUP "$first"
      wait_for 60 has_line "$log" '^cluster: rolling restart: every worker replaced' ||
        fail "no rolling restart after SIGHUP" "$log"
      ;;
    plain)
      kill -QUIT "$first"
      wait_for 30 exited "$first" || fail "the master did not stop on SIGQUIT" "$log"
      wait "$first" 2>/dev/null || true
      forget "$first" group
      start_master "$tmp/$scenario.$n.second.log" "$port"
      current=$pid
      group=$pid
      ;;
  esac

  sleep_until "$t0" "$seconds"
  kill -INT "$load"
  wait "$load" || true
  load=
  stop_master "$current" "$group"
  local line
  line=$(grep '^load: requests=' "$out") || fail "the load printed no summary" "$out"
  # load: requests=N ok=N non200=N connect_errors=N lost=N fresh_failed=N p50_us=N p99_us=N ...
  awk -v name="$scenario" -v n="$n" -v rows="$tmp/$scenario.rows" '{
    for (i = 2; i <= NF; ++i) { split($i, kv, "="); v[kv[1]] = kv[2] }
    failed = v["non200"] + v["connect_errors"] + v["lost"] + v["fresh_failed"]
    printf "  %-8s run %d: %7d requests %6d failed (lost %d, fresh_failed %d, connect_errors %d, " \
      "non200 %d)  p99 %6.2f ms  %7.0f req/s\n", name, n, v["requests"], failed, v["lost"],
      v["fresh_failed"], v["connect_errors"], v["non200"], v["p99_us"] / 1000,
      v["ok"] / v["seconds"]
    printf "%d %.2f %.0f\n", failed, v["p99_us"] / 1000, v["ok"] / v["seconds"] >>rows
  }' <<<"$line"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : "nan" }'; }

echo "HTTP test server (http mode), $workers workers, cluster_load with $connections keep-alive" \
  "connections, $runs rounds of ${seconds}s, restart half-way, loopback"
for s in "${scenarios[@]}"; do : >"$tmp/$s.rows"; done
# Warm up (page cache, first forks and connections) outside the measurement.
start_master "$tmp/warm-up.log" 0
"$load_bin" --port "$port" --connections "$connections" --max-seconds 1 >/dev/null
stop_master "$pid"
for ((r = 1; r <= runs; ++r)); do
  for s in "${scenarios[@]}"; do run_once "$s" "$r"; done
done

echo
printf '%-48s %14s %14s %12s\n' "median of $runs" "failed requests" "p99 (ms)" "requests/s"
for s in "${scenarios[@]}"; do
  case $s in
    steady) label="no restart (reference)" ;;
    master) label="master restart (SIGUSR2)" ;;
    rolling) label="rolling restart of workers (SIGHUP)" ;;
    plain) label="stop and start (SIGQUIT, then a new master)" ;;
  esac
  printf '%-48s %14s %14s %12s\n' "$label" \
    "$(awk '{ print $1 }' "$tmp/$s.rows" | median)" \
    "$(awk '{ print $2 }' "$tmp/$s.rows" | median)" \
    "$(awk '{ print $3 }' "$tmp/$s.rows" | median)"
done
