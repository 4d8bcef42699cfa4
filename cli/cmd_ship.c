/*
 * cmd_ship.c - `durlog ship` and `durlog restore`: a log copied to a NATS
 * JetStream stream as it is written, and rebuilt from it (libdurlog-ship,
 * ship/durlog_ship.h). Built with it where nats.c is installed
 * (DURLOG_HAVE_SHIP); without it both commands say so and exit 1.
 *
 * Secrets come from the environment, never from the command line, where
 * `ps` shows them to every user: DURLOG_NATS_USER and DURLOG_NATS_PASSWORD,
 * or DURLOG_NATS_TOKEN (a credentials file, --creds, names only a path).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#ifdef DURLOG_HAVE_SHIP
#include "durlog_ship.h"

/* The session SIGINT and SIGTERM interrupt (durlog_ship_interrupt is
 * async-signal-safe). */
static durlog_ship *volatile running;

static void interrupt_session(int sig)
{
    (void)sig;
    if (running)
        durlog_ship_interrupt(running);
}

static void say_status(void *ctx, const char *line)
{
    const struct cli_command *cmd = ctx;
    fprintf(stderr, "durlog: %s: %s\n", cmd->name, line);
}

static unsigned window_arg(const struct cli_command *cmd, const char *text)
{
    uint64_t v;
    if (cli_parse_u64(text, &v) != 0 || v == 0 || v > 1000000)
        cli_usage_error(cmd, "--window needs a number of messages from 1 to 1000000, not '%s'",
                        text);
    return (unsigned)v;
}

static int ms_arg(const struct cli_command *cmd, const char *opt, const char *text)
{
    uint64_t ns;
    if (cli_parse_duration(text, &ns) != 0 || ns < 1000000 || ns > (uint64_t)3600 * 1000000000)
        cli_usage_error(cmd, "%s needs a duration from 1ms to 1h such as 500ms or 5s, not '%s'",
                        opt, text);
    return (int)(ns / 1000000);
}

/* nats://user:password@host in a server list: refused, since `ps` shows
 * the command line to everyone. */
static void refuse_url_secrets(const struct cli_command *cmd, const char *servers)
{
    for (const char *p = servers; (p = strstr(p, "://")) != NULL; p += 3) {
        const char *end = p + 3 + strcspn(p + 3, ",/");
        const char *at = memchr(p + 3, '@', (size_t)(end - (p + 3)));
        if (at)
            cli_usage_error(cmd, "credentials in a server URL are visible to every user (ps): "
                            "set DURLOG_NATS_USER and DURLOG_NATS_PASSWORD, or "
                            "DURLOG_NATS_TOKEN, in the environment instead");
    }
}

static int run(const struct cli_command *cmd, int argc, char **argv, int mode)
{
    enum { OPT_STREAM = 256, OPT_SUBJECT, OPT_CREATE, OPT_REPLICAS, OPT_FROM, OPT_FOLLOW,
           OPT_KERNEL, OPT_CURSOR, OPT_WINDOW, OPT_TIMEOUT, OPT_CREDS, OPT_CA, OPT_CERT,
           OPT_KEY };
    static const struct option longopts[] = {
        { "stream", required_argument, NULL, OPT_STREAM },
        { "subject", required_argument, NULL, OPT_SUBJECT },
        { "create-stream", no_argument, NULL, OPT_CREATE },
        { "replicas", required_argument, NULL, OPT_REPLICAS },
        { "from", required_argument, NULL, OPT_FROM },
        { "follow", no_argument, NULL, OPT_FOLLOW },
        { "kernel", no_argument, NULL, OPT_KERNEL },
        { "cursor", required_argument, NULL, OPT_CURSOR },
        { "window", required_argument, NULL, OPT_WINDOW },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "creds", required_argument, NULL, OPT_CREDS },
        { "ca", required_argument, NULL, OPT_CA },
        { "cert", required_argument, NULL, OPT_CERT },
        { "key", required_argument, NULL, OPT_KEY },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    durlog_ship_options o;
    int opt, quiet = 0, publish = mode == DURLOG_SHIP_PUBLISH;
    uint64_t n;
    durlog_ship_options_init(&o);
    while ((opt = cli_next_option(cmd, argc, argv, ":hq", longopts)) != -1) {
        /* Options of shipping only. */
        if (!publish && (opt == OPT_CREATE || opt == OPT_REPLICAS || opt == OPT_FROM ||
                         opt == OPT_KERNEL || opt == OPT_CURSOR || opt == OPT_WINDOW))
            cli_usage_error(cmd, "%s is an option of `durlog ship`", argv[optind - 1]);
        switch (opt) {
        case OPT_STREAM: o.stream = optarg; break;
        case OPT_SUBJECT: o.subject = optarg; break;
        case OPT_CREATE: o.create_stream = 1; break;
        case OPT_REPLICAS:
            if (cli_parse_u64(optarg, &n) != 0 || n < 1 || n > 5)
                cli_usage_error(cmd, "--replicas needs 1 to 5, not '%s'", optarg);
            o.replicas = (int)n;
            break;
        case OPT_FROM:
            if (cli_parse_u64(optarg, &n) != 0 || n >= (uint64_t)1 << 63)
                cli_usage_error(cmd, "--from needs a sequence number, not '%s'", optarg);
            o.from_seq = n;
            o.from_set = 1;
            break;
        case OPT_FOLLOW: o.follow = 1; break;
        case OPT_KERNEL: o.ship_kernel = 1; break;
        case OPT_CURSOR: o.cursor = optarg; break;
        case OPT_WINDOW: o.window = window_arg(cmd, optarg); break;
        case OPT_TIMEOUT: o.ack_timeout_ms = ms_arg(cmd, "--timeout", optarg); break;
        case OPT_CREDS: o.creds_file = optarg; break;
        case OPT_CA: o.ca_file = optarg; break;
        case OPT_CERT: o.cert_file = optarg; break;
        case OPT_KEY: o.key_file = optarg; break;
        case 'q': quiet = 1; break;
        }
    }
    if (argc - optind != 2)
        cli_usage_error(cmd, publish ? "needs LOG and the servers (nats://HOST:PORT,...)"
                                     : "needs the servers (nats://HOST:PORT,...) and LOG");
    const char *path = argv[publish ? optind : optind + 1];
    o.servers = argv[publish ? optind + 1 : optind];
    if (!o.stream || !o.subject)
        cli_usage_error(cmd, "--stream and --subject are required");
    if (o.replicas && !o.create_stream)
        cli_usage_error(cmd, "--replicas goes with --create-stream");
    if ((o.cert_file != NULL) != (o.key_file != NULL))
        cli_usage_error(cmd, "--cert and --key go together");
    refuse_url_secrets(cmd, o.servers);
    o.user = getenv("DURLOG_NATS_USER");
    o.password = getenv("DURLOG_NATS_PASSWORD");
    o.token = getenv("DURLOG_NATS_TOKEN");
    if (o.token && (o.user || o.password))
        return cli_fail(cmd, "set either DURLOG_NATS_TOKEN or DURLOG_NATS_USER and "
                        "DURLOG_NATS_PASSWORD, not both");
    if (!quiet) {
        o.status = say_status;
        o.status_ctx = (void *)cmd;
    }
    char errbuf[1024] = "";
    o.errbuf = errbuf;
    o.errbuf_size = sizeof errbuf;

    durlog_ship *s;
    int rc = durlog_ship_open(path, mode, &o, &s);
    if (rc == -EINVAL) /* the options: a bad name, say */
        cli_usage_error(cmd, "%s", errbuf[0] ? errbuf : durlog_strerror(rc));
    if (rc)
        return cli_fail(cmd, "%s", errbuf[0] ? errbuf : durlog_strerror(rc));
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = interrupt_session;
    sigemptyset(&sa.sa_mask);
    running = s;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    /* A reader of our output that goes away must not kill the session
     * between a send and its cursor commit. */
    signal(SIGPIPE, SIG_IGN);
    rc = durlog_ship_run(s);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    running = NULL;
    durlog_ship_stats st;
    durlog_ship_get_stats(s, &st);
    int status = 0;
    if (rc)
        status = cli_fail(cmd, "%s", durlog_ship_errmsg(s));
    else if (!quiet && publish)
        printf("shipped %" PRIu64 " records of %s to stream %s; every record below %" PRIu64
               " is there\n", st.records, path, o.stream, st.next_seq);
    else if (!quiet)
        printf("restored %" PRIu64 " records into %s from stream %s; its next record is %"
               PRIu64 "\n", st.records, path, o.stream, st.next_seq);
    durlog_ship_close(s);
    if (!status && !quiet)
        status = cli_check_stdout(cmd, 1);
    return status;
}

int cli_run_ship(const struct cli_command *cmd, int argc, char **argv)
{
    return run(cmd, argc, argv, DURLOG_SHIP_PUBLISH);
}

int cli_run_restore(const struct cli_command *cmd, int argc, char **argv)
{
    return run(cmd, argc, argv, DURLOG_SHIP_RESTORE);
}

#else

static int missing(const struct cli_command *cmd, int argc, char **argv)
{
    int opt;
    static const struct option longopts[] = { { "help", no_argument, NULL, 'h' },
                                              { NULL, 0, NULL, 0 } };
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+h", longopts, NULL)) != -1)
        if (opt == 'h') {
            cli_print_usage(cmd, stdout);
            return 0;
        }
    return cli_fail(cmd, "this durlog was built without NATS support: install nats.c "
                    "(Debian's libnats-dev) and build it again");
}

int cli_run_ship(const struct cli_command *cmd, int argc, char **argv)
{
    return missing(cmd, argc, argv);
}

int cli_run_restore(const struct cli_command *cmd, int argc, char **argv)
{
    return missing(cmd, argc, argv);
}

#endif
