/* ship_lag - how long a record appended at DURLOG_SYNC waits before the
 * stream has acknowledged it, with a shipping session following the log
 * (issue #20: p99 <= 20 ms at 10,000 records/s).
 *
 *   ship_lag --servers URL[,URL...] [--dir DIR] [--rate R] [--seconds S]
 *            [--threads T] [--window W] [--replicas N] [--stream NAME]
 *            [--subject SUBJ] [--no-ship]
 *
 * Opens a new log in a scratch directory under DIR, starts a shipping
 * session on it (libdurlog-ship: follow, create_stream, REPLICAS copies)
 * running durlog_ship_run in a thread, appends one record at sync and waits
 * until the stream has it (connection and stream creation are not
 * measured), then has T appender threads append 100-byte records at
 * DURLOG_SYNC paced at R records/s for S seconds: record i is due at
 * start + i / R, and whichever thread is free takes the next due record.
 * One thread cannot reach 10,000/s at sync (each append waits for an
 * fdatasync of 0.2-1 ms); several share fdatasyncs (group commit).
 *
 * A poller thread reads durlog_ship_get_stats every ~50 us: every record
 * below st.next_seq is in the stream, so when next_seq passes a record's
 * seq the poller stamps it acknowledged. Lag = that stamp - the moment the
 * record's durlog_append returned. Prints one line:
 *   ship_lag N records R rec/s lag_ms p50 A p90 B p99 C max D append_ms p50 E p99 F resyncs G unacked U
 * ("append_ms": from when a record was due to when its append returned,
 * which says whether the appenders kept to the pace; "unacked": records
 * the stream had not acknowledged 20 s after the last append, counted
 * with the lag they had then, a lower bound). Exit status 1 on any
 * failure, 2 on bad arguments.
 *
 * --no-ship: the same appends with no session (no --servers needed);
 * prints "ship_lag N records R rec/s append_ms p50 E p99 F no-ship". Run
 * next to `nats_plain latency` at the same rate, it gives the floor of the
 * lag under the machine load the appenders make (ship_bench.sh).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/benchlib.h"
#include "durlog.h"
#include "durlog_ship.h"

#define RECORD_SIZE 100
#define MAX_THREADS 256
/* How long the run may wait for the stream to catch up at the start and
 * at the end. */
#define WAIT_NS (60ull * 1000000000ull)
/* How long it waits at the end for the stream to acknowledge the rest. */
#define END_WAIT_NS (20ull * 1000000000ull)

static const char *servers, *parent = ".", *stream = "LAG", *subject = "lag.rec";
static double rate = 10000, seconds = 10;
static int threads = 16, replicas = 3, no_ship;
static uint64_t window = 4096;

static durlog *log_handle;
static durlog_ship *ship;
static uint64_t total;       /* timed records */
static uint64_t seq_base;    /* the first timed record's seq */
static uint64_t start_ns;    /* when record 0 is due */
static _Atomic uint64_t next_index;
static _Atomic int poller_stop;
static uint64_t *due_ns, *returned_ns, *acked_ns; /* by seq - seq_base */
static int run_rc;

static void on_failure(void)
{
    if (ship)
        durlog_ship_interrupt(ship);
}

static void sleep_until(uint64_t t_ns)
{
    struct timespec ts = { .tv_sec = (time_t)(t_ns / 1000000000ull),
                           .tv_nsec = (long)(t_ns % 1000000000ull) };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static void *run_session(void *arg)
{
    (void)arg;
    run_rc = durlog_ship_run(ship);
    return NULL;
}

static void *appender(void *arg)
{
    (void)arg;
    char *rec = bench_new_record(RECORD_SIZE);
    if (!rec)
        bench_die("out of memory");
    for (;;) {
        uint64_t i = atomic_fetch_add(&next_index, 1);
        if (i >= total)
            break;
        uint64_t due = start_ns + (uint64_t)((double)i * 1e9 / rate);
        if (bench_now_ns() < due)
            sleep_until(due);
        bench_stamp_record(rec, RECORD_SIZE, i);
        uint64_t seq;
        int rc = durlog_append(log_handle, rec, RECORD_SIZE, DURLOG_SYNC, &seq);
        uint64_t now = bench_now_ns();
        if (rc)
            bench_die_code("durlog_append", rc, durlog_errmsg(log_handle));
        if (seq < seq_base || seq - seq_base >= total)
            bench_die("record %" PRIu64 " out of the expected range", seq);
        /* Indexed by seq: the order threads took due times in need not be
         * the order their appends got seqs in; "due" is the due time of the
         * append that got this seq. */
        due_ns[seq - seq_base] = due;
        returned_ns[seq - seq_base] = now;
    }
    free(rec);
    return NULL;
}

/* Stamps each record when the stream has acknowledged it (next_seq passed
 * it). Sleeps ~50 us between looks. */
static void *poller(void *arg)
{
    (void)arg;
    uint64_t seen = seq_base;
    const struct timespec pause = { 0, 50000 };
    while (seen < seq_base + total && !atomic_load(&poller_stop)) {
        durlog_ship_stats st;
        durlog_ship_get_stats(ship, &st);
        uint64_t now = bench_now_ns();
        for (; seen < st.next_seq && seen < seq_base + total; seen++)
            acked_ns[seen - seq_base] = now;
        nanosleep(&pause, NULL);
    }
    return NULL;
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

/* --no-ship: the timed appends alone (the log is open, its first record
 * in), and how far behind their due times they returned. */
static int appends_only(void)
{
    pthread_t app[MAX_THREADS];
    start_ns = bench_now_ns() + 10000000; /* 10 ms for the threads to start */
    for (int t = 0; t < threads; t++)
        if (pthread_create(&app[t], NULL, appender, NULL) != 0)
            bench_die("cannot start appender %d", t);
    for (int t = 0; t < threads; t++)
        pthread_join(app[t], NULL);
    uint64_t end_ns = bench_now_ns();
    int rc = durlog_close(log_handle);
    if (rc)
        bench_die_code("durlog_close", rc, NULL);
    uint64_t *app_lat = malloc(total * sizeof *app_lat);
    if (!app_lat)
        bench_die("out of memory");
    for (uint64_t i = 0; i < total; i++)
        app_lat[i] = returned_ns[i] > due_ns[i] ? returned_ns[i] - due_ns[i] : 0;
    bench_sort_u64(app_lat, total);
    double took = (double)(end_ns - start_ns) / 1e9;
    printf("ship_lag %" PRIu64 " records %.0f rec/s append_ms p50 %.2f p99 %.2f no-ship\n", total,
           took > 0 ? (double)total / took : 0.0, ms(bench_percentile(app_lat, total, 0.50)),
           ms(bench_percentile(app_lat, total, 0.99)));
    free(app_lat);
    free(due_ns);
    free(returned_ns);
    free(acked_ns);
    return bench_scratch_remove() ? 1 : 0;
}

static void say_status(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "# ship_lag: %s\n", line);
}

int main(int argc, char **argv)
{
    static const char usage[] =
        "usage: ship_lag --servers URL[,URL...] [--dir DIR] [--rate R] [--seconds S]\n"
        "                [--threads T] [--window W] [--replicas N] [--stream NAME]\n"
        "                [--subject SUBJ] [--no-ship]\n";
    const struct bench_opt opts[] = {
        BENCH_OPT("--servers", 's', &servers),
        BENCH_OPT("--dir", 's', &parent),
        BENCH_OPT("--stream", 's', &stream),
        BENCH_OPT("--subject", 's', &subject),
        BENCH_OPT_RANGE("--rate", 'd', &rate, 1, 10000000),
        BENCH_OPT_RANGE("--seconds", 'd', &seconds, 0.1, 3600),
        BENCH_OPT_RANGE("--threads", 'i', &threads, 1, MAX_THREADS),
        BENCH_OPT_RANGE("--window", 'u', &window, 1, 1000000),
        BENCH_OPT_RANGE("--replicas", 'i', &replicas, 1, 5),
        BENCH_OPT("--no-ship", 'b', &no_ship),
        BENCH_OPT_END,
    };
    int rc = bench_parse_opts(argc, argv, opts, usage);
    if (rc)
        return rc;
    if (!servers && !no_ship) {
        fputs(usage, stderr);
        return 2;
    }
    total = (uint64_t)(rate * seconds);
    if (total < 1)
        total = 1;
    due_ns = calloc(total, sizeof *due_ns);
    returned_ns = calloc(total, sizeof *returned_ns);
    acked_ns = calloc(total, sizeof *acked_ns);
    if (!due_ns || !returned_ns || !acked_ns)
        bench_die("out of memory for %" PRIu64 " records", total);

    const char *dir = bench_scratch(parent, "ship-lag");
    char path[4200];
    snprintf(path, sizeof path, "%s/log", dir);
    char err[512] = "";
    durlog_options lo;
    durlog_options_init(&lo);
    lo.errbuf = err;
    lo.errbuf_size = sizeof err;
    if ((rc = durlog_open(path, &lo, &log_handle)) != 0)
        bench_die_code("durlog_open", rc, err);
    char *rec = bench_new_record(RECORD_SIZE);
    uint64_t first;
    if (!rec || (rc = durlog_append(log_handle, rec, RECORD_SIZE, DURLOG_SYNC, &first)) != 0)
        bench_die_code("the first append", rec ? rc : -ENOMEM, durlog_errmsg(log_handle));
    free(rec);
    seq_base = first + 1;

    if (no_ship)
        return appends_only();
    durlog_ship_options so;
    durlog_ship_options_init(&so);
    so.servers = servers;
    so.stream = stream;
    so.subject = subject;
    so.follow = 1;
    so.create_stream = 1;
    so.replicas = replicas;
    so.window = (unsigned)window;
    so.status = say_status;
    so.errbuf = err;
    so.errbuf_size = sizeof err;
    if ((rc = durlog_ship_open(path, DURLOG_SHIP_PUBLISH, &so, &ship)) != 0)
        bench_die_code("durlog_ship_open", rc, err);
    bench_at_failure(on_failure);
    pthread_t run_thread;
    if (pthread_create(&run_thread, NULL, run_session, NULL) != 0)
        bench_die("cannot start the session's thread");

    /* Connected, stream made, first record in: the timed part may start. */
    uint64_t give_up = bench_now_ns() + WAIT_NS;
    durlog_ship_stats st;
    for (;;) {
        durlog_ship_get_stats(ship, &st);
        if (st.next_seq >= seq_base)
            break;
        if (bench_now_ns() > give_up)
            bench_die("the stream did not acknowledge the first record in 60 s: %s",
                      durlog_ship_errmsg(ship));
        bench_pause_us(1000);
    }

    pthread_t poll_thread, app[MAX_THREADS];
    start_ns = bench_now_ns() + 10000000; /* 10 ms for the threads to start */
    if (pthread_create(&poll_thread, NULL, poller, NULL) != 0)
        bench_die("cannot start the poller");
    for (int t = 0; t < threads; t++)
        if (pthread_create(&app[t], NULL, appender, NULL) != 0)
            bench_die("cannot start appender %d", t);
    for (int t = 0; t < threads; t++)
        pthread_join(app[t], NULL);
    uint64_t end_ns = bench_now_ns();

    /* The poller ends once every record is acknowledged; bounded. */
    give_up = bench_now_ns() + END_WAIT_NS;
    for (;;) {
        durlog_ship_get_stats(ship, &st);
        if (st.next_seq >= seq_base + total || bench_now_ns() > give_up)
            break;
        bench_pause_us(10000);
    }
    atomic_store(&poller_stop, 1);
    pthread_join(poll_thread, NULL);
    durlog_ship_interrupt(ship);
    pthread_join(run_thread, NULL);
    durlog_ship_get_stats(ship, &st);
    if (run_rc)
        bench_die("durlog_ship_run: %s", durlog_ship_errmsg(ship));
    /* Records still unacknowledged count with the lag they had when the
     * run gave up (a lower bound), and are reported. */
    uint64_t unacked = 0, gave_up_ns = bench_now_ns();
    for (uint64_t i = 0; i < total; i++)
        if (!acked_ns[i]) {
            acked_ns[i] = gave_up_ns;
            unacked++;
        }
    durlog_ship_close(ship);
    ship = NULL;
    if ((rc = durlog_close(log_handle)) != 0)
        bench_die_code("durlog_close", rc, NULL);

    /* Lags. An ack stamp before the append's own return stamp (the poller
     * ran between the fdatasync and the appender's clock read) counts as
     * 0: the stream had it by the time the append returned. */
    uint64_t *lag = malloc(total * sizeof *lag), *app_lat = malloc(total * sizeof *app_lat);
    if (!lag || !app_lat)
        bench_die("out of memory");
    for (uint64_t i = 0; i < total; i++) {
        lag[i] = acked_ns[i] > returned_ns[i] ? acked_ns[i] - returned_ns[i] : 0;
        app_lat[i] = returned_ns[i] > due_ns[i] ? returned_ns[i] - due_ns[i] : 0;
    }
    bench_sort_u64(lag, total);
    bench_sort_u64(app_lat, total);
    double took = (double)(end_ns - start_ns) / 1e9;
    printf("ship_lag %" PRIu64 " records %.0f rec/s lag_ms p50 %.2f p90 %.2f p99 %.2f max %.2f "
           "append_ms p50 %.2f p99 %.2f resyncs %" PRIu64 " unacked %" PRIu64 "\n",
           total, took > 0 ? (double)total / took : 0.0,
           ms(bench_percentile(lag, total, 0.50)), ms(bench_percentile(lag, total, 0.90)),
           ms(bench_percentile(lag, total, 0.99)), ms(lag[total - 1]),
           ms(bench_percentile(app_lat, total, 0.50)), ms(bench_percentile(app_lat, total, 0.99)),
           st.resyncs, unacked);
    free(lag);
    free(app_lat);
    free(due_ns);
    free(returned_ns);
    free(acked_ns);
    return bench_scratch_remove() ? 1 : 0;
}
