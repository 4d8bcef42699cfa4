/*
 * fuzz_shm.c - the coordination file as hostile input: a writer and a
 * reader of one log go on working while the input writes values into
 * durlog.shm under them (through a mapping of its own, as another process
 * with write access to the log could).
 *
 * An input is a plan byte (I/O mode, segment size) followed by steps of
 * FZ_STEP bytes; each step pokes one value into the file, then runs one
 * operation: an append (kernel, sync, buffered, a batch), a read of what
 * is new, a reader's or a writer's bounded wait, a flush, or closing and
 * reopening the writer (the first writer rebuilds the file from the
 * segments). A poke names either a field of struct dl_shared (so that
 * seeds stay meaningful when its layout changes) or a raw offset in it.
 *
 * Every record's payload says which append made it (fz_payload), so the
 * oracle needs no model of the log: no crash, hang or sanitizer report
 * (every wait here is bounded, and so is the append lock's patience); every
 * record a reader returns is byte for byte a payload that was appended,
 * with increasing sequence numbers, each payload at most once, and at the
 * sequence number its append reported when it reported one; every error
 * comes with a message. Once the writer is closed, the log is reopened
 * without pokes and read back under the same oracle.
 */
#include <errno.h>
#include <stddef.h>
#include <sys/mman.h>

#include "fuzz.h"
#include "log.h"

/* Bytes per step: op, field/offset (2), how to poke, value (8), spare. */
#define FZ_STEP 12
/* Steps per input: enough to roll a few 4 KiB segments. */
#define FZ_MAX_STEPS 96
/* Appends per input (each a payload index). */
#define FZ_MAX_APPENDS (FZ_MAX_STEPS * 3)

#define FIELD(f) { offsetof(struct dl_shared, f), sizeof(((struct dl_shared *)0)->f) }
#define WORD(f, k) { offsetof(struct dl_shared, f) + 8 * (k), 8 }

/* The fields a poke may name (the rest of the file by raw offset). */
static const struct { size_t off, len; } fields[] = {
    FIELD(magic), FIELD(version), FIELD(size), FIELD(ready), FIELD(failed),
    FIELD(generation), FIELD(io_mode), FIELD(dir_dev), FIELD(dir_ino),
    WORD(append_lock, 0), WORD(append_lock, 1), WORD(append_lock, 2),
    WORD(append_lock, 3), WORD(sync_lock, 0), WORD(sync_lock, 2),
    WORD(sync_lock, 3), WORD(seal_lock, 0), WORD(seal_lock, 2),
    FIELD(next_seq), FIELD(first_seq), FIELD(tail_seg), FIELD(tail_capacity),
    FIELD(tail_off), FIELD(tail_alloc), FIELD(reserve_end), FIELD(tail_stale),
    FIELD(tail_ino), FIELD(seal_notes[0].seg), FIELD(seal_notes[0].end_seq),
    FIELD(seal_notes[0].end_off), FIELD(seal_notes[1].end_seq),
    FIELD(seal_notes[1].end_off), FIELD(seal_pushed), FIELD(seal_next),
    FIELD(published_seq), FIELD(published_seg), FIELD(durable_seq),
    FIELD(dir_synced_seg), FIELD(published.event), FIELD(published.epoch),
    FIELD(published.count[0]), FIELD(published.count[1]), FIELD(published.flip),
    FIELD(durable.event), FIELD(durable.epoch), FIELD(durable.count[0]),
    FIELD(durable.flip), FIELD(batch_goal), FIELD(goal_event),
    FIELD(last_batch), FIELD(last_sync_ns), FIELD(sync_started_ns),
};
#define NFIELDS (sizeof fields / sizeof fields[0])

struct fz_state {
    const char *dir;
    durlog_options opts;
    durlog *log;
    durlog_reader *r;
    unsigned char *shm;           /* our own mapping of durlog.shm, or NULL */
    int shmfd;
    uint64_t appended;            /* payload indexes handed out */
    uint64_t seq_of[FZ_MAX_APPENDS + 8]; /* what each append reported, or
                                             DURLOG_SEQ_PENDING */
    unsigned char seen[FZ_MAX_APPENDS + 8]; /* returned by the reader */
    uint64_t last_seq;            /* the reader's last record (+1) */
    unsigned char buf[2048];
};

static void fz_fail(const char *what, uint64_t a, uint64_t b)
{
    fprintf(stderr, "fuzz_shm: %s (%llu, %llu)\n", what, (unsigned long long)a,
            (unsigned long long)b);
    abort();
}

/* Payload of append i: its index, then bytes made from it; lengths vary
 * from 8 to about 1.5 KiB, so that 4 KiB segments roll every few records. */
static size_t fz_payload(unsigned char *p, uint64_t i)
{
    size_t len = 8 + (size_t)(i * 37 % 300) + (i % 5 == 4 ? 1200 : 0);
    dl_put64(p, i);
    for (size_t j = 8; j < len; j++)
        p[j] = (unsigned char)(i * 31 + j);
    return len;
}

static void need_message(const char *msg, int rc)
{
    if (!msg || !msg[0] || strcmp(msg, "no error") == 0)
        fz_fail("an error without a message", (uint64_t)-rc, 0);
    if (getenv("DURLOG_FUZZ_VERBOSE"))
        fprintf(stderr, "fuzz_shm: %s: %s\n", durlog_strerror(rc), msg);
}

static void writer_error(struct fz_state *s, int rc)
{
    if (rc)
        need_message(durlog_errmsg(s->log), rc);
}

/* Checks one record a reader returned against the payloads. */
static void check_record(struct fz_state *s, const durlog_record *rec)
{
    if (rec->len < 8 || rec->len > sizeof s->buf)
        fz_fail("a record no append made (length)", rec->seq, rec->len);
    uint64_t i = dl_get64(rec->data);
    if (i >= s->appended || fz_payload(s->buf, i) != rec->len ||
        memcmp(s->buf, rec->data, rec->len) != 0)
        fz_fail("a record no append made", rec->seq, i);
    if (s->last_seq && rec->seq < s->last_seq)
        fz_fail("sequence numbers went back", rec->seq, s->last_seq);
    if (s->seen[i])
        fz_fail("a payload returned twice", rec->seq, i);
    if (s->seq_of[i] != DURLOG_SEQ_PENDING && s->seq_of[i] != rec->seq)
        fz_fail("a record under another number than its append said", rec->seq,
                s->seq_of[i]);
    s->seen[i] = 1;
    s->last_seq = rec->seq + 1;
}

static void read_new(struct fz_state *s)
{
    durlog_record rec;
    int rc;
    if (!s->r)
        return;
    while ((rc = durlog_reader_next(s->r, &rec)) == 0)
        check_record(s, &rec);
    if (rc != DURLOG_EEND) {
        need_message(durlog_reader_errmsg(s->r), rc);
        /* A reader that failed stays failed or starts over: start over
         * (it must not return a payload twice, so forget what it saw). */
        durlog_reader_close(s->r);
        s->r = NULL;
    }
}

static void map_shm(struct fz_state *s)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", s->dir, DL_SHM_NAME);
    s->shmfd = open(path, O_RDWR);
    if (s->shmfd < 0)
        return;
    void *p = mmap(NULL, DL_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, s->shmfd, 0);
    s->shm = p == MAP_FAILED ? NULL : p;
}

static void unmap_shm(struct fz_state *s)
{
    if (s->shm)
        munmap(s->shm, DL_SHM_SIZE);
    if (s->shmfd >= 0)
        close(s->shmfd);
    s->shm = NULL;
    s->shmfd = -1;
}

static void open_writer(struct fz_state *s)
{
    int rc = durlog_open(s->dir, &s->opts, &s->log);
    if (rc) {
        need_message(durlog_last_errmsg(), rc);
        s->log = NULL;
    }
    unmap_shm(s);
    map_shm(s);
}

static void close_writer(struct fz_state *s)
{
    int rc = s->log ? durlog_close(s->log) : 0;
    if (rc)
        need_message(durlog_last_errmsg(), rc);
    s->log = NULL;
}

/* One poke: p[0] unused here, p[1..2] where, p[3] how, p[4..11] value. */
static void poke(struct fz_state *s, const uint8_t *p)
{
    if (!s->shm)
        return;
    unsigned where = (unsigned)p[1] | (unsigned)p[2] << 8;
    size_t off, len;
    if (where & 0x8000) {
        off = (where & 0x7fff) % sizeof(struct dl_shared);
        len = 1u << (p[3] & 3);
        off &= ~(len - 1);
    } else {
        off = fields[where % NFIELDS].off;
        len = fields[where % NFIELDS].len;
    }
    uint64_t v = dl_get64(p + 4), cur = 0;
    memcpy(&cur, s->shm + off, len < 8 ? len : 8);
    switch ((p[3] >> 2) & 3) {
    case 0: break;                          /* the value itself */
    case 1: v = cur + (uint64_t)(int8_t)p[4]; break; /* a small jump */
    case 2: v = cur ^ (1ull << (p[4] & 63)); break;  /* one bit */
    case 3: v = cur + (v & 0xffff) * 4096; break;    /* pages ahead */
    }
    memcpy(s->shm + off, &v, len < 8 ? len : 8);
}

static void do_append(struct fz_state *s, durlog_level level, size_t count)
{
    durlog_iov iov[3] = { { 0 } };
    unsigned char *bufs[3] = { 0 };
    uint64_t first = DURLOG_SEQ_PENDING;
    if (!s->log || s->appended + count > FZ_MAX_APPENDS)
        return;
    for (size_t k = 0; k < count; k++) {
        bufs[k] = malloc(sizeof s->buf);
        iov[k].data = bufs[k];
        iov[k].len = fz_payload(bufs[k], s->appended + k);
    }
    int rc = durlog_append_batch(s->log, iov, count, level, &first);
    writer_error(s, rc);
    /* A failed batch is in the log all or not at all; the reader may still
     * see an earlier failed one's records only if they were appended (we
     * do not know their numbers: pending). */
    for (size_t k = 0; k < count; k++) {
        s->seq_of[s->appended + k] = rc == 0 && first != DURLOG_SEQ_PENDING
                                     ? first + k : DURLOG_SEQ_PENDING;
        free(bufs[k]);
    }
    s->appended += count;
}

static void step(struct fz_state *s, const uint8_t *p, int poking)
{
    if (poking)
        poke(s, p);
    switch (p[0] % 12) {
    case 0: case 1: case 2:
        do_append(s, DURLOG_KERNEL, 1);
        break;
    case 3:
        do_append(s, DURLOG_KERNEL, 3);
        break;
    case 4:
        do_append(s, DURLOG_SYNC, 1);
        break;
    case 5:
        do_append(s, DURLOG_BUFFERED, 2);
        if (s->log)
            writer_error(s, durlog_flush(s->log, DURLOG_KERNEL));
        break;
    case 6: case 7:
        read_new(s);
        break;
    case 8:
        if (s->r) {
            int rc = durlog_reader_wait(s->r, p[11] % 3);
            if (rc && rc != -ETIMEDOUT)
                need_message(durlog_reader_errmsg(s->r), rc);
        }
        read_new(s);
        break;
    case 9:
        if (s->log && s->appended) {
            int rc = durlog_wait(s->log, s->appended - 1, DURLOG_KERNEL, p[11] % 3);
            writer_error(s, rc);
        }
        break;
    case 10:
        if (s->log)
            writer_error(s, durlog_flush(s->log, DURLOG_SYNC));
        break;
    case 11:
        close_writer(s);
        open_writer(s);
        break;
    }
    if (!s->r) {
        durlog_reader_options ro;
        durlog_reader_options_init(&ro);
        if (durlog_reader_open(s->dir, &ro, &s->r) != 0)
            s->r = NULL;
        /* Starting over: it returns from the log's first record again. */
        memset(s->seen, 0, sizeof s->seen);
        s->last_seq = 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fz_state s;
    if (size < 1)
        return 0;
    /* A wedged lock costs this long per append, not the library's 10 s. */
    atomic_store(&dl_lock_patience_ns, 20000000);
    atomic_store(&dl_sync_patience_ns, 100000000);
    memset(&s, 0, sizeof s);
    s.shmfd = -1;
    s.dir = fz_write_log(data, 0);
    durlog_options_init(&s.opts);
    s.opts.engine = DURLOG_ENGINE_THREAD; /* no ring set up per input */
    s.opts.io_mode = data[0] & 1 ? DURLOG_IO_PWRITE : DURLOG_IO_MMAP;
    s.opts.segment_size = data[0] & 2 ? 4096 : 64 << 10;
    open_writer(&s);
    step(&s, (const uint8_t[FZ_STEP]){ 0 }, 0); /* an append; opens the reader */
    size_t steps = (size - 1) / FZ_STEP;
    if (steps > FZ_MAX_STEPS)
        steps = FZ_MAX_STEPS;
    for (size_t k = 0; k < steps; k++)
        step(&s, data + 1 + k * FZ_STEP, 1);
    read_new(&s);
    if (s.r)
        durlog_reader_close(s.r);
    s.r = NULL;
    close_writer(&s);
    unmap_shm(&s);

    /* Without pokes: what the log holds now reads back as appended. */
    memset(s.seen, 0, sizeof s.seen);
    s.last_seq = 0;
    open_writer(&s);
    unmap_shm(&s);
    if (durlog_reader_open(s.dir, NULL, &s.r) == 0) {
        read_new(&s);
        if (s.r)
            durlog_reader_close(s.r);
    }
    s.r = NULL;
    close_writer(&s);
    return 0;
}
