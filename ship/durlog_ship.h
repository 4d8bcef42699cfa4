/*
 * durlog_ship.h - libdurlog-ship: copying a log, as it is written, to a
 * replicated store (NATS JetStream), exactly once, and rebuilding a log
 * from that copy. The `durlog ship` and `durlog restore` commands are built
 * on it. A library of its own (libdurlog-ship.a: link with -ldurlog-ship
 * -ldurlog -lnats), built and installed where nats.c (Debian's
 * libnats-dev) is, so that libdurlog itself never depends on it.
 *
 * What the copy holds: every record of the log, in order, each as one
 * JetStream message on one subject, with headers naming the log (its
 * identity, durlog_log_id), the record's seq, time and CRC32C
 * (docs/GUARANTEES.md "Shipping to NATS JetStream" says what each header
 * is and what a JetStream acknowledgement promises).
 *
 * Exactly once, without gap or duplicate, across a kill -9 of the shipper
 * at any moment, restarts of servers, leader changes and all servers being
 * down for a while: each message's Nats-Msg-Id is LOGID:SEQ (the server
 * drops a duplicate within its window), the shipper resumes after the last
 * message the stream holds for the log (read from the stream, not from
 * local state), and each message is published on the condition that the
 * stream's last message is the one the shipper put before it (JetStream's
 * expected-last-msg-id; the first of a run on the stream's last sequence as
 * read; expected-last-subject-sequence, one message at a time, where the
 * stream takes other subjects too), so that a message whose predecessor was
 * lost is refused rather than stored out of order, and two shippers on one
 * subject cannot interleave.
 *
 * Only records that cannot vanish locally are shipped: by default those
 * below the log's durable mark (so that a power loss here can never leave
 * the stream holding a record the log lost and then numbers differently).
 * A log whose writers never sync has no durable records until one does:
 * its records are shipped once some writer syncs them (a `sync` or
 * `interval` append, durlog_flush at DURLOG_SYNC, or a clean close by its
 * last writer, which syncs), or with ship_kernel (unsafe, below).
 *
 * The shipper's position is a named cursor (durlog_cursor_open): retention
 * keeps what has not been shipped yet, and `durlog info` shows the lag.
 */
#ifndef DURLOG_SHIP_H
#define DURLOG_SHIP_H

#include <stddef.h>
#include <stdint.h>

#include <durlog.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Options of a shipping session (durlog_ship_open). Zero-fill, then set
 * what you need; strings are copied by durlog_ship_open. */
typedef struct durlog_ship_options {
    const char *servers;   /* required: "nats://HOST:PORT[,nats://HOST:PORT...]"
                              (also "tls://..."); a list of several servers
                              of one cluster */
    const char *stream;    /* required: the JetStream stream's name */
    const char *subject;   /* required: the subject the records are
                              published on (one log per subject: messages
                              of another log there are refused) */
    const char *cursor;    /* the named cursor holding the shipper's
                              position; NULL: "ship-" followed by the
                              stream's name */
    int create_stream;     /* publish: create the stream (file storage,
                              this subject, limits retention) if it does not
                              exist; without it a missing stream is an
                              error */
    int replicas;          /* for create_stream: 1 to 5 (0: 1) */
    int from_set;          /* publish: from_seq is given */
    uint64_t from_seq;     /* publish: the first record to ship when the
                              stream holds none of this log (0: the log's
                              first record) */
    int follow;            /* publish: keep shipping records as they are
                              appended, and keep retrying (with backoff)
                              while the servers cannot be reached, until
                              durlog_ship_interrupt; restore: the same for
                              messages. 0: stop at the end, and fail at
                              once when the servers cannot be reached */
    int ship_kernel;       /* publish: ship records once published
                              (DURLOG_KERNEL), before they are durable.
                              UNSAFE: after a power loss here the log may
                              lose records the stream holds; the shipper
                              then refuses to go on (the log's records no
                              longer match the stream's) */
    unsigned window;       /* publish: messages awaiting the server's
                              acknowledgement at most (0: 4096) */
    int ack_timeout_ms;    /* how long to wait for an acknowledgement or an
                              API answer (0: 5000) */
    int connect_timeout_ms;/* per connection attempt (0: 2000) */
    /* Credentials. Prefer the environment for secrets: `durlog ship` reads
     * DURLOG_NATS_USER, DURLOG_NATS_PASSWORD and DURLOG_NATS_TOKEN, never
     * the command line (which `ps` shows). */
    const char *creds_file;/* a NATS credentials file (JWT and NKey seed) */
    const char *user;      /* user and password */
    const char *password;
    const char *token;
    const char *ca_file;   /* TLS: the CA that signed the servers'
                              certificates (PEM); set, the connection must
                              be TLS */
    const char *cert_file; /* TLS client certificate and key (PEM), for
                              servers that verify clients */
    const char *key_file;
    /* Called once per change of state (connected, servers unreachable and
     * retrying, caught up, ...) with one line of text, from the thread
     * running durlog_ship_run; NULL: nothing is said. */
    void (*status)(void *ctx, const char *line);
    void *status_ctx;
    char *errbuf;          /* optional: durlog_ship_open's message, when it
                              fails (later ones: durlog_ship_errmsg) */
    size_t errbuf_size;
    uint64_t reserved[8]; /* must be zero */
} durlog_ship_options;

/* What a session did, so far. */
typedef struct durlog_ship_stats {
    uint64_t records;      /* records the stream acknowledged (publish) or
                              appended to the log (restore), this session */
    uint64_t next_seq;     /* publish: the log's next record to ship: every
                              record below it is in the stream; restore:
                              the log's next_seq */
    uint64_t resyncs;      /* times publishing stopped and resumed from the
                              stream's last message (errors, leader
                              changes, lost connections); restoring, times
                              the stream was read again after a stall */
    uint64_t stream_seq;   /* the stream sequence of the last message
                              acknowledged or read */
    uint64_t reserved[8];
} durlog_ship_stats;

typedef struct durlog_ship durlog_ship;

enum durlog_ship_mode {
    DURLOG_SHIP_PUBLISH = 1, /* copy the log's records to the stream */
    DURLOG_SHIP_RESTORE = 2, /* rebuild the log from the stream */
};

/* Zero-fills *o (nothing for NULL). */
void durlog_ship_options_init(durlog_ship_options *o);

/* Prepares a session on the log at log_path: checks the options, opens the
 * log's cursor (publish) or the log (restore, creating it), and takes the
 * log's shipping lock for this cursor (a second shipper of the log with
 * the same cursor is refused: -EBUSY naming the holder). Nothing is
 * connected yet. *out is NULL on error; the message goes to o->errbuf.
 * Errors: -EINVAL (a required option missing, a bad name, reserved fields
 * set, an unknown mode); -EBUSY (another session holds the lock); the
 * errors of durlog_log_id, durlog_cursor_open and durlog_open; -ENOMEM. */
int durlog_ship_open(const char *log_path, int mode, const durlog_ship_options *o,
                     durlog_ship **out);

/* Runs the session: connects, resumes after the stream's last message of
 * the log, ships (or restores) until the end (without follow) or until
 * durlog_ship_interrupt. Returns 0 when it has shipped everything there
 * was to ship (or was interrupted: durlog_ship_stats says how far it got).
 * Errors (message: durlog_ship_errmsg):
 * -EHOSTUNREACH (no server could be reached, without follow);
 * -EACCES (the servers refused the credentials, or the account may not use
 * the stream); -EPROTO (TLS required by one side and not the other, or
 * the TLS handshake failed); DURLOG_ENOTFOUND (no such stream, without
 * create_stream; or, without follow, a stream found before missing for 30 s:
 * with follow that is waited for, and never made anew); -EEXIST (the subject holds another log's messages, or
 * another shipper is publishing this log to it); DURLOG_ETRIMMED (records
 * not yet shipped were removed from the log); DURLOG_ECORRUPT (the stream
 * and the log disagree about a record: a copied or rolled-back log; or a
 * message in the stream whose headers or checksum do not hold, restore);
 * -ENOTEMPTY (restore: the log holds records of another log); -EMSGSIZE (a
 * record larger than the servers' max_payload); -EIO (a server error not
 * listed, with its text); the errors of reading and appending to the log. */
int durlog_ship_run(durlog_ship *s);

/* Makes durlog_ship_run return promptly (after committing the cursor to
 * what the stream acknowledged). Callable from any thread and from a signal
 * handler. Returns 0; -EINVAL for NULL. */
int durlog_ship_interrupt(durlog_ship *s);

/* The session's figures so far into *out (zeros for NULL s). */
void durlog_ship_get_stats(durlog_ship *s, durlog_ship_stats *out);

/* The last failure's message ("no error" before any). */
const char *durlog_ship_errmsg(const durlog_ship *s);

/* Ends the session: releases the lock, closes the connection and the log. */
void durlog_ship_close(durlog_ship *s);

#ifdef __cplusplus
}
#endif

#endif
