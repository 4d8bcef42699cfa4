/*
 * cmd_cat.c - `durlog cat [--from SEQ | --since TIME | --cursor NAME]
 * [--until TIME] [-n COUNT] [-o text|json] LOG`.
 *
 * Prints the records of a log, oldest first, up to its current end (or the
 * last one at or before --until: record times never decrease in seq order,
 * so the first one after it ends the output). --since seeks by time
 * (durlog_reader_seek_time). The text
 * format is each payload followed by a newline, byte for byte; it cannot
 * show where a payload holding newlines ends, which the JSON format (one
 * object per line) can, along with each record's seq and time.
 *
 * With --cursor it consumes the log at least once: it starts at the named
 * cursor and, after each batch of records has left for standard output
 * (fflush succeeded), commits the position past them. Killed at any moment,
 * the next run prints again at most the batch that was not confirmed; a
 * failed write (EPIPE: the reader went away) commits nothing more.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Records printed between two commits of --cursor: each commit costs two
 * fsyncs, and a run killed prints this many again at most. */
#define CAT_CURSOR_BATCH 1000

/* Reports that `seq` is outside the log, naming the range it holds. */
static int report_not_found(const struct cli_command *cmd, durlog_reader *r,
                            const char *path, uint64_t seq)
{
    durlog_info info;
    int rc = durlog_reader_get_info(r, &info);

    if (rc < 0)
        return cli_fail(cmd, "seq %" PRIu64 " is not in %s", seq, path);
    if (info.next_seq == info.first_seq)
        return cli_fail(cmd, "seq %" PRIu64 " is not in %s: the log is empty "
                        "(the next record will be seq %" PRIu64 ")",
                        seq, path, info.next_seq);
    return cli_fail(cmd, "seq %" PRIu64 " is not in %s: it holds seqs %" PRIu64
                    "..%" PRIu64 " (--from %" PRIu64 " is its end)", seq, path,
                    info.first_seq, info.next_seq - 1, info.next_seq);
}

/* Standard output failed while printing for cursor `name`: says so (EPIPE
 * too: the records not confirmed will be printed again) and returns 1. */
static int cursor_output_failed(const struct cli_command *cmd, durlog_cursor *c, int err)
{
    return cli_fail(cmd, "writing standard output: %s; cursor %s stays at seq %" PRIu64
                    " (what was not confirmed will be printed again)",
                    strerror(err ? err : EIO), durlog_cursor_name(c), durlog_cursor_seq(c));
}

/* --cursor: prints from the cursor, at most limit records, committing after
 * each batch that reached standard output. Returns the exit status. */
static int cat_cursor(const struct cli_command *cmd, durlog_reader *r, const char *path,
                      const char *name, uint64_t limit, enum cli_format format)
{
    durlog_cursor *c;
    uint64_t printed = 0;
    int rc = durlog_cursor_open(path, name, DURLOG_CURSOR_CREATE, &c);
    if (rc)
        return cli_fail(cmd, "opening cursor %s: %s", name,
                        cli_explain(rc, durlog_last_errmsg(), path));
    int status = 0;
    rc = durlog_reader_seek_cursor(r, c);
    if (rc) {
        status = cli_reader_fail(cmd, r, path, rc, "starting at cursor %s", name);
        goto out;
    }
    int at_end = 0;
    while (!at_end && printed < limit) {
        uint64_t batch = 0, next = durlog_cursor_seq(c);
        while (batch < CAT_CURSOR_BATCH && printed < limit) {
            durlog_record rec;
            rc = durlog_reader_next(r, &rec);
            if (rc == DURLOG_EEND) {
                at_end = 1;
                break;
            }
            if (rc < 0) {
                status = cli_reader_fail(cmd, r, path, rc, "reading %s after %" PRIu64
                                         " records", path, printed);
                break;
            }
            rc = cli_write_record(&rec, format);
            if (rc < 0) {
                status = cursor_output_failed(cmd, c, -rc);
                goto out;
            }
            next = rec.seq + 1;
            batch++;
            printed++;
        }
        if (batch == 0)
            break;
        if (fflush(stdout) != 0) {
            status = cursor_output_failed(cmd, c, errno);
            goto out;
        }
        /* What was printed has left: it need not be printed again. */
        rc = durlog_cursor_commit(c, next);
        if (rc) {
            status = cli_fail(cmd, "committing cursor %s at seq %" PRIu64 ": %s", name, next,
                              cli_explain(rc, durlog_cursor_errmsg(c), path));
            goto out;
        }
        if (status)
            break;
    }
out:
    durlog_cursor_close(c);
    return status;
}

int cli_run_cat(const struct cli_command *cmd, int argc, char **argv)
{
    enum { OPT_FROM = 256, OPT_CURSOR, OPT_SINCE, OPT_UNTIL };
    static const struct option longopts[] = {
        { "from", required_argument, NULL, OPT_FROM },
        { "cursor", required_argument, NULL, OPT_CURSOR },
        { "since", required_argument, NULL, OPT_SINCE },
        { "until", required_argument, NULL, OPT_UNTIL },
        { "count", required_argument, NULL, 'n' },
        { "output", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    enum cli_format format = CLI_FORMAT_TEXT;
    uint64_t from = 0, limit = UINT64_MAX, printed = 0, since = 0, until = UINT64_MAX;
    int have_from = 0, have_since = 0, have_until = 0, opt, rc, status = 0;
    durlog_reader *r;
    const char *path, *cursor_name = NULL;

    while ((opt = cli_next_option(cmd, argc, argv, ":n:o:h", longopts)) != -1) {
        switch (opt) {
        case OPT_FROM:
            if (cli_parse_u64(optarg, &from) != 0)
                cli_usage_error(cmd, "--from needs a sequence number, not '%s'",
                                optarg);
            have_from = 1;
            break;
        case OPT_CURSOR:
            cursor_name = optarg;
            break;
        case OPT_SINCE:
            since = cli_time_arg(cmd, "--since", optarg);
            have_since = 1;
            break;
        case OPT_UNTIL:
            until = cli_time_arg(cmd, "--until", optarg);
            have_until = 1;
            break;
        case 'n':
            limit = cli_count_arg(cmd, optarg);
            break;
        case 'o':
            format = cli_format_arg(cmd, optarg);
            break;
        }
    }
    path = cli_need_one_log(cmd, argc, argv);
    if (cursor_name && (have_from || have_since))
        cli_usage_error(cmd, "--%s and --cursor both say where to start: give one",
                        have_from ? "from" : "since");
    /* A cursor's batches are committed as they leave; a stop by time would
     * need its own rule for what the cursor then says. */
    if (cursor_name && have_until)
        cli_usage_error(cmd, "--until cannot be used with --cursor");
    if (have_from && have_since)
        cli_usage_error(cmd, "--from and --since both say where to start: give one");

    status = cli_open_reader(cmd, path, 0, &r);
    if (status)
        return status;
    if (have_from) {
        rc = durlog_reader_seek(r, from);
        if (rc == DURLOG_ENOTFOUND) {
            status = report_not_found(cmd, r, path, from);
            goto out;
        }
        if (rc < 0) {
            status = cli_reader_fail(cmd, r, path, rc, "seeking to seq %" PRIu64 " in %s",
                                     from, path);
            goto out;
        }
    }
    if (cursor_name) {
        status = cat_cursor(cmd, r, path, cursor_name, limit, format);
        goto out;
    }
    if (have_since) {
        rc = durlog_reader_seek_time(r, since);
        if (rc < 0) {
            char when[RFC3339_NS_SIZE];
            rfc3339_format_ns(since, when);
            status = cli_reader_fail(cmd, r, path, rc, "seeking to %s in %s", when, path);
            goto out;
        }
    }
    while (printed < limit) {
        durlog_record rec;

        rc = durlog_reader_next(r, &rec);
        if (rc == DURLOG_EEND)
            break;
        if (rc < 0) {
            status = cli_reader_fail(cmd, r, path, rc, "reading %s after %" PRIu64 " records",
                                     path, printed);
            goto out;
        }
        if (rec.time_ns > until)
            break;
        rc = cli_write_record(&rec, format);
        if (rc < 0) {
            errno = -rc;
            status = cli_check_stdout(cmd, 0);
            goto out;
        }
        printed++;
    }
    status = cli_check_stdout(cmd, 1);
out:
    durlog_reader_close(r);
    return status;
}
