# SPDX-License-Identifier: BSL-1.0
# Sourced by the benchmark scripts: the masters they start, their CPU time, and cleaning up.
#
# A script appends each master it starts (with setsid, so that it leads its own process group) to
# `started`, and the load generator running now to `load`; `tmp` is its scratch directory. On exit,
# also after Ctrl-C, every group is stopped and `tmp` removed.

tmp=$(mktemp -d)
started=()  # process groups started by the script (each master leads its own)
load=       # the load generator running now

running() {  # pid: true until it exits (a zombie waiting for `wait` has exited)
  local text
  text=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  text=${text##*) }
  [ "${text:0:1}" != Z ]
}

cleanup() {
  local g
  # SIGTERM first: masters then stop and reap their workers, where a SIGKILL to the group would
  # leave workers that outlive their master as zombies of a PID 1 that may not reap them.
  for g in "${started[@]}"; do kill -TERM "$g" 2>/dev/null || true; done
  for _ in $(seq 40); do
    local left=0
    for g in "${started[@]}"; do running "$g" && left=1; done
    ((left)) || break
    sleep 0.05
  done
  for g in "${started[@]}"; do kill -KILL -- -"$g" 2>/dev/null || true; done
  [ -z "$load" ] || kill -KILL "$load" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Fields of /proc/PID/stat counted after the command name, which may hold spaces (the process
# title): 1 is the state, 12/13 utime/stime, 14/15 cutime/cstime (reaped children), in ticks.
stat_fields() {  # pid field...
  local pid=$1 text
  shift
  text=$(cat "/proc/$pid/stat" 2>/dev/null) || { echo 0; return; }
  text=${text##*) }
  awk -v f="$*" '{ n = split(f, k, " "); s = 0; for (i = 1; i <= n; ++i) s += $(k[i]); print s }' \
    <<<"$text"
}

children() {  # pid: its children (the master is single-threaded, but ask every thread)
  cat /proc/"$1"/task/*/children 2>/dev/null || true
}

# CPU time of a master and all its workers, in clock ticks: utime+stime of the master and of every
# live child, plus the master's cutime+cstime, which holds the children it has already reaped.
server_ticks() {  # master pid
  local total c
  total=$(stat_fields "$1" 12 13 14 15)
  for c in $(children "$1"); do total=$((total + $(stat_fields "$c" 12 13))); done
  echo "$total"
}

# The port of the first `listening on 127.0.0.1:PORT` line in LOG, waiting up to LIMIT seconds
# (default 10) for it to be written; empty if it never is.
listening_port() {  # log [limit_s]
  local p=
  for _ in $(seq $((${2:-10} * 20))); do
    p=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$1" | grep -o '[0-9]*$' || true)
    [ -n "$p" ] && break
    sleep 0.05
  done
  echo "$p"
}

# Sends SIGNAL to the master PID alone (it then stops and reaps its workers: an orphaned worker
# would be left to PID 1) and waits for it to exit, killing its group if it has not after 30 s;
# the group is then no longer in `started`.
stop_master() {  # pid signal
  local p=$1 g kept=()
  kill "-$2" -- "$p" 2>/dev/null || true
  for _ in $(seq 600); do
    running "$p" || break
    sleep 0.05
  done
  kill -KILL -- -"$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  for g in "${started[@]}"; do [ "$g" = "$p" ] || kept+=("$g"); done
  started=("${kept[@]}")
}
