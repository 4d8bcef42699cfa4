/*
 * sink.h - where libdurlog-ship copies a log's records to: the small
 * interface between the engine-independent session (session.c,
 * publish.c, restore.c) and one replicated store. jetstream.c implements
 * it for NATS JetStream; another (Kafka through librdkafka, say) would
 * implement the same operations.
 *
 * What a sink must give, for exactly-once shipping:
 * - the last message it holds for the subject, read from the store itself
 *   (not from local state), with the record it carries;
 * - asynchronous sends whose outcome comes back per message, each send
 *   made conditional on the message before it being the last one stored
 *   (so that a message whose predecessor was lost is refused, never stored
 *   out of order), and deduplicated by LOGID:SEQ;
 * - reading the subject's messages in order, from the start.
 */
#ifndef DLS_SINK_H
#define DLS_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "durlog.h"
#include "durlog_ship.h"

#define DLS_SHIPPER_LEN 16 /* hex digits of a session's instance id */

/* One record as a message. */
struct dls_msg {
    char log_id[DURLOG_LOG_ID_LEN + 1];  /* "" when the message is not one
                                            of durlog's */
    char shipper[DLS_SHIPPER_LEN + 1];   /* the session that published it */
    uint64_t seq, time_ns;
    uint32_t crc;                        /* CRC32C of the data */
    const void *data;
    size_t len;
    uint64_t pos;                        /* the store's position (stream
                                            sequence) */
    void *handle;                        /* the sink's, for release */
};

/* The outcome of one send, in whatever thread the sink delivers it:
 * status 0 (stored at pos, or a duplicate already stored), or an error
 * (DLS_* below or -errno) with the store's text. */
typedef void dls_ack_fn(void *ctx, uint64_t seq, uint64_t pos, int duplicate, int status,
                        const char *text);

/* Outcomes a session treats specially. */
#define DLS_WRONG_LAST 1    /* the condition failed: the message before
                               was not the last one stored */
#define DLS_TRANSIENT 2     /* timed out, no responders, disconnected: try
                               again after a resync */
#define DLS_MISSING 3       /* the session's stream, there before, is not
                               now (publish.c: waited for, never made) */

struct dls_sink;

struct dls_sink_ops {
    const char *name;
    /* Connects. 0; -EHOSTUNREACH (no server answered: worth retrying);
     * -EACCES, -EPROTO, -EINVAL (not worth retrying); message in err. */
    int (*connect)(struct dls_sink *k, char *err, size_t errlen);
    /* 1 connected, 0 reconnecting, -1 closed for good (connect again). */
    int (*connected)(struct dls_sink *k);
    /* Checks the stream exists and captures the subject (creating it when
     * the options ask). DURLOG_ENOTFOUND; -EINVAL (the stream does not
     * take the subject); DLS_TRANSIENT; -EACCES; -EIO. */
    int (*prepare)(struct dls_sink *k, char *err, size_t errlen);
    /* The subject's last message into *out (release it): 1 found, 0 none,
     * or an error (DLS_TRANSIENT, -EACCES, -EIO, DURLOG_ENOTFOUND). */
    int (*last)(struct dls_sink *k, struct dls_msg *out, char *err, size_t errlen);
    /* Begins a run of sends after the message at pos: the first send is
     * conditional on pos being the stream's last message (0: the stream is
     * empty), each next one on its predecessor (the previous record's
     * message) being the stream's last; with by_subject, on pos being the
     * subject's last message (0: none there), for one send at a time (the
     * stream takes other subjects too). */
    void (*begin)(struct dls_sink *k, uint64_t pos, int by_subject);
    /* The stream's last position (0: empty). DLS_TRANSIENT, -EACCES, -EIO,
     * DURLOG_ENOTFOUND. */
    int (*stream_last)(struct dls_sink *k, uint64_t *last, char *err, size_t errlen);
    /* Sends one message (m->log_id, shipper, seq, time_ns, crc, data, len)
     * asynchronously; its outcome comes through the ack function. An
     * error here means it was not sent (no outcome will come). */
    int (*send)(struct dls_sink *k, const struct dls_msg *m, char *err, size_t errlen);
    /* Waits until every send has its outcome, at most timeout_ms; then
     * forgets those still without one (their outcome never comes). */
    void (*drain)(struct dls_sink *k, int timeout_ms);
    /* Reading: positions at the subject's first message (from_pos 0), or
     * at its first message at stream position from_pos or after. */
    int (*read_open)(struct dls_sink *k, uint64_t from_pos, char *err, size_t errlen);
    /* The next message into *out (release it): 1, 0 (none within
     * timeout_ms), or an error. */
    int (*read_next)(struct dls_sink *k, struct dls_msg *out, int timeout_ms, char *err,
                     size_t errlen);
    /* The store's position of a message read (m->pos; found on demand if
     * the message did not say). */
    uint64_t (*position)(struct dls_sink *k, const struct dls_msg *m);
    void (*release)(struct dls_sink *k, struct dls_msg *m);
    void (*close)(struct dls_sink *k);
};

struct dls_sink {
    const struct dls_sink_ops *ops;
    const durlog_ship_options *o;  /* the session's (outlives the sink) */
    dls_ack_fn *ack;
    void *ack_ctx;
};

/* The NATS JetStream sink (jetstream.c): NULL when out of memory. */
struct dls_sink *dls_jetstream_new(const durlog_ship_options *o, dls_ack_fn *ack, void *ctx);

/* Parses a message's durlog header value (jetstream.c writes it:
 * "LOGID SEQ TIME CRC32C SHIPPER", decimal, decimal, 8 hex, 16 hex) into
 * m. 0, or -1 when it is not one. */
int dls_parse_record_header(const char *value, struct dls_msg *m);
/* The header value for m into out (room for DLS_HEADER_MAX bytes). */
#define DLS_HEADER_MAX 128
void dls_format_record_header(char out[DLS_HEADER_MAX], const struct dls_msg *m);

#endif
