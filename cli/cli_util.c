/*
 * cli_util.c - helpers every subcommand of `durlog` uses: usage and error
 * reporting, option parsing, strict numbers, opening a reader, and checking
 * standard output for write errors.
 *
 * The rule for errors: a usage error prints the usage and exits 2 at once
 * (nothing has been opened yet); a runtime failure prints one line that says
 * what was being done and why it failed, then the command cleans up and
 * returns 1.
 */
#include <errno.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli_time.h"

void cli_print_usage(const struct cli_command *cmd, FILE *out)
{
    fprintf(out, "usage: durlog %s %s\n\n%s\n", cmd->name, cmd->synopsis,
            cmd->summary);
    if (cmd->details && *cmd->details)
        fprintf(out, "\n%s", cmd->details);
}

_Noreturn void cli_usage_error(const struct cli_command *cmd, const char *fmt,
                               ...)
{
    va_list ap;

    fprintf(stderr, "durlog: %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    /* The synopsis only: the full help would bury the message. */
    fprintf(stderr, "\nusage: durlog %s %s\nRun `durlog help %s` for the "
            "options.\n", cmd->name, cmd->synopsis, cmd->name);
    exit(CLI_EXIT_USAGE);
}

int cli_next_option(const struct cli_command *cmd, int argc, char **argv,
                    const char *optstring, const struct option *longopts)
{
    int opt;

    opterr = 0; /* we word the errors ourselves, with the command's usage */
    opt = getopt_long(argc, argv, optstring, longopts, NULL);
    switch (opt) {
    case 'h':
        cli_print_usage(cmd, stdout);
        exit(fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE);
    case ':':
    case '?':
        /* A long option is named by the word just consumed; a short one
         * (perhaps inside a group such as -vx) by optopt. */
        if (strncmp(argv[optind - 1], "--", 2) == 0)
            cli_usage_error(cmd, opt == ':' ? "option '%s' needs a value"
                                            : "unknown option '%s'",
                            argv[optind - 1]);
        cli_usage_error(cmd, opt == ':' ? "option '-%c' needs a value"
                                        : "unknown option '-%c'", optopt);
    default:
        return opt;
    }
}

int cli_fail(const struct cli_command *cmd, const char *fmt, ...)
{
    va_list ap;

    fflush(stdout); /* keep what we printed before the error in order */
    fprintf(stderr, "durlog: %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_EXIT_FAILURE;
}

int cli_reader_fail(const struct cli_command *cmd, durlog_reader *r, const char *path,
                    int rc, const char *fmt, ...)
{
    char what[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return cli_fail(cmd, "%s: %s", what, cli_explain(rc, durlog_reader_errmsg(r), path));
}

const char *cli_explain(int err, const char *handle_msg, const char *path)
{
    static char buf[2048];
    const char *code_text = durlog_strerror(err);
    const char *hint = "";
    int n;

    if (!handle_msg || !*handle_msg)
        n = snprintf(buf, sizeof(buf), "%s", code_text);
    else if (strstr(handle_msg, code_text))
        n = snprintf(buf, sizeof(buf), "%s", handle_msg);
    else
        n = snprintf(buf, sizeof(buf), "%s: %s", code_text, handle_msg);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return buf;
    if (err == DURLOG_ECORRUPT && !strstr(buf, "durlog check"))
        hint = "; run `durlog check %s`";
    else if (err == DURLOG_EFORMAT)
        hint = "; is %s a durlog log?";
    else if (err == DURLOG_EFAILED && !strstr(buf, "durlog check") &&
             !strstr(buf, "open the log again"))
        hint = "; a sync of %s failed: records since its last sync may be lost";
    if (*hint)
        snprintf(buf + n, sizeof(buf) - (size_t)n, hint, path);
    return buf;
}

int cli_parse_u64(const char *text, uint64_t *out)
{
    uint64_t value = 0;

    if (!text || !*text)
        return -1;
    for (const char *p = text; *p; p++) {
        unsigned digit;

        if (*p < '0' || *p > '9')
            return -1;
        digit = (unsigned)(*p - '0');
        if (value > (UINT64_MAX - digit) / 10)
            return -1;
        value = value * 10 + digit;
    }
    *out = value;
    return 0;
}

enum cli_format cli_format_arg(const struct cli_command *cmd, const char *text)
{
    if (strcmp(text, "text") == 0)
        return CLI_FORMAT_TEXT;
    if (strcmp(text, "json") == 0)
        return CLI_FORMAT_JSON;
    cli_usage_error(cmd, "unknown output format '%s' (use text or json)", text);
}

uint64_t cli_time_arg(const struct cli_command *cmd, const char *opt, const char *text)
{
    char err[256];
    struct timespec ts;
    uint64_t t;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    if (cli_parse_time(text, now, &t, err, sizeof err) != 0)
        cli_usage_error(cmd, "%s: %s", opt, err);
    return t;
}

uint64_t cli_count_arg(const struct cli_command *cmd, const char *text)
{
    uint64_t n;
    if (cli_parse_u64(text, &n) != 0)
        cli_usage_error(cmd, "-n needs a count of records, not '%s'", text);
    return n;
}

const char *cli_need_one_log(const struct cli_command *cmd, int argc, char **argv)
{
    if (optind >= argc)
        cli_usage_error(cmd, "no LOG given");
    if (optind + 1 < argc)
        cli_usage_error(cmd, "one LOG only; unexpected '%s'", argv[optind + 1]);
    return argv[optind];
}

int cli_open_reader(const struct cli_command *cmd, const char *path,
                    int durable_only, durlog_reader **out)
{
    char errbuf[512] = "";
    durlog_reader_options opts;
    int rc;

    durlog_reader_options_init(&opts);
    opts.durable_only = durable_only;
    opts.errbuf = errbuf;
    opts.errbuf_size = sizeof(errbuf);
    rc = durlog_reader_open(path, &opts, out);
    if (rc == 0)
        return 0;
    return cli_fail(cmd, "%s %s: %s",
                    rc == -ENOENT ? "no log at" : "cannot open log", path,
                    cli_explain(rc, errbuf, path));
}

int cli_open_existing_writer(const struct cli_command *cmd, const char *path, char *errbuf,
                             size_t size, durlog **out)
{
    durlog_options opts;
    durlog_options_init(&opts);
    opts.no_create = 1;
    opts.errbuf = errbuf;
    opts.errbuf_size = size;
    int rc = durlog_open(path, &opts, out);
    if (rc)
        return cli_fail(cmd, "opening %s: %s", path, cli_explain(rc, errbuf, path));
    return 0;
}

int cli_open_reader_info(const struct cli_command *cmd, const char *path,
                         int durable_only, durlog_reader **out, durlog_info *info)
{
    int status = cli_open_reader(cmd, path, durable_only, out);
    if (status)
        return status;
    int rc = durlog_reader_get_info(*out, info);
    if (rc == 0)
        return 0;
    status = cli_reader_fail(cmd, *out, path, rc, "reading facts about %s", path);
    durlog_reader_close(*out);
    *out = NULL;
    return status;
}

int cli_check_stdout(const struct cli_command *cmd, int flush)
{
    /* The caller checks right after its writes, so errno still holds what
     * the failing write set. */
    int err = errno;

    if (flush && fflush(stdout) != 0)
        err = errno;
    else if (!ferror(stdout))
        return 0;
    if (err == 0)
        err = EIO;
    if (err == EPIPE)
        return CLI_EXIT_FAILURE;
    return cli_fail(cmd, "writing standard output: %s", strerror(err));
}

/* A number followed by a unit from units (names and multipliers, the empty
 * name for a bare number when bare_ok), without overflow. */
struct cli_unit {
    const char *name;
    uint64_t mult;
};

static int parse_with_unit(const char *text, const struct cli_unit *units, uint64_t *out)
{
    char digits[32];
    size_t n = 0;
    while (text[n] >= '0' && text[n] <= '9')
        n++;
    if (n == 0 || n >= sizeof digits)
        return -1;
    memcpy(digits, text, n);
    digits[n] = '\0';
    uint64_t value;
    if (cli_parse_u64(digits, &value) != 0)
        return -1;
    for (const struct cli_unit *u = units; u->name; u++) {
        if (strcmp(text + n, u->name) == 0) {
            if (value > UINT64_MAX / u->mult)
                return -1;
            *out = value * u->mult;
            return 0;
        }
    }
    return -1;
}

int cli_parse_size(const char *text, uint64_t *out)
{
    static const struct cli_unit units[] = {
        { "", 1 }, { "B", 1 },
        { "K", 1ull << 10 }, { "KiB", 1ull << 10 },
        { "M", 1ull << 20 }, { "MiB", 1ull << 20 },
        { "G", 1ull << 30 }, { "GiB", 1ull << 30 },
        { "T", 1ull << 40 }, { "TiB", 1ull << 40 },
        { NULL, 0 },
    };
    return text ? parse_with_unit(text, units, out) : -1;
}

int cli_parse_duration(const char *text, uint64_t *out_ns)
{
    static const struct cli_unit units[] = {
        { "ms", 1000000ull }, { "s", 1000000000ull }, { "m", 60000000000ull },
        { "h", 3600000000000ull }, { "d", 86400000000000ull },
        { NULL, 0 },
    };
    return text ? parse_with_unit(text, units, out_ns) : -1;
}
