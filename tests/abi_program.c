/*
 * abi_program.c - a program as a user of libdurlog writes it, for
 * tests/abi.sh: compiled against the installed <durlog.h> alone (none of the
 * library's private headers) and linked with -ldurlog, so it proves that the
 * installed header and library are enough and agree with each other.
 *
 *   abi_program LOG    creates LOG, appends three records, reads them back
 *
 * Prints "version V" and "read back N records" on success; on any mismatch
 * prints what differed to stderr and exits 1.
 */
#include <durlog.h>
#include <stdio.h>
#include <string.h>

static int fail(const char *what, int rc)
{
    fprintf(stderr, "abi_program: %s: %s\n", what, durlog_strerror(rc));
    return 1;
}

/* Appends `records` at increasing levels, so that both the kernel and the
 * sync paths of the shared library run. */
static int append_all(const char *path, const char *const *records, size_t count)
{
    durlog_options opts;
    durlog *log;
    size_t i;
    int rc;

    durlog_options_init(&opts);
    rc = durlog_open(path, &opts, &log);
    if (rc)
        return fail("durlog_open", rc);
    for (i = 0; i < count; i++) {
        uint64_t seq;

        rc = durlog_append(log, records[i], strlen(records[i]),
                           i % 2 ? DURLOG_SYNC : DURLOG_KERNEL, &seq);
        if (rc) {
            fprintf(stderr, "abi_program: append: %s\n", durlog_errmsg(log));
            durlog_close(log);
            return 1;
        }
        if (seq != i) {
            fprintf(stderr, "abi_program: record %zu got sequence number %llu\n",
                    i, (unsigned long long)seq);
            durlog_close(log);
            return 1;
        }
    }
    rc = durlog_close(log);
    return rc ? fail("durlog_close", rc) : 0;
}

static int read_all(const char *path, const char *const *records, size_t count)
{
    durlog_reader *r;
    durlog_record rec;
    size_t n = 0;
    int rc;

    rc = durlog_reader_open(path, NULL, &r);
    if (rc)
        return fail("durlog_reader_open", rc);
    while ((rc = durlog_reader_next(r, &rec)) == 0) {
        if (n >= count || rec.seq != n || rec.len != strlen(records[n]) ||
            memcmp(rec.data, records[n], rec.len) != 0) {
            fprintf(stderr, "abi_program: record %zu differs from what was appended\n", n);
            durlog_reader_close(r);
            return 1;
        }
        n++;
    }
    durlog_reader_close(r);
    if (rc != DURLOG_EEND)
        return fail("durlog_reader_next", rc);
    if (n != count) {
        fprintf(stderr, "abi_program: read back %zu records of %zu\n", n, count);
        return 1;
    }
    printf("read back %zu records\n", n);
    return 0;
}

int main(int argc, char **argv)
{
    static const char *const records[] = {"first", "", "third record"};
    const size_t count = sizeof records / sizeof records[0];
    char header_version[64];

    if (argc != 2) {
        fprintf(stderr, "usage: abi_program LOG\n");
        return 2;
    }
    snprintf(header_version, sizeof header_version, "%d.%d.%d", DURLOG_VERSION_MAJOR,
             DURLOG_VERSION_MINOR, DURLOG_VERSION_PATCH);
    if (strcmp(durlog_version(), header_version) != 0) {
        fprintf(stderr, "abi_program: library version %s, header version %s\n",
                durlog_version(), header_version);
        return 1;
    }
    printf("version %s\n", durlog_version());
    if (append_all(argv[1], records, count) != 0)
        return 1;
    return read_all(argv[1], records, count);
}
