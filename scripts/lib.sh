# Shell helpers shared by benchmark.sh and bench/: start and stop a delayserver
# on a free loopback port, and talk HTTP without needing curl. Source it.

# http_get PORT TARGET [HOST]: prints the response body; fails unless the status is 200.
http_get() {
  local port=$1 target=$2 host=${3:-127.0.0.1} status body
  exec 7<>"/dev/tcp/$host/$port" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$target" >&7
  body=$(cat <&7)
  exec 7<&- 7>&-
  status=$(printf '%s' "$body" | head -n 1 | cut -d' ' -f2)
  printf '%s\n' "${body#*$'\r\n\r\n'}"
  [ "$status" = 200 ]
}

# start_server NAME ARGS...: starts build/delayserver --port 0 ARGS in the
# background and waits for its readiness route (on the --bind address if ARGS
# give one). Sets NAME_PID and NAME_PORT; a server that is not ready in 5 s is
# stopped.
start_server() {
  local var=$1; shift
  local host=127.0.0.1 a prev=
  for a in "$@"; do
    [ "$prev" = --bind ] && host=$a
    prev=$a
  done
  local portfile
  portfile=$(mktemp)
  rm -f "$portfile"
  "$BUILD_DIR/delayserver" --port 0 --port-file "$portfile" "$@" &
  local pid=$!
  printf -v "${var}_PID" '%s' "$pid"
  local i
  for i in $(seq 1 100); do
    if [ -s "$portfile" ]; then
      local port
      port=$(cat "$portfile")
      if http_get "$port" /health "$host" >/dev/null 2>&1; then
        printf -v "${var}_PORT" '%s' "$port"
        rm -f "$portfile"
        return 0
      fi
    fi
    kill -0 "$pid" 2>/dev/null || { echo "delayserver exited before it was ready" >&2; return 1; }
    sleep 0.05
  done
  echo "delayserver did not become ready within 5 s" >&2
  kill "$pid" 2>/dev/null
  return 1
}

# descendants PID: every process below PID, children before their children
# (from /proc: no procps on a bare machine).
descendants() {
  local -A kids=()
  local stat content rest pid ppid
  for stat in /proc/[0-9]*/stat; do
    read -r content 2>/dev/null <"$stat" || continue  # gone meanwhile
    pid=${stat#/proc/}; pid=${pid%/stat}
    rest=${content##*) }  # after the command name, which may hold spaces
    read -r _ ppid _ <<<"$rest"
    kids[$ppid]+="$pid "
  done
  local queue=("$1") next
  while [ ${#queue[@]} -gt 0 ]; do
    next=${queue[0]}; queue=("${queue[@]:1}")
    for pid in ${kids[$next]:-}; do
      echo "$pid"
      queue+=("$pid")
    done
  done
}

# kill_tree PID [SIGNAL]: SIGNAL (TERM) to every process below PID, found
# before any is signalled, so none escapes by being reparented meanwhile.
kill_tree() {
  local pids
  pids=$(descendants "$1")
  [ -n "$pids" ] && kill -"${2:-TERM}" $pids 2>/dev/null
  return 0
}

# stop_server PID: SIGTERM (the server flushes its timeline and exits 0), then wait.
stop_server() {
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  wait "$pid" 2>/dev/null || true
}
