/*
 * bench/instr_append.c - the append loop bench/compare_instr.sh counts
 * instructions of under callgrind: N appends of 100 bytes at one level, by
 * one thread, to a new log. Only the public API of any durlog version
 * (durlog_options_init, durlog_open, durlog_append, durlog_close), so that
 * the same source builds against an older commit's header too.
 *
 *   instr_append LOG buffered|kernel N
 */
#include <durlog.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[2], "buffered") != 0 && strcmp(argv[2], "kernel") != 0)) {
        fprintf(stderr, "usage: instr_append LOG buffered|kernel N\n");
        return 2;
    }
    int level = strcmp(argv[2], "buffered") == 0 ? DURLOG_BUFFERED : DURLOG_KERNEL;
    long n = atol(argv[3]);
    durlog_options o;
    durlog_options_init(&o);
    durlog *log;
    int rc = durlog_open(argv[1], &o, &log);
    if (rc) {
        fprintf(stderr, "instr_append: open %s: %s\n", argv[1], durlog_strerror(rc));
        return 1;
    }
    char payload[100];
    memset(payload, 'x', sizeof payload);
    for (long i = 0; i < n; i++) {
        rc = durlog_append(log, payload, sizeof payload, level, NULL);
        if (rc) {
            fprintf(stderr, "instr_append: append: %s\n", durlog_strerror(rc));
            return 1;
        }
    }
    rc = durlog_close(log);
    if (rc)
        fprintf(stderr, "instr_append: close: %s\n", durlog_strerror(rc));
    return rc ? 1 : 0;
}
