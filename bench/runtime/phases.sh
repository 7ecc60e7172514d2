#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Where a respawn's time goes: the same SIGKILL as `run.sh respawn` (the only worker of a fresh
# master, the two servers alternating), timed from the kernel's own events with ftrace:
#   death->wake     the worker's exit begins -> the master returns from its wait (epoll_wait,
#                   or the baseline's rt_sigtimedwait/wait4)
#   wake->fork      the master's work before fork(): reaping, events, the replacement's set-up
#   fork            fork() in the master (copying its page tables)
#   fork->run       fork() returned -> the new worker's first instruction (it waits for a CPU)
#   run->accept     the new worker's set-up -> its first accept()
#   accept->answer  that accept() -> the worker writes the answer
# Medians of ROUNDS (default 15), in microseconds, beside the hand-written baseline. The trace
# records only these events (and the system calls it filters on), so it costs little, but the
# figures are a little longer than untraced ones: compare them with each other, and take the
# end-to-end figure from `run.sh respawn`.
#
# Usage: bench/runtime/phases.sh BUILD_DIR [ROUNDS]      (as root: it needs the tracefs)
# The script stops by itself and kills every process group it started, also on Ctrl-C.
set -euo pipefail
usage="Usage: bench/runtime/phases.sh BUILD_DIR [ROUNDS]"
build=${1:?$usage}
rounds=${2:-15}
bin=$build/bench/runtime
for p in cluster_hello baseline_hello probe; do
  [ -x "$bin/$p" ] || { echo "missing $bin/$p: cmake --build $build --target $p" >&2; exit 1; }
done
T=/sys/kernel/tracing
if [ ! -e "$T/trace" ]; then
  mount -t tracefs nodev "$T" 2>/dev/null || {
    echo "phases.sh: no tracefs at $T (run as root)" >&2
    exit 1
  }
fi

# shellcheck source=../processes.sh
source "$(dirname "$0")/../processes.sh"

untrace() {
  echo 0 >"$T/tracing_on"
  echo >"$T/set_event"
  echo >"$T/set_event_pid"
  echo 0 >"$T/events/raw_syscalls/sys_enter/filter"
  echo 0 >"$T/events/raw_syscalls/sys_exit/filter"
}
trap 'untrace 2>/dev/null || true; cleanup' EXIT

# One respawn of PROGRAM: prints the four phases and the total, in microseconds.
respawn_once() {  # program
  local log=$tmp/master.log pid port victim
  PORT=0 WEB_CONCURRENCY=1 setsid "$1" 2>"$log" &
  pid=$!
  started+=("$pid")
  port=$(listening_port "$log")
  [ -n "$port" ] || { echo "$1 did not start:" >&2; cat "$log" >&2; exit 1; }
  # The worker answers once it accepts: then it is the victim.
  "$bin/probe" requests "$port" 1 >/dev/null
  victim=$(cat "/proc/$pid/task/$pid/children")
  victim=${victim%% *}
  echo >"$T/trace"
  echo 1 >"$T/options/event-fork"
  echo "$pid $victim" >"$T/set_event_pid"
  # fork (clone), accept, and the writes that carry the answer (sendmsg, write, writev).
  echo 'id == 56 || id == 43 || id == 46 || id == 1 || id == 20' \
    >"$T/events/raw_syscalls/sys_enter/filter"
  # clone (the child's first event is its return from it), and the waits the masters sleep in.
  echo 'id == 56 || id == 232 || id == 128 || id == 61' >"$T/events/raw_syscalls/sys_exit/filter"
  local e
  for e in raw_syscalls:sys_enter raw_syscalls:sys_exit sched:sched_process_fork \
    sched:sched_process_exit; do
    echo "$e" >>"$T/set_event"
  done
  echo 1 >"$T/tracing_on"
  "$bin/probe" respawn "$port" 1 >/dev/null
  untrace
  # `comm-pid [cpu] flags seconds: event: details`; a title may hold spaces and dashes.
  sed -nE 's/^.*-([0-9]+) +\[[0-9]+\] +[^ ]+ +([0-9]+\.[0-9]+): ([a-z_]+): (.*)$/\1 \2 \3 \4/p' \
    "$T/trace" | awk -v master="$pid" -v victim="$victim" '
    $3 == "sched_process_exit" && index($0, " pid=" victim " ") && !dead { dead = $2 }
    $3 == "sys_exit" && $1 == master && dead && !woke { woke = $2 }
    $3 == "sys_enter" && $4 == "NR" && $5 == 56 && $1 == master && dead && !fork { fork = $2 }
    $3 == "sched_process_fork" && fork && !forked {
      forked = $2
      match($0, /child_pid=[0-9]+/)
      child = substr($0, RSTART + 10, RLENGTH - 10)
    }
    child != "" && $1 == child && !ran { ran = $2 }
    child != "" && $1 == child && $3 == "sys_enter" && $4 == "NR" {
      if ($5 == 43 && !accepted) accepted = $2
      else if (accepted && !answered && ($5 == 46 || $5 == 1 || $5 == 20)) answered = $2
    }
    END {
      if (!answered) { print "incomplete"; exit }
      us = 1000000
      printf "%.0f %.0f %.0f %.0f %.0f %.0f %.0f\n", (woke - dead) * us, (fork - woke) * us,
        (forked - fork) * us, (ran - forked) * us, (accepted - ran) * us,
        (answered - accepted) * us, (answered - dead) * us
    }'
  stop_master "$pid" TERM
}

: >"$tmp/baseline" && : >"$tmp/cluster"
for r in $(seq "$rounds"); do
  for name in baseline cluster; do
    # Not in $(...): the master's group must be recorded in this shell, for the clean-up.
    respawn_once "$bin/${name}_hello" >>"$tmp/$name"
  done
done

median() { sort -g | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : "nan" }'; }
printf '%-16s %10s %10s %10s   (us, median of %s respawns each)\n' phase baseline cluster \
  cluster-base "$(grep -vc incomplete "$tmp/cluster")"
column=1
for phase in death-\>wake wake-\>fork fork fork-\>run run-\>accept accept-\>answer total; do
  b=$(grep -v incomplete "$tmp/baseline" | cut -d' ' -f$column | median)
  c=$(grep -v incomplete "$tmp/cluster" | cut -d' ' -f$column | median)
  printf '%-16s %10s %10s %10s\n' "$phase" "$b" "$c" "$(awk -v a="$c" -v b="$b" \
    'BEGIN { printf "%+d", a - b }')"
  column=$((column + 1))
done
