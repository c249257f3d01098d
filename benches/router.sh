#!/usr/bin/env bash
# The router's speed against going direct and against nginx as a keep-alive
# reverse proxy, all to the same static nginx upstream, measured with wrk in
# one run, and the router again with a canary's 50/50 split between two
# upstreams (each request a new visitor, placed and given its cookie).
# Prints requests/s, p50 and p99 latency, the ratios router/nginx,
# router/direct and split/single route, and the router's memory at rest.
#
#   benches/router.sh                 # 10 s per target, 64 connections
#   DURATION=5s CONNECTIONS=128 benches/router.sh
#   DEPLOYFLOW_BIN=/tmp/deployflow benches/router.sh   # a binary built before
#   DEPLOYFLOW_BIN_VS=target/dist/deployflow benches/router.sh
#       # also a second build's router (another profile), same run, and the
#       # ratio of the two
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-2}

for tool in wrk nginx python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "needs $tool (apt-get install wrk nginx-light)" >&2; exit 1; }
done
if [ -z "${DEPLOYFLOW_BIN:-}" ]; then
  cargo build --release --quiet
  DEPLOYFLOW_BIN=target/release/deployflow
fi

work=$(mktemp -d)
chmod 755 "$work"   # nginx workers run as nobody and must read www/
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
upstream_port=$(free_port); proxy_port=$(free_port); router_port=$(free_port); admin_port=$(free_port)
upstream2_port=$(free_port); split_port=$(free_port)
vs_port=$(free_port); vs_admin_port=$(free_port)

mkdir -p "$work/www"
printf 'hello from the upstream\n' > "$work/www/index.html"

cat > "$work/upstream.conf" <<CONF
worker_processes auto;
daemon off;
pid $work/upstream.pid;
error_log $work/upstream.err;
events { worker_connections 4096; }
http {
  access_log off;
  server { listen 127.0.0.1:$upstream_port; listen 127.0.0.1:$upstream2_port; root $work/www; }
}
CONF
cat > "$work/proxy.conf" <<CONF
worker_processes 2;
daemon off;
pid $work/proxy.pid;
error_log $work/proxy.err;
events { worker_connections 4096; }
http {
  access_log off;
  upstream app { server 127.0.0.1:$upstream_port; keepalive 128; }
  server {
    listen 127.0.0.1:$proxy_port;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto http;
    }
  }
}
CONF
nginx -p "$work" -c "$work/upstream.conf" & pids+=($!)
nginx -p "$work" -c "$work/proxy.conf" & pids+=($!)
"$DEPLOYFLOW_BIN" router --admin "127.0.0.1:$admin_port" --state-dir "$work/router" 2>"$work/router.err" &
router_pid=$!; pids+=($router_pid)
targets="direct nginx router split"
if [ -n "${DEPLOYFLOW_BIN_VS:-}" ]; then
  "$DEPLOYFLOW_BIN_VS" router --admin "127.0.0.1:$vs_admin_port" --state-dir "$work/router-vs" 2>"$work/router-vs.err" &
  pids+=($!)
  targets="$targets vs"
fi

wait_for() {
  for _ in $(seq 100); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on port $1" >&2; exit 1
}
wait_for "$upstream_port"; wait_for "$proxy_port"; wait_for "$admin_port"
[ -n "${DEPLOYFLOW_BIN_VS:-}" ] && wait_for "$vs_admin_port"
python3 - "$admin_port" "$router_port" "$upstream_port" "$split_port" "$upstream2_port" "${DEPLOYFLOW_BIN_VS:+$vs_admin_port}" "$vs_port" <<'PY'
import json, sys, urllib.request
admin, listen, upstream, split, upstream2, vs_admin, vs = sys.argv[1:]
def put(app, route, admin=admin):
    req = urllib.request.Request(f"http://127.0.0.1:{admin}/routes/{app}", data=json.dumps(route).encode(),
                                 method="PUT", headers={"content-type": "application/json", "x-deployflow-admin": "1"})
    urllib.request.urlopen(req).read()
put("bench", {"listen": f"127.0.0.1:{listen}", "upstream": f"127.0.0.1:{upstream}"})
put("split", {"listen": f"127.0.0.1:{split}", "upstream": f"127.0.0.1:{upstream}",
              "canary": {"upstream": f"127.0.0.1:{upstream2}", "percent": 50}})
if vs_admin:
    put("bench", {"listen": f"127.0.0.1:{vs}", "upstream": f"127.0.0.1:{upstream}"}, vs_admin)
PY
wait_for "$router_port"; wait_for "$split_port"
[ -n "${DEPLOYFLOW_BIN_VS:-}" ] && wait_for "$vs_port"
sleep 0.5
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$router_pid/status")

# Runs wrk and prints "requests/s p50_ms p99_ms".
measure() {
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$1/" | python3 -c '
import re, sys
text = sys.stdin.read()
def ms(v):
    n, unit = re.match(r"([\d.]+)(\w+)", v).groups()
    return float(n) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p50 = ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
p99 = ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errors = re.search(r"Socket errors: (.*)", text)
if bad or errors:
    sys.exit(f"failed requests: {bad.group(0) if bad else errors.group(0)}")
print(rps, p50, p99)
'
}

# Rounds alternate the three targets; the best round of each is kept.
declare -A best
for round in $(seq "$ROUNDS"); do
  for target in $targets; do
    case $target in direct) port=$upstream_port ;; nginx) port=$proxy_port ;; router) port=$router_port ;; split) port=$split_port ;; vs) port=$vs_port ;; esac
    read -r rps p50 p99 < <(measure "$port")
    prev=${best[$target]:-"0 0 0"}
    if python3 -c "import sys; sys.exit(0 if $rps > float('${prev%% *}') else 1)"; then
      best[$target]="$rps $p50 $p99"
    fi
  done
done

python3 - "${best[direct]}" "${best[nginx]}" "${best[router]}" "${best[split]}" "$rss_kb" "$CONNECTIONS" "$DURATION" "$ROUNDS" "${best[vs]:-}" "${DEPLOYFLOW_BIN_VS:-}" "$DEPLOYFLOW_BIN" <<'PY'
import sys
direct, nginx, router, split = (list(map(float, a.split())) for a in sys.argv[1:5])
rss_kb, connections, duration, rounds, vs, vs_bin, bin_ = sys.argv[5:]
print(f"router benchmark: wrk, {connections} connections, {duration} per target, best of {rounds} rounds")
print(f"{'target':<34}{'requests/s':>12}{'p50 ms':>10}{'p99 ms':>10}")
for name, (rps, p50, p99) in [("direct to the upstream", direct), ("nginx keep-alive proxy (2 workers)", nginx), ("deployflow router", router), ("router, 50/50 canary split", split)]:
    print(f"{name:<34}{rps:>12.0f}{p50:>10.2f}{p99:>10.2f}")
print(f"router/nginx requests/s: {router[0] / nginx[0]:.2f}   p99 router/nginx: {router[2] / nginx[2]:.2f}")
print(f"router/direct requests/s: {router[0] / direct[0]:.2f}")
print(f"50/50 split / single route requests/s: {split[0] / router[0]:.2f}   p99: {split[2] / router[2]:.2f}")
print(f"router memory at rest: {int(rss_kb) / 1024:.1f} MB RSS")
if vs:
    rps, p50, p99 = map(float, vs.split())
    print(f"{'router of ' + vs_bin:<34}{rps:>12.0f}{p50:>10.2f}{p99:>10.2f}")
    print(f"{bin_} / {vs_bin} requests/s: {router[0] / rps:.2f}   p99: {router[2] / p99:.2f}")
PY
