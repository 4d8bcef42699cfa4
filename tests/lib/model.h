/*
 * tests/lib/model.h - what the records of a test log contain.
 *
 * A "model" describes a log the test wrote: record `seq` holds lens[seq]
 * bytes made by test_fill(buf, lens[seq], salt + seq). Tests append from the
 * model and check what readers return against it, byte for byte.
 */
#ifndef DURLOG_TEST_LIB_MODEL_H
#define DURLOG_TEST_LIB_MODEL_H

#include "../harness.h"
#include "format.h"

struct model {
    uint64_t salt;
    size_t count;
    uint32_t *lens;
    unsigned char *scratch; /* room for the largest record */
    size_t scratch_size;
};

/* The model's memory is freed when the case returns (or by model_free). */
static inline void model_free_after_case(void *p)
{
    free(p);
}

/* A model of `count` records with lengths from lens (copied). */
static inline void model_init(struct model *m, uint64_t salt, const uint32_t *lens,
                              size_t count)
{
    size_t max = 1;
    for (size_t i = 0; i < count; i++)
        if (lens[i] > max)
            max = lens[i];
    m->salt = salt;
    m->count = count;
    m->scratch_size = max;
    /* One block: the lengths, then room for the largest record. */
    m->lens = malloc(count * sizeof *m->lens + max);
    if (!m->lens) {
        perror("malloc");
        exit(2);
    }
    memcpy(m->lens, lens, count * sizeof *m->lens);
    m->scratch = (unsigned char *)(m->lens + count);
    th_after_case(model_free_after_case, m->lens);
}

/* A model of `count` records of `len` bytes each. */
static inline void model_same_len(struct model *m, uint64_t salt, size_t count, uint32_t len)
{
    uint32_t *lens = malloc((count ? count : 1) * sizeof *lens);
    if (!lens) {
        perror("malloc");
        exit(2);
    }
    for (size_t i = 0; i < count; i++)
        lens[i] = len;
    model_init(m, salt, lens, count);
    free(lens);
}

static inline void model_free(struct model *m)
{
    free(th_forget(model_free_after_case, m->lens, NULL));
}

/* Fills m->scratch with record seq's payload and returns it. */
static inline const unsigned char *model_payload(struct model *m, uint64_t seq)
{
    test_fill(m->scratch, m->lens[seq], m->salt + seq);
    return m->scratch;
}

/* Bytes that records [0, n) occupy in one segment after its header. */
static inline uint64_t model_bytes(const struct model *m, size_t n)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += dl_rec_size(m->lens[i]);
    return total;
}

/* Appends records [from, to) of the model one by one, checking that each
 * gets the sequence number the model gives it. */
static inline void model_append(durlog *log, struct model *m, size_t from,
                                size_t to, durlog_level level)
{
    for (size_t i = from; i < to; i++) {
        uint64_t seq = UINT64_MAX;
        CHECK_OK(durlog_append(log, model_payload(m, i), m->lens[i], level, &seq));
        CHECK_EQ_U64(seq, i);
    }
}

/* 1 if rec is exactly record rec->seq of the model. */
static inline int model_matches(struct model *m, const durlog_record *rec)
{
    if (rec->seq >= m->count || rec->len != m->lens[rec->seq])
        return 0;
    return rec->len == 0 || memcmp(rec->data, model_payload(m, rec->seq), rec->len) == 0;
}

/* Reads r until it returns anything but a record. Every record returned must
 * be the model's record with the next sequence number (starting at `first`);
 * a record that is not is a failure. Returns how many were read and puts the
 * final return code in *end_rc. */
static inline uint64_t model_read(struct model *m, durlog_reader *r,
                                  uint64_t first, int *end_rc)
{
    durlog_record rec;
    uint64_t n = 0;
    int rc;
    while ((rc = durlog_reader_next(r, &rec)) == 0) {
        if (rec.seq != first + n || !model_matches(m, &rec)) {
            fprintf(stderr, "  reader returned seq %" PRIu64 " (%zu bytes) where "
                    "record %" PRIu64 " was expected, or different bytes\n",
                    rec.seq, rec.len, first + n);
            th_failed_current = 1;
            rc = -1;
            break;
        }
        n++;
    }
    *end_rc = rc;
    return n;
}

/* Opens a reader on the log and reads it whole (see model_read). */
static inline uint64_t model_read_log(struct model *m, const char *log, int *end_rc)
{
    durlog_reader *r = NULL;
    int rc = durlog_reader_open(log, NULL, &r);
    if (rc) {
        *end_rc = rc;
        return 0;
    }
    uint64_t n = model_read(m, r, 0, end_rc);
    durlog_reader_close(r);
    return n;
}

/* Reads the whole log with skip_damaged: every record it returns must be
 * the model's record of that number, in increasing order. Returns how many;
 * *skipped (if not NULL) gets the bytes the reader says it skipped. */
static inline uint64_t model_read_skipping(struct model *m, const char *log, uint64_t *skipped)
{
    durlog_reader_options ro;
    durlog_reader_options_init(&ro);
    ro.skip_damaged = 1;
    durlog_reader *r;
    durlog_record rec;
    uint64_t n = 0, next = 0;
    if (skipped)
        *skipped = 0;
    int rc = durlog_reader_open(log, &ro, &r);
    CHECK_OK(rc);
    if (rc)
        return 0;
    while (durlog_reader_next(r, &rec) == 0) {
        if (rec.seq < next || !model_matches(m, &rec)) {
            fprintf(stderr, "  a skip_damaged reader returned seq %" PRIu64 " (%zu bytes), "
                    "not the model's record (next expected %" PRIu64 ")\n", rec.seq,
                    rec.len, next);
            th_failed_current = 1;
            break;
        }
        next = rec.seq + 1;
        n++;
    }
    if (skipped)
        *skipped = durlog_reader_skipped(r);
    durlog_reader_close(r);
    return n;
}

#endif
