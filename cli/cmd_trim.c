/*
 * cmd_trim.c - `durlog trim (--before SEQ | --older-than DURATION |
 * --max-size SIZE) [-v] LOG`.
 *
 * Opens the log as a writer (an existing log only) and removes its oldest
 * segments through durlog_trim or durlog_trim_retention (src/trim.c says
 * what may go and in which order), then prints the log's first record.
 */
#include <inttypes.h>
#include <string.h>

#include "cli.h"

int cli_run_trim(const struct cli_command *cmd, int argc, char **argv)
{
    enum { OPT_BEFORE = 256, OPT_OLDER, OPT_MAX_SIZE };
    static const struct option longopts[] = {
        { "before", required_argument, NULL, OPT_BEFORE },
        { "older-than", required_argument, NULL, OPT_OLDER },
        { "max-size", required_argument, NULL, OPT_MAX_SIZE },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    durlog_retention lim;
    uint64_t before = 0, first = 0;
    int by_seq = 0, limits = 0, verbose = 0, opt, rc;

    memset(&lim, 0, sizeof lim);
    while ((opt = cli_next_option(cmd, argc, argv, ":vh", longopts)) != -1) {
        switch (opt) {
        case OPT_BEFORE:
            if (cli_parse_u64(optarg, &before) != 0)
                cli_usage_error(cmd, "--before needs a sequence number, not '%s'", optarg);
            by_seq++;
            break;
        case OPT_OLDER:
            if (cli_parse_duration(optarg, &lim.max_age_ns) != 0 || lim.max_age_ns == 0)
                cli_usage_error(cmd, "--older-than needs a duration above 0 such as 30s, "
                                "15m, 12h or 7d, not '%s'", optarg);
            limits++;
            break;
        case OPT_MAX_SIZE:
            if (cli_parse_size(optarg, &lim.max_bytes) != 0 || lim.max_bytes == 0)
                cli_usage_error(cmd, "--max-size needs a size above 0 such as 4096, 500M "
                                "or 2G, not '%s'", optarg);
            limits++;
            break;
        case 'v':
            verbose = 1;
            break;
        }
    }
    if (by_seq + limits != 1)
        cli_usage_error(cmd, "give exactly one of --before, --older-than and --max-size");
    const char *path = cli_need_one_log(cmd, argc, argv);

    char errbuf[512] = "";
    durlog *log;
    rc = cli_open_existing_writer(cmd, path, errbuf, sizeof errbuf, &log);
    if (rc)
        return rc; /* the exit status, after saying why */
    durlog_info info;
    rc = durlog_get_info(log, &info);
    uint64_t was = rc == 0 ? info.first_seq : 0;
    if (rc == 0)
        rc = by_seq ? durlog_trim(log, before, &first) : durlog_trim_retention(log, &lim, &first);
    int status = 0;
    if (rc)
        status = cli_fail(cmd, "trimming %s: %s", path,
                          cli_explain(rc, durlog_errmsg(log), path));
    rc = durlog_close(log);
    if (rc && !status)
        status = cli_fail(cmd, "closing %s: %s", path, cli_explain(rc, errbuf, path));
    if (status)
        return status;
    printf("first seq %" PRIu64 "\n", first);
    if (verbose)
        printf("removed %" PRIu64 " records\n", first > was ? first - was : 0);
    return cli_check_stdout(cmd, 1);
}
