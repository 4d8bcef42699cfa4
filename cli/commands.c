/*
 * commands.c - the subcommands of the `durlog` command as `durlog --help` and
 * `durlog help COMMAND` show them: each one's name, synopsis, summary and
 * details, and the function in cmd_<name>.c that runs it. The help texts
 * live together here so that they read alike and can be checked against
 * man/durlog.1 in one place.
 */
#include "cli.h"

/* What TIME may be, for --since and --until (cli_time.c). */
#define TIME_HELP \
    "  TIME is RFC 3339 (2026-12-05T14:00:00Z, 2026-12-05T15:00:00.5+01:00)\n" \
    "  or relative to now: -30s, -15m, -2h, -7d\n"

/* The -o and -h options of the commands that print records (cat, tail), in
 * the format cli_write_record writes. */
#define RECORD_OUTPUT_HELP                                                    \
    "  -o, --output FORMAT  text (default): each payload as raw bytes and\n"  \
    "                       a newline\n"                                      \
    "                       json: one object per line,\n"                     \
    "                       {\"seq\":N,\"time\":\"RFC 3339\",\n"              \
    "                        \"data\":\"...\"};\n"                            \
    "                       a payload that is not UTF-8 is base64 with\n"     \
    "                       \"encoding\":\"base64\"\n"                        \
    "  -h, --help           show this help\n"

const struct cli_command cli_cmd_append = {
    .name = "append",
    .synopsis = "[-d LEVEL] [-v] [--segment-size SIZE] [--allow-foreign-owner] LOG [RECORD...]",
    .summary = "Append each RECORD, or each line of standard input, as a "
               "record.",
    .details =
        "Creates LOG (a directory) if it does not exist. Without RECORD\n"
        "arguments each line of standard input becomes one record, without\n"
        "its newline; an empty line is an empty record and a last line with\n"
        "no newline counts too. Options end at LOG: every argument after it\n"
        "is a record, even one that starts with '-'.\n"
        "\n"
        "Options:\n"
        "  -d, --durability LEVEL  what is true when a record is acknowledged\n"
        "                          (default kernel):\n"
        "        buffered  in memory, unseen by readers, until durlog exits\n"
        "                  or about 64 KiB have gathered; lost if killed\n"
        "        kernel    in the page cache: survives a crash of durlog,\n"
        "                  not a power loss\n"
        "        interval  kernel, and synced before durlog exits\n"
        "        sync      on stable storage: survives a power loss\n"
        "  -v, --verbose           print `appended seq N` for each record\n"
        "      --segment-size SIZE the size of each segment file this command\n"
        "                          starts (default 64M; at least 4096; units\n"
        "                          B K M G, powers of 1024)\n"
        "      --allow-foreign-owner\n"
        "                          as root, append to a log whose directory\n"
        "                          another user owns (refused otherwise: that\n"
        "                          user could make root write through any file);\n"
        "                          new files are given to that user\n"
        "  -h, --help              show this help\n",
    .run = cli_run_append,
};

const struct cli_command cli_cmd_cat = {
    .name = "cat",
    .synopsis = "[--from SEQ | --since TIME | --cursor NAME] [--until TIME] [-n COUNT] "
                "[-o text|json] LOG",
    .summary = "Print the records of LOG, oldest first.",
    .details =
        "Options:\n"
        "  --from SEQ           start at sequence number SEQ (default: the\n"
        "                       first record still in the log)\n"
        "  --cursor NAME        start at cursor NAME (made at the log's first\n"
        "                       record if there is none) and, after every\n"
        "                       1000 records and at the end, once they have\n"
        "                       left for standard output, commit the position\n"
        "                       past them: a run killed at any moment prints\n"
        "                       at most that last batch again when run anew\n"
        "                       (at-least-once). A failed write (the reader\n"
        "                       went away) commits nothing more and exits 1.\n"
        "                       Records retention removed before the cursor\n"
        "                       consumed them: exit 1, saying how many\n"
        "  --since TIME         start at the first record appended at or\n"
        "                       after TIME\n"
        "  --until TIME         stop before the first record appended after\n"
        "                       TIME (not with --cursor)\n"
        TIME_HELP
        "  -n, --count COUNT    print at most COUNT records\n"
        RECORD_OUTPUT_HELP,
    .run = cli_run_cat,
};

const struct cli_command cli_cmd_tail = {
    .name = "tail",
    .synopsis = "[-n COUNT] [-f] [--durable] [--since TIME] [--until TIME] [-o text|json] LOG",
    .summary = "Print the last records of LOG; with -f, keep printing new "
               "ones.",
    .details =
        "Options:\n"
        "  -n, --count COUNT    print the last COUNT records (default 10)\n"
        "  -f, --follow         then keep printing records as they are\n"
        "                       appended, until interrupted (SIGINT or\n"
        "                       SIGTERM: exit 0) or until standard output\n"
        "                       is closed\n"
        "  --durable            only records known to be on stable storage:\n"
        "                       the last COUNT before the durable mark and,\n"
        "                       with -f, later ones once they are synced\n"
        "  --since TIME         the records appended at or after TIME (all of\n"
        "                       them, or with -n the last COUNT)\n"
        "  --until TIME         stop before the first record appended after\n"
        "                       TIME; with -f, exit 0 when one arrives\n"
        TIME_HELP
        RECORD_OUTPUT_HELP,
    .run = cli_run_tail,
};

const struct cli_command cli_cmd_info = {
    .name = "info",
    .synopsis = "[-o text|json] LOG",
    .summary = "Print facts about LOG: segments, records, seq range, size.",
    .details =
        "Fields: segments; records; first seq and last seq (\"none\" when the\n"
        "log is empty); next seq (the number the next record will get);\n"
        "durable seq (records below it are known to be on stable storage);\n"
        "bytes (of records, headers included); disk bytes (the segment\n"
        "files' size on disk); missing (records no segment holds: a gap);\n"
        "cursors (see `durlog help cursor`), each with its seq and lag in\n"
        "records and bytes (json: \"cursors\", an array). It reads segment\n"
        "headers, not records: quick on any log, and blind to damage inside\n"
        "a segment (`durlog check` reads every record).\n"
        "\n"
        "Options:\n"
        "  -o, --output FORMAT  text (default; `key: value` lines) or json\n"
        "                       (one object; last_seq is null when empty)\n"
        "  -h, --help           show this help\n",
    .run = cli_run_info,
};

const struct cli_command cli_cmd_cursor = {
    .name = "cursor",
    .synopsis = "[-o text|json] LOG list|get NAME|set NAME SEQ|delete NAME",
    .summary = "List, read, set or delete the named cursors of LOG.",
    .details =
        "A cursor is a consumer's durable position in LOG: the seq of the next\n"
        "record to consume (`durlog cat --cursor NAME` reads from it and\n"
        "commits it). Retention keeps the records a cursor has not consumed.\n"
        "Names: 1 to 64 characters of A-Z a-z 0-9 . _ -, not starting with '.'.\n"
        "\n"
        "Actions:\n"
        "  list             each cursor: its seq, its lag (records and bytes\n"
        "                   from it to the end), when it was committed, and\n"
        "                   BEHIND when retention removed records it had not\n"
        "                   consumed\n"
        "  get NAME         print its seq\n"
        "  set NAME SEQ     commit SEQ (at most the log's next seq), creating\n"
        "                   the cursor if needed; replaces a damaged cursor\n"
        "                   file\n"
        "  delete NAME      remove it (it no longer holds records back)\n"
        "\n"
        "Options:\n"
        "  -o, --output FORMAT  text (default) or json (list: one object per\n"
        "                       cursor and line)\n"
        "  -h, --help           show this help\n",
    .run = cli_run_cursor,
};

const struct cli_command cli_cmd_check = {
    .name = "check",
    .synopsis = "[--repair] [--force] LOG",
    .summary = "Verify every record of LOG; optionally cut damage away.",
    .details =
        "Prints the segments, records and seq range found and, if the log is\n"
        "damaged, the first problem (segment, offset, what) and what to do.\n"
        "Exit status: 0 clean (or clean after a repair), 1 damaged or the\n"
        "check failed, 2 usage error.\n"
        "\n"
        "Options:\n"
        "  --repair   cut a torn tail (the log must not be open by a writer);\n"
        "             the cut bytes go to a side file <segment>.cut-<offset>\n"
        "  --force    with --repair: also cut at damage before the tail,\n"
        "             dropping every record after it\n"
        "  -h, --help show this help\n",
    .run = cli_run_check,
};

const struct cli_command cli_cmd_trim = {
    .name = "trim",
    .synopsis = "(--before SEQ | --older-than DURATION | --max-size SIZE) [-v] LOG",
    .summary = "Remove LOG's oldest segments.",
    .details =
        "Removes whole segment files, oldest first, never the last one and never\n"
        "one the log has not sealed yet (a segment is sealed in the background\n"
        "once the log has rolled past it): the log then starts at the first\n"
        "record of its oldest remaining segment. So fewer records than asked\n"
        "may go, never more. A crash or power loss during a trim leaves a log\n"
        "that starts at a segment boundary and has no gap. Writers may append,\n"
        "and readers read, meanwhile; it opens LOG as a writer (LOG must exist).\n"
        "Prints the log's first record afterwards (`first seq N`).\n"
        "\n"
        "Options (exactly one of the first three):\n"
        "  --before SEQ           remove segments all of whose records are\n"
        "                         below SEQ\n"
        "  --older-than DURATION  remove segments all of whose records are\n"
        "                         older than DURATION (e.g. 90s, 30m, 12h,\n"
        "                         7d; units ms s m h d)\n"
        "  --max-size SIZE        remove the oldest segments while the segment\n"
        "                         files total more than SIZE (e.g. 500M, 2G;\n"
        "                         units B K M G T, powers of 1024)\n"
        "  -v, --verbose          also print how many records were removed\n"
        "  -h, --help             show this help\n",
    .run = cli_run_trim,
};

const struct cli_command cli_cmd_retention = {
    .name = "retention",
    .synopsis = "[--max-size SIZE] [--max-age DURATION] [--cursor-cap SIZE] [--none] LOG",
    .summary = "Set (or, with no option, print) the retention settings of LOG.",
    .details =
        "The settings are kept with the log (the file durlog.retention), and\n"
        "every process appending to it applies them in the background: about\n"
        "once a second and after each segment roll it removes what `durlog trim`\n"
        "would with the same limits (whole segments, oldest first, never the\n"
        "last one). Settings replace the previous ones as a whole. Prints the\n"
        "settings now in force. Setting opens LOG as a writer (LOG must exist).\n"
        "\n"
        "Options:\n"
        "  --max-size SIZE       keep the segment files under SIZE (e.g. 500M,\n"
        "                        10G; units B K M G T, powers of 1024)\n"
        "  --max-age DURATION    remove segments all of whose records are older\n"
        "                        (e.g. 12h, 30d; units ms s m h d)\n"
        "  --cursor-cap SIZE     named cursors (`durlog help cursor`) keep the\n"
        "                        records they have not consumed from the limits\n"
        "                        above, up to SIZE of segments from the lowest\n"
        "                        one's on (default: no cap); past it the oldest\n"
        "                        go, and that cursor's next read says so\n"
        "  --none                remove every limit\n"
        "  -h, --help            show this help\n",
    .run = cli_run_retention,
};

const struct cli_command cli_cmd_convert = {
    .name = "convert",
    .synopsis = "LOG",
    .summary = "Rewrite LOG's segments of an older format version in the current one.",
    .details =
        "durlog reads logs written by its previous version (format version 1)\n"
        "as they are, and appends to them in new segments of the current\n"
        "version; convert rewrites the old segments too, for tools that read\n"
        "only the current version. Every record keeps its seq, time and data;\n"
        "each segment is replaced atomically (a crash leaves it old or new).\n"
        "The log must be closed by every writer and undamaged (see `durlog\n"
        "check`). Then prints the log's check report.\n"
        "Exit status: 0 converted (or nothing to convert) and clean, 1 damaged,\n"
        "in use or failed, 2 usage error.\n"
        "\n"
        "Options:\n"
        "  -h, --help show this help\n",
    .run = cli_run_convert,
};

const struct cli_command cli_cmd_put = {
    .name = "put",
    .synopsis = "[--no-sync] [--progress|--no-progress] [--mode MODE] SRC DEST",
    .summary = "Write the file DEST as a copy of SRC, atomically and durably.",
    .details =
        "DEST is replaced as a whole: after a crash or power loss at any moment\n"
        "it holds its old content or the complete new one, never a part. The\n"
        "copy goes to a temporary file in DEST's directory, is synced, then\n"
        "renamed over DEST, and the directory is synced. SRC - reads standard\n"
        "input. An existing DEST keeps its permissions (and owner, where\n"
        "allowed). Symbolic links on the way and a link DEST are followed\n"
        "(the file a link DEST names is replaced, the link kept), except where\n"
        "the kernel's protected_symlinks rule would not: a link in a sticky\n"
        "world-writable directory such as /tmp that belongs to neither you nor\n"
        "the directory's owner is refused, and so is a link to a missing file.\n"
        "On failure DEST is left as it was and no temporary file remains.\n"
        "\n"
        "Options:\n"
        "  --no-sync      skip the syncs: faster, but a power loss may leave\n"
        "                 DEST empty or partial (a killed process cannot)\n"
        "  --progress     show progress on standard error even when it is not\n"
        "                 a terminal (one line a second there)\n"
        "  --no-progress  show nothing, even on a terminal\n"
        "  --mode MODE    give DEST these octal permission bits (e.g. 644)\n"
        "  -h, --help     show this help\n"
        "\n"
        "Progress: bytes, percentage and ETA when SRC's size is known, and the\n"
        "rate; then a summary with the byte count. Exit status 0 once DEST is\n"
        "on stable storage, 1 on failure (also when DEST was replaced but its\n"
        "directory could not be synced: the message says so), 2 on a usage\n"
        "error.\n",
    .run = cli_run_put,
};

const struct cli_command cli_cmd_bench = {
    .name = "bench",
    .synopsis = "[--dir DIR] [--records N] [--size BYTES] [--threads LIST] [--levels LIST]\n"
                "       [--rounds R] [--quick] [--only TEXT] [-o text|json|csv] [--plot FILE.svg]",
    .summary = "Measure the articles' write patterns and durlog's levels on this disk.",
    .details =
        "Runs in a scratch directory made in DIR (default: the current one, so\n"
        "that it measures the disk you care about) and removed at the end. Rows:\n"
        "  stdio fwrite per line; write() per line; write() of 500 lines joined;\n"
        "  fwrite+fflush+fdatasync per line (the origin article's experiments);\n"
        "  durlog at each level; sync with 1 thread and with each count in LIST\n"
        "  (group commit: threads share fdatasyncs); one write() larger than\n"
        "  Linux's per-call cap (it comes back short) and the same bytes through\n"
        "  durlog_put's write-all loop, when DIR has about 2.7 GiB free.\n"
        "Each row: records, records/s, microseconds per record, and the ratio to\n"
        "the fastest row; durlog rows read their log back and count it. Rows run\n"
        "interleaved, R rounds (default 5, --quick 1; the two cap rows at most 3),\n"
        "medians. fsync and sync rows stop at a time budget (0.8 s per round,\n"
        "--quick 0.25 s); the others write their N records again until the round\n"
        "has run 0.2 s (--quick 0.05 s). The notes say what each row wrote.\n"
        "\n"
        "Options:\n"
        "  --dir DIR        where to run (default .)\n"
        "  --records N      records per row (default 100000, --quick 20000)\n"
        "  --size BYTES     bytes per record, newline included (default 100)\n"
        "  --threads LIST   thread counts for the sync rows (default 1,4,16,64)\n"
        "  --levels LIST    durlog levels to run (default buffered,kernel,interval,sync)\n"
        "  --rounds R       rounds (1 to 16)\n"
        "  --quick          a run of a few seconds\n"
        "  -o FORMAT        text (default), json or csv; json and csv include the\n"
        "                   kernel, file system, CPU, durlog's engine and I/O mode\n"
        "  --plot FILE.svg  also draw records/s per row on a log scale\n"
        "  --only TEXT      run only the rows whose name contains TEXT\n"
        "  -h, --help       show this help\n",
    .run = cli_run_bench,
};

/* What `durlog ship` and `durlog restore` share: the servers and the
 * credentials. */
#define NATS_HELP \
    "  SERVERS is nats://HOST:PORT, or several of one cluster separated by\n" \
    "  commas. Credentials never go on the command line (ps shows it):\n" \
    "  DURLOG_NATS_USER and DURLOG_NATS_PASSWORD, or DURLOG_NATS_TOKEN, in\n" \
    "  the environment; or a credentials file:\n" \
    "  --creds FILE         a NATS credentials file (JWT and NKey seed)\n" \
    "  --ca FILE            connect with TLS, trusting the CA in FILE (PEM)\n" \
    "  --cert FILE --key FILE  a TLS client certificate and its key\n" \
    "  --timeout DURATION   wait this long for an acknowledgement or an\n" \
    "                       answer of the servers (default 5s)\n" \
    "  -q, --quiet          say nothing but errors\n" \
    "  -h, --help           show this help\n"

const struct cli_command cli_cmd_ship = {
    .name = "ship",
    .synopsis = "LOG SERVERS --stream NAME --subject SUBJECT [--create-stream [--replicas N]] "
                "[--from SEQ] [--follow] [--kernel] [--cursor NAME] [--window N] [--creds FILE] "
                "[--ca FILE]",
    .summary = "Copy the records of LOG, exactly once and in order, to a NATS JetStream "
               "stream.",
    .details =
        "Each record becomes one message on SUBJECT with headers naming the log\n"
        "(its identity), the record's seq, time and checksum; Nats-Msg-Id is\n"
        "LOGID:SEQ. Shipping resumes after the last message the stream holds for\n"
        "the log, and each message is published on the condition that the one\n"
        "before it is the subject's last: after a kill -9, a server restart or a\n"
        "leader change the stream holds every shipped record once, in order. A\n"
        "subject holds one log. Only durable records are shipped (those a power\n"
        "loss here cannot take back); a log no writer ever synced is shipped once\n"
        "one does. Progress is kept in a named cursor (ship-STREAM), so retention\n"
        "keeps what was not shipped yet and `durlog info` shows the lag. State\n"
        "changes (servers unreachable, caught up) go to standard error, once each.\n"
        "Without --follow it ships what is there and exits 0; servers that\n"
        "cannot be reached or refuse the credentials when it connects exit 1 at\n"
        "once (a connection lost later is retried for 30 s).\n"
        "\n"
        "Options:\n"
        "  --stream NAME        the JetStream stream (required)\n"
        "  --subject SUBJECT    the subject of the log's messages (required)\n"
        "  --create-stream      create the stream (file storage, SUBJECT) if it\n"
        "                       does not exist\n"
        "  --replicas N         its replicas, 1 to 5 (with --create-stream)\n"
        "  --from SEQ           when the stream holds nothing of this log, start\n"
        "                       at record SEQ (default: the log's first)\n"
        "  --follow             keep shipping new records as they are appended\n"
        "                       (like tail -f), retrying while no server can be\n"
        "                       reached, until SIGINT or SIGTERM\n"
        "  --kernel             ship records before they are durable. UNSAFE: a\n"
        "                       power loss here may take back records the stream\n"
        "                       holds; shipping then stops with an error\n"
        "  --cursor NAME        the named cursor keeping the position (default\n"
        "                       ship-STREAM)\n"
        "  --window N           messages awaiting acknowledgement (default 4096)\n"
        NATS_HELP,
    .run = cli_run_ship,
};

const struct cli_command cli_cmd_restore = {
    .name = "restore",
    .synopsis = "SERVERS --stream NAME --subject SUBJECT [--follow] [--creds FILE] [--ca FILE] "
                "NEWLOG",
    .summary = "Rebuild a log from the messages `durlog ship` put in a NATS JetStream stream.",
    .details =
        "NEWLOG gets the same records with the same seqs, times and data (and the\n"
        "shipped log's identity, so that shipping it again continues the stream).\n"
        "Every message is checked: its log, its checksum, and that seqs run on by\n"
        "one. A log restored in part (the command killed) is continued; a log\n"
        "holding other records is refused.\n"
        "\n"
        "Options:\n"
        "  --stream NAME        the JetStream stream (required)\n"
        "  --subject SUBJECT    the subject the log was shipped to (required)\n"
        "  --follow             keep appending messages as they arrive, until\n"
        "                       SIGINT or SIGTERM\n"
        NATS_HELP,
    .run = cli_run_restore,
};
