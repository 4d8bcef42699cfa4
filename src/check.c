/*
 * check.c - `durlog check`: verify every record of a log, and repair a torn
 * tail (or, when forced, any damage) by cutting it.
 *
 * Nothing is ever thrown away: the bytes cut from a segment go to a side
 * file "<segment>.cut-<offset>" and whole segments after the cut are renamed
 * to "<segment>.cut-0", both next to the log, before the segment is zeroed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "log.h"
#include "os.h"
#include "scan.h"

struct damage {
    int found;
    size_t seg_index;     /* where the first damage is */
    uint64_t offset;      /* byte offset in that segment (0: whole segment) */
    uint64_t dirty_end;   /* end of the debris to cut in that segment */
    int at_tail;
};

#define PROBLEM(rep, ...)                                                    \
    do {                                                                     \
        if (!(rep)->problems++)                                              \
            snprintf((rep)->problem, sizeof (rep)->problem, __VA_ARGS__);    \
        (rep)->damaged = 1;                                                  \
    } while (0)

static int scan_log(int dirfd, const char *path, const uint64_t *segs, size_t n,
                    durlog_check_report *rep, struct damage *dmg)
{
    uint64_t expect = n ? segs[0] : 0;
    char name[DL_SEG_NAME_LEN + 1], err[256];
    rep->first_seq = expect;
    rep->segments = n;
    for (size_t i = 0; i < n; i++) {
        struct dl_segmap m;
        struct dl_scan s;
        dl_seg_name(name, segs[i]);
        int rc = dl_seg_open(dirfd, segs[i], 0, &m, err, sizeof err);
        if (rc == DURLOG_ECORRUPT || rc == DURLOG_EFORMAT) {
            PROBLEM(rep, "%s/%s", path, err);
            if (!dmg->found)
                *dmg = (struct damage){ 1, i, 0, 0, i + 1 == n };
            continue;
        }
        if (rc) {
            snprintf(rep->problem, sizeof rep->problem, "%s/%s", path, err);
            return rc;
        }
        if (i > 0 && segs[i] != expect) {
            PROBLEM(rep, "%s/%s: starts at record %llu but the previous segment "
                    "ends before record %llu (records missing)", path, name,
                    (unsigned long long)segs[i], (unsigned long long)expect);
            if (!dmg->found)
                *dmg = (struct damage){ 1, i, 0, 0, 0 };
        }
        uint64_t limit = m.size < m.capacity ? m.size : m.capacity;
        dl_scan_segment(m.map, limit, segs[i], 1, &s);
        dl_seg_close(&m);
        rep->records += s.records;
        expect = s.next_seq;
        if (s.dirty_end > s.valid_end) {
            if (s.later_records)
                PROBLEM(rep, "%s/%s: damaged record at byte offset %llu (record "
                        "%llu); %llu good records follow it", path, name,
                        (unsigned long long)s.valid_end, (unsigned long long)s.next_seq,
                        (unsigned long long)s.later_records);
            else
                PROBLEM(rep, "%s/%s: torn record at byte offset %llu (record %llu), "
                        "%llu bytes to the end of the data", path, name,
                        (unsigned long long)s.valid_end, (unsigned long long)s.next_seq,
                        (unsigned long long)(s.dirty_end - s.valid_end));
            if (!dmg->found)
                *dmg = (struct damage){ 1, i, s.valid_end, s.dirty_end,
                                        i + 1 == n && s.later_records == 0 };
            if (s.later_records)
                expect = s.later_max_seq;
        }
    }
    rep->next_seq = expect;
    rep->damage_at_tail = dmg->found && dmg->at_tail && rep->problems == 1;
    return 0;
}

/* Saves [off, end) of segment `name` to a side file, then zeroes it there. */
static int cut_segment(int dirfd, const char *path, const char *name,
                       uint64_t off, uint64_t end, char *msg, size_t msglen)
{
    char side[DL_SEG_NAME_LEN + 32];
    int fd = -1, side_fd = -1, rc;
    unsigned char *buf = NULL;
    size_t len = (size_t)(end - off);

    snprintf(side, sizeof side, "%s.cut-%llu", name, (unsigned long long)off);
    fd = dl_openat(dirfd, name, O_RDWR | O_NOFOLLOW, 0);
    if (fd < 0) {
        rc = fd;
        snprintf(msg, msglen, "open %s/%s: %s", path, name, durlog_strerror(rc));
        return rc;
    }
    buf = malloc(len ? len : 1);
    if (!buf) {
        rc = -ENOMEM;
        snprintf(msg, msglen, "out of memory");
        goto out;
    }
    rc = dl_pread_all(fd, buf, len, (off_t)off);
    if (rc) {
        snprintf(msg, msglen, "read %s/%s: %s", path, name, durlog_strerror(rc));
        goto out;
    }
    side_fd = dl_openat(dirfd, side, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644);
    if (side_fd < 0) {
        rc = side_fd;
        snprintf(msg, msglen, "create %s/%s: %s", path, side, durlog_strerror(rc));
        goto out;
    }
    /* The cut bytes are durable in the side file before they are erased. */
    rc = dl_write_all(side_fd, buf, len);
    if (!rc)
        rc = dl_fsync(side_fd);
    if (rc) {
        snprintf(msg, msglen, "write %s/%s: %s", path, side, durlog_strerror(rc));
        goto out;
    }
    memset(buf, 0, len);
    rc = dl_pwrite_all(fd, buf, len, (off_t)off);
    if (!rc)
        rc = dl_fdatasync(fd);
    if (rc)
        snprintf(msg, msglen, "zero the cut in %s/%s: %s", path, name, durlog_strerror(rc));
out:
    free(buf);
    dl_close(side_fd);
    dl_close(fd);
    return rc;
}

static int repair(int dirfd, const char *path, const uint64_t *segs, size_t n,
                  const struct damage *dmg, durlog_check_report *rep)
{
    char name[DL_SEG_NAME_LEN + 1], side[DL_SEG_NAME_LEN + 16], msg[256];
    size_t i = dmg->seg_index;
    int rc = 0;
    if (dmg->offset > 0) {
        dl_seg_name(name, segs[i]);
        rc = cut_segment(dirfd, path, name, dmg->offset, dmg->dirty_end, msg, sizeof msg);
        if (rc) {
            snprintf(rep->problem, sizeof rep->problem, "repair failed: %s", msg);
            return rc;
        }
        i++;
    }
    for (; i < n; i++) {
        dl_seg_name(name, segs[i]);
        snprintf(side, sizeof side, "%s.cut-0", name);
        rc = dl_renameat(dirfd, name, side);
        if (rc) {
            snprintf(rep->problem, sizeof rep->problem, "repair failed: rename "
                     "%s/%s: %s", path, name, durlog_strerror(rc));
            return rc;
        }
    }
    /* The renames are durable once the directory is. */
    rc = dl_fsync(dirfd);
    if (rc)
        snprintf(rep->problem, sizeof rep->problem, "repair failed: fsync of "
                 "directory %s: %s", path, durlog_strerror(rc));
    return rc;
}

int durlog_check(const char *path, int flags, durlog_check_report *report)
{
    durlog_check_report rep;
    struct damage dmg = { 0 };
    uint64_t *segs = NULL;
    size_t n = 0;
    int shmfd = -1, rc;

    memset(&rep, 0, sizeof rep);
    if (!path || !report)
        return DURLOG_EINVAL;
    int dirfd = dl_openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY, 0);
    if (dirfd < 0) {
        snprintf(report->problem, sizeof report->problem, "open log directory %s: %s",
                 path, durlog_strerror(dirfd));
        return dirfd;
    }
    if (flags & DURLOG_CHECK_REPAIR) {
        /* Writers hold a shared flock on the coordination file while open. */
        shmfd = dl_openat(dirfd, DL_SHM_NAME, O_RDWR | O_NOFOLLOW, 0);
        if (shmfd >= 0 && flock(shmfd, LOCK_EX | LOCK_NB) < 0) {
            rc = errno == EWOULDBLOCK ? DURLOG_EBUSY : -errno;
            snprintf(rep.problem, sizeof rep.problem,
                     "%s: cannot repair while a writer has the log open", path);
            goto out;
        }
    }
    rc = dl_seg_list(dirfd, &segs, &n);
    if (rc) {
        snprintf(rep.problem, sizeof rep.problem, "list segments of %s: %s", path,
                 durlog_strerror(rc));
        goto out;
    }
    rc = scan_log(dirfd, path, segs, n, &rep, &dmg);
    if (rc || !rep.damaged || !(flags & DURLOG_CHECK_REPAIR))
        goto out;
    if (!rep.damage_at_tail && !(flags & DURLOG_CHECK_FORCE)) {
        rc = DURLOG_ECORRUPT;
        goto out;
    }
    rc = repair(dirfd, path, segs, n, &dmg, &rep);
    if (rc)
        goto out;
    if (shmfd >= 0) {
        /* Readers must not trust the coordination file's old tail. */
        struct dl_shared *sh;
        if (dl_mmap(DL_SHM_SIZE, PROT_READ | PROT_WRITE, shmfd, 0, (void **)&sh) == 0) {
            atomic_store(&sh->ready, 0);
            dl_munmap(sh, DL_SHM_SIZE);
        }
    }
    /* Report the log as it is now. */
    free(segs);
    segs = NULL;
    memset(&dmg, 0, sizeof dmg);
    memset(&rep, 0, sizeof rep);
    rc = dl_seg_list(dirfd, &segs, &n);
    if (!rc)
        rc = scan_log(dirfd, path, segs, n, &rep, &dmg);
out:
    free(segs);
    dl_close(shmfd);
    dl_close(dirfd);
    *report = rep;
    if (rc && !report->problem[0])
        snprintf(report->problem, sizeof report->problem, "%s", durlog_strerror(rc));
    return rc;
}
