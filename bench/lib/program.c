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
static pid_t failure_cleanup_owner;

void bench_at_failure(void (*cleanup)(void))
{
    failure_cleanup = cleanup;
    failure_cleanup_owner = getpid();
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
    /* A forked worker leaves the cleaning up to its parent. */
    if (failure_cleanup && getpid() == failure_cleanup_owner)
        failure_cleanup();
    bench_scratch_remove();
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

/* 1 if the number o stored lies outside its range, with the range in text. */
static int out_of_range(const struct bench_opt *o, char *text, size_t size)
{
    double v;
    switch (o->type) {
    case 'd': v = *(double *)o->value; break;
    case 'i': v = *(int *)o->value; break;
    case 'u': v = (double)*(uint64_t *)o->value; break;
    case 'z': v = (double)*(size_t *)o->value; break;
    default: return 0;
    }
    if (o->min == 0 && o->max == 0)
        return 0;
    if (o->max)
        snprintf(text, size, "%g to %g", o->min, o->max);
    else
        snprintf(text, size, "%g or more", o->min);
    return v < o->min || (o->max && v > o->max);
}

/* The entry for argument arg: the option of that name, or (for an argument
 * that is not an option) the "" entry; NULL if none. */
static const struct bench_opt *find_opt(const struct bench_opt *opts, const char *arg)
{
    const char *name = arg[0] == '-' ? arg : "";
    for (; opts->name; opts++)
        if (strcmp(name, opts->name) == 0)
            return opts;
    return NULL;
}

int bench_parse_opts(int argc, char **argv, const struct bench_opt *opts, const char *usage)
{
    int bare_seen = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        char why[300] = "", range[64];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            printf("%s\n", usage);
            exit(0);
        }
        const struct bench_opt *o = find_opt(opts, arg);
        if (!o || (!o->name[0] && bare_seen++))
            snprintf(why, sizeof why, "unexpected argument '%s'", arg);
        else if (o->type == 'b')
            *(int *)o->value = 1;
        else if (!o->name[0])
            *(const char **)o->value = arg;
        else if (!value)
            snprintf(why, sizeof why, "%s needs a value", arg);
        else if (store_opt(o, value) != 0)
            snprintf(why, sizeof why, "%s takes a number, not '%s'", arg, value);
        else if (out_of_range(o, range, sizeof range))
            snprintf(why, sizeof why, "%s takes %s, not '%s'", arg, range, value);
        else
            i++;
        if (why[0]) {
            fprintf(stderr, "%s: %s\n%s\n", program_invocation_short_name, why, usage);
            return 2;
        }
    }
    return 0;
}

int bench_parse_list(const char *text, int *out, int max, int lo, int hi)
{
    int n = 0;
    for (const char *p = text; *p;) {
        char *end;
        if (*p < '0' || *p > '9')
            return -1;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || v < lo || v > hi || n == max || (*end && *end != ','))
            return -1;
        for (int i = 0; i < n; i++)
            if (out[i] == v)
                return -1;
        out[n++] = (int)v;
        p = *end ? end + 1 : end;
        if (*end == ',' && !*p)
            return -1;
    }
    return n;
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
