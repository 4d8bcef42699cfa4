/*
 * restore.c - rebuilding a log from the stream (DURLOG_SHIP_RESTORE).
 *
 * Reads the subject's messages in order from the first and appends each
 * record with its own seq and time (durlog_append_restored), so that the
 * new log is the shipped one: `durlog cat -o json` of both is the same. Each
 * message is checked on the way: it must be this log's (the identity in its
 * header, the first message's), its data must match its CRC32C, and the
 * seqs must run on by one (a gap or a duplicate in the stream is reported,
 * never papered over). The log takes the shipped log's identity
 * (durlog_log_id_adopt), so that shipping it again continues the same
 * stream.
 *
 * A log partly restored (the command killed) is continued: messages below
 * its next record are checked and skipped, and the last record it holds is
 * compared with the stream's. A log holding anything else is refused.
 *
 * Records are appended in batches that end where the time changes (a run
 * of records sharing one time goes into one segment: durlog.h), at kernel
 * level, with an fdatasync every SYNC_BYTES and at the end.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ship.h"

#define BATCH_RECORDS 4096
#define BATCH_BYTES ((uint64_t)4 << 20)
/* A run of one time longer than this is cut anyway (and may then not fit
 * one segment: durlog_append_restored says so). */
#define BATCH_BYTES_MAX ((uint64_t)256 << 20)
#define SYNC_BYTES ((uint64_t)64 << 20)
#define NO_PROGRESS_MS 30000
/* After this long without a message, the stream is asked whether it holds
 * more than was received (reread_if_stalled). */
#define STALL_MS 5000

struct batch {
    durlog_record *recs;
    struct dls_msg *msgs;    /* released once appended */
    size_t n, cap;
    uint64_t bytes;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void release_all(durlog_ship *s, struct batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        s->sink->ops->release(s->sink, &b->msgs[i]);
    b->n = 0;
    b->bytes = 0;
}

static int append_batch(durlog_ship *s, struct batch *b, uint64_t *unsynced)
{
    if (!b->n)
        return 0;
    int rc = durlog_append_restored(s->log, b->recs, b->n, DURLOG_KERNEL);
    if (rc) {
        rc = dls_fail(s, rc, "appending records %" PRIu64 " to %" PRIu64 " to %s: %s",
                      b->recs[0].seq, b->recs[b->n - 1].seq, s->log_path,
                      durlog_errmsg(s->log));
    } else {
        *unsynced += b->bytes;
        pthread_mutex_lock(&s->mu);
        s->st.records += b->n;
        s->st.next_seq = b->recs[b->n - 1].seq + 1;
        s->st.stream_seq = s->sink->ops->position(s->sink, &b->msgs[b->n - 1]);
        pthread_mutex_unlock(&s->mu);
    }
    release_all(s, b);
    if (!rc && *unsynced >= SYNC_BYTES) {
        rc = durlog_flush(s->log, DURLOG_SYNC);
        if (rc)
            rc = dls_fail(s, rc, "syncing %s: %s", s->log_path, durlog_errmsg(s->log));
        *unsynced = 0;
    }
    return rc;
}

/* While messages pause: appends the batch up to where its last run of one
 * time begins, keeping that run (the next message may continue it: a run
 * is appended whole, durlog.h); all of it after `idle_ms` of quiet with
 * follow (records should not wait long), or when the batch is one run. */
static int append_settled(durlog_ship *s, struct batch *b, uint64_t *unsynced, uint64_t idle_ms)
{
    size_t k = b->n;
    while (k > 0 && b->recs[k - 1].time_ns == b->recs[b->n - 1].time_ns)
        k--;
    if (k == 0 || idle_ms >= 1000)
        return idle_ms >= 1000 ? append_batch(s, b, unsynced) : 0;
    size_t n = b->n;
    uint64_t rest = 0;
    for (size_t i = k; i < n; i++)
        rest += b->recs[i].len;
    b->n = k;
    b->bytes -= rest;
    /* append_batch releases the first k messages only */
    int rc = durlog_append_restored(s->log, b->recs, k, DURLOG_KERNEL);
    if (rc) {
        b->n = n;
        return dls_fail(s, rc, "appending records %" PRIu64 " to %" PRIu64 " to %s: %s",
                        b->recs[0].seq, b->recs[k - 1].seq, s->log_path, durlog_errmsg(s->log));
    }
    *unsynced += b->bytes;
    pthread_mutex_lock(&s->mu);
    s->st.records += k;
    s->st.next_seq = b->recs[k - 1].seq + 1;
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < k; i++)
        s->sink->ops->release(s->sink, &b->msgs[i]);
    memmove(b->recs, b->recs + k, (n - k) * sizeof *b->recs);
    memmove(b->msgs, b->msgs + k, (n - k) * sizeof *b->msgs);
    b->n = n - k;
    b->bytes = rest;
    return 0;
}

static int add(durlog_ship *s, struct batch *b, struct dls_msg *m)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 256;
        durlog_record *r = realloc(b->recs, cap * sizeof *r);
        if (r)
            b->recs = r;
        struct dls_msg *ms = r ? realloc(b->msgs, cap * sizeof *ms) : NULL;
        if (!ms)
            return dls_fail(s, -ENOMEM, "out of memory for a batch of records");
        b->msgs = ms;
        b->cap = cap;
    }
    b->msgs[b->n] = *m;
    b->recs[b->n] = (durlog_record){ m->data, m->len, m->seq, m->time_ns };
    b->n++;
    b->bytes += m->len;
    return 0;
}

/* Whether the log's last record (seq) is the message's. */
static int same_as_local(durlog_ship *s, const struct dls_msg *m)
{
    durlog_reader *r;
    durlog_record rec;
    int rc = durlog_reader_open(s->log_path, NULL, &r);
    if (rc)
        return dls_fail(s, rc, "%s", durlog_last_errmsg());
    rc = durlog_reader_seek(r, m->seq);
    if (rc == 0)
        rc = durlog_reader_next(r, &rec);
    if (rc == 0 && (rec.time_ns != m->time_ns || rec.len != m->len ||
                    (m->len && memcmp(rec.data, m->data, m->len) != 0)))
        rc = dls_fail(s, -ENOTEMPTY, "record %" PRIu64 " of %s differs from the stream's: it "
                      "holds another log's records; restore into a new directory", m->seq,
                      s->log_path);
    else if (rc && rc != -ENOTEMPTY && rc != DURLOG_ETRIMMED)
        rc = dls_fail(s, rc, "checking record %" PRIu64 " of %s: %s", m->seq, s->log_path,
                      durlog_reader_errmsg(r));
    else if (rc == DURLOG_ETRIMMED)
        rc = 0;
    durlog_reader_close(r);
    return rc;
}

/* Checks one message against the stream's order; 0 to take it. */
static int check_msg(durlog_ship *s, struct dls_msg *m, const char *id, int seen,
                     uint64_t prev)
{
    int bad = !m->log_id[0] || strcmp(m->log_id, id) != 0 ||
              dls_crc32c(m->data, m->len) != m->crc || (seen && m->seq != prev + 1);
    if (!bad)
        return 0;
    m->pos = s->sink->ops->position(s->sink, m); /* for the message */
    if (!m->log_id[0])
        return dls_fail(s, DURLOG_ECORRUPT, "stream %s message %" PRIu64 " on subject %s is "
                        "not a durlog record (no Durlog header)", s->o.stream, m->pos,
                        s->o.subject);
    if (strcmp(m->log_id, id) != 0)
        return dls_fail(s, DURLOG_ECORRUPT, "stream %s message %" PRIu64 " (record %" PRIu64
                        ") belongs to another log (identity %s, not %s)", s->o.stream, m->pos,
                        m->seq, m->log_id, id);
    if (dls_crc32c(m->data, m->len) != m->crc)
        return dls_fail(s, DURLOG_ECORRUPT, "stream %s message %" PRIu64 " (record %" PRIu64
                        "): its data does not match its checksum", s->o.stream, m->pos, m->seq);
    if (seen && m->seq != prev + 1)
        return dls_fail(s, DURLOG_ECORRUPT, "stream %s: record %" PRIu64 " (message %" PRIu64
                        ") follows record %" PRIu64 ": %s", s->o.stream, m->seq, m->pos, prev,
                        m->seq <= prev ? "a record twice, or out of order"
                                       : "records missing in between");
    return 0;
}

/* Nothing came for a while: when the stream's leader says the subject
 * holds messages after the last one received (last_pos), the consumer
 * this reads through is stuck: placed on a replica that has not caught up
 * (seen after a JetStream cluster restarted as a whole: 30 s without a
 * message while the leader held 7,600 more, tests/ship_chaos.sh), or
 * deleted. Reads again after last_pos, through a new connection and
 * consumer. The batch is empty by now (append_settled appends it all
 * after 1 s of quiet); were it not, it is appended first. */
static int reread_if_stalled(durlog_ship *s, struct batch *b, uint64_t *unsynced,
                             uint64_t last_pos)
{
    struct dls_msg m;
    char err[512];
    if (s->sink->ops->last(s->sink, &m, err, sizeof err) != 1)
        return 0; /* cannot tell now: wait on */
    uint64_t stream_last = m.pos;
    s->sink->ops->release(s->sink, &m);
    if (stream_last <= last_pos)
        return 0;
    int rc = append_batch(s, b, unsynced);
    if (rc)
        return rc;
    s->state = DLS_STATE_NONE; /* one line for each time */
    dls_say(s, DLS_STATE_RETRYING, "no message from stream %s for %d s, though it holds more "
            "(up to message %" PRIu64 "): reading it again after message %" PRIu64,
            s->o.stream, STALL_MS / 1000, stream_last, last_pos);
    rc = s->sink->ops->connect(s->sink, err, sizeof err);
    if (!rc)
        rc = s->sink->ops->read_open(s->sink, last_pos + 1, err, sizeof err);
    if (rc)
        return dls_fail(s, rc == DLS_TRANSIENT ? -EHOSTUNREACH : rc, "%s", err);
    pthread_mutex_lock(&s->mu);
    s->st.resyncs++;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* Connects (retrying with follow) and checks the stream. */
static int connect_stream(durlog_ship *s)
{
    char err[512];
    int backoff = 100;
    for (;;) {
        int rc = s->sink->ops->connect(s->sink, err, sizeof err);
        if (rc == 0)
            rc = s->sink->ops->prepare(s->sink, err, sizeof err);
        if (rc == 0)
            return 0;
        if (rc == DURLOG_ENOTFOUND)
            return dls_fail(s, rc, "%s: nothing to restore from", err);
        if (!(rc == -EHOSTUNREACH || rc == DLS_TRANSIENT) || !s->o.follow)
            return dls_fail(s, rc == DLS_TRANSIENT ? -EHOSTUNREACH : rc, "%s", err);
        dls_say(s, DLS_STATE_UNREACHABLE, "%s; trying again every few seconds", err);
        dls_nap(s, backoff);
        if (atomic_load(&s->stop))
            return 0;
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
}

int dls_restore(durlog_ship *s)
{
    char err[512], id[DURLOG_LOG_ID_LEN + 1];
    struct dls_msg m;
    s->o.create_stream = 0; /* restoring never makes a stream */
    int rc = connect_stream(s);
    if (rc || atomic_load(&s->stop))
        return rc;
    int found = s->sink->ops->last(s->sink, &m, err, sizeof err);
    if (found < 0 || found == DLS_TRANSIENT)
        return dls_fail(s, found == DLS_TRANSIENT ? -EHOSTUNREACH : found, "%s", err);
    if (!found) {
        dls_say(s, DLS_STATE_CAUGHT_UP, "stream %s holds nothing on subject %s: nothing to "
                "restore", s->o.stream, s->o.subject);
        return 0;
    }
    uint64_t target = m.seq;
    snprintf(id, sizeof id, "%s", m.log_id);
    s->sink->ops->release(s->sink, &m);
    if (!id[0])
        return dls_fail(s, DURLOG_ECORRUPT, "the last message on subject %s of stream %s is "
                        "not a durlog record", s->o.subject, s->o.stream);
    rc = durlog_log_id_adopt(s->log_path, id);
    if (rc == -EEXIST)
        return dls_fail(s, -ENOTEMPTY, "%s: restore into a new directory",
                        durlog_last_errmsg());
    if (rc && rc != DURLOG_EDIRSYNC)
        return dls_fail(s, rc, "%s", durlog_last_errmsg());
    durlog_info info;
    if ((rc = durlog_get_info(s->log, &info)) != 0)
        return dls_fail(s, rc, "%s", durlog_errmsg(s->log));
    int had = info.next_seq > info.first_seq;
    uint64_t next = info.next_seq;
    pthread_mutex_lock(&s->mu);
    s->st.next_seq = next; /* what the summary says, should nothing come */
    pthread_mutex_unlock(&s->mu);
    if (had && next > target + 1) {
        dls_say(s, DLS_STATE_CAUGHT_UP, "%s already holds every record of the stream (up to %"
                PRIu64 ")", s->log_path, target);
        return 0;
    }
    if ((rc = s->sink->ops->read_open(s->sink, 0, err, sizeof err)) != 0)
        return dls_fail(s, rc == DLS_TRANSIENT ? -EHOSTUNREACH : rc, "%s", err);
    dls_say(s, DLS_STATE_SHIPPING, "restoring %s from stream %s, subject %s (records up to %"
            PRIu64 ")", s->log_path, s->o.stream, s->o.subject, target);

    struct batch b = { 0 };
    uint64_t prev = 0, unsynced = 0, quiet_since = now_ms(), stall_check = quiet_since;
    uint64_t last_pos = 0; /* the last message received (0: none) */
    int seen = 0; /* prev is a message's seq */
    for (;;) {
        if (atomic_load(&s->stop))
            break;
        int got = s->sink->ops->read_next(s->sink, &m, 200, err, sizeof err);
        if (got == 0 || got == DLS_TRANSIENT) {
            /* Nothing new: append what waits, and give up without follow
             * after a while. */
            if ((rc = append_settled(s, &b, &unsynced, now_ms() - quiet_since)) != 0)
                break;
            if (now_ms() - stall_check >= STALL_MS) {
                stall_check = now_ms();
                if ((rc = reread_if_stalled(s, &b, &unsynced, last_pos)) != 0)
                    break;
            }
            if (!s->o.follow && now_ms() - quiet_since > NO_PROGRESS_MS) {
                rc = dls_fail(s, -EHOSTUNREACH, "no message from stream %s for %d s (restored "
                              "up to record %" PRIu64 " of %" PRIu64 ")", s->o.stream,
                              NO_PROGRESS_MS / 1000, next - 1, target);
                break;
            }
            continue;
        }
        if (got < 0) {
            rc = dls_fail(s, got, "%s", err);
            break;
        }
        quiet_since = stall_check = now_ms();
        last_pos = s->sink->ops->position(s->sink, &m);
        rc = check_msg(s, &m, id, seen, prev);
        if (!rc && !seen && !had)
            next = m.seq; /* an empty log starts where the stream does */
        if (!rc && !seen && m.seq > next)
            rc = dls_fail(s, DURLOG_ECORRUPT, "stream %s starts at record %" PRIu64 ", but %s "
                          "ends before it (its next record is %" PRIu64 ")", s->o.stream, m.seq,
                          s->log_path, next);
        if (!rc && m.seq + 1 == next && had)
            rc = same_as_local(s, &m);
        prev = m.seq;
        seen = 1;
        if (rc || m.seq < next) {
            s->sink->ops->release(s->sink, &m);
            if (rc || (m.seq >= target && !s->o.follow))
                break; /* the log held every record already */
            continue;
        }
        /* A batch ends where the time changes, once it is big enough. */
        if (b.n && m.time_ns != b.recs[b.n - 1].time_ns &&
            (b.n >= BATCH_RECORDS || b.bytes >= BATCH_BYTES) &&
            (rc = append_batch(s, &b, &unsynced)) != 0) {
            s->sink->ops->release(s->sink, &m);
            break;
        }
        if (b.bytes >= BATCH_BYTES_MAX && (rc = append_batch(s, &b, &unsynced)) != 0) {
            s->sink->ops->release(s->sink, &m);
            break;
        }
        if ((rc = add(s, &b, &m)) != 0) {
            s->sink->ops->release(s->sink, &m);
            break;
        }
        next = m.seq + 1;
        if (m.seq >= target && !s->o.follow)
            break;
    }
    if (!rc)
        rc = append_batch(s, &b, &unsynced);
    release_all(s, &b);
    free(b.recs);
    free(b.msgs);
    int sync = durlog_flush(s->log, DURLOG_SYNC);
    if (!rc && sync)
        rc = dls_fail(s, sync, "syncing %s: %s", s->log_path, durlog_errmsg(s->log));
    return rc;
}
