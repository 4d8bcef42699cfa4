# tests/lib/nats.sh - runs nats-server (Debian's, from PATH) for the tests
# and benchmarks of `durlog ship` (issue #20): one JetStream server, with or
# without authentication or TLS, or a 3-node JetStream cluster, all on
# loopback, everything (configuration, stores, logs, certificates) under a
# directory the caller gives. Sourced by bash scripts (set -u), never run.
#
#   . tests/lib/nats.sh
#   trap nats_cleanup EXIT          # or call nats_cleanup from your own trap
#   nats_single "$DURLOG_TEST_DIR/nats" password || exit 1
#   nats_wait_ready || exit 1
#   ... use $NATS_URL, $NATS_USER, $NATS_PASSWORD ...
#
# Nodes are numbered 1..N and named n1..nN; every NODE argument takes the
# number or the name. Servers are children of the shell that sourced this
# file: call the start functions from that shell, not from a $(...) or a
# pipeline, or `wait` cannot reap them and the cleanup cannot find them.
# Should that shell be killed outright (SIGKILL, where no trap runs), a
# watchdog process kills the servers within about a second.
#
# Ports are random in 20000-59999 (several runs may share the machine):
# ports seen listening are skipped, and a start that still loses a port to
# another process is retried on new ports. A restarted node keeps its ports.
#
# Every function returns non-zero and says why on stderr when it fails;
# every wait is bounded.

# What the start functions export for clients:
#   NATS_URL            every node's client URL, comma-separated
#   NATS_URL_<i>        node i's client URL (nats://127.0.0.1:PORT)
#   NATS_MON_<i>        node i's monitoring URL (http://127.0.0.1:PORT)
#   NATS_NODES          the number of nodes
#   NATS_USER, NATS_PASSWORD   with auth "password" or "tls+password"
#   NATS_TOKEN          with auth "token"
#   NATS_CA             with "tls" or "tls+password": the CA file that
#                       signed the servers' certificate (clients must
#                       require TLS and trust it; the URLs stay nats://)
# bench/nats/nats_plain reads NATS_CA, NATS_USER/NATS_PASSWORD and
# NATS_TOKEN from the environment.

_nats_dir=
_nats_n=0
_nats_auth=none
_nats_watchdog=
declare -a _nats_pid=() _nats_state=() _nats_port=() _nats_mport=() _nats_rport=()

_nats_err() {
    echo "nats.sh: $*" >&2
}

# _nats_node NODE: sets _i to the node's number, or fails.
_nats_node() {
    local n=${1#n}
    if ! [[ "$n" =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ] || [ "$n" -gt "$_nats_n" ]; then
        _nats_err "no node '$1' (nodes: 1..$_nats_n)"
        return 1
    fi
    _i=$n
}

# _nats_port_used PORT: something listens on it (any address).
_nats_port_used() {
    [ -n "$(ss -Htan "sport = :$1" 2>/dev/null)" ]
}

# _nats_pick_ports COUNT: sets _ports to COUNT distinct random ports that
# nothing listens on now. 30 random bits: $RANDOM alone has only 15.
_nats_pick_ports() {
    local want=$1 p tries=0
    _ports=()
    while [ "${#_ports[@]}" -lt "$want" ]; do
        tries=$((tries + 1))
        if [ "$tries" -gt 1000 ]; then
            _nats_err "found no free port"
            return 1
        fi
        p=$((20000 + ((RANDOM << 15) | RANDOM) % 40000))
        [[ " ${_ports[*]} " == *" $p "* ]] && continue
        _nats_port_used "$p" && continue
        _ports+=("$p")
    done
}

# _nats_certs DIR: a CA and a server certificate for 127.0.0.1 and
# localhost signed by it, made once per DIR (P-256 keys: quick to make).
_nats_certs() {
    local d=$1/tls
    [ -s "$d/server.pem" ] && return 0
    mkdir -p "$d" || return 1
    {
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout "$d/ca.key" -out "$d/ca.pem" -days 7 -subj /CN=durlog-test-ca \
            -addext basicConstraints=critical,CA:TRUE \
            -addext keyUsage=critical,keyCertSign,cRLSign &&
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout "$d/server.key" -out "$d/server.csr" -subj /CN=localhost &&
        printf '%s\n' 'subjectAltName=IP:127.0.0.1,DNS:localhost' \
            'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature' \
            'extendedKeyUsage=serverAuth' >"$d/server.ext" &&
        openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
            -CAcreateserial -days 7 -extfile "$d/server.ext" -out "$d/server.pem"
    } >"$d/openssl.log" 2>&1 || { _nats_err "openssl failed:"; cat "$d/openssl.log" >&2; return 1; }
}

# _nats_write_conf I: node I's configuration from the chosen ports.
_nats_write_conf() {
    local i=$1 j routes=
    local d=$_nats_dir/n$i
    mkdir -p "$d/store" || return 1
    {
        echo "server_name: n$i"
        echo "listen: 127.0.0.1:${_nats_port[i]}"
        echo "http: 127.0.0.1:${_nats_mport[i]}"
        echo "jetstream { store_dir: \"$d/store\" }"
        case $_nats_auth in
        password|tls+password)
            echo "authorization { user: \"$NATS_USER\", password: \"$NATS_PASSWORD\" }" ;;
        token)
            echo "authorization { token: \"$NATS_TOKEN\" }" ;;
        esac
        case $_nats_auth in
        tls|tls+password)
            echo "tls { cert_file: \"$_nats_dir/tls/server.pem\", key_file: \"$_nats_dir/tls/server.key\", timeout: 5 }" ;;
        esac
        if [ "$_nats_n" -gt 1 ]; then
            for ((j = 1; j <= _nats_n; j++)); do
                [ "$j" -ne "$i" ] && routes+="nats-route://127.0.0.1:${_nats_rport[j]}, "
            done
            echo "cluster { name: durlogtest, listen: 127.0.0.1:${_nats_rport[i]}, routes: [ ${routes%, } ] }"
        fi
    } >"$d/nats.conf"
}

# _nats_export: the client variables (see the top) from the chosen ports.
_nats_export() {
    local i urls=
    for ((i = 1; i <= _nats_n; i++)); do
        export "NATS_URL_$i=nats://127.0.0.1:${_nats_port[i]}"
        export "NATS_MON_$i=http://127.0.0.1:${_nats_mport[i]}"
        urls+="nats://127.0.0.1:${_nats_port[i]},"
    done
    export NATS_URL=${urls%,} NATS_NODES=$_nats_n
}

# _nats_pidfile: the running servers' pids, for the watchdog.
_nats_pidfile() {
    local i
    for ((i = 1; i <= _nats_n; i++)); do
        if [ "${_nats_state[i]}" != stopped ]; then echo "${_nats_pid[i]}"; fi
    done >"$_nats_dir/pids.tmp" && mv "$_nats_dir/pids.tmp" "$_nats_dir/pids"
}

# _nats_start_watchdog: one background process that, once the shell that
# sourced this file is gone without cleaning up, kills every server listed
# in the pid file - only processes still running nats-server with a
# configuration under this directory, so a pid reused meanwhile is spared.
_nats_start_watchdog() {
    [ -n "$_nats_watchdog" ] && kill -0 "$_nats_watchdog" 2>/dev/null && return 0
    local owner=$$ dir=$_nats_dir
    (
        trap '' INT TERM HUP
        while kill -0 "$owner" 2>/dev/null; do sleep 1; done
        while read -r p; do
            tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "-c $dir/" &&
                kill -CONT "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
        done <"$dir/pids"
    ) </dev/null >/dev/null 2>&1 &
    _nats_watchdog=$!
}

# _nats_launch I: starts node I's server and waits (at most 20 s) until it
# listens on all its ports ("Server is ready" in its log). Returns 2 when
# it lost a port to another process, 1 on any other failure.
_nats_launch() {
    local i=$1 lines t
    local d=$_nats_dir/n$i
    lines=0
    [ -f "$d/server.log" ] && lines=$(wc -l <"$d/server.log")
    nats-server -c "$d/nats.conf" </dev/null >>"$d/server.log" 2>&1 &
    _nats_pid[i]=$!
    _nats_state[i]=running
    _nats_pidfile
    _nats_start_watchdog
    for ((t = 0; t < 200; t++)); do
        if ! kill -0 "${_nats_pid[i]}" 2>/dev/null; then
            wait "${_nats_pid[i]}" 2>/dev/null
            _nats_state[i]=stopped
            _nats_pidfile
            if tail -n +"$((lines + 1))" "$d/server.log" | grep -q 'address already in use'; then
                return 2
            fi
            _nats_err "n$i exited on start; its log ends:"
            tail -n 5 "$d/server.log" >&2
            return 1
        fi
        tail -n +"$((lines + 1))" "$d/server.log" | grep -q 'Server is ready' && return 0
        sleep 0.1
    done
    _nats_err "n$i not listening after 20 s; its log ends:"
    tail -n 5 "$d/server.log" >&2
    return 1
}

# _nats_setup DIR AUTH NODES: starts NODES servers on fresh ports, all
# again on new ports when one loses a port (up to 10 times).
_nats_setup() {
    local dir=$1 auth=$2 n=$3 attempt i rc
    if [ "$_nats_n" -ne 0 ]; then
        _nats_err "servers already started here (nats_cleanup first)"
        return 1
    fi
    command -v nats-server >/dev/null || { _nats_err "nats-server is not on PATH"; return 1; }
    mkdir -p "$dir" || return 1
    _nats_dir=$(cd "$dir" && pwd) || return 1
    _nats_auth=$auth
    unset NATS_USER NATS_PASSWORD NATS_TOKEN NATS_CA
    case $auth in
    none) ;;
    password|tls+password)
        export NATS_USER=durlog NATS_PASSWORD=pw-$RANDOM$RANDOM ;;&
    token)
        export NATS_TOKEN=tok-$RANDOM$RANDOM$RANDOM ;;&
    tls|tls+password)
        _nats_certs "$_nats_dir" || return 1
        export NATS_CA=$_nats_dir/tls/ca.pem ;;
    password|token) ;;
    *) _nats_err "unknown auth '$auth' (none, password, token, tls, tls+password)"; return 1 ;;
    esac
    _nats_n=$n
    for ((attempt = 1; attempt <= 10; attempt++)); do
        _nats_pick_ports $((3 * n)) || return 1
        for ((i = 1; i <= n; i++)); do
            _nats_port[i]=${_ports[3 * i - 3]}
            _nats_mport[i]=${_ports[3 * i - 2]}
            _nats_rport[i]=${_ports[3 * i - 1]}
            _nats_state[i]=stopped
        done
        for ((i = 1; i <= n; i++)); do _nats_write_conf "$i" || return 1; done
        rc=0
        for ((i = 1; i <= n; i++)); do
            _nats_launch "$i"; rc=$?
            [ "$rc" -ne 0 ] && break
        done
        if [ "$rc" -eq 0 ]; then
            _nats_export
            return 0
        fi
        nats_stop_all
        [ "$rc" -ne 2 ] && break
    done
    [ "$rc" -eq 2 ] && _nats_err "lost a port to another process 10 times"
    nats_cleanup
    return 1
}

# nats_single DIR [AUTH]: starts one JetStream server (node 1, n1) under
# DIR. AUTH: none (default), password, token, tls, tls+password. Returns
# once it listens; nats_wait_ready then waits for JetStream.
nats_single() {
    _nats_setup "$1" "${2:-none}" 1
}

# nats_cluster DIR [AUTH]: starts a 3-node JetStream cluster n1..n3 under
# DIR (routes on loopback, a store per node), AUTH as for nats_single
# (clients only; routes are plain). nats_wait_ready then waits until it
# has a meta leader.
nats_cluster() {
    _nats_setup "$1" "${2:-none}" 3
}

# _nats_get I PATH: node I's monitoring answer for PATH (at most 2 s).
_nats_get() {
    curl -sf --max-time 2 "http://127.0.0.1:${_nats_mport[$1]}$2"
}

# nats_wait_ready [SECONDS]: waits (default 20 s) until every running
# node (not stopped, not paused) reports JetStream healthy on /healthz
# and, in a cluster, knows the meta leader on /jsz.
nats_wait_ready() {
    local limit=${1:-20} i ok deadline
    deadline=$((SECONDS + limit))
    while :; do
        ok=1
        for ((i = 1; i <= _nats_n; i++)); do
            [ "${_nats_state[i]}" = running ] || continue
            if [ "$(_nats_get "$i" /healthz | jq -r .status 2>/dev/null)" != ok ]; then
                ok=0; break
            fi
            if [ "$_nats_n" -gt 1 ] &&
               [ -z "$(_nats_get "$i" /jsz | jq -r '.meta_cluster.leader // empty' 2>/dev/null)" ]; then
                ok=0; break
            fi
        done
        [ "$ok" -eq 1 ] && return 0
        if [ "$SECONDS" -ge "$deadline" ]; then
            _nats_err "n$i not ready after $limit s"
            return 1
        fi
        sleep 0.2
    done
}

# nats_kill9 NODE: kills the node's server with SIGKILL (no shutdown at
# all, as a crash) and reaps it.
nats_kill9() {
    local _i
    _nats_node "$1" || return 1
    [ "${_nats_state[_i]}" = stopped ] && return 0
    kill -KILL "${_nats_pid[_i]}" 2>/dev/null
    wait "${_nats_pid[_i]}" 2>/dev/null
    _nats_state[_i]=stopped
    _nats_pidfile
}

# nats_stop NODE: stops the node's server with SIGTERM (a clean shutdown;
# a paused one is resumed to receive it), SIGKILL after 10 s; returns
# once it is gone, its ports free.
nats_stop() {
    local _i t
    _nats_node "$1" || return 1
    [ "${_nats_state[_i]}" = stopped ] && return 0
    kill -TERM "${_nats_pid[_i]}" 2>/dev/null
    kill -CONT "${_nats_pid[_i]}" 2>/dev/null
    for ((t = 0; t < 100; t++)); do
        kill -0 "${_nats_pid[_i]}" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "${_nats_pid[_i]}" 2>/dev/null
    wait "${_nats_pid[_i]}" 2>/dev/null
    _nats_state[_i]=stopped
    _nats_pidfile
}

# nats_start NODE: starts a stopped or killed node again, same
# configuration, ports and store; returns once it listens (retried for
# up to 10 s while one of its ports is still held).
nats_start() {
    local _i rc t
    _nats_node "$1" || return 1
    [ "${_nats_state[_i]}" = stopped ] || { _nats_err "n$_i is not stopped"; return 1; }
    for ((t = 0; t < 20; t++)); do
        _nats_launch "$_i"; rc=$?
        [ "$rc" -ne 2 ] && return "$rc"
        sleep 0.5
    done
    _nats_err "n$_i: a port stays taken by another process"
    return 1
}

# nats_sigstop NODE / nats_sigcont NODE: pauses / resumes the node's
# server (SIGSTOP / SIGCONT): alive, holding its connections, answering
# nothing - a hung server. nats_wait_ready and the queries skip it.
nats_sigstop() {
    local _i
    _nats_node "$1" || return 1
    [ "${_nats_state[_i]}" = running ] || { _nats_err "n$_i is not running"; return 1; }
    kill -STOP "${_nats_pid[_i]}" && _nats_state[_i]=paused
}

nats_sigcont() {
    local _i
    _nats_node "$1" || return 1
    [ "${_nats_state[_i]}" = paused ] || { _nats_err "n$_i is not paused"; return 1; }
    kill -CONT "${_nats_pid[_i]}" && _nats_state[_i]=running
}

# nats_stop_all / nats_start_all: nats_stop / nats_start on every node
# (those already stopped / running are left as they are).
nats_stop_all() {
    local i rc=0
    for ((i = 1; i <= _nats_n; i++)); do nats_stop "$i" || rc=1; done
    return "$rc"
}

nats_start_all() {
    local i
    for ((i = 1; i <= _nats_n; i++)); do
        [ "${_nats_state[i]}" = stopped ] || continue
        nats_start "$i" || return 1
    done
}

# nats_api NODE SUBJECT [JSON]: one JetStream API request to the node,
# through the text protocol (no auth, no TLS); prints the reply's payload
# (fails when none comes within 5 s). In a cluster, any server may answer:
# the first reply is taken, as a client does.
nats_api() {
    local _i fd line payload=${3:-} ok=1
    _nats_node "$1" || return 1
    exec {fd}<>"/dev/tcp/127.0.0.1/${_nats_port[_i]}" || return 1
    printf 'CONNECT {"verbose":false,"pedantic":false}\r\nSUB _INBOX.api 1\r\nPUB %s _INBOX.api %d\r\n%s\r\n' \
        "$2" "${#payload}" "$payload" >&"$fd"
    while IFS= read -r -t 5 line <&"$fd"; do
        if [[ "$line" == MSG* ]]; then
            IFS= read -r -t 5 line <&"$fd" && printf '%s\n' "$line" && ok=0
            break
        fi
        [[ "$line" == -ERR* ]] && break
    done
    exec {fd}>&-
    return "$ok"
}

# nats_pub NODE SUBJECT TEXT: one plain message (no headers) to the node,
# through the text protocol (no auth, no TLS); returns once the server
# has processed it (its PONG to the PING after it).
nats_pub() {
    local _i fd line ok=1
    _nats_node "$1" || return 1
    exec {fd}<>"/dev/tcp/127.0.0.1/${_nats_port[_i]}" || return 1
    printf 'CONNECT {"verbose":false,"pedantic":false}\r\nPUB %s %d\r\n%s\r\nPING\r\n' \
        "$2" "${#3}" "$3" >&"$fd"
    while IFS= read -r -t 5 line <&"$fd"; do
        [[ "$line" == PONG* ]] && { ok=0; break; }
        [[ "$line" == -ERR* ]] && break
    done
    exec {fd}>&-
    return "$ok"
}

# nats_log NODE: prints the path of the node's server log.
nats_log() {
    local _i
    _nats_node "$1" || return 1
    echo "$_nats_dir/n$_i/server.log"
}

# nats_store NODE: prints the node's JetStream store directory (to move
# away while it is stopped: a server started on an empty store).
nats_store() {
    local _i
    _nats_node "$1" || return 1
    echo "$_nats_dir/n$_i/store"
}

# nats_state NODE: prints running, paused or stopped.
nats_state() {
    local _i
    _nats_node "$1" || return 1
    echo "${_nats_state[_i]}"
}

# _nats_stream I STREAM: node I's /jsz detail of STREAM (JSON), if it has
# the stream. In 2.9.10, /jsz?streams=true lists per account the streams
# this server holds a replica of, each with "cluster": {"leader": NAME}
# in a cluster (no "cluster" on a single server) and "state".
_nats_stream() {
    _nats_get "$1" '/jsz?accounts=true&streams=true' |
        jq -ce --arg s "$2" 'first(.account_details[]?.stream_detail[]? | select(.name == $s))'
}

# _nats_leader_node STREAM: sets _i to the node that leads STREAM by its
# own account (a running node whose /jsz names itself leader; on a single
# server, the server if it has the stream). Fails when none does, as
# while a leader is being elected.
_nats_leader_node() {
    local i detail
    for ((i = 1; i <= _nats_n; i++)); do
        [ "${_nats_state[i]}" = running ] || continue
        detail=$(_nats_stream "$i" "$1") || continue
        if [ "$_nats_n" -eq 1 ] ||
           [ "$(jq -r '.cluster.leader // empty' <<<"$detail")" = "n$i" ]; then
            _i=$i
            _detail=$detail
            return 0
        fi
    done
    return 1
}

# nats_stream_leader STREAM: prints the name (n1..n3) of the node that
# leads STREAM now; fails (printing nothing) while there is none.
nats_stream_leader() {
    local _i _detail
    _nats_leader_node "$1" || return 1
    echo "n$_i"
}

# nats_stream_msgs STREAM: prints STREAM's message count as its leader
# sees it (followers may lag); fails while it has no leader.
nats_stream_msgs() {
    local _i _detail
    _nats_leader_node "$1" || return 1
    jq -r '.state.messages' <<<"$_detail"
}

# nats_wait_stream_leader STREAM [SECONDS]: waits (default 20 s) until
# STREAM has a leader, and prints it.
nats_wait_stream_leader() {
    local deadline=$((SECONDS + ${2:-20}))
    until nats_stream_leader "$1"; do
        [ "$SECONDS" -ge "$deadline" ] && { _nats_err "stream $1: no leader after ${2:-20} s"; return 1; }
        sleep 0.2
    done
}

# nats_wait_stream_msgs STREAM N [SECONDS]: waits (default 20 s) until
# STREAM's leader holds at least N messages.
nats_wait_stream_msgs() {
    local deadline=$((SECONDS + ${3:-20})) got
    while :; do
        got=$(nats_stream_msgs "$1") && [ "$got" -ge "$2" ] && return 0
        if [ "$SECONDS" -ge "$deadline" ]; then
            _nats_err "stream $1: ${got:-no leader, no count} of $2 messages after ${3:-20} s"
            return 1
        fi
        sleep 0.2
    done
}

# nats_cleanup: stops every server started here (SIGTERM, SIGKILL after
# 10 s) and the watchdog, and forgets them: nats_single or nats_cluster
# may start anew. The store and logs stay in DIR. Call it from the EXIT
# trap of the sourcing script.
nats_cleanup() {
    nats_stop_all
    if [ -n "$_nats_watchdog" ]; then
        # KILL: the watchdog ignores the usual signals, to outlive a
        # shell that a Ctrl-C or a timeout ends.
        kill -KILL "$_nats_watchdog" 2>/dev/null
        wait "$_nats_watchdog" 2>/dev/null
        _nats_watchdog=
    fi
    _nats_n=0
    _nats_pid=() _nats_state=() _nats_port=() _nats_mport=() _nats_rport=()
}
