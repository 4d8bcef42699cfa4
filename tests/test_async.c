/* Asynchronous appends: completions (callbacks, durlog_poll, the eventfd,
 * durlog_wait), what a completion promises, failures, backpressure, close,
 * and the choice of engine. scripts/check.sh runs this program under both
 * engines (DURLOG_ENGINE=io_uring, then =thread). */
#include <poll.h>

#include "lib/fixture.h"
#include "lib/logfiles.h"
#include "lib/payload.h"
#include "lib/seam.h"

#define EXTRA 200

/* What a test's callbacks saw. */
struct tally {
    _Atomic uint64_t calls;
    _Atomic uint64_t ok, failed;
    _Atomic int first_error;
    _Atomic uint64_t next_seq;     /* callbacks must come in sequence order */
    _Atomic uint64_t out_of_order;
    _Atomic uint64_t not_durable;  /* status 0 while durable_seq <= seq */
    _Atomic uint64_t on_main;      /* callbacks run on the test's thread */
    struct dl_shared *sh;          /* to look at durable_seq, or NULL */
    uint64_t records_each;         /* records per completion (batches) */
    _Atomic uint64_t when_ms;      /* tu_now_ms() at the last callback */
};

static pthread_t main_thread;

static void tally_init(struct tally *t, struct dl_shared *sh)
{
    memset(t, 0, sizeof *t);
    t->sh = sh;
    t->records_each = 1;
}

static void tally_cb(void *ctx, uint64_t seq, int status)
{
    struct tally *t = ctx;
    uint64_t expect = atomic_load(&t->next_seq);
    if (seq < expect)
        atomic_fetch_add(&t->out_of_order, 1);
    atomic_store(&t->next_seq, seq + t->records_each);
    if (status == 0) {
        atomic_fetch_add(&t->ok, 1);
        if (t->sh && atomic_load(&t->sh->durable_seq) < seq + t->records_each)
            atomic_fetch_add(&t->not_durable, 1);
    } else {
        int zero = 0;
        atomic_compare_exchange_strong(&t->first_error, &zero, status);
        atomic_fetch_add(&t->failed, 1);
    }
    if (pthread_equal(pthread_self(), main_thread))
        atomic_fetch_add(&t->on_main, 1);
    atomic_store(&t->when_ms, tu_now_ms());
    atomic_fetch_add(&t->calls, 1);
}

/* Waits up to ms for `n` callbacks; returns how many came. */
static uint64_t wait_calls(struct tally *t, uint64_t n, unsigned ms)
{
    uint64_t start = tu_now_ms();
    while (atomic_load(&t->calls) < n && tu_now_ms() - start < ms)
        tu_sleep_ms(1);
    return atomic_load(&t->calls);
}

static int append_async(durlog *log, uint64_t index, durlog_level level,
                        struct tally *t, uint64_t *seq)
{
    unsigned char buf[TU_PAYLOAD_MAX];
    size_t len = tu_payload(buf, 0, index, EXTRA);
    return durlog_append_async(log, buf, len, level, t ? tally_cb : NULL, t, seq);
}

/* Reads the log back: records 0..n-1 are writer 0's payloads 0..n-1. */
static void expect_log(const char *path, uint64_t n)
{
    uint64_t next = 0;
    CHECK_EQ_U64((uint64_t)tu_verify_log(path, 0, EXTRA, 1, &next), n);
    CHECK_EQ_U64(next, n);
}

/* A scratch log opened with o (NULL: the defaults), and its coordination
 * file mapped to look at the durable mark; NULL if either fails. */
static struct dl_shared *open_watched(struct scratch *s, const durlog_options *o,
                                      durlog **log)
{
    scratch_make(s);
    if (durlog_open(s->log, o, log) != 0)
        return NULL;
    return tu_map_shared(s->log);
}

static void callbacks_come_once_each_in_order_after_durability(void)
{
    struct scratch s;
    durlog *log = fx_open(&s, NULL);
    REQUIRE(log);
    /* The engine the suite asked for is the one in use: a run "under
     * io_uring" that silently used the thread would prove nothing. */
    const char *want = getenv("DURLOG_ENGINE");
    if (want && (strcmp(want, "io_uring") == 0 || strcmp(want, "thread") == 0))
        CHECK(strcmp(durlog_engine(log), want) == 0);
    struct dl_shared *sh = tu_map_shared(s.log);
    REQUIRE(sh);
    struct tally t;
    tally_init(&t, sh);
    const uint64_t n = 20000;
    uint64_t seq = 0;
    for (uint64_t i = 0; i < n; i++) {
        CHECK_OK(append_async(log, i, DURLOG_SYNC, &t, &seq));
        if (seq != i)
            CHECK_EQ_U64(seq, i);
    }
    CHECK_EQ_U64(wait_calls(&t, n, 20000), n);
    tu_sleep_ms(20); /* a second call for any record would show up here */
    CHECK_EQ_U64(atomic_load(&t.calls), n);
    CHECK_EQ_U64(atomic_load(&t.ok), n);
    CHECK_EQ_U64(atomic_load(&t.out_of_order), 0);
    CHECK_EQ_U64(atomic_load(&t.not_durable), 0);
    CHECK_EQ_U64(atomic_load(&t.on_main), 0); /* on the engine thread */
    CHECK(tu_durable(sh) >= n);
    CHECK_OK(fx_close(log));
    tu_unmap_shared(sh);
    expect_log(s.log, n);
}

/* published_seq when the latest completed fdatasync began: every record
 * below it was in the page cache before that fdatasync started. */
static _Atomic uint64_t covered;
static struct dl_shared *watched;

static int fdatasync_noting_coverage(int fd)
{
    uint64_t before = atomic_load(&watched->published_seq);
    int rc = dl_os_real.fdatasync(fd);
    uint64_t cur = atomic_load(&covered);
    while (rc == 0 && cur < before && !atomic_compare_exchange_weak(&covered, &cur, before))
        ;
    return rc;
}

static _Atomic uint64_t premature;

static void coverage_cb(void *ctx, uint64_t seq, int status)
{
    (void)ctx;
    if (status != 0 || seq >= atomic_load(&covered))
        atomic_fetch_add(&premature, 1);
}

static void no_completion_before_an_fdatasync_that_began_after_the_record(void)
{
    struct scratch s;
    durlog *log = fx_open(&s, NULL);
    REQUIRE(log);
    watched = tu_map_shared(s.log);
    REQUIRE(watched);
    atomic_store(&covered, 0);
    atomic_store(&premature, 0);
    dl_os.fdatasync = fdatasync_noting_coverage;
    unsigned char buf[TU_PAYLOAD_MAX];
    uint64_t seq = 0;
    for (uint64_t i = 0; i < 5000; i++) {
        if (i % 50 == 0)
            tu_sleep_ms(1); /* let many fdatasyncs happen in between */
        size_t len = tu_payload(buf, 0, i, EXTRA);
        CHECK_OK(durlog_append_async(log, buf, len, DURLOG_SYNC, coverage_cb, NULL, &seq));
    }
    CHECK_OK(durlog_wait(log, seq, DURLOG_SYNC, 10000));
    CHECK_OK(fx_close(log)); /* delivers every completion */
    CHECK_EQ_U64(atomic_load(&premature), 0);
    CHECK(atomic_load(&covered) >= 5000);
    tu_restore_os();
    tu_unmap_shared(watched);
}

static void kernel_completions_need_no_fdatasync(void)
{
    struct scratch s;
    durlog *log = fx_open(&s, NULL);
    REQUIRE(log);
    tu_count_fdatasync();
    struct tally t;
    tally_init(&t, NULL);
    for (uint64_t i = 0; i < 1000; i++)
        CHECK_OK(append_async(log, i, DURLOG_KERNEL, &t, NULL));
    CHECK_EQ_U64(wait_calls(&t, 1000, 10000), 1000);
    CHECK_EQ_U64(atomic_load(&t.ok), 1000);
    CHECK_EQ_U64(atomic_load(&t.out_of_order), 0);
    /* Readers see them already. */
    durlog_reader *r;
    durlog_info info;
    REQUIRE(durlog_reader_open(s.log, NULL, &r) == 0);
    CHECK_OK(durlog_reader_get_info(r, &info));
    CHECK_EQ_U64(info.next_seq, 1000);
    durlog_reader_close(r);
    CHECK_EQ_U64(atomic_load(&tu_fdatasync_calls), 0);
    /* Closing it, the last writer leaves the log durable and checkpointed
     * (a clean shutdown): that is the first fdatasync. */
    CHECK_OK(fx_close(log));
    CHECK(atomic_load(&tu_fdatasync_calls) >= 1);
    tu_restore_os();
    expect_log(s.log, 1000);
}

static void interval_completions_wait_for_the_interval(void)
{
    struct scratch s;
    durlog_options o = { .interval_ms = 300 };
    durlog *log;
    struct dl_shared *sh = open_watched(&s, &o, &log);
    REQUIRE(sh);
    struct tally t;
    tally_init(&t, sh);
    uint64_t start = tu_now_ms();
    for (uint64_t i = 0; i < 10; i++)
        CHECK_OK(append_async(log, i, DURLOG_INTERVAL, &t, NULL));
    tu_sleep_ms(100);
    /* Not durable yet, so not complete (unless the machine stalled for the
     * whole interval, which the elapsed time would show). */
    if (tu_now_ms() - start < 250)
        CHECK_EQ_U64(atomic_load(&t.calls), 0);
    CHECK_EQ_U64(wait_calls(&t, 10, 10000), 10);
    CHECK_EQ_U64(atomic_load(&t.ok), 10);
    CHECK_EQ_U64(atomic_load(&t.not_durable), 0);
    CHECK(atomic_load(&t.when_ms) - start >= 290);
    CHECK_OK(durlog_close(log));
    tu_unmap_shared(sh);
}

static void batch_completes_once_with_its_first_seq(void)
{
    struct scratch s;
    durlog *log;
    struct dl_shared *sh = open_watched(&s, NULL, &log);
    REQUIRE(sh);
    struct tally t;
    tally_init(&t, sh);
    t.records_each = 10;
    unsigned char bufs[10][TU_PAYLOAD_MAX];
    durlog_iov iov[10];
    for (uint64_t b = 0; b < 3; b++) {
        for (int i = 0; i < 10; i++) {
            iov[i].data = bufs[i];
            iov[i].len = tu_payload(bufs[i], 0, b * 10 + (uint64_t)i, EXTRA);
        }
        uint64_t first = 0;
        CHECK_OK(durlog_append_batch_async(log, iov, 10, DURLOG_SYNC, tally_cb, &t, &first));
        CHECK_EQ_U64(first, b * 10);
    }
    CHECK_EQ_U64(wait_calls(&t, 3, 10000), 3);
    tu_sleep_ms(20);
    CHECK_EQ_U64(atomic_load(&t.calls), 3);
    CHECK_EQ_U64(atomic_load(&t.ok), 3);
    CHECK_EQ_U64(atomic_load(&t.out_of_order), 0);
    CHECK_EQ_U64(atomic_load(&t.not_durable), 0); /* the whole batch */
    /* Empty batches and buffered async appends are refused. */
    uint64_t seq = 7;
    CHECK_RC(durlog_append_batch_async(log, iov, 0, DURLOG_SYNC, tally_cb, &t, &seq),
             -EINVAL);
    CHECK_EQ_U64(seq, DURLOG_SEQ_PENDING);
    CHECK_RC(append_async(log, 30, DURLOG_BUFFERED, &t, NULL), -EINVAL);
    CHECK_RC(append_async(log, 30, (durlog_level)9, &t, NULL), -EINVAL);
    CHECK_OK(durlog_close(log));
    CHECK_EQ_U64(atomic_load(&t.calls), 3);
    tu_unmap_shared(sh);
    expect_log(s.log, 30);
}

static void poll_mode_runs_callbacks_only_in_durlog_poll(void)
{
    struct scratch s;
    durlog *other, *log = fx_open(&s, &(durlog_options){ .poll_callbacks = 1 });
    REQUIRE(log);
    struct dl_shared *sh = tu_map_shared(s.log);
    REQUIRE(sh);
    struct tally t;
    tally_init(&t, sh);
    uint64_t seq = 0;
    for (uint64_t i = 0; i < 100; i++)
        CHECK_OK(append_async(log, i, DURLOG_SYNC, &t, &seq));
    CHECK_OK(durlog_wait(log, seq, DURLOG_SYNC, 10000));
    tu_sleep_ms(50);
    CHECK_EQ_U64(atomic_load(&t.calls), 0); /* nobody polled */
    uint64_t start = tu_now_ms();
    while (atomic_load(&t.calls) < 100 && tu_now_ms() - start < 10000) {
        int n = durlog_poll(log, 100);
        CHECK(n >= 0);
    }
    CHECK_EQ_U64(atomic_load(&t.calls), 100);
    CHECK_EQ_U64(atomic_load(&t.on_main), 100);
    CHECK_EQ_U64(atomic_load(&t.ok), 100);
    CHECK_EQ_U64(atomic_load(&t.out_of_order), 0);
    CHECK_EQ_U64(atomic_load(&t.not_durable), 0);
    /* Nothing left: a poll with a short timeout returns 0. */
    CHECK_RC(durlog_poll(log, 10), 0);
    /* Without poll_callbacks, durlog_poll is refused. */
    REQUIRE(durlog_open(s.log, NULL, &other) == 0);
    CHECK_RC(durlog_poll(other, 0), -EINVAL);
    CHECK_OK(durlog_close(other));
    CHECK_OK(fx_close(log));
    tu_unmap_shared(sh);
}

static int readable(int fd, int ms)
{
    struct pollfd p = { fd, POLLIN, 0 };
    return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

static void event_fd_becomes_readable(void)
{
    struct scratch s;
    scratch_make(&s);
    for (int mode = 0; mode < 2; mode++) {
        durlog_options o = { .poll_callbacks = mode };
        durlog *log;
        REQUIRE(durlog_open(s.log, &o, &log) == 0);
        int fd = durlog_event_fd(log);
        REQUIRE(fd >= 0);
        CHECK_EQ_U64((uint64_t)durlog_event_fd(log), (uint64_t)fd); /* one per handle */
        struct tally t;
        tally_init(&t, NULL);
        /* Drain: it starts readable. */
        if (mode)
            CHECK_RC(durlog_poll(log, 0), 0);
        else {
            uint64_t v;
            CHECK(read(fd, &v, sizeof v) == (ssize_t)sizeof v);
        }
        CHECK(!readable(fd, 0));
        CHECK_OK(append_async(log, 0, DURLOG_SYNC, &t, NULL));
        CHECK(readable(fd, 10000));
        if (mode) {
            /* Readable means ready: one poll delivers it and drains it. */
            CHECK_RC(durlog_poll(log, 0), 1);
            CHECK_EQ_U64(atomic_load(&t.calls), 1);
            /* (It may turn readable again spuriously: that costs a poll
             * that delivers nothing, never a lost completion.) */
            CHECK_RC(durlog_poll(log, 0), 0);
        } else {
            /* Readable after the engine thread ran the callback. */
            CHECK_EQ_U64(atomic_load(&t.calls), 1);
        }
        CHECK_OK(durlog_close(log));
    }
}

static void durlog_wait_blocks_on_an_async_record(void)
{
    struct scratch s;
    durlog *log = fx_open(&s, NULL);
    REQUIRE(log);
    uint64_t seq = 99;
    for (uint64_t i = 0; i < 200; i++)
        CHECK_OK(append_async(log, i, DURLOG_SYNC, NULL, &seq)); /* no callback */
    CHECK_EQ_U64(seq, 199);
    CHECK_OK(durlog_wait(log, seq, DURLOG_SYNC, 10000));
    durlog_info info;
    CHECK_OK(durlog_get_info(log, &info));
    CHECK(info.durable_seq > seq);
    CHECK_OK(fx_close(log));
    expect_log(s.log, 200);
}


static void failed_tu_fdatasync_fails_every_pending_completion(void)
{
    struct scratch s;
    durlog *log;
    struct dl_shared *sh = open_watched(&s, NULL, &log);
    REQUIRE(sh);
    struct tally t;
    tally_init(&t, sh);
    for (uint64_t i = 0; i < 10; i++)
        CHECK_OK(append_async(log, i, DURLOG_SYNC, &t, NULL));
    CHECK_EQ_U64(wait_calls(&t, 10, 10000), 10);
    CHECK_EQ_U64(atomic_load(&t.ok), 10);

    atomic_store(&tu_fdatasync_fails, 1);
    dl_os.fdatasync = tu_fdatasync_maybe_eio;
    /* Appends are accepted until the failure is known (how many depends
     * on timing); the ones after it fail (checked below). */
    uint64_t accepted = 0;
    int rc = 0;
    for (uint64_t i = 10; i < 60 && rc == 0; i++) {
        rc = append_async(log, i, DURLOG_SYNC, &t, NULL);
        if (rc == 0)
            accepted++;
    }
    CHECK_EQ_U64(wait_calls(&t, 10 + accepted, 10000), 10 + accepted);
    /* Every accepted one failed; none was reported durable. */
    CHECK_EQ_U64(atomic_load(&t.ok), 10);
    CHECK_EQ_U64(atomic_load(&t.failed), accepted);
    int err = atomic_load(&t.first_error);
    CHECK(err == -EIO || err == DURLOG_EFAILED);
    CHECK_EQ_U64(atomic_load(&t.not_durable), 0);
    CHECK(atomic_load(&sh->failed));
    CHECK_EQ_U64(tu_durable(sh), 10);

    /* Even once fdatasync works again, nothing is accepted: no callback. */
    atomic_store(&tu_fdatasync_fails, 0);
    rc = append_async(log, 60, DURLOG_SYNC, &t, NULL);
    CHECK(rc == -EIO || rc == DURLOG_EFAILED);
    rc = append_async(log, 60, DURLOG_KERNEL, &t, NULL);
    CHECK(rc == -EIO || rc == DURLOG_EFAILED);
    CHECK(durlog_close(log) != 0);
    CHECK_EQ_U64(atomic_load(&t.calls), 10 + accepted);
    tu_restore_os();
    tu_unmap_shared(sh);

    /* Reopening recovers: the records acknowledged durable are all there. */
    REQUIRE(durlog_open(s.log, NULL, &log) == 0);
    durlog_info info;
    CHECK_OK(durlog_get_info(log, &info));
    CHECK(info.next_seq >= 10);
    uint64_t seq;
    CHECK_OK(durlog_append(log, "after", 5, DURLOG_SYNC, &seq));
    CHECK_EQ_U64(seq, info.next_seq);
    CHECK_OK(durlog_close(log));
}

static int fdatasync_slowly(int fd)
{
    tu_sleep_ms(5);
    return dl_os_real.fdatasync(fd);
}

static void max_pending_applies_backpressure(void)
{
    struct scratch s;
    durlog_options o = { .max_pending = 4 };
    durlog *log = fx_open(&s, &o);
    REQUIRE(log);
    dl_os.fdatasync = fdatasync_slowly;
    struct tally t;
    tally_init(&t, NULL);
    uint64_t worst = 0;
    for (uint64_t i = 0; i < 40; i++) {
        CHECK_OK(append_async(log, i, DURLOG_SYNC, &t, NULL));
        uint64_t outstanding = i + 1 - atomic_load(&t.calls);
        if (outstanding > worst)
            worst = outstanding;
    }
    /* At most 4 in the queue; a deliverer frees slots just before it runs
     * their callbacks, so up to 4 more may be freed but not yet counted.
     * Without backpressure all 40 would be outstanding behind the slow
     * fdatasyncs. */
    CHECK(worst <= 8);
    CHECK_OK(fx_close(log));
    CHECK_EQ_U64(atomic_load(&t.calls), 40);
    CHECK_EQ_U64(atomic_load(&t.ok), 40);
    tu_restore_os();

    /* With poll_callbacks nobody else would make room: -EAGAIN, at once. */
    o.poll_callbacks = 1;
    REQUIRE((log = fx_writer(s.log, &o)));
    tally_init(&t, NULL);
    for (uint64_t i = 40; i < 44; i++)
        CHECK_OK(append_async(log, i, DURLOG_KERNEL, &t, NULL));
    CHECK_RC(append_async(log, 44, DURLOG_KERNEL, &t, NULL), -EAGAIN);
    CHECK(strstr(durlog_errmsg(log), "durlog_poll") != NULL);
    CHECK_RC(durlog_poll(log, 5000), 4);
    CHECK_OK(append_async(log, 44, DURLOG_KERNEL, &t, NULL));
    CHECK_OK(fx_close(log));
    CHECK_EQ_U64(atomic_load(&t.calls), 5);
    expect_log(s.log, 45); /* the refused append wrote nothing */
}

static void close_delivers_every_pending_completion(void)
{
    struct scratch s;
    scratch_make(&s);
    for (int mode = 0; mode < 2; mode++) {
        durlog_options o = { .poll_callbacks = mode };
        o.interval_ms = 60000; /* interval records are owed at close */
        durlog *log;
        REQUIRE(durlog_open(s.log, &o, &log) == 0);
        struct dl_shared *sh = tu_map_shared(s.log);
        REQUIRE(sh);
        struct tally t;
        tally_init(&t, sh);
        uint64_t base = (uint64_t)mode * 1000;
        for (uint64_t i = 0; i < 1000; i++)
            CHECK_OK(append_async(log, base + i, i % 2 ? DURLOG_INTERVAL : DURLOG_SYNC,
                                  &t, NULL));
        CHECK_OK(durlog_close(log));
        CHECK_EQ_U64(atomic_load(&t.calls), 1000);
        CHECK_EQ_U64(atomic_load(&t.ok), 1000);
        CHECK_EQ_U64(atomic_load(&t.not_durable), 0);
        CHECK_EQ_U64(atomic_load(&t.out_of_order), 0);
        CHECK(tu_durable(sh) >= base + 1000);
        tu_unmap_shared(sh);
    }
    expect_log(s.log, 2000);
}

/* What a callback on the engine thread could do with its own handle. */
static durlog *cb_log;
static _Atomic int cb_close_rc, cb_append_rc, cb_chained, cb_poll_rc;
static int cb_poll_mode;

static void chained_cb(void *ctx, uint64_t seq, int status)
{
    (void)ctx;
    (void)seq;
    (void)status;
    atomic_fetch_add(&cb_chained, 1);
}

static void appending_cb(void *ctx, uint64_t seq, int status)
{
    (void)ctx;
    (void)seq;
    (void)status;
    atomic_store(&cb_close_rc, durlog_close(cb_log));
    unsigned char buf[TU_PAYLOAD_MAX];
    size_t len = tu_payload(buf, 0, 1, EXTRA);
    atomic_store(&cb_append_rc, durlog_append_async(cb_log, buf, len, DURLOG_SYNC,
                                                     chained_cb, NULL, NULL));
    if (cb_poll_mode)
        atomic_store(&cb_poll_rc, durlog_poll(cb_log, 0));
}

static void callback_may_append_but_not_close(void)
{
    struct scratch s;
    scratch_make(&s);
    for (int mode = 0; mode < 2; mode++) {
        durlog_options o = { .poll_callbacks = cb_poll_mode = mode };
        REQUIRE(durlog_open(s.log, &o, &cb_log) == 0);
        atomic_store(&cb_close_rc, 1);
        atomic_store(&cb_append_rc, 1);
        atomic_store(&cb_poll_rc, 1);
        atomic_store(&cb_chained, 0);
        unsigned char buf[TU_PAYLOAD_MAX];
        size_t len = tu_payload(buf, 0, 0, EXTRA);
        uint64_t seq;
        CHECK_OK(durlog_append_async(cb_log, buf, len, DURLOG_SYNC, appending_cb,
                                     NULL, &seq));
        uint64_t start = tu_now_ms();
        while (atomic_load(&cb_chained) == 0 && tu_now_ms() - start < 10000) {
            if (mode)
                durlog_poll(cb_log, 10);
            else
                tu_sleep_ms(1);
        }
        CHECK_RC(atomic_load(&cb_close_rc), -EDEADLK);
        CHECK_RC(atomic_load(&cb_append_rc), 0);
        CHECK_EQ_U64(atomic_load(&cb_chained), 1);
        if (mode)
            CHECK_RC(atomic_load(&cb_poll_rc), -EDEADLK);
        CHECK_OK(durlog_close(cb_log)); /* still open and usable */
        test_rmrf(s.log);
    }
}

/* Callbacks that durlog_close() itself runs may append: close syncs and
 * delivers those too, and starts no thread that would outlive the handle. */
static struct tally close_tally;
static durlog *closing_log;
static _Atomic int chain_left;

static void chaining_cb(void *ctx, uint64_t seq, int status)
{
    tally_cb(ctx, seq, status);
    if (atomic_fetch_sub(&chain_left, 1) > 0) {
        unsigned char buf[TU_PAYLOAD_MAX];
        size_t len = tu_payload(buf, 0, seq + 1, EXTRA);
        int rc = durlog_append_async(closing_log, buf, len,
                                     seq % 2 ? DURLOG_INTERVAL : DURLOG_SYNC,
                                     chaining_cb, ctx, NULL);
        if (rc)
            atomic_fetch_add(&close_tally.failed, 1000);
    }
}

static void callbacks_run_by_close_may_append(void)
{
    struct scratch s;
    scratch_make(&s);
    for (int mode = 0; mode < 2; mode++) {
        durlog_options o = { .poll_callbacks = mode, .interval_ms = 60000 };
        REQUIRE(durlog_open(s.log, &o, &closing_log) == 0);
        struct dl_shared *sh = tu_map_shared(s.log);
        REQUIRE(sh);
        tally_init(&close_tally, sh);
        durlog_info info;
        CHECK_OK(durlog_get_info(closing_log, &info));
        uint64_t first = info.next_seq;
        atomic_store(&chain_left, 5);
        dl_os.fdatasync = fdatasync_slowly; /* close meets the chain mid-way */
        unsigned char buf[TU_PAYLOAD_MAX];
        size_t len = tu_payload(buf, 0, first, EXTRA);
        CHECK_OK(durlog_append_async(closing_log, buf, len, DURLOG_SYNC,
                                     chaining_cb, &close_tally, NULL));
        CHECK_OK(durlog_close(closing_log));
        tu_restore_os();
        /* Every record of the chain was made durable and reported so. */
        CHECK_EQ_U64(atomic_load(&close_tally.calls), 6);
        CHECK_EQ_U64(atomic_load(&close_tally.ok), 6);
        CHECK_EQ_U64(atomic_load(&close_tally.failed), 0);
        CHECK_EQ_U64(atomic_load(&close_tally.not_durable), 0);
        CHECK(tu_durable(sh) >= first + 6);
        tu_unmap_shared(sh);
    }
}

/* durlog_errmsg() inside a callback describes the callback's own failure. */
static char cb_errmsg[512];

static void failing_append_cb(void *ctx, uint64_t seq, int status)
{
    (void)ctx;
    (void)seq;
    (void)status;
    int rc = durlog_append(cb_log, "x", 1, (durlog_level)42, NULL);
    snprintf(cb_errmsg, sizeof cb_errmsg, "%d %s", rc, durlog_errmsg(cb_log));
}

static void errmsg_in_a_callback_describes_its_own_failure(void)
{
    struct scratch s;
    scratch_make(&s);
    REQUIRE(durlog_open(s.log, NULL, &cb_log) == 0);
    cb_errmsg[0] = '\0';
    uint64_t seq;
    CHECK_OK(durlog_append_async(cb_log, "a", 1, DURLOG_SYNC, failing_append_cb,
                                 NULL, &seq));
    CHECK_OK(durlog_wait(cb_log, seq, DURLOG_SYNC, 10000));
    CHECK_OK(durlog_close(cb_log)); /* delivers it, if the engine has not */
    CHECK(strstr(cb_errmsg, "-22 ") == cb_errmsg); /* -EINVAL */
    CHECK(strstr(cb_errmsg, "level") != NULL);
    if (!strstr(cb_errmsg, "level"))
        fprintf(stderr, "  callback saw: %s\n", cb_errmsg);
}

/* pwrite calls the test's thread made past a segment's header (writing
 * records, not a new segment's or a seal's header), and whether the next
 * one fails (ENOSPC). */
static _Atomic uint64_t pwrites_seen;
static _Atomic int pwrite_fails;

static ssize_t pwrite_counting(int fd, const void *buf, size_t len, off_t off)
{
    if (off < DL_SEG_HEADER_SIZE || !pthread_equal(pthread_self(), main_thread))
        return dl_os_real.pwrite(fd, buf, len, off);
    atomic_fetch_add(&pwrites_seen, 1);
    if (atomic_exchange(&pwrite_fails, 0)) {
        errno = ENOSPC;
        return -1;
    }
    return dl_os_real.pwrite(fd, buf, len, off);
}

/* In mmap mode, asynchronous `sync` appends write their records with pwrite
 * (writer.c: writes_by_pwrite), so that the fdatasyncs behind them have no
 * mapping to write-protect; `kernel` appends of the same handle still store
 * through the mapping. Both land in one order, across segment rolls; a
 * failed pwrite appends nothing and queues no completion; every callback
 * still comes only after an fdatasync that covered its record. */
static void async_sync_records_are_written_with_pwrite_beside_stores(void)
{
    tu_io_mode("mmap");
    struct scratch s;
    /* Small segments: staged records must go to the segment they left. */
    durlog *log = fx_open(&s, &(durlog_options){ .segment_size = 64 * 1024 });
    REQUIRE(log);
    CHECK(strcmp(durlog_io(log), "mmap") == 0);
    struct dl_shared *sh = tu_map_shared(s.log);
    REQUIRE(sh);
    struct tally t;
    tally_init(&t, sh);
    atomic_store(&pwrites_seen, 0);
    atomic_store(&pwrite_fails, 0);
    dl_os.pwrite = pwrite_counting;
    const uint64_t rounds = 2000;
    uint64_t index = 0, async_calls = 0, seq;
    for (uint64_t i = 0; i < rounds; i++) {
        uint64_t before = atomic_load(&pwrites_seen);
        CHECK_OK(tu_append_payload(log, 0, index++, EXTRA, DURLOG_KERNEL, &seq));
        if (atomic_load(&pwrites_seen) != before)
            CHECK_EQ_U64(atomic_load(&pwrites_seen), before); /* a store */
        before = atomic_load(&pwrites_seen);
        CHECK_OK(append_async(log, index, DURLOG_SYNC, &t, &seq));
        CHECK_EQ_U64(seq, index);
        index++;
        async_calls++;
        CHECK(atomic_load(&pwrites_seen) > before);
        if (i == rounds / 2) {
            /* A write that fails: nothing appended, no completion. */
            atomic_store(&pwrite_fails, 1);
            CHECK_RC(append_async(log, index, DURLOG_SYNC, &t, &seq), -ENOSPC);
            CHECK_EQ_U64(atomic_load(&sh->published_seq), index);
        }
    }
    CHECK_EQ_U64(wait_calls(&t, async_calls, 20000), async_calls);
    CHECK_EQ_U64(atomic_load(&t.ok), async_calls);
    CHECK_EQ_U64(atomic_load(&t.not_durable), 0);
    CHECK_OK(fx_close(log));
    tu_restore_os();
    tu_unmap_shared(sh);
    tu_io_mode(NULL);
    expect_log(s.log, index);
    /* Reopened: nothing to cut (the failed write left no bytes behind). */
    REQUIRE(durlog_open(s.log, NULL, &log) == 0);
    durlog_recovery rep;
    durlog_last_recovery(log, &rep);
    CHECK_EQ_U64(rep.bytes_cut, 0);
    CHECK_OK(durlog_close(log));
}

static int uring_init_refused(unsigned entries, void *ring)
{
    (void)entries;
    (void)ring;
    return -EPERM; /* as kernel.io_uring_disabled=2 or a seccomp filter */
}

static void io_uring_unavailable_falls_back_to_the_thread_engine(void)
{
    struct scratch s;
    scratch_make(&s);
    char *saved = getenv("DURLOG_ENGINE") ? strdup(getenv("DURLOG_ENGINE")) : NULL;
    setenv("DURLOG_ENGINE", "auto", 1);
    durlog_options o = { 0 };
    char err[512] = "";
    o.errbuf = err;
    o.errbuf_size = sizeof err;
    durlog *log;

#ifdef DURLOG_HAVE_LIBURING
    /* This machine has io_uring: the automatic choice takes it. */
    REQUIRE(durlog_open(s.log, &o, &log) == 0);
    CHECK(strcmp(durlog_engine(log), "io_uring") == 0);
    CHECK_OK(durlog_close(log));
#endif

    dl_os.uring_init = uring_init_refused;
    REQUIRE(durlog_open(s.log, &o, &log) == 0);
    CHECK(strcmp(durlog_engine(log), "thread") == 0);
    struct tally t;
    tally_init(&t, NULL);
    for (uint64_t i = 0; i < 100; i++)
        CHECK_OK(append_async(log, i, DURLOG_SYNC, &t, NULL));
    CHECK_EQ_U64(wait_calls(&t, 100, 10000), 100);
    CHECK_EQ_U64(atomic_load(&t.ok), 100);
    CHECK_OK(durlog_close(log));

    /* Asked for by name, its absence is an error that says why. */
    o.engine = DURLOG_ENGINE_IO_URING;
    CHECK_RC(durlog_open(s.log, &o, &log), -EPERM);
    CHECK(strstr(err, "io_uring") != NULL);
    tu_restore_os();

    /* The environment forces the thread engine; nonsense is refused. */
    o.engine = DURLOG_ENGINE_AUTO;
    setenv("DURLOG_ENGINE", "thread", 1);
    REQUIRE(durlog_open(s.log, &o, &log) == 0);
    CHECK(strcmp(durlog_engine(log), "thread") == 0);
    CHECK_OK(durlog_close(log));
    setenv("DURLOG_ENGINE", "turbo", 1);
    CHECK_RC(durlog_open(s.log, &o, &log), -EINVAL);
    CHECK(strstr(err, "DURLOG_ENGINE") != NULL);
    o.engine = (durlog_engine_kind)7;
    CHECK_RC(durlog_open(s.log, &o, &log), -EINVAL);

    if (saved) {
        setenv("DURLOG_ENGINE", saved, 1);
        free(saved);
    } else {
        unsetenv("DURLOG_ENGINE");
    }
    expect_log(s.log, 100);
}

#define ASYNC_THREADS 4
#define ASYNC_PER_THREAD 5000

struct producer {
    durlog *log;
    struct tally *t;
    int id;
    int rc;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    unsigned char buf[TU_PAYLOAD_MAX];
    for (uint64_t i = 0; i < ASYNC_PER_THREAD && !p->rc; i++) {
        size_t len = tu_payload(buf, (uint32_t)p->id, i, EXTRA);
        durlog_level level = i % 3 == 0 ? DURLOG_SYNC : i % 3 == 1 ? DURLOG_KERNEL
                                                                   : DURLOG_INTERVAL;
        p->rc = durlog_append_async(p->log, buf, len, level, tally_cb, p->t, NULL);
    }
    return NULL;
}

static void many_threads_async_on_one_handle(void)
{
    struct scratch s;
    scratch_make(&s);
    durlog_options o = { .interval_ms = 5 };
    o.max_pending = 256; /* producers also meet backpressure */
    durlog *log;
    REQUIRE(durlog_open(s.log, &o, &log) == 0);
    struct tally t;
    tally_init(&t, NULL);
    pthread_t th[ASYNC_THREADS];
    struct producer p[ASYNC_THREADS];
    for (int i = 0; i < ASYNC_THREADS; i++) {
        p[i] = (struct producer){ log, &t, i, 0 };
        REQUIRE(pthread_create(&th[i], NULL, produce, &p[i]) == 0);
    }
    for (int i = 0; i < ASYNC_THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK_OK(p[i].rc);
    }
    const uint64_t n = ASYNC_THREADS * ASYNC_PER_THREAD;
    CHECK_EQ_U64(wait_calls(&t, n, 30000), n);
    CHECK_EQ_U64(atomic_load(&t.ok), n);
    CHECK_EQ_U64(atomic_load(&t.out_of_order), 0);
    CHECK_OK(durlog_close(log));
    /* Every writer's records are there, whole, in its order. */
    uint64_t next[ASYNC_THREADS] = { 0 };
    CHECK_EQ_U64((uint64_t)tu_verify_log(s.log, 0, EXTRA, ASYNC_THREADS, next), n);
    for (int i = 0; i < ASYNC_THREADS; i++)
        CHECK_EQ_U64(next[i], ASYNC_PER_THREAD);
}

/* durlog_poll() from inside any callback, of this handle or another, is
 * refused (-EDEADLK): with two handles whose callbacks poll each other, each
 * would wait for the other's deliverer for ever. */
static durlog *poll_a, *poll_b;
static _Atomic int nested_poll_rc, b_delivered;

static void polls_b_cb(void *ctx, uint64_t seq, int status)
{
    (void)ctx;
    (void)seq;
    (void)status;
    atomic_store(&nested_poll_rc, durlog_poll(poll_b, 0));
}

static void b_cb(void *ctx, uint64_t seq, int status)
{
    (void)ctx;
    (void)seq;
    CHECK_OK(status);
    atomic_fetch_add(&b_delivered, 1);
}

static void poll_from_any_callback_is_refused(void)
{
    struct scratch sa, sb;
    scratch_make(&sa);
    scratch_make(&sb);
    durlog_options o = { .poll_callbacks = 1 };
    REQUIRE(durlog_open(sb.log, &o, &poll_b) == 0);
    /* A's callbacks in poll mode, then on its engine thread. */
    for (int a_polls = 1; a_polls >= 0; a_polls--) {
        o.poll_callbacks = a_polls;
        REQUIRE(durlog_open(sa.log, &o, &poll_a) == 0);
        atomic_store(&nested_poll_rc, 1);
        atomic_store(&b_delivered, 0);
        uint64_t seq;
        CHECK_OK(durlog_append_async(poll_b, "b", 1, DURLOG_KERNEL, b_cb, NULL, &seq));
        CHECK_OK(durlog_append_async(poll_a, "a", 1, DURLOG_KERNEL, polls_b_cb, NULL, &seq));
        if (a_polls) {
            CHECK_RC(durlog_poll(poll_a, 5000), 1);
        } else {
            uint64_t start = tu_now_ms();
            while (atomic_load(&nested_poll_rc) == 1 && tu_now_ms() - start < 5000)
                tu_sleep_ms(1);
        }
        CHECK_RC(atomic_load(&nested_poll_rc), -EDEADLK);
        CHECK_EQ_U64(atomic_load(&b_delivered), 0); /* not from inside A's */
        CHECK_RC(durlog_poll(poll_b, 5000), 1);
        CHECK_EQ_U64(atomic_load(&b_delivered), 1);
        CHECK_OK(durlog_close(poll_a));
    }
    CHECK_OK(durlog_close(poll_b));
}

/* Closing handle Y from a callback of X delivers Y's last callbacks there,
 * inside X's: one of them closing X would wait for itself (it used to hang).
 * It fails with -EDEADLK; X stays open and usable. A hang ends the program
 * (SIGALRM): a failure, not a stuck suite. */
static _Atomic int close_y_rc, close_x_rc;

static void closes_x_cb(void *ctx, uint64_t seq, int status)
{
    (void)ctx;
    (void)seq;
    (void)status;
    atomic_store(&close_x_rc, durlog_close(poll_a));
}

static void closes_y_cb(void *ctx, uint64_t seq, int status)
{
    (void)ctx;
    (void)seq;
    (void)status;
    atomic_store(&close_y_rc, durlog_close(poll_b));
}

static void closing_a_handle_from_a_nested_callback_is_refused(void)
{
    struct scratch sa, sb;
    scratch_make(&sa);
    scratch_make(&sb);
    durlog_options o = { .poll_callbacks = 1 };
    REQUIRE(durlog_open(sa.log, &o, &poll_a) == 0);
    REQUIRE(durlog_open(sb.log, &o, &poll_b) == 0);
    atomic_store(&close_x_rc, 1);
    atomic_store(&close_y_rc, 1);
    CHECK_OK(durlog_append_async(poll_b, "y", 1, DURLOG_KERNEL, closes_x_cb, NULL, NULL));
    CHECK_OK(durlog_append_async(poll_a, "x", 1, DURLOG_KERNEL, closes_y_cb, NULL, NULL));
    alarm(20);
    CHECK_RC(durlog_poll(poll_a, 5000), 1);
    alarm(0);
    CHECK_RC(atomic_load(&close_y_rc), 0);       /* Y is closed */
    CHECK_RC(atomic_load(&close_x_rc), -EDEADLK); /* X is not */
    CHECK_OK(durlog_append(poll_a, "x", 1, DURLOG_SYNC, NULL));
    CHECK_OK(durlog_close(poll_a));
}

TEST_MAIN(
    main_thread = pthread_self();
    RUN(callbacks_come_once_each_in_order_after_durability);
    RUN(no_completion_before_an_fdatasync_that_began_after_the_record);
    RUN(kernel_completions_need_no_fdatasync);
    RUN(interval_completions_wait_for_the_interval);
    RUN(batch_completes_once_with_its_first_seq);
    RUN(poll_mode_runs_callbacks_only_in_durlog_poll);
    RUN(event_fd_becomes_readable);
    RUN(durlog_wait_blocks_on_an_async_record);
    RUN(failed_tu_fdatasync_fails_every_pending_completion);
    RUN(max_pending_applies_backpressure);
    RUN(close_delivers_every_pending_completion);
    RUN(callback_may_append_but_not_close);
    RUN(poll_from_any_callback_is_refused);
    RUN(closing_a_handle_from_a_nested_callback_is_refused);
    RUN(callbacks_run_by_close_may_append);
    RUN(errmsg_in_a_callback_describes_its_own_failure);
    RUN(async_sync_records_are_written_with_pwrite_beside_stores);
    RUN(io_uring_unavailable_falls_back_to_the_thread_engine);
    RUN(many_threads_async_on_one_handle);
)
