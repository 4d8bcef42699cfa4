/*
 * cmd_put.c - `durlog put [--no-sync] [--progress|--no-progress] [--mode M]
 * SRC DEST`.
 *
 * Replaces DEST with a copy of SRC (or of standard input, for "-") through
 * durlog_put_fd(): after a crash at any moment DEST holds the old content or
 * the new, complete. On a terminal standard error shows a progress line,
 * redrawn ten times a second by a thread of its own, and a summary;
 * elsewhere only with --progress, as one line a second. SIGINT or SIGTERM
 * cancels the put (DEST stays as it was) and exits 128 + the signal.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h" /* and through it durlog.h, durlog_put.h: public headers only */

struct progress {
    int on;                     /* show progress and the summary */
    int tty;                    /* redraw one line (else print lines) */
    int synced;                 /* not --no-sync: "syncing" at the end */
    double start;               /* seconds_now() at the start */
    _Atomic uint64_t done, total;
    atomic_int writing_done;    /* every byte written: syncing now */
    size_t width;               /* of the line last drawn, to blank it out */
    pthread_mutex_t mu;         /* with cond: wakes the drawer to stop */
    pthread_cond_t cond;
    int stop;
};

/* SIGINT/SIGTERM: the first cancels the put at its next step (DEST stays as
 * it was, the temporary file goes). If no step comes within a second (a
 * source that sends nothing), or on a second signal, the command exits at
 * once, which is safe too: an unnamed temporary file vanishes with the
 * process (a named one is removed by the next put into the directory). */
static volatile sig_atomic_t interrupted;
static const char *dest_shown; /* for the message the handler writes */

static void say_interrupted(void)
{
    static const char head[] = "durlog: put: interrupted; ", tail[] = " is as it was\n";
    if (write(STDERR_FILENO, head, sizeof head - 1) < 0 ||
        write(STDERR_FILENO, dest_shown, strlen(dest_shown)) < 0 ||
        write(STDERR_FILENO, tail, sizeof tail - 1) < 0)
        return;
}

static void on_signal(int sig)
{
    if (sig == SIGALRM || interrupted) {
        say_interrupted(); /* write() and strlen() are async-signal-safe */
        _exit(128 + (interrupted ? interrupted : sig));
    }
    interrupted = sig;
    alarm(1);
}

/* Monotonic time in seconds, for the rate and the ETA. */
static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "812 B", "1.5 KiB", "3.25 GiB" */
static void human_bytes(double n, char *out, size_t size)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
    int u = 0;
    while (n >= 1024 && u < 5) {
        n /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, size, "%.0f B", n);
    else
        snprintf(out, size, "%.*f %s", n < 10 ? 2 : 1, n, units[u]);
}

static void draw(struct progress *pg)
{
    char done[32], total[32], rate[32], line[160];
    uint64_t d = atomic_load(&pg->done), t = atomic_load(&pg->total);
    double secs = seconds_now() - pg->start;
    double bps = secs > 0 ? (double)d / secs : 0;
    const char *state = atomic_load(&pg->writing_done)
                            ? (pg->synced ? "syncing" : "finishing") : NULL;
    int n;

    human_bytes((double)d, done, sizeof done);
    human_bytes(bps, rate, sizeof rate);
    if (t != DURLOG_SIZE_UNKNOWN) {
        double pct = t ? 100.0 * (double)d / (double)t : 100;
        human_bytes((double)t, total, sizeof total);
        if (state) {
            n = snprintf(line, sizeof line, "%s / %s  %3.0f%%  %s/s  %s", done, total,
                         pct, rate, state);
        } else {
            double eta = bps > 0 && t > d ? (double)(t - d) / bps : 0;
            n = snprintf(line, sizeof line, "%s / %s  %3.0f%%  %s/s  ETA %d:%02d", done,
                         total, pct, rate, (int)eta / 60, (int)eta % 60);
        }
    } else {
        n = snprintf(line, sizeof line, "%s  %s/s%s%s", done, rate, state ? "  " : "",
                     state ? state : "");
    }
    if (n < 0)
        return;
    if (pg->tty) {
        size_t len = strlen(line);
        fprintf(stderr, "\r%s%*s", line, pg->width > len ? (int)(pg->width - len) : 0, "");
        pg->width = len;
    } else {
        fprintf(stderr, "%s\n", line);
    }
    fflush(stderr);
}

/* The drawing thread: a line every 100 ms on a terminal (every second
 * elsewhere), whether or not data is moving, so a stalled source or a long
 * final sync shows as such. */
static void *drawer(void *arg)
{
    struct progress *pg = arg;
    long step_ms = pg->tty ? 100 : 1000;
    pthread_mutex_lock(&pg->mu);
    while (!pg->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += step_ms * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&pg->cond, &pg->mu, &ts);
        if (!pg->stop)
            draw(pg);
    }
    pthread_mutex_unlock(&pg->mu);
    return NULL;
}

/* The library's callback: note the numbers; cancel after a signal. */
static int on_progress(uint64_t done, uint64_t total, void *arg)
{
    struct progress *pg = arg;
    atomic_store(&pg->done, done);
    atomic_store(&pg->total, total);
    if (done == total)
        atomic_store(&pg->writing_done, 1);
    return interrupted != 0;
}

static int parse_mode(const char *text, mode_t *out)
{
    char *end;
    unsigned long v;

    if (!*text || strspn(text, "01234567") != strlen(text))
        return -1;
    errno = 0;
    v = strtoul(text, &end, 8);
    if (errno || v > 07777)
        return -1;
    *out = (mode_t)v;
    return 0;
}

int cli_run_put(const struct cli_command *cmd, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "no-sync", no_argument, NULL, 's' },
        { "progress", no_argument, NULL, 'p' },
        { "no-progress", no_argument, NULL, 'q' },
        { "mode", required_argument, NULL, 'm' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    durlog_put_options opts;
    struct progress pg = { 0 };
    char errbuf[1024];
    int opt, show = -1, fd, rc;
    const char *src, *dest;

    durlog_put_options_init(&opts);
    while ((opt = cli_next_option(cmd, argc, argv, ":m:h", longopts)) != -1) {
        if (opt == 's')
            opts.flags |= DURLOG_PUT_NO_SYNC;
        else if (opt == 'p')
            show = 1;
        else if (opt == 'q')
            show = 0;
        else if (opt == 'm') {
            if (parse_mode(optarg, &opts.mode))
                cli_usage_error(cmd, "--mode takes octal permission bits such "
                                "as 644, not '%s'", optarg);
            opts.flags |= DURLOG_PUT_SET_MODE;
        }
    }
    if (argc - optind != 2)
        cli_usage_error(cmd, "expected SRC and DEST, got %d argument%s",
                        argc - optind, argc - optind == 1 ? "" : "s");
    src = argv[optind];
    dest = argv[optind + 1];

    if (strcmp(src, "-") == 0) {
        fd = STDIN_FILENO;
    } else {
        struct stat st;
        fd = open(src, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return cli_fail(cmd, "cannot open %s: %s", src, strerror(errno));
        if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
            close(fd);
            return cli_fail(cmd, "%s is a directory", src);
        }
    }

    pg.tty = isatty(STDERR_FILENO);
    pg.on = show == -1 ? pg.tty : show;
    pg.synced = !(opts.flags & DURLOG_PUT_NO_SYNC);
    pg.start = seconds_now();
    atomic_store(&pg.total, DURLOG_SIZE_UNKNOWN);
    pthread_mutex_init(&pg.mu, NULL);
    pthread_cond_init(&pg.cond, NULL);
    opts.progress = on_progress; /* always: it is also how a signal cancels */
    opts.progress_arg = &pg;
    opts.errbuf = errbuf;
    opts.errbuf_size = sizeof errbuf;
    errbuf[0] = '\0';
    if (fd == STDIN_FILENO && isatty(STDIN_FILENO))
        fprintf(stderr, "durlog: put: reading standard input; end it with Ctrl-D\n");

    dest_shown = dest;
    struct sigaction sa = { 0 }, old_int, old_term, old_alrm;
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGALRM, &sa, &old_alrm);
    pthread_t tid;
    int drawing = pg.on && pthread_create(&tid, NULL, drawer, &pg) == 0;

    rc = durlog_put_fd(dest, fd, &opts);

    if (drawing) {
        pthread_mutex_lock(&pg.mu);
        pg.stop = 1;
        pthread_cond_signal(&pg.cond);
        pthread_mutex_unlock(&pg.mu);
        pthread_join(tid, NULL);
    }
    alarm(0);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGALRM, &old_alrm, NULL);
    if (fd != STDIN_FILENO)
        close(fd);
    if (pg.on && pg.tty && pg.width)
        fprintf(stderr, "\r%*s\r", (int)pg.width, "");
    if (rc == -ECANCELED && interrupted) {
        say_interrupted();
        return 128 + interrupted;
    }
    if (rc < 0)
        return cli_fail(cmd, "%s", errbuf[0] ? errbuf : durlog_strerror(rc));
    if (pg.on) {
        char size[32], rate[32];
        uint64_t done = atomic_load(&pg.done);
        double secs = seconds_now() - pg.start;
        human_bytes((double)done, size, sizeof size);
        human_bytes(secs > 0 ? (double)done / secs : 0, rate, sizeof rate);
        fprintf(stderr, "put %" PRIu64 " bytes (%s) to %s in %.2f s (%s/s), %s\n", done,
                size, dest, secs, rate,
                pg.synced ? "on stable storage" : "not synced (--no-sync)");
    }
    return CLI_EXIT_OK;
}
