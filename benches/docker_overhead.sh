#!/usr/bin/env bash
# deployflow's overhead over `docker run` plus a health check, for the same
# image, measured in one run on the machine's Docker engine.
#
# Baseline: `docker run -d` of the example app's image, then GET /health every
# 10 ms until it answers 200 (the time from the command to that answer).
# deployflow: the same image deployed 10 times (`runtime.image`, health
# polled every 10 ms); per deployment, the time from its green-start
# intention to its green-healthy event. Prints both medians and the
# difference, deployflow's overhead; the target is at most 150 ms.
#
#   benches/docker_overhead.sh           # 10 of each
#   RUNS=20 benches/docker_overhead.sh
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-10}
for tool in docker python3 ldd; do
  command -v "$tool" >/dev/null 2>&1 || { echo "needs $tool" >&2; exit 1; }
done
docker info >/dev/null 2>&1 || { echo "the Docker engine does not answer" >&2; exit 1; }
cargo build --release --quiet --bin deployflow --bin deployflow-hello
bin=$PWD/target/release/deployflow
hello=$PWD/target/release/deployflow-hello

work=$(mktemp -d)
app="dfbench-$$"
image="deployflow-bench-hello:$$"
cleanup() {
  [ -f "$work/serve.pid" ] && kill "$(cat "$work/serve.pid")" 2>/dev/null || true
  [ -f "$work/data/router/router.lock" ] && kill "$(cat "$work/data/router/router.lock")" 2>/dev/null || true
  docker ps -aq --filter "label=deployflow.app=$app" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker ps -aq --filter "label=deployflow.bench=$$" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker network rm "deployflow-$app" >/dev/null 2>&1 || true
  docker rmi -f "$image" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# The image: FROM scratch around the example app and the libraries it links.
mkdir -p "$work/image/rootfs"
cp "$hello" "$work/image/rootfs/deployflow-hello"
for lib in $(ldd "$hello" | grep -o '/[^ ]*'); do
  mkdir -p "$work/image/rootfs$(dirname "$lib")"
  cp -L "$lib" "$work/image/rootfs$lib"
done
printf 'FROM scratch\nCOPY rootfs/ /\nENV HELLO_HOST=0.0.0.0\nENTRYPOINT ["/deployflow-hello"]\n' > "$work/image/Dockerfile"
docker build --quiet -t "$image" "$work/image" >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Baseline: docker run, then health.
baseline=$(python3 - "$image" "$RUNS" "$$" <<'PY'
import json, subprocess, sys, time, urllib.request
image, runs, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
times = []
for i in range(runs):
    t0 = time.monotonic()
    cid = subprocess.check_output(["docker", "run", "-d", "--label", f"deployflow.bench={tag}",
        "-p", "127.0.0.1::8080", "-e", "PORT=8080", "-e", "GREETING=hello",
        "-e", f"DEPLOYFLOW_RELEASE=b{i}", image], text=True).strip()
    port = subprocess.check_output(["docker", "port", cid, "8080/tcp"], text=True).split(":")[-1].strip()
    while True:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).status == 200:
                break
        except Exception:
            time.sleep(0.01)
    times.append((time.monotonic() - t0) * 1000)
    subprocess.run(["docker", "rm", "-f", cid], capture_output=True)
times.sort()
print(json.dumps(times))
PY
)

# deployflow: the same image, deployed RUNS times.
mkdir -p "$work/code"
cp -r examples/hello/. "$work/code/"
listen=$(free_port); admin=$(free_port); api=$(free_port)
cat > "$work/deployflow.toml" <<TOML
[app]
name = "$app"

[inputs]
code = "code"
requirements = "code/REQUIREMENTS.md"
tests = "'$hello' smoke"

[runtime]
backend = "docker"
image = "$image"
container_port = 8080
stop_timeout_s = 2
retain = 1
env = { GREETING = "hello" }

[health]
interval_ms = 10
deadline_s = 20

[router]
listen = "127.0.0.1:$listen"
admin = "127.0.0.1:$admin"
drain_timeout_s = 2
TOML
"$bin" serve --listen "127.0.0.1:$api" --data-dir "$work/data" >"$work/serve.log" 2>&1 &
echo $! > "$work/serve.pid"
for _ in $(seq 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1',$api),0.2)" 2>/dev/null && break
  sleep 0.05
done
flow=$(python3 - "$bin" "$work" "$api" "$RUNS" <<'PY'
import json, subprocess, sys
bin, work, api, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
base = [bin, "--config", f"{work}/deployflow.toml", "--data-dir", f"{work}/data", "--server", f"http://127.0.0.1:{api}"]
spans, own = [], []
for i in range(runs):
    out = subprocess.run(base + ["deploy", "--release", f"v{i}"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"deploy v{i} failed: {out.stdout}{out.stderr}")
    rows = json.loads(subprocess.check_output(base + ["--json", "history", "--limit", "1"], text=True))
    shown = json.loads(subprocess.check_output(base + ["--json", "show", rows[0]["id"]], text=True))
    at = {}
    for e in shown["events"]:
        at.setdefault(e["kind"], e["elapsed_ms"])
    spans.append(at["green_healthy"] - at["green_deploy_intended"])
    own.append(shown["timing"]["overhead_ms"])
spans.sort(); own.sort()
print(json.dumps({"spans": spans, "own": own}))
PY
)

python3 - "$baseline" "$flow" <<'PY'
import json, statistics, sys
baseline = json.loads(sys.argv[1]); flow = json.loads(sys.argv[2])
b = statistics.median(baseline); d = statistics.median(flow["spans"])
print(f"docker overhead benchmark: {len(baseline)} runs of each, the same image")
print(f"docker run + health, median          {b:8.1f} ms   (min {baseline[0]:.1f}, max {baseline[-1]:.1f})")
print(f"deployflow start + health, median    {d:8.1f} ms   (min {flow['spans'][0]:.1f}, max {flow['spans'][-1]:.1f})")
print(f"deployflow's overhead over docker run + health: {d - b:+.1f} ms (target at most 150 ms)")
print(f"deployflow's own time per whole deployment (timing.overhead_ms), median: {statistics.median(flow['own']):.0f} ms")
PY
