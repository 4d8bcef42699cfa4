/* nats_plain - the plain nats.c baselines for the `durlog ship` benchmarks
 * (issue #20): what JetStream itself does with 100-byte records through
 * nats.c alone, so that durlog's shipping numbers can be read against it.
 * Uses nothing of durlog.
 *
 *   nats_plain create  URL STREAM SUBJECT REPLICAS
 *       creates a file-storage stream holding SUBJECT with REPLICAS copies.
 *   nats_plain delete  URL STREAM
 *       deletes the stream (benchmarks free the disk between rounds).
 *   nats_plain publish URL STREAM SUBJECT COUNT [WINDOW] [--headers[=id]]
 *       publishes COUNT 100-byte records to SUBJECT (the stream exists) with
 *       js_PublishAsync, at most WINDOW (default 4096) acks pending, waits
 *       for every ack; prints "publish COUNT records SECONDS s RATE rec/s".
 *       --headers: each message carries the headers `durlog ship` gives a
 *       record (ship/jetstream.c), with values of the same form and length,
 *       sent with js_PublishMsgAsync; prints "publish+headers ...". What
 *       ship costs beyond plain publish splits into this one's cost (headers
 *       in the client, on the wire, replicated, stored; the server's
 *       duplicate window and expected-sequence check) and durlog's own.
 *       --headers=id: the Nats-Msg-Id header alone (prints "publish+id
 *       ..."), which splits the headers' cost further: the duplicate
 *       window's, and the rest (the Durlog header's bytes, the condition).
 *   nats_plain latency URL STREAM SUBJECT RATE SECONDS [WINDOW] [--headers]
 *       publishes RATE*SECONDS 100-byte records paced at RATE/s (record i
 *       due at start + i/RATE) with js_PublishAsync (--headers: with
 *       durlog's headers, as publish --headers), at most WINDOW
 *       (default 4096) pending, and measures each one's latency from just
 *       before its js_PublishAsync to its ack (stamped in the ack handler):
 *   latency[+headers] N records R rec/s lag_ms p50 A p90 B p99 C max D send_ms p50 E p99 F unacked U
 *       (the same form as ship_lag's line: R is the rate reached, "send_ms"
 *       how far behind its due time each publish was made, "unacked" the
 *       records not acknowledged 20 s after the last publish, counted with
 *       the latency they had then). The floor under ship_lag's lag, which
 *       runs from a sync append's return to the ack.
 *   nats_plain consume URL STREAM SUBJECT COUNT [ordered|pull]
 *       reads COUNT messages of SUBJECT from the start of STREAM with an
 *       ordered push consumer (the default) or a pull consumer; prints
 *       "consume COUNT records SECONDS s RATE rec/s".
 *
 * URL is one server URL or several separated by commas. Credentials come
 * from the environment as tests/lib/nats.sh exports them: NATS_USER and
 * NATS_PASSWORD, or NATS_TOKEN; NATS_CA=FILE makes the connection require
 * TLS and trust the CA in FILE. Any error, nack or timeout: a message on stderr, exit status 1.
 */
#include <nats/nats.h>

#include <errno.h>
#include <stdint.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RECORD_SIZE 100

static void die(const char *what, natsStatus s, jsErrCode jerr)
{
    fprintf(stderr, "nats_plain: %s: %s", what, natsStatus_GetText(s));
    if (jerr != 0)
        fprintf(stderr, " (JetStream error %d)", (int)jerr);
    const char *last = nats_GetLastError(NULL);
    if (last != NULL && last[0] != '\0')
        fprintf(stderr, ": %s", last);
    fputc('\n', stderr);
    exit(1);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: nats_plain create URL STREAM SUBJECT REPLICAS\n"
            "       nats_plain delete URL STREAM\n"
            "       nats_plain publish URL STREAM SUBJECT COUNT [WINDOW] [--headers[=id]]\n"
            "       nats_plain latency URL STREAM SUBJECT RATE SECONDS [WINDOW] [--headers]\n"
            "       nats_plain consume URL STREAM SUBJECT COUNT [ordered|pull]\n");
    exit(2);
}

static long long number(const char *text, const char *name, long long min)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min) {
        fprintf(stderr, "nats_plain: bad %s '%s'\n", name, text);
        exit(2);
    }
    return v;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report(const char *mode, long long count, double seconds)
{
    printf("%s %lld records %.3f s %.0f rec/s\n", mode, count, seconds,
           seconds > 0 ? (double)count / seconds : 0.0);
}

/* Connects to every server of the comma-separated URL list: nats.c's own
 * URL parser takes one URL, natsOptions_SetServers a list. */
static natsConnection *connect_to(const char *urls)
{
    natsOptions *opts;
    natsStatus s = natsOptions_Create(&opts);
    if (s != NATS_OK)
        die("options", s, 0);
    char *copy = strdup(urls);
    const char *list[64];
    int n = 0;
    if (copy == NULL)
        die("out of memory", NATS_NO_MEMORY, 0);
    for (char *save = NULL, *u = strtok_r(copy, ",", &save); u != NULL && n < 64;
         u = strtok_r(NULL, ",", &save))
        list[n++] = u;
    if (n == 0)
        usage();
    s = natsOptions_SetServers(opts, list, n);
    const char *user = getenv("NATS_USER"), *password = getenv("NATS_PASSWORD");
    const char *token = getenv("NATS_TOKEN");
    if (s == NATS_OK && user != NULL && user[0] != '\0')
        s = natsOptions_SetUserInfo(opts, user, password != NULL ? password : "");
    if (s == NATS_OK && token != NULL && token[0] != '\0')
        s = natsOptions_SetToken(opts, token);
    const char *ca = getenv("NATS_CA");
    if (s == NATS_OK && ca != NULL && ca[0] != '\0') {
        s = natsOptions_SetSecure(opts, true);
        if (s == NATS_OK)
            s = natsOptions_LoadCATrustedCertificates(opts, ca);
    }
    /* A bigger socket buffer than the 32 KiB default: fewer write calls
     * for a stream of small records. */
    if (s == NATS_OK)
        s = natsOptions_SetIOBufSize(opts, 1 << 20);
    if (s != NATS_OK)
        die("options", s, 0);
    natsConnection *nc;
    s = natsConnection_Connect(&nc, opts);
    if (s != NATS_OK)
        die("connect", s, 0);
    natsOptions_Destroy(opts);
    free(copy);
    return nc;
}

static void create(jsCtx *js, const char *stream, const char *subject, long long replicas)
{
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char *subjects[1] = {subject};
    cfg.Name = stream;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = replicas;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_AddStream(&si, js, &cfg, NULL, &jerr);
    if (s != NATS_OK)
        die("create stream", s, jerr);
    jsStreamInfo_Destroy(si);
    printf("created %s for %s, %lld replicas\n", stream, subject, replicas);
}

static void delete_stream(jsCtx *js, const char *stream)
{
    jsErrCode jerr = 0;
    natsStatus s = js_DeleteStream(js, stream, NULL, &jerr);
    if (s != NATS_OK)
        die("delete stream", s, jerr);
    printf("deleted %s\n", stream);
}

/* Nacks and ack timeouts, counted by nats.c's callback thread. */
static struct {
    pthread_mutex_t mu;
    long long failures;
    char first[200];
} pub_errors = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void on_pub_error(jsCtx *js, jsPubAckErr *pae, void *closure)
{
    (void)js;
    (void)closure;
    pthread_mutex_lock(&pub_errors.mu);
    if (pub_errors.failures++ == 0)
        snprintf(pub_errors.first, sizeof pub_errors.first, "%s (JetStream error %d)",
                 pae->ErrText != NULL ? pae->ErrText : natsStatus_GetText(pae->Err),
                 (int)pae->ErrCode);
    pthread_mutex_unlock(&pub_errors.mu);
}

/* The headers `durlog ship` gives a record (ship/jetstream.c, js_send),
 * with values of the same form and length: Nats-Msg-Id "LOGID:SEQ", Durlog
 * "LOGID SEQ TIME CRC32C SHIPPER" (32 hex digits, decimal seq and ns since
 * the epoch, 8 and 16 hex digits), and Nats-Expected-Last-Sequence
 * predicted as durlog predicts it: the stream's last sequence before the
 * first message (0 when empty), then one more per message sent. The log id
 * and shipper id are made from the clock and pid, so a second run into the
 * same stream is not taken for duplicates. */
enum { HEADERS_ID = 1, HEADERS_ALL = 2 };

struct durlog_headers {
    char log_id[33], shipper[17];
    unsigned long long time0, expect;
    int all; /* 0: Nats-Msg-Id alone (--headers=id) */
};

static void headers_init(struct durlog_headers *h, jsCtx *js, const char *stream)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    h->time0 = (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
    snprintf(h->log_id, sizeof h->log_id, "%016llx%08x%08x", h->time0, (unsigned)getpid(),
             0x64726c67u);
    snprintf(h->shipper, sizeof h->shipper, "%08x%08x", (unsigned)getpid(),
             (unsigned)(h->time0 & 0xffffffffu));
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, js, stream, NULL, &jerr);
    if (s != NATS_OK)
        die("stream info", s, jerr);
    h->expect = (unsigned long long)si->State.LastSeq;
    h->all = 1;
    jsStreamInfo_Destroy(si);
}

/* Record i (its log seq i + 1) as a message with durlog's headers. */
static natsMsg *headers_msg(struct durlog_headers *h, const char *subject, long long i,
                            const unsigned char *record)
{
    char id[64], hdr[128], expect[24];
    unsigned long long seq = (unsigned long long)i + 1;
    /* Not the record's CRC32C (computing it is durlog's own cost), but a
     * value of its form. */
    unsigned crc = (unsigned)(seq * 2654435761u);
    snprintf(id, sizeof id, "%s:%llu", h->log_id, seq);
    snprintf(hdr, sizeof hdr, "%s %llu %llu %08x %s", h->log_id, seq, h->time0 + seq * 1000,
             crc, h->shipper);
    snprintf(expect, sizeof expect, "%llu", h->expect);
    natsMsg *msg = NULL;
    natsStatus s = natsMsg_Create(&msg, subject, NULL, (const char *)record, RECORD_SIZE);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, "Nats-Msg-Id", id);
    if (s == NATS_OK && h->all)
        s = natsMsgHeader_Set(msg, "Durlog", hdr);
    if (s == NATS_OK && h->all)
        s = natsMsgHeader_Set(msg, "Nats-Expected-Last-Sequence", expect);
    if (s != NATS_OK)
        die("message", s, 0);
    h->expect++;
    return msg;
}

static void publish(natsConnection *nc, const char *stream, const char *subject, long long count,
                    long long window, int headers)
{
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = window;
    jo.PublishAsync.ErrHandler = on_pub_error;
    /* A full window blocks js_PublishAsync until acks free a slot; the
     * default 200 ms stall would fail the publish instead, and a cluster
     * that elects a new leader can take seconds. */
    jo.PublishAsync.StallWait = 30000;
    jsCtx *js;
    natsStatus s = natsConnection_JetStream(&js, nc, &jo);
    if (s != NATS_OK)
        die("JetStream context", s, 0);
    unsigned char record[RECORD_SIZE];
    memset(record, 'r', sizeof record);
    struct durlog_headers h;
    double start = now();
    /* Inside the timed part: durlog ship asks for the stream's last
     * sequence too. */
    if (headers) {
        headers_init(&h, js, stream);
        h.all = headers == HEADERS_ALL;
    }
    for (long long i = 0; i < count; i++) {
        /* Each record differs: its number in the first bytes. */
        snprintf((char *)record, 21, "%020lld", i);
        if (headers) {
            natsMsg *msg = headers_msg(&h, subject, i, record);
            s = js_PublishMsgAsync(js, &msg, NULL);
            natsMsg_Destroy(msg); /* NULL when nats.c took it */
        } else {
            s = js_PublishAsync(js, subject, record, RECORD_SIZE, NULL);
        }
        if (s != NATS_OK)
            die("publish", s, 0);
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 60000;
    s = js_PublishAsyncComplete(js, &po);
    double seconds = now() - start;
    if (s != NATS_OK)
        die("waiting for acks", s, 0);
    pthread_mutex_lock(&pub_errors.mu);
    long long failures = pub_errors.failures;
    pthread_mutex_unlock(&pub_errors.mu);
    if (failures != 0) {
        fprintf(stderr, "nats_plain: %lld of %lld records not acknowledged; first: %s\n",
                failures, count, pub_errors.first);
        exit(1);
    }
    report(headers == HEADERS_ALL ? "publish+headers" : headers ? "publish+id" : "publish",
           count, seconds);
    jsCtx_Destroy(js);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The latency run: each record's stamps, by its number (carried in its
 * first 20 bytes, which the ack handler reads back from the message). */
static struct {
    long long total;
    uint64_t *due, *sent;
    _Atomic uint64_t *acked; /* written by nats.c's thread */
} lat;

static void on_lat_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    (void)js;
    (void)closure;
    uint64_t t = now_ns();
    if (pa != NULL) {
        const char *d = natsMsg_GetData(msg);
        long long i = natsMsg_GetDataLength(msg) >= 20 ? strtoll(d, NULL, 10) : -1;
        if (i >= 0 && i < lat.total)
            atomic_store(&lat.acked[i], t);
    } else {
        on_pub_error(js, pae, NULL);
    }
    natsMsg_Destroy(msg);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The value below which a fraction p of the sorted v[0..n) lies. */
static double pct_ms(const uint64_t *v, long long n, double p)
{
    long long k = (long long)(p * (double)n);
    if (k >= n)
        k = n - 1;
    return (double)v[k] / 1e6;
}

static void sleep_until_ns(uint64_t t)
{
    struct timespec ts = {.tv_sec = (time_t)(t / 1000000000ull),
                          .tv_nsec = (long)(t % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static void latency(natsConnection *nc, const char *stream, const char *subject, double rate,
                    double seconds, long long window, int headers)
{
    lat.total = (long long)(rate * seconds);
    if (lat.total < 1)
        lat.total = 1;
    lat.due = calloc((size_t)lat.total, sizeof *lat.due);
    lat.sent = calloc((size_t)lat.total, sizeof *lat.sent);
    lat.acked = calloc((size_t)lat.total, sizeof *lat.acked);
    if (lat.due == NULL || lat.sent == NULL || lat.acked == NULL)
        die("out of memory", NATS_NO_MEMORY, 0);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = window;
    jo.PublishAsync.StallWait = 30000;
    jo.PublishAsync.AckHandler = on_lat_ack;
    jsCtx *js;
    natsStatus s = natsConnection_JetStream(&js, nc, &jo);
    if (s != NATS_OK)
        die("JetStream context", s, 0);
    unsigned char record[RECORD_SIZE];
    memset(record, 'r', sizeof record);
    /* One record first, acknowledged before the timed part: the stream's
     * leader and the reply subscription are then in place, as ship_lag's
     * first record puts its session's in place. It is record 0's slot
     * reused below (its ack stamp is cleared). */
    snprintf((char *)record, 21, "%020lld", 0LL);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 60000;
    if ((s = js_PublishAsync(js, subject, record, RECORD_SIZE, NULL)) != NATS_OK ||
        (s = js_PublishAsyncComplete(js, &po)) != NATS_OK)
        die("the first publish", s, 0);
    atomic_store(&lat.acked[0], 0);
    struct durlog_headers h;
    if (headers)
        headers_init(&h, js, stream);
    uint64_t start = now_ns() + 10000000;
    for (long long i = 0; i < lat.total; i++) {
        uint64_t due = start + (uint64_t)((double)i * 1e9 / rate);
        if (now_ns() < due)
            sleep_until_ns(due);
        snprintf((char *)record, 21, "%020lld", i);
        lat.due[i] = due;
        if (headers) {
            natsMsg *msg = headers_msg(&h, subject, i, record);
            lat.sent[i] = now_ns();
            s = js_PublishMsgAsync(js, &msg, NULL);
            natsMsg_Destroy(msg); /* NULL when nats.c took it */
        } else {
            lat.sent[i] = now_ns();
            s = js_PublishAsync(js, subject, record, RECORD_SIZE, NULL);
        }
        if (s != NATS_OK)
            die("publish", s, 0);
    }
    uint64_t end = now_ns();
    po.MaxWait = 20000;
    s = js_PublishAsyncComplete(js, &po);
    if (s != NATS_OK && s != NATS_TIMEOUT)
        die("waiting for acks", s, 0);
    /* An ack handler may still be running when the pending count reaches
     * 0: its stamp is waited for, at most 1 s. Then the pending list is
     * taken (no more acks), and records never acknowledged count with the
     * latency they had when the run gave up (a lower bound). */
    for (uint64_t until = now_ns() + 1000000000ull; now_ns() < until;) {
        long long i = 0;
        while (i < lat.total && atomic_load(&lat.acked[i]) != 0)
            i++;
        if (i == lat.total)
            break;
        sleep_until_ns(now_ns() + 1000000);
    }
    natsMsgList pending;
    if (js_PublishAsyncGetPendingList(&pending, js) == NATS_OK)
        natsMsgList_Destroy(&pending);
    uint64_t gave_up = now_ns();
    long long unacked = 0;
    uint64_t *l = malloc((size_t)lat.total * sizeof *l), *b = malloc((size_t)lat.total * sizeof *b);
    if (l == NULL || b == NULL)
        die("out of memory", NATS_NO_MEMORY, 0);
    for (long long i = 0; i < lat.total; i++) {
        uint64_t a = atomic_load(&lat.acked[i]);
        if (a == 0) {
            a = gave_up;
            unacked++;
        }
        l[i] = a > lat.sent[i] ? a - lat.sent[i] : 0;
        b[i] = lat.sent[i] > lat.due[i] ? lat.sent[i] - lat.due[i] : 0;
    }
    qsort(l, (size_t)lat.total, sizeof *l, cmp_u64);
    qsort(b, (size_t)lat.total, sizeof *b, cmp_u64);
    double took = (double)(end - start) / 1e9;
    printf("%s %lld records %.0f rec/s lag_ms p50 %.2f p90 %.2f p99 %.2f max %.2f "
           "send_ms p50 %.2f p99 %.2f unacked %lld\n",
           headers ? "latency+headers" : "latency", lat.total, took > 0 ? (double)lat.total / took : 0.0, pct_ms(l, lat.total, 0.50),
           pct_ms(l, lat.total, 0.90), pct_ms(l, lat.total, 0.99),
           (double)l[lat.total - 1] / 1e6, pct_ms(b, lat.total, 0.50), pct_ms(b, lat.total, 0.99),
           unacked);
    pthread_mutex_lock(&pub_errors.mu);
    long long failures = pub_errors.failures;
    pthread_mutex_unlock(&pub_errors.mu);
    if (failures != 0)
        fprintf(stderr, "nats_plain: %lld records refused or timed out; first: %s\n", failures,
                pub_errors.first);
    free(l);
    free(b);
    free(lat.due);
    free(lat.sent);
    free((void *)lat.acked);
    jsCtx_Destroy(js);
    if (failures != 0)
        exit(1);
}

/* Two ways to read a stream from its start: an ordered push consumer
 * (flow-controlled, no acks) and a pull consumer without acks fetching
 * batches of 10000. Measured on a 3-node R3 file stream on loopback (2
 * shared cores, 200000 records of 100 bytes, bench/nats/baseline.sh, 4
 * runs each): ordered 0.29-0.71 s (280000-680000 rec/s), pull 0.62-0.83 s
 * (240000-320000 rec/s); on one server, ordered 0.41 s, pull 0.61 s. The
 * ordered consumer is the default: it never waits for a fetch request's
 * round trip between batches. The pull consumer stays selectable, to check
 * the choice again. */
static void consume(jsCtx *js, const char *stream, const char *subject, long long count,
                    int ordered)
{
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Config.DeliverPolicy = js_DeliverAll;
    natsSubscription *sub = NULL;
    jsErrCode jerr = 0;
    natsStatus s;
    long long got = 0;
    double start = now();
    if (ordered) {
        so.Ordered = true;
        s = js_SubscribeSync(&sub, js, subject, NULL, &so, &jerr);
        if (s != NATS_OK)
            die("subscribe", s, jerr);
        /* Unbounded client-side buffer: the server's flow control paces
         * delivery, and a slow-consumer drop would end the run. */
        s = natsSubscription_SetPendingLimits(sub, -1, -1);
        if (s != NATS_OK)
            die("pending limits", s, 0);
        while (got < count) {
            natsMsg *m = NULL;
            s = natsSubscription_NextMsg(&m, sub, 10000);
            if (s != NATS_OK) {
                fprintf(stderr, "nats_plain: %lld of %lld records read\n", got, count);
                die("next message", s, 0);
            }
            got++;
            natsMsg_Destroy(m);
        }
    } else {
        /* No acks: the consumer only reads (an ordered consumer never acks,
         * and nats.c refuses an ack policy for one). */
        so.Config.AckPolicy = js_AckNone;
        s = js_PullSubscribe(&sub, js, subject, NULL, NULL, &so, &jerr);
        if (s != NATS_OK)
            die("subscribe", s, jerr);
        while (got < count) {
            long long left = count - got;
            int batch = left < 10000 ? (int)left : 10000;
            natsMsgList list = {0};
            s = natsSubscription_Fetch(&list, sub, batch, 10000, &jerr);
            if (s != NATS_OK) {
                fprintf(stderr, "nats_plain: %lld of %lld records read\n", got, count);
                die("fetch", s, jerr);
            }
            got += list.Count;
            natsMsgList_Destroy(&list);
        }
    }
    double seconds = now() - start;
    report("consume", got, seconds);
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
}

int main(int argc, char **argv)
{
    if (argc < 4 || (argc < 5 && strcmp(argv[1], "delete") != 0))
        usage();
    const char *mode = argv[1], *url = argv[2], *stream = argv[3];
    const char *subject = argc > 4 ? argv[4] : NULL;
    natsStatus s = nats_Open(-1);
    if (s != NATS_OK)
        die("nats_Open", s, 0);
    natsConnection *nc = connect_to(url);
    jsCtx *js;
    if (strcmp(mode, "create") == 0 && argc == 6) {
        s = natsConnection_JetStream(&js, nc, NULL);
        if (s != NATS_OK)
            die("JetStream context", s, 0);
        create(js, stream, subject, number(argv[5], "REPLICAS", 1));
        jsCtx_Destroy(js);
    } else if (strcmp(mode, "delete") == 0 && argc == 4) {
        s = natsConnection_JetStream(&js, nc, NULL);
        if (s != NATS_OK)
            die("JetStream context", s, 0);
        delete_stream(js, stream);
        jsCtx_Destroy(js);
    } else if (strcmp(mode, "publish") == 0 && argc >= 6 && argc <= 8) {
        int headers = 0, n = argc;
        if (strcmp(argv[n - 1], "--headers") == 0) {
            headers = HEADERS_ALL;
            n--;
        } else if (strcmp(argv[n - 1], "--headers=id") == 0) {
            headers = HEADERS_ID;
            n--;
        }
        if (n < 6 || n > 7)
            usage();
        publish(nc, stream, subject, number(argv[5], "COUNT", 0),
                n == 7 ? number(argv[6], "WINDOW", 1) : 4096, headers);
    } else if (strcmp(mode, "latency") == 0 && argc >= 7 && argc <= 9) {
        int headers = 0, n = argc;
        if (strcmp(argv[n - 1], "--headers") == 0) {
            headers = 1;
            n--;
        }
        if (n < 7 || n > 8)
            usage();
        latency(nc, stream, subject, (double)number(argv[5], "RATE", 1),
                (double)number(argv[6], "SECONDS", 1),
                n == 8 ? number(argv[7], "WINDOW", 1) : 4096, headers);
    } else if (strcmp(mode, "consume") == 0 && (argc == 6 || argc == 7)) {
        int ordered = 1;
        if (argc == 7) {
            if (strcmp(argv[6], "pull") == 0)
                ordered = 0;
            else if (strcmp(argv[6], "ordered") != 0)
                usage();
        }
        s = natsConnection_JetStream(&js, nc, NULL);
        if (s != NATS_OK)
            die("JetStream context", s, 0);
        consume(js, stream, subject, number(argv[5], "COUNT", 0), ordered);
        jsCtx_Destroy(js);
    } else {
        usage();
    }
    natsConnection_Destroy(nc);
    nats_Close();
    return 0;
}
