/*
 * cli_time.c - parsing the times of --since and --until (cli_time.h).
 *
 * Self-contained (standard headers only), so that tests/test_cli_time.c can
 * compile it in. Every field of an RFC 3339 time is range-checked (a 31st
 * of April is an error, not the 1st of May); a time before the Unix epoch,
 * or past what 64 bits of nanoseconds hold (the year 2554), is refused.
 */
#include "cli_time.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define TM_NS_PER_S 1000000000ull
/* The last second a uint64_t of ns holds: 2554-07-21T23:34:33Z. */
#define TM_MAX_SECONDS (UINT64_MAX / TM_NS_PER_S)

static int tm_bad(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int tm_bad(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* n decimal digits at *p into *out, advancing *p; 0, or -1 if not digits. */
static int tm_digits(const char **p, int n, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (unsigned)(c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int tm_leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned tm_days_in_month(unsigned y, unsigned m)
{
    static const unsigned char days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && tm_leap(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d (y >= 1970), counting whole years and
 * months: at most a few hundred thousand, no overflow. */
static uint64_t tm_days_since_epoch(unsigned y, unsigned m, unsigned d)
{
    uint64_t days = 0;
    for (unsigned yy = 1970; yy < y; yy++)
        days += tm_leap(yy) ? 366 : 365;
    for (unsigned mm = 1; mm < m; mm++)
        days += tm_days_in_month(y, mm);
    return days + d - 1;
}

static int tm_parse_relative(const char *text, uint64_t now_ns, uint64_t *out, char *err,
                          size_t errlen)
{
    const char *p = text + 1;
    uint64_t n = 0;
    if (*p < '0' || *p > '9')
        return tm_bad(err, errlen, "'%s': a relative time is a number and a unit after "
                   "'-' (-30s, -15m, -2h, -7d)", text);
    for (; *p >= '0' && *p <= '9'; p++) {
        if (n > (UINT64_MAX - 9) / 10)
            return tm_bad(err, errlen, "'%s': too far back", text);
        n = n * 10 + (uint64_t)(*p - '0');
    }
    uint64_t unit;
    switch (*p) {
    case 's': unit = TM_NS_PER_S; break;
    case 'm': unit = 60 * TM_NS_PER_S; break;
    case 'h': unit = 3600 * TM_NS_PER_S; break;
    case 'd': unit = 86400 * TM_NS_PER_S; break;
    default:
        return tm_bad(err, errlen, "'%s': the unit must be s, m, h or d (-30s, -15m, -2h, "
                   "-7d)", text);
    }
    if (p[1] != '\0')
        return tm_bad(err, errlen, "'%s': unexpected '%s' after the unit", text, p + 1);
    if (n > now_ns / unit)
        return tm_bad(err, errlen, "'%s': before the Unix epoch", text);
    *out = now_ns - n * unit;
    return 0;
}

static int tm_parse_rfc3339(const char *text, uint64_t *out, char *err, size_t errlen)
{
    const char *p = text;
    unsigned y, mo, d, h, mi, s, oh = 0, om = 0;
    const char *form = "a time is RFC 3339 (2026-12-05T14:00:00Z, "
                       "2026-12-05T15:00:00.5+01:00) or relative (-15m, -2h, -7d)";
    if (tm_digits(&p, 4, &y) || *p++ != '-' || tm_digits(&p, 2, &mo) || *p++ != '-' ||
        tm_digits(&p, 2, &d))
        return tm_bad(err, errlen, "'%s': %s", text, form);
    if (*p != 'T' && *p != 't' && *p != ' ')
        return tm_bad(err, errlen, "'%s': the date must be followed by 'T' and a time of "
                   "day (%s)", text, form);
    p++;
    if (tm_digits(&p, 2, &h) || *p++ != ':' || tm_digits(&p, 2, &mi) || *p++ != ':' ||
        tm_digits(&p, 2, &s))
        return tm_bad(err, errlen, "'%s': %s", text, form);
    if (mo < 1 || mo > 12)
        return tm_bad(err, errlen, "'%s': no month %u", text, mo);
    if (d < 1 || d > tm_days_in_month(y, mo))
        return tm_bad(err, errlen, "'%s': month %u of %u has no day %u", text, mo, y, d);
    if (h > 23 || mi > 59 || s > 60)
        return tm_bad(err, errlen, "'%s': no time of day %02u:%02u:%02u", text, h, mi, s);
    uint64_t frac = 0;
    if (*p == '.') {
        int n = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, n++) {
            if (n >= 9)
                return tm_bad(err, errlen, "'%s': more than 9 digits of a second (durlog "
                           "times are in nanoseconds)", text);
            frac = frac * 10 + (uint64_t)(*p - '0');
        }
        if (n == 0)
            return tm_bad(err, errlen, "'%s': digits must follow the '.'", text);
        for (; n < 9; n++)
            frac *= 10;
    }
    int sign = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '+' ? 1 : -1;
        if (tm_digits(&p, 2, &oh) || *p++ != ':' || tm_digits(&p, 2, &om) || oh > 23 || om > 59)
            return tm_bad(err, errlen, "'%s': the offset from UTC must be +HH:MM or -HH:MM",
                       text);
    } else {
        return tm_bad(err, errlen, "'%s': the time needs 'Z' or an offset from UTC "
                   "(+01:00): a local time would be ambiguous", text);
    }
    if (*p != '\0')
        return tm_bad(err, errlen, "'%s': unexpected '%s' at the end", text, p);
    if (y < 1970)
        return tm_bad(err, errlen, "'%s': before the Unix epoch", text);
    int64_t offset = sign * (int64_t)(oh * 3600 + om * 60);
    uint64_t secs = tm_days_since_epoch(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    if (offset > 0 && (uint64_t)offset > secs)
        return tm_bad(err, errlen, "'%s': before the Unix epoch", text);
    secs = (uint64_t)((int64_t)secs - offset);
    if (secs > TM_MAX_SECONDS || secs * TM_NS_PER_S > UINT64_MAX - frac)
        return tm_bad(err, errlen, "'%s': past the last time durlog records "
                   "(2554-07-21T23:34:33Z)", text);
    *out = secs * TM_NS_PER_S + frac;
    return 0;
}

int cli_parse_time(const char *text, uint64_t now_ns, uint64_t *out, char *err,
                   size_t errlen)
{
    if (!text || !*text)
        return tm_bad(err, errlen, "an empty time: give RFC 3339 (2026-12-05T14:00:00Z) or "
                   "a relative one (-15m)");
    if (text[0] == '-')
        return tm_parse_relative(text, now_ns, out, err, errlen);
    return tm_parse_rfc3339(text, out, err, errlen);
}
