/*
 * cli.h - what the files of the `durlog` command share.
 *
 * durlog.c holds main() and the table of subcommands; each subcommand runs
 * in its own cmd_<name>.c (cli_run_<name>) and is described by one struct
 * cli_command, all of which (with their help texts) are in commands.c.
 * cli_util.c has the helpers every subcommand uses (option parsing, error
 * reporting, numbers); output.c turns records into text: JSON strings,
 * base64 and RFC 3339 times.
 *
 * Exit status of every command: 0 success, 1 a runtime failure (reported as
 * one line "durlog: <command>: <what>: <detail>" on standard error) or a
 * finding such as a damaged log, 2 a usage error (usage on standard error).
 */
#ifndef DURLOG_CLI_H
#define DURLOG_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "durlog.h"

enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILURE = 1,
    CLI_EXIT_USAGE = 2,
};

struct cli_command {
    const char *name;
    const char *synopsis;   /* arguments after "durlog <name>" */
    const char *summary;    /* one line for `durlog --help` */
    const char *details;    /* options and behaviour for `durlog help <name>` */
    /* argv[0] is the command name; returns the exit status. */
    int (*run)(const struct cli_command *cmd, int argc, char **argv);
};

extern const struct cli_command cli_cmd_append;
extern const struct cli_command cli_cmd_cat;
extern const struct cli_command cli_cmd_info;
extern const struct cli_command cli_cmd_check;
extern const struct cli_command cli_cmd_convert;
extern const struct cli_command cli_cmd_tail;
extern const struct cli_command cli_cmd_put;
extern const struct cli_command cli_cmd_bench;
extern const struct cli_command cli_cmd_cursor;
extern const struct cli_command cli_cmd_trim;
extern const struct cli_command cli_cmd_retention;
extern const struct cli_command cli_cmd_ship;
extern const struct cli_command cli_cmd_restore;

/* What runs each subcommand (its struct cli_command's `run`). */
int cli_run_append(const struct cli_command *cmd, int argc, char **argv);
int cli_run_cat(const struct cli_command *cmd, int argc, char **argv);
int cli_run_info(const struct cli_command *cmd, int argc, char **argv);
int cli_run_check(const struct cli_command *cmd, int argc, char **argv);
int cli_run_convert(const struct cli_command *cmd, int argc, char **argv);
int cli_run_tail(const struct cli_command *cmd, int argc, char **argv);
int cli_run_put(const struct cli_command *cmd, int argc, char **argv);
int cli_run_bench(const struct cli_command *cmd, int argc, char **argv);
int cli_run_cursor(const struct cli_command *cmd, int argc, char **argv);
int cli_run_trim(const struct cli_command *cmd, int argc, char **argv);
int cli_run_retention(const struct cli_command *cmd, int argc, char **argv);
int cli_run_ship(const struct cli_command *cmd, int argc, char **argv);
int cli_run_restore(const struct cli_command *cmd, int argc, char **argv);
/* Prints retention settings as one line: `none`, or the limits set. */
void cli_print_retention(const durlog_retention *r);

/* ---- cli_util.c ---- */

/* Prints "usage: durlog <name> <synopsis>", the summary and the details. */
void cli_print_usage(const struct cli_command *cmd, FILE *out);

/* Reports a usage error ("durlog: <name>: <message>", then the synopsis, on
 * standard error) and exits with status 2. */
_Noreturn void cli_usage_error(const struct cli_command *cmd, const char *fmt,
                               ...) __attribute__((format(printf, 2, 3)));

/* getopt_long for a subcommand. optstring must start with ':' (after an
 * optional '+') and hold 'h', and longopts must map "help" to 'h': -h/--help
 * prints the usage to standard output and exits 0; an unknown option or a
 * missing value is a usage error. Returns the next option, or -1 at the end
 * of the options (optind is then the first operand). */
int cli_next_option(const struct cli_command *cmd, int argc, char **argv,
                    const char *optstring, const struct option *longopts);

/* Reports a runtime failure as one line on standard error,
 * "durlog: <name>: <message>", and returns 1 (the exit status). */
int cli_fail(const struct cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The most precise text for a failure `err` on the log at path: the
 * handle's message (which names file, offset and operation) when there is
 * one, preceded by the code's text if the message lacks it, else
 * durlog_strerror(err); then a hint at the next step where one helps (e.g.
 * "run `durlog check LOG`" for DURLOG_ECORRUPT). handle_msg may be NULL. The
 * string is static: valid until the next call. */
const char *cli_explain(int err, const char *handle_msg, const char *path);

/* cli_fail for a failure `rc` of the reader r on the log at path: the line
 * is "<what>: <cli_explain's text>", what formatted from fmt. Returns 1. */
int cli_reader_fail(const struct cli_command *cmd, durlog_reader *r, const char *path,
                    int rc, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Strict unsigned decimal: digits only (no sign, no spaces, no base
 * prefixes), no overflow. Returns 0, or -1 if text is not such a number. */
int cli_parse_u64(const char *text, uint64_t *out);

/* A size in bytes: digits, then nothing or B, K/KiB, M/MiB, G/GiB, T/TiB
 * (powers of 1024). A duration: digits, then ms, s, m, h or d (a unit is
 * required), in ns. 0, or -1 if text is not one (or overflows). */
int cli_parse_size(const char *text, uint64_t *out);
int cli_parse_duration(const char *text, uint64_t *out_ns);

enum cli_format {
    CLI_FORMAT_TEXT,
    CLI_FORMAT_JSON,
};

/* The argument of -o: "text" or "json"; anything else is a usage error. */
enum cli_format cli_format_arg(const struct cli_command *cmd, const char *text);
/* The argument of -n: a count of records, or a usage error. */
uint64_t cli_count_arg(const struct cli_command *cmd, const char *text);
/* The argument of option `opt` (--since, --until): a time (cli_time.h:
 * RFC 3339, or relative to now as -15m), in ns since the epoch, or a usage
 * error saying what is wrong with it. */
uint64_t cli_time_arg(const struct cli_command *cmd, const char *opt, const char *text);

/* After the options: exactly one LOG argument is left (argv[optind]), which
 * it returns, or a usage error (exit 2). */
const char *cli_need_one_log(const struct cli_command *cmd, int argc, char **argv);

/* Opens a reader on the log at path (only its durable records with
 * durable_only), reporting a failure. Returns 0, or the
 * exit status 1 after reporting. */
int cli_open_reader(const struct cli_command *cmd, const char *path,
                    int durable_only, durlog_reader **out);

/* Opens the log at path as a writer, never creating it (trim, retention:
 * commands that change an existing log). errbuf (size bytes) gets the
 * open's message. Returns 0, or the exit status 1 after reporting. */
int cli_open_existing_writer(const struct cli_command *cmd, const char *path, char *errbuf,
                             size_t size, durlog **out);

/* cli_open_reader, then the log's facts (durlog_reader_get_info) into info.
 * Returns 0, or the exit status 1 after reporting (the reader then closed). */
int cli_open_reader_info(const struct cli_command *cmd, const char *path,
                         int durable_only, durlog_reader **out, durlog_info *info);

/* Checks standard output after writing to it; with `flush`, flushes it
 * first. Returns 0, or 1 after reporting the write error (silently for
 * EPIPE: whoever read our output has gone, as with `| head`). */
int cli_check_stdout(const struct cli_command *cmd, int flush);

/* ---- cmd_cursor.c ---- */

/* Prints the cursors of the log at path with their lag: as `durlog cursor
 * LOG list` does, or with in_info as `durlog info` does (text: a
 * "cursors: N" line first; json: `,"cursors":[...]` to end its object).
 * Returns 0, or the exit status 1 after reporting. */
int cli_print_cursors(const struct cli_command *cmd, const char *path,
                      enum cli_format format, int in_info);

/* ---- output.c ---- */

/* 1 if the bytes are well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), else 0. */
int utf8_valid(const void *data, size_t len);

/* Writes the bytes, which must be valid UTF-8, as a quoted JSON string. */
void json_write_string(FILE *out, const void *data, size_t len);

/* Writes the bytes base64-encoded (RFC 4648, padded) in double quotes. */
void json_write_base64(FILE *out, const void *data, size_t len);

/* Room for an RFC 3339 time with nanoseconds, "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ"
 * (30 characters and the NUL), with margin for years past 9999. */
#define RFC3339_NS_SIZE 48

/* Formats ns since the Unix epoch as RFC 3339 in UTC with nanoseconds, e.g.
 * "2026-11-23T17:59:10.123456789Z". */
void rfc3339_format_ns(uint64_t time_ns, char buf[RFC3339_NS_SIZE]);

/* Writes one record to standard output as `durlog cat` prints it: text, the
 * payload's bytes and a newline; json, one object on one line,
 * {"seq":N,"time":"RFC 3339","data":"..."}, with "encoding":"base64" for a
 * payload that is not UTF-8. Returns 0, or the negative errno of the write
 * that failed (standard output's error flag is then set). */
int cli_write_record(const durlog_record *rec, enum cli_format format);

/* The error (negative errno) of the stdio write to standard output that just
 * failed. */
int cli_stdout_error(void);

#endif /* DURLOG_CLI_H */
