#!/usr/bin/env bash
# deploy/run_local.sh PORT REPLICAS: nginx on PORT in front of REPLICAS `streamlit run serve.py`
# processes on free 127.0.0.1 ports, in the foreground. SIGTERM or Ctrl-C stops everything it
# started; if nginx or a replica dies on its own, the script stops the rest and exits 1.
#
#   deploy/run_local.sh 8080 2                       # http://127.0.0.1:8080, 2 replicas
#   VAE_LISTEN=0.0.0.0 VAE_MODE=classroom VAE_TEACHER_TOKEN='a long secret' deploy/run_local.sh 8080 2
#
# Every replica gets the caller's environment (the app's settings, VAE_* in vae/settings.py), so
# all of them use the same data folders (VAE_USER_MODELS, VAE_JOBS_DIR, VAE_UPLOADS_DIR; relative
# paths are made absolute first), and one Streamlit server.cookieSecret (VAE_COOKIE_SECRET, else a
# new random one per run; passed in the environment, never on a command line). nginx
# (deploy/nginx.conf.template) keeps each browser on one replica with a cookie of its own and
# names the replica that answered in an X-VAE-Replica header. Its pid file and temp files live
# in a temp folder that is removed on exit. Replicas' output goes to stderr, each line prefixed
# with "[replica N]"; stdout gets one line per replica and the URL once all are ready.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MAX_REPLICAS=16
STOP_TIMEOUT=${VAE_STOP_TIMEOUT:-10}     # seconds between SIGTERM and SIGKILL
START_TIMEOUT=${VAE_START_TIMEOUT:-120}  # seconds for a replica to answer /_stcore/health
PY=${VAE_PYTHON:-python3}
LISTEN=${VAE_LISTEN:-127.0.0.1}
NGINX_BIN=${VAE_NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}

usage() {
  [[ $# -gt 0 ]] && echo "run_local.sh: $*" >&2
  cat >&2 <<EOF
usage: deploy/run_local.sh PORT REPLICAS
  PORT      the port nginx listens on (1-65535, free), e.g. 8080
  REPLICAS  how many 'streamlit run serve.py' processes serve behind it (1-$MAX_REPLICAS)
environment: VAE_LISTEN (nginx's address, default 127.0.0.1; 0.0.0.0 to serve a class),
  VAE_COOKIE_SECRET (shared server.cookieSecret, default: random per run), VAE_PYTHON (default
  python3), VAE_NGINX (default: nginx on the PATH, else /usr/sbin/nginx), VAE_START_TIMEOUT (default
  120 s), VAE_STOP_TIMEOUT (default 10 s); the app's settings (VAE_MODE, VAE_JOBS_DIR, ...) go to
  every replica.
EOF
  exit 2
}

RUN_DIR=""
NGINX_PID=""
SLEEP_PID=""
PIDS=()    # replicas' pids (each leads its own session, with any training workers it starts)
PORTS=()
STOPPING=0

log() { echo "run_local: $*" >&2; }

alive() {  # is pid $1 running (a zombie counts as gone)?
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

nap() {  # sleep $1 s in a way a trapped signal interrupts at once
  sleep "$1" &
  SLEEP_PID=$!
  wait "$SLEEP_PID" || true
  SLEEP_PID=""
}

probe() {  # does http://$1 answer /_stcore/health with 200?
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -o /dev/null --max-time 2 "http://$1/_stcore/health" 2>/dev/null
  else
    "$PY" -c 'import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=2)' \
      "http://$1/_stcore/health" 2>/dev/null
  fi
}

stop_all() {  # SIGTERM to nginx and every replica, wait, SIGKILL what is left; remove the temp folder
  [[ $STOPPING == 1 ]] && return 0
  STOPPING=1
  set +e  # clean-up runs to its end, whatever fails on the way (a kill of a process already gone)
  trap '' TERM INT
  local pids=() pid left deadline=$((SECONDS + STOP_TIMEOUT))
  [[ -n $NGINX_PID ]] && pids+=("$NGINX_PID")
  pids+=("${PIDS[@]}")
  [[ -n $SLEEP_PID ]] && kill "$SLEEP_PID" 2>/dev/null
  SLEEP_PID=""
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  while :; do
    left=()
    for pid in "${pids[@]}"; do alive "$pid" && left+=("$pid"); done
    [[ ${#left[@]} == 0 || $SECONDS -ge $deadline ]] && break
    sleep 0.1
  done
  for pid in "${left[@]}"; do
    log "pid $pid did not stop within ${STOP_TIMEOUT} s after SIGTERM: SIGKILL to its process group"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [[ -n $RUN_DIR ]] && rm -rf "$RUN_DIR"
  return 0
}

on_signal() {
  log "$1: stopping nginx and ${#PIDS[@]} replica(s)"
  stop_all
  exit 0
}

check_args() {
  [[ $# == 2 ]] || usage "expected 2 arguments, got $#"
  [[ $1 =~ ^[1-9][0-9]{0,4}$ && $1 -le 65535 ]] || usage "PORT must be a number from 1 to 65535, not '$1'"
  [[ $2 =~ ^[1-9][0-9]?$ && $2 -le $MAX_REPLICAS ]] \
    || usage "REPLICAS must be a number from 1 to $MAX_REPLICAS, not '$2'"
  [[ -x $NGINX_BIN ]] || { log "no nginx at '$NGINX_BIN' (apt-get install -y nginx, or set VAE_NGINX)"; exit 2; }
}

free_ports() {  # $1 distinct free ports on 127.0.0.1, one a line
  "$PY" - "$1" <<'PYEOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))
PYEOF
}

port_taken() {  # is $LISTEN:$1 in use already?
  ! "$PY" -c 'import socket, sys; socket.create_server((sys.argv[1], int(sys.argv[2]))).close()' \
    "$LISTEN" "$1" 2>/dev/null
}

absolute_data_dirs() {  # relative data folders become absolute (replicas run in the repository root)
  local name
  for name in VAE_DATA_DIR VAE_USER_MODELS VAE_JOBS_DIR VAE_UPLOADS_DIR; do
    if [[ -n ${!name:-} && ${!name} != /* ]]; then
      export "$name=$PWD/${!name}"
    fi
  done
}

start_replicas() {  # $1 replicas on free ports, each in its own session (so a SIGKILL gets its workers)
  local i=0 port
  export STREAMLIT_SERVER_COOKIE_SECRET=${VAE_COOKIE_SECRET:-$("$PY" -c 'import secrets; print(secrets.token_hex(32))')}
  mapfile -t PORTS < <(free_ports "$1")
  [[ ${#PORTS[@]} == "$1" ]] || { log "could not find $1 free ports with $PY"; exit 1; }
  cd "$ROOT"
  for port in "${PORTS[@]}"; do
    i=$((i + 1))
    setsid "$PY" -m streamlit run serve.py --server.port "$port" --server.address 127.0.0.1 \
      --server.headless true --browser.gatherUsageStats false \
      > >(sed -u "s/^/[replica $i] /" >&2) 2>&1 < /dev/null &
    PIDS+=("$!")
  done
}

check_children() {  # exit 1 (after stopping the rest) if nginx or a replica has died
  local i rc
  for i in "${!PIDS[@]}"; do
    if ! alive "${PIDS[$i]}"; then
      rc=0; wait "${PIDS[$i]}" || rc=$?
      log "replica $((i + 1)) (pid ${PIDS[$i]}, port ${PORTS[$i]}) exited with status $rc; stopping the rest"
      stop_all
      exit 1
    fi
  done
  if [[ -n $NGINX_PID ]] && ! alive "$NGINX_PID"; then
    rc=0; wait "$NGINX_PID" || rc=$?
    log "nginx (pid $NGINX_PID) exited with status $rc; stopping the replicas"
    stop_all
    exit 1
  fi
}

wait_healthy() {  # wait until each of "$@" (host:port) answers /_stcore/health, children alive
  local deadline=$((SECONDS + START_TIMEOUT)) target
  for target in "$@"; do
    until probe "$target"; do
      check_children
      if [[ $SECONDS -ge $deadline ]]; then
        log "http://$target/_stcore/health did not answer within $START_TIMEOUT s; stopping"
        stop_all
        exit 1
      fi
      nap 0.2
    done
  done
}

render_config() {  # deploy/nginx.conf.template -> $RUN_DIR/nginx.conf
  local servers="" port text
  for port in "${PORTS[@]}"; do
    servers+="        server 127.0.0.1:$port max_fails=3 fail_timeout=10s;"$'\n'
  done
  text=$(<"$ROOT/deploy/nginx.conf.template")
  text=${text//@RUN_DIR@/$RUN_DIR}
  text=${text//@LISTEN@/$LISTEN:$PORT}
  text=${text//@SERVERS@/${servers%$'\n'}}
  printf '%s\n' "$text" > "$RUN_DIR/nginx.conf"
}

start_nginx() {
  render_config
  # (without NGINX in its environment: nginx reads that variable as sockets inherited on upgrade)
  env -u NGINX "$NGINX_BIN" -t -q -p "$RUN_DIR/" -c "$RUN_DIR/nginx.conf" -e stderr \
    || { log "nginx rejected $RUN_DIR/nginx.conf"; stop_all; exit 1; }
  setsid env -u NGINX "$NGINX_BIN" -p "$RUN_DIR/" -c "$RUN_DIR/nginx.conf" -e stderr < /dev/null &
  NGINX_PID=$!
}

main() {
  check_args "$@"
  PORT=$1
  if port_taken "$PORT"; then log "$LISTEN:$PORT is in use already"; exit 1; fi
  absolute_data_dirs
  trap 'on_signal SIGTERM' TERM
  trap 'on_signal SIGINT' INT
  trap 'stop_all' EXIT
  RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/vae-deploy.XXXXXX")
  chmod 711 "$RUN_DIR"  # nginx's workers (nobody, when started as root) reach their temp folders
  start_replicas "$2"
  local targets=() i host=$LISTEN
  for i in "${!PORTS[@]}"; do targets+=("127.0.0.1:${PORTS[$i]}"); done
  wait_healthy "${targets[@]}"
  for i in "${!PORTS[@]}"; do
    echo "replica $((i + 1)): http://127.0.0.1:${PORTS[$i]} (pid ${PIDS[$i]})"
  done
  start_nginx
  [[ $host == 0.0.0.0 || $host == "*" ]] && host=127.0.0.1
  wait_healthy "$host:$PORT"
  echo "nginx: pid $NGINX_PID, config $RUN_DIR/nginx.conf"
  echo "ready: http://$host:$PORT ($2 replica(s) behind nginx; Ctrl-C or SIGTERM stops them all)"
  while :; do
    check_children
    nap 0.5
  done
}

main "$@"
