/*
 * cmd_tail.c - `durlog tail [-n N] [-f] [--durable] [--since TIME]
 * [--until TIME] [-o text|json] LOG`.
 *
 * Prints the last N records of a log, oldest first, in the formats of
 * `durlog cat`. The last N are found from durlog_reader_get_info(): the reader
 * seeks to max(first_seq, end - N), where end is the log's next_seq, or its
 * durable mark with --durable, and prints N records from there. With -f it
 * then keeps following the log, waiting on durlog_reader_wait() at its end,
 * until SIGINT or SIGTERM (exit 0) or until whoever reads standard output
 * goes away (EPIPE, or a closed pipe seen while waiting: exit 0, quietly).
 *
 * --since TIME starts at the first record at or after TIME
 * (durlog_reader_seek_time): all of them to the end, or with -n the last N
 * of them. --until TIME stops before the first record after TIME (record
 * times never decrease in seq order, so none after it can be earlier);
 * with -f, that record's arrival ends the follow (exit 0).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* How long one wait at the end of the log may take with -f: bounds how
 * late a SIGINT or SIGTERM is acted on. */
#define FOLLOW_WAIT_MS 200

/* Set by SIGINT or SIGTERM while following. */
static volatile sig_atomic_t stop_requested;

static void request_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Makes SIGINT and SIGTERM end the follow loop instead of the process.
 * Without SA_RESTART, so that a write blocked on a full pipe is interrupted
 * too. Returns 0 or a negative errno. */
static int install_stop_handlers(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = request_stop;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
        return -errno;
    return 0;
}

/* True when standard output is a pipe whose reading end has been closed,
 * so that a follower idle at the end of the log stops without waiting for
 * its next record to fail with EPIPE. */
static int stdout_reader_gone(void)
{
    struct pollfd p = { .fd = STDOUT_FILENO, .events = 0 };

    return poll(&p, 1, 0) == 1 && (p.revents & POLLERR);
}

/* The exit status after a failed write to standard output (rc, a negative
 * errno). Following, a reader that went away (EPIPE) or a write cut short
 * by SIGINT/SIGTERM is the normal way to stop: 0, quietly. Otherwise as
 * `durlog cat`: 1, reported unless it is EPIPE. */
static int write_failed(const struct cli_command *cmd, int follow, int rc)
{
    if (follow && (rc == -EPIPE || stop_requested))
        return CLI_EXIT_OK;
    errno = -rc;
    return cli_check_stdout(cmd, 0);
}

/* The sequence number to start at so that at most `count` records are left
 * before `end`: max(first, end - count). */
static uint64_t start_seq(uint64_t first, uint64_t end, uint64_t count)
{
    if (end < first || end - first <= count)
        return first;
    return end - count;
}

/* The reader r of the log at path met DURLOG_ETRIMMED wanting record
 * *want: a trim removed it before it was printed. Says so on standard error,
 * with how many records were missed, and moves r (and *want) to the log's
 * first record (again, if another trim comes meanwhile). 0, or the exit
 * status after reporting a failure. */
static int skip_trimmed(const struct cli_command *cmd, durlog_reader *r, const char *path,
                        uint64_t *want)
{
    durlog_info info;
    int rc;
    do {
        rc = durlog_reader_get_info(r, &info);
        if (rc < 0)
            return cli_reader_fail(cmd, r, path, rc, "looking at %s after a trim", path);
        rc = durlog_reader_seek(r, info.first_seq);
    } while (rc == DURLOG_ETRIMMED);
    if (rc < 0)
        return cli_reader_fail(cmd, r, path, rc, "seeking to seq %" PRIu64 " in %s after a trim",
                               info.first_seq, path);
    fflush(stdout);
    fprintf(stderr, "durlog: %s: %s: records %" PRIu64 " to %" PRIu64 " were removed by a "
            "trim before they were printed (%" PRIu64 " records missed); going on from "
            "record %" PRIu64 "\n", cmd->name, path, *want, info.first_seq - 1,
            info.first_seq - *want, info.first_seq);
    *want = info.first_seq;
    return 0;
}

int cli_run_tail(const struct cli_command *cmd, int argc, char **argv)
{
    enum { OPT_DURABLE = 256, OPT_SINCE, OPT_UNTIL };
    static const struct option longopts[] = {
        { "since", required_argument, NULL, OPT_SINCE },
        { "until", required_argument, NULL, OPT_UNTIL },
        { "count", required_argument, NULL, 'n' },
        { "follow", no_argument, NULL, 'f' },
        { "durable", no_argument, NULL, OPT_DURABLE },
        { "output", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    enum cli_format format = CLI_FORMAT_TEXT;
    uint64_t count = 10, printed = 0, start, next, since = 0, until = UINT64_MAX;
    int follow = 0, durable = 0, have_count = 0, have_since = 0, opt, rc, status = 0;
    durlog_reader *r;
    durlog_info info;
    const char *path;

    while ((opt = cli_next_option(cmd, argc, argv, ":n:fo:h", longopts)) != -1) {
        switch (opt) {
        case 'n':
            count = cli_count_arg(cmd, optarg);
            have_count = 1;
            break;
        case OPT_SINCE:
            since = cli_time_arg(cmd, "--since", optarg);
            have_since = 1;
            break;
        case OPT_UNTIL:
            until = cli_time_arg(cmd, "--until", optarg);
            break;
        case 'f':
            follow = 1;
            break;
        case OPT_DURABLE:
            durable = 1;
            break;
        case 'o':
            format = cli_format_arg(cmd, optarg);
            break;
        }
    }
    path = cli_need_one_log(cmd, argc, argv);

    status = cli_open_reader_info(cmd, path, durable, &r, &info);
    if (status)
        return status;
    start = start_seq(info.first_seq, durable ? info.durable_seq : info.next_seq,
                      count);
    int at_end = 0;
    if (have_since) {
        /* The first record at or after `since`: from there (with -n, from
         * the later of it and the last `count`). */
        durlog_record rec;
        char when[RFC3339_NS_SIZE];
        rfc3339_format_ns(since, when);
        rc = durlog_reader_seek_time(r, since);
        if (rc == 0)
            rc = durlog_reader_next(r, &rec);
        if (rc == DURLOG_EEND) {
            at_end = 1; /* none yet: the reader waits at the end */
            rc = 0;
        } else if (rc == 0) {
            start = have_count && start > rec.seq ? start : rec.seq;
        }
        if (rc < 0) {
            status = cli_reader_fail(cmd, r, path, rc, "seeking to %s in %s", when, path);
            goto out;
        }
        if (!have_count)
            count = UINT64_MAX;
    }
    /* Where the records printed start (the end, when --since is past the
     * last record): what a trim's message counts from. */
    next = at_end ? (durable ? info.durable_seq : info.next_seq) : start;
    rc = at_end ? 0 : durlog_reader_seek(r, start);
    if (rc == DURLOG_ETRIMMED) {
        status = skip_trimmed(cmd, r, path, &next);
        if (status)
            goto out;
        rc = 0;
    }
    if (rc < 0) {
        status = cli_reader_fail(cmd, r, path, rc, "seeking to seq %" PRIu64 " in %s", start,
                                 path);
        goto out;
    }
    if (follow) {
        rc = install_stop_handlers();
        if (rc < 0) {
            status = cli_fail(cmd, "installing signal handlers: %s",
                              strerror(-rc));
            goto out;
        }
    }

    /* The last `count` records; then, following, every new one. */
    while (follow ? !stop_requested : printed < count) {
        durlog_record rec;

        rc = durlog_reader_next(r, &rec);
        if (rc == DURLOG_ETRIMMED) {
            status = skip_trimmed(cmd, r, path, &next);
            if (status)
                goto out;
            continue;
        }
        if (rc == DURLOG_EEND) {
            if (!follow)
                break;
            rc = durlog_reader_wait(r, FOLLOW_WAIT_MS);
            if (rc < 0 && rc != -ETIMEDOUT) {
                status = cli_reader_fail(cmd, r, path, rc, "waiting for records of %s", path);
                goto out;
            }
            if (stdout_reader_gone())
                break;
            continue;
        }
        if (rc < 0) {
            status = cli_reader_fail(cmd, r, path, rc, "reading %s after %" PRIu64 " records",
                                     path, printed);
            goto out;
        }
        if (rec.time_ns > until)
            break; /* past --until: so is every later record */
        rc = cli_write_record(&rec, format);
        if (rc == 0 && follow && fflush(stdout) != 0)
            rc = cli_stdout_error();
        if (rc < 0) {
            status = write_failed(cmd, follow, rc);
            goto out;
        }
        printed++;
        next = rec.seq + 1;
    }
    if (!follow)
        status = cli_check_stdout(cmd, 1);
    else if (fflush(stdout) != 0)
        status = write_failed(cmd, follow, cli_stdout_error());
out:
    durlog_reader_close(r);
    return status;
}
