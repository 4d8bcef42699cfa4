/*
 * tests/lib/payload.h - self-checking payloads, for the tests where many
 * writers (threads or processes) append at once.
 *
 * A record says which writer appended it and its index in that writer's
 * sequence; its remaining bytes (and its length) are derived from those two
 * numbers, so a reader can prove a record is intact and put each writer's
 * records back in order without any other bookkeeping.
 */
#ifndef DURLOG_TEST_LIB_PAYLOAD_H
#define DURLOG_TEST_LIB_PAYLOAD_H

#include <pthread.h>

#include "../harness.h"
#include "timing.h"

/* Payload: writer (4 bytes), index (8 bytes), then derived filler. */
#define TU_PAYLOAD_HEAD 12
#define TU_PAYLOAD_MAX 1024

static inline uint64_t tu_payload_seed(uint32_t writer, uint64_t index)
{
    return ((uint64_t)writer << 40) ^ index ^ 0x5bd1e995u;
}

/* Length of record (writer, index) when payloads carry up to `extra_max`
 * filler bytes. */
static inline size_t tu_payload_len(uint32_t writer, uint64_t index, size_t extra_max)
{
    uint64_t s = tu_payload_seed(writer, index) | 1;
    return TU_PAYLOAD_HEAD + (size_t)(test_rand(&s) % (extra_max + 1));
}

/* Builds record (writer, index) in buf (TU_PAYLOAD_MAX bytes); returns its
 * length. */
static inline size_t tu_payload(unsigned char *buf, uint32_t writer,
                                uint64_t index, size_t extra_max)
{
    size_t len = tu_payload_len(writer, index, extra_max);
    memcpy(buf, &writer, 4);
    memcpy(buf + 4, &index, 8);
    test_fill(buf + TU_PAYLOAD_HEAD, len - TU_PAYLOAD_HEAD,
              tu_payload_seed(writer, index));
    return len;
}

/* Appends writer's record number `index` (with up to `extra` filler bytes). */
static inline int tu_append_payload(durlog *log, uint32_t writer, uint64_t index,
                                    size_t extra, durlog_level level, uint64_t *seq)
{
    unsigned char buf[TU_PAYLOAD_MAX];
    size_t len = tu_payload(buf, writer, index, extra);
    return durlog_append(log, buf, len, level, seq);
}

/* 1 if rec is an intact payload built by tu_payload (with the same
 * extra_max); sets *writer and *index. */
static inline int tu_payload_check(const durlog_record *rec, size_t extra_max,
                                   uint32_t *writer, uint64_t *index)
{
    unsigned char want[TU_PAYLOAD_MAX];
    *writer = UINT32_MAX;
    *index = UINT64_MAX;
    if (rec->len < TU_PAYLOAD_HEAD || rec->len > TU_PAYLOAD_MAX)
        return 0;
    memcpy(writer, rec->data, 4);
    memcpy(index, (const unsigned char *)rec->data + 4, 8);
    size_t len = tu_payload(want, *writer, *index, extra_max);
    return len == rec->len && memcmp(want, rec->data, len) == 0;
}

/* Reads a whole log and checks it: dense sequence numbers from `from_seq`,
 * every payload intact, and each writer's indices consecutive from
 * `first_index[w]` (updated to one past the last seen). Writers must be below
 * `writers`. Returns the number of records read, or -1 (after CHECK failures)
 * on a problem. */
static inline long tu_verify_log(const char *path, uint64_t from_seq,
                                 size_t extra_max, uint32_t writers,
                                 uint64_t *next_index)
{
    durlog_reader *r;
    durlog_record rec;
    long n = 0;
    int rc = durlog_reader_open(path, NULL, &r);
    CHECK_OK(rc);
    if (rc)
        return -1;
    if (from_seq) {
        rc = durlog_reader_seek(r, from_seq);
        CHECK_OK(rc);
        if (rc) {
            durlog_reader_close(r);
            return -1;
        }
    }
    uint64_t want_seq = from_seq;
    while ((rc = durlog_reader_next(r, &rec)) == 0) {
        uint32_t w;
        uint64_t idx;
        if (rec.seq != want_seq) {
            fprintf(stderr, "  seq %" PRIu64 " where %" PRIu64 " was expected\n",
                    rec.seq, want_seq);
            CHECK(rec.seq == want_seq);
            n = -1;
            break;
        }
        if (!tu_payload_check(&rec, extra_max, &w, &idx) || w >= writers) {
            fprintf(stderr, "  record %" PRIu64 " (%zu bytes) is not intact\n",
                    rec.seq, rec.len);
            CHECK(!"record intact");
            n = -1;
            break;
        }
        if (idx != next_index[w]) {
            fprintf(stderr, "  record %" PRIu64 ": writer %u index %" PRIu64
                    ", expected %" PRIu64 "\n", rec.seq, w, idx, next_index[w]);
            CHECK(idx == next_index[w]);
            n = -1;
            break;
        }
        next_index[w]++;
        want_seq++;
        n++;
    }
    if (n >= 0 && rc != DURLOG_EEND) {
        fprintf(stderr, "  reader stopped at seq %" PRIu64 ": %s\n", want_seq,
                durlog_reader_errmsg(r));
        CHECK_RC(rc, DURLOG_EEND);
        n = -1;
    }
    durlog_reader_close(r);
    return n;
}

/* A call another thread makes after delay_ms: an append of writer 0's
 * record `index` (up to `extra` filler bytes) at `level`, or with flush set
 * durlog_flush(log, level). For tests of the calls that wait for one. */
struct tu_later {
    durlog *log;
    unsigned delay_ms;
    uint64_t index;
    size_t extra;
    durlog_level level;
    int flush;
    int rc;                 /* what the call returned */
    pthread_t thread;
};

static inline void *tu_later_main(void *arg)
{
    struct tu_later *l = arg;
    tu_sleep_ms(l->delay_ms);
    l->rc = l->flush ? durlog_flush(l->log, l->level)
                     : tu_append_payload(l->log, 0, l->index, l->extra, l->level, NULL);
    return NULL;
}

static inline int tu_later_start(struct tu_later *l)
{
    return pthread_create(&l->thread, NULL, tu_later_main, l);
}

/* Waits for the call; returns what it returned. */
static inline int tu_later_join(struct tu_later *l)
{
    pthread_join(l->thread, NULL);
    return l->rc;
}

#endif
