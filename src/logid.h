/*
 * logid.h - the log's identity file, durlog.id (logid.c).
 */
#ifndef DL_LOGID_H
#define DL_LOGID_H

#include "durlog.h"

#define DL_LOG_ID_FILE "durlog.id"

/* Makes the log in dirfd (path, for messages) an identity, unless it has
 * one (then that one is read into out). For durlog_open, which gives every
 * log it creates one. Returns 0 or an error with a message in err
 * (DURLOG_EDIRSYNC: made, but its directory's fsync failed). */
int dl_log_id_create(int dirfd, const char *path, char out[DURLOG_LOG_ID_LEN + 1], char *err,
                     size_t errlen);

#endif
