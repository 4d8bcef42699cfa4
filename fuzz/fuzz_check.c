/*
 * fuzz_check.c - `durlog check` and its repairs on a damaged or hostile log.
 *
 * Oracle: no crash, hang or sanitizer report; a repair that reports success
 * leaves a log that checks clean, with the records it said it kept.
 */
#include "fuzz.h"

static void repaired_log_checks_clean(const char *dir, int flags)
{
    durlog_check_report fixed, again;
    if (durlog_check(dir, flags, &fixed) != 0)
        return;
    if (durlog_check(dir, 0, &again) != 0 || again.damaged ||
        again.records != fixed.records)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = fz_write_log(data, size);
    durlog_check_report rep;
    if (durlog_check(dir, 0, &rep) != 0 || !rep.damaged)
        return 0;
    if (size & 1)
        repaired_log_checks_clean(dir, DURLOG_CHECK_REPAIR);
    repaired_log_checks_clean(dir, DURLOG_CHECK_REPAIR | DURLOG_CHECK_FORCE);
    return 0;
}
