/*
 * bench_readpath.c - the ways a reader can take records out of a segment,
 * side by side (issue #15, docs/DESIGN.md "No signal from a mapping"):
 *
 *   map, in place   walk the mapping and check each record where it lies
 *                   (the reader before issue #15: a truncated file or a bad
 *                   sector then raises SIGBUS in the caller's code too)
 *   map + copy      copy each record out of the mapping into the reader's
 *                   buffer and check the copy (the reader now, behind the
 *                   SIGBUS guard)
 *   pread 256 KiB   read the file in 256 KiB chunks into a buffer and check
 *                   the records there (no mapping at all)
 *   pread/record    one pread per record: what a reader following the live
 *                   tail without a mapping pays for each new record
 *
 * plus the cost of guarding a mapping (dl_guard_add + dl_guard_remove), paid
 * once per segment a reader opens. One log of N records (default 1,000,000
 * of 100 bytes) is written once; every path then reads the same segment
 * files, interleaved over R rounds (default 7), from the page cache; the
 * table shows medians in ns per record and the ratio to "map, in place".
 *
 *   build/bench/bench_readpath [--records N] [--rounds R] [DIR]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durlog.h"
#include "format.h"
#include "guard.h"
#include "lib/benchlib.h"

#define MAX_SEGS 64

struct seg {
    int fd;
    uint64_t size;
    unsigned char *map;
    struct dl_seg_fmt f;     /* from its header */
    uint64_t first;          /* its first record's number */
};

static uint64_t sink;

static uint64_t read_in_place(const struct seg *s)
{
    uint64_t n = 0, off = DL_SEG_HEADER_SIZE;
    struct dl_rec_view v;
    while (off < s->size &&
           dl_rec_check(&s->f, s->map + off, s->size - off, s->first + n, &v) == DL_REC_VALID) {
        sink += v.payload[0];
        off += v.size;
        n++;
    }
    return n;
}

static uint64_t read_copy(const struct seg *s, unsigned char *buf)
{
    uint64_t n = 0, off = DL_SEG_HEADER_SIZE;
    struct dl_rec_view v;
    while (off + dl_rec_header_size(s->f.version) <= s->size) {
        uint64_t size = dl_rec_size_at(s->f.version, s->map + off);
        if (size > s->size - off || size > 65536)
            break;
        memcpy(buf, s->map + off, size);
        if (dl_rec_check(&s->f, buf, size, s->first + n, &v) != DL_REC_VALID)
            break;
        sink += v.payload[0];
        off += v.size;
        n++;
    }
    return n;
}

static uint64_t read_pread(const struct seg *s, unsigned char *buf, size_t chunk)
{
    uint64_t n = 0, off = DL_SEG_HEADER_SIZE;
    struct dl_rec_view v;
    for (;;) {
        ssize_t got = pread(s->fd, buf, chunk, (off_t)off);
        if (got <= 0)
            break;
        uint64_t p = 0;
        while (p < (uint64_t)got &&
               dl_rec_check(&s->f, buf + p, (uint64_t)got - p, s->first + n, &v) == DL_REC_VALID) {
            sink += v.payload[0];
            p += v.size;
            n++;
        }
        if (p == 0)
            break;
        off += p;
    }
    return n;
}

static uint64_t read_pread_each(const struct seg *s, unsigned char *buf)
{
    uint64_t n = 0, off = DL_SEG_HEADER_SIZE;
    struct dl_rec_view v;
    for (;;) {
        uint32_t hsize = dl_rec_header_size(s->f.version);
        if (pread(s->fd, buf, hsize, (off_t)off) != (ssize_t)hsize)
            break;
        uint64_t size = dl_rec_size_at(s->f.version, buf);
        if (size > 65536 || pread(s->fd, buf, size, (off_t)off) != (ssize_t)size ||
            dl_rec_check(&s->f, buf, size, s->first + n, &v) != DL_REC_VALID)
            break;
        sink += v.payload[0];
        off += size;
        n++;
    }
    return n;
}

int main(int argc, char **argv)
{
    uint64_t records = 1000000;
    int rounds = 7;
    const char *dir = "build/bench-readpath";
    const struct bench_opt opts[] = {
        BENCH_OPT_RANGE("--records", 'u', &records, 1, 0),
        BENCH_OPT_RANGE("--rounds", 'i', &rounds, 1, 99),
        BENCH_OPT("", 's', &dir),
        BENCH_OPT_END,
    };
    if (bench_parse_opts(argc, argv, opts, "usage: bench_readpath [--records N] [--rounds R] [DIR]"))
        return 2;
    char log_path[600], err[700];
    snprintf(log_path, sizeof log_path, "%s/log", dir);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        bench_die("mkdir %s: %s", dir, strerror(errno));
    if (bench_remove_tree(log_path) != 0)
        bench_die("cannot remove the old %s", log_path);
    durlog *log;
    durlog_options o;
    durlog_options_init(&o);
    o.errbuf = err;
    o.errbuf_size = sizeof err;
    if (durlog_open(log_path, &o, &log))
        bench_die("%s", err);
    unsigned char rec[100];
    memset(rec, 'x', sizeof rec);
    for (uint64_t i = 0; i < records; i++) {
        rec[0] = (unsigned char)i;
        if (durlog_append(log, rec, sizeof rec, DURLOG_BUFFERED, NULL))
            return 1;
    }
    if (durlog_close(log))
        return 1;

    struct seg segs[MAX_SEGS];
    size_t nseg = 0;
    DIR *d = opendir(log_path);
    struct dirent *de;
    static char names[MAX_SEGS][256];
    while (d && (de = readdir(d)) != NULL && nseg < MAX_SEGS) {
        size_t len = strlen(de->d_name);
        if (len > 4 && strcmp(de->d_name + len - 4, ".seg") == 0 && len < 256)
            memcpy(names[nseg++], de->d_name, len + 1);
    }
    if (d)
        closedir(d);
    qsort(names, nseg, 256, (int (*)(const void *, const void *))strcmp);
    for (size_t i = 0; i < nseg; i++) {
        char p[700];
        struct stat st;
        if ((size_t)snprintf(p, sizeof p, "%s/%s", log_path, names[i]) >= sizeof p)
            bench_die("path too long: %s/%s", log_path, names[i]);
        segs[i].fd = open(p, O_RDONLY);
        if (segs[i].fd < 0 || fstat(segs[i].fd, &st) != 0)
            bench_die("open %s: %s", p, strerror(errno));
        segs[i].size = (uint64_t)st.st_size;
        segs[i].map = mmap(NULL, segs[i].size, PROT_READ, MAP_SHARED, segs[i].fd, 0);
        struct dl_seg_header h;
        if (segs[i].map != MAP_FAILED && segs[i].size >= DL_SEG_HEADER_SIZE &&
            dl_seg_header_decode(segs[i].map, &h) == 0) {
            segs[i].f = dl_seg_fmt_of(&h);
            segs[i].first = h.first_seq;
        }
        if (segs[i].map == MAP_FAILED)
            bench_die("mmap %s: %s", p, strerror(errno));
    }
    unsigned char *buf = malloc(256 << 10);
    if (!buf)
        return 1;

    enum { IN_PLACE, COPY, PREAD, PREAD_EACH, GUARD, PATHS };
    static const char *names_of[PATHS] = { "map, in place", "map + copy (the reader now)",
                                           "pread 256 KiB chunks", "pread per record",
                                           "guard a mapping (per segment)" };
    double *ns[PATHS];
    for (int p = 0; p < PATHS; p++)
        ns[p] = calloc((size_t)rounds, sizeof(double));
    for (int r = 0; r < rounds; r++) {
        for (int p = 0; p < PATHS; p++) {
            uint64_t n = 0;
            double t0 = bench_now_s();
            if (p == GUARD) {
                for (int k = 0; k < 100000; k++)
                    dl_guard_remove(dl_guard_add(segs[0].map, segs[0].size, NULL));
                ns[p][r] = (bench_now_s() - t0) * 1e9 / 100000;
                continue;
            }
            for (size_t i = 0; i < nseg; i++)
                n += p == IN_PLACE ? read_in_place(&segs[i])
                   : p == COPY     ? read_copy(&segs[i], buf)
                   : p == PREAD    ? read_pread(&segs[i], buf, 256 << 10)
                                   : read_pread_each(&segs[i], buf);
            if (n != records) {
                fprintf(stderr, "%s read %llu of %llu records\n", names_of[p],
                        (unsigned long long)n, (unsigned long long)records);
                return 1;
            }
            ns[p][r] = (bench_now_s() - t0) * 1e9 / (double)records;
        }
    }
    char cpu[256];
    bench_cpu_model(cpu, sizeof cpu);
    printf("bench_readpath: %llu records of 100 bytes in %zu segments, page cache, "
           "%d rounds interleaved, medians (%s)\n\n", (unsigned long long)records, nseg,
           rounds, cpu);
    printf("%-32s %14s %10s\n", "path", "ns/record", "vs in place");
    double base = bench_median(ns[IN_PLACE], rounds);
    for (int p = 0; p < PATHS; p++) {
        double m = p == IN_PLACE ? base : bench_median(ns[p], rounds);
        if (p == GUARD)
            printf("%-32s %14.1f %10s  (ns per add+remove)\n", names_of[p], m, "");
        else
            printf("%-32s %14.1f %10.2f\n", names_of[p], m, m / base);
    }
    (void)sink;
    return bench_remove_tree(log_path) == 0 ? 0 : 1;
}
