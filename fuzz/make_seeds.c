/*
 * make_seeds.c - writes the seed corpus of the fuzz targets (fuzz/corpus/):
 * real segments made by the library, then torn and damaged variants.
 * `make fuzz-seeds` runs it; the output is committed, so this only needs
 * running again when the format changes.
 *
 * Each seed is one or more segment images back to back (see fuzz.h), cut
 * to the end of their records so that they stay small. With INDEXDIR, the
 * seeds of fuzz_index go there too: a sealed segment's side index followed
 * by the segment (see fuzz_index.c).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "durlog.h"
#include "format.h"
#include "index.h"
#include "segment.h"

static unsigned char *image;
static size_t image_len;

static void die(const char *what, int rc)
{
    fprintf(stderr, "make_seeds: %s: %s\n", what, durlog_strerror(rc));
    exit(1);
}

/* Appends every segment of log `dir`, each cut to its last record, to image. */
static void take_segments(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0)
        die("scandir", -errno);
    for (int i = 0; i < n; i++) {
        uint64_t first;
        if (dl_seg_name_parse(names[i]->d_name, &first)) {
            char path[4200];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
            FILE *f = fopen(path, "rb");
            if (!f)
                die(path, -errno);
            unsigned char *seg = malloc(1 << 20);
            size_t len = fread(seg, 1, 1 << 20, f);
            fclose(f);
            size_t end = DL_SEG_HEADER_SIZE;
            struct dl_rec_view v;
            struct dl_seg_header h;
            if (len >= DL_SEG_HEADER_SIZE && dl_seg_header_decode(seg, &h) == 0) {
                struct dl_seg_fmt fmt = dl_seg_fmt_of(&h);
                for (uint64_t seq = first;
                     end < len && dl_rec_check(&fmt, seg + end, len - end, seq, &v) == DL_REC_VALID;
                     seq++)
                    end += v.size;
            }
            image = realloc(image, image_len + end);
            memcpy(image + image_len, seg, end);
            image_len += end;
            free(seg);
        }
        free(names[i]);
    }
    free(names);
}

static void save(const char *out, const char *name, const unsigned char *p, size_t len)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", out, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, len, f) != len || fclose(f) != 0)
        die(path, -errno);
}

/* Makes a log of `records` records (record i: i % 37 * 7 bytes; every fifth
 * at sync level, the rest at kernel) in segments of `segment_size`, and
 * leaves its image in image/image_len. */
static void make_log(const char *tmp, int records, uint64_t segment_size)
{
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        die("rm", -EIO);
    durlog_options o;
    durlog_options_init(&o);
    o.segment_size = segment_size;
    durlog *log;
    int rc = durlog_open(tmp, &o, &log);
    if (rc)
        die("durlog_open", rc);
    unsigned char payload[300];
    for (int i = 0; i < records; i++) {
        size_t len = (size_t)(i % 37) * 7;
        memset(payload, 'a' + i % 26, len);
        if ((rc = durlog_append(log, payload, len, i % 5 ? DURLOG_KERNEL : DURLOG_SYNC, NULL)))
            die("durlog_append", rc);
    }
    if ((rc = durlog_close(log)))
        die("durlog_close", rc);
    free(image);
    image = NULL;
    image_len = 0;
    take_segments(tmp);
}

/* Saves, for the first `count` sealed segments of the log in image, the
 * index built from each followed by the segment itself. */
static void save_index_seeds(const char *out, int count)
{
    size_t at = 0;
    for (int n = 0; n < count && at + DL_SEG_HEADER_SIZE <= image_len;) {
        struct dl_segmap m = DL_SEGMAP_INIT;
        if (dl_seg_header_decode(image + at, &m.hdr) != 0)
            die("a segment of the seed log", DURLOG_ECORRUPT);
        uint64_t len = m.hdr.ckpt_off; /* sealed: cut at its records' end */
        struct dl_index ix = DL_INDEX_INIT;
        m.first_seq = m.hdr.first_seq;
        m.map = image + at;
        m.size = m.capacity = len;
        if ((m.hdr.flags & DL_SEG_F_SEALED) && dl_index_build(&m, &ix) == 0) {
            unsigned char *buf;
            size_t blen;
            if (dl_index_encode(&ix, &buf, &blen))
                die("dl_index_encode", -ENOMEM);
            buf = realloc(buf, blen + len);
            memcpy(buf + blen, image + at, len);
            char name[64];
            snprintf(name, sizeof name, "index-and-segment-%d", n);
            save(out, name, buf, blen + len);
            if (n == 0)
                save(out, "index-alone", buf, blen);
            free(buf);
            dl_index_free(&ix);
            n++;
        }
        /* The next segment image (cut to its records by take_segments). */
        const unsigned char *next = memmem(image + at + 8, image_len - at - 8, DL_SEG_MAGIC, 8);
        if (!next)
            break;
        at = (size_t)(next - image);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: make_seeds OUTDIR SCRATCHDIR [INDEXDIR]\n");
        return 2;
    }
    const char *out = argv[1], *tmp = argv[2];
    mkdir(out, 0755);

    make_log(tmp, 0, 4096);
    save(out, "empty-log", image, image_len);
    make_log(tmp, 3, 4096);
    save(out, "three-records", image, image_len);
    make_log(tmp, 60, 4096);
    save(out, "several-segments", image, image_len);
    make_log(tmp, 12, 1 << 20);
    save(out, "one-segment", image, image_len);
    /* Torn: the last record cut short. */
    save(out, "torn-tail", image, image_len - 5);
    /* Damaged: a payload byte flipped in the middle. */
    unsigned char *bad = malloc(image_len);
    memcpy(bad, image, image_len);
    bad[image_len / 2] ^= 0x40;
    save(out, "flipped-byte", bad, image_len);
    /* A record length far beyond the segment. */
    memcpy(bad, image, image_len);
    dl_put32(bad + DL_SEG_HEADER_SIZE + DL_RECH_LEN, 0x7fffffff);
    save(out, "huge-length", bad, image_len);
    /* A header cut short. */
    save(out, "short-header", image, DL_SEG_HEADER_SIZE / 2);
    free(bad);
    if (argc == 4) {
        /* Sealed segments of 64 KiB: two or three index entries each. */
        mkdir(argv[3], 0755);
        make_log(tmp, 1500, 65536);
        save_index_seeds(argv[3], 2);
    }
    printf("seeds written to %s\n", out);
    return 0;
}
