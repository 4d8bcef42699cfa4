/*
 * fuzz_reader.c - reading a damaged or hostile log without opening it as a
 * writer (no coordination file: checksums alone decide), with and without
 * skip_damaged and durable_only, from the start and after a seek.
 *
 * Oracle: no crash, hang or sanitizer report; sequence numbers come back in
 * increasing order; every record returned lies inside one segment file.
 */
#include "fuzz.h"

static void read_all(const char *dir, int skip, int durable, uint64_t seek_to)
{
    durlog_reader_options o;
    durlog_reader_options_init(&o);
    o.skip_damaged = skip;
    o.durable_only = durable;
    durlog_reader *r;
    if (durlog_reader_open(dir, &o, &r) != 0)
        return;
    if (seek_to != UINT64_MAX && durlog_reader_seek(r, seek_to) != 0) {
        durlog_reader_close(r);
        return;
    }
    durlog_info info;
    durlog_reader_get_info(r, &info);
    durlog_record rec;
    uint64_t last = 0;
    int any = 0;
    while (durlog_reader_next(r, &rec) == 0) {
        if ((any && rec.seq <= last) || rec.len > DURLOG_MAX_RECORD)
            abort();
        last = rec.seq;
        any = 1;
    }
    durlog_reader_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = fz_write_log(data, size);
    read_all(dir, 0, 0, UINT64_MAX);
    read_all(dir, 1, 0, UINT64_MAX);
    read_all(dir, 1, 1, UINT64_MAX);
    uint64_t first = size >= DL_SEGH_FIRST + 8 ? dl_get64(data + DL_SEGH_FIRST) : 0;
    read_all(dir, (int)(size & 1), 0, first + size % 7);
    return 0;
}
