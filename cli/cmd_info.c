/*
 * cmd_info.c - `durlog info [-o text|json] LOG`.
 *
 * Prints what durlog_reader_get_info() reports about a log: its segments, the
 * range of sequence numbers it holds, its size, and how far it is durable;
 * then its named cursors and how far behind each is.
 * It opens only a reader, so it needs only read access and may run while
 * writers append.
 */
#include <inttypes.h>

#include "cli.h"

static void print_text(const durlog_info *info, const durlog_retention *ret)
{
    uint64_t records = info->next_seq - info->first_seq - info->missing;

    printf("segments:     %" PRIu64 "\n", info->segments);
    printf("records:      %" PRIu64 "\n", records);
    printf("first seq:    %" PRIu64 "\n", info->first_seq);
    if (records)
        printf("last seq:     %" PRIu64 "\n", info->next_seq - 1);
    else
        printf("last seq:     none\n");
    printf("next seq:     %" PRIu64 "\n", info->next_seq);
    if (info->missing)
        printf("missing:      %" PRIu64 " records no segment file holds (damage: run "
               "`durlog check`)\n", info->missing);
    /* durable_seq is an end: records below it are on stable storage. */
    if (info->durable_seq >= info->next_seq)
        printf("durable seq:  %" PRIu64 " (every record is durable)\n",
               info->durable_seq);
    else
        printf("durable seq:  %" PRIu64 " (seqs %" PRIu64 "..%" PRIu64
               " may not be on stable storage yet)\n", info->durable_seq,
               info->durable_seq, info->next_seq - 1);
    printf("bytes:        %" PRIu64 "\n", info->bytes);
    printf("disk bytes:   %" PRIu64 "\n", info->disk_bytes);
    printf("retention:    ");
    if (ret)
        cli_print_retention(ret);
    else
        printf("unreadable (see below)\n");
}

static void print_json(const durlog_info *info, const durlog_retention *ret)
{
    uint64_t records = info->next_seq - info->first_seq - info->missing;

    printf("{\"segments\":%" PRIu64 ",\"records\":%" PRIu64
           ",\"first_seq\":%" PRIu64 ",", info->segments, records,
           info->first_seq);
    if (records)
        printf("\"last_seq\":%" PRIu64 ",", info->next_seq - 1);
    else
        printf("\"last_seq\":null,");
    printf("\"next_seq\":%" PRIu64 ",\"durable_seq\":%" PRIu64
           ",\"bytes\":%" PRIu64 ",\"disk_bytes\":%" PRIu64 ",\"missing\":%" PRIu64,
           info->next_seq, info->durable_seq, info->bytes, info->disk_bytes, info->missing);
    /* null: the settings could not be read (the error follows on stderr). */
    if (ret)
        printf(",\"retention\":{\"max_bytes\":%" PRIu64 ",\"max_age_ns\":%" PRIu64
               ",\"cursor_cap_bytes\":%" PRIu64 "}", ret->max_bytes, ret->max_age_ns,
               ret->cursor_cap_bytes);
    else
        printf(",\"retention\":null");
    /* The object is closed by the caller, after the cursors. */
}

int cli_run_info(const struct cli_command *cmd, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "output", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    enum cli_format format = CLI_FORMAT_TEXT;
    durlog_reader *r;
    durlog_info info;
    const char *path;
    int opt, status;

    while ((opt = cli_next_option(cmd, argc, argv, ":o:h", longopts)) != -1) {
        if (opt == 'o')
            format = cli_format_arg(cmd, optarg);
    }
    path = cli_need_one_log(cmd, argc, argv);

    status = cli_open_reader_info(cmd, path, 0, &r, &info);
    if (status)
        return status;
    /* A damaged retention file is reported after the facts (which are
     * true regardless), and fails the command. */
    durlog_retention ret;
    int ret_rc = durlog_reader_get_retention(r, &ret);
    if (format == CLI_FORMAT_JSON)
        print_json(&info, ret_rc ? NULL : &ret);
    else
        print_text(&info, ret_rc ? NULL : &ret);
    /* The cursors and how far behind each is (the object's last field). */
    status = cli_print_cursors(cmd, path, format, 1);
    if (format == CLI_FORMAT_JSON)
        printf("}\n");
    if (status == 0)
        status = cli_check_stdout(cmd, 1);
    if (ret_rc && !status)
        status = cli_reader_fail(cmd, r, path, ret_rc, "reading the retention of %s", path);
    durlog_reader_close(r);
    return status;
}
