#!/usr/bin/env bash
# bench/peers.sh - durlog's sync appends against other systems' durable
# writes, same workload, same disk, one run.
#
# Usage (from anywhere; needs `make` to have built build/libdurlog.a):
#
#   bash bench/peers.sh                     # table, defaults below
#   bash bench/peers.sh -o csv              # CSV, for scripts
#   bash bench/peers.sh -n 5000 -r 5 -d /mnt/ssd
#
#   -n N        records per repeat of every durable row (default 2000)
#   -e M        records per repeat of the Redis everysec row (default 20000;
#               it is not durable on acknowledgement and much faster)
#   -r R        repeats, interleaved round-robin (default 3); medians shown
#   -d DIR      where the scratch directory peers-tmp-XXXXXX is made
#               (default $DURLOG_BENCH_DIR, else .); removed at the end
#   -o FORMAT   table (default) or csv
#   B=DIR       environment: durlog's build directory (default build)
#
# The workload: N records of 100 bytes, appended one at a time by a single
# client (one thread, one connection, no pipelining), each acknowledged
# durable before the next is sent. Rows:
#
#   durlog sync                   durlog_append(DURLOG_SYNC), default options
#   write()+fdatasync             baseline: O_APPEND file, fdatasync per record
#   RocksDB sync=1                rocksdb_put, WriteOptions sync=1 (the WAL)
#   SQLite WAL synchronous=FULL   sqlite3 CLI, one INSERT per transaction
#   Redis appendfsync always      private redis-server, redis-benchmark SET
#   Redis appendfsync everysec    the same, everysec (for contrast: NOT
#                                 durable when acknowledged)
#
# The durlog, baseline and RocksDB rows run bench/peers_append.c, which this
# script compiles into the scratch directory with the benchmark library
# (bench/lib/) against $B/libdurlog.a (and
# -lrocksdb when <rocksdb/c.h> is installed). A peer that is not installed
# prints "not installed"; scripts/bench-deps.sh installs them all. The
# default run takes 7-20 s on the 2-core VM (3-6 s per repeat, most of
# it in the five durable rows at 100-600 us per record); -n 10000 -r 5
# took 48 s there.
#
# Each repeat of each row uses a fresh file, log, database or Redis server
# in the scratch directory and deletes it straight after. Opening, one
# untimed warm-up record, and closing are outside the timed region (Redis:
# redis-benchmark's own timer; SQLite: timestamps taken inside the session).
# Fsync rows depend heavily on the disk: run on the file system you care
# about; tmpfs makes them meaningless.
set -euo pipefail

records=2000
everysec_records=20000
repeats=3
dir=${DURLOG_BENCH_DIR:-.}
format=table
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${B:-build}
case $build in /*) ;; *) build=$root/$build ;; esac

usage() {
    echo "usage: bash bench/peers.sh [-n N] [-e M] [-r R] [-d DIR] [-o table|csv]" >&2
    exit 2
}
while getopts "n:e:r:d:o:h" opt; do
    case $opt in
    n) records=$OPTARG ;;
    e) everysec_records=$OPTARG ;;
    r) repeats=$OPTARG ;;
    d) dir=$OPTARG ;;
    o) format=$OPTARG ;;
    *) usage ;;
    esac
done
[ $OPTIND -gt $# ] || usage
for v in "$records" "$everysec_records" "$repeats"; do
    [[ $v =~ ^[1-9][0-9]*$ ]] || usage
done
[ "$repeats" -le 99 ] || usage
case $format in table | csv) ;; *) usage ;; esac

say() { echo "peers.sh: $*" >&2; }
die() { say "$*"; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

have cc || die "no C compiler (cc)"
[ -f "$build/libdurlog.a" ] || die "$build/libdurlog.a is missing: run make first"
[ -d "$dir" ] || die "$dir is not a directory"

started=$(date +%s.%N)
scratch=$(mktemp -d "$(cd "$dir" && pwd)/peers-tmp-XXXXXX")
# Redis's unix socket lives in a short private directory (a socket path is
# limited to 107 bytes); only the socket, no data, is there.
sockdir=$(mktemp -d /tmp/durlog-peers-XXXXXX)
redis_pid=
cleanup() {
    if [ -n "$redis_pid" ] && kill -0 "$redis_pid" 2>/dev/null; then
        kill "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
    fi
    rm -rf "$scratch" "$sockdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the C helper -----------------------------------------------------------
helper=$scratch/peers_append
cflags=(-std=c11 -D_GNU_SOURCE -O2 -pthread -I"$root/include" -I"$root/src")
# The benchmark library's sources go before the library they call.
libs=("$root"/bench/lib/*.c "$build/libdurlog.a" -pthread)
[ -f /usr/include/liburing.h ] && libs+=(-luring)
# A library built with ISA-L (src/crc32c.c) needs it at link time too.
[ -f /usr/include/isa-l/crc.h ] && libs+=(-lisal)
have_rocksdb=0
if [ -f /usr/include/rocksdb/c.h ] &&
    cc "${cflags[@]}" -DDURLOG_HAVE_ROCKSDB -o "$helper" "$root/bench/peers_append.c" \
        "${libs[@]}" -lrocksdb 2>"$scratch/cc.log"; then
    have_rocksdb=1
else
    cc "${cflags[@]}" -o "$helper" "$root/bench/peers_append.c" "${libs[@]}" \
        2>"$scratch/cc.log" || { cat "$scratch/cc.log" >&2; die "could not build the helper"; }
fi

have_sqlite=0
have sqlite3 && have_sqlite=1
have_redis=0
have redis-server && have redis-cli && have redis-benchmark && have_redis=1

# Upstream version of a Debian package: 5:7.0.15-1~deb12u10 -> 7.0.15.
version() {
    dpkg-query -W -f '${Version}' "$1" 2>/dev/null | sed 's/^[0-9]*://; s/-[^-]*$//' || true
}

# --- rows ---------------------------------------------------------------------
# Each run_* adds "ID SECONDS RECORDS" for one repeat's timed records to
# $results. They run in this shell, not in $(...), so that the EXIT trap
# knows about a Redis server a failing row leaves behind.
results=$scratch/results
: >"$results"

run_helper() { # mode repeat
    local path=$scratch/$1-$2 out
    out=$("$helper" "$1" "$path" "$records") || die "$1 row failed"
    rm -rf "$path"
    echo "$1 $out" >>"$results"
}

sqlite_sql=$scratch/sqlite.sql
if [ $have_sqlite = 1 ]; then
    value=$(printf 'x%.0s' $(seq 100))
    {
        echo ".bail on"
        echo "PRAGMA journal_mode=WAL;"
        echo "PRAGMA synchronous=FULL;"
        echo "PRAGMA synchronous;"
        echo "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL);"
        echo "INSERT INTO t(v) VALUES('$value');" # warm-up
        echo "SELECT (julianday('now') - 2440587.5) * 86400.0;"
        awk -v n="$records" -v v="$value" \
            'BEGIN { for (i = 0; i < n; i++) printf "INSERT INTO t(v) VALUES(\047%s\047);\n", v }'
        echo "SELECT (julianday('now') - 2440587.5) * 86400.0;"
        echo "SELECT count(*) FROM t;"
    } >"$sqlite_sql"
fi

run_sqlite() { # repeat
    local db=$scratch/sqlite-$1.db out
    out=$(sqlite3 -batch "$db" <"$sqlite_sql") || die "sqlite3 failed"
    rm -f "$db" "$db-wal" "$db-shm" "$db-journal"
    # Output: wal, 2 (FULL), start time, end time, rows.
    echo "$out" | awk -v n="$records" -v id=sqlite '
        NR == 1 && $1 != "wal" { bad = "journal_mode is " $1 }
        NR == 2 && $1 != 2 { bad = "synchronous is " $1 }
        NR == 3 { t0 = $1 } NR == 4 { t1 = $1 }
        NR == 5 && $1 != n + 1 { bad = "rows: " $1 }
        END { if (bad || NR != 5) { print "sqlite: " (bad ? bad : "odd output") > "/dev/stderr"; exit 1 }
              printf "%s %.6f %d\n", id, t1 - t0, n }' >>"$results" || die "sqlite row failed"
}

redis_stop() {
    [ -n "$redis_pid" ] || return 0
    redis-cli -s "$sockdir/redis.sock" shutdown nosave >/dev/null 2>&1 || kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
    redis_pid=
}

run_redis() { # policy records repeat (ID redis_POLICY)
    local rdir=$scratch/redis-$1-$3 sock=$sockdir/redis.sock out
    mkdir -p "$rdir"
    redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 --dir "$rdir" \
        --appendonly yes --appendfsync "$1" --save '' --daemonize no \
        --logfile "$rdir/redis.log" >/dev/null 2>&1 &
    redis_pid=$!
    for _ in $(seq 100); do
        redis-cli -s "$sock" ping >/dev/null 2>&1 && break
        kill -0 "$redis_pid" 2>/dev/null || die "redis-server exited: $(tail -n 3 "$rdir/redis.log")"
        sleep 0.05
    done
    if [ "$(redis-cli -s "$sock" config get appendfsync | tail -n 1)" != "$1" ] ||
        [ "$(redis-cli -s "$sock" config get appendonly | tail -n 1)" != yes ]; then
        die "redis did not take appendonly yes / appendfsync $1"
    fi
    redis-cli -s "$sock" set warmup x >/dev/null # warm-up
    # One connection (-c 1), no pipelining (-P 1): each SET waits for its
    # reply. -r: random keys, so every SET is a distinct write.
    out=$(redis-benchmark -s "$sock" -c 1 -P 1 -n "$2" -d 100 -t set -r 100000000 --csv) ||
        die "redis-benchmark failed"
    redis_stop
    rm -rf "$rdir"
    echo "$out" | awk -F'"' -v n="$2" -v id="redis_$1" '$2 == "SET" { rps = $4 }
        END { if (rps <= 0) exit 1; printf "%s %.6f %d\n", id, n / rps, n }' >>"$results" ||
        die "could not read redis-benchmark's output"
}

# id | name | installed | records | durable on ack | how durability is configured
rows=(
    "durlog|durlog sync|1|$records|yes|durlog_append(DURLOG_SYNC), default options: the record is stored into the preallocated segment and fdatasync()ed before the call returns"
    "fdatasync|write()+fdatasync|1|$records|yes|one write() to a new O_APPEND file then fdatasync() per record (the file grows, so each fdatasync also commits its new size)"
    "rocksdb|RocksDB sync=1|$have_rocksdb|$records|yes|RocksDB $(version librocksdb-dev), C API, default options, WriteOptions sync=1: each put write()s its WAL record and fdatasync()s the WAL before returning"
    "sqlite|SQLite WAL synchronous=FULL|$have_sqlite|$records|yes|SQLite $(version sqlite3), sqlite3 CLI, journal_mode=WAL, synchronous=FULL, each INSERT its own (autocommit) transaction: a 4 KiB WAL frame and an fdatasync per commit; default checkpoints every 1000 frames are included"
    "redis_always|Redis appendfsync always|$have_redis|$records|yes|Redis $(version redis-server), private server on a unix socket, appendonly yes, appendfsync always, no RDB saves; redis-benchmark -c 1 -P 1 SET of 100-byte values; the main thread write()s and fdatasync()s the AOF before it sends the reply"
    "redis_everysec|Redis appendfsync everysec|$have_redis|$everysec_records|no|as above with appendfsync everysec: the reply follows the AOF write() only, a background thread fdatasync()s once a second, so about 1-2 s of acknowledged writes can be lost on power loss ($everysec_records records per repeat)"
)

for r in $(seq "$repeats"); do
    for row in "${rows[@]}"; do
        IFS='|' read -r id name installed n durable how <<<"$row"
        [ "$installed" = 1 ] || continue
        case $id in
        durlog | fdatasync | rocksdb) run_helper "$id" "$r" ;;
        sqlite) run_sqlite "$r" ;;
        redis_always) run_redis always "$n" "$r" ;;
        redis_everysec) run_redis everysec "$n" "$r" ;;
        esac
    done
    say "repeat $r of $repeats done"
done

# --- report -------------------------------------------------------------------
# stats ID -> "median min max" of records/s over the repeats
stats() {
    awk -v id="$1" '$1 == id && $2 > 0 { print $3 / $2 }' "$results" | sort -g |
        awk '{ v[NR] = $1 } END { if (!NR) exit 1
              m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf "%.6f %.6f %.6f\n", m, v[1], v[NR] }'
}
read -r durlog_rate _ _ < <(stats durlog)
elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
fs=$(df -PT "$scratch" | awk 'NR == 2 { print $2 " on " $1 }')
say "took $elapsed s"

if [ "$format" = csv ]; then
    echo "row,records_per_s,us_per_record,ratio_to_durlog_sync,records,repeats,min_records_per_s,max_records_per_s,durable_on_ack,status,durability"
    for row in "${rows[@]}"; do
        IFS='|' read -r id name installed n durable how <<<"$row"
        if [ "$installed" = 1 ]; then
            read -r med lo hi < <(stats "$id")
            awk -v name="$name" -v m="$med" -v lo="$lo" -v hi="$hi" -v d="$durlog_rate" \
                -v n="$n" -v r="$repeats" -v ack="$durable" -v how="$how" 'BEGIN {
                gsub(/"/, "\"\"", how)
                printf "\"%s\",%.0f,%.2f,%.3f,%d,%d,%.0f,%.0f,%s,ok,\"%s\"\n",
                       name, m, 1e6 / m, m / d, n, r, lo, hi, ack, how }'
        else
            echo "\"$name\",,,,$n,$repeats,,,$durable,not installed,"
        fi
    done
    exit 0
fi

echo "durlog peers: 100-byte records, one client appending one at a time, each acknowledged before the next;"
echo "medians of $repeats interleaved repeats per row. Scratch on $fs, Linux $(uname -r), $(nproc) CPUs."
echo
# (the header by hand: printf pads by bytes, and µ is two)
echo "| row                            |     records/s | µs per record | ratio to durlog sync |"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' $(seq 32))" "$(printf -- '-%.0s' $(seq 14))-" \
    "$(printf -- '-%.0s' $(seq 14))-" "$(printf -- '-%.0s' $(seq 21))-"
for row in "${rows[@]}"; do
    IFS='|' read -r id name installed n durable how <<<"$row"
    [ "$durable" = yes ] || name="$name *"
    if [ "$installed" = 1 ]; then
        read -r med _ _ < <(stats "$id")
        awk -v name="$name" -v m="$med" -v d="$durlog_rate" 'BEGIN {
            printf "| %-30s | %13.0f | %13.1f | %20.2f |\n", name, m, 1e6 / m, m / d }'
    else
        printf '| %-30s | %13s | %13s | %20s |\n' "$name" "not installed" - -
    fi
done
echo
echo "* not durable when acknowledged; shown for contrast."
echo "ratio = the row's records/s / durlog sync's records/s (above 1: faster than durlog)."
echo
echo "How each row is made durable ($records records per repeat unless noted):"
for row in "${rows[@]}"; do
    IFS='|' read -r id name installed n durable how <<<"$row"
    if [ "$installed" = 1 ]; then
        echo "- $name: $how."
    elif [ "$id" = rocksdb ]; then
        echo "- $name: not installed (needs librocksdb-dev; scripts/bench-deps.sh)."
    else
        echo "- $name: not installed (scripts/bench-deps.sh)."
    fi
done
echo
echo "Took ${elapsed} s."
