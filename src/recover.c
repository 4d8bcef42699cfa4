/*
 * recover.c - rebuilding a log's tail from its segments.
 *
 * Runs in two situations: the first writer to open a log (nobody else has it
 * open, so the coordination file may be stale), and a writer that finds the
 * append lock's previous owner dead (its partial record must be cleared).
 *
 * What a crash can leave:
 *  - A process killed mid-append (the page cache is intact): a partial record
 *    after the last whole one, with nothing valid after it. That is a torn
 *    tail: it is zeroed and counted in durlog_recovery.bytes_cut.
 *  - A power loss: every page written since the last fdatasync may
 *    independently be old or new, so records after the last sync can be
 *    missing while later ones survive, even across segment files. Every record
 *    carries "durable_before": the log's durable mark when it was written.
 *    A surviving record whose mark is above a missing record's number proves
 *    the missing one had been synced, so that gap is real corruption
 *    (DURLOG_ECORRUPT, never dropped silently). A gap no record vouches for
 *    is what a power loss leaves: it and everything after it is cut, which
 *    keeps the log a prefix of what was appended and loses only records that
 *    were never acknowledged as durable.
 *
 * "strict" recovery is used when the coordination file shows the machine has
 * not restarted since it was built: then pages cannot have been lost, and any
 * damage with good records after it is corruption.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "os.h"
#include "scan.h"

struct seg_state {
    struct dl_segmap map;
    struct dl_scan scan;
    int scanned;
    int bad_header;   /* the header never reached the disk (power loss) */
};

/* Opens and scans segment i of segs (writable, CRC-verified). */
static int scan_one(durlog *log, const uint64_t *segs, size_t i, int strict,
                    struct seg_state *st)
{
    char err[256];
    int rc = dl_seg_open(log->dirfd, segs[i], 1, &st->map, err, sizeof err);
    st->scanned = 1;
    if (rc == DURLOG_ECORRUPT || rc == DURLOG_EFORMAT) {
        if (!strict) {
            /* A segment whose header did not survive holds nothing that was
             * acknowledged durable: creating it and syncing a record in it
             * would have made the header durable too. */
            st->bad_header = 1;
            return 0;
        }
        return dl_fail(log, DURLOG_ECORRUPT, "%s; run `durlog check %s`", err,
                       log->path);
    }
    if (rc)
        return dl_fail(log, rc, "%s", err);
    uint64_t limit = st->map.size < st->map.capacity ? st->map.size : st->map.capacity;
    dl_scan_segment(st->map.map, limit, segs[i], 1, &st->scan);
    return 0;
}

static int sync_segments(durlog *log, struct seg_state *st, size_t from, size_t to)
{
    for (size_t i = from; i <= to; i++) {
        if (!st[i].scanned || st[i].map.fd < 0)
            continue;
        int rc = dl_fdatasync(st[i].map.fd);
        if (rc) {
            char name[DL_SEG_NAME_LEN + 1];
            dl_seg_name(name, st[i].map.first_seq);
            return dl_fail(log, rc, "fdatasync of %s/%s during recovery: %s",
                           log->path, name, durlog_strerror(rc));
        }
    }
    return 0;
}

int dl_recover(durlog *log, int strict, durlog_recovery *rep)
{
    struct dl_shared *sh = log->sh;
    uint64_t *segs = NULL;
    size_t n = 0, k, b, t, j;
    struct seg_state *st = NULL;
    int rc, changed = 0;

    memset(rep, 0, sizeof *rep);
    rep->performed = 1;
    dl_seg_remove_temps(log->dirfd);
    rc = dl_seg_list(log->dirfd, &segs, &n);
    if (rc)
        return dl_fail(log, rc, "list segments of %s: %s", log->path,
                       durlog_strerror(rc));
    if (n == 0) {
        sh->first_seq = sh->next_seq = 0;
        sh->tail_seg = DL_NO_SEGMENT;
        sh->tail_capacity = sh->tail_off = sh->tail_alloc = sh->reserve_end = 0;
        atomic_store(&sh->durable_seq, 0);
        atomic_store(&sh->dir_synced_seg, 0);
        dl_publish(sh, 0, DL_NO_SEGMENT);
        return 0;
    }
    st = calloc(n, sizeof *st);
    if (!st) {
        rc = dl_fail(log, -ENOMEM, "out of memory");
        goto out;
    }
    for (j = 0; j < n; j++)
        st[j].map = (struct dl_segmap)DL_SEGMAP_INIT;

    /* Scan back from the last segment until one proves (by a record's
     * durable_before) that everything before it was durable, and one more:
     * the boundary into the proving segment is where a power loss may have
     * cut a tail that a later sync vouches for. Older segments were durable
     * long ago; damage there is found by readers and `durlog check`. With
     * the page cache intact (strict), only the last segment can be
     * incomplete. */
    int proved = 0;
    for (k = n - 1;; k--) {
        rc = scan_one(log, segs, k, strict, &st[k]);
        if (rc)
            goto out;
        if (strict || k == 0 || proved)
            break;
        proved = !st[k].bad_header && st[k].scan.max_durable >= segs[k];
    }

    /* Find the first break going forward: a segment whose header is gone, a
     * segment with debris after its valid records, or a numbering gap
     * between two segments. */
    for (b = k; b < n; b++) {
        if (st[b].bad_header)
            break;
        if (b + 1 < n && !st[b + 1].bad_header && segs[b + 1] != st[b].scan.next_seq)
            break;
        if (st[b].scan.dirty_end > st[b].scan.valid_end)
            break;
    }

    if (b < n) {
        /* Records after the break, and the best evidence of durability
         * among them. */
        uint64_t missing = st[b].bad_header ? segs[b] : st[b].scan.next_seq;
        uint64_t later = 0, evidence = 0;
        for (j = b; j < n; j++) {
            if (st[j].bad_header)
                continue;
            later += (j == b) ? st[j].scan.later_records
                              : st[j].scan.records + st[j].scan.later_records;
            if (st[j].scan.max_durable > evidence)
                evidence = st[j].scan.max_durable;
        }
        if (strict ? later > 0 : evidence > missing) {
            char name[DL_SEG_NAME_LEN + 1];
            dl_seg_name(name, segs[b]);
            rc = dl_fail(log, DURLOG_ECORRUPT,
                         "%s/%s: damaged or missing data at byte offset %llu "
                         "(record %llu) with %llu good records after it; "
                         "run `durlog check %s`",
                         log->path, name,
                         (unsigned long long)(st[b].bad_header ? 0 : st[b].scan.valid_end),
                         (unsigned long long)missing, (unsigned long long)later,
                         log->path);
            goto out;
        }
        /* A torn tail: zero the debris in segment b, drop what follows. */
        if (!st[b].bad_header) {
            struct dl_scan *s = &st[b].scan;
            memset(st[b].map.map + s->valid_end, 0, s->dirty_end - s->valid_end);
            rep->bytes_cut += s->dirty_end - s->valid_end;
            dl_seg_name(rep->segment, segs[b]);
            rep->offset = s->valid_end;
        }
        for (j = st[b].bad_header ? b : b + 1; j < n; j++) {
            char name[DL_SEG_NAME_LEN + 1];
            dl_seg_name(name, segs[j]);
            if (st[j].scanned && !st[j].bad_header)
                rep->bytes_cut += st[j].scan.dirty_end - DL_SEG_HEADER_SIZE;
            if (!rep->segment[0]) {
                snprintf(rep->segment, sizeof rep->segment, "%s", name);
                rep->offset = 0;
            }
            dl_seg_close(&st[j].map);
            rc = dl_unlinkat(log->dirfd, name);
            if (rc && rc != -ENOENT) {
                rc = dl_fail(log, rc, "remove %s/%s after a torn tail: %s",
                             log->path, name, durlog_strerror(rc));
                goto out;
            }
            rep->segments_removed++;
        }
        changed = 1;
        t = st[b].bad_header ? b : b + 1; /* one past the new tail */
    } else {
        t = n;
    }

    if (t == 0) {
        /* Nothing survived (a lone segment whose header was lost). */
        sh->first_seq = sh->next_seq = segs[0];
        sh->tail_seg = DL_NO_SEGMENT;
        sh->tail_capacity = sh->tail_off = sh->tail_alloc = sh->reserve_end = 0;
    } else {
        size_t tail = t - 1;
        if (!st[tail].scanned) {
            rc = scan_one(log, segs, tail, 1, &st[tail]);
            if (rc)
                goto out;
        }
        sh->first_seq = segs[0];
        sh->next_seq = st[tail].scan.next_seq;
        sh->tail_seg = segs[tail];
        sh->tail_capacity = st[tail].map.capacity;
        sh->tail_off = sh->reserve_end = st[tail].scan.valid_end;
        sh->tail_alloc = st[tail].map.size;
    }

    if (!strict) {
        /* After a possible power loss: make what is left durable, so that
         * the durable mark can honestly cover all of it. Segments before k
         * were proven durable by the scan. */
        rc = sync_segments(log, st, k, t ? t - 1 : 0);
        if (rc)
            goto out;
    }
    if (changed || !strict) {
        /* Segment removals are durable once the directory is; and after an
         * unknown history, so is every segment's name, before the durable
         * mark may cover it. */
        rc = dl_fsync(log->dirfd);
        if (rc) {
            rc = dl_fail(log, rc, "fsync of directory %s: %s", log->path,
                         durlog_strerror(rc));
            goto out;
        }
    }
    if (!strict) {
        atomic_store(&sh->durable_seq, sh->next_seq);
        atomic_store(&sh->dir_synced_seg, t ? sh->tail_seg + 1 : 0);
    } else if (atomic_load(&sh->durable_seq) > sh->next_seq) {
        /* Strict: the page cache is intact, and only what an fdatasync
         * covered is durable; never raise the mark here. */
        atomic_store(&sh->durable_seq, sh->next_seq);
    }
    dl_publish(sh, sh->next_seq, sh->tail_seg);
    rc = 0;
out:
    if (st)
        for (j = 0; j < n; j++)
            dl_seg_close(&st[j].map);
    free(st);
    free(segs);
    return rc;
}
