/*
 * check.c - `durlog check`: verify every record of a log, and repair a torn
 * tail (or, when forced, any damage) by cutting it.
 *
 * A check may run while writers append. It then verifies the records
 * published when it started (the coordination file's mark, trusted because
 * a writer holds it: shared.h) and nothing after them: the bytes past that
 * mark may be a record being copied right now, which is not damage. A repair
 * needs the log to itself: it takes the directory's flock exclusively, as
 * the first writer to open a log does, and refuses while a writer has it.
 *
 * Nothing is ever thrown away: the bytes cut go to side files (cut.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "cut.h"
#include "log.h"
#include "os.h"
#include "scan.h"

struct damage {
    int found;
    size_t seg_index;     /* where the first damage is */
    uint64_t offset;      /* byte offset in that segment (0: whole segment) */
    uint64_t seq;         /* the first record it takes away */
    uint64_t dirty_end;   /* end of the debris to cut in that segment */
    int at_tail;
};

#define PROBLEM(rep, ...)                                                    \
    do {                                                                     \
        if (!(rep)->problems++)                                              \
            snprintf((rep)->problem, sizeof (rep)->problem, __VA_ARGS__);    \
        (rep)->damaged = 1;                                                  \
    } while (0)

/* What a checkpoint in segment segs[i]'s header promised and the records do
 * not hold; notes where (the first damage, for a forced repair: from there
 * the segment is cut and its checkpoint lowered). Never a torn tail: what a
 * checkpoint covered was durable, and its loss is no crash's doing. */
static void check_checkpoint(const char *path, const char *name, size_t i,
                             const struct dl_seg_header *h, const struct dl_scan *s,
                             uint64_t stop_seq, durlog_check_report *rep,
                             struct damage *dmg)
{
    if (!(h->flags & DL_SEG_F_CKPT))
        return;
    uint64_t want = h->ckpt_seq < stop_seq ? h->ckpt_seq : stop_seq;
    if (s->next_seq < want && s->dirty_end == s->valid_end) {
        PROBLEM(rep, "%s/%s: records %llu to %llu, which were durable, are missing "
                "(the data ends at byte offset %llu)", path, name,
                (unsigned long long)s->next_seq, (unsigned long long)h->ckpt_seq - 1,
                (unsigned long long)s->valid_end);
        if (!dmg->found)
            *dmg = (struct damage){ 1, i, s->valid_end, s->next_seq, s->valid_end, 0 };
    } else if ((h->flags & DL_SEG_F_SEALED) && s->next_seq > h->ckpt_seq) {
        PROBLEM(rep, "%s/%s: holds records past its seal (record %llu)", path, name,
                (unsigned long long)h->ckpt_seq);
        if (!dmg->found)
            *dmg = (struct damage){ 1, i, h->ckpt_off, h->ckpt_seq,
                                    s->dirty_end > s->valid_end ? s->dirty_end : s->valid_end,
                                    0 };
    }
}

/* How often a check of a live log lists and scans it again when trims
 * removed a segment under it (each time, one more trim came in between). */
#define DL_CHECK_TRIM_RETRIES 8

/* Verifies the segments segs[0..n) up to record stop_seq (UINT64_MAX: all
 * of them). in_flight: writers are appending and their published mark is
 * unknown: a partial record at the very end is one being copied, not
 * damage. */
static int scan_log(int dirfd, const char *path, const uint64_t *segs, size_t n,
                    uint64_t stop_seq, int in_flight, durlog_check_report *rep,
                    struct damage *dmg)
{
    uint64_t expect = n ? segs[0] : 0;
    char name[DL_SEG_NAME_LEN + 1], err[DL_ERRMSG_SIZE];
    rep->first_seq = expect;
    for (size_t i = 0; i < n; i++) {
        struct dl_segmap m;
        struct dl_scan s;
        if (segs[i] >= stop_seq && i > 0)
            break; /* begun after the check did */
        rep->segments++;
        dl_seg_name(name, segs[i]);
        int rc = dl_seg_open(dirfd, path, segs[i], 0, &m, err, sizeof err);
        if (rc == DURLOG_ECORRUPT || rc == DURLOG_EFORMAT) {
            PROBLEM(rep, "%s", err);
            if (!dmg->found)
                *dmg = (struct damage){ 1, i, 0, segs[i], 0, i + 1 == n };
            continue;
        }
        if (rc) {
            snprintf(rep->problem, sizeof rep->problem, "%s", err);
            return rc;
        }
        if (m.hdr.version != DL_FORMAT_VERSION)
            rep->old_format_segments++;
        if (i > 0 && segs[i] != expect) {
            if (segs[i] > expect)
                PROBLEM(rep, "%s: records %llu to %llu are missing (no segment file holds "
                        "them; the next segment, %s, starts at record %llu)", path,
                        (unsigned long long)expect, (unsigned long long)segs[i] - 1, name,
                        (unsigned long long)segs[i]);
            else
                PROBLEM(rep, "%s/%s: starts at record %llu, inside the previous segment "
                        "(which ends before record %llu)", path, name,
                        (unsigned long long)segs[i], (unsigned long long)expect);
            if (!dmg->found)
                *dmg = (struct damage){ 1, i, 0, segs[i], 0, 0 };
        }
        uint64_t limit = m.size < m.capacity ? m.size : m.capacity;
        struct dl_seg_fmt f = dl_segmap_fmt(&m);
        dl_scan_from(&f, m.map, limit, DL_SEG_HEADER_SIZE, segs[i], stop_seq, 1, &s);
        rc = dl_seg_faulted(&m, path, err, sizeof err);
        dl_seg_close(&m);
        if (rc) {
            snprintf(rep->problem, sizeof rep->problem, "%s", err);
            return rc;
        }
        rep->records += s.records + s.later_records;
        expect = s.next_seq;
        check_checkpoint(path, name, i, &m.hdr, &s, stop_seq, rep, dmg);
        if (in_flight && i + 1 == n && s.later_records == 0)
            s.dirty_end = s.valid_end;
        if (s.dirty_end > s.valid_end) {
            if (s.later_records)
                PROBLEM(rep, "%s/%s: damaged record at byte offset %llu (record "
                        "%llu); %llu good records follow it", path, name,
                        (unsigned long long)s.valid_end, (unsigned long long)s.next_seq,
                        (unsigned long long)s.later_records);
            else if (i + 1 < n)
                PROBLEM(rep, "%s/%s: damaged record at byte offset %llu (record %llu) "
                        "at the end of a segment that later segments follow", path, name,
                        (unsigned long long)s.valid_end, (unsigned long long)s.next_seq);
            else
                PROBLEM(rep, "%s/%s: torn record at byte offset %llu (record %llu), "
                        "%llu bytes to the end of the data", path, name,
                        (unsigned long long)s.valid_end, (unsigned long long)s.next_seq,
                        (unsigned long long)(s.dirty_end - s.valid_end));
            if (!dmg->found)
                *dmg = (struct damage){ 1, i, s.valid_end, s.next_seq, s.dirty_end,
                                        i + 1 == n && s.later_records == 0 };
            if (s.later_records)
                expect = s.later_max_seq;
        }
    }
    rep->next_seq = expect;
    rep->damage_at_tail = dmg->found && dmg->at_tail && rep->problems == 1;
    return 0;
}

/* After a cut at record `seq`, byte `off` of segment `name`: its checkpoint
 * may not promise more than is left, and it is no longer sealed. */
static int lower_checkpoint(int dirfd, const char *path, const char *name, uint64_t first,
                            uint64_t seq, uint64_t off, char *msg, size_t msglen)
{
    struct dl_seg_header h;
    uint64_t size;
    int rc = dl_seg_read_header(dirfd, path, first, &h, &size, msg, msglen);
    if (rc)
        return rc;
    if (!(h.flags & DL_SEG_F_CKPT) || (h.ckpt_seq <= seq && !(h.flags & DL_SEG_F_SEALED)))
        return 0;
    if (h.ckpt_seq > seq) {
        h.ckpt_seq = seq;
        h.ckpt_off = off;
    }
    h.flags = h.ckpt_seq > first ? DL_SEG_F_CKPT : 0;
    if (!h.flags) {
        h.ckpt_seq = first;
        h.ckpt_off = DL_SEG_HEADER_SIZE;
    }
    int fd = dl_open_log_file(dirfd, path, name, msg, msglen);
    if (fd < 0)
        return fd;
    rc = dl_seg_write_header(fd, &h);
    if (!rc)
        rc = dl_fdatasync(fd);
    dl_close(fd);
    if (rc)
        snprintf(msg, msglen, "cannot rewrite the header of %s/%s: %s", path, name,
                 durlog_strerror(rc));
    return rc;
}

/* Rewrites one version 1 segment as version 2: the same records (numbers,
 * times, payloads; durable marks as distances, which may only weaken them)
 * and checkpoint, in a new file that replaces the old one atomically.
 * Called with the log to itself, on a segment check found undamaged. */
static int convert_segment(int dirfd, const char *path, uint64_t seg,
                           const struct dl_owner *owner, char *msg, size_t len)
{
    char name[DL_SEG_NAME_LEN + 1], tmp[DL_SEG_NAME_LEN + sizeof DL_SEG_TMP_SUFFIX];
    struct dl_segmap m;
    struct dl_stat st;
    int rc = dl_seg_open(dirfd, path, seg, 0, &m, msg, len);
    if (rc)
        return rc;
    dl_seg_name(name, seg);
    snprintf(tmp, sizeof tmp, "%s%s", name, DL_SEG_TMP_SUFFIX);
    struct dl_seg_fmt f = dl_segmap_fmt(&m);
    uint64_t limit = m.size < m.capacity ? m.size : m.capacity;
    struct dl_rec_view v;
    /* The time base: no later than the first record's time (minus 1: an
     * offset is at least 1) or the creation. */
    uint64_t base = m.hdr.created_ns, tmax = 0, records = 0, off = DL_SEG_HEADER_SIZE;
    enum dl_rec_status st_end = DL_REC_EMPTY;
    for (uint64_t s = seg; off < limit; off += v.size, s++, records++) {
        st_end = dl_rec_check(&f, m.map + off, limit - off, s, &v);
        if (st_end != DL_REC_VALID || v.seq != s)
            break;
        if (v.time_ns && v.time_ns - 1 < base)
            base = v.time_ns - 1;
        if (v.time_ns > tmax)
            tmax = v.time_ns;
    }
    /* The check found the segment undamaged: its records end at zeros (or
     * its end). Anything else is a segment changed since (cut short,
     * written into): its copy would lose the records after the change. */
    if (off < limit && st_end != DL_REC_EMPTY) {
        rc = dl_seg_faulted(&m, path, msg, len);
        if (!rc) {
            rc = DURLOG_ECORRUPT;
            snprintf(msg, len, "%s/%s changed while it was being converted (at byte offset "
                     "%llu, record %llu); run `durlog check %s`", path, name,
                     (unsigned long long)off, (unsigned long long)(seg + records), path);
        }
        size_t used = strlen(msg);
        snprintf(msg + used, len - used, " (not converted: the segment is unchanged)");
        dl_seg_close(&m);
        return rc;
    }
    /* Nor a base whose offsets could pass 2^64 (readers refuse that header:
     * dl_seg_header_decode): with record times no clock gives, an earlier
     * one, which still holds them all. */
    if (base > UINT64_MAX - (DL_REC_TIME_LIMIT - 1))
        base = UINT64_MAX - (DL_REC_TIME_LIMIT - 1);
    if (tmax > base && tmax - base >= DL_REC_TIME_LIMIT) {
        snprintf(msg, len, "%s/%s: its records span more than 78 hours, more than a version "
                 "2 segment's time offsets can hold: not converted", path, name);
        dl_seg_close(&m);
        return DURLOG_EFORMAT;
    }

    /* Version 2 records are smaller than version 1's: the old size bounds
     * the new. */
    unsigned char *buf = malloc(limit > DL_SEG_HEADER_SIZE ? limit : DL_SEG_HEADER_SIZE);
    if (!buf) {
        dl_seg_close(&m);
        snprintf(msg, len, "out of memory converting %s/%s", path, name);
        return -ENOMEM;
    }
    struct dl_seg_header h = m.hdr;
    h.version = DL_FORMAT_VERSION;
    h.created_ns = base;
    uint64_t in = DL_SEG_HEADER_SIZE, out = DL_SEG_HEADER_SIZE;
    uint64_t prev = 0;
    for (uint64_t s = seg; s < seg + records; s++) {
        dl_rec_check(&f, m.map + in, limit - in, s, &v);
        if (s == m.hdr.ckpt_seq)
            h.ckpt_off = out;
        /* Version 2 times never decrease within a segment (a resync after
         * damage skips records more than a second older than the last good
         * one: converted as they were, records after a clock set back were
         * taken for a torn tail). A version 1 writer did not keep them in
         * order: a record gets the later of its time and the previous
         * one's, as a version 2 writer would have given it. */
        uint64_t t = v.time_ns > prev ? v.time_ns : prev;
        prev = t;
        dl_rec_encode(buf + out, base, s, t, v.durable_before, v.payload, v.len);
        in += v.size;
        out += dl_rec_size(v.len);
    }
    if (h.ckpt_seq == seg + records)
        h.ckpt_off = out;
    dl_seg_header_encode(buf, &h);
    /* A read fault (an I/O error, the file cut short meanwhile) shows the
     * guard's zero pages: the records would seem to end there (above), or
     * a record copied would hold zeros, and the copy would replace the
     * segment, its later records still on disk. */
    rc = dl_seg_faulted(&m, path, msg, len);
    if (rc) {
        dl_seg_close(&m);
        free(buf);
        size_t used = strlen(msg);
        snprintf(msg + used, len - used, " (not converted: the segment is unchanged)");
        return rc;
    }
    rc = dl_stat_fd(m.fd, &st);
    dl_seg_close(&m);
    /* Removed, then created anew (O_EXCL): never written through a name
     * someone planted. */
    dl_unlinkat(dirfd, tmp);
    int fd = rc ? rc : dl_openat(dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW,
                                 st.mode & 07777);
    if (fd < 0) {
        free(buf);
        snprintf(msg, len, "cannot create %s/%s: %s", path, tmp, durlog_strerror(fd));
        return fd;
    }
    dl_take_owner(fd, owner);
    rc = fchmod(fd, st.mode & 07777) < 0 ? -errno : 0;
    if (!rc)
        rc = dl_pwrite_all(fd, buf, out, 0);
    if (!rc)
        rc = dl_fdatasync(fd);
    dl_close(fd);
    free(buf);
    if (!rc)
        rc = dl_renameat(dirfd, tmp, name);
    if (rc) {
        dl_unlinkat(dirfd, tmp);
        snprintf(msg, len, "converting %s/%s: %s (the segment is unchanged)", path, name,
                 durlog_strerror(rc));
    }
    return rc;
}

static int invalidate_shared(int dirfd, const char *path, durlog_check_report *rep);

static int convert(int dirfd, const char *path, const uint64_t *segs, size_t n,
                   durlog_check_report *rep)
{
    char msg[DL_ERRMSG_SIZE];
    struct dl_stat st;
    struct dl_owner owner = { (uid_t)-1, (gid_t)-1 };
    if (dl_stat_fd(dirfd, &st) == 0)
        owner = (struct dl_owner){ st.uid, st.gid };
    for (size_t i = 0; i < n; i++) {
        struct dl_seg_header h;
        int rc = dl_seg_read_header(dirfd, path, segs[i], &h, NULL, msg, sizeof msg);
        if (!rc && h.version != DL_FORMAT_VERSION) {
            rc = convert_segment(dirfd, path, segs[i], &owner, msg, sizeof msg);
            if (!rc)
                rep->converted++;
        }
        if (rc) {
            snprintf(rep->problem, sizeof rep->problem, "convert failed: %.480s", msg);
            return rc;
        }
    }
    /* The renames are durable once the directory is; the coordination file
     * describes offsets that are no more. */
    int rc = dl_fsync(dirfd);
    if (rc) {
        snprintf(rep->problem, sizeof rep->problem, "convert failed: fsync of directory %s: "
                 "%s", path, durlog_strerror(rc));
        return rc;
    }
    return invalidate_shared(dirfd, path, rep);
}

static int repair(int dirfd, const char *path, const uint64_t *segs, size_t n,
                  const struct damage *dmg, durlog_check_report *rep)
{
    char name[DL_SEG_NAME_LEN + 1], side[DL_SIDE_NAME_MAX], msg[DL_ERRMSG_SIZE];
    struct dl_stat st;
    struct dl_owner owner = { (uid_t)-1, (gid_t)-1 };
    size_t i = dmg->seg_index;
    int rc = 0;
    if (!dmg->found) {
        /* A problem reported without a place to cut: nothing is cut. */
        snprintf(rep->problem, sizeof rep->problem, "repair refused: the damage found "
                 "has no place a cut could mend; see `durlog check %s`", path);
        return DURLOG_ECORRUPT;
    }
    if (dl_stat_fd(dirfd, &st) == 0)
        owner = (struct dl_owner){ st.uid, st.gid };
    if (dmg->offset > 0) {
        dl_seg_name(name, segs[i]);
        if (dmg->dirty_end > dmg->offset)
            rc = dl_cut_range(dirfd, path, name, dmg->offset, dmg->dirty_end, &owner, side,
                              msg, sizeof msg);
        if (!rc)
            rc = lower_checkpoint(dirfd, path, name, segs[i], dmg->seq, dmg->offset, msg,
                                  sizeof msg);
        if (rc) {
            snprintf(rep->problem, sizeof rep->problem, "repair failed: %.480s", msg);
            return rc;
        }
        i++;
    }
    for (; i < n; i++) {
        dl_seg_name(name, segs[i]);
        rc = dl_cut_whole(dirfd, path, name, side, msg, sizeof msg);
        if (rc) {
            snprintf(rep->problem, sizeof rep->problem, "repair failed: %.480s", msg);
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

/* The coordination file, mapped, when a writer has the log open through it:
 * then its published mark is where the check stops. */
struct live_view {
    int fd;
    struct dl_shared *sh;
    struct dl_guard *guard;
};

/* The coordination file could not be looked at: the check cannot tell what
 * writers published. */
static int shm_problem(durlog_check_report *rep, const char *path, int rc)
{
    snprintf(rep->problem, sizeof rep->problem, "cannot look at %s/%s, which says what "
             "writers published: %s", path, DL_SHM_NAME, durlog_strerror(rc));
    return rc;
}

static void close_live_view(struct live_view *v)
{
    dl_shm_unmap(v->sh, v->guard);
    dl_close(v->fd);
    v->sh = NULL;
    v->guard = NULL;
    v->fd = -1;
}

/* 1 and the published mark in *pub when a writer has the log open through
 * the coordination file (and it stayed readable while we looked), 0 if
 * none does, or an error (in rep). Nothing stays open unless 1. */
static int open_live_view(int dirfd, const char *path, struct live_view *v, uint64_t *pub,
                          durlog_check_report *rep)
{
    v->fd = -1;
    v->sh = NULL;
    v->guard = NULL;
    int rc = dl_shm_open_view(dirfd, 0, &v->fd, &v->sh, &v->guard);
    if (rc)
        return rc == 1 ? 0 : shm_problem(rep, path, rc);
    rc = dl_shm_probe_live(v->fd);
    if (rc == 1)
        rc = dl_shm_valid_for(v->sh, dirfd);
    if (rc == 1) {
        *pub = atomic_load(&v->sh->published_seq);
        /* (A mark past every sequence number is no writer's: shared.h.) */
        if (!dl_shm_lost(v->guard) && *pub < DL_SEQ_LIMIT)
            return 1;
        rc = 0;
    }
    close_live_view(v);
    return rc < 0 ? shm_problem(rep, path, rc) : 0;
}


/* Who holds the log directory's flock, when this process cannot take it
 * exclusively: writers (each holds it shared, and a shared lock can still be
 * had, for an instant) or a repair or a first writer rebuilding the log
 * (exclusively). */
enum holder { HELD_BY_NOBODY, HELD_BY_WRITERS, HELD_EXCLUSIVELY, HELD_ERROR };

/* Gives the directory's flock back. Its failure (only a bug could cause
 * one) keeps it until the directory's descriptor is closed at the end of
 * the check. */
static void unlock_dir(int dirfd)
{
    (void)dl_flock(dirfd, LOCK_UN);
}

static enum holder dir_lock_holder(int dirfd, int *err)
{
    int rc = dl_flock(dirfd, LOCK_EX | LOCK_NB);
    if (rc == 0)
        return HELD_BY_NOBODY; /* and now by us */
    if (rc == -EWOULDBLOCK) {
        rc = dl_flock(dirfd, LOCK_SH | LOCK_NB);
        if (rc == 0) {
            unlock_dir(dirfd);
            return HELD_BY_WRITERS;
        }
        if (rc == -EWOULDBLOCK)
            return HELD_EXCLUSIVELY;
    }
    *err = rc;
    return HELD_ERROR;
}

/* Takes the log for a repair: the directory's flock, exclusively (no writer
 * has it open, no other repair runs), and the coordination file's (a durlog
 * from before the directory lock marks its writers there only). */
static int lock_for_repair(int dirfd, const char *path, durlog_check_report *rep)
{
    int rc = 0;
    switch (dir_lock_holder(dirfd, &rc)) {
    case HELD_BY_NOBODY:
        break;
    case HELD_BY_WRITERS:
        snprintf(rep->problem, sizeof rep->problem, "%s: cannot repair while a writer has "
                 "the log open (close it first)", path);
        return -EBUSY;
    case HELD_EXCLUSIVELY:
        snprintf(rep->problem, sizeof rep->problem, "%s: cannot repair: another `durlog "
                 "check --repair` is running on it (or a writer is opening it); try again "
                 "when it is done", path);
        return -EBUSY;
    default:
        snprintf(rep->problem, sizeof rep->problem, "flock %s: %s", path, durlog_strerror(rc));
        return rc;
    }
    int shmfd = dl_openat(dirfd, DL_SHM_NAME, O_RDONLY | O_NOFOLLOW, 0);
    rc = shmfd >= 0 ? dl_flock(shmfd, LOCK_EX | LOCK_NB) : 0;
    dl_close(shmfd);
    if (rc == -EWOULDBLOCK) {
        snprintf(rep->problem, sizeof rep->problem, "%s: cannot repair while a writer "
                 "(of another durlog version) has the log open", path);
        return -EBUSY;
    }
    if (rc)
        snprintf(rep->problem, sizeof rep->problem, "flock %s/%s: %s", path, DL_SHM_NAME,
                 durlog_strerror(rc));
    return rc;
}

/* What this boot's writers published, from a coordination file built on
 * this boot for this log (0 if there is none): with no writer left, a lower
 * bound on the records the log held, as readers take it (an older copy says
 * less, never more). Records below it that no segment holds were lost or
 * moved away (a segment replaced under a writer: see its .replaced-* file).
 * 0 and *pub, or an error (in rep). */
static int published_this_boot(int dirfd, const char *path, uint64_t *pub,
                               durlog_check_report *rep)
{
    struct dl_shared *sh;
    struct dl_guard *g;
    int fd;
    *pub = 0;
    int rc = dl_shm_open_view(dirfd, 0, &fd, &sh, &g);
    if (rc)
        return rc == 1 ? 0 : shm_problem(rep, path, rc);
    rc = dl_shm_valid_for(sh, dirfd);
    if (rc == 1 && !dl_shm_lost(g))
        *pub = atomic_load(&sh->published_seq);
    if (*pub >= DL_SEQ_LIMIT)
        *pub = 0; /* a mark no writer leaves says nothing (shared.h) */
    dl_shm_unmap(sh, g);
    dl_close(fd);
    return rc < 0 ? shm_problem(rep, path, rc) : 0;
}

/* After a repair the coordination file's tail is wrong: whoever opens the
 * log next must rebuild it (and readers must not trust it meanwhile).
 * 0, or an error (in rep). */
static int invalidate_shared(int dirfd, const char *path, durlog_check_report *rep)
{
    struct dl_shared *sh;
    struct dl_guard *g;
    int fd;
    int rc = dl_shm_open_view(dirfd, 1, &fd, &sh, &g);
    if (rc == 1)
        return 0;
    if (rc) {
        snprintf(rep->problem, sizeof rep->problem, "repaired, but %s/%s could not be "
                 "marked for rebuilding (%s): readers may wait for records the repair "
                 "cut until a writer opens the log", path, DL_SHM_NAME, durlog_strerror(rc));
        return rc;
    }
    atomic_store(&sh->ready, 0); /* on a zero page if it faulted: harmless */
    dl_shm_unmap(sh, g);
    dl_close(fd);
    return 0;
}

static int check_log(const char *path, int flags, durlog_check_report *report)
{
    durlog_check_report rep;
    struct damage dmg = { 0 };
    uint64_t *segs = NULL;
    size_t n = 0;
    uint64_t stop_seq = UINT64_MAX, promised = 0;
    int in_flight = 0, rc;

    memset(&rep, 0, sizeof rep);
    if (!path || !report)
        return -EINVAL;
    /* A bit this version does not know is refused, not ignored: it may ask
     * for something (a repair of another kind) that would silently not
     * happen. */
    unsigned unknown = (unsigned)flags & ~(unsigned)(DURLOG_CHECK_REPAIR | DURLOG_CHECK_FORCE |
                                                     DURLOG_CHECK_CONVERT);
    if (unknown) {
        *report = rep;
        snprintf(report->problem, sizeof report->problem, "durlog_check: unknown flag bits "
                 "0x%x: %s", unknown, durlog_strerror(-EINVAL));
        return -EINVAL;
    }
    int dirfd = dl_openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY, 0);
    if (dirfd < 0) {
        memset(report, 0, sizeof *report);
        snprintf(report->problem, sizeof report->problem, "cannot open the log directory "
                 "%s: %s", path, durlog_strerror(dirfd));
        return dirfd;
    }
    if (flags & (DURLOG_CHECK_REPAIR | DURLOG_CHECK_CONVERT)) {
        rc = lock_for_repair(dirfd, path, &rep);
        if (!rc)
            rc = published_this_boot(dirfd, path, &promised, &rep);
        if (rc)
            goto out;
    } else {
        struct live_view v;
        /* The mark is read before listing: every record below it is in a
         * segment that exists by then. */
        rc = open_live_view(dirfd, path, &v, &stop_seq, &rep);
        if (rc < 0)
            goto out;
        if (rc == 1) {
            rep.live = 1;
        } else {
            enum holder h = dir_lock_holder(dirfd, &rc);
            if (h == HELD_ERROR) {
                snprintf(rep.problem, sizeof rep.problem, "flock %s: %s", path,
                         durlog_strerror(rc));
                goto out;
            }
            if (h == HELD_BY_NOBODY) {
                rc = published_this_boot(dirfd, path, &promised, &rep);
                unlock_dir(dirfd); /* nobody writes: all is checked */
                if (rc)
                    goto out;
            } else if (h == HELD_BY_WRITERS) {
                /* Writers have the log open, through a coordination file
                 * that is missing or not theirs: their published mark is
                 * unknown, so the record at the very end may be half
                 * copied. */
                rep.live = 1;
                in_flight = 1;
            }
        }
        close_live_view(&v);
    }
    rc = dl_seg_list(dirfd, &segs, &n);
    if (rc) {
        snprintf(rep.problem, sizeof rep.problem, "cannot list the segments of %s: %s",
                 path, durlog_strerror(rc));
        goto out;
    }
    /* A mistyped path is not a clean, empty log. */
    if (n == 0 && faccessat(dirfd, DL_SHM_NAME, F_OK, AT_SYMLINK_NOFOLLOW) != 0) {
        snprintf(rep.problem, sizeof rep.problem, "%s is not a durlog log (no segments, "
                 "no %s)", path, DL_SHM_NAME);
        rc = DURLOG_EFORMAT;
        goto out;
    }
    /* A segment listed but gone when it is opened, with writers at work: a
     * trim removed it (trim.c; only the oldest go): list and scan again. */
    for (int tries = 0;; tries++) {
        durlog_check_report rep_before = rep;
        struct damage dmg_before = dmg;
        rc = scan_log(dirfd, path, segs, n, stop_seq, in_flight, &rep, &dmg);
        if (rc != -ENOENT || !rep.live || tries == DL_CHECK_TRIM_RETRIES)
            break;
        rep = rep_before;
        dmg = dmg_before;
        free(segs);
        segs = NULL;
        rc = dl_seg_list(dirfd, &segs, &n);
        if (rc) {
            snprintf(rep.problem, sizeof rep.problem, "cannot list the segments of %s: %s",
                     path, durlog_strerror(rc));
            goto out;
        }
    }
    /* (Damage at the tail already says where the records stop.) */
    int lost_at_end = !rc && promised > rep.next_seq && !(dmg.found && dmg.at_tail);
    if (lost_at_end)
        PROBLEM(&rep, "%s: records %llu to %llu are missing: writers published them on this "
                "boot (%s says so) and no segment file holds them (was a segment replaced "
                "or removed under a writer? look for *.replaced-* files)", path,
                (unsigned long long)rep.next_seq, (unsigned long long)promised - 1,
                DL_SHM_NAME);
    if (!rc && !rep.damaged && (flags & DURLOG_CHECK_CONVERT) && rep.old_format_segments) {
        uint64_t side_files = rep.side_files;
        rc = convert(dirfd, path, segs, n, &rep);
        if (rc)
            goto out;
        uint64_t converted = rep.converted;
        memset(&rep, 0, sizeof rep);
        memset(&dmg, 0, sizeof dmg);
        rc = scan_log(dirfd, path, segs, n, UINT64_MAX, 0, &rep, &dmg);
        rep.converted = converted;
        rep.side_files = side_files;
        goto out;
    }
    if ((flags & DURLOG_CHECK_CONVERT) && rep.damaged && !rc) {
        /* Damage first: a conversion copies records, and would copy it. */
        snprintf(rep.problem + strlen(rep.problem),
                 sizeof rep.problem - strlen(rep.problem),
                 " (nothing converted: repair the damage first)");
        goto out;
    }
    if (rc || !rep.damaged || !(flags & DURLOG_CHECK_REPAIR))
        goto out;
    if (lost_at_end && !dmg.found) {
        /* Nothing to cut: the records are not in the log. The repair drops
         * the promise, so that readers stop reporting them. */
        rc = invalidate_shared(dirfd, path, &rep);
        if (rc)
            goto out;
        memset(&rep, 0, sizeof rep);
        rc = scan_log(dirfd, path, segs, n, UINT64_MAX, 0, &rep, &dmg);
        goto out;
    }
    if (!rep.damage_at_tail && !(flags & DURLOG_CHECK_FORCE)) {
        rc = DURLOG_ECORRUPT;
        goto out;
    }
    rc = repair(dirfd, path, segs, n, &dmg, &rep);
    if (!rc)
        rc = invalidate_shared(dirfd, path, &rep);
    if (rc)
        goto out;
    /* Report the log as it is now. */
    free(segs);
    segs = NULL;
    memset(&dmg, 0, sizeof dmg);
    memset(&rep, 0, sizeof rep);
    rc = dl_seg_list(dirfd, &segs, &n);
    if (!rc)
        rc = scan_log(dirfd, path, segs, n, UINT64_MAX, 0, &rep, &dmg);
out:
    if (dl_count_side_files(dirfd, &rep.side_files) != 0)
        rep.side_files = 0;
    free(segs);
    dl_close(dirfd); /* releases the repair's lock */
    *report = rep;
    if (rc && !report->problem[0])
        snprintf(report->problem, sizeof report->problem, "%s", durlog_strerror(rc));
    return rc;
}

int durlog_check(const char *path, int flags, durlog_check_report *report)
{
    /* *report is not touched then: its problem is the caller's garbage. */
    if (!path || !report) {
        dl_set_last_errmsg("durlog_check: path and report are required");
        return -EINVAL;
    }
    int rc = check_log(path, flags, report);
    if (rc)
        dl_set_last_errmsg(report->problem);
    return rc;
}
