/*
 * cmd_append.c - `durlog append [-d LEVEL] [-v] [--allow-foreign-owner] LOG
 * [RECORD...]`.
 *
 * Appends each RECORD argument, or else each line of standard input, as one
 * record. Records go to the library in batches (durlog_append_batch): all
 * the arguments, or all the complete lines one read() of standard input
 * returned, up to BATCH_MAX at a time. That keeps `-d sync` to one fdatasync
 * per batch for a file piped in, while a line typed or streamed in
 * (`tail -f x | durlog append LOG`) is appended as soon as it arrives rather
 * than waiting for a batch to fill.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Most records per durlog_append_batch call: bounds the iov array however
 * many short lines one read() brings. */
#define BATCH_MAX 4096

/* getopt's values for the options without a short form. */
#define OPT_ALLOW_FOREIGN_OWNER 256
#define OPT_SEGMENT_SIZE 257

/* Size of the first read buffer for standard input. It doubles whenever one
 * line does not fit, up to a line of DURLOG_MAX_RECORD bytes. */
#define STDIN_BUFFER_SIZE ((size_t)64 << 10)

struct appender {
    const struct cli_command *cmd;
    const char *path;
    durlog *log;
    durlog_level level;
    int verbose;
    const char *unit;        /* "argument" or "line", for messages */
    uint64_t appended;       /* records accepted so far */
    uint64_t pending;        /* of those, buffered ones without a seq yet */
    size_t batch_len;
    durlog_iov batch[BATCH_MAX];
};

/* Appends the records collected in the batch. Returns 0 or exit status 1. */
static int flush_batch(struct appender *a)
{
    uint64_t first_seq = DURLOG_SEQ_PENDING;
    int rc;

    if (a->batch_len == 0)
        return 0;
    rc = durlog_append_batch(a->log, a->batch, a->batch_len, a->level,
                             &first_seq);
    if (rc < 0) {
        uint64_t first = a->appended + 1, last = a->appended + a->batch_len;

        /* The batch is all or nothing: the earlier ones are in the log. */
        return cli_fail(a->cmd, "appending %ss %" PRIu64 "..%" PRIu64 " to %s"
                        " (the %" PRIu64 " before them were appended): %s",
                        a->unit, first, last, a->path, a->appended,
                        cli_explain(rc, durlog_errmsg(a->log), a->path));
    }
    if (first_seq == DURLOG_SEQ_PENDING)
        a->pending += a->batch_len;
    else if (a->verbose)
        for (size_t i = 0; i < a->batch_len; i++)
            printf("appended seq %" PRIu64 "\n", first_seq + i);
    a->appended += a->batch_len;
    a->batch_len = 0;
    return a->verbose ? cli_check_stdout(a->cmd, 0) : 0;
}

/* Adds one record to the batch; `data` must stay valid until the batch is
 * flushed. Returns 0 or exit status 1. */
static int add_record(struct appender *a, const void *data, size_t len)
{
    if (a->batch_len == BATCH_MAX) {
        int status = flush_batch(a);

        if (status)
            return status;
    }
    a->batch[a->batch_len].data = data;
    a->batch[a->batch_len].len = len;
    a->batch_len++;
    return 0;
}

static int append_arguments(struct appender *a, int count, char **records)
{
    for (int i = 0; i < count; i++) {
        int status = add_record(a, records[i], strlen(records[i]));

        if (status)
            return status;
    }
    return flush_batch(a);
}

/* Appends each line of standard input without its '\n'; a last line
 * without '\n' counts too, and an empty line is a zero-length record. */
static int append_stdin_lines(struct appender *a)
{
    size_t size = STDIN_BUFFER_SIZE;
    size_t held = 0;    /* bytes in buf: the start of an unfinished line */
    char *buf = malloc(size);
    int status = 0;

    if (!buf)
        return cli_fail(a->cmd, "reading standard input: %s", strerror(ENOMEM));
    for (;;) {
        size_t line_start = 0;
        ssize_t n;
        char *scan, *newline;

        if (held == size) { /* one line fills the buffer */
            char *bigger = realloc(buf, size * 2);

            if (!bigger) {
                status = cli_fail(a->cmd, "reading standard input: %s",
                                  strerror(ENOMEM));
                break;
            }
            buf = bigger;
            size *= 2;
        }
        n = read(STDIN_FILENO, buf + held, size - held);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            status = cli_fail(a->cmd, "reading standard input: %s",
                              strerror(errno));
            break;
        }
        if (n == 0) { /* end of input: a last line without '\n' counts */
            if (held > 0)
                status = add_record(a, buf, held);
            if (status == 0)
                status = flush_batch(a);
            break;
        }
        /* Only the new bytes can hold a '\n': buf[0..held) had none. */
        scan = buf + held;
        held += (size_t)n;
        while (status == 0 &&
               (newline = memchr(scan, '\n', (size_t)(buf + held - scan)))) {
            status = add_record(a, buf + line_start,
                                (size_t)(newline - buf) - line_start);
            scan = newline + 1;
            line_start = (size_t)(scan - buf);
        }
        /* The batch points into buf: append it before moving bytes. */
        if (status == 0)
            status = flush_batch(a);
        if (status)
            break;
        memmove(buf, buf + line_start, held - line_start);
        held -= line_start;
        if (held > DURLOG_MAX_RECORD) {
            status = cli_fail(a->cmd, "line %" PRIu64 " of standard input is "
                              "longer than the largest record (%zu bytes)",
                              a->appended + 1, DURLOG_MAX_RECORD);
            break;
        }
    }
    free(buf);
    return status;
}

/* Says on standard error what the open cut from the log's tail, if
 * anything, and where the cut bytes are kept: recovery never throws records
 * away silently. */
static void print_recovery(const char *path, const durlog *log)
{
    durlog_recovery rec;

    durlog_last_recovery(log, &rec);
    if (!rec.bytes_cut && !rec.segments_removed)
        return;
    fprintf(stderr, "durlog: %s: opening the log cut %" PRIu64 " bytes left by a crash "
            "or damage no record vouched for from %s (which now ends at byte offset %"
            PRIu64 ")", path, rec.bytes_cut, rec.segment, rec.offset);
    if (rec.segments_removed)
        fprintf(stderr, " and moved %" PRIu64 " later segment%s aside", rec.segments_removed,
                rec.segments_removed == 1 ? "" : "s");
    if (rec.side_file[0])
        fprintf(stderr, "; the cut bytes are kept in %s/%s", path, rec.side_file);
    else if (rec.bytes_cut)
        fprintf(stderr, "; they held no whole record, and there was no room to keep them");
    fprintf(stderr, "\n");
}

int cli_run_append(const struct cli_command *cmd, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "durability", required_argument, NULL, 'd' },
        { "verbose", no_argument, NULL, 'v' },
        { "allow-foreign-owner", no_argument, NULL, OPT_ALLOW_FOREIGN_OWNER },
        { "segment-size", required_argument, NULL, OPT_SEGMENT_SIZE },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    static struct appender a; /* static: the batch array is large */
    char errbuf[512] = "";
    durlog_options opts;
    uint64_t flags = 0, segment_size = 0;
    int opt, rc, status;

    a.cmd = cmd;
    a.level = DURLOG_KERNEL;
    /* '+': options end at LOG, so every later argument is a record, even
     * one that starts with '-'. */
    while ((opt = cli_next_option(cmd, argc, argv, "+:d:vh", longopts)) != -1) {
        switch (opt) {
        case 'd':
            if (durlog_level_parse(optarg, &a.level) != 0)
                cli_usage_error(cmd, "unknown durability level '%s' (use "
                                "buffered, kernel, interval or sync)", optarg);
            break;
        case 'v':
            a.verbose = 1;
            break;
        case OPT_ALLOW_FOREIGN_OWNER:
            flags |= DURLOG_OPEN_ALLOW_FOREIGN_OWNER;
            break;
        case OPT_SEGMENT_SIZE:
            if (cli_parse_size(optarg, &segment_size) != 0 || segment_size < 4096)
                cli_usage_error(cmd, "--segment-size needs a size of at least 4096 "
                                "(e.g. 4096, 64K, 64M), not '%s'", optarg);
            break;
        }
    }
    if (optind >= argc)
        cli_usage_error(cmd, "no LOG given");
    a.path = argv[optind];

    durlog_options_init(&opts);
    opts.errbuf = errbuf;
    opts.errbuf_size = sizeof(errbuf);
    opts.flags = flags;
    opts.segment_size = segment_size;
    rc = durlog_open(a.path, &opts, &a.log);
    if (rc < 0)
        return cli_fail(cmd, "cannot open log %s: %s", a.path,
                        cli_explain(rc, errbuf, a.path));

    print_recovery(a.path, a.log);

    if (optind + 1 < argc) {
        a.unit = "argument";
        status = append_arguments(&a, argc - optind - 1, argv + optind + 1);
    } else {
        a.unit = "line";
        status = append_stdin_lines(&a);
    }

    /* An interval append is promised durable within interval_ms, and this
     * process is about to exit: durlog.h does not say that durlog_close()
     * syncs what the interval syncer still owes, so ask for it. For sync
     * appends it is already true and the flush finds nothing to do. */
    if (status == 0 && (a.level == DURLOG_SYNC || a.level == DURLOG_INTERVAL)) {
        rc = durlog_flush(a.log, DURLOG_SYNC);
        if (rc < 0)
            status = cli_fail(cmd, "syncing %s: %s", a.path,
                              cli_explain(rc, durlog_errmsg(a.log), a.path));
    }
    /* Closing writes buffered records out; its error is theirs. */
    rc = durlog_close(a.log);
    if (rc < 0 && status == 0)
        status = cli_fail(cmd, "closing %s%s: %s", a.path,
                          a.pending ? " (buffered records may be lost)" : "",
                          durlog_strerror(rc));
    if (status == 0 && a.verbose && a.pending)
        printf("appended %" PRIu64 " buffered records (sequence numbers are "
               "assigned when they are flushed)\n", a.pending);
    if (status == 0)
        status = cli_check_stdout(cmd, 1);
    return status;
}
