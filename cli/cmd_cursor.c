/*
 * cmd_cursor.c - `durlog cursor LOG list|get NAME|set NAME SEQ|delete NAME`.
 *
 * Named cursors (durlog_cursor_* in durlog.h) from the shell: a consumer's
 * durable position in a log, which `durlog cat --cursor NAME` reads from
 * and commits. `set` also mends a cursor whose file is damaged: it is
 * replaced by a good one at SEQ.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "cli.h"

/* The failure rc of a cursor call without a handle, with the library's
 * message (durlog_last_errmsg). */
static int cursor_fail(const struct cli_command *cmd, const char *log, int rc,
                       const char *what)
{
    return cli_fail(cmd, "%s: %s", what, cli_explain(rc, durlog_last_errmsg(), log));
}

/* Whether cursor `name` is a shipper's (`durlog ship`, ship/session.c):
 * its lock file ship.NAME says who shipped with it, and is locked while
 * that shipper runs. 0 if not; else 1 with the file's line in text and
 * *running set. */
static int ship_holder(const char *log, const char *name, char *text, size_t size,
                       int *running)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/ship.%s", log, name);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t got = read(fd, text, size - 1);
    text[got > 0 ? (size_t)got : 0] = '\0';
    text[strcspn(text, "\n")] = '\0';
    *running = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    return 1;
}

/* One line per cursor; json: one object per line, or with in_info the
 * objects separated by commas on one line (the array `durlog info` ends
 * its object with). A shipper's cursor says so: its lag is the shipping
 * lag. */
static void print_list(const char *log, const durlog_cursor_info *v, size_t n,
                       enum cli_format format, int in_info)
{
    char holder[512];
    int running = 0;
    char when[RFC3339_NS_SIZE];
    const char *end = in_info ? "}" : "}\n";
    for (size_t i = 0; i < n; i++) {
        if (format == CLI_FORMAT_JSON) {
            printf("%s{\"name\":", in_info && i ? "," : "");
            json_write_string(stdout, v[i].name, strlen(v[i].name));
            if (v[i].status) {
                printf(",\"error\":");
                const char *e = durlog_strerror(v[i].status);
                json_write_string(stdout, e, strlen(e));
                printf("%s", end);
                continue;
            }
            rfc3339_format_ns(v[i].commit_time_ns, when);
            printf(",\"seq\":%" PRIu64 ",\"committed\":\"%s\",\"lag_records\":%" PRIu64
                   ",\"lag_bytes\":%" PRIu64 ",\"trimmed\":%" PRIu64, v[i].seq, when,
                   v[i].lag_records, v[i].lag_bytes, v[i].trimmed);
            if (ship_holder(log, v[i].name, holder, sizeof holder, &running)) {
                printf(",\"shipping\":{\"running\":%s,\"by\":", running ? "true" : "false");
                json_write_string(stdout, holder, strlen(holder));
                printf("}");
            }
            printf("%s", end);
            continue;
        }
        if (v[i].status) {
            printf("%s  unreadable: %s (`durlog cursor LOG get %s` says why)\n", v[i].name,
                   durlog_strerror(v[i].status), v[i].name);
            continue;
        }
        rfc3339_format_ns(v[i].commit_time_ns, when);
        printf("%s  seq %" PRIu64 "  lag %" PRIu64 " records, %" PRIu64 " bytes  committed %s",
               v[i].name, v[i].seq, v[i].lag_records, v[i].lag_bytes, when);
        if (v[i].trimmed)
            printf("  BEHIND: %" PRIu64 " records it had not consumed were removed",
                   v[i].trimmed);
        if (ship_holder(log, v[i].name, holder, sizeof holder, &running))
            printf("\n  shipping lag %" PRIu64 " records; %s: %s", v[i].lag_records,
                   running ? "running" : "not running, last", holder);
        printf("\n");
    }
}

int cli_print_cursors(const struct cli_command *cmd, const char *log, enum cli_format format,
                      int in_info)
{
    durlog_cursor_info *v;
    size_t n;
    int rc = durlog_cursor_list(log, &v, &n);
    if (rc)
        return cursor_fail(cmd, log, rc, "listing the cursors");
    if (in_info && format == CLI_FORMAT_TEXT)
        printf("cursors:      %zu\n", n);
    if (in_info && format == CLI_FORMAT_JSON)
        printf(",\"cursors\":[");
    print_list(log, v, n, format, in_info);
    if (in_info && format == CLI_FORMAT_JSON)
        printf("]");
    durlog_cursor_list_free(v);
    return 0;
}

/* `set`: commits seq, creating the cursor if needed; a damaged one is
 * removed first and made again (its old position is unknown anyway). */
static int set_cursor(const struct cli_command *cmd, const char *log, const char *name,
                      uint64_t seq)
{
    durlog_cursor *c;
    int rc = durlog_cursor_open(log, name, DURLOG_CURSOR_CREATE, &c);
    if (rc == DURLOG_ECORRUPT || rc == DURLOG_EFORMAT) {
        fprintf(stderr, "durlog: %s: replacing cursor %s: %s\n", cmd->name, name,
                durlog_last_errmsg());
        rc = durlog_cursor_delete(log, name);
        if (rc == 0)
            rc = durlog_cursor_open(log, name, DURLOG_CURSOR_CREATE, &c);
    }
    if (rc)
        return cursor_fail(cmd, log, rc, "opening the cursor");
    rc = durlog_cursor_commit(c, seq);
    int status = 0;
    if (rc)
        status = cli_fail(cmd, "committing %s at %" PRIu64 ": %s", name, seq,
                          cli_explain(rc, durlog_cursor_errmsg(c), log));
    durlog_cursor_close(c);
    return status;
}

int cli_run_cursor(const struct cli_command *cmd, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "output", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    enum cli_format format = CLI_FORMAT_TEXT;
    int opt, status;

    while ((opt = cli_next_option(cmd, argc, argv, ":o:h", longopts)) != -1)
        if (opt == 'o')
            format = cli_format_arg(cmd, optarg);
    if (argc - optind < 2)
        cli_usage_error(cmd, "needs LOG and an action (list, get, set or delete)");
    const char *log = argv[optind], *action = argv[optind + 1];
    int args = argc - optind - 2;
    char **arg = argv + optind + 2;

    if (strcmp(action, "list") == 0) {
        if (args != 0)
            cli_usage_error(cmd, "list takes no argument");
        status = cli_print_cursors(cmd, log, format, 0);
    } else if (strcmp(action, "get") == 0) {
        if (args != 1)
            cli_usage_error(cmd, "get needs a cursor NAME");
        durlog_cursor *c;
        int rc = durlog_cursor_open(log, arg[0], 0, &c);
        if (rc)
            return cursor_fail(cmd, log, rc, "reading the cursor");
        printf("%" PRIu64 "\n", durlog_cursor_seq(c));
        durlog_cursor_close(c);
        status = 0;
    } else if (strcmp(action, "set") == 0) {
        uint64_t seq;
        if (args != 2)
            cli_usage_error(cmd, "set needs a cursor NAME and a SEQ");
        if (cli_parse_u64(arg[1], &seq) != 0)
            cli_usage_error(cmd, "set needs a sequence number, not '%s'", arg[1]);
        status = set_cursor(cmd, log, arg[0], seq);
    } else if (strcmp(action, "delete") == 0) {
        if (args != 1)
            cli_usage_error(cmd, "delete needs a cursor NAME");
        int rc = durlog_cursor_delete(log, arg[0]);
        status = rc ? cursor_fail(cmd, log, rc, "deleting the cursor") : 0;
    } else {
        cli_usage_error(cmd, "unknown action '%s' (list, get, set or delete)", action);
    }
    if (status)
        return status;
    return cli_check_stdout(cmd, 1);
}
