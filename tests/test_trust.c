/*
 * test_trust.c - issue #14 "Nothing lost or hidden silently", through the C
 * API (tests/trust.sh has the command-line cases).
 *
 * Each test states one promise of the fixed library:
 *  - recovery never deletes records it cannot prove were never durable:
 *    whatever the first writer's open cuts is kept in "<segment>.cut-*" side
 *    files, and one damaged byte in an old segment costs that record only;
 *  - readers do not trust a stale coordination file, and never stop silently
 *    (DURLOG_EEND) at a segment that is missing or that they cannot open;
 *  - a writer whose active segment is replaced under it stops acknowledging
 *    sync appends, and no acknowledged sequence number is reused;
 *  - opening a log of thousands of segments after a reboot needs a bounded
 *    number of descriptors;
 *  - a log created by one user stays usable by that user after root appends;
 *  - a repair that cannot run because another is running says so.
 *
 * Only the public API is used, plus the dl_os seam (src/os.h) to count or
 * fail opens, and the file names of docs/FORMAT.md.
 */
#include <ctype.h>
#include <dirent.h>
#include <grp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "lib/children.h"
#include "lib/logfiles.h"
#include "lib/payload.h"
#include "lib/seam.h"

#define SHM_FILE "durlog.shm"
#define PAYLEN 100      /* payload bytes of the records built by build_log */
#define NOBODY 65534

/* ---- helpers ---------------------------------------------------------- */

static int file_exists_at(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* 1 if the directory holds a file whose name starts with prefix. */
static int has_file_with_prefix(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int found = 0;
    if (!d)
        return 0;
    while (!found && (de = readdir(d)) != NULL)
        found = strncmp(de->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return found;
}

static void remove_shm(const char *log)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", log, SHM_FILE);
    unlink(path);
}

/* Record seq's payload: "rec-<seq>:" and letters derived from seq, so that
 * every payload is unique and can be found in the raw files. */
static void payload(char *buf, size_t len, uint64_t seq)
{
    char head[32];
    size_t n = (size_t)snprintf(head, sizeof head, "rec-%08" PRIu64 ":", seq);
    for (size_t i = 0; i < len; i++)
        buf[i] = i < n ? head[i] : (char)('a' + (seq * 7 + i) % 26);
}

static int payload_is(const durlog_record *rec, uint64_t seq, size_t len)
{
    char want[PAYLEN];
    payload(want, len, seq);
    return rec->len == len && memcmp(rec->data, want, len) == 0;
}

/* A log of n records of `len` bytes (record i holds payload(i)), appended
 * at DURLOG_KERNEL with segments of seg_size bytes, then closed. */
static int build_log(const char *log, uint64_t seg_size, uint64_t n, size_t len)
{
    char err[512] = "";
    durlog_options o = { .segment_size = seg_size, .errbuf = err, .errbuf_size = sizeof err };
    durlog *h;
    int rc = durlog_open(log, &o, &h);
    if (rc) {
        fprintf(stderr, "  building %s: %s\n", log, err);
        return rc;
    }
    char *buf = malloc(len);
    for (uint64_t i = 0; i < n && rc == 0; i++) {
        uint64_t seq = UINT64_MAX;
        payload(buf, len, i);
        rc = durlog_append(h, buf, len, DURLOG_KERNEL, &seq);
        if (rc == 0 && seq != i)
            rc = -1;
    }
    free(buf);
    if (rc)
        fprintf(stderr, "  building %s: append: %s\n", log, durlog_errmsg(h));
    int rc2 = durlog_close(h);
    return rc ? rc : rc2;
}

/* The new scratch log s, built by build_log with n records of PAYLEN bytes
 * in 4096-byte segments. Returns how many segments it has (0 if it could not
 * be built), their first records in segs (64 at most). */
static size_t build_segmented_log(struct scratch *s, uint64_t n, uint64_t *segs)
{
    scratch_make(s);
    return build_log(s->log, 4096, n, PAYLEN) == 0 ? list_segments(s->log, segs, 64) : 0;
}

/* 1 if `v` appears in text as a whole decimal number. */
static int names_number(const char *text, uint64_t v)
{
    char num[32];
    size_t len = (size_t)snprintf(num, sizeof num, "%" PRIu64, v);
    for (const char *p = text; (p = strstr(p, num)) != NULL; p++) {
        int before = p > text && p[-1] >= '0' && p[-1] <= '9';
        int after = p[len] >= '0' && p[len] <= '9';
        if (!before && !after)
            return 1;
    }
    return 0;
}

static const char *durlog_bin(void)
{
    const char *bin = getenv("DURLOG_BIN");
    return bin && *bin ? bin : "build/durlog";
}

/* Reads records from r while they are record `expect`, `expect`+1, ...
 * with the payloads build_log gave them (stepping over `hole_from` ..
 * `hole_to`-1, which must not be returned); returns how many, and the code
 * that ended the loop in *end. A record out of place ends the loop with
 * end = 1 after recording a failure. */
static uint64_t read_expected(durlog_reader *r, uint64_t expect, uint64_t hole_from,
                              uint64_t hole_to, int *end)
{
    durlog_record rec;
    uint64_t n = 0;
    int rc;
    while ((rc = durlog_reader_next(r, &rec)) == 0) {
        if (expect >= hole_from && expect < hole_to)
            expect = hole_to;
        if (rec.seq != expect || !payload_is(&rec, expect, PAYLEN)) {
            fprintf(stderr, "  reader returned seq %" PRIu64 " (%zu bytes) where record %"
                    PRIu64 " was expected, or different bytes\n", rec.seq, rec.len, expect);
            th_failed_current = 1;
            rc = 1;
            break;
        }
        expect++;
        n++;
    }
    *end = rc;
    return n;
}

/* ---- 1. one damaged byte in an old segment ---------------------------- */

/* A log of several 4096-byte segments, one byte damaged in the middle of
 * its FIRST segment, its coordination file removed (as after a reboot). The
 * first writer's open may refuse (DURLOG_ECORRUPT, naming `durlog check`) or
 * succeed, but either way no record other than the damaged one may go:
 * every other payload is still in a segment file or in a "*.cut-*" side
 * file, no segment file disappeared without a side file in its place, and
 * readers see every other record (with skip_damaged) or stop at the damage
 * with DURLOG_ECORRUPT (without). */
static void one_damaged_byte_in_the_first_segment_loses_no_other_record_when_a_writer_reopens(void)
{
    struct scratch s;
    const uint64_t n = 300;
    uint64_t segs[64];
    size_t nseg = build_segmented_log(&s, n, segs);
    REQUIRE(nseg >= 8);
    uint64_t bad = segs[1] / 2; /* a record in the middle of the first segment */

    char path[700], want[PAYLEN];
    size_t len;
    seg_file(path, sizeof path, s.log, segs[0]);
    unsigned char *raw = file_read(path, &len);
    payload(want, PAYLEN, bad);
    unsigned char *at = raw ? memmem(raw, len, want, PAYLEN) : NULL;
    REQUIRE(at != NULL);
    REQUIRE(file_flip_bit(path, (uint64_t)(at - raw) + PAYLEN / 2, 5) == 0);
    free(raw);
    remove_shm(s.log);

    char err[512] = "";
    durlog_options o = { .segment_size = 4096, .errbuf = err, .errbuf_size = sizeof err };
    durlog *h = NULL;
    int rc = durlog_open(s.log, &o, &h);
    if (rc == 0) {
        durlog_recovery rec;
        durlog_last_recovery(h, &rec);
        if (rec.bytes_cut || rec.segments_removed)
            fprintf(stderr, "  the open cut %" PRIu64 " bytes and removed %" PRIu64
                    " segments (from %s at offset %" PRIu64 ")\n", rec.bytes_cut,
                    rec.segments_removed, rec.segment, rec.offset);
        CHECK_OK(durlog_close(h));
    } else {
        CHECK_RC(rc, DURLOG_ECORRUPT);
        if (!strstr(err, "durlog check"))
            fprintf(stderr, "  open failed without naming `durlog check`: %s\n", err);
        CHECK(strstr(err, "durlog check") != NULL);
    }

    /* Every segment file is still there, or was renamed to a side file. */
    for (size_t i = 0; i < nseg; i++) {
        char name[32], cut[48];
        seg_name(name, sizeof name, segs[i]);
        snprintf(cut, sizeof cut, "%s.cut-", name);
        seg_file(path, sizeof path, s.log, segs[i]);
        if (!file_exists_at(path) && !has_file_with_prefix(s.log, cut)) {
            fprintf(stderr, "  %s was removed and left no side file\n", name);
            th_failed_current = 1;
        }
    }

    /* Every payload but the damaged one is in the segments or side files. */
    unsigned char *files[256];
    size_t lens[256], nfiles = 0;
    DIR *d = opendir(s.log);
    REQUIRE(d != NULL);
    struct dirent *de;
    while ((de = readdir(d)) != NULL && nfiles < 256) {
        uint64_t first;
        if (!seg_name_first(de->d_name, &first) && !strstr(de->d_name, ".seg.cut-"))
            continue;
        snprintf(path, sizeof path, "%s/%s", s.log, de->d_name);
        files[nfiles] = file_read(path, &lens[nfiles]);
        if (files[nfiles])
            nfiles++;
    }
    closedir(d);
    uint64_t lost = 0, first_lost = UINT64_MAX;
    for (uint64_t seq = 0; seq < n; seq++) {
        if (seq == bad)
            continue;
        payload(want, PAYLEN, seq);
        int found = 0;
        for (size_t i = 0; i < nfiles && !found; i++)
            found = memmem(files[i], lens[i], want, PAYLEN) != NULL;
        if (!found && lost++ == 0)
            first_lost = seq;
    }
    for (size_t i = 0; i < nfiles; i++)
        free(files[i]);
    if (lost)
        fprintf(stderr, "  %" PRIu64 " records are in no file of the log, from record %"
                PRIu64 " on (the damaged one is %" PRIu64 ")\n", lost, first_lost, bad);
    CHECK_EQ_U64(lost, 0);

    /* A reader that skips damage returns every other record. */
    durlog_reader_options ro = { .skip_damaged = 1 };
    durlog_reader *r;
    REQUIRE(durlog_reader_open(s.log, &ro, &r) == 0);
    int end;
    uint64_t got = read_expected(r, 0, bad, bad + 1, &end);
    if (end != DURLOG_EEND)
        fprintf(stderr, "  skipping reader: %s\n", durlog_reader_errmsg(r));
    CHECK_RC(end, DURLOG_EEND);
    CHECK_EQ_U64(got, n - 1);
    CHECK(durlog_reader_skipped(r) > 0);
    durlog_reader_close(r);

    /* One that does not stops at the damage, and says so. */
    REQUIRE(durlog_reader_open(s.log, NULL, &r) == 0);
    got = read_expected(r, 0, UINT64_MAX, UINT64_MAX, &end);
    CHECK_EQ_U64(got, bad);
    CHECK_RC(end, DURLOG_ECORRUPT);
    durlog_reader_close(r);
}

/* ---- 2. a stale coordination file ------------------------------------- */

/* 100 records, a copy of durlog.shm, 100 more, the copy put back: a reader
 * opened now returns all 200 records and then DURLOG_EEND, and its info
 * says the next record is 200. */
static void a_reader_ignores_a_stale_coordination_file_put_back(void)
{
    struct scratch s;
    scratch_make(&s);
    char shm[400];
    snprintf(shm, sizeof shm, "%s/%s", s.log, SHM_FILE);
    durlog *h;
    char buf[PAYLEN];
    REQUIRE(durlog_open(s.log, NULL, &h) == 0);
    for (uint64_t i = 0; i < 100; i++) {
        payload(buf, PAYLEN, i);
        CHECK_OK(durlog_append(h, buf, PAYLEN, DURLOG_SYNC, NULL));
    }
    CHECK_OK(durlog_close(h));
    size_t len;
    unsigned char *old = file_read(shm, &len);
    REQUIRE(old != NULL && len > 0);
    REQUIRE(durlog_open(s.log, NULL, &h) == 0);
    for (uint64_t i = 100; i < 200; i++) {
        payload(buf, PAYLEN, i);
        CHECK_OK(durlog_append(h, buf, PAYLEN, DURLOG_SYNC, NULL));
    }
    CHECK_OK(durlog_close(h));
    REQUIRE(file_write(shm, old, len) == 0);
    free(old);

    durlog_reader *r;
    REQUIRE(durlog_reader_open(s.log, NULL, &r) == 0);
    int end;
    uint64_t got = read_expected(r, 0, UINT64_MAX, UINT64_MAX, &end);
    CHECK_EQ_U64(got, 200);
    CHECK_RC(end, DURLOG_EEND);
    durlog_info info;
    CHECK_OK(durlog_reader_get_info(r, &info));
    CHECK_EQ_U64(info.next_seq, 200);
    durlog_reader_close(r);
}

/* ---- 3. readers never stop silently at a segment ---------------------- */

/* A log of 4096-byte segments with one middle segment removed, with or
 * without its coordination file: a reader returns the records before the
 * gap, then DURLOG_ECORRUPT (not DURLOG_EEND) with a message naming the
 * first and last missing sequence numbers (not "damaged record at byte
 * offset" in the segment before); with skip_damaged it goes on with the
 * first record of the next segment, to the end, and counts a skip. */
static void removed_middle_segment(int keep_shm)
{
    struct scratch s;
    const uint64_t n = 300;
    uint64_t segs[64];
    size_t nseg = build_segmented_log(&s, n, segs);
    REQUIRE(nseg >= 8);
    size_t gone = nseg / 2;
    uint64_t first_missing = segs[gone], last_missing = segs[gone + 1] - 1;
    char path[400];
    seg_file(path, sizeof path, s.log, segs[gone]);
    REQUIRE(unlink(path) == 0);
    if (!keep_shm)
        remove_shm(s.log);

    durlog_reader *r;
    int end;
    REQUIRE(durlog_reader_open(s.log, NULL, &r) == 0);
    uint64_t got = read_expected(r, 0, UINT64_MAX, UINT64_MAX, &end);
    CHECK_EQ_U64(got, first_missing);
    CHECK_RC(end, DURLOG_ECORRUPT);
    const char *msg = durlog_reader_errmsg(r);
    if (!names_number(msg, first_missing) || !names_number(msg, last_missing) ||
        strstr(msg, "damaged record at byte offset"))
        fprintf(stderr, "  records %" PRIu64 "..%" PRIu64 " are missing; the reader "
                "said: %s\n", first_missing, last_missing, msg);
    CHECK(names_number(msg, first_missing));
    CHECK(names_number(msg, last_missing));
    CHECK(strstr(msg, "damaged record at byte offset") == NULL);
    durlog_reader_close(r);

    durlog_reader_options ro = { .skip_damaged = 1 };
    REQUIRE(durlog_reader_open(s.log, &ro, &r) == 0);
    got = read_expected(r, 0, first_missing, last_missing + 1, &end);
    if (end != DURLOG_EEND)
        fprintf(stderr, "  skipping reader: %s\n", durlog_reader_errmsg(r));
    CHECK_RC(end, DURLOG_EEND);
    CHECK_EQ_U64(got, n - (last_missing + 1 - first_missing));
    CHECK(durlog_reader_skipped(r) > 0);
    durlog_reader_close(r);
}

static void a_reader_reports_a_removed_middle_segment_as_missing_records(void)
{
    removed_middle_segment(1);
}

static void a_reader_of_a_copy_without_coordination_file_reports_a_removed_middle_segment(void)
{
    removed_middle_segment(0);
}

/* The segment whose opens fail with EMFILE (tu_refuse_opens). */
static char emfile_name[32];

/* A reader that runs out of descriptors when it comes to a later segment,
 * with and without the coordination file: it returns the records before
 * that segment and then -EMFILE with a message naming the segment and "Too
 * many open files": never DURLOG_EEND (hiding the rest) and never
 * DURLOG_ECORRUPT (damage that is not there). */
static void a_reader_that_cannot_open_a_later_segment_says_why(void)
{
    enum { RECORDS = 150 };
    struct scratch s;
    uint64_t segs[64];
    size_t nseg = build_segmented_log(&s, RECORDS, segs);
    REQUIRE(nseg >= 4);
    seg_name(emfile_name, sizeof emfile_name, segs[2]);
    for (int keep_shm = 1; keep_shm >= 0; keep_shm--) {
        if (!keep_shm)
            remove_shm(s.log);
        durlog_reader *r;
        int end;
        REQUIRE(durlog_reader_open(s.log, NULL, &r) == 0);
        tu_refuse_opens(emfile_name, 0, 0, EMFILE);
        uint64_t got = read_expected(r, 0, UINT64_MAX, UINT64_MAX, &end);
        tu_restore_os();
        atomic_store(&tu_refusal.armed, 0);
        const char *msg = durlog_reader_errmsg(r);
        if (atomic_load(&tu_refusal.hits) == 0) {
            /* The reader had it open already: then it reads everything. */
            CHECK_EQ_U64(got, RECORDS);
            CHECK_RC(end, DURLOG_EEND);
        } else {
            if (end != -EMFILE || !strstr(msg, strerror(EMFILE)) || !strstr(msg, emfile_name))
                fprintf(stderr, "  %s the coordination file: %" PRIu64 " records, then "
                        "%d (%s): %s\n", keep_shm ? "with" : "without", got, end,
                        durlog_strerror(end), msg);
            CHECK(got <= segs[2]);
            CHECK_RC(end, -EMFILE);
            CHECK(strstr(msg, strerror(EMFILE)) != NULL);
            CHECK(strstr(msg, emfile_name) != NULL);
        }
        durlog_reader_close(r);
    }
}

/* ---- 5. the active segment replaced under a writer -------------------- */

#define W5_MAX 20000

struct w5_entry {
    int rc;
    uint64_t seq;
    uint64_t t0, t1; /* monotonic ns before and after the append */
};

struct w5 {
    durlog *log;
    _Atomic int stop;
    _Atomic size_t count;
    struct w5_entry e[W5_MAX];
    char first_error[512];
    uint64_t t_copy, t_renamed; /* the copy started; the rename returned */
};

/* When append i returned, relative to the replacement. */
static const char *w5_when(const struct w5 *w, size_t i)
{
    return w->e[i].t1 < w->t_copy ? "before the copy"
         : w->e[i].t1 <= w->t_renamed ? "while the segment was copied and renamed"
         : "after the rename";
}

static void *w5_writer(void *arg)
{
    struct w5 *w = arg;
    for (size_t i = 0; i < W5_MAX && !atomic_load(&w->stop); i++) {
        unsigned char buf[TU_PAYLOAD_MAX];
        size_t len = tu_payload(buf, 1, i, 0);
        struct w5_entry *e = &w->e[i];
        e->seq = UINT64_MAX;
        e->t0 = tu_now_ns();
        e->rc = durlog_append(w->log, buf, len, DURLOG_SYNC, &e->seq);
        e->t1 = tu_now_ns();
        if (e->rc && !w->first_error[0])
            snprintf(w->first_error, sizeof w->first_error, "%s", durlog_errmsg(w->log));
        atomic_store(&w->count, i + 1);
        if (e->rc)
            tu_sleep_ms(1);
    }
    return NULL;
}

/* Reads the whole log (up to the first non-record); checks that every
 * record is an intact tu_payload and that no sequence number a sync append
 * of writer 1 was acknowledged with holds anything but that record. Marks
 * found[idx] for every writer-1 record seen at its acknowledged number. */
static void w5_check_log(const char *log, const struct w5 *w, size_t count,
                         const uint32_t *acked_idx, uint64_t acked_max,
                         unsigned char *found)
{
    durlog_reader *r;
    durlog_record rec;
    int rc;
    uint64_t contradictions = 0;
    if (durlog_reader_open(log, NULL, &r) != 0) {
        CHECK(!"reader opens");
        return;
    }
    while ((rc = durlog_reader_next(r, &rec)) == 0) {
        uint32_t wr;
        uint64_t idx;
        if (!tu_payload_check(&rec, 0, &wr, &idx) || wr < 1 || wr > 2) {
            fprintf(stderr, "  record %" PRIu64 " is not one the test appended\n", rec.seq);
            contradictions++;
            continue;
        }
        uint32_t holder = rec.seq < acked_max ? acked_idx[rec.seq] : 0;
        /* Only what was acknowledged before the copy began must be there:
         * appends acknowledged while the user's cp + mv ran went, durably,
         * into the file the mv then unlinked (no library can keep those). */
        if (holder && w->e[holder - 1].t1 >= w->t_copy)
            holder = 0;
        if (holder && !(wr == 1 && idx + 1 == holder)) {
            if (contradictions++ < 3)
                fprintf(stderr, "  seq %" PRIu64 " was acknowledged (sync, %s) for writer "
                        "1's record %u, but now holds writer %u's record %" PRIu64 "\n",
                        rec.seq, w5_when(w, holder - 1), holder - 1, wr, idx);
        }
        if (wr == 1 && idx < count && w->e[idx].rc == 0 && w->e[idx].seq != rec.seq &&
            w->e[idx].t1 < w->t_copy) {
            if (contradictions++ < 3)
                fprintf(stderr, "  writer 1's record %" PRIu64 " was acknowledged (%s) as "
                        "seq %" PRIu64 " but is at seq %" PRIu64 "\n", idx, w5_when(w, idx),
                        w->e[idx].seq, rec.seq);
        }
        if (wr == 1 && idx < count && w->e[idx].rc == 0 && w->e[idx].seq == rec.seq)
            found[idx] = 1;
    }
    durlog_reader_close(r);
    CHECK_EQ_U64(contradictions, 0);
}

/* A single-threaded writer appends at DURLOG_SYNC (1 MiB segments: no roll)
 * while the test copies its active segment and renames the copy over it
 * (cp, 20 ms, mv). Once the rename has returned, at most one more sync
 * append may return 0 and the next fail, naming the segment file; every
 * record acknowledged before the copy started is in the log afterwards, and
 * a writer opened later reuses none of their sequence numbers. (Appends
 * acknowledged between the copy and the rename went into the file the
 * rename unlinked: the user's cp + mv races the writer. They cannot be in
 * the log, but they are not lost: the writer that finds out saves the old
 * file as "<segment>.replaced-<inode>", and the test finds each of them
 * there.) */
static void a_writer_stops_acknowledging_sync_appends_once_its_segment_is_replaced(void)
{
    struct scratch s;
    scratch_make(&s);
    struct w5 *w = calloc(1, sizeof *w);
    REQUIRE(w != NULL);
    durlog_options o = { .segment_size = 1 << 20 };
    REQUIRE(durlog_open(s.log, &o, &w->log) == 0);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, w5_writer, w) == 0);
    tu_sleep_ms(100);

    char seg[400], tmp[400], name[32];
    seg_name(name, sizeof name, 0);
    seg_file(seg, sizeof seg, s.log, 0);
    snprintf(tmp, sizeof tmp, "%s/replacement.tmp", s.log);
    uint64_t t_copy = w->t_copy = tu_now_ns();
    size_t len;
    unsigned char *copy = file_read(seg, &len);
    int copied = copy && file_write(tmp, copy, len) == 0;
    tu_sleep_ms(20); /* as a slow `cp` would: appends acknowledged meanwhile */
    copied = copied && rename(tmp, seg) == 0;
    uint64_t t_renamed = w->t_renamed = tu_now_ns();
    free(copy);
    tu_sleep_ms(200);
    atomic_store(&w->stop, 1);
    pthread_join(th, NULL);
    durlog_close(w->log); /* may report the failure again */
    REQUIRE(copied);

    size_t count = atomic_load(&w->count);
    size_t before = 0, ok_after = 0, tried_after = 0;
    for (size_t i = 0; i < count; i++) {
        if (w->e[i].rc == 0 && w->e[i].t1 < t_copy)
            before++;
        if (w->e[i].t1 > t_renamed) {
            tried_after++;
            if (w->e[i].rc == 0)
                ok_after++;
        }
    }
    REQUIRE(before > 0 && tried_after >= 2);
    if (ok_after > 1)
        fprintf(stderr, "  %zu sync appends returned 0 after the segment was replaced "
                "(%zu tried)\n", ok_after, tried_after);
    CHECK(ok_after <= 1);
    if (!strstr(w->first_error, name))
        fprintf(stderr, "  first failure's message does not name %s: \"%s\"\n", name,
                w->first_error);
    CHECK(strstr(w->first_error, name) != NULL);

    /* Which sync append holds each acknowledged number (index + 1). */
    uint64_t acked_max = 0;
    for (size_t i = 0; i < count; i++)
        if (w->e[i].rc == 0 && w->e[i].seq + 1 > acked_max)
            acked_max = w->e[i].seq + 1;
    uint32_t *acked_idx = calloc(acked_max + 1, sizeof *acked_idx);
    unsigned char *found = calloc(count + 1, 1);
    REQUIRE(acked_idx && found);
    for (size_t i = 0; i < count; i++)
        if (w->e[i].rc == 0 && w->e[i].seq < acked_max)
            acked_idx[w->e[i].seq] = (uint32_t)i + 1;

    /* Everything acknowledged before the copy started is there. */
    w5_check_log(s.log, w, count, acked_idx, acked_max, found);
    size_t missing = 0;
    for (size_t i = 0; i < count; i++)
        if (w->e[i].rc == 0 && w->e[i].t1 < t_copy && !found[i])
            missing++;
    if (missing)
        fprintf(stderr, "  %zu of the %zu records acknowledged before the copy are "
                "missing\n", missing, before);
    CHECK_EQ_U64(missing, 0);

    size_t in_window = 0;
    for (size_t i = 0; i < count; i++)
        if (w->e[i].rc == 0 && w->e[i].t1 >= t_copy && w->e[i].t1 <= t_renamed)
            in_window++;
    fprintf(stderr, "  %zu sync appends acknowledged before the copy, %zu while cp + mv "
            "ran, %zu after the rename\n", before, in_window, ok_after);
    /* Those went into the file the rename unlinked, which the writer that
     * found out saved next to the log: every acknowledged record is in the
     * log or there. */
    char saved[420] = "", prefix[64];
    snprintf(prefix, sizeof prefix, "%s.replaced-", name);
    DIR *dir = opendir(s.log);
    struct dirent *de;
    while (dir && (de = readdir(dir)) != NULL)
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
            snprintf(saved, sizeof saved, "%.300s/%.100s", s.log, de->d_name);
    if (dir)
        closedir(dir);
    size_t saved_len = 0;
    unsigned char *old = saved[0] ? file_read(saved, &saved_len) : NULL;
    if (!old)
        fprintf(stderr, "  %s was not saved\n", saved);
    CHECK(old != NULL);
    size_t not_saved = 0;
    for (size_t i = 0; old && i < count; i++) {
        if (w->e[i].rc != 0 || w->e[i].t1 < t_copy)
            continue;
        unsigned char buf[TU_PAYLOAD_MAX];
        size_t plen = tu_payload(buf, 1, i, 0);
        if (!memmem(old, saved_len, buf, plen))
            not_saved++;
    }
    CHECK_EQ_U64(not_saved, 0);
    free(old);

    /* A later writer (if the log lets one open) reuses no number that was
     * acknowledged before the copy for records of its own. */
    char err[512] = "";
    o.errbuf = err;
    o.errbuf_size = sizeof err;
    durlog *h2;
    int rc = durlog_open(s.log, &o, &h2);
    if (rc == 0) {
        for (uint64_t i = 0; i < 50; i++)
            CHECK_OK(tu_append_payload(h2, 2, i, 0, DURLOG_SYNC, NULL));
        CHECK_OK(durlog_close(h2));
    } else {
        fprintf(stderr, "  (a later writer may not open it: %s)\n", err);
    }
    memset(found, 0, count + 1);
    w5_check_log(s.log, w, count, acked_idx, acked_max, found);
    free(acked_idx);
    free(found);
    free(w);
}

/* ---- 7. a large log after a reboot ------------------------------------ */

#define BIG_SEGMENTS 2000
#define BIG_RECORD 1000 /* three to a 4096-byte segment */

/* A closed log of BIG_SEGMENTS 4096-byte segments, without its coordination
 * file, as after a reboot that lost /dev/shm-like state. */
static int build_big_log(const char *log)
{
    int rc = build_log(log, 4096, 3 * BIG_SEGMENTS, BIG_RECORD);
    uint64_t *segs = malloc(sizeof *segs * (BIG_SEGMENTS + 10));
    size_t n = segs ? list_segments(log, segs, BIG_SEGMENTS + 10) : 0;
    free(segs);
    if (rc == 0 && n != BIG_SEGMENTS) {
        fprintf(stderr, "  built %zu segments, expected %d\n", n, BIG_SEGMENTS);
        rc = -1;
    }
    remove_shm(log);
    return rc;
}

/* Opens the log with the segment size it was built with and appends one
 * record; prints why if it cannot. */
static int open_and_append_one(const char *log)
{
    char err[512] = "";
    durlog_options o = { .segment_size = 4096, .errbuf = err, .errbuf_size = sizeof err };
    durlog *h;
    int rc = durlog_open(log, &o, &h);
    if (rc) {
        fprintf(stderr, "  open: %s\n", err);
        return 1;
    }
    rc = durlog_append(h, "after the reboot", 16, DURLOG_KERNEL, NULL);
    if (rc)
        fprintf(stderr, "  append: %s\n", durlog_errmsg(h));
    int rc2 = durlog_close(h);
    return rc || rc2;
}

static int open_with_64_descriptors(void *arg)
{
    struct rlimit rl = { 64, 64 };
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1;
    return open_and_append_one(arg);
}

/* 2,000 segments of 4096 bytes, no coordination file: a writer limited to
 * 64 descriptors (RLIMIT_NOFILE) opens the log and appends. */
static void a_writer_opens_a_log_of_2000_segments_after_a_reboot_with_64_descriptors(void)
{
    struct scratch s;
    scratch_make(&s);
    REQUIRE(build_big_log(s.log) == 0);
    CHECK(tu_exited_ok(tu_wait(tu_fork(open_with_64_descriptors, s.log))));
}

static _Atomic int seg_opens_counting, seg_opens;

static int openat_counting(int dirfd, const char *name, int flags, mode_t mode)
{
    size_t len = strlen(name);
    if (atomic_load(&seg_opens_counting) && len >= 4 && strcmp(name + len - 4, ".seg") == 0)
        atomic_fetch_add(&seg_opens, 1);
    return dl_os_real.openat(dirfd, name, flags, mode);
}

struct count_result {
    int open_rc;
    int opens;
};

static int count_segment_opens(void *arg)
{
    struct count_result *res = arg;
    char *log = (char *)(res + 1);
    durlog_options o = { .segment_size = 4096 };
    durlog *h;
    dl_os.openat = openat_counting;
    atomic_store(&seg_opens_counting, 1);
    res->open_rc = durlog_open(log, &o, &h);
    atomic_store(&seg_opens_counting, 0);
    res->opens = atomic_load(&seg_opens);
    if (res->open_rc == 0)
        durlog_close(h);
    return 0;
}

/* The same log: the writer's open opens at most 8 segment files (counted
 * through the dl_os.openat seam), however many the log has. */
static void a_writer_reopening_a_log_of_2000_segments_opens_at_most_8_of_them(void)
{
    struct scratch s;
    scratch_make(&s);
    REQUIRE(build_big_log(s.log) == 0);
    struct count_result *res = tu_shared_alloc(4096);
    REQUIRE(res != NULL);
    res->open_rc = 1;
    res->opens = -1;
    snprintf((char *)(res + 1), 4096 - sizeof *res, "%s", s.log);
    CHECK(tu_exited_ok(tu_wait(tu_fork(count_segment_opens, res))));
    CHECK_RC(res->open_rc, 0);
    if (res->opens > 8)
        fprintf(stderr, "  the open opened %d segment files\n", res->opens);
    CHECK(res->opens >= 0 && res->opens <= 8);
    munmap(res, 4096);
}

/* ---- 8. ownership ----------------------------------------------------- */

static int become_nobody(void)
{
    return setgroups(0, NULL) == 0 && setgid(NOBODY) == 0 && setuid(NOBODY) == 0 ? 0 : -1;
}

static int append_as_nobody(void *arg)
{
    if (become_nobody() != 0) {
        perror("  setuid nobody");
        return 1;
    }
    return open_and_append_one(arg);
}

/* A log created by user nobody (4096-byte segments), to which root then
 * appends enough to roll to new segments (allowed to: root refuses another
 * user's log unless told otherwise, see test_hostile.c): nobody can still
 * append, every segment file and durlog.shm is owned by nobody, and the
 * directory is not writable by every user. */
static void a_log_created_by_nobody_stays_usable_by_nobody_after_root_appends(void)
{
    struct scratch s;
    scratch_make(&s);
    REQUIRE(chmod(s.dir, 0755) == 0);
    REQUIRE(mkdir(s.log, 0755) == 0 && chown(s.log, NOBODY, NOBODY) == 0);
    REQUIRE(tu_exited_ok(tu_wait(tu_fork(append_as_nobody, s.log))));

    durlog_options o = { .segment_size = 4096,
                         .flags = DURLOG_OPEN_ALLOW_FOREIGN_OWNER };
    durlog *h;
    char buf[PAYLEN];
    REQUIRE(durlog_open(s.log, &o, &h) == 0);
    for (uint64_t i = 0; i < 100; i++) {
        payload(buf, PAYLEN, i);
        CHECK_OK(durlog_append(h, buf, PAYLEN, DURLOG_KERNEL, NULL));
    }
    CHECK_OK(durlog_close(h));
    uint64_t segs[64];
    CHECK(list_segments(s.log, segs, 64) >= 3); /* root rolled to new segments */

    CHECK(tu_exited_ok(tu_wait(tu_fork(append_as_nobody, s.log))));

    DIR *d = opendir(s.log);
    REQUIRE(d != NULL);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t first;
        if (!seg_name_first(de->d_name, &first) && strcmp(de->d_name, SHM_FILE) != 0)
            continue;
        char path[700];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", s.log, de->d_name);
        CHECK(stat(path, &st) == 0);
        if (st.st_uid != NOBODY) {
            fprintf(stderr, "  %s is owned by uid %u\n", de->d_name, (unsigned)st.st_uid);
            th_failed_current = 1;
        }
    }
    closedir(d);
    struct stat st;
    CHECK(stat(s.log, &st) == 0);
    CHECK((st.st_mode & S_IWOTH) == 0);
}

/* ---- 9a. two repairs at once ------------------------------------------ */

/* In the child running the first repair: the first time it creates a side
 * file ("*.cut-*", or an unnamed file to become one), it tells the parent
 * and waits to be released, holding whatever the repair holds. */
static int hook_reached = -1, hook_release = -1, hook_done;

static void hook_block(void)
{
    char c = 1;
    if (hook_done)
        return;
    hook_done = 1;
    if (write(hook_reached, &c, 1) != 1)
        return;
    while (read(hook_release, &c, 1) < 0 && errno == EINTR)
        ;
}

static int openat_blocking(int dirfd, const char *name, int flags, mode_t mode)
{
    if (strstr(name, ".cut-") || (flags & O_TMPFILE) == O_TMPFILE)
        hook_block();
    return dl_os_real.openat(dirfd, name, flags, mode);
}

static int renameat_blocking(int od, const char *on, int nd, const char *nn)
{
    if (strstr(nn, ".cut-"))
        hook_block();
    return dl_os_real.renameat(od, on, nd, nn);
}

static int linkat_blocking(int od, const char *on, int nd, const char *nn, int flags)
{
    if (strstr(nn, ".cut-"))
        hook_block();
    return dl_os_real.linkat(od, on, nd, nn, flags);
}

static int first_repair(void *arg)
{
    durlog_check_report rep;
    dl_os.openat = openat_blocking;
    dl_os.renameat = renameat_blocking;
    dl_os.linkat = linkat_blocking;
    int rc = durlog_check(arg, DURLOG_CHECK_REPAIR, &rep);
    if (rc)
        fprintf(stderr, "  first repair: %s\n", rep.problem);
    return rc;
}

/* A closed log with a torn tail; one repair (in a child, through the API)
 * is held while it writes its side file; `durlog check --repair` run
 * meanwhile fails (status 1) saying another repair is running, not that a
 * writer has the log open. */
static void a_repair_refused_because_another_runs_says_so(void)
{
    struct scratch s;
    scratch_make(&s);
    REQUIRE(build_log(s.log, 4096, 10, PAYLEN) == 0);
    char path[400], want[PAYLEN];
    size_t len;
    seg_file(path, sizeof path, s.log, 0);
    unsigned char *raw = file_read(path, &len);
    payload(want, PAYLEN, 9);
    unsigned char *at = raw ? memmem(raw, len, want, PAYLEN) : NULL;
    REQUIRE(at != NULL);
    REQUIRE(file_flip_bit(path, (uint64_t)(at - raw) + 10, 5) == 0); /* the last record: a torn tail */
    free(raw);

    int reached[2], release[2];
    REQUIRE(pipe(reached) == 0 && pipe(release) == 0);
    hook_reached = reached[1];
    hook_release = release[0];
    pid_t pid = tu_fork(first_repair, s.log);
    close(reached[1]);
    close(release[0]);
    struct pollfd pfd = { reached[0], POLLIN, 0 };
    char c;
    int held = poll(&pfd, 1, 20000) == 1 && read(reached[0], &c, 1) == 1;
    int status = -1;
    char cmd[1400];
    if (held) {
        snprintf(cmd, sizeof cmd, "timeout 30 '%s' check --repair '%s' >'%s/out' 2>'%s/err'",
                 durlog_bin(), s.log, s.dir, s.dir);
        status = system(cmd);
    } else {
        fprintf(stderr, "  the first repair never created a side file\n");
    }
    if (write(release[1], "x", 1) != 1)
        kill(pid, SIGKILL);
    close(release[1]);
    close(reached[0]);
    CHECK(tu_exited_ok(tu_wait(pid)));
    REQUIRE(held);

    snprintf(path, sizeof path, "%s/err", s.dir);
    char *msg = (char *)file_read(path, &len);
    REQUIRE(msg != NULL);
    msg[len] = '\0';
    for (size_t i = 0; i < len; i++)
        msg[i] = (char)tolower((unsigned char)msg[i]);
    int says_repair_runs = strstr(msg, "repair") &&
        (strstr(msg, "another") || strstr(msg, "already") || strstr(msg, "running") ||
         strstr(msg, "in progress"));
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 1) || !says_repair_runs ||
        strstr(msg, "writer has the log open"))
        fprintf(stderr, "  second repair: status %d, stderr: %s\n",
                WIFEXITED(status) ? WEXITSTATUS(status) : -1, msg);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    CHECK(says_repair_runs);
    CHECK(strstr(msg, "writer has the log open") == NULL);
    free(msg);
}

TEST_MAIN(
    RUN(one_damaged_byte_in_the_first_segment_loses_no_other_record_when_a_writer_reopens);
    RUN(a_reader_ignores_a_stale_coordination_file_put_back);
    RUN(a_reader_reports_a_removed_middle_segment_as_missing_records);
    RUN(a_reader_of_a_copy_without_coordination_file_reports_a_removed_middle_segment);
    RUN(a_reader_that_cannot_open_a_later_segment_says_why);
    RUN(a_writer_stops_acknowledging_sync_appends_once_its_segment_is_replaced);
    RUN(a_writer_opens_a_log_of_2000_segments_after_a_reboot_with_64_descriptors);
    RUN(a_writer_reopening_a_log_of_2000_segments_opens_at_most_8_of_them);
    RUN(a_log_created_by_nobody_stays_usable_by_nobody_after_root_appends);
    RUN(a_repair_refused_because_another_runs_says_so);
)
