/*
 * version.c - durlog_version(): the version of the library a program runs
 * with, built from the same DURLOG_VERSION_* macros that the header gives the
 * program at compile time (include/durlog.h), so the two can be compared.
 */
#include "durlog.h"

/* Two steps, so that the macro's value is quoted and not its name. */
#define DL_QUOTE_(x) #x
#define DL_QUOTE(x) DL_QUOTE_(x)

const char *durlog_version(void)
{
    return DL_QUOTE(DURLOG_VERSION_MAJOR) "." DL_QUOTE(DURLOG_VERSION_MINOR) "."
           DL_QUOTE(DURLOG_VERSION_PATCH);
}
