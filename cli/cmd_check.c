/*
 * cmd_check.c - `durlog check [--repair] [--force] LOG` and `durlog convert
 * LOG`.
 *
 * Verifies every record of a closed log with durlog_check() and prints what
 * it found. With --repair it cuts a torn tail (the bytes go to a side file
 * next to the segment, nothing is thrown away); with --force as well it also
 * cuts at damage before the tail, dropping every record after it. After a
 * repair the log is checked again, and the exit status says whether it is
 * clean now: 0 clean, 1 damaged (or the check failed), 2 usage error.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "cli.h"

/* Tells the user what to do about the damage in a report. */
static void print_hint(const char *path, const durlog_check_report *report)
{
    if (report->live)
        printf("hint:      writers have the log open; once they have closed it, "
               "run `durlog check %s` again (nothing may be cut while they "
               "append)\n", path);
    else if (report->damage_at_tail)
        printf("hint:      run `durlog check --repair %s` to cut the torn "
               "tail (the cut bytes are kept in a side file)\n", path);
    else
        printf("hint:      damage before the tail: if you have copies of the damaged "
               "or missing segment files, put them back; otherwise `durlog check "
               "--repair --force %s` moves every record after the damage aside (into "
               "side files)\n", path);
}

static void print_report(const char *path, const durlog_check_report *report)
{
    printf("log:       %s\n", path);
    if (!report->damaged)
        printf("status:    clean\n");
    else if (report->damage_at_tail)
        printf("status:    damaged (torn tail)\n");
    else
        printf("status:    damaged\n");
    printf("segments:  %" PRIu64 "\n", report->segments);
    printf("records:   %" PRIu64 "\n", report->records);
    if (report->next_seq > report->first_seq)
        printf("seqs:      %" PRIu64 "..%" PRIu64 "\n", report->first_seq,
               report->next_seq - 1);
    else
        printf("seqs:      none (next seq %" PRIu64 ")\n", report->next_seq);
    if (report->live)
        printf("writers:   appending; checked the records published when the "
               "check began\n");
    if (report->side_files)
        printf("side files: %" PRIu64 " (what earlier recoveries or repairs cut, "
               "%s/*.cut-*, and segments replaced under a writer, *.replaced)\n",
               report->side_files, path);
    if (report->old_format_segments)
        printf("format:    %" PRIu64 " segment(s) of format version 1, read as they are "
               "(`durlog convert %s` rewrites them in version 2)\n",
               report->old_format_segments, path);
    if (report->damaged) {
        printf("problem:   %s\n", report->problem);
        if (report->problems > 1)
            printf("problems:  %" PRIu64 " damaged regions\n",
                   report->problems);
    }
}

/* Prints the report and, for damage, the hint. Returns the exit status. */
static int print_findings(const struct cli_command *cmd, const char *path,
                          const durlog_check_report *report)
{
    print_report(path, report);
    if (report->damaged)
        print_hint(path, report);
    if (cli_check_stdout(cmd, 1))
        return CLI_EXIT_FAILURE;
    return report->damaged ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

/* Reports that durlog_check() failed (not that it found damage). */
static int check_failed(const struct cli_command *cmd, const char *doing,
                        const char *path, int err,
                        const durlog_check_report *report)
{
    return cli_fail(cmd, "%s %s: %s", err == -ENOENT ? "no log at" : doing,
                    path, cli_explain(err, report->problem, path));
}

int cli_run_check(const struct cli_command *cmd, int argc, char **argv)
{
    enum { OPT_REPAIR = 256, OPT_FORCE };
    static const struct option longopts[] = {
        { "repair", no_argument, NULL, OPT_REPAIR },
        { "force", no_argument, NULL, OPT_FORCE },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    durlog_check_report found = { 0 }, now = { 0 };
    const char *path;
    int flags = 0, opt, rc;

    while ((opt = cli_next_option(cmd, argc, argv, ":h", longopts)) != -1) {
        if (opt == OPT_REPAIR)
            flags |= DURLOG_CHECK_REPAIR;
        else if (opt == OPT_FORCE)
            flags |= DURLOG_CHECK_FORCE;
    }
    path = cli_need_one_log(cmd, argc, argv);
    if ((flags & DURLOG_CHECK_FORCE) && !(flags & DURLOG_CHECK_REPAIR))
        cli_usage_error(cmd, "--force works only with --repair");

    /* A plain check first: it names the damage a repair would cut, which
     * the report of the repair need not do (it may describe the log as it
     * is after the cut). */
    rc = durlog_check(path, 0, &found);
    if (rc < 0)
        return check_failed(cmd, "cannot check", path, rc, &found);
    /* A repair asks for the log to itself, damaged or not. */
    if ((flags & DURLOG_CHECK_REPAIR) && found.live)
        return cli_fail(cmd, "cannot repair %s: a writer has the log open; close it "
                        "and retry", path);
    if (!(flags & DURLOG_CHECK_REPAIR) || !found.damaged ||
        (!found.damage_at_tail && !(flags & DURLOG_CHECK_FORCE)))
        return print_findings(cmd, path, &found); /* the hint says what next */

    rc = durlog_check(path, flags, &now);
    if (rc == -EBUSY) /* a writer, or another repair: the problem says */
        return cli_fail(cmd, "%s", now.problem);
    if (rc == DURLOG_ECORRUPT && now.damaged) /* refused: not at the tail */
        return print_findings(cmd, path, &now);
    if (rc < 0)
        return check_failed(cmd, "cannot repair", path, rc, &now);
    printf("repaired:  %s\n", found.problem);
    printf("           (the cut bytes are kept in %s/<segment>.cut-<offset>)\n",
           path);

    rc = durlog_check(path, 0, &now);
    if (rc < 0)
        return check_failed(cmd, "cannot check again after the repair", path,
                            rc, &now);
    return print_findings(cmd, path, &now);
}

int cli_run_convert(const struct cli_command *cmd, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    durlog_check_report rep = { 0 };
    while (cli_next_option(cmd, argc, argv, ":h", longopts) != -1)
        ;
    const char *path = cli_need_one_log(cmd, argc, argv);
    int rc = durlog_check(path, DURLOG_CHECK_CONVERT, &rep);
    /* A writer, or a repair; or a segment that could not be converted (one
     * whose records span more than a version 2 segment's 78 hours is
     * DURLOG_EFORMAT, which cli_explain takes for a directory that is no
     * durlog log): the problem says. */
    if (rc == -EBUSY || (rc < 0 && strncmp(rep.problem, "convert failed: ", 16) == 0))
        return cli_fail(cmd, "%s", rep.problem);
    if (rc < 0)
        return check_failed(cmd, "cannot convert", path, rc, &rep);
    if (rep.damaged) {
        printf("converted: nothing (the log is damaged: repair it first)\n");
        print_report(path, &rep);
        print_hint(path, &rep);
        cli_check_stdout(cmd, 1);
        return CLI_EXIT_FAILURE;
    }
    printf("converted: %" PRIu64 " segment(s) to format version %d\n", rep.converted, 2);
    return print_findings(cmd, path, &rep);
}
