/* nats_plain - the plain nats.c baselines for the `durlog ship` benchmarks
 * (issue #20): what JetStream itself does with 100-byte records through
 * nats.c alone, so that durlog's shipping numbers can be read against it.
 * Uses nothing of durlog.
 *
 *   nats_plain create  URL STREAM SUBJECT REPLICAS
 *       creates a file-storage stream holding SUBJECT with REPLICAS copies.
 *   nats_plain delete  URL STREAM
 *       deletes the stream (benchmarks free the disk between rounds).
 *   nats_plain publish URL STREAM SUBJECT COUNT [WINDOW]
 *       publishes COUNT 100-byte records to SUBJECT (the stream exists) with
 *       js_PublishAsync, at most WINDOW (default 4096) acks pending, waits
 *       for every ack; prints "publish COUNT records SECONDS s RATE rec/s".
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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
            "       nats_plain publish URL STREAM SUBJECT COUNT [WINDOW]\n"
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

static void publish(natsConnection *nc, const char *subject, long long count, long long window)
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
    double start = now();
    for (long long i = 0; i < count; i++) {
        /* Each record differs: its number in the first bytes. */
        snprintf((char *)record, 21, "%020lld", i);
        s = js_PublishAsync(js, subject, record, RECORD_SIZE, NULL);
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
    report("publish", count, seconds);
    jsCtx_Destroy(js);
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
    } else if (strcmp(mode, "publish") == 0 && (argc == 6 || argc == 7)) {
        publish(nc, subject, number(argv[5], "COUNT", 0),
                argc == 7 ? number(argv[6], "WINDOW", 1) : 4096);
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
