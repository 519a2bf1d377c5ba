#!/usr/bin/env bash
# crawl --urls against a web server that is not ours: nginx over plain HTTP
# and over TLS (a certificate made by the openssl command), beside a
# delayserver on 127.0.0.2, in every model of the table. nginx says no delay,
# so no run may claim an ideal or an efficiency; and the crawl command line
# refuses a bad list (exit 2, naming the line) and an empty one.
#   tests/urls_nginx_test.sh BUILD_DIR
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=$(cd "$1" && pwd)
source "$ROOT/scripts/lib.sh"
PY=$("$ROOT/scripts/find-python.sh" 2>/dev/null || command -v python3)
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "FAIL: no nginx (scripts/setup.sh --nginx installs nginx-light)"; exit 1; }
WORK=$(mktemp -d)
NGINX_PID=
cleanup() {
  [ -z "$NGINX_PID" ] || { kill "$NGINX_PID" 2>/dev/null; wait "$NGINX_PID" 2>/dev/null || true; }
  stop_server "${D_PID:-}"
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>"$WORK/openssl.log"
PLAIN=$(free_port)
TLS=$(free_port)
cat >"$WORK/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $WORK/body;
  proxy_temp_path $WORK/proxy;
  fastcgi_temp_path $WORK/fastcgi;
  uwsgi_temp_path $WORK/uwsgi;
  scgi_temp_path $WORK/scgi;
  server {
    listen 127.0.0.1:$PLAIN;
    location / { return 200 "."; }
  }
  server {
    listen 127.0.0.1:$TLS ssl;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    location /page { return 200 "hello nginx"; }
  }
}
CONF
"$NGINX" -p "$WORK" -c "$WORK/nginx.conf" &
NGINX_PID=$!
"$PY" - "$PLAIN" <<'WAIT' || { echo "FAIL: nginx did not start"; cat "$WORK/error.log"; exit 1; }
import socket, sys, time
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
WAIT
start_server D --bind 127.0.0.2 --db "$WORK/d.sqlite" --timeline /dev/null

cat >"$WORK/urls.txt" <<LIST
# nginx, plain and TLS, and a delay server on another address
http://127.0.0.1:$PLAIN/
https://127.0.0.1:$TLS/page?from=crawl
http://127.0.0.2:$D_PORT/add?name=list&delay=10
LIST
for m in $("$BUILD_DIR/crawl" --list-models); do
  "$BUILD_DIR/crawl" --model "$m" --urls "$WORK/urls.txt" --num 30 --concurrency 4 --cacert "$WORK/cert.pem" \
    --json --timeline "$WORK/$m.csv" >"$WORK/$m.json"
  "$PY" - "$WORK/$m.json" "$WORK/$m.csv" <<'CHECK'
import csv, json, sys
s = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[2])))
assert s["failed"] == 0 and s["num"] == 30, s
assert s["bytes"] == 10 * (1 + 11 + 1), s["bytes"]          # ".", "hello nginx", "."
assert s["ideal_seconds"] is None and s["efficiency"] is None, s
assert s["ideal_from"].startswith("none: 20 of 30 requests had no X-Delay-Us"), s["ideal_from"]
assert s["tls_us"] is not None and s["tls_us"]["max"] > 0, s["tls_us"]   # nginx's handshakes
for r in rows:                        # the delay column: only the delay server's rows
    assert (r["delay"] == "") == (int(r["index"]) % 3 != 2), r
assert s["cost"]["connections_opened"] < 30, s["cost"]   # kept alive per host
print(f"ok: {s['model']}: 30 requests over nginx (http, https) and delayserver, "
      f"{s['cost']['connections_opened']} connections, no ideal: {s['ideal_from']}")
CHECK
done

# The command line: a bad line is named, an empty list refused, both exit 2.
expect_refusal() {  # expect_refusal TEXT WORDS: crawl --urls FILE(TEXT) exits 2 saying WORDS
  printf '%b' "$1" >"$WORK/bad.txt"
  local rc=0
  "$BUILD_DIR/crawl" --model serial --urls "$WORK/bad.txt" 2>"$WORK/err.txt" >/dev/null || rc=$?
  [ "$rc" = 2 ] || { echo "FAIL: exit $rc, not 2, for: $1"; cat "$WORK/err.txt"; exit 1; }
  grep -qF "$2" "$WORK/err.txt" || { echo "FAIL: no '$2' in:"; cat "$WORK/err.txt"; exit 1; }
  echo "ok: refused: $(cat "$WORK/err.txt")"
}
expect_refusal "http://127.0.0.1:$PLAIN/\nhttp//missing-colon/\n" "bad.txt:2: "
expect_refusal "# nothing\n\n" "bad.txt: no URL in it"
expect_refusal "gopher://127.0.0.1/\n" "bad.txt:1: only http:// and https:// URLs"
rc=0
"$BUILD_DIR/crawl" --model serial --urls "$WORK/urls.txt" --delay 5 2>"$WORK/err.txt" || rc=$?
[ "$rc" = 2 ] && grep -q "does not go with it" "$WORK/err.txt" || { echo "FAIL: --urls with --delay: $rc"; exit 1; }
echo "ok: every model against nginx"
