/*
 * fuzz_recover.c - opening a damaged or hostile log as a writer: recovery
 * (cutting torn tails, refusing corruption), then reading it all back and
 * appending to it.
 *
 * Oracle: no crash, hang or sanitizer report; and once the open succeeds,
 * a record appended at kernel level reads back byte for byte.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = fz_write_log(data, size);
    durlog_options o;
    durlog_options_init(&o);
    o.no_create = 1;
    o.engine = DURLOG_ENGINE_THREAD; /* no ring set up per input */
    durlog *log;
    if (durlog_open(dir, &o, &log) != 0)
        return 0;
    durlog_reader *r;
    durlog_record rec;
    if (durlog_reader_open(dir, NULL, &r) == 0) {
        while (durlog_reader_next(r, &rec) == 0)
            ;
        durlog_reader_close(r);
    }
    uint64_t seq;
    if (durlog_append(log, "fuzz", 4, DURLOG_KERNEL, &seq) == 0) {
        if (durlog_reader_open(dir, NULL, &r) != 0 || durlog_reader_seek(r, seq) != 0 ||
            durlog_reader_next(r, &rec) != 0 || rec.seq != seq || rec.len != 4 ||
            memcmp(rec.data, "fuzz", 4) != 0)
            abort();
        durlog_reader_close(r);
    }
    durlog_close(log);
    return 0;
}
