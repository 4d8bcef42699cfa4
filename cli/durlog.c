/*
 * durlog.c - the `durlog` command: main() and the table of subcommands.
 *
 *   durlog COMMAND [OPTIONS] ARGS     run a subcommand (cmd_<name>.c)
 *   durlog help [COMMAND]             usage of the command or of one subcommand
 *   durlog --help | --version
 *
 * Each subcommand parses its own options and returns its exit status; see
 * cli.h for what the statuses mean.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct cli_command *const commands[] = {
    &cli_cmd_append,
    &cli_cmd_cat,
    &cli_cmd_tail,
    &cli_cmd_info,
    &cli_cmd_cursor,
    &cli_cmd_check,
    &cli_cmd_trim,
    &cli_cmd_retention,
    &cli_cmd_convert,
    &cli_cmd_put,
    &cli_cmd_ship,
    &cli_cmd_restore,
    &cli_cmd_bench,
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void print_main_usage(FILE *out)
{
    fputs("usage: durlog COMMAND [OPTIONS] LOG ...\n"
          "       durlog help COMMAND\n"
          "       durlog --help | --version\n\n"
          "Append-only logs of records. A LOG is a directory.\n\n"
          "Commands:\n", out);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-8s %s\n", commands[i]->name, commands[i]->summary);
    fputs("\nRun `durlog help COMMAND` for a command's options.\n"
          "Exit status: 0 success, 1 failure or damaged log, 2 usage error.\n",
          out);
}

static _Noreturn void main_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static _Noreturn void main_usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("durlog: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n\n", stderr);
    print_main_usage(stderr);
    exit(CLI_EXIT_USAGE);
}

static const struct cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

/* `durlog help [COMMAND]`: usage to standard output. */
static int run_help(int argc, char **argv)
{
    const struct cli_command *cmd;

    if (argc < 2) {
        print_main_usage(stdout);
    } else {
        if (argc > 2)
            main_usage_error("help takes one COMMAND, got also '%s'", argv[2]);
        cmd = find_command(argv[1]);
        if (!cmd)
            main_usage_error("no command '%s'", argv[1]);
        cli_print_usage(cmd, stdout);
    }
    return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

int main(int argc, char **argv)
{
    const struct cli_command *cmd;

    /* A write to a closed pipe (`durlog cat LOG | head`) then fails with
     * EPIPE, which the commands handle, instead of killing the process
     * before it has closed the log. */
    signal(SIGPIPE, SIG_IGN);

    if (argc < 2)
        main_usage_error("no command given");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_main_usage(stdout);
        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("durlog %s\n", durlog_version());
        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
    }
    if (strcmp(argv[1], "help") == 0)
        return run_help(argc - 1, argv + 1);
    if (argv[1][0] == '-')
        main_usage_error("unknown option '%s' (options go after the COMMAND)",
                         argv[1]);
    cmd = find_command(argv[1]);
    if (!cmd)
        main_usage_error("unknown command '%s'", argv[1]);
    return cmd->run(cmd, argc - 1, argv + 1);
}
