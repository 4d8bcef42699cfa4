/*
 * cmd_retention.c - `durlog retention [--max-size SIZE] [--max-age DURATION]
 * [--cursor-cap SIZE] | --none LOG`.
 *
 * Sets the retention settings kept with the log (durlog_set_retention: the
 * file durlog.retention, which every writer applies in the background), or,
 * with no option, prints them. Setting opens the log as a writer (an
 * existing log only); printing opens a reader.
 */
#include <inttypes.h>
#include <string.h>

#include "cli.h"

void cli_print_retention(const durlog_retention *r)
{
    if (!r->max_bytes && !r->max_age_ns) {
        printf("none\n");
        return;
    }
    const char *sep = "";
    if (r->max_bytes) {
        printf("max size %" PRIu64 " bytes", r->max_bytes);
        sep = ", ";
    }
    if (r->max_age_ns) {
        printf("%smax age %" PRIu64 " s", sep, r->max_age_ns / 1000000000u);
        sep = ", ";
    }
    /* What named cursors may hold back from the limits above. */
    if (r->cursor_cap_bytes)
        printf("%scursors hold at most %" PRIu64 " bytes", sep, r->cursor_cap_bytes);
    else
        printf("%scursors hold what they have not consumed", sep);
    printf("\n");
}

int cli_run_retention(const struct cli_command *cmd, int argc, char **argv)
{
    enum { OPT_MAX_SIZE = 256, OPT_MAX_AGE, OPT_CURSOR_CAP, OPT_NONE };
    static const struct option longopts[] = {
        { "max-size", required_argument, NULL, OPT_MAX_SIZE },
        { "max-age", required_argument, NULL, OPT_MAX_AGE },
        { "cursor-cap", required_argument, NULL, OPT_CURSOR_CAP },
        { "none", no_argument, NULL, OPT_NONE },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    durlog_retention r;
    int set = 0, none = 0, opt, rc;

    memset(&r, 0, sizeof r);
    while ((opt = cli_next_option(cmd, argc, argv, ":h", longopts)) != -1) {
        switch (opt) {
        case OPT_MAX_SIZE:
            if (cli_parse_size(optarg, &r.max_bytes) != 0 || r.max_bytes == 0)
                cli_usage_error(cmd, "--max-size needs a size above 0 such as 500M or 2G, "
                                "not '%s'", optarg);
            set = 1;
            break;
        case OPT_MAX_AGE:
            if (cli_parse_duration(optarg, &r.max_age_ns) != 0 || r.max_age_ns == 0)
                cli_usage_error(cmd, "--max-age needs a duration above 0 such as 12h or "
                                "30d, not '%s'", optarg);
            set = 1;
            break;
        case OPT_CURSOR_CAP:
            if (cli_parse_size(optarg, &r.cursor_cap_bytes) != 0 || r.cursor_cap_bytes == 0)
                cli_usage_error(cmd, "--cursor-cap needs a size above 0 such as 500M or "
                                "2G, not '%s'", optarg);
            set = 1;
            break;
        case OPT_NONE:
            none = 1;
            break;
        }
    }
    if (set && none)
        cli_usage_error(cmd, "--none cannot go with --max-size, --max-age or --cursor-cap");
    const char *path = cli_need_one_log(cmd, argc, argv);

    if (!set && !none) {
        durlog_reader *rd;
        int status = cli_open_reader(cmd, path, 0, &rd);
        if (status)
            return status;
        rc = durlog_reader_get_retention(rd, &r);
        if (rc)
            status = cli_reader_fail(cmd, rd, path, rc, "reading the retention of %s", path);
        durlog_reader_close(rd);
        if (status)
            return status;
        cli_print_retention(&r);
        return cli_check_stdout(cmd, 1);
    }

    char errbuf[512] = "";
    durlog *log;
    rc = cli_open_existing_writer(cmd, path, errbuf, sizeof errbuf, &log);
    if (rc)
        return rc; /* the exit status, after saying why */
    int status = 0;
    rc = durlog_set_retention(log, &r);
    if (rc)
        status = cli_fail(cmd, "setting the retention of %s: %s", path,
                          cli_explain(rc, durlog_errmsg(log), path));
    rc = durlog_close(log);
    if (rc && !status)
        status = cli_fail(cmd, "closing %s: %s", path, cli_explain(rc, errbuf, path));
    if (status)
        return status;
    cli_print_retention(&r);
    return cli_check_stdout(cmd, 1);
}
