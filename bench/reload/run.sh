#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Time from a new build renamed over a running cluster's executable to the first answer from that
# build, with the reload plugin (inotify, the quiet period, the new build's configuration check,
# the master restart), against the hand-done baseline: stop the master (SIGQUIT), wait for it to
# exit, start the new build on the same port, first answer.
#
# Usage: bench/reload/run.sh BUILD_DIR          (BENCH_RUNS rounds, default 5; medians printed)
#
# The program is the reload plugin's test server (test/integration/plugins/reload_server.cpp,
# 2 workers, a quiet period of 200 ms); its second build answers `build=2`. Each figure is
# measured from just before the rename (or the SIGQUIT) to the first `build=2` answer, asking
# every 2 ms. The baseline refuses connections while no master listens; the reload never does.
# The script waits on the masters' lines and exits, never on fixed sleeps, stops by itself and
# kills everything it started, also on Ctrl-C.
set -euo pipefail
usage="Usage: bench/reload/run.sh BUILD_DIR"
build=${1:?$usage}
runs=${BENCH_RUNS:-5}

# The new master started by a master restart is a child of the old one: as a child subreaper,
# this script adopts it when the old one exits (see bench/restart/run.sh).
if [ -z "${BENCH_RELOAD_SUBREAPER:-}" ] && command -v python3 >/dev/null; then
  export BENCH_RELOAD_SUBREAPER=1
  exec python3 -c 'import ctypes, os, sys
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
os.execv(sys.argv[1], sys.argv[1:])' /usr/bin/env bash "$0" "$build"
fi

[ -f "$build/CMakeCache.txt" ] ||
  { echo "$build is not a build directory: cmake -S . -B $build -G Ninja first" >&2; exit 1; }
cmake --build "$build" --parallel 2 --target cluster_plugin_reload cluster_plugin_reload_v2 \
  >/dev/null || { echo "cannot build the reload test servers in $build" >&2; exit 1; }
v1=$build/test/integration/cluster_plugin_reload
v2=$build/test/integration/cluster_plugin_reload_v2

tmp=$(mktemp -d)
groups=()
cleanup() {
  local g
  for g in "${groups[@]}"; do kill -KILL -- "-$g" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_us() { local t; t=$(date +%s%N); echo $((t / 1000)); }

# wait_for FILE REGEX SECONDS: the first line of FILE matching REGEX (extended), or failure.
wait_for() {
  local file=$1 regex=$2 limit=$(($(now_us) + $3 * 1000000)) line
  while (($(now_us) < limit)); do
    if line=$(grep -E -m1 "$regex" "$file" 2>/dev/null); then
      echo "$line"
      return 0
    fi
    sleep 0.002
  done
  echo "timed out waiting for /$regex/ in $file" >&2
  return 1
}

# answer PORT: the body of GET / on 127.0.0.1:PORT, or nothing.
answer() {
  timeout 1 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$1 &&
    printf "GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n" >&3 && cat <&3' _ "$1" \
    2>/dev/null || true
}

# until_build2 PORT: waits (at most 60 s) for an answer from the second build.
until_build2() {
  local limit=$(($(now_us) + 60000000))
  while (($(now_us) < limit)); do
    case $(answer "$1") in *build=2*) return 0 ;; esac
    sleep 0.002
  done
  echo "no answer from the new build on port $1" >&2
  return 1
}

# start DIR PORT: starts DIR/server in DIR (its own process group), stderr to DIR/err; its pid in
# `started`. Not to be called in $(...): the group must be recorded in this shell.
started=
start() {
  local dir=$1 port=$2
  (cd "$dir" && CLUSTER_TEST_WORKDIR=$dir PORT=$port WEB_CONCURRENCY=2 CLUSTER_TEST_EVENTS=1 \
    exec setsid ./server 2>>"$dir/err" >/dev/null) &
  started=$!
  groups+=("$started")
}

app_dir() {  # a working directory with the first build as ./server
  local dir=$tmp/$1
  mkdir -p "$dir/config" "$dir/logs"
  cp "$v1" "$dir/server"
  echo "$dir"
}

stop_all() {  # kills what this round started, and waits for it
  local g
  for g in "${groups[@]}"; do kill -KILL -- "-$g" 2>/dev/null || true; done
  wait 2>/dev/null || true
  groups=()
}

reload_round() {  # sets `ms`: from the rename to the first answer from build 2
  local dir pid port t0 t1
  dir=$(app_dir "reload$1")
  start "$dir" 0
  pid=$started
  port=$(wait_for "$dir/err" '^cluster: listening on 127\.0\.0\.1:[0-9]+$' 20 | sed 's/.*://')
  wait_for "$dir/err" '^cluster-event: ready' 20 >/dev/null
  cp "$v2" "$tmp/staged"
  t0=$(now_us)
  mv "$tmp/staged" "$dir/server"
  until_build2 "$port"
  t1=$(now_us)
  wait_for "$dir/err" '^cluster: restart: new master [0-9]+ is serving' 20 >/dev/null
  stop_all
  ms=$(((t1 - t0) / 1000))
}

plain_round() {  # sets `ms`: from SIGQUIT to the first answer from build 2
  local dir pid port t0 t1 limit
  dir=$(app_dir "plain$1")
  start "$dir" 0
  pid=$started
  port=$(wait_for "$dir/err" '^cluster: listening on 127\.0\.0\.1:[0-9]+$' 20 | sed 's/.*://')
  wait_for "$dir/err" '^cluster-event: ready' 20 >/dev/null
  cp "$v2" "$tmp/staged"
  mv "$tmp/staged" "$dir/server.new"
  t0=$(now_us)
  kill -QUIT "$pid"
  limit=$(($(now_us) + 30000000))
  while kill -0 "$pid" 2>/dev/null && (($(now_us) < limit)); do
    # reaped by this shell: a zombie still answers kill -0
    if ! ps -o stat= -p "$pid" | grep -qv Z; then break; fi
    sleep 0.002
  done
  mv "$dir/server.new" "$dir/server"
  start "$dir" "$port"
  until_build2 "$port"
  t1=$(now_us)
  stop_all
  ms=$(((t1 - t0) / 1000))
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

ms=
reload_ms=()
plain_ms=()
for ((i = 1; i <= runs; i++)); do
  reload_round "$i"
  r=$ms
  plain_round "$i"
  p=$ms
  reload_ms+=("$r")
  plain_ms+=("$p")
  echo "round $i: reload ${r} ms, stop and start ${p} ms" >&2
done
r=$(printf '%s\n' "${reload_ms[@]}" | median)
p=$(printf '%s\n' "${plain_ms[@]}" | median)
printf '%-58s %10s\n' "median of $runs rounds, ms to the first answer of the new build" ""
printf '%-58s %10s\n' "reload plugin (rename; 200 ms quiet, check, master restart)" "$r"
printf '%-58s %10s\n' "baseline: SIGQUIT, wait for the exit, start the new build" "$p"
awk -v r="$r" -v p="$p" 'BEGIN { printf "%-58s %9.2fx\n", "ratio reload / baseline", r / p }'
echo "(the baseline refuses connections meanwhile; the reload refuses none)"
