/*
 * fuzz.h - what the fuzz targets share: turning one input into a log
 * directory on disk.
 *
 * An input is a run of segment images: it is cut wherever the segment magic
 * "DURLOGSG" starts, and each piece becomes a segment file named after the
 * first_seq its header claims (or after its position when the piece is too
 * short to say). A real segment, or several concatenated, is therefore a
 * valid input and a good seed. Bytes before the first magic are dropped.
 *
 * Each target is built two ways: with clang and libFuzzer (`make fuzz`), and
 * with the normal compiler and replay.c as main(), which runs the committed
 * corpus in the default suite (tests/fuzz_corpus.sh).
 */
#ifndef DL_FUZZ_H
#define DL_FUZZ_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durlog.h"
#include "format.h"
#include "shared.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Segments an input may make: more would only slow the fuzzer down. */
#define FZ_MAX_SEGMENTS 4

static inline void fz_die(const char *what)
{
    perror(what);
    abort();
}

/* Writes the input as segment files in a fresh log directory, the same one
 * for every run of this process: $DURLOG_FUZZ_DIR (a tmpfs is fastest) or
 * /tmp, plus the pid. Whatever the last run left there (the coordination
 * file, repairs' side files) is removed first. Returns the directory. */
static inline const char *fz_write_log(const uint8_t *data, size_t size)
{
    static char dir[512];
    char cmd[600];
    if (!dir[0]) {
        const char *base = getenv("DURLOG_FUZZ_DIR");
        snprintf(dir, sizeof dir, "%s/durlog-fuzz-%d",
                 base && *base ? base : "/tmp", (int)getpid());
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fz_die("rm");
    if (mkdir(dir, 0755) < 0)
        fz_die("mkdir");
    const uint8_t *end = data + size, *p = data;
    int segments = 0;
    /* Skip to the first magic. */
    p = memmem(p, (size_t)(end - p), DL_SEG_MAGIC, 8);
    while (p && segments < FZ_MAX_SEGMENTS) {
        const uint8_t *next = p + 8 < end ? memmem(p + 8, (size_t)(end - p - 8), DL_SEG_MAGIC, 8) : NULL;
        size_t len = (size_t)((next ? next : end) - p);
        uint64_t first = (uint64_t)segments;
        if (len >= DL_SEGH_FIRST + 8)
            first = dl_get64(p + DL_SEGH_FIRST);
        char name[DL_SEG_NAME_LEN + 1], path[600];
        dl_seg_name(name, first);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            fz_die("open");
        if (write(fd, p, len) != (ssize_t)len)
            fz_die("write");
        close(fd);
        segments++;
        p = next;
    }
    return dir;
}

#endif
