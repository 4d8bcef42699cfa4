/* The times `durlog cat` and `durlog tail` take (--since, --until):
 * cli/cli_time.c, compiled in. Known instants, every field's range, and
 * the errors a mistyped time gets. */
#include "harness.h"

#include "../cli/cli_time.c"

#define S 1000000000ull

/* text parses (with now_ns) to want. */
static int parses_to(const char *text, uint64_t now_ns, uint64_t want)
{
    char err[256] = "";
    uint64_t got = 0;
    int rc = cli_parse_time(text, now_ns, &got, err, sizeof err);
    if (rc != 0 || got != want)
        fprintf(stderr, "  '%s': rc %d, %llu (want %llu) %s\n", text, rc,
                (unsigned long long)got, (unsigned long long)want, err);
    return rc == 0 && got == want;
}

/* text is refused with a message holding `says`. */
static int refused(const char *text, const char *says)
{
    char err[256] = "";
    uint64_t got = 12345;
    int rc = cli_parse_time(text, 1000 * S, &got, err, sizeof err);
    int ok = rc == -1 && got == 12345 && strstr(err, says) != NULL;
    if (!ok)
        fprintf(stderr, "  '%s': rc %d, message '%s' (want one with '%s')\n", text, rc, err,
                says);
    return ok;
}

static void rfc3339_times_parse_to_their_instants(void)
{
    CHECK(parses_to("1970-01-01T00:00:00Z", 0, 0));
    CHECK(parses_to("2026-12-05T14:00:00Z", 0, 1796479200ull * S));
    CHECK(parses_to("2026-12-05t14:00:00z", 0, 1796479200ull * S));
    CHECK(parses_to("2026-12-05 14:00:00Z", 0, 1796479200ull * S));
    CHECK(parses_to("2026-12-05T15:00:00+01:00", 0, 1796479200ull * S));
    CHECK(parses_to("2026-12-05T08:30:00-05:30", 0, 1796479200ull * S));
    CHECK(parses_to("2026-12-05T14:00:00.5Z", 0, 1796479200ull * S + 500000000));
    CHECK(parses_to("2026-12-05T14:00:00.000000001Z", 0, 1796479200ull * S + 1));
    CHECK(parses_to("2000-02-29T00:00:00Z", 0, 951782400ull * S));  /* a leap day */
    CHECK(parses_to("2024-12-31T23:59:59Z", 0, 1735689599ull * S));
    CHECK(parses_to("2554-07-21T23:34:33Z", 0, 18446744073ull * S));
}

static void relative_times_count_back_from_now(void)
{
    uint64_t now = 1796479200ull * S + 7;
    CHECK(parses_to("-30s", now, now - 30 * S));
    CHECK(parses_to("-15m", now, now - 900 * S));
    CHECK(parses_to("-2h", now, now - 7200 * S));
    CHECK(parses_to("-7d", now, now - 7 * 86400 * S));
    CHECK(parses_to("-0s", now, now));
}

static void mistyped_times_are_refused_saying_why(void)
{
    CHECK(refused("", "empty"));
    CHECK(refused("yesterday", "RFC 3339"));
    CHECK(refused("2026-12-05", "'T'"));
    CHECK(refused("2026-12-05T14:00", "RFC 3339"));
    CHECK(refused("2026-12-05T14:00:00", "'Z' or an offset"));
    CHECK(refused("2026-13-05T14:00:00Z", "no month 13"));
    CHECK(refused("2026-04-31T14:00:00Z", "no day 31"));
    CHECK(refused("2026-02-29T14:00:00Z", "no day 29"));
    CHECK(refused("2026-12-05T24:00:00Z", "no time of day"));
    CHECK(refused("2026-12-05T14:60:00Z", "no time of day"));
    CHECK(refused("2026-12-05T14:00:00.Z", "digits must follow"));
    CHECK(refused("2026-12-05T14:00:00.0000000001Z", "more than 9 digits"));
    CHECK(refused("2026-12-05T14:00:00+1:00", "+HH:MM"));
    CHECK(refused("2026-12-05T14:00:00+24:00", "+HH:MM"));
    CHECK(refused("2026-12-05T14:00:00Zjunk", "unexpected"));
    CHECK(refused("1969-12-31T23:59:59Z", "before the Unix epoch"));
    CHECK(refused("1970-01-01T00:00:00+00:01", "before the Unix epoch"));
    CHECK(refused("2554-07-21T23:34:34Z", "past the last time"));
    CHECK(refused("9999-12-31T23:59:59Z", "past the last time"));
    CHECK(refused("-15", "unit"));
    CHECK(refused("-15w", "unit"));
    CHECK(refused("-m", "number and a unit"));
    CHECK(refused("-15mm", "unexpected"));
    CHECK(refused("-1001s", "before the Unix epoch"));
    CHECK(refused("-99999999999999999999d", "too far back"));
}

TEST_MAIN(
    RUN(rfc3339_times_parse_to_their_instants);
    RUN(relative_times_count_back_from_now);
    RUN(mistyped_times_are_refused_saying_why);
)
