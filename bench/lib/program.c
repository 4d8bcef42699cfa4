/*
 * program.c - the life of a benchmark program around its measurements:
 * reading its options, failing with a message that names it (after
 * cleaning up), and starting workers in other processes together.
 *
 * A benchmark must not look fast because something failed: every failure
 * ends the run with a message and exit status 1, bad arguments with 2.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "benchlib.h"

static void (*failure_cleanup)(void);

void bench_at_failure(void (*cleanup)(void))
{
    failure_cleanup = cleanup;
}

void bench_die(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "%s: ", program_invocation_short_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (failure_cleanup)
        failure_cleanup();
    exit(1);
}

void bench_die_code(const char *what, int rc, const char *detail)
{
    if (detail && detail[0])
        bench_die("%s: %s (%s)", what, durlog_strerror(rc), detail);
    bench_die("%s: %s", what, durlog_strerror(rc));
}

/* Stores arg as o->type says; returns 0, or -1 if it is not such a number. */
static int store_opt(const struct bench_opt *o, const char *arg)
{
    char *end = NULL;
    errno = 0;
    switch (o->type) {
    case 's': *(const char **)o->value = arg; return 0;
    case 'f': o->parse(arg); return 0;
    case 'd': *(double *)o->value = strtod(arg, &end); break;
    case 'i': {
        long v = strtol(arg, &end, 10);
        if (v < INT_MIN || v > INT_MAX)
            errno = ERANGE;
        *(int *)o->value = (int)v;
        break;
    }
    case 'u': *(uint64_t *)o->value = strtoull(arg, &end, 10); break;
    case 'z': *(size_t *)o->value = (size_t)strtoull(arg, &end, 10); break;
    }
    /* strtoull takes "-1" as its largest value: a count is never signed. */
    if ((o->type == 'u' || o->type == 'z') && strchr(arg, '-'))
        errno = ERANGE;
    return errno || end == arg || *end ? -1 : 0;
}

int bench_parse_opts(int argc, char **argv, const struct bench_opt *opts, const char *usage)
{
    for (int i = 1; i < argc; i++) {
        const struct bench_opt *o = opts;
        while (o->name && strcmp(argv[i], o->name))
            o++;
        if (!o->name || i + 1 >= argc) {
            fprintf(stderr, "%s: %s '%s'\n%s\n", program_invocation_short_name,
                    o->name ? "no value after" : "unknown option", argv[i], usage);
            return 2;
        }
        const char *arg = argv[++i];
        if (store_opt(o, arg) != 0) {
            fprintf(stderr, "%s: %s takes a number, not '%s'\n%s\n",
                    program_invocation_short_name, o->name, arg, usage);
            return 2;
        }
    }
    return 0;
}

void *bench_shared_alloc(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

int bench_gate_init(struct bench_gate *g)
{
    return pipe(g->fd) == 0 ? 0 : -errno;
}

void bench_gate_child(struct bench_gate *g)
{
    close(g->fd[1]);
}

void bench_gate_wait(struct bench_gate *g)
{
    char c;
    while (read(g->fd[0], &c, 1) < 0 && errno == EINTR)
        ;
}

void bench_gate_open(struct bench_gate *g)
{
    close(g->fd[1]);
    close(g->fd[0]);
}
