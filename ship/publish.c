/*
 * publish.c - copying a log's records to the stream (DURLOG_SHIP_PUBLISH).
 *
 * A run: read the stream's last message of the subject (the truth about
 * what was shipped, whatever local state says), check it against the log,
 * then send the records after it, each conditional on its predecessor
 * (sink.h), up to `window` awaiting their outcome. Any failed outcome ends
 * the run: the session waits for the others, then starts a new run from
 * the stream's last message again (a "resync"). Since every message is
 * conditional on the one before it, what the stream holds is always the
 * log's records from the first shipped on, without a gap, in order, each
 * once, whatever failed in between: a lost message makes every later one
 * of its run fail too, and the next run sends them again.
 *
 * The position is also committed to the session's named cursor (about once
 * a second and at the end): not to resume from (the stream says where),
 * but so that retention keeps what has not been shipped, and `durlog info`
 * shows the lag.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ship.h"

/* Without follow, a session that stores nothing for this long while it
 * resyncs gives up. */
#define NO_PROGRESS_MS 30000
/* The cursor is committed about this often while shipping. */
#define COMMIT_MS 1000
/* Backoff between attempts to reach the servers. */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A sink's error (err, its text) as the session's. A stream this session
 * found before that the servers now say is not there is waited for, like
 * servers that cannot be reached (DLS_MISSING), and never made anew
 * (dls_publish stops creating once it is found): a JetStream cluster
 * restarted as a whole has answered "stream not found" for a stream its
 * replicas still held (nats-server 2.9.10, tests/ship_chaos.sh), and a
 * stream made then would be a second, empty one beside the one that comes
 * back. An operator who deleted it sees one line saying what is awaited. */
static int sink_error(durlog_ship *s, int rc, const char *err)
{
    if (rc == DURLOG_ENOTFOUND && s->stream_seen)
        return dls_fail(s, DLS_MISSING, "%s (it was there: deleted, or servers that lost track "
                        "of it for a while, as a cluster restarting?)", err);
    return dls_fail(s, rc, "%s", err);
}

static int ack_timeout(const durlog_ship *s)
{
    return s->o.ack_timeout_ms ? s->o.ack_timeout_ms : 5000;
}

void dls_on_ack(void *ctx, uint64_t seq, uint64_t pos, int duplicate, int status,
                const char *text)
{
    durlog_ship *s = ctx;
    pthread_mutex_lock(&s->mu);
    if (status == 0 && !duplicate) {
        s->stored++;
        if (seq == s->acked_end) {
            s->acked_end++;
            s->st.records++;
            s->st.next_seq = s->acked_end;
        }
        /* Stream sequences follow on unless something else was stored in
         * the stream between two of ours: then predictions fail. */
        if (s->last_pos && pos != s->last_pos + 1)
            s->interleaved = 1;
        s->last_pos = pos;
        s->st.stream_seq = pos;
    } else if (status == 0) {
        /* Stored already, by someone: the run's predictions are off by one
         * from here, and who stored it is for the resync to find out. */
        s->dup_seen = 1;
        if (!s->ack_err) {
            s->ack_err = DLS_WRONG_LAST;
            snprintf(s->ack_text, sizeof s->ack_text, "record %" PRIu64 " was in the stream "
                     "already", seq);
        }
    } else if (!s->ack_err) {
        s->ack_err = status;
        snprintf(s->ack_text, sizeof s->ack_text, "record %" PRIu64 ": %s", seq, text);
    }
    s->resolved++;
    /* A wake-up a message would cost a system call each: the session is
     * woken when half its window is free, all is done, or on an error. */
    if (s->waiting && (s->ack_err || s->sent - s->resolved <= s->window / 2))
        pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Waits (at most ms) for an outcome to change s's counts. */
static void wait_outcome(durlog_ship *s, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&s->mu);
    s->waiting = 1;
    pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    s->waiting = 0;
    pthread_mutex_unlock(&s->mu);
}

/* Waits for every send's outcome (forgetting those that do not come). */
static void drain(durlog_ship *s)
{
    s->sink->ops->drain(s->sink, ack_timeout(s) + 1000);
    pthread_mutex_lock(&s->mu);
    s->resolved = s->sent;
    pthread_mutex_unlock(&s->mu);
}

/* Commits the cursor to what the stream holds (the cursor's retention hold
 * and the lag `durlog info` shows). */
static int commit(durlog_ship *s, uint64_t next)
{
    if (durlog_cursor_seq(s->cursor) == next)
        return 0;
    int rc = durlog_cursor_commit(s->cursor, next);
    if (rc)
        return dls_fail(s, rc, "cannot commit the shipping cursor %s: %s", s->cursor_name,
                        durlog_cursor_errmsg(s->cursor));
    return 0;
}

static uint64_t acked(durlog_ship *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t a = s->acked_end;
    pthread_mutex_unlock(&s->mu);
    return a;
}

/* Whether the log's record m->seq is the record the message carries. 0
 * yes or it cannot be told (trimmed here), or DURLOG_ECORRUPT with a
 * message, or an error reading the log. */
static int same_record(durlog_ship *s, const struct dls_msg *m)
{
    durlog_reader *v;
    durlog_reader_options ro;
    char err[512];
    durlog_reader_options_init(&ro);
    ro.errbuf = err;
    ro.errbuf_size = sizeof err;
    int rc = durlog_reader_open(s->log_path, &ro, &v);
    if (rc)
        return dls_fail(s, rc, "%s", err);
    durlog_record rec;
    rc = durlog_reader_seek(v, m->seq);
    if (rc == DURLOG_ETRIMMED) {
        rc = 0; /* nothing left here to compare with */
    } else if (rc == DURLOG_ENOTFOUND || (rc == 0 && (rc = durlog_reader_next(v, &rec)) ==
                                                        DURLOG_EEND)) {
        durlog_info info;
        durlog_reader_get_info(v, &info);
        rc = dls_fail(s, DURLOG_ECORRUPT, "stream %s holds record %" PRIu64 " of %s, but the "
                      "log ends before it (its next record is %" PRIu64 "): the log lost "
                      "records the stream has (a power loss after shipping with --kernel?) "
                      "or it is an older copy of the log; not shipping into that",
                      s->o.stream, m->seq, s->log_path, info.next_seq);
    } else if (rc == 0) {
        if (rec.time_ns != m->time_ns || rec.len != m->len || dls_crc32c(rec.data, rec.len) !=
                m->crc || (m->len && memcmp(rec.data, m->data, m->len) != 0))
            rc = dls_fail(s, DURLOG_ECORRUPT, "record %" PRIu64 " of %s differs from the one "
                          "stream %s holds under this log's identity: the log is a copy that "
                          "went its own way, or was rolled back; not shipping into that",
                          m->seq, s->log_path, s->o.stream);
    } else {
        rc = dls_fail(s, rc, "checking record %" PRIu64 " of %s: %s", m->seq, s->log_path,
                      durlog_reader_errmsg(v));
    }
    durlog_reader_close(v);
    return rc;
}

/* Another session stored messages on the subject since this one looked,
 * before this one stored any. A shipper killed a moment ago leaves only
 * the messages it had on the wire (with a big window, thousands, which a
 * cluster may take seconds to store); one running now goes on storing. So
 * the stream is watched until its last message stays put for a second
 * (0: carry on) or still moves after QUIET_MAX_MS (-EEXIST). */
#define QUIET_MS 1000
#define QUIET_MAX_MS 15000
static int wait_for_quiet(durlog_ship *s, uint64_t pos)
{
    uint64_t start = now_ms(), still_since = start;
    while (!atomic_load(&s->stop)) {
        dls_nap(s, 200);
        struct dls_msg again;
        char err[512];
        int got = s->sink->ops->last(s->sink, &again, err, sizeof err);
        if (got != 1)
            return got == 0 ? 0 : sink_error(s, got, err);
        uint64_t now = now_ms();
        char who[DLS_SHIPPER_LEN + 1];
        memcpy(who, again.shipper, sizeof who);
        if (again.pos != pos) {
            pos = again.pos;
            still_since = now;
        }
        s->sink->ops->release(s->sink, &again);
        if (now - still_since >= QUIET_MS) {
            s->seen_pos = pos; /* the next look resumes after it */
            return 0;
        }
        if (now - start >= QUIET_MAX_MS)
            return dls_fail(s, -EEXIST, "another shipper (session %s) is publishing %s to "
                            "subject %s of stream %s: stopping (one shipper per log and "
                            "subject)", who, s->log_path, s->o.subject, s->o.stream);
    }
    return 0;
}

/* Where the run resumes: the record after the stream's last message of
 * the subject, checked against the log. *start, *pos (the message's stream
 * sequence, 0 if none). */
static int resume_point(durlog_ship *s, uint64_t *start, uint64_t *pos)
{
    struct dls_msg m;
    char err[512];
    int found = s->sink->ops->last(s->sink, &m, err, sizeof err);
    if (found < 0 || found == DLS_TRANSIENT)
        return sink_error(s, found, err);
    if (!found) {
        uint64_t at = durlog_cursor_seq(s->cursor);
        durlog_reader *v;
        durlog_info info;
        int rc = durlog_reader_open(s->log_path, NULL, &v);
        if (rc)
            return dls_fail(s, rc, "%s", durlog_last_errmsg());
        rc = durlog_reader_get_info(v, &info);
        durlog_reader_close(v);
        if (rc)
            return dls_fail(s, rc, "cannot look at %s", s->log_path);
        /* Messages this session saw stored are gone: the stream was
         * purged, or deleted and made anew (its limits may have removed
         * them too). Shipping from the start again would not be what was
         * asked (a new session refuses it too, from the cursor), and
         * within the duplicate window the server drops every resend as a
         * duplicate, each a resync: a spin. */
        pthread_mutex_lock(&s->mu);
        uint64_t stored = s->stored, last_pos = s->last_pos;
        pthread_mutex_unlock(&s->mu);
        if (stored > 0)
            return dls_fail(s, DURLOG_ENOTFOUND, "stream %s no longer holds the messages "
                            "this session stored for %s on subject %s (the last was stream "
                            "message %" PRIu64 "): was the stream purged, or deleted and "
                            "made anew? To ship again, say from which record (--from)",
                            s->o.stream, s->log_path, s->o.subject, last_pos);
        if (!s->o.from_set && at > info.first_seq)
            return dls_fail(s, DURLOG_ENOTFOUND, "stream %s holds no message of %s on subject "
                            "%s, but cursor %s says the records below %" PRIu64 " were "
                            "shipped: was the stream purged or made anew? To ship again, say "
                            "from which record (--from)", s->o.stream, s->log_path,
                            s->o.subject, s->cursor_name, at);
        *start = s->o.from_set ? s->o.from_seq : info.first_seq;
        *pos = 0;
        return 0;
    }
    int rc = 0;
    uint64_t seen = s->seen_pos;
    s->seen_pos = m.pos;
    int foreign = m.log_id[0] && strcmp(m.shipper, s->instance) != 0;
    if (foreign && s->stored == 0 && seen && m.pos > seen) {
        rc = wait_for_quiet(s, m.pos);
        if (rc) {
            s->sink->ops->release(s->sink, &m);
            return rc;
        }
        /* the resync after this one reads where the stream stopped */
        s->sink->ops->release(s->sink, &m);
        return dls_fail(s, DLS_WRONG_LAST, "another session's messages were still arriving");
    }
    if (!m.log_id[0])
        rc = dls_fail(s, -EEXIST, "subject %s of stream %s holds messages that are not a "
                      "durlog log's (the last is stream message %" PRIu64 "): ship to a "
                      "subject of its own", s->o.subject, s->o.stream, m.pos);
    else if (strcmp(m.log_id, s->log_id) != 0)
        rc = dls_fail(s, -EEXIST, "subject %s of stream %s holds the records of another log "
                      "(identity %s; %s is %s): ship each log to a subject of its own",
                      s->o.subject, s->o.stream, m.log_id, s->log_path, s->log_id);
    else if (foreign && s->stored > 0)
        /* After this session stored a message, only a shipper that read
         * the stream since could store one after it: one running now. */
        rc = dls_fail(s, -EEXIST, "another shipper (session %s) is publishing %s to subject "
                      "%s of stream %s: stopping (one shipper per log and subject)",
                      m.shipper, s->log_path, s->o.subject, s->o.stream);
    else
        rc = same_record(s, &m);
    if (!rc) {
        *start = m.seq + 1;
        *pos = m.pos;
    }
    s->sink->ops->release(s->sink, &m);
    return rc;
}

/* Ends a run because of an outcome: its error, or DLS_* for a resync. */
static int outcome_error(durlog_ship *s, int err)
{
    drain(s);
    char text[sizeof s->ack_text];
    pthread_mutex_lock(&s->mu);
    snprintf(text, sizeof text, "%s", s->ack_text);
    pthread_mutex_unlock(&s->mu);
    if (err == DLS_WRONG_LAST || err == DLS_TRANSIENT)
        return dls_fail(s, err, "%s", text);
    if (err == DURLOG_ENOTFOUND) {
        char what[sizeof text + 64];
        snprintf(what, sizeof what, "stream %s: %s", s->o.stream, text);
        return sink_error(s, err, what);
    }
    if (err == -EMSGSIZE)
        return dls_fail(s, err, "%s (a record larger than the servers' max_payload, or the "
                        "stream's max message size: raise them)", text);
    return dls_fail(s, err, "stream %s refused a message: %s", s->o.stream, text);
}

/* One run (see the top). 0 when done (or stopped), DLS_* to resync, or an
 * error. */
static int ship_run(durlog_ship *s, durlog_reader *r)
{
    uint64_t start = 0, pos = 0;
    int rc = resume_point(s, &start, &pos);
    if (rc)
        return rc;
    rc = durlog_reader_seek(r, start);
    if (rc == DURLOG_ETRIMMED)
        return dls_fail(s, rc, "records from %" PRIu64 " on were never shipped, but %s no "
                        "longer holds them all (%s): the stream misses them for good; keep "
                        "the shipping cursor's records (retention keeps what cursors have not "
                        "consumed; do not trim past it)", start, s->log_path,
                        durlog_reader_errmsg(r));
    if (rc == DURLOG_ENOTFOUND)
        return dls_fail(s, -EINVAL, "record %" PRIu64 " is past the end of %s: nothing to "
                        "ship from there", start, s->log_path);
    if (rc)
        return dls_fail(s, rc, "%s", durlog_reader_errmsg(r));
    if ((rc = commit(s, start)) != 0)
        return rc;
    /* Pipelined sends need the subject's last message to be the stream's:
     * other subjects' messages in between make the predicted positions
     * wrong, and then each send waits for its predecessor's (sink.h). */
    uint64_t stream_last = 0;
    char last_err[512];
    rc = s->sink->ops->stream_last(s->sink, &stream_last, last_err, sizeof last_err);
    if (rc)
        return sink_error(s, rc, last_err);
    int by_subject = stream_last != pos;
    pthread_mutex_lock(&s->mu);
    s->interleaved = by_subject;
    s->sent_end = s->acked_end = start;
    s->st.next_seq = start;
    s->last_pos = pos;
    s->ack_err = 0;
    s->dup_seen = 0;
    s->sent = s->resolved = 0;
    pthread_mutex_unlock(&s->mu);
    s->sink->ops->begin(s->sink, pos, by_subject);
    dls_say(s, DLS_STATE_SHIPPING, "shipping %s to stream %s, subject %s, from record %" PRIu64,
            s->log_path, s->o.stream, s->o.subject, start);

    unsigned window = s->window;
    uint64_t last_commit = now_ms();
    for (;;) {
        pthread_mutex_lock(&s->mu);
        int err = s->ack_err, one_by_one = s->interleaved;
        uint64_t inflight = s->sent - s->resolved, last_pos = s->last_pos;
        pthread_mutex_unlock(&s->mu);
        if (err)
            return outcome_error(s, err);
        if (atomic_load(&s->stop)) {
            drain(s);
            return commit(s, acked(s));
        }
        if (now_ms() - last_commit >= COMMIT_MS) {
            if ((rc = commit(s, acked(s))) != 0)
                return rc;
            last_commit = now_ms();
        }
        if (inflight >= window || (one_by_one && inflight > 0)) {
            wait_outcome(s, 50);
            continue;
        }
        durlog_record rec;
        rc = durlog_reader_next(r, &rec);
        if (rc == 0) {
            if (one_by_one)
                /* Other messages go into the stream too: each send waits
                 * for its predecessor's stream sequence. */
                s->sink->ops->begin(s->sink, last_pos, 1);
            struct dls_msg m = { .seq = rec.seq, .time_ns = rec.time_ns, .data = rec.data,
                                 .len = rec.len, .crc = dls_crc32c(rec.data, rec.len) };
            memcpy(m.log_id, s->log_id, sizeof m.log_id);
            memcpy(m.shipper, s->instance, sizeof m.shipper);
            char why[512];
            pthread_mutex_lock(&s->mu);
            s->sent++;
            s->sent_end = rec.seq + 1;
            pthread_mutex_unlock(&s->mu);
            rc = s->sink->ops->send(s->sink, &m, why, sizeof why);
            if (rc) {
                pthread_mutex_lock(&s->mu);
                s->sent--;
                pthread_mutex_unlock(&s->mu);
                drain(s);
                return dls_fail(s, rc, "%s", why);
            }
            continue;
        }
        if (rc == DURLOG_EEND) {
            if (!s->o.follow) {
                if (!inflight)
                    return commit(s, acked(s));
                wait_outcome(s, 20);
                continue;
            }
            if (!inflight) {
                if ((rc = commit(s, acked(s))) != 0)
                    return rc;
                dls_say(s, DLS_STATE_CAUGHT_UP, "caught up: every %srecord of %s is in stream "
                        "%s (next: %" PRIu64 "); following", s->o.ship_kernel ? "" : "durable ",
                        s->log_path, s->o.stream, acked(s));
            }
            /* New records wake this at once (the writers' futex); outcomes
             * are looked at every few ms meanwhile. */
            rc = durlog_reader_wait(r, inflight ? 5 : 200);
            if (rc && rc != -ETIMEDOUT && rc != -EINTR)
                return dls_fail(s, rc, "waiting for records of %s: %s", s->log_path,
                                durlog_reader_errmsg(r));
            continue;
        }
        drain(s);
        commit(s, acked(s));
        return dls_fail(s, rc, "reading %s: %s", s->log_path, durlog_reader_errmsg(r));
    }
}

int dls_publish(durlog_ship *s)
{
    durlog_reader *r;
    durlog_reader_options ro;
    char err[512];
    durlog_reader_options_init(&ro);
    ro.durable_only = !s->o.ship_kernel;
    ro.errbuf = err;
    ro.errbuf_size = sizeof err;
    int rc = durlog_reader_open(s->log_path, &ro, &r);
    if (rc)
        return dls_fail(s, rc, "%s", err);
    atomic_store(&s->reader, r);
    s->window = s->o.window ? s->o.window : 4096;

    int connected = 0, prepared = 0, backoff = BACKOFF_MIN_MS;
    uint64_t deadline = 0, stored_before = 0;
    for (;;) {
        if (atomic_load(&s->stop)) {
            rc = 0;
            break;
        }
        if (!connected) {
            rc = s->sink->ops->connect(s->sink, err, sizeof err);
            if (rc == -EHOSTUNREACH && s->o.follow) {
                dls_say(s, DLS_STATE_UNREACHABLE, "%s; trying again every few seconds", err);
                dls_nap(s, backoff);
                backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
            if (rc) {
                rc = dls_fail(s, rc, "%s", err);
                break;
            }
            connected = 1;
            prepared = 0;
        }
        if (!prepared) {
            /* Again after a transient failure: a stream to create (or to
             * look at) is not there until it succeeds. */
            rc = s->sink->ops->prepare(s->sink, err, sizeof err);
            if (rc == DURLOG_ENOTFOUND && !s->stream_seen)
                rc = dls_fail(s, rc, "%s (create it, or ask for it: --create-stream)", err);
            else if (rc)
                rc = sink_error(s, rc, err);
            if (rc && rc != DLS_TRANSIENT && rc != DLS_MISSING)
                break;
            prepared = !rc;
            if (prepared) {
                /* Found (or made): from now on, it is only ever found. */
                s->stream_seen = 1;
                s->o.create_stream = 0;
            }
        }
        rc = rc ? rc : ship_run(s, r);
        if (rc != DLS_TRANSIENT && rc != DLS_WRONG_LAST && rc != DLS_MISSING)
            break;
        /* The stream, when it is back, is looked at again (subjects). */
        if (rc == DLS_MISSING)
            prepared = 0;
        /* A resync. Without follow, it gives up once nothing has been
         * stored for a while. */
        pthread_mutex_lock(&s->mu);
        s->st.resyncs++;
        uint64_t stored = s->stored;
        pthread_mutex_unlock(&s->mu);
        int progress = stored != stored_before || !deadline;
        if (progress) {
            stored_before = stored;
            deadline = now_ms() + NO_PROGRESS_MS;
            backoff = BACKOFF_MIN_MS;
        }
        if (!s->o.follow && now_ms() > deadline) {
            char why[DLS_ERRMSG_SIZE]; /* errmsg is written over */
            snprintf(why, sizeof why, "%s", s->errmsg);
            rc = dls_fail(s, rc == DLS_MISSING ? DURLOG_ENOTFOUND : -EHOSTUNREACH,
                          "nothing stored for %d s, giving up: %s", NO_PROGRESS_MS / 1000, why);
            break;
        }
        int up = s->sink->ops->connected(s->sink);
        if (up < 0)
            connected = 0;
        if (up > 0 && rc == DLS_MISSING)
            dls_say(s, DLS_STATE_MISSING, "%s; waiting for it to come back", s->errmsg);
        else if (up > 0)
            dls_say(s, DLS_STATE_RETRYING, "%s; resuming from the stream's last message",
                    s->errmsg);
        else
            dls_say(s, DLS_STATE_UNREACHABLE, "no server of %s can be reached (%s); trying "
                    "again until one can", s->o.servers, s->errmsg);
        /* Resyncs that store nothing wait too, whatever the cause: a
         * refusal that keeps coming must not become a spin. */
        if (rc == DLS_TRANSIENT || rc == DLS_MISSING || !progress) {
            dls_nap(s, backoff);
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
        }
        rc = 0;
    }
    atomic_store(&s->reader, NULL);
    durlog_reader_close(r);
    return rc;
}
