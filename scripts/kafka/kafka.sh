#!/usr/bin/env bash
# Local Apache Kafka (KRaft, combined broker+controller nodes) on loopback, no Docker.
#
#   kafka.sh up [--brokers 1|3] [--timeout SEC]   start (or check) the cluster, print KAFKA_BROKERS=...
#   kafka.sh down [--purge]                       stop all nodes; --purge also deletes the data
#   kafka.sh stop-broker <id> [--kill]            stop one node (SIGTERM, or SIGKILL with --kill)
#   kafka.sh start-broker <id> [--timeout SEC] [--no-isr-wait]
#                                                 restart one node, wait until it serves (and is back in ISR)
#   kafka.sh status                               which nodes run (exit 0 all running, 3 otherwise)
#   kafka.sh brokers                              print KAFKA_BROKERS=... for the current layout
#   kafka.sh resolve                              only fetch the jars (Maven) into .kafka/lib/<version>/
#   kafka.sh tool <main.Class> [args...]          run a Kafka CLI class from the resolved classpath
#   kafka.sh compose-env                          print docker-compose's broker settings (scripts/kafka/broker.env)
#
# Env: KAFKA_PORT_BASE (19091: node N serves on base+N, its controller on base+100+N), KAFKA_STATE_DIR
#      (<repo>/.kafka), KAFKA_LIB_DIR (<state dir>/lib), KAFKA_VERSION (4.1.1), KAFKA_UP_TIMEOUT (120),
#      KAFKA_STOP_TIMEOUT (30), KAFKA_HEAP_OPTS (-Xms256m -Xmx512m), KAFKA_JVM_OPTS (extra JVM flags),
#      JAVA (java), MVN (mvn), KAFKA_NODE (<repo>/node_modules/.bin/node, runs probe.ts).
# Once a cluster exists in the state dir, its port base and lib dir are the ones it was created with.
# Progress goes to stderr; only the KAFKA_BROKERS=... line (up/brokers) goes to stdout.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd -P)"
KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
STATE_DIR="${KAFKA_STATE_DIR:-$REPO_ROOT/.kafka}"
CLUSTER_DIR="$STATE_DIR/cluster"
LAYOUT_FILE="$CLUSTER_DIR/layout"
# A cluster keeps the jars it was set up with (recorded in its layout) unless KAFKA_LIB_DIR says otherwise.
LIB_ROOT="${KAFKA_LIB_DIR:-$(sed -n 's/^lib=//p' "$LAYOUT_FILE" 2>/dev/null || true)}"
LIB_ROOT="${LIB_ROOT:-$STATE_DIR/lib}"
LIB_DIR="$LIB_ROOT/$KAFKA_VERSION"
TEMPLATE="$SCRIPT_DIR/broker.properties.tmpl"
BROKER_LOG4J="$SCRIPT_DIR/log4j2-broker.properties"
TOOLS_LOG4J="$SCRIPT_DIR/log4j2-tools.properties"
JAVA="${JAVA:-java}"
MVN="${MVN:-mvn}"
NODE_BIN="${KAFKA_NODE:-$REPO_ROOT/node_modules/.bin/node}"
HOST=127.0.0.1
DEFAULT_PORT_BASE=19091
ENV_PORT_BASE="${KAFKA_PORT_BASE:-}"
PORT_BASE="${ENV_PORT_BASE:-$DEFAULT_PORT_BASE}"   # node N: broker PORT_BASE+N, controller PORT_BASE+100+N
UP_TIMEOUT="${KAFKA_UP_TIMEOUT:-120}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
MAIN_CLASS=kafka.Kafka
STORAGE_CLASS=kafka.tools.StorageTool

log() { printf '[kafka] %s\n' "$*" >&2; }
die() { printf '[kafka] ERROR: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }

broker_port() { echo $((PORT_BASE + $1)); }
controller_port() { echo $((PORT_BASE + 100 + $1)); }

check_port_base() {
  [[ "$1" =~ ^[0-9]+$ ]] && (($1 >= 1024 && $1 + 103 <= 65535)) \
    || die "KAFKA_PORT_BASE must be a number from 1024 to 65432 (got '$1')"
  # A client dialing a stopped broker on a port of the ephemeral range can be handed that very port as its own
  # source port and connect to itself (TCP simultaneous open): it then waits on itself instead of failing over.
  local lo hi
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || return 0
  if (($1 + 103 >= lo && $1 + 1 <= hi)); then
    die "KAFKA_PORT_BASE=$1 puts broker ports in the ephemeral range $lo-$hi, where clients can connect to themselves; pick a base below $((lo - 103))"
  fi
}
node_dir() { echo "$CLUSTER_DIR/node-$1"; }

lock() {
  mkdir -p "$STATE_DIR"
  exec 9>"$STATE_DIR/.lock"
  flock -w 600 9 || die "another kafka.sh holds $STATE_DIR/.lock"
}

# ---------------------------------------------------------------- jars (Maven)

lib_complete() {
  local dir="$1" jar
  [[ -f "$dir/.resolved" ]] || return 1
  while IFS= read -r jar; do
    [[ -n "$jar" && -s "$dir/$jar" ]] || return 1
  done <"$dir/.resolved"
  [[ -f "$dir/kafka_2.13-$KAFKA_VERSION.jar" && -f "$dir/kafka-tools-$KAFKA_VERSION.jar" ]] || return 1
  compgen -G "$dir/log4j-slf4j-impl-*.jar" >/dev/null || return 1
}

resolve() {
  lib_complete "$LIB_DIR" && return 0
  command -v "$MVN" >/dev/null || die "mvn not found (needed once to fetch Kafka $KAFKA_VERSION jars)"
  mkdir -p "$LIB_ROOT"
  # Clusters in other state dirs may share this lib dir (KAFKA_LIB_DIR): one resolution at a time.
  exec 8>"$LIB_ROOT/.lock"
  flock -w 600 8 || die "another kafka.sh holds $LIB_ROOT/.lock"
  lib_complete "$LIB_DIR" && { exec 8>&-; return 0; }
  local tmp="$LIB_ROOT/.tmp-$KAFKA_VERSION-$$" mlog="$LIB_ROOT/resolve-$KAFKA_VERSION.log" core log4j_v
  rm -rf "$tmp"; mkdir -p "$tmp"
  log "resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION with Maven -> ${LIB_DIR#"$REPO_ROOT"/}"
  if ! "$MVN" -q -B -f "$SCRIPT_DIR/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >"$mlog" 2>&1; then
    tail -n 30 "$mlog" >&2; rm -rf "$tmp"; die "Maven resolution failed (full log: $mlog)"
  fi
  # Kafka's Maven metadata has no SLF4J binding: add log4j-slf4j-impl matching its log4j-core.
  core="$(compgen -G "$tmp/log4j-core-*.jar" | head -n1 || true)"; core="${core##*/}"
  [[ -n "$core" ]] || { rm -rf "$tmp"; die "no log4j-core among the resolved jars"; }
  log4j_v="${core#log4j-core-}"; log4j_v="${log4j_v%.jar}"
  if ! "$MVN" -q -B -f "$SCRIPT_DIR/pom.xml" dependency:copy \
      -Dartifact="org.apache.logging.log4j:log4j-slf4j-impl:$log4j_v:jar" -DoutputDirectory="$tmp" >>"$mlog" 2>&1; then
    tail -n 30 "$mlog" >&2; rm -rf "$tmp"; die "Maven resolution of log4j-slf4j-impl:$log4j_v failed (log: $mlog)"
  fi
  (cd "$tmp" && ls -1 -- *.jar >.resolved)
  rm -rf "$LIB_DIR"; mv "$tmp" "$LIB_DIR"
  lib_complete "$LIB_DIR" || die "resolved jars incomplete in $LIB_DIR"
  log "resolved $(wc -l <"$LIB_DIR/.resolved") jars"
  exec 8>&-
}

# ------------------------------------------------------------ readiness probe

# probe.ts asks the nodes for metadata with the project's own Kafka client, on the project's Node (npm ci installs it).
ensure_probe() {
  command -v "$NODE_BIN" >/dev/null \
    || die "the readiness probe runs on the project's Node, $NODE_BIN is missing: run 'npm ci' first (or set KAFKA_NODE)"
}

# Runs probe.ts; sets CHECK_RESULT to its RESULT line and CHECK_OUTPUT to its output. Returns its exit code.
run_check() {
  local rc=0 out
  out="$(KAFKA_PROBE_CLUSTER_ID="$(cat "$CLUSTER_DIR/cluster.id" 2>/dev/null || true)" \
    "$NODE_BIN" "$SCRIPT_DIR/probe.ts" "$@" 2>>"$CLUSTER_DIR/check.log")" || rc=$?
  CHECK_OUTPUT="$out"
  CHECK_RESULT="$(printf '%s\n' "$out" | grep '^RESULT ' | tail -n1 || true)"
  # No verdict: the probe itself failed (no npm ci, a broken install), whatever the nodes do.
  if [[ -z "$CHECK_RESULT" ]]; then
    tail -n 5 "$CLUSTER_DIR/check.log" >&2
    die "the readiness probe (scripts/kafka/probe.ts on $NODE_BIN) failed with exit $rc; nodes are left running ('kafka.sh down' stops them)"
  fi
  return "$rc"
}

# ------------------------------------------------------------------- processes

# Prints the pid of node $1 if its JVM is running (pid file, else a /proc scan on its exact config path).
node_pid() {
  local id="$1" cfg pid
  cfg="$(node_dir "$id")/server.properties"
  pid="$(cat "$(node_dir "$id")/kafka.pid" 2>/dev/null || true)"
  if [[ -n "$pid" ]] && pid_is_node "$pid" "$cfg"; then echo "$pid"; return 0; fi
  for pid in $(pgrep -f -- "$MAIN_CLASS $cfg" 2>/dev/null || true); do
    if pid_is_node "$pid" "$cfg"; then echo "$pid"; return 0; fi
  done
  return 1
}

pid_is_node() {
  local pid="$1" cfg="$2" stat state
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
  state="${stat##*) }"; state="${state:0:1}"
  [[ "$state" != Z && "$state" != X ]] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$cfg"
}

port_open() { (: <"/dev/tcp/$HOST/$1") 2>/dev/null; }

check_ports_free() {
  local p
  for p in "$(broker_port "$1")" "$(controller_port "$1")"; do
    port_open "$p" || continue
    if [[ -z "$ENV_PORT_BASE" ]]; then
      die "port $HOST:$p (node $1) is already in use by another process (another cluster? set KAFKA_PORT_BASE)"
    fi
    die "port $HOST:$p (node $1) is already in use by another process"
  done
}

layout_brokers() { sed -n 's/^brokers=//p' "$LAYOUT_FILE" 2>/dev/null || true; }
layout_version() { sed -n 's/^version=//p' "$LAYOUT_FILE" 2>/dev/null || true; }
# A layout from before KAFKA_PORT_BASE existed has no ports= line: it ran on the default ports.
layout_ports() {
  [[ -f "$LAYOUT_FILE" ]] || return 0
  local p
  p="$(sed -n 's/^ports=//p' "$LAYOUT_FILE" 2>/dev/null || true)"
  echo "${p:-$DEFAULT_PORT_BASE}"
}

# Every command but 'up' talks to the cluster the state dir holds, on the ports it was created with.
use_layout_ports() {
  local p
  p="$(layout_ports)"
  [[ -n "$p" ]] || return 0
  if [[ -n "$ENV_PORT_BASE" && "$ENV_PORT_BASE" != "$p" ]]; then
    die "the cluster in $STATE_DIR runs on KAFKA_PORT_BASE=$p, not $ENV_PORT_BASE (a different cluster needs its own KAFKA_STATE_DIR)"
  fi
  PORT_BASE="$p"
}

brokers_line() {
  local n="$1" i list=""
  for ((i = 1; i <= n; i++)); do list+="${list:+,}$HOST:$(broker_port "$i")"; done
  echo "KAFKA_BROKERS=$list"
}

any_running() {
  local d id
  for d in "$CLUSTER_DIR"/node-*; do
    [[ -d "$d" ]] || continue
    id="${d##*/node-}"
    node_pid "$id" >/dev/null && return 0
  done
  return 1
}

show_node_logs() {
  local id="$1" d f
  d="$(node_dir "$id")/logs"
  for f in server.log stderr.log stdout.log; do
    [[ -s "$d/$f" ]] || continue
    printf -- '----- node %s: tail of %s -----\n' "$id" "${d#"$REPO_ROOT"/}/$f" >&2
    tail -n "$([[ $f == server.log ]] && echo 40 || echo 15)" "$d/$f" >&2
  done
}

# ------------------------------------------------------------------ configs

# Prints broker.properties.tmpl with each ${NAME} outside comments replaced by the value of a NAME=value argument
# (a name without one is an error), so the template is the only place that lists broker settings.
render_broker_template() {
  local -A vals=()
  local kv line out name re='^([^$]*)\$\{([A-Z_]+)\}(.*)$'
  for kv in "$@"; do vals["${kv%%=*}"]="${kv#*=}"; done
  while IFS= read -r line || [[ -n "$line" ]]; do
    out=""
    while [[ "$line" != \#* && "$line" =~ $re ]]; do
      out+="${BASH_REMATCH[1]}"; name="${BASH_REMATCH[2]}"; line="${BASH_REMATCH[3]}"
      [[ -v "vals[$name]" ]] || die "${TEMPLATE#"$REPO_ROOT"/}: no value for \${$name}"
      out+="${vals[$name]}"
    done
    printf '%s\n' "$out$line"
  done <"$TEMPLATE"
}

drop_template_header() { sed '1,/^[^#]/{/^#/d}'; }   # it speaks of the template, not of what was rendered

write_node_config() {
  local id="$1" n="$2" d voters="" i rf min_isr listeners
  d="$(node_dir "$id")"
  mkdir -p "$d/data" "$d/logs"
  for ((i = 1; i <= n; i++)); do voters+="${voters:+,}$i@$HOST:$(controller_port "$i")"; done
  if ((n >= 3)); then rf=3; min_isr=2; else rf=1; min_isr=1; fi
  listeners="PLAINTEXT://$HOST:$(broker_port "$id"),CONTROLLER://$HOST:$(controller_port "$id")"
  {
    echo "# Generated by scripts/kafka/kafka.sh from broker.properties.tmpl ($n-node KRaft cluster, Kafka $KAFKA_VERSION) - do not edit."
    render_broker_template NODE_ID="$id" VOTERS="$voters" LISTENERS="$listeners" ADVERTISED_LISTENERS="$listeners" \
      PROTOCOL_MAP=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT LOG_DIRS="$d/data" RF="$rf" MIN_ISR="$min_isr" |
      drop_template_header
  } >"$d/server.properties.tmp"
  mv "$d/server.properties.tmp" "$d/server.properties"
}

# The settings of docker-compose.yml's three brokers as the apache/kafka image reads them (KAFKA_<PROPERTY>, dots as
# '_', '_' as '__', '-' as '___'). Settings whose value is per node are left to each service's own environment.
cmd_compose_env() {
  (($# == 0)) || usage
  local per_node='<per-node>' line key value env
  echo "# Generated from scripts/kafka/broker.properties.tmpl by \`bash scripts/kafka/kafka.sh compose-env >scripts/kafka/broker.env\`:"
  echo "# do not edit. The broker settings of docker-compose.yml's kafka-1..3; node id and listeners are set per service."
  render_broker_template NODE_ID="$per_node" LISTENERS="$per_node" ADVERTISED_LISTENERS="$per_node" \
      VOTERS=1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093 \
      PROTOCOL_MAP=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PLAINTEXT_HOST:PLAINTEXT \
      LOG_DIRS=/var/lib/kafka/data RF=3 MIN_ISR=2 |
    drop_template_header |
    while IFS= read -r line; do
      if [[ -z "$line" || "$line" == \#* ]]; then echo "$line"; continue; fi
      key="${line%%=*}"; value="${line#*=}"
      [[ "$value" == "$per_node" ]] && continue
      env="${key//_/__}"; env="${env//-/___}"; env="${env//./_}"
      echo "KAFKA_${env^^}=$value"
    done
}

format_nodes() {
  local n="$1" id d cid failed=0
  local -a fmt_jobs=()
  cid="$(cat "$CLUSTER_DIR/cluster.id" 2>/dev/null || true)"
  if [[ -z "$cid" ]]; then
    # Kafka Uuid: 16 random bytes, URL-safe base64 without padding, not starting with '-'.
    while :; do
      cid="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
      [[ "$cid" != -* && ${#cid} -eq 22 ]] && break
    done
    echo "$cid" >"$CLUSTER_DIR/cluster.id"
  fi
  for ((id = 1; id <= n; id++)); do
    d="$(node_dir "$id")"
    [[ -f "$d/data/meta.properties" ]] && continue
    "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
      -Dlog4j2.configurationFile="$TOOLS_LOG4J" -cp "$LIB_DIR/*" \
      "$STORAGE_CLASS" format --cluster-id "$cid" --config "$d/server.properties" --ignore-formatted \
      >"$d/logs/format.log" 2>&1 &
    fmt_jobs+=("$id:$!")
  done
  ((${#fmt_jobs[@]})) || return 0
  log "formatting storage of ${#fmt_jobs[@]} node(s) (cluster id $cid)"
  local p
  for p in "${fmt_jobs[@]}"; do
    if ! wait "${p#*:}"; then
      failed=1; printf -- '----- node %s: format.log -----\n' "${p%%:*}" >&2; cat "$(node_dir "${p%%:*}")/logs/format.log" >&2
    fi
  done
  ((failed == 0)) || die "storage format failed"
}

start_node() {
  local id="$1" d cfg pidf
  d="$(node_dir "$id")"; cfg="$d/server.properties"; pidf="$d/kafka.pid"
  check_ports_free "$id"
  mkdir -p "$d/logs"
  rm -f "$pidf"
  local -a jvm
  # -XX:TieredStopAtLevel=1: C1 only. On a 2-core machine shared with the service, PostgreSQL and the load, C2 kept
  # compiling for the brokers' whole short life (60-75 s of CPU per broker in their first ten minutes, 25-62 % of
  # their CPU inside benchmark windows); C1-compiled brokers used 38 % less CPU over the Kafka test files. A later
  # KAFKA_JVM_OPTS=-XX:TieredStopAtLevel=4 gives C2 back (the last occurrence of a flag wins).
  # shellcheck disable=SC2206
  jvm=($HEAP_OPTS -server -XX:TieredStopAtLevel=1 -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
       -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
       "-Xlog:gc*:file=$d/logs/gc.log:time,tags:filecount=2,filesize=5M"
       -Dkafka.logs.dir="$d/logs" -Dlog4j2.configurationFile="$BROKER_LOG4J"
       ${KAFKA_JVM_OPTS:-})
  # setsid: own session, so Ctrl-C / process-group kills of the caller do not hit the brokers.
  # The wrapper writes its own pid and then execs the JVM, so the pid file holds the JVM's pid.
  # Every inherited descriptor above 2 (the lock, a caller's pipes) is closed so nobody waits on the JVM.
  # shellcheck disable=SC2016
  (cd "$d" && exec setsid bash -c 'echo $$ >"$0"; for f in /proc/$$/fd/*; do n=${f##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-"; done 2>/dev/null; exec "$@"' "$pidf" \
      "$JAVA" "${jvm[@]}" -cp "$LIB_DIR/*" "$MAIN_CLASS" "$cfg" \
      </dev/null >"$d/logs/stdout.log" 2>"$d/logs/stderr.log") &
  local i
  for ((i = 0; i < 50; i++)); do [[ -s "$pidf" ]] && break; sleep 0.1; done
  [[ -s "$pidf" ]] || die "node $id did not start (no pid file)"
}

# Sends $2 (TERM|KILL) to node $1 and waits for it to exit; escalates TERM to KILL after STOP_TIMEOUT.
stop_nodes() {
  local sig="$1"; shift
  local id pid deadline
  local -a left=()
  local -A pids=()
  for id in "$@"; do
    pid="$(node_pid "$id")" || continue
    pids[$id]="$pid"
    kill "-$sig" "$pid" 2>/dev/null || true
  done
  ((${#pids[@]})) || return 0
  deadline=$((SECONDS + STOP_TIMEOUT))
  while :; do
    left=()
    for id in "${!pids[@]}"; do
      pid_is_node "${pids[$id]}" "$(node_dir "$id")/server.properties" && left+=("$id")
    done
    ((${#left[@]})) || break
    if ((SECONDS >= deadline)); then
      [[ "$sig" == KILL ]] && die "node(s) ${left[*]} did not die after SIGKILL"
      log "node(s) ${left[*]} still running after ${STOP_TIMEOUT}s: SIGKILL"
      for id in "${left[@]}"; do kill -KILL "${pids[$id]}" 2>/dev/null || true; done
      sig=KILL; deadline=$((SECONDS + 10))
    fi
    sleep 0.2
  done
  for id in "${!pids[@]}"; do rm -f "$(node_dir "$id")/kafka.pid"; done
}

# ----------------------------------------------------------------- commands

node_spec() { local id="$1" pid; pid="$(node_pid "$id" || echo 0)"; echo "$id@$HOST:$(broker_port "$id")@$pid"; }

cmd_up() {
  local n=3 timeout="$UP_TIMEOUT"
  while (($#)); do
    case "$1" in
      --brokers) n="${2:-}"; shift 2 || usage ;;
      --brokers=*) n="${1#*=}"; shift ;;
      --timeout) timeout="${2:-}"; shift 2 || usage ;;
      --timeout=*) timeout="${1#*=}"; shift ;;
      *) usage ;;
    esac
  done
  [[ "$n" == 1 || "$n" == 3 ]] || die "--brokers must be 1 or 3"
  [[ "$timeout" =~ ^[0-9]+$ ]] || die "--timeout must be seconds"
  lock
  local t0=$SECONDS
  local cur_n cur_v cur_p
  cur_n="$(layout_brokers)"; cur_v="$(layout_version)"; cur_p="$(layout_ports)"
  # Without KAFKA_PORT_BASE, an existing cluster keeps its ports; with it, a different base is a new layout.
  [[ -n "$ENV_PORT_BASE" || -z "$cur_p" ]] || PORT_BASE="$cur_p"
  if [[ -n "$cur_n" && ( "$cur_n" != "$n" || "$cur_v" != "$KAFKA_VERSION" || "$cur_p" != "$PORT_BASE" ) ]]; then
    if any_running; then
      die "a $cur_n-node cluster (Kafka $cur_v, port base $cur_p) is running; run 'kafka.sh down' first"
    fi
    log "cluster layout changes ($cur_n node(s), Kafka $cur_v, port base $cur_p -> $n node(s), Kafka $KAFKA_VERSION," \
      "port base $PORT_BASE): wiping old data"
    rm -rf "$CLUSTER_DIR"
  elif [[ -z "$cur_n" && -d "$CLUSTER_DIR" ]] && ! any_running; then
    rm -rf "$CLUSTER_DIR"   # leftovers without a layout file (interrupted first run)
  fi
  local id started=() to_start=()
  for ((id = 1; id <= n; id++)); do node_pid "$id" >/dev/null || to_start+=("$id"); done
  for id in "${to_start[@]}"; do check_ports_free "$id"; done
  ensure_probe
  resolve
  mkdir -p "$CLUSTER_DIR"
  for ((id = 1; id <= n; id++)); do write_node_config "$id" "$n"; done
  printf 'brokers=%s\nversion=%s\nports=%s\nlib=%s\n' "$n" "$KAFKA_VERSION" "$PORT_BASE" "$LIB_ROOT" >"$LAYOUT_FILE"
  format_nodes "$n"
  for id in "${to_start[@]}"; do start_node "$id"; started+=("$id"); done
  if ((${#started[@]})); then
    log "started node(s) ${started[*]}; waiting up to ${timeout}s for $n broker(s) to register"
  else
    log "all $n node(s) already running; checking health"
  fi
  local specs=() rc=0
  for ((id = 1; id <= n; id++)); do specs+=("$(node_spec "$id")"); done
  run_check cluster "$((timeout * 1000))" "${specs[@]}" || rc=$?
  if ((rc != 0)); then
    local bad
    bad="$(sed -E 's/^RESULT [a-z-]+ ?//' <<<"$CHECK_RESULT")"
    printf '%s\n' "$CHECK_OUTPUT" | grep -v '^RESULT ' >&2 || true
    for id in ${bad:-$(seq 1 "$n")}; do show_node_logs "$id"; done
    case "$CHECK_RESULT" in
      "RESULT dead"*) die "node(s) $bad exited during startup (logs above; 'kafka.sh down' to clean up)" ;;
      "RESULT foreign"*) die "the ports of node(s) $bad answer for another cluster (above); stop it, or give this one its own KAFKA_PORT_BASE" ;;
      *) die "cluster not ready after ${timeout}s (node(s) ${bad:-?} not serving; 'kafka.sh down' to clean up)" ;;
    esac
  fi
  log "cluster ready: $n broker(s) in $((SECONDS - t0))s"
  brokers_line "$n"
}

cmd_down() {
  local purge=0
  while (($#)); do
    case "$1" in --purge) purge=1; shift ;; *) usage ;; esac
  done
  lock
  local ids=() d
  for d in "$CLUSTER_DIR"/node-*; do [[ -d "$d" ]] && ids+=("${d##*/node-}"); done
  local running=()
  for d in "${ids[@]}"; do node_pid "$d" >/dev/null && running+=("$d"); done
  if ((${#running[@]})); then
    log "stopping node(s) ${running[*]}"
    stop_nodes TERM "${running[@]}"
  else
    log "no node running"
  fi
  if ((purge)); then
    rm -rf "$CLUSTER_DIR"
    log "purged cluster data"
  fi
}

require_node() {
  local id="$1" n
  [[ "$id" =~ ^[0-9]+$ ]] || usage
  n="$(layout_brokers)"
  [[ -n "$n" ]] || die "no cluster; run 'kafka.sh up' first"
  ((id >= 1 && id <= n)) || die "node $id is not part of the $n-node cluster"
}

cmd_stop_broker() {
  local id="${1:-}" sig=TERM
  shift || usage
  while (($#)); do case "$1" in --kill) sig=KILL; shift ;; *) usage ;; esac; done
  require_node "$id"
  use_layout_ports
  lock
  if ! node_pid "$id" >/dev/null; then log "node $id is not running"; return 0; fi
  stop_nodes "$sig" "$id"
  log "node $id stopped (SIG$sig)"
}

cmd_start_broker() {
  local id="${1:-}" timeout="$UP_TIMEOUT" isr=true
  shift || usage
  while (($#)); do
    case "$1" in
      --timeout) timeout="${2:-}"; shift 2 || usage ;;
      --timeout=*) timeout="${1#*=}"; shift ;;
      --no-isr-wait) isr=false; shift ;;
      *) usage ;;
    esac
  done
  require_node "$id"
  use_layout_ports
  lock
  resolve
  [[ -f "$(node_dir "$id")/data/meta.properties" ]] || die "node $id is not formatted; run 'kafka.sh up'"
  ensure_probe
  local t0=$SECONDS
  if node_pid "$id" >/dev/null; then
    log "node $id already running; checking it serves"
  else
    start_node "$id"
    log "started node $id; waiting up to ${timeout}s for it to serve"
  fi
  local rc=0
  run_check node "$((timeout * 1000))" "$isr" "$(node_spec "$id")" || rc=$?
  if ((rc != 0)); then
    printf '%s\n' "$CHECK_OUTPUT" | grep -v '^RESULT ' >&2 || true
    if ((rc == 4)); then die "node $id serves, but did not rejoin all ISRs within ${timeout}s"; fi
    show_node_logs "$id"
    die "node $id not serving ($CHECK_RESULT)"
  fi
  log "node $id serving$([[ $isr == true ]] && echo ' and in sync') after $((SECONDS - t0))s"
}

cmd_status() {
  local n id pid rc=0
  n="$(layout_brokers)"
  if [[ -z "$n" ]]; then log "no cluster (run 'kafka.sh up')"; return 3; fi
  use_layout_ports
  echo "cluster: $n node(s), Kafka $(layout_version), port base $PORT_BASE, data ${CLUSTER_DIR#"$REPO_ROOT"/}" >&2
  for ((id = 1; id <= n; id++)); do
    if pid="$(node_pid "$id")"; then
      echo "node $id: running (pid $pid) broker $HOST:$(broker_port "$id") controller $HOST:$(controller_port "$id")" >&2
    else
      echo "node $id: stopped" >&2; rc=3
    fi
  done
  return "$rc"
}

cmd_brokers() {
  local n
  n="$(layout_brokers)"
  use_layout_ports
  brokers_line "${n:-3}"
}

cmd_tool() {
  (($#)) || usage
  resolve
  exec "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j2.configurationFile="$TOOLS_LOG4J" -cp "$LIB_DIR/*" "$@"
}

main() {
  local cmd="${1:-}"
  shift || true
  [[ -z "$ENV_PORT_BASE" ]] || check_port_base "$ENV_PORT_BASE"
  case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    stop-broker) cmd_stop_broker "$@" ;;
    start-broker) cmd_start_broker "$@" ;;
    status) cmd_status "$@" ;;
    brokers) cmd_brokers "$@" ;;
    resolve) lock; resolve ;;
    tool) cmd_tool "$@" ;;
    compose-env) cmd_compose_env "$@" ;;
    -h|--help|help) usage 0 ;;
    *) usage ;;
  esac
}

main "$@"
