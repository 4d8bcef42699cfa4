/*
 * jetstream.c - the NATS JetStream sink (sink.h), through nats.c.
 *
 * Each record is one message on the session's subject:
 *   data            the record's bytes, exactly
 *   Nats-Msg-Id     LOGID:SEQ - the server drops a second message with the
 *                   same id within the stream's duplicate window
 *   Durlog          "LOGID SEQ TIME CRC32C SHIPPER": the log's identity, the
 *                   record's seq and time (ns since the epoch), the CRC32C of
 *                   the data, and the id of the session that published it
 *   Nats-Expected-Last-Msg-Id
 *                   the previous record's LOGID:SEQ: the server refuses the
 *                   message ("wrong last msg id") unless that is the
 *                   stream's last message, so a message whose predecessor
 *                   was lost is never stored after it, no other client's
 *                   message can stand in for the predecessor, and two
 *                   shippers cannot interleave. Sends are asynchronous
 *                   (js_PublishMsgAsync), up to a window.
 *   Nats-Expected-Last-Sequence
 *                   instead, for the first message of a run: the stream's
 *                   last sequence as the run read it (0: empty).
 *   Nats-Expected-Last-Subject-Sequence
 *                   instead, when the stream holds other subjects' messages
 *                   too (publish.c then sends one message at a time, each
 *                   after its predecessor's acknowledgement): the stream
 *                   sequence of the subject's last message. Not pipelined:
 *                   nats-server 2.9 checks this one, in a cluster, against
 *                   the messages already stored, not against those still
 *                   being replicated, so a second message sent before the
 *                   first is stored is refused (measured: nearly every one,
 *                   with a window of 16 on an R3 stream).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

#include "sink.h"

/* Servers a session may be given, at most. */
#define DLS_MAX_SERVERS 64

struct js_sink {
    struct dls_sink base;
    natsOptions *opts;
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub;   /* reading */
    uint64_t expect;         /* stream sequence the next send's predecessor
                                has (predicted) */
    int by_subject;          /* condition on the subject's last message,
                                not the stream's (js_begin) */
    int run_sent;            /* a message was sent since js_begin */
    int published;           /* an asynchronous publish was made on js:
                                nats.c 3.4's js_PublishAsyncGetPendingList
                                crashes on a context that never made one */
    /* Messages whose outcome came, destroyed later by the sending thread
     * (js_free_done). nats.c 3.4 registers a message for its outcome
     * before it writes it: an outcome that comes meanwhile (a timeout
     * fired by its timer thread: a short --timeout, or the process
     * stopped for longer than the timeout) would have the handler destroy
     * the message js_PublishMsgAsync is still writing. */
    pthread_mutex_t done_mu;
    natsMsg **done;
    size_t done_n, done_cap;
};

static struct js_sink *js_of(struct dls_sink *k)
{
    return (struct js_sink *)k;
}

/* Parsing the header by hand: restore parses one a message, and sscanf
 * cost a tenth of its time. */
static const char *hex_field(const char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++, p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return NULL;
        out[i] = *p;
    }
    out[n] = '\0';
    return p;
}

static const char *dec_field(const char *p, uint64_t *out)
{
    uint64_t v = 0;
    const char *start = p;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10)
            return NULL;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v;
    return p > start && p - start <= 20 ? p : NULL;
}

int dls_parse_record_header(const char *v, struct dls_msg *m)
{
    char crc[9];
    const char *p = v ? hex_field(v, DURLOG_LOG_ID_LEN, m->log_id) : NULL;
    if (p && *p++ == ' ')
        p = dec_field(p, &m->seq);
    else
        p = NULL;
    if (p && *p++ == ' ')
        p = dec_field(p, &m->time_ns);
    else
        p = NULL;
    if (p && *p++ == ' ')
        p = hex_field(p, 8, crc);
    else
        p = NULL;
    if (p && *p++ == ' ')
        p = hex_field(p, DLS_SHIPPER_LEN, m->shipper);
    else
        p = NULL;
    if (!p || *p != '\0')
        return -1;
    m->crc = (uint32_t)strtoul(crc, NULL, 16);
    return 0;
}

void dls_format_record_header(char out[DLS_HEADER_MAX], const struct dls_msg *m)
{
    snprintf(out, DLS_HEADER_MAX, "%s %" PRIu64 " %" PRIu64 " %08" PRIx32 " %s", m->log_id,
             m->seq, m->time_ns, m->crc, m->shipper);
}

/* A message read from the stream as a dls_msg (log_id "" when it carries
 * no durlog header). */
static void from_nats(natsMsg *msg, uint64_t pos, struct dls_msg *out)
{
    const char *v = NULL;
    memset(out, 0, sizeof *out);
    if (natsMsgHeader_Get(msg, "Durlog", &v) != NATS_OK || dls_parse_record_header(v, out) != 0)
        memset(out, 0, sizeof *out);
    out->data = natsMsg_GetData(msg);
    out->len = (size_t)natsMsg_GetDataLength(msg);
    out->pos = pos;
    out->handle = msg;
}

/* The error a nats.c status stands for, with its text. */
static int from_status(natsStatus s, const char *what, char *err, size_t errlen)
{
    const char *text = nats_GetLastError(NULL);
    if (!text || !*text)
        text = natsStatus_GetText(s);
    /* nats.c puts where in its sources the error arose first: "(conn.c:1905): " */
    const char *loc = text[0] == '(' ? strstr(text, "): ") : NULL;
    if (loc)
        text = loc + 3;
    snprintf(err, errlen, "%s: %s", what, text);
    switch (s) {
    case NATS_NO_SERVER:
    case NATS_TIMEOUT:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_STALE_CONNECTION:
    case NATS_IO_ERROR:
    case NATS_NO_RESPONDERS:
    case NATS_NOT_YET_CONNECTED:
        return DLS_TRANSIENT;
    case NATS_CONNECTION_AUTH_FAILED:
    case NATS_NOT_PERMITTED:
        return -EACCES;
    case NATS_SECURE_CONNECTION_WANTED:
    case NATS_SECURE_CONNECTION_REQUIRED:
    case NATS_SSL_ERROR:
        return -EPROTO;
    case NATS_INVALID_ARG:
    case NATS_ADDRESS_MISSING:
    case NATS_INVALID_SUBJECT:
        return -EINVAL;
    case NATS_NO_MEMORY:
        return -ENOMEM;
    default:
        return -EIO;
    }
}

/* The error a JetStream API error code stands for. */
static int from_js(natsStatus s, jsErrCode code, const char *what, char *err, size_t errlen)
{
    int rc = from_status(s, what, err, errlen);
    switch ((int)code) {
    case 0:
        return rc;
    case JSStreamNotFoundErr:
        return DURLOG_ENOTFOUND;
    case JSClusterNoPeersErr:
    case 10008: /* JSClusterNotAvailErr */
    case 10009: /* JSClusterNotLeaderErr */
    case 10006: /* JSClusterNotActiveErr */
        return DLS_TRANSIENT;
    default:
        return rc == DLS_TRANSIENT ? rc : -EIO;
    }
}

/* Keeps msg for js_free_done (destroys it at once if out of memory to
 * keep it: a crash risk only then). */
static void js_done(struct js_sink *k, natsMsg *msg)
{
    pthread_mutex_lock(&k->done_mu);
    if (k->done_n == k->done_cap) {
        size_t cap = k->done_cap ? 2 * k->done_cap : 256;
        natsMsg **d = realloc(k->done, cap * sizeof *d);
        if (!d) {
            pthread_mutex_unlock(&k->done_mu);
            natsMsg_Destroy(msg);
            return;
        }
        k->done = d;
        k->done_cap = cap;
    }
    k->done[k->done_n++] = msg;
    pthread_mutex_unlock(&k->done_mu);
}

/* Destroys the messages whose outcome came: called by the sending thread
 * outside js_PublishMsgAsync, when none of them can be in use. */
static void js_free_done(struct js_sink *k)
{
    pthread_mutex_lock(&k->done_mu);
    for (size_t i = 0; i < k->done_n; i++)
        natsMsg_Destroy(k->done[i]);
    k->done_n = 0;
    pthread_mutex_unlock(&k->done_mu);
}

/* nats.c's outcome of one asynchronous publish: handed on as an ack. */
/* The record's seq a message sent carries: after the ':' of its
 * Nats-Msg-Id (cheaper than parsing the whole Durlog header). */
static uint64_t sent_seq(natsMsg *msg)
{
    const char *id = NULL;
    if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) != NATS_OK || !id)
        return UINT64_MAX;
    const char *colon = strrchr(id, ':');
    return colon ? strtoull(colon + 1, NULL, 10) : UINT64_MAX;
}

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    (void)js;
    struct js_sink *k = closure;
    struct dls_msg m;
    m.seq = sent_seq(msg);
    if (pa) {
        k->base.ack(k->base.ack_ctx, m.seq, pa->Sequence, pa->Duplicate, 0, "");
    } else {
        int st = DLS_TRANSIENT;
        const char *text = pae && pae->ErrText ? pae->ErrText : "";
        /* A condition that failed: the message named (a sequence, or
         * the previous record's id) is not the stream's last. Its own
         * message may have been lost on the way (a server killed with it
         * unread: its outcome, a timeout, comes seconds after this one),
         * or another client's message came in between: a resync finds
         * out which. */
        if (pae && (pae->ErrCode == JSStreamWrongLastSequenceErr ||
                    pae->ErrCode == JSStreamWrongLastMsgIDErr))
            st = DLS_WRONG_LAST;
        else if (pae && pae->ErrCode == JSStreamNotMatchErr)
            st = -EINVAL;
        else if (pae && pae->ErrCode == JSStreamMessageExceedsMaximumErr)
            st = -EMSGSIZE;
        else if (pae && pae->ErrCode == JSStreamNotFoundErr)
            st = DURLOG_ENOTFOUND;
        else if (pae && pae->ErrCode != 0 && pae->ErrCode != JSClusterNoPeersErr &&
                 pae->ErrCode != 10008 && pae->ErrCode != 10009 && pae->ErrCode != 10006 &&
                 pae->ErrCode != JSStreamStoreFailedErr && pae->ErrCode != JSInsufficientResourcesErr)
            st = -EIO;
        if (!*text && pae)
            text = natsStatus_GetText(pae->Err);
        k->base.ack(k->base.ack_ctx, m.seq, 0, 0, st, text);
    }
    js_done(k, msg);
}

/* Drops the connection (a new one is made by js_connect). */
static void js_disconnect(struct js_sink *k)
{
    /* The connection is closed first, which ends its reading thread: a
     * subscription destroyed while messages still flow to it (a restore
     * interrupted mid-stream) was used by that thread after it was freed
     * (nats.c 3.4: SIGSEGV, or a hang in natsConnection_Close). */
    if (k->nc)
        natsConnection_Close(k->nc);
    if (k->js) {
        natsMsgList pending;
        if (k->published && js_PublishAsyncGetPendingList(&pending, k->js) == NATS_OK)
            natsMsgList_Destroy(&pending);
    }
    if (k->sub)
        natsSubscription_Destroy(k->sub);
    if (k->js)
        jsCtx_Destroy(k->js);
    if (k->nc)
        natsConnection_Destroy(k->nc);
    natsOptions_Destroy(k->opts);
    k->sub = NULL;
    k->published = 0;
    k->js = NULL;
    k->nc = NULL;
    k->opts = NULL;
    js_free_done(k); /* the connection's threads are gone */
}

static int js_connect(struct dls_sink *base, char *err, size_t errlen)
{
    struct js_sink *k = js_of(base);
    const durlog_ship_options *o = base->o;
    js_disconnect(k);
    natsStatus s = natsOptions_Create(&k->opts);
    /* natsOptions_SetURL takes one server; a list goes to SetServers. */
    char *list = strdup(o->servers);
    const char *urls[DLS_MAX_SERVERS];
    int n = 0;
    if (!list)
        s = NATS_NO_MEMORY;
    for (char *save = NULL, *u = list ? strtok_r(list, ",", &save) : NULL;
         u && n < DLS_MAX_SERVERS; u = strtok_r(NULL, ",", &save))
        urls[n++] = u;
    if (s == NATS_OK)
        s = n ? natsOptions_SetServers(k->opts, urls, n) : NATS_ADDRESS_MISSING;
    free(list);
    if (s == NATS_OK)
        s = natsOptions_SetName(k->opts, "durlog");
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(k->opts, o->connect_timeout_ms ? o->connect_timeout_ms : 2000);
    /* Reconnecting is nats.c's, forever; whether to wait for it is the
     * session's (its resyncs give up without follow). */
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(k->opts, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(k->opts, 200);
    if (s == NATS_OK && o->creds_file)
        s = natsOptions_SetUserCredentialsFromFiles(k->opts, o->creds_file, NULL);
    if (s == NATS_OK && (o->user || o->password))
        s = natsOptions_SetUserInfo(k->opts, o->user ? o->user : "",
                                    o->password ? o->password : "");
    if (s == NATS_OK && o->token)
        s = natsOptions_SetToken(k->opts, o->token);
    if (s == NATS_OK && o->ca_file) {
        s = natsOptions_SetSecure(k->opts, true);
        if (s == NATS_OK)
            s = natsOptions_LoadCATrustedCertificates(k->opts, o->ca_file);
    }
    if (s == NATS_OK && o->cert_file)
        s = natsOptions_LoadCertificatesChain(k->opts, o->cert_file,
                                              o->key_file ? o->key_file : o->cert_file);
    if (s != NATS_OK) {
        int rc = from_status(s, "NATS client options", err, errlen);
        return rc == DLS_TRANSIENT ? -EINVAL : rc;
    }
    s = natsConnection_Connect(&k->nc, k->opts);
    if (s != NATS_OK) {
        char what[300];
        snprintf(what, sizeof what, "cannot connect to %s", o->servers);
        int rc = from_status(s, what, err, errlen);
        return rc == DLS_TRANSIENT ? -EHOSTUNREACH : rc;
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = o->ack_timeout_ms ? o->ack_timeout_ms : 5000;
    jo.PublishAsync.AckHandler = on_ack;
    jo.PublishAsync.AckHandlerClosure = k;
    /* The session keeps its own window; nats.c's is only a backstop. */
    jo.PublishAsync.MaxPending = 2 * (o->window ? o->window : 4096) + 16;
    s = natsConnection_JetStream(&k->js, k->nc, &jo);
    if (s != NATS_OK)
        return from_status(s, "JetStream context", err, errlen) == -ENOMEM ? -ENOMEM : -EIO;
    return 0;
}

static int js_connected(struct dls_sink *base)
{
    struct js_sink *k = js_of(base);
    if (!k->nc || natsConnection_IsClosed(k->nc))
        return -1; /* nats.c gave up: connect again */
    return natsConnection_Status(k->nc) == NATS_CONN_STATUS_CONNECTED;
}

/* Whether the subject filter f (tokens, "*" one token, ">" the rest)
 * matches the literal subject s. */
static int subject_matches(const char *f, const char *s)
{
    for (;;) {
        const char *fe = strchr(f, '.'), *se = strchr(s, '.');
        size_t fl = fe ? (size_t)(fe - f) : strlen(f), sl = se ? (size_t)(se - s) : strlen(s);
        if (fl == 1 && f[0] == '>')
            return 1;
        if (!(fl == 1 && f[0] == '*') && (fl != sl || memcmp(f, s, fl) != 0))
            return 0;
        if (!fe || !se)
            return !fe && !se;
        f = fe + 1;
        s = se + 1;
    }
}

static int js_prepare(struct dls_sink *base, char *err, size_t errlen)
{
    struct js_sink *k = js_of(base);
    const durlog_ship_options *o = base->o;
    jsStreamInfo *si = NULL;
    jsErrCode code = 0;
    char what[300];
    natsStatus s = js_GetStreamInfo(&si, k->js, o->stream, NULL, &code);
    if (s != NATS_OK && code == JSStreamNotFoundErr && o->create_stream) {
        jsStreamConfig cfg;
        const char *subjects[1] = { o->subject };
        jsStreamConfig_Init(&cfg);
        cfg.Name = o->stream;
        cfg.Subjects = subjects;
        cfg.SubjectsLen = 1;
        cfg.Storage = js_FileStorage;
        cfg.Replicas = o->replicas ? o->replicas : 1;
        code = 0;
        s = js_AddStream(&si, k->js, &cfg, NULL, &code);
        if (s != NATS_OK && code == 10058) { /* JSStreamNameExistErr: made meanwhile */
            code = 0;
            s = js_GetStreamInfo(&si, k->js, o->stream, NULL, &code);
        }
        snprintf(what, sizeof what, "cannot create stream %s", o->stream);
    } else {
        snprintf(what, sizeof what, "stream %s", o->stream);
    }
    if (s != NATS_OK) {
        int rc = from_js(s, code, what, err, errlen);
        if (rc == DURLOG_ENOTFOUND)
            snprintf(err, errlen, "there is no stream %s on %s", o->stream, o->servers);
        return rc;
    }
    int takes = 0;
    for (int i = 0; i < si->Config->SubjectsLen && !takes; i++)
        takes = subject_matches(si->Config->Subjects[i], o->subject);
    jsStreamInfo_Destroy(si);
    if (!takes) {
        snprintf(err, errlen, "stream %s does not take subject %s (its subjects do not match "
                 "it)", o->stream, o->subject);
        return -EINVAL;
    }
    return 0;
}

static int js_last(struct dls_sink *base, struct dls_msg *out, char *err, size_t errlen)
{
    struct js_sink *k = js_of(base);
    const durlog_ship_options *o = base->o;
    natsMsg *msg = NULL;
    jsErrCode code = 0;
    natsStatus s = js_GetLastMsg(&msg, k->js, o->stream, o->subject, NULL, &code);
    if (s != NATS_OK) {
        if (code == JSNoMessageFoundErr)
            return 0;
        char what[300];
        snprintf(what, sizeof what, "the last message of %s in stream %s", o->subject, o->stream);
        return from_js(s, code, what, err, errlen);
    }
    from_nats(msg, natsMsg_GetSequence(msg), out);
    return 1;
}

static void js_begin(struct dls_sink *base, uint64_t pos, int by_subject)
{
    js_of(base)->expect = pos;
    js_of(base)->by_subject = by_subject;
    js_of(base)->run_sent = 0;
}

static int js_stream_last(struct dls_sink *base, uint64_t *last, char *err, size_t errlen)
{
    struct js_sink *k = js_of(base);
    jsStreamInfo *si = NULL;
    jsErrCode code = 0;
    natsStatus s = js_GetStreamInfo(&si, k->js, base->o->stream, NULL, &code);
    if (s != NATS_OK) {
        char what[300];
        snprintf(what, sizeof what, "stream %s", base->o->stream);
        return from_js(s, code, what, err, errlen);
    }
    *last = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    return 0;
}

static int js_send(struct dls_sink *base, const struct dls_msg *m, char *err, size_t errlen)
{
    struct js_sink *k = js_of(base);
    const durlog_ship_options *o = base->o;
    char id[DURLOG_LOG_ID_LEN + 24], hdr[DLS_HEADER_MAX], expect[24];
    natsMsg *msg = NULL;
    snprintf(id, sizeof id, "%s:%" PRIu64, m->log_id, m->seq);
    snprintf(expect, sizeof expect, "%" PRIu64, k->expect);
    dls_format_record_header(hdr, m);
    natsStatus s = natsMsg_Create(&msg, o->subject, NULL, m->data, (int)m->len);
    /* Set here rather than through jsPubOptions, which cannot say 0 (an
     * empty stream) for the stream's last sequence. */
    if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, "Nats-Msg-Id", id);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, "Durlog", hdr);
    /* The condition: the first message of a run on the stream's last
     * sequence as read; each next one on its predecessor's Nats-Msg-Id being
     * the stream's last (exact, where a predicted sequence could be taken
     * by another client's message, letting this one in after a gap); with
     * by_subject, on the subject's last sequence. */
    char prev[DURLOG_LOG_ID_LEN + 24];
    snprintf(prev, sizeof prev, "%s:%" PRIu64, m->log_id, m->seq - 1);
    if (s == NATS_OK && k->by_subject)
        s = natsMsgHeader_Set(msg, "Nats-Expected-Last-Subject-Sequence", expect);
    else if (s == NATS_OK && !k->run_sent)
        s = natsMsgHeader_Set(msg, "Nats-Expected-Last-Sequence", expect);
    else if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, "Nats-Expected-Last-Msg-Id", prev);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = o->ack_timeout_ms ? o->ack_timeout_ms : 5000;
    if (s == NATS_OK) {
        k->published = 1;
        s = js_PublishMsgAsync(k->js, &msg, &po);
    }
    natsMsg_Destroy(msg); /* NULL when nats.c took it */
    js_free_done(k);
    if (s != NATS_OK)
        return from_status(s, "publish", err, errlen);
    k->expect++;
    k->run_sent = 1;
    return 0;
}

static void js_drain(struct dls_sink *base, int timeout_ms)
{
    struct js_sink *k = js_of(base);
    if (!k->js || !k->published)
        return;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = timeout_ms > 0 ? timeout_ms : 1;
    if (js_PublishAsyncComplete(k->js, &po) != NATS_OK) {
        natsMsgList pending;
        if (js_PublishAsyncGetPendingList(&pending, k->js) == NATS_OK)
            natsMsgList_Destroy(&pending);
    }
    js_free_done(k);
}

/* The stream sequence in the reply subject of a message a consumer
 * delivered: "$JS.ACK.STREAM.CONSUMER.DELIVERED.SEQ..." (9 tokens), or with
 * a domain and an account hash after "ACK" (11 or more). 0 if it is not
 * one: js_position then asks nats.c, at the cost of an allocation. */
static uint64_t ack_subject_pos(const char *reply)
{
    if (!reply || strncmp(reply, "$JS.ACK.", 8) != 0)
        return 0;
    const char *start[8]; /* of the first tokens */
    int n = 0;
    for (const char *p = reply;; p++) {
        if (n < 8)
            start[n] = p;
        n++;
        if (!(p = strchr(p, '.')))
            break;
    }
    int at = n == 9 ? 5 : n >= 11 ? 7 : -1;
    if (at < 0)
        return 0;
    char *end;
    unsigned long long v = strtoull(start[at], &end, 10);
    return end != start[at] && *end == '.' ? (uint64_t)v : 0;
}

static int js_read_open(struct dls_sink *base, uint64_t from_pos, char *err, size_t errlen)
{
    struct js_sink *k = js_of(base);
    const durlog_ship_options *o = base->o;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = o->stream;
    so.Ordered = true;
    so.Config.DeliverPolicy = from_pos ? js_DeliverByStartSequence : js_DeliverAll;
    so.Config.OptStartSeq = from_pos;
    jsErrCode code = 0;
    natsStatus s = js_SubscribeSync(&k->sub, k->js, o->subject, NULL, &so, &code);
    if (s != NATS_OK) {
        char what[300];
        snprintf(what, sizeof what, "cannot read %s from stream %s", o->subject, o->stream);
        return from_js(s, code, what, err, errlen);
    }
    /* Messages arrive as fast as the server sends them: no limit on how
     * many wait in the subscription (the reader takes them in order). */
    natsSubscription_SetPendingLimits(k->sub, -1, -1);
    return 0;
}

static int js_read_next(struct dls_sink *base, struct dls_msg *out, int timeout_ms, char *err,
                        size_t errlen)
{
    struct js_sink *k = js_of(base);
    natsMsg *msg = NULL;
    natsStatus s = natsSubscription_NextMsg(&msg, k->sub, timeout_ms > 0 ? timeout_ms : 1);
    if (s == NATS_TIMEOUT)
        return 0;
    if (s != NATS_OK)
        return from_status(s, "reading the stream", err, errlen);
    from_nats(msg, ack_subject_pos(natsMsg_GetReply(msg)), out);
    return 1;
}

static uint64_t js_position(struct dls_sink *base, const struct dls_msg *m)
{
    (void)base;
    jsMsgMetaData *meta = NULL;
    uint64_t pos = m->pos;
    if (!pos && m->handle && natsMsg_GetMetaData(&meta, m->handle) == NATS_OK) {
        pos = meta->Sequence.Stream;
        jsMsgMetaData_Destroy(meta);
    }
    return pos;
}

static void js_release(struct dls_sink *base, struct dls_msg *m)
{
    (void)base;
    natsMsg_Destroy(m->handle);
    m->handle = NULL;
}

static void js_close(struct dls_sink *base)
{
    struct js_sink *k = js_of(base);
    js_disconnect(k);
    free(k->done);
    pthread_mutex_destroy(&k->done_mu);
    free(k);
}

static const struct dls_sink_ops js_ops = {
    .name = "NATS JetStream",
    .connect = js_connect,
    .connected = js_connected,
    .prepare = js_prepare,
    .last = js_last,
    .begin = js_begin,
    .stream_last = js_stream_last,
    .send = js_send,
    .drain = js_drain,
    .read_open = js_read_open,
    .read_next = js_read_next,
    .position = js_position,
    .release = js_release,
    .close = js_close,
};

struct dls_sink *dls_jetstream_new(const durlog_ship_options *o, dls_ack_fn *ack, void *ctx)
{
    struct js_sink *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->base = (struct dls_sink){ &js_ops, o, ack, ctx };
    pthread_mutex_init(&k->done_mu, NULL);
    return &k->base;
}
