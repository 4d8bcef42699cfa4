/* Live readers: waiting for new records (in this or another process),
 * across segment rolls, durable-only views, read-only readers, spin mode. */
#include <sys/wait.h>

#include "lib/children.h"
#include "lib/fixture.h"
#include "lib/logfiles.h"
#include "lib/payload.h"
#include "lib/seam.h"

#define EXTRA 200

static void wait_times_out_when_nothing_arrives(void)
{
    struct scratch s;
    durlog *log = fx_open(&s, NULL);
    durlog_reader *r;
    durlog_record rec;
    REQUIRE(log);
    CHECK_OK(tu_append_payload(log, 0, 0, EXTRA, DURLOG_KERNEL, NULL));
    REQUIRE(durlog_reader_open(s.log, NULL, &r) == 0);
    CHECK_OK(durlog_reader_wait(r, 0)); /* one is there */
    CHECK_OK(durlog_reader_next(r, &rec));
    uint64_t start = tu_now_ms();
    CHECK_RC(durlog_reader_wait(r, 60), -ETIMEDOUT);
    CHECK(tu_now_ms() - start >= 55);
    CHECK_RC(durlog_reader_wait(r, 0), -ETIMEDOUT);
    durlog_reader_close(r);
    CHECK_OK(fx_close(log));
}

/* A child process appends `n` records, pausing now and then so that the
 * reader catches up and sleeps; small segments make it roll often. */
static int appending_child(const char *path, uint64_t n)
{
    durlog *log;
    durlog_options o = { .segment_size = 16384 };
    if (durlog_open(path, &o, &log))
        return 1;
    for (uint64_t i = 0; i < n; i++) {
        if (i % 50 == 0)
            tu_sleep_ms(2);
        if (tu_append_payload(log, 0, i, EXTRA, DURLOG_KERNEL, NULL))
            return 1;
    }
    return durlog_close(log) ? 1 : 0;
}

static void reader_follows_a_writer_in_another_process_across_rolls(void)
{
    struct scratch s;
    durlog *log = fx_open(&s, &(durlog_options){ .segment_size = 16384 });
    REQUIRE(log); /* creates the log */
    durlog_reader *r;
    REQUIRE(durlog_reader_open(s.log, NULL, &r) == 0);
    const uint64_t n = 2000;
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0)
        _exit(appending_child(s.log, n));
    uint64_t got = 0, timeouts = 0, bad = 0;
    uint64_t start = tu_now_ms();
    while (got < n && tu_now_ms() - start < 30000) {
        durlog_record rec;
        int rc = durlog_reader_next(r, &rec);
        if (rc == DURLOG_EEND) {
            if (durlog_reader_wait(r, 5000) == -ETIMEDOUT)
                timeouts++;
            continue;
        }
        CHECK_OK(rc);
        if (rc)
            break;
        uint32_t w;
        uint64_t idx;
        if (rec.seq != got || !tu_payload_check(&rec, EXTRA, &w, &idx) || idx != got)
            bad++;
        got++;
    }
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ_U64(got, n);   /* every record, once, in order */
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_U64(timeouts, 0); /* each wait ended with a record */
    durlog_record rec;
    CHECK_RC(durlog_reader_next(r, &rec), DURLOG_EEND);
    durlog_reader_close(r);
    CHECK_OK(fx_close(log));
}

static void durable_only_reader_sees_records_once_synced(void)
{
    struct scratch s;
    durlog *log = fx_open(&s, NULL);
    REQUIRE(log);
    durlog_reader_options ro = { .durable_only = 1 };
    durlog_reader *r, *all;
    durlog_record rec;
    REQUIRE(durlog_reader_open(s.log, &ro, &r) == 0);
    REQUIRE(durlog_reader_open(s.log, NULL, &all) == 0);
    CHECK_OK(tu_append_payload(log, 0, 0, EXTRA, DURLOG_KERNEL, NULL));
    /* Visible to a plain reader, not to the durable-only one. */
    CHECK_OK(durlog_reader_next(all, &rec));
    CHECK_RC(durlog_reader_next(r, &rec), DURLOG_EEND);
    CHECK_RC(durlog_reader_wait(r, 30), -ETIMEDOUT);
    /* Another thread syncs: the waiting durable-only reader wakes. */
    struct tu_later d = { .log = log, .delay_ms = 30, .level = DURLOG_SYNC, .flush = 1 };
    REQUIRE(tu_later_start(&d) == 0);
    uint64_t start = tu_now_ms();
    CHECK_OK(durlog_reader_wait(r, 5000));
    CHECK(tu_now_ms() - start < 4000);
    tu_later_join(&d);
    CHECK_OK(durlog_reader_next(r, &rec));
    CHECK_EQ_U64(rec.seq, 0);
    struct dl_shared *sh = tu_map_shared(s.log);
    REQUIRE(sh);
    CHECK(tu_durable(sh) > rec.seq);
    /* A sync append is visible to it as soon as the append returns. */
    CHECK_OK(tu_append_payload(log, 0, 1, EXTRA, DURLOG_SYNC, NULL));
    CHECK_OK(durlog_reader_next(r, &rec));
    CHECK_EQ_U64(rec.seq, 1);
    tu_unmap_shared(sh);
    durlog_reader_close(r);
    durlog_reader_close(all);
    CHECK_OK(fx_close(log));
}

static void read_only_reader_follows_by_polling(void)
{
    struct scratch s;
    durlog *log = fx_open(&s, NULL);
    REQUIRE(log);
    CHECK_OK(tu_append_payload(log, 0, 0, EXTRA, DURLOG_KERNEL, NULL));
    /* No write access to the coordination file (as for a user with read
     * permission only; tests may run as root, so the seam refuses instead). */
    tu_refuse_opens(DL_SHM_NAME, 1, TU_OPEN_WRITE, EACCES);
    durlog_reader *r;
    durlog_record rec;
    REQUIRE(durlog_reader_open(s.log, NULL, &r) == 0);
    tu_restore_os();
    CHECK_OK(durlog_reader_next(r, &rec));
    struct dl_shared *sh = tu_map_shared(s.log);
    REQUIRE(sh);
    struct tu_later d = { .log = log, .delay_ms = 30, .index = 1, .extra = EXTRA,
                          .level = DURLOG_KERNEL };
    REQUIRE(tu_later_start(&d) == 0);
    uint64_t start = tu_now_ms();
    CHECK_OK(durlog_reader_wait(r, 5000));
    CHECK(tu_now_ms() - start < 4000);
    CHECK_EQ_U64(atomic_load(&sh->published.count[0]) + atomic_load(&sh->published.count[1]), 0); /* it never registered */
    tu_later_join(&d);
    CHECK_OK(durlog_reader_next(r, &rec));
    CHECK_EQ_U64(rec.seq, 1);
    tu_unmap_shared(sh);
    durlog_reader_close(r);
    CHECK_OK(fx_close(log));
}

/* Sleepers counted on the publish queue, in both epochs. */
static int32_t publish_sleepers(struct dl_shared *sh)
{
    return atomic_load(&sh->published.count[0]) + atomic_load(&sh->published.count[1]);
}

static int reader_waiting_until_killed_main(void *arg)
{
    durlog_reader *r;
    durlog_record rec;
    if (durlog_reader_open(arg, NULL, &r))
        return 1;
    while (durlog_reader_next(r, &rec) == 0)
        ;
    durlog_reader_wait(r, 60000); /* killed in here */
    return 1;
}

/* A reader killed while it sleeps leaves itself counted, and writers would
 * then make a FUTEX_WAKE system call at every append from then on. Within
 * about a grace period of the first wake that finds nobody asleep, the dead
 * count is dropped. */
static void reader_killed_while_waiting_stops_costing_appends_a_wake(void)
{
    struct scratch s;
    durlog *log = fx_open(&s, NULL);
    /* Open throughout: a writer opening the log alone would rebuild the
     * coordination file, dropping every count anyway. No append yet, so no
     * library thread runs when the reader is forked. */
    REQUIRE(log);
    struct dl_shared *sh = tu_map_shared(s.log);
    REQUIRE(sh);
    uint64_t start;
    /* Killed while counted (a sleeper leaves and counts itself again every
     * 50 ms: a kill in between is tried again). */
    for (int attempt = 0; attempt < 5 && publish_sleepers(sh) == 0; attempt++) {
        pid_t pid = tu_fork(reader_waiting_until_killed_main, (void *)s.log);
        REQUIRE(pid > 0);
        start = tu_now_ms();
        while (publish_sleepers(sh) == 0 && tu_now_ms() - start < 10000)
            tu_sleep_ms(1);
        kill(pid, SIGKILL);
        tu_wait(pid);
    }
    CHECK_EQ_U64(publish_sleepers(sh), 1); /* it died counted */

    start = tu_now_ms();
    uint64_t i = 0;
    while (publish_sleepers(sh) != 0 && tu_now_ms() - start < 10000) {
        CHECK_OK(tu_append_payload(log, 0, i++, EXTRA, DURLOG_KERNEL, NULL));
        tu_sleep_ms(1);
    }
    uint64_t took = tu_now_ms() - start;
    fprintf(stderr, "  the dead reader's count was dropped after %" PRIu64 " ms\n", took);
    CHECK_EQ_U64(publish_sleepers(sh), 0);
    CHECK(took < DL_WAITQ_GRACE_NS / 1000000u + 2000);
    CHECK(took >= DL_WAITQ_GRACE_NS / 1000000u); /* not before the grace period */
    CHECK_OK(fx_close(log));
    tu_unmap_shared(sh);
}

/* A sleeper whose count was dropped (it overstayed the grace period) and
 * that leaves afterwards must not take the count below zero, where it would
 * hide the next sleeper from wakers. */
static void leaving_after_the_count_was_dropped_leaves_it_at_zero(void)
{
    struct dl_waitq q;
    memset(&q, 0, sizeof q);
    uint32_t ticket = dl_waitq_enter(&q);
    dl_waitq_wake(&q);                 /* nobody asleep: a new epoch */
    CHECK_EQ_U64(atomic_load(&q.epoch), 1);
    dl_waitq_wake(&q);                 /* within the grace period: kept */
    CHECK_EQ_U64(atomic_load(&q.count[ticket]), 1);
    /* Flipped by another waker after this one read the clock: kept. */
    atomic_store(&q.flip, ((dl_mono_ns() + DL_WAITQ_GRACE_NS / 2) << 1) | ticket);
    dl_waitq_wake(&q);
    CHECK_EQ_U64(atomic_load(&q.count[ticket]), 1);
    atomic_store(&q.flip, (1u << 1) | ticket); /* as if long ago: grace passed */
    dl_waitq_wake(&q);                 /* drops the old epoch's count */
    CHECK_EQ_U64(atomic_load(&q.count[ticket]), 0);
    dl_waitq_leave(&q, ticket);        /* the late leaver */
    CHECK_EQ_U64(atomic_load(&q.count[ticket]), 0);
    uint32_t next = dl_waitq_enter(&q);
    CHECK(atomic_load(&q.count[next]) == 1);
    dl_waitq_leave(&q, next);
}

static void spinning_reader_sees_an_append(void)
{
    struct scratch s;
    durlog *log = fx_open(&s, NULL);
    REQUIRE(log);
    /* Spins longer than the delay: the record is found while spinning. */
    durlog_reader_options ro = { .spin_us = 200000 };
    durlog_reader *r;
    durlog_record rec;
    REQUIRE(durlog_reader_open(s.log, &ro, &r) == 0);
    struct dl_shared *sh = tu_map_shared(s.log);
    REQUIRE(sh);
    struct tu_later d = { .log = log, .delay_ms = 20, .index = 1, .extra = EXTRA,
                          .level = DURLOG_KERNEL };
    REQUIRE(tu_later_start(&d) == 0);
    CHECK_OK(durlog_reader_wait(r, 5000));
    tu_later_join(&d);
    CHECK_OK(durlog_reader_next(r, &rec));
    CHECK_EQ_U64(rec.seq, 0);
    /* Nothing more: the spin gives up at the timeout. */
    uint64_t start = tu_now_ms();
    CHECK_RC(durlog_reader_wait(r, 30), -ETIMEDOUT);
    CHECK(tu_now_ms() - start >= 25);
    tu_unmap_shared(sh);
    durlog_reader_close(r);
    CHECK_OK(fx_close(log));
}

/* A copied log (no coordination file): a durable-only reader counts every
 * intact record as durable, and its info says the same. */
static void durable_only_reader_of_a_copied_log_sees_every_record(void)
{
    struct scratch s;
    durlog *log = fx_open(&s, NULL);
    REQUIRE(log);
    for (uint64_t i = 0; i < 5; i++)
        CHECK_OK(tu_append_payload(log, 0, i, EXTRA, DURLOG_KERNEL, NULL));
    CHECK_OK(fx_close(log));
    char shm[400];
    snprintf(shm, sizeof shm, "%s/%s", s.log, DL_SHM_NAME);
    REQUIRE(unlink(shm) == 0);
    durlog_reader_options ro = { .durable_only = 1 };
    durlog_reader *r;
    durlog_record rec;
    durlog_info info;
    REQUIRE(durlog_reader_open(s.log, &ro, &r) == 0);
    CHECK_OK(durlog_reader_get_info(r, &info));
    CHECK_EQ_U64(info.next_seq, 5);
    CHECK_EQ_U64(info.durable_seq, 5);
    uint64_t n = 0;
    while (durlog_reader_next(r, &rec) == 0)
        n++;
    CHECK_EQ_U64(n, 5);
    durlog_reader_close(r);
}

/* A durable-only reader with no writer around proves what is durable from
 * the segments, and kept that proof while the segment count, the tail's
 * name and its size stayed the same. A writer that came, appended at
 * DURLOG_SYNC and went while the reader did not look (a `durlog append`
 * run: the tail is allocated ahead, so its size does not move) left
 * records the reader never returned: `durlog tail -f --durable` showed
 * nothing more, for good. */
static void durable_only_reader_sees_records_of_a_writer_that_came_and_went(void)
{
    struct scratch s;
    durlog *log = fx_open(&s, NULL);
    REQUIRE(log);
    CHECK_OK(tu_append_payload(log, 0, 0, EXTRA, DURLOG_SYNC, NULL));
    CHECK_OK(fx_close(log));
    durlog_reader_options ro = { .durable_only = 1 };
    durlog_reader *r;
    durlog_record rec;
    REQUIRE(durlog_reader_open(s.log, &ro, &r) == 0);
    CHECK_OK(durlog_reader_next(r, &rec));
    CHECK_EQ_U64(rec.seq, 0);
    CHECK_RC(durlog_reader_next(r, &rec), DURLOG_EEND);
    for (uint64_t i = 1; i <= 3; i++) {
        log = fx_writer(s.log, NULL);
        REQUIRE(log);
        CHECK_OK(tu_append_payload(log, 0, i, EXTRA, DURLOG_SYNC, NULL));
        CHECK_OK(fx_close(log));
        CHECK_OK(durlog_reader_wait(r, 2000));
        CHECK_OK(durlog_reader_next(r, &rec));
        CHECK_EQ_U64(rec.seq, i);
    }
    durlog_reader_close(r);
}

TEST_MAIN(
    RUN(wait_times_out_when_nothing_arrives);
    RUN(reader_follows_a_writer_in_another_process_across_rolls);
    RUN(durable_only_reader_sees_records_once_synced);
    RUN(read_only_reader_follows_by_polling);
    RUN(reader_killed_while_waiting_stops_costing_appends_a_wake);
    RUN(leaving_after_the_count_was_dropped_leaves_it_at_zero);
    RUN(spinning_reader_sees_an_append);
    RUN(durable_only_reader_of_a_copied_log_sees_every_record);
    RUN(durable_only_reader_sees_records_of_a_writer_that_came_and_went);
)
