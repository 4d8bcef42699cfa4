/*
 * fuzz_seek_time.c - durlog_reader_seek_time on a damaged or hostile log
 * (no coordination file: checksums alone decide), against a linear scan.
 *
 * Oracle: no crash, hang or sanitizer report. A reader that does not skip
 * damage reads the log from its start: the records it returns, up to the
 * end or the first error, are the scan. Where the log keeps the half of the
 * time rule the search relies on (FORMAT.md "Time": every readable segment
 * header's base is at least the time of each scanned record before it; and
 * reading from each segment's start gives the scan's records), seeking to a time q
 * and reading one record gives exactly the scan's first record with time
 * >= q; when the scan has none, the seek may fail or find a record only if
 * the scan stopped at an error, else it is at the end. Whatever the log, a
 * record found has time >= q, with or without skip_damaged.
 */
#include "fuzz.h"

#include "segment.h"

#define FZ_MAX_RECORDS 4096

struct scan {
    uint64_t seq[FZ_MAX_RECORDS], time[FZ_MAX_RECORDS];
    size_t n;
    int rc;         /* how it ended: DURLOG_EEND, or the error */
};

static int open_reader(const char *dir, int skip, durlog_reader **r)
{
    durlog_reader_options o;
    durlog_reader_options_init(&o);
    o.skip_damaged = skip;
    return durlog_reader_open(dir, &o, r);
}

static void linear_scan(const char *dir, struct scan *s)
{
    durlog_reader *r;
    s->n = 0;
    s->rc = open_reader(dir, 0, &r);
    if (s->rc)
        return;
    durlog_record rec;
    while (s->n < FZ_MAX_RECORDS && (s->rc = durlog_reader_next(r, &rec)) == 0) {
        s->seq[s->n] = rec.seq;
        s->time[s->n] = rec.time_ns;
        s->n++;
    }
    if (s->rc == 0)
        s->rc = 1; /* stopped at the cap: treated as an error (nothing known after) */
    durlog_reader_close(r);
}

/* Whether reading from segment `first` on gives the scan's records: not
 * so where two files claim the same numbers (the scan read them from the
 * earlier one), and a seek that starts in the later one reads others. */
static int reads_as_scanned(const char *dir, const struct scan *s, uint64_t first)
{
    size_t i = 0;
    while (i < s->n && s->seq[i] < first)
        i++;
    if (i == s->n)
        return 1;
    durlog_reader *r;
    if (open_reader(dir, 0, &r) != 0)
        return 0;
    int same = durlog_reader_seek(r, first) == 0;
    durlog_record rec;
    for (; same && i < s->n; i++)
        same = durlog_reader_next(r, &rec) == 0 && rec.seq == s->seq[i] &&
               rec.time_ns == s->time[i];
    durlog_reader_close(r);
    return same;
}

/* Whether the log keeps the part of the time rule the search relies on:
 * every readable segment header's base is at least the time of each
 * scanned record before the segment (the search starts in the last segment
 * whose base is below q, so no record before it may be at or above q; the
 * other half, a base at most its own records' times, only bounds the walk:
 * version 1 segments, whose base is their creation time, may break it). */
static int keeps_time_rule(const char *dir, const struct scan *s)
{
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dirfd < 0)
        fz_die("open dir");
    uint64_t *segs;
    size_t nsegs;
    int ok = 1;
    if (dl_seg_list(dirfd, &segs, &nsegs) != 0) {
        close(dirfd);
        return 0;
    }
    for (size_t k = 0; k < nsegs && ok; k++) {
        struct dl_seg_header h;
        char err[256];
        if (dl_seg_read_header(dirfd, dir, segs[k], &h, NULL, err, sizeof err) != 0)
            continue;
        ok = reads_as_scanned(dir, s, segs[k]);
        for (size_t i = 0; i < s->n && ok && s->seq[i] < segs[k]; i++)
            ok = s->time[i] <= h.created_ns;
    }
    free(segs);
    close(dirfd);
    return ok;
}

static void check_query(const char *dir, const struct scan *s, int rule, uint64_t q)
{
    size_t k = 0;
    while (k < s->n && s->time[k] < q)
        k++;
    for (int skip = 0; skip <= 1; skip++) {
        durlog_reader *r;
        if (open_reader(dir, skip, &r) != 0)
            return;
        int rc = durlog_reader_seek_time(r, q);
        durlog_record rec;
        int got = rc == 0 ? durlog_reader_next(r, &rec) : rc;
        if (got == 0 && rec.time_ns < q)
            abort(); /* a record before the time asked */
        if (!skip && rule) {
            if (k < s->n && (rc != 0 || got != 0 || rec.seq != s->seq[k] ||
                             rec.time_ns != s->time[k]))
                abort(); /* not the scan's first record at or after q */
            if (k == s->n && s->rc == DURLOG_EEND && (rc != 0 || got != DURLOG_EEND))
                abort(); /* past every record of a clean log, but not at its end */
        }
        durlog_reader_close(r);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct scan s;
    const char *dir = fz_write_log(data, size);
    linear_scan(dir, &s);
    int rule = keeps_time_rule(dir, &s);
    check_query(dir, &s, rule, 0);
    check_query(dir, &s, rule, UINT64_MAX);
    if (size >= 8)
        check_query(dir, &s, rule, dl_get64(data + size - 8));
    /* Around the scanned records' times: at most 32 of them. */
    size_t step = s.n / 32 + 1;
    for (size_t i = 0; i < s.n; i += step) {
        check_query(dir, &s, rule, s.time[i]);
        check_query(dir, &s, rule, s.time[i] - 1);
        check_query(dir, &s, rule, s.time[i] + 1);
    }
    return 0;
}
