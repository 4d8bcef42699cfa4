/*
 * cli_time.h - the times `durlog cat` and `durlog tail` take (--since,
 * --until): RFC 3339 ("2026-12-05T14:00:00Z", "2026-12-05T15:00:00.25+01:00")
 * or relative to now ("-30s", "-15m", "-2h", "-7d").
 */
#ifndef DURLOG_CLI_TIME_H
#define DURLOG_CLI_TIME_H

#include <stddef.h>
#include <stdint.h>

/* Parses `text` into ns since the Unix epoch (*out); a relative time counts
 * back from now_ns. 0, or -1 with a message saying what is wrong in err. */
int cli_parse_time(const char *text, uint64_t now_ns, uint64_t *out, char *err,
                   size_t errlen);

#endif
