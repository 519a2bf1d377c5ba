#!/usr/bin/env bash
# crawl-mpi for real: mpirun ranks against real delay servers, on loopback or
# on network namespaces (hosts with their own addresses). CTest runs each case:
#   tests/mpi_test.sh BUILD_DIR local|shards|skew|idle|die|rankfail|disagree|badflag|tls|urls|rate|hosts
# Exit 77 (CTest: skipped) only when network namespaces cannot be created,
# with the reason printed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=$(cd "$1" && pwd)
CASE=$2
source "$ROOT/scripts/lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
PY=$("$ROOT/scripts/find-python.sh" 2>/dev/null || command -v python3)
WORK=$(mktemp -d)
NET_ID=$(( $$ % 200 + 20 ))  # the hosts' subnet, 10.77.NET_ID.0/24: two runs at once do not meet
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do stop_server "$p"; done
  if [ "$CASE" = hosts ]; then
    "$ROOT/scripts/netns-hosts.sh" down "$NET_ID"
    # ip netns add mounts /run/netns if nothing had: leave the machine as found.
    [ "${NETNS_MOUNTED_BEFORE:-1}" = 1 ] || [ -n "$(ls -A /run/netns 2>/dev/null)" ] || umount /run/netns 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
MPI=(mpirun --oversubscribe --bind-to none)
CRAWL=("$BUILD_DIR/crawl-mpi")

server() {  # server NAME ARGS...: a delayserver of ours, stopped on exit
  start_server "$@" --db "$WORK/$1.sqlite" --timeline "$WORK/$1-timeline.csv" --timeline-capacity 0
  local pid="${1}_PID"
  PIDS+=("${!pid}")
}

peak() {  # peak PORT [HOST]: the server's peak_in_flight
  "$PY" -c 'import json,sys,urllib.request as u; print(json.load(u.urlopen(sys.argv[1]))["peak_in_flight"])' \
    "http://${2:-127.0.0.1}:$1/stats"
}

case $CASE in
  local)
    # Three ranks on this machine: N and C split three ways, merged back.
    server S
    timeout 120 "${MPI[@]}" -np 3 "${CRAWL[@]}" --model coroutine --url "http://127.0.0.1:$S_PORT" \
      --num 3000 --concurrency 300 --delay 100 --json --timeline "$WORK/t.csv" >"$WORK/s.json"
    "$PY" "$ROOT/tests/check_mpi.py" merged "$WORK/s.json" "$WORK/t.csv" 3000 300 "$(peak "$S_PORT")"
    # The merge is crawl's own summary of the merged records: crawl summarize
    # of the merged timeline, with the run's settings and cost, says the same.
    "$BUILD_DIR/crawl" summarize "$WORK/t.csv" --run "$WORK/s.json" --json >"$WORK/again.json"
    "$PY" "$ROOT/tests/check_mpi.py" same "$WORK/s.json" "$WORK/t.csv" "$WORK/again.json"
    ;;
  shards)
    # Every model of the table on 2 ranks, and the blocking ones on 3 too:
    # the server is sent exactly N requests in all, each URL once, and the
    # merged figures hold (a serial rank is one slot of its own).
    runs=()
    for m in $("$BUILD_DIR/crawl" --list-models); do runs+=("$m:2"); done
    runs+=(serial:3 threads:3)
    for run in "${runs[@]}"; do
      m=${run%:*} np=${run#*:}
      start_server R --db "$WORK/R.sqlite" --timeline /dev/null  # its rows kept: one per request served
      PIDS+=("$R_PID")
      timeout 120 "${MPI[@]}" -np "$np" "${CRAWL[@]}" --model "$m" --url "http://127.0.0.1:$R_PORT" \
        --num 31 --concurrency 6 --delay 20 --json --timeline "$WORK/t.csv" >"$WORK/s.json"
      served=$(http_get "$R_PORT" /stats | "$PY" -c 'import json,sys; s=json.load(sys.stdin); print(s["accepted"], s["peak_in_flight"])')
      rows=$(http_get "$R_PORT" /timeline | tail -n +2 | wc -l)
      [ "$rows" = 31 ] || { echo "FAIL: $m on $np ranks: the server served $rows requests for N=31" >&2; exit 1; }
      c=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["concurrency"])' "$WORK/s.json")
      "$PY" "$ROOT/tests/check_mpi.py" merged "$WORK/s.json" "$WORK/t.csv" 31 "$c" "${served#* }"
      stop_server "$R_PID"
      echo "ok: $m on $np ranks: the server served 31 of N=31, at most $c in flight"
    done
    ;;
  skew)
    # Rank 1's clock runs 250 ms ahead: measured, and its times moved back.
    server S
    timeout 120 "${MPI[@]}" -np 3 "${CRAWL[@]}" --model callback --url "http://127.0.0.1:$S_PORT" \
      --num 600 --concurrency 60 --delay 100 --json --timeline "$WORK/t.csv" --test-skew 1:250 >"$WORK/s.json"
    "$PY" "$ROOT/tests/check_mpi.py" skew "$WORK/s.json" "$WORK/t.csv" 1 250
    "$PY" "$ROOT/tests/check_mpi.py" merged "$WORK/s.json" "$WORK/t.csv" 600 60 "$(peak "$S_PORT")"
    ;;
  idle)
    # Rank 0 has no URL (N=2 over 3 ranks) and waits 1.5 s for the others:
    # asleep, not spinning in MPI.
    server S
    timeout 120 "${MPI[@]}" -np 3 "${CRAWL[@]}" --model coroutine --url "http://127.0.0.1:$S_PORT" \
      --num 2 --concurrency 3 --delay 1500 --json --timeline "$WORK/t.csv" >"$WORK/s.json"
    "$PY" "$ROOT/tests/check_mpi.py" merged "$WORK/s.json" "$WORK/t.csv" 2 3 "$(peak "$S_PORT")"
    "$PY" - "$WORK/s.json" <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
idle = s["mpi"]["per_rank"][0]
assert idle["num"] == 0, f"rank 0 has {idle['num']} URLs"
waited, cpu = idle["wait_seconds"], idle["wait_cpu_seconds"]
assert waited >= 1.0, f"rank 0 waited only {waited:.3f} s for the others"
assert cpu < 0.2 * waited, f"rank 0 used {cpu:.3f} s of CPU waiting {waited:.3f} s for the others: it spun"
print(f"ok: rank 0 waited {waited:.2f} s for the others on {cpu:.3f} s of CPU")
PY
    ;;
  die)
    # Rank 1 is killed 300 ms into a crawl of 2 s requests: the run must end
    # at once with an error that names it, not hang.
    server S
    start=$(date +%s)
    rc=0
    timeout 60 "${MPI[@]}" -np 3 "${CRAWL[@]}" --model callback --url "http://127.0.0.1:$S_PORT" \
      --num 300 --concurrency 30 --delay 2000 --deadline 20 --test-die 1:300 >"$WORK/out" 2>"$WORK/err" || rc=$?
    took=$(( $(date +%s) - start ))
    cat "$WORK/err" >&2
    [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { echo "FAIL: exit status $rc (124: it hung until timeout)" >&2; exit 1; }
    [ "$took" -le 20 ] || { echo "FAIL: took $took s to end" >&2; exit 1; }
    grep -q "rank 1" "$WORK/err" && grep -qi "signal 9" "$WORK/err" ||
      { echo "FAIL: the error does not say rank 1 was killed" >&2; exit 1; }
    echo "ok: exit $rc after $took s"
    ;;
  rankfail)
    # Rank 1 cannot crawl (its server's name does not resolve): the run says
    # which rank and why, exits 1, and still writes the others' records, each
    # at its own index.
    server S
    rc=0
    timeout 60 "${MPI[@]}" -np 3 "${CRAWL[@]}" --model callback \
      --url "http://127.0.0.1:$S_PORT,http://no-such-host.invalid:80" --num 300 --concurrency 30 --delay 10 \
      --json --timeline "$WORK/t.csv" >"$WORK/s.json" 2>"$WORK/err" || rc=$?
    cat "$WORK/err" >&2
    [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { echo "FAIL: exit status $rc" >&2; exit 1; }
    grep -q "^crawl-mpi: rank 1: cannot resolve no-such-host.invalid" "$WORK/err" ||
      { echo "FAIL: the error does not name rank 1 and why" >&2; exit 1; }
    "$PY" - "$WORK/s.json" "$WORK/t.csv" <<'PY'
import csv, json, sys
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
rows = list(csv.DictReader(open(sys.argv[2], newline="")))
assert s["failed"] == 100, f"failed {s['failed']}, expected rank 1's 100"
assert sorted(int(r["index"]) for r in rows) == list(range(300)), "indexes are not 0..299 once each"
for r in rows:
    i, rank, ok = int(r["index"]), int(r["rank"]), r["status"] == "200"
    assert rank == i // 100, f"index {i} in rank {rank}'s rows"
    assert ok == (rank != 1), f"index {i} (rank {rank}) has status {r['status']}"
print("ok: ranks 0 and 2 saved, rank 1's 100 failed with its reason")
PY
    ;;
  disagree)
    # Ranks given different crawls (a typo on one host, an MPMD ':' line) or
    # a bad flag on one rank only: every rank refuses, exit 2, one message,
    # at once (no rank copies another's records past its arrays, none waits
    # for a rank that has gone).
    server S
    u="http://127.0.0.1:$S_PORT"
    ok=(--model callback --url "$u" --num 10 --concurrency 4 --delay 5)
    more=(--model callback --url "$u" --num 20 --concurrency 4 --delay 5)
    other=(--model coroutine --url "$u" --num 10 --concurrency 4 --delay 5)
    bad=(--model callback --url "$u" --num 10 --concurrency 0 --delay 5)
    expect() {  # expect 'WHAT THE MESSAGE SAYS' RANK0-ARGS -- RANK1-ARGS
      local want=$1; shift
      local a=() b=()
      while [ "$1" != -- ]; do a+=("$1"); shift; done; shift
      b=("$@")
      local rc=0 start=$SECONDS
      timeout 60 "${MPI[@]}" -np 1 "${CRAWL[@]}" "${a[@]}" : -np 1 "${CRAWL[@]}" "${b[@]}" \
        >"$WORK/out" 2>"$WORK/err" || rc=$?
      local took=$((SECONDS - start)) n
      n=$(grep -c '^crawl-mpi:' "$WORK/err" || true)
      if [ "$rc" != 2 ] || [ "$n" != 1 ] || ! grep -q -- "$want" "$WORK/err" || [ "$took" -gt 20 ] ||
         grep -qi 'malloc\|corrupt\|signal' "$WORK/err"; then
        cat "$WORK/err" >&2
        echo "FAIL: ranks '${a[*]}' and '${b[*]}': exit $rc after $took s, $n messages (want exit 2, one message with '$want')" >&2
        exit 1
      fi
      echo "ok: exit 2 after $took s: $(grep '^crawl-mpi:' "$WORK/err")"
    }
    expect "num=20 against rank 0's num=10" "${ok[@]}" -- "${more[@]}"
    expect "model=coroutine against rank 0's model=callback" "${ok[@]}" -- "${other[@]}"
    expect "rank 1 refused its command line: --concurrency must be at least 1" "${ok[@]}" -- "${bad[@]}"
    expect "--concurrency must be at least 1" "${bad[@]}" -- "${ok[@]}"
    ;;
  badflag)
    # A bad flag: exit 2, the message once (not once per rank).
    for args in "--model callback --concurrency 0" "--model callback --delay-dist bogus" \
                "--model serial --loops 2" "--model callback --resources r.csv" "--concurrency 10"; do
      rc=0
      # shellcheck disable=SC2086
      timeout 60 "${MPI[@]}" -np 3 "${CRAWL[@]}" --num 10 $args >"$WORK/out" 2>"$WORK/err" || rc=$?
      [ "$rc" = 2 ] || { cat "$WORK/err" >&2; echo "FAIL: '$args' exited $rc, not 2" >&2; exit 1; }
      n=$(grep -c '^crawl-mpi:' "$WORK/err" || true)
      [ "$n" = 1 ] || { cat "$WORK/err" >&2; echo "FAIL: '$args' printed $n messages, not 1" >&2; exit 1; }
      echo "ok: $args -> exit 2: $(grep '^crawl-mpi:' "$WORK/err")"
    done
    # The same early exit on every rank is agreement: exit 0, printed once.
    for args in --help --list-models; do
      rc=0
      timeout 60 "${MPI[@]}" -np 3 "${CRAWL[@]}" $args >"$WORK/out" 2>"$WORK/err" || rc=$?
      want=$([ "$args" = --help ] && echo 1 || "$BUILD_DIR/crawl" --list-models | wc -l)
      got=$([ "$args" = --help ] && grep -c '^Usage' "$WORK/out" || wc -l <"$WORK/out")
      [ "$rc" = 0 ] && [ "$got" = "$want" ] ||
        { cat "$WORK/err" >&2; echo "FAIL: '$args' on 3 ranks: exit $rc, $got lines where $want" >&2; exit 1; }
      echo "ok: $args on 3 ranks -> exit 0, printed once"
    done
    ;;
  tls)
    # HTTPS on three ranks, a new connection per request: every rank checks
    # the server's certificate (the one it wrote), and resumes its sessions.
    "$BUILD_DIR/delayserver" --tls --port 0 --port-file "$WORK/tls-port" --cert-out "$WORK/cert.pem" \
      --db "$WORK/T.sqlite" --timeline /dev/null >"$WORK/tls.log" 2>&1 &
    PIDS+=("$!")
    for _ in $(seq 1 200); do [ -s "$WORK/tls-port" ] && break; sleep 0.05; done
    port=$(cat "$WORK/tls-port")
    timeout 120 "${MPI[@]}" -np 3 "${CRAWL[@]}" --model threads --url "https://127.0.0.1:$port" \
      --cacert "$WORK/cert.pem" --num 300 --concurrency 30 --delay 20 --connection close --json \
      --timeline "$WORK/t.csv" >"$WORK/s.json"
    stats=$("$PY" -c 'import json,ssl,sys,urllib.request as u
print(u.urlopen(sys.argv[1], context=ssl.create_default_context(cafile=sys.argv[2])).read().decode())' \
      "https://127.0.0.1:$port/stats" "$WORK/cert.pem")
    peak=$(echo "$stats" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["peak_in_flight"])')
    "$PY" "$ROOT/tests/check_mpi.py" merged "$WORK/s.json" "$WORK/t.csv" 300 30 "$peak"
    echo "$stats" | "$PY" -c '
import json, sys
stats, s = json.load(sys.stdin), json.load(open(sys.argv[1]))
assert stats["tls_handshakes"] == 301, stats  # and the one of /stats
assert s["tls_us"] and s["tls_resumed"] == stats["tls_resumed"] > 0, (s["tls_resumed"], stats)
print("ok: 300 handshakes over 3 ranks,", stats["tls_resumed"], "resumed, p50", s["tls_us"]["p50"], "us")' "$WORK/s.json"
    ;;
  urls)
    # crawl --urls on three ranks: the list (two servers on two addresses)
    # split over them, round it as --num asks; each server gets exactly its
    # URLs, and the merged summary counts every request once.
    start_server A --db "$WORK/A.sqlite" --timeline "$WORK/A-timeline.csv"  # recorded: each server's names
    start_server B --bind 127.0.0.2 --db "$WORK/B.sqlite" --timeline "$WORK/B-timeline.csv"
    PIDS+=("$A_PID" "$B_PID")
    printf '# two servers\nhttp://127.0.0.1:%s/add?name=a&delay=20\nhttp://127.0.0.2:%s/add?name=b&delay=10\n' \
      "$A_PORT" "$B_PORT" >"$WORK/urls.txt"
    timeout 120 "${MPI[@]}" -np 3 "${CRAWL[@]}" --model callback --urls "$WORK/urls.txt" --num 300 \
      --concurrency 30 --per-host 6 --json --timeline "$WORK/t.csv" >"$WORK/s.json"
    for p in "$A_PORT:127.0.0.1" "$B_PORT:127.0.0.2"; do
      "$PY" -c 'import json,sys,urllib.request as u; print(json.load(u.urlopen(sys.argv[1]))["peak_in_flight"])' \
        "http://${p#*:}:${p%%:*}/stats" >>"$WORK/peaks"
    done
    stop_server "$A_PID"; stop_server "$B_PID"; PIDS=()
    "$PY" - "$WORK/s.json" "$WORK/t.csv" "$WORK/A-timeline.csv" "$WORK/B-timeline.csv" "$WORK/peaks" <<'CHECK'
import csv, json, sys
s = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[2])))
served = [[r["name"] for r in csv.DictReader(open(f))] for f in sys.argv[3:5]]
peaks = [int(x) for x in open(sys.argv[5]).read().split()]
assert s["num"] == 300 and s["failed"] == 0 and s["mpi"]["ranks"] == 3, s
assert sorted(int(r["index"]) for r in rows) == list(range(300))
assert {r["rank"] for r in rows} == {"0", "1", "2"}
for r in rows:  # even indexes are a's (20 ms), odd b's (10 ms)
    assert float(r["delay"]) == (0.02 if int(r["index"]) % 2 == 0 else 0.01), r
assert served == [["a"] * 150, ["b"] * 150], [len(x) for x in served]
assert s["ideal_from"] == "server" and s["efficiency"] is not None, s["ideal_from"]
# The ideal holds each host to its 6 slots: a's 150 requests of 20 ms, 6 at a time.
assert abs(s["ideal_seconds"] - 0.5) < 1e-9, s["ideal_seconds"]
assert all(p <= 6 for p in peaks), peaks  # --per-host 6 in all: 2 a rank
print("ok: 300 URLs of a list over 3 ranks and 2 servers, 150 each; peaks", peaks)
CHECK
    ;;
  rate)
    # One open-loop schedule over three ranks: request i on rank i mod 3, due
    # at exactly its time in the schedule crawl alone makes (the same profile
    # on one process), counted from the instant the ranks share; none sent
    # early, each URL once. A constant --rate the same way.
    server S
    for shape in "--rate-profile step:100,300@0.5" "--rate 400 --duration 0.5"; do
      # shellcheck disable=SC2086
      timeout 120 "${MPI[@]}" -np 3 "${CRAWL[@]}" --model coroutine --url "http://127.0.0.1:$S_PORT" \
        $shape --concurrency 30 --delay 20 --seed 9 --json --timeline "$WORK/t.csv" >"$WORK/s.json"
      # shellcheck disable=SC2086
      "$BUILD_DIR/crawl" --model coroutine --url "http://127.0.0.1:$S_PORT" $shape --concurrency 30 \
        --delay 20 --seed 9 --timeline "$WORK/one.csv" >/dev/null
      "$PY" - "$WORK/s.json" "$WORK/t.csv" "$WORK/one.csv" "$shape" <<'CHECK'
import csv, json, sys
s = json.load(open(sys.argv[1]))
rows = sorted(csv.DictReader(open(sys.argv[2])), key=lambda r: int(r["index"]))
one = sorted(csv.DictReader(open(sys.argv[3])), key=lambda r: int(r["index"]))
us = lambda t: round(float(t) * 1e6)
assert s["failed"] == 0 and s["mpi"]["ranks"] == 3, s
assert s["num"] == len(one) == len(rows), (s["num"], len(one), len(rows))
assert [int(r["index"]) for r in rows] == list(range(len(one)))
start = s["mpi"]["start_at_us"]
for r, o in zip(rows, one):
    i = int(r["index"])
    assert int(r["rank"]) == i % 3, (i, r["rank"])
    due = us(r["intended"]) - start
    assert due == us(o["intended"]) - us(one[0]["intended"]), (i, due, o["intended"])  # the one schedule
    assert us(r["start"]) >= us(r["intended"]), (i, r["start"], r["intended"])  # none early
o = s["open_loop"]
assert o is not None and o["late_over_1ms"] >= 0, o
names = [r["index"] for r in rows]
assert len(set(names)) == len(names)
print(f"ok: {sys.argv[4]}: {len(rows)} requests over 3 ranks, i mod 3, each due at the one schedule's time;",
      f"p99 from due {o['latency_from_due_ms']['p99']} ms")
CHECK
    done
    ;;
  hosts)
    # Three hosts (network namespaces, each its own address and port range)
    # holding 8,000 connections each: 24,000 at once, more than one process
    # may open here (20,000 files), against two servers (each under the limit).
    # rtc_hwloc_vmhole none: no topology in shared memory (Open MPI 4.1's
    # daemon crashed writing it inside the fresh-Debian chroot).
    NETNS_MOUNTED_BEFORE=0
    mountpoint -q /run/netns 2>/dev/null && NETNS_MOUNTED_BEFORE=1
    probe=tbprobe$$
    if ! { ip netns add "$probe" && nsenter --net="/run/netns/$probe" true; } >"$WORK/netns.log" 2>&1; then
      ip netns delete "$probe" 2>/dev/null || true
      echo "SKIP: network namespaces cannot be created or entered here: $(tail -1 "$WORK/netns.log")"
      exit 77
    fi
    ip netns delete "$probe"
    "$ROOT/scripts/netns-hosts.sh" up "$NET_ID" 3
    net=10.77.$NET_ID
    server A --bind "$net.1"
    server B --bind "$net.1"
    per=${MPI_HOST_CONNECTIONS:-8000}
    n=$((3 * per))
    timeout 240 mpirun --bind-to none --host "$net.11:1,$net.12:1,$net.13:1" \
      --mca plm_rsh_agent "$ROOT/scripts/netns-hosts.sh agent" \
      --mca oob_tcp_if_include "$net.0/24" --mca btl_tcp_if_include "$net.0/24" --mca btl self,tcp \
      --mca rtc_hwloc_vmhole none \
      "${CRAWL[@]}" --model coroutine --url "http://$net.1:$A_PORT,http://$net.1:$B_PORT" \
      --num "$n" --concurrency "$n" --delay 2000 --json --timeline "$WORK/t.csv" >"$WORK/s.json"
    "$PY" "$ROOT/tests/check_mpi.py" merged "$WORK/s.json" "$WORK/t.csv" "$n" "$n" \
      "$(peak "$A_PORT" "$net.1")" "$(peak "$B_PORT" "$net.1")"
    "$PY" - "$WORK/s.json" "$n" "$net" <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
n, net = int(sys.argv[2]), sys.argv[3]
ranks = s["mpi"]["per_rank"]
addrs = sorted(k["source_address"] for k in ranks)
assert addrs == [f"{net}.11", f"{net}.12", f"{net}.13"], f"source addresses {addrs}"
assert s["failed"] == 0 and s["bytes"] == n, f"failed {s['failed']}, bytes {s['bytes']} of {n}"
print(f"ok: {n} at once from {', '.join(addrs)}: {s['seconds']:.3f} s against the ideal "
      f"{s['ideal_seconds']:.3f} s (efficiency {s['efficiency']:.3f}); clock round trips "
      + ", ".join(f"{k['clock_round_trip_us']} us" for k in ranks[1:]))
PY
    ;;
  *)
    echo "usage: tests/mpi_test.sh BUILD_DIR local|shards|skew|idle|die|rankfail|disagree|badflag|hosts" >&2
    exit 2
    ;;
esac
