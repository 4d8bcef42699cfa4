/*
 * fuzz_cli.c - the `durlog` command's argument parsing: every subcommand's
 * options and arguments, from inputs split at NUL bytes into argv.
 *
 * The command's sources (and the benchmark library bench/lib/, which `durlog
 * bench` uses) are compiled into this file with main() renamed and
 * exit() turned into a longjmp back here, so that a usage error ends one run
 * rather than the fuzzer. Runs happen in a scratch directory; arguments
 * holding a '/' (paths that could leave it), `tail -f` (which waits for
 * ever, by design) and `bench` (which runs for seconds) are skipped. Leaks are not checked: a usage error leaves
 * through longjmp, past the frees a real exit makes pointless.
 *
 * Oracle: no crash, no sanitizer report, and an exit status of 0, 1 or 2.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static jmp_buf fz_cli_done;
static int fz_cli_status;

static _Noreturn void fz_cli_exit(int status)
{
    fz_cli_status = status;
    longjmp(fz_cli_done, 1);
}

int durlog_cli_main(int argc, char **argv);
#define main durlog_cli_main
#define exit fz_cli_exit
#include "../cli/durlog.c"
#include "../cli/cli_util.c"
#include "../cli/cli_time.c"
#include "../cli/commands.c"
#include "../cli/cmd_append.c"
#include "../cli/cmd_cat.c"
#include "../cli/cmd_check.c"
#include "../cli/cmd_cursor.c"
#include "../cli/cmd_info.c"
#include "../cli/cmd_put.c"
#include "../cli/cmd_bench.c"
#include "../cli/bench_work.c"
#include "../cli/bench_report.c"
#include "../cli/bench_plot.c"
#include "../cli/cmd_tail.c"
#include "../cli/cmd_trim.c"
#include "../cli/cmd_retention.c"
#include "../cli/cmd_ship.c"
#include "../cli/output.c"
#include "../bench/lib/files.c"
#include "../bench/lib/measure.c"
#include "../bench/lib/program.c"
#include "../bench/lib/workload.c"
#undef exit
#undef main

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "detect_leaks=0";
}

#define MAX_ARGS 12

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char dir[PATH_MAX], home[PATH_MAX];
    if (!dir[0]) {
        if (!getcwd(home, sizeof home))
            abort();
        const char *base = getenv("DURLOG_FUZZ_DIR");
        snprintf(dir, sizeof dir, "%s/durlog-fuzz-cli-%d", base && *base ? base : "/tmp",
                 (int)getpid());
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0); /* append reads records from stdin */
        dup2(null, 1);
        close(null);
    }
    if (size > 4096)
        return 0;
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "durlog";
    for (size_t at = 0; at <= size && argc <= MAX_ARGS; at += strlen(buf + at) + 1)
        argv[argc++] = buf + at;
    argv[argc] = NULL;
    int skip = 0;
    for (int i = 1; i < argc; i++) {
        if (strchr(argv[i], '/'))
            skip = 1;
        if (i == 1 && strcmp(argv[1], "bench") == 0)
            skip = 1; /* runs for seconds and writes gigabytes, by design */
        if (argc > 1 && strcmp(argv[1], "tail") == 0 && argv[i][0] == '-' &&
            (strchr(argv[i], 'f') || strncmp(argv[i], "--fo", 4) == 0))
            skip = 1;
    }
    if (!skip) {
        char cmd[PATH_MAX + 40];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0 || mkdir(dir, 0755) != 0 || chdir(dir) != 0)
            abort();
        optind = 0; /* getopt starts afresh */
        fz_cli_status = -1;
        if (setjmp(fz_cli_done) == 0)
            fz_cli_status = durlog_cli_main(argc, argv);
        fflush(stdout);
        if (fz_cli_status < 0 || fz_cli_status > 2)
            abort();
        if (chdir(home) != 0)
            abort();
    }
    free(buf);
    return 0;
}
