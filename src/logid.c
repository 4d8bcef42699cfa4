/*
 * logid.c - the log's identity (durlog_log_id in durlog.h): 128 random bits
 * made when the log is created, kept in the file "durlog.id" of its
 * directory (docs/FORMAT.md "The log's identity").
 *
 * What it is for: a copy of the log elsewhere (a NATS JetStream stream,
 * libdurlog-ship) names the records it holds by log id and sequence number,
 * so that a shipper can tell this log's records from another log's and
 * resume where the copy ends. So the id must never change under a log: the
 * file is created once (linked, never renamed over one another process made
 * meanwhile), never rewritten, and a damaged file is an error, never
 * silently replaced by a new id (which would make the copy take the log for
 * a new one and hold its records twice).
 *
 * A copy of the directory (cp -a, a backup restored) keeps the id: it is the
 * same log, as far as its records go. A shipper notices when two copies
 * part ways (libdurlog-ship compares the last record it shipped with the
 * log's).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "crc32c.h"
#include "durlog.h"
#include "error.h"
#include "logid.h"
#include "os.h"
#include "put.h"
#include "segment.h"
#include "shared.h"

#define ID_FILE DL_LOG_ID_FILE
#define ID_HEAD "durlog id 1\nid "
/* "durlog id 1\n", "id " 32 hex digits "\n", "crc32c " 8 hex digits "\n" */
#define ID_FILE_SIZE (sizeof ID_HEAD - 1 + DURLOG_LOG_ID_LEN + 1 + 16)

static int is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* The file's bytes for id (ID_FILE_SIZE of them, plus a NUL). */
static void id_encode(char out[ID_FILE_SIZE + 1], const char *id)
{
    int n = snprintf(out, ID_FILE_SIZE + 1, ID_HEAD "%.*s\n", DURLOG_LOG_ID_LEN, id);
    uint32_t crc = dl_crc32c(0, out, (size_t)n);
    snprintf(out + n, ID_FILE_SIZE + 1 - (size_t)n, "crc32c %08" PRIx32 "\n", crc);
}

/* Reads the id: 0, DURLOG_ENOTFOUND (no file), DURLOG_ECORRUPT, or -errno,
 * with a message. */
static int id_read(int dirfd, const char *path, char out[DURLOG_LOG_ID_LEN + 1], char *err,
                   size_t errlen)
{
    char b[ID_FILE_SIZE + 1], want[ID_FILE_SIZE + 1];
    struct dl_stat st;
    int fd = dl_openat(dirfd, ID_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0);
    if (fd == -ENOENT) {
        dl_set_err(err, errlen, "%s has no %s", path, ID_FILE);
        return DURLOG_ENOTFOUND;
    }
    if (fd < 0) {
        dl_set_err(err, errlen, "cannot open %s/%s: %s", path, ID_FILE, durlog_strerror(fd));
        return fd;
    }
    int rc = dl_stat_fd(fd, &st);
    if (rc) {
        dl_set_err(err, errlen, "cannot look at %s/%s: %s", path, ID_FILE, durlog_strerror(rc));
    } else if (!S_ISREG(st.mode) || st.size != ID_FILE_SIZE) {
        rc = DURLOG_ECORRUPT;
    } else if ((rc = dl_pread_all(fd, b, ID_FILE_SIZE, 0)) != 0) {
        dl_set_err(err, errlen, "cannot read %s/%s: %s", path, ID_FILE, durlog_strerror(rc));
    } else {
        b[ID_FILE_SIZE] = '\0';
        const char *id = b + sizeof ID_HEAD - 1;
        rc = DURLOG_ECORRUPT;
        if (memcmp(b, ID_HEAD, sizeof ID_HEAD - 1) == 0 && is_lower_hex(id, DURLOG_LOG_ID_LEN)) {
            id_encode(want, id);
            if (memcmp(b, want, ID_FILE_SIZE) == 0) {
                memcpy(out, id, DURLOG_LOG_ID_LEN);
                out[DURLOG_LOG_ID_LEN] = '\0';
                rc = 0;
            }
        }
    }
    dl_close(fd);
    if (rc == DURLOG_ECORRUPT)
        /* Never replaced by a new id: copies of the log elsewhere know it
         * by this one. */
        dl_set_err(err, errlen, "%s/%s is damaged: the log's identity is lost; if a copy "
                   "of it (a NATS stream) knows it, write the id back (docs/FORMAT.md); "
                   "remove the file to give the log a new identity", path, ID_FILE);
    return rc;
}

/* Creates the file holding id unless there is one (then reads that). */
static int id_create(int dirfd, const char *path, const char *id,
                     char out[DURLOG_LOG_ID_LEN + 1], char *err, size_t errlen)
{
    char b[ID_FILE_SIZE + 1];
    id_encode(b, id);
    int rc = dl_create_own_file(dirfd, path, ID_FILE, b, ID_FILE_SIZE, err, errlen);
    if (rc == -EEXIST) /* made by another process meanwhile: theirs */
        return id_read(dirfd, path, out, err, errlen);
    if (rc == 0 || rc == DURLOG_EDIRSYNC) {
        memcpy(out, id, DURLOG_LOG_ID_LEN);
        out[DURLOG_LOG_ID_LEN] = '\0';
    }
    return rc;
}

int dl_log_id_create(int dirfd, const char *path, char out[DURLOG_LOG_ID_LEN + 1], char *err,
                     size_t errlen)
{
    unsigned char r[DURLOG_LOG_ID_LEN / 2];
    char id[DURLOG_LOG_ID_LEN + 1];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        int e = errno;
        dl_set_err(err, errlen, "no random bytes for the identity of %s: %s", path,
                   durlog_strerror(-e));
        return -e;
    }
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(id + 2 * i, 3, "%02x", r[i]);
    return id_create(dirfd, path, id, out, err, errlen);
}

/* Opens the log directory at path, checked as a writer checks it, and
 * whether it holds a log (DURLOG_EFORMAT if not). */
static int open_log_dir(const char *path, int *dirfd_out, char *err, size_t errlen)
{
    int dirfd = dl_openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY, 0);
    if (dirfd < 0) {
        dl_set_err(err, errlen, "cannot open the log directory %s: %s", path,
                   durlog_strerror(dirfd));
        return dirfd;
    }
    uint64_t *segs = NULL;
    size_t n = 0;
    int rc = dl_log_dir_check(dirfd, path, err, errlen);
    if (!rc && dl_seg_list(dirfd, &segs, &n) == 0 && n == 0 &&
        faccessat(dirfd, DL_SHM_NAME, F_OK, AT_SYMLINK_NOFOLLOW) != 0) {
        dl_set_err(err, errlen, "%s is not a durlog log (no segments, no %s)", path,
                   DL_SHM_NAME);
        rc = DURLOG_EFORMAT;
    }
    free(segs);
    if (rc)
        dl_close(dirfd);
    else
        *dirfd_out = dirfd;
    return rc;
}

int durlog_log_id(const char *path, int create, char out[DURLOG_LOG_ID_LEN + 1])
{
    char err[DL_ERRMSG_SIZE];
    int dirfd;
    if (!path || !out) {
        dl_set_last_errmsg("durlog_log_id: path and out are required");
        return -EINVAL;
    }
    int rc = open_log_dir(path, &dirfd, err, sizeof err);
    if (!rc) {
        rc = id_read(dirfd, path, out, err, sizeof err);
        if (rc == DURLOG_ENOTFOUND && create)
            rc = dl_log_id_create(dirfd, path, out, err, sizeof err);
        dl_close(dirfd);
    }
    if (rc)
        dl_set_last_errmsg(err);
    return rc;
}

int durlog_log_id_adopt(const char *path, const char *id)
{
    char err[DL_ERRMSG_SIZE], have[DURLOG_LOG_ID_LEN + 1];
    int dirfd;
    if (!path || !id || strlen(id) != DURLOG_LOG_ID_LEN || !is_lower_hex(id, DURLOG_LOG_ID_LEN)) {
        dl_set_last_errmsg("durlog_log_id_adopt: a path and an id of 32 lower-case hex "
                           "digits are required");
        return -EINVAL;
    }
    int rc = open_log_dir(path, &dirfd, err, sizeof err);
    if (rc) {
        dl_set_last_errmsg(err);
        return rc;
    }
    rc = id_read(dirfd, path, have, err, sizeof err);
    if (rc == 0 && strcmp(have, id) != 0) {
        /* Another identity: replaced only while no record was ever
         * appended, so that no copy can know it. */
        uint64_t *segs = NULL;
        size_t n = 0;
        rc = dl_seg_list(dirfd, &segs, &n);
        free(segs);
        if (rc == 0 && n == 0) {
            rc = dl_unlinkat(dirfd, ID_FILE);
            if (rc == 0 || rc == -ENOENT)
                rc = DURLOG_ENOTFOUND;
        } else if (rc == 0) {
            dl_set_err(err, sizeof err, "%s holds records of another log (identity %s, not "
                       "%s)", path, have, id);
            rc = -EEXIST;
        }
    }
    if (rc == DURLOG_ENOTFOUND) {
        rc = id_create(dirfd, path, id, have, err, sizeof err);
        if (rc == 0 && strcmp(have, id) != 0) { /* made by another meanwhile */
            dl_set_err(err, sizeof err, "%s was given identity %s meanwhile", path, have);
            rc = -EEXIST;
        }
    }
    dl_close(dirfd);
    if (rc)
        dl_set_last_errmsg(err);
    return rc;
}
