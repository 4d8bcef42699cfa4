/*
 * put.h - knobs of durlog_put_*() (put.c) that benchmarks and tests turn.
 *
 * Not public API: the defaults are what the library ships; bench/bench_put.c
 * sets them to measure each design choice against its alternative, and tests
 * use smaller chunks to see more progress calls.
 */
#ifndef DL_PUT_H
#define DL_PUT_H

#include <stddef.h>
#include <stdint.h>

struct dl_put_tuning {
    size_t chunk;       /* bytes per write/copy call and progress step (8 MiB) */
    uint64_t window;    /* writeback may lag the writes by this much (32 MiB) */
    int pacing;         /* start/await writeback while writing (1) */
    int copy_range;     /* copy a regular file with copy_file_range (1) */
};

extern struct dl_put_tuning dl_put_tuning;

#endif
