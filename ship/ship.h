/*
 * ship.h - a shipping session (durlog_ship in durlog_ship.h), shared by
 * session.c (opening, the lock, options, status lines, closing),
 * publish.c (copying the log to the stream) and restore.c (rebuilding a
 * log from it).
 */
#ifndef DLS_SHIP_H
#define DLS_SHIP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "durlog.h"
#include "durlog_ship.h"
#include "sink.h"

#define DLS_ERRMSG_SIZE 768

/* Lines said through the status callback, once per change between them. */
enum dls_state {
    DLS_STATE_NONE,
    DLS_STATE_CONNECTED,     /* connected, resumed */
    DLS_STATE_UNREACHABLE,   /* no server answers: retrying */
    DLS_STATE_RETRYING,      /* an error publishing: resyncing */
    DLS_STATE_CAUGHT_UP,     /* following, nothing to ship */
    DLS_STATE_SHIPPING,      /* shipping records */
    DLS_STATE_MISSING,       /* the stream shipped to is gone: waiting */
};

struct durlog_ship {
    int mode;                           /* DURLOG_SHIP_PUBLISH or _RESTORE */
    char *log_path;
    durlog_ship_options o;              /* strings owned (copies) */
    char cursor_name[DURLOG_CURSOR_NAME_MAX + 1];
    char log_id[DURLOG_LOG_ID_LEN + 1]; /* publish: the log's */
    char instance[DLS_SHIPPER_LEN + 1]; /* this session's id */
    int lock_fd;                        /* the shipping lock (flock) */
    durlog_cursor *cursor;              /* publish: the position */
    durlog *log;                        /* restore: the log written */
    durlog_reader *_Atomic reader;      /* publish: for interrupt */
    struct dls_sink *sink;
    atomic_int stop;

    /* Outcomes of sends (publish.c), from the sink's thread. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t sent;          /* sends made in this run */
    uint64_t resolved;      /* outcomes received for them */
    uint64_t sent_end;      /* records below this were sent */
    uint64_t acked_end;     /* records below this are stored */
    uint64_t stored;        /* messages stored by this session */
    uint64_t last_pos;      /* stream sequence of the last one acked */
    int ack_err;            /* first failed outcome of this run (0: none) */
    int waiting;            /* the session waits on cv for an outcome */
    unsigned window;        /* sends awaiting their outcome, at most */
    int dup_seen;           /* a send came back a duplicate */
    int interleaved;        /* the stream took other messages between ours */
    int stream_seen;        /* the stream was there once this session */
    uint64_t seen_pos;      /* stream sequence of the subject's last message
                               when the session last looked (0: none) */
    char ack_text[256];

    durlog_ship_stats st;
    enum dls_state state;
    char errmsg[DLS_ERRMSG_SIZE];
};

/* Records the session's error (rc) with a message; returns rc. */
int dls_fail(durlog_ship *s, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Says a line through the status callback when the state changes. */
void dls_say(durlog_ship *s, enum dls_state state, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sleeps ms milliseconds, waking early on durlog_ship_interrupt. */
void dls_nap(durlog_ship *s, int ms);
/* The CRC32C of the data (libdurlog's own: src/crc32c.c). */
uint32_t dls_crc32c(const void *data, size_t len);

int dls_publish(durlog_ship *s);
int dls_restore(durlog_ship *s);
/* The ack function publish.c gives the sink. */
void dls_on_ack(void *ctx, uint64_t seq, uint64_t pos, int duplicate, int status,
                const char *text);

#endif
