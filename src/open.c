/*
 * open.c - opening and closing a log for writing, and facts about it.
 *
 * Writers coordinate through two things: the log directory, on which every
 * writer handle holds a shared flock for its lifetime, and the coordination
 * file (shared.h) they all map. The directory cannot be removed or replaced
 * under them while it holds the log; the file can (a clean-up script, a
 * restore, a copy), so it is never the evidence of who is writing:
 *  - the opener that can take the directory's flock exclusively is the only
 *    writer at that moment: it rebuilds the coordination file from the
 *    segments (dl_recover) before converting its lock to shared, so no stale
 *    state is ever trusted;
 *  - any other opener waits on the shared lock (until a rebuild is done),
 *    then joins the coordination file only if the writers that have the log
 *    open hold their liveness lock on that very file and it was built on
 *    this boot for this directory (dl_shm_probe_live, dl_shm_valid_for). A
 *    file removed or replaced while writers have the log open is not joined:
 *    they go on safely through the file they mapped, and the opener is
 *    refused (-EBUSY) until they have all closed.
 * Writers also hold a shared flock on the coordination file itself, which is
 * how a durlog from before this scheme recognised its fellow writers: each
 * refuses to join the other's file (the version differs).
 *
 * The last writer to close the log (it can take the directory's flock
 * exclusively) makes it durable and checkpoints it (seal.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "log.h"
#include "logid.h"
#include "os.h"
#include "scan.h"

/* How often an opener retries when it finds the coordination file half
 * built by an opener that died during recovery. */
#define DL_OPEN_RETRIES 200
/* How often an opener looks again when the writers that have the log open
 * do not hold the coordination file found under its name (they may be
 * closing right now) before it concludes that the file was removed or
 * replaced under them. */
#define DL_OPEN_STALE_RETRIES 20

void durlog_options_init(durlog_options *opts)
{
    if (opts)
        memset(opts, 0, sizeof *opts);
}

/* flags took the first reserved word: the struct's size, which programs
 * built against an older header allocate, did not change. */
_Static_assert(offsetof(durlog_options, flags) % sizeof(uint64_t) == 0 &&
               offsetof(durlog_options, flags) - offsetof(durlog_options, io_mode) <
                   sizeof(durlog_io_mode) + sizeof(uint64_t) &&
               sizeof(durlog_options) ==
                   offsetof(durlog_options, flags) + DURLOG_RESERVED_WORDS * sizeof(uint64_t),
               "durlog_options must keep its size: carve new fields out of reserved");

/* The flags this library knows. */
#define DL_OPEN_FLAGS DURLOG_OPEN_ALLOW_FOREIGN_OWNER

/* Turns the zeros of *o into the defaults and refuses what is out of range. */
static int check_options(durlog_options *o, char *err, size_t errlen)
{
    if (dl_reserved_nonzero(o->reserved, sizeof o->reserved / sizeof o->reserved[0])) {
        dl_set_err(err, errlen, "durlog_options: reserved fields must be zero "
                   "(zero-fill the struct or call durlog_options_init)");
        return -EINVAL;
    }
    if (o->flags & ~(uint64_t)DL_OPEN_FLAGS) {
        dl_set_err(err, errlen, "durlog_options.flags: unknown bits %#llx (this library "
                   "knows %#llx)", (unsigned long long)(o->flags & ~(uint64_t)DL_OPEN_FLAGS),
                   (unsigned long long)DL_OPEN_FLAGS);
        return -EINVAL;
    }
    if (o->default_level == DURLOG_DEFAULT)
        o->default_level = DURLOG_KERNEL;
    if ((unsigned)o->default_level > DURLOG_SYNC) {
        dl_set_err(err, errlen, "invalid default durability level %d", (int)o->default_level);
        return -EINVAL;
    }
    if (!o->segment_size)
        o->segment_size = DURLOG_DEFAULT_SEGMENT_SIZE;
    if (o->segment_size < DL_SEG_MIN_SIZE || o->segment_size > DL_SEG_MAX_CAPACITY) {
        dl_set_err(err, errlen, "segment size %llu out of range (%d bytes to 1 TiB)",
                   (unsigned long long)o->segment_size, DL_SEG_MIN_SIZE);
        return -EINVAL;
    }
    if (!o->interval_ms)
        o->interval_ms = DURLOG_DEFAULT_INTERVAL_MS;
    if (!o->mode)
        o->mode = 0644;
    o->mode &= 0777;
    if (!o->buffer_size)
        o->buffer_size = DL_DEFAULT_BUFFER_SIZE;
    if (o->buffer_size < DL_MIN_BUFFER_SIZE)
        o->buffer_size = DL_MIN_BUFFER_SIZE;
    if (o->buffer_size > DL_MAX_BUFFER_SIZE) {
        dl_set_err(err, errlen, "buffer_size %zu above the limit of %zu bytes",
                   o->buffer_size, (size_t)DL_MAX_BUFFER_SIZE);
        return -EINVAL;
    }
    if ((unsigned)o->io_mode > DURLOG_IO_PWRITE) {
        dl_set_err(err, errlen, "invalid I/O mode %d", (int)o->io_mode);
        return -EINVAL;
    }
    if ((unsigned)o->engine > DURLOG_ENGINE_THREAD) {
        dl_set_err(err, errlen, "invalid engine %d", (int)o->engine);
        return -EINVAL;
    }
    if (!o->max_pending)
        o->max_pending = DL_DEFAULT_MAX_PENDING;
    if (o->max_pending > DL_MAX_PENDING) {
        dl_set_err(err, errlen, "max_pending %zu above the limit of %zu",
                   o->max_pending, (size_t)DL_MAX_PENDING);
        return -EINVAL;
    }
    return 0;
}

/* Called holding the directory's exclusive flock: nobody else writes the
 * log. The old file's contents are evidence of one thing only: when it was
 * built on this boot for this directory, the page cache has not been lost
 * since (the machine did not restart), so recovery may be strict, and the
 * durable mark it held was established by this boot's syncs. */
static int rebuild_shared(durlog *log)
{
    struct dl_shared *sh = log->sh;
    struct dl_stat dst;
    char boot[40];
    int rc = dl_boot_id(boot);
    if (rc)
        return dl_fail(log, rc, "cannot read this boot's id (/proc/sys/kernel/random/"
                       "boot_id), which tells how to recover %s: %s", log->path,
                       durlog_strerror(rc));
    rc = dl_stat_fd(log->dirfd, &dst);
    if (rc)
        return dl_fail(log, rc, "stat %s: %s", log->path, durlog_strerror(rc));
    int existed = sh->magic == DL_SHM_MAGIC && sh->version == DL_SHM_VERSION &&
                  sh->size == sizeof *sh;
    /* Its marks are kept (and trusted as this boot's) only if they are
     * marks a writer leaves: else the file is evidence of nothing. */
    char why[DL_ERRMSG_SIZE / 2];
    int same_log = existed && sh->dir_dev == dst.dev && sh->dir_ino == dst.ino &&
                   dl_sh_marks_ok(atomic_load(&sh->durable_seq),
                                  atomic_load(&sh->published_seq), why, sizeof why);
    int strict = same_log && boot[0] && strncmp(boot, sh->boot_id, sizeof boot) == 0;
    /* Same boot, and the last fdatasync failed or its leader died in it:
     * the pages it did not write may still be in the page cache, intact
     * but clean, and a plain fdatasync now would report success over them.
     * The first sync redoes that work (redo_dead_sync in sync.c). */
    int redo = strict && (atomic_load(&sh->failed) == DL_FAIL_SYNC || sh->sync_started_ns);
    /* An earlier recovery of this log after a reboot failed its fdatasync
     * (or an earlier sync did): the page cache may hold pages the disk does
     * not, and a recovery syncing them now would be trusted. It rewrites
     * what it keeps first. */
    int rewrite = !strict && same_log && atomic_load(&sh->failed) == DL_FAIL_SYNC;
    uint64_t old_durable = strict ? atomic_load(&sh->durable_seq) : 0;
    /* Ready: its published mark is what readers and `durlog check` went by
     * (a repair clears it, having dealt with what is missing). */
    int was_ready = existed && atomic_load(&sh->ready);

    atomic_store(&sh->ready, 0);
    /* Everything else is rebuilt. Readers may be asleep on the wait queues'
     * futex words (they hold no lock): moving the words wakes them up when
     * their nap ends, and their counts are dropped (dl_waitq_leave is safe
     * after this reset). */
    uint32_t ev_pub = existed ? atomic_load(&sh->published.event) : 0;
    uint32_t ev_dur = existed ? atomic_load(&sh->durable.event) : 0;
    uint64_t gen = existed ? atomic_load(&sh->generation) : 0;
    /* The marks of this very log's file stay as they were until recovery
     * sets them (it never lowers a mark this boot established): anyone
     * looking at the file meanwhile sees no record become less durable. */
    uint64_t pub = same_log ? atomic_load(&sh->published_seq) : 0;
    uint64_t old_tail = same_log ? sh->tail_seg : DL_NO_SEGMENT;
    uint64_t dur = same_log ? atomic_load(&sh->durable_seq) : 0;
    /* So does what decides how the next rebuild recovers, should this one
     * fail (EIO, EMFILE, a kill): which boot and log the file describes,
     * and whether a sync failed. Else a refused recovery would turn into a
     * lenient one, cutting, on the next try. */
    char old_boot[40];
    memcpy(old_boot, sh->boot_id, sizeof old_boot);
    uint64_t old_dev = sh->dir_dev, old_ino = sh->dir_ino;
    uint32_t old_failed = same_log && atomic_load(&sh->failed) == DL_FAIL_SYNC ? DL_FAIL_SYNC : 0;
    /* The new contents are built aside and copied over in one go: the
     * bytes of the kept fields are written with the values they already
     * hold, so a reader looking at the file meanwhile never sees a mark at
     * zero (a memset, then the stores, had a window where it did). */
    struct dl_shared *img = calloc(1, sizeof *img);
    if (!img)
        return dl_fail(log, -ENOMEM, "out of memory rebuilding %s/%s", log->path,
                       DL_SHM_NAME);
    if (same_log) {
        memcpy(img->boot_id, old_boot, sizeof old_boot);
        img->dir_dev = old_dev;
        img->dir_ino = old_ino;
        atomic_store(&img->failed, old_failed);
    }
    img->magic = DL_SHM_MAGIC;
    img->version = DL_SHM_VERSION;
    img->size = sizeof *img;
    atomic_store(&img->published.event, ev_pub + 1);
    atomic_store(&img->durable.event, ev_dur + 1);
    atomic_store(&img->generation, gen);
    atomic_store(&img->published_seq, pub);
    atomic_store(&img->durable_seq, dur);
    img->io_mode = log->io_pwrite ? DURLOG_IO_PWRITE : DURLOG_IO_MMAP;
    memcpy(sh, img, sizeof *sh);
    free(img);
    rc = dl_shared_init_locks(sh);
    if (rc)
        return dl_fail(log, rc, "initialise locks in %s/%s: %s", log->path,
                       DL_SHM_NAME, durlog_strerror(rc));
    rc = dl_recover(log, strict ? DL_RECOVER_STRICT : DL_RECOVER_LENIENT, old_durable,
                    rewrite, &log->recovery);
    if (rc)
        return rc;
    if (dl_shm_lost(log->sh_guard))
        return dl_fail(log, DURLOG_EFAILED, "%s/%s was truncated or could not be read "
                       "while this writer rebuilt it (someone emptied it?): open the log "
                       "again", log->path, DL_SHM_NAME);
    /* Records this boot's writers published that no segment holds now (a
     * segment removed or replaced under them: its .replaced-* file keeps
     * them): their numbers were handed out, and are never handed out again.
     * The next append starts a segment after them; readers and `durlog
     * check` report the gap. That is when the tail segment the writers
     * last used is gone. (Records recovery cuts from a damaged tail into a
     * side file keep the rule of FORMAT.md: numbering goes on from the last
     * whole record, and the recovery report says what was cut.) */
    char old_name[DL_SEG_NAME_LEN + 1];
    struct dl_stat old_st;
    if (old_tail != DL_NO_SEGMENT)
        dl_seg_name(old_name, old_tail);
    if (strict && was_ready && pub > sh->next_seq && old_tail != DL_NO_SEGMENT &&
        old_tail != sh->tail_seg && old_tail < pub &&
        dl_stat_at(log->dirfd, old_name, &old_st) == -ENOENT) {
        sh->next_seq = pub;
        sh->tail_seg = DL_NO_SEGMENT;
        sh->tail_capacity = sh->tail_off = sh->tail_alloc = sh->reserve_end = 0;
        sh->tail_ino = 0;
    }
    atomic_store(&sh->failed, DL_FAIL_NONE);
    sh->sync_started_ns = redo ? 1 : 0;
    memcpy(sh->boot_id, boot, sizeof boot);
    sh->dir_dev = dst.dev;
    sh->dir_ino = dst.ino;
    atomic_fetch_add(&sh->generation, 1);
    atomic_store(&sh->ready, 1);
    return 0;
}

static void close_shm(durlog *log)
{
    dl_shm_unmap(log->sh, log->sh_guard);
    log->sh = NULL;
    log->sh_guard = NULL;
    dl_close(log->shmfd); /* releases its locks */
    log->shmfd = -1;
}

/* Opens and maps the coordination file (creating it when `create`).
 * Returns 0, 1 when a joiner finds it too short to be one a writer built,
 * or an error (-ENOENT when a joiner finds none, without a message). */
static int open_shm(durlog *log, int create)
{
    struct dl_stat st;
    int fd = dl_openat(log->dirfd, DL_SHM_NAME,
                       O_RDWR | O_NOFOLLOW | (create ? O_CREAT | O_EXCL : 0), log->opts.mode);
    int created = fd >= 0 && create;
    if (fd == -EEXIST)
        fd = dl_openat(log->dirfd, DL_SHM_NAME, O_RDWR | O_NOFOLLOW, 0);
    /* Not a regular file, as a FIFO's fstat says below (O_RDWR cannot open
     * a directory). */
    if (fd == -EISDIR)
        return dl_fail(log, DURLOG_EFORMAT, "%s/%s is not a regular file (a directory)",
                       log->path, DL_SHM_NAME);
    if (fd == -ELOOP)
        return dl_fail(log, fd, "cannot open %s/%s: %s (it must not be a symbolic link)",
                       log->path, DL_SHM_NAME, durlog_strerror(fd));
    if (fd < 0)
        return fd == -ENOENT && !create ? fd
               : dl_fail(log, fd, "cannot open %s/%s: %s", log->path, DL_SHM_NAME,
                         durlog_strerror(fd));
    log->shmfd = fd;
    if (created) {
        dl_take_owner(fd, &log->owner);
        dl_nocow(fd);
    }
    int rc = dl_stat_fd(fd, &st);
    if (rc)
        return dl_fail(log, rc, "stat %s/%s: %s", log->path, DL_SHM_NAME,
                       durlog_strerror(rc));
    if (!S_ISREG(st.mode))
        return dl_fail(log, DURLOG_EFORMAT, "%s/%s is not a regular file",
                       log->path, DL_SHM_NAME);
    char why[DL_ERRMSG_SIZE];
    rc = dl_refuse_links(st.nlink, log->path, DL_SHM_NAME, why, sizeof why);
    if (rc)
        return dl_fail(log, rc, "%s", why);
    /* The log's permissions are those its first writer gave this file; every
     * segment any writer creates gets the same, whatever its own options
     * and umask, so that all of the log's writers and readers can open it. */
    log->file_mode = st.mode & 0777;
    if (st.size < DL_SHM_SIZE) {
        /* Allocated, not just sized: a store into a hole on a full disk
         * would raise SIGBUS. Only while rebuilding: joiners never change
         * the file others map. */
        if (!create)
            return 1;
        rc = dl_allocate(fd, 0, DL_SHM_SIZE);
        if (rc)
            return dl_fail(log, rc, "allocate %s/%s: %s", log->path,
                           DL_SHM_NAME, durlog_strerror(rc));
    }
    rc = dl_shm_map(fd, 1, &log->sh, &log->sh_guard);
    if (rc)
        return dl_fail(log, rc, "mmap %s/%s: %s", log->path, DL_SHM_NAME,
                       durlog_strerror(rc));
    return 0;
}

/* What every open writer holds on the coordination file: the OFD lock on
 * its first byte that tells readers it is live (shared.h) and its shared
 * flock. */
static int hold_shared(durlog *log)
{
    int rc = dl_shm_hold_live(log->shmfd);
    if (!rc)
        rc = dl_flock(log->shmfd, LOCK_SH);
    if (rc)
        return dl_fail(log, rc, "lock %s/%s: %s", log->path, DL_SHM_NAME,
                       durlog_strerror(rc));
    return 0;
}

/* Takes the coordination file's flock exclusively (held by every writer of
 * this version and of the one before the directory lock, which marks itself
 * there only). Returns 0, 1 when a writer of this version still holds it
 * while closing, or an error. Called holding the directory's flock
 * exclusively. */
static int lock_shm_exclusively(durlog *log)
{
    int rc = dl_flock(log->shmfd, LOCK_EX | LOCK_NB);
    if (rc != -EWOULDBLOCK)
        return rc ? dl_fail(log, rc, "flock %s/%s: %s", log->path, DL_SHM_NAME,
                            durlog_strerror(rc)) : 0;
    /* A closing writer of this version asks for the directory's flock
     * exclusively to learn whether it is the last one; when another writer
     * holds it too, the refused conversion has dropped its shared lock
     * (flock(2): converting is not atomic), and until it closes the
     * coordination file it holds that file's locks without the
     * directory's. That is the only time it does, and it holds the
     * liveness lock too, which a durlog from before the directory lock
     * never takes: wait for it to go. */
    int live = dl_shm_probe_live(log->shmfd);
    if (live < 0)
        return dl_fail(log, live, "lock %s/%s: %s", log->path, DL_SHM_NAME,
                       durlog_strerror(live));
    if (live)
        return 1;
    /* Not live now: a closing writer may have let go of both in between
     * (one close releases both); then the flock is free. */
    rc = dl_flock(log->shmfd, LOCK_EX | LOCK_NB);
    if (rc == -EWOULDBLOCK)
        return dl_fail(log, DURLOG_EFORMAT, "%s is open by a writer using another "
                       "version of durlog: close it first", log->path);
    if (rc)
        return dl_fail(log, rc, "flock %s/%s: %s", log->path, DL_SHM_NAME,
                       durlog_strerror(rc));
    return 0;
}

/* The first writer: rebuilds the coordination file, then shares the log.
 * Called holding the directory's flock exclusively. Returns 0, 1 to look
 * again (a writer that is closing still holds the coordination file), or an
 * error. */
static int open_first(durlog *log)
{
    int rc = open_shm(log, 1);
    if (rc)
        return rc;
    /* A durlog from before the directory lock marks itself on this file
     * only: never rebuild it under one. */
    rc = lock_shm_exclusively(log);
    if (rc)
        return rc;
    rc = rebuild_shared(log);
    if (rc)
        return rc;
    rc = hold_shared(log);
    if (rc)
        return rc;
    /* Converting to shared is not atomic: another opener may take the
     * exclusive lock in between; it finds this handle holding the
     * coordination file (hold_shared) as a closing writer would, and looks
     * again until it can join. */
    rc = dl_flock(log->dirfd, LOCK_SH);
    if (rc)
        return dl_fail(log, rc, "flock %s: %s", log->path, durlog_strerror(rc));
    return 0;
}

/* Another writer has the log open: joins its coordination file if it is the
 * one they use. Returns 0, 1 to look again (half built, or not held by
 * anyone: they may be closing), or an error. Called holding the directory's
 * flock shared. */
static int open_joining(durlog *log)
{
    int rc = open_shm(log, 0);
    if (rc == -ENOENT || rc == 1)
        return 1;
    if (rc)
        return rc;
    struct dl_shared *sh = log->sh;
    if (!atomic_load(&sh->ready) || sh->magic != DL_SHM_MAGIC)
        return 1; /* the rebuilder died half way; let one of us redo it */
    if (sh->version != DL_SHM_VERSION || sh->size != sizeof *sh)
        return dl_fail(log, DURLOG_EFORMAT, "%s is open by a writer using "
                       "another version of durlog (coordination file version "
                       "%u, this library's %u): close it first", log->path,
                       sh->version, DL_SHM_VERSION);
    rc = dl_shm_probe_live(log->shmfd);
    if (rc < 0)
        return dl_fail(log, rc, "lock %s/%s: %s", log->path, DL_SHM_NAME,
                       durlog_strerror(rc));
    if (rc == 0)
        return 1;
    rc = dl_shm_valid_for(sh, log->dirfd);
    if (rc < 0)
        return dl_fail(log, rc, "cannot tell whether %s/%s is the one its writers use "
                       "(reading the boot id or looking at %s failed): %s", log->path,
                       DL_SHM_NAME, log->path, durlog_strerror(rc));
    if (rc == 0)
        return 1;
    /* One mode at a time: stores through a mapping and pwrites of other
     * processes are only known to be coherent where mmap mode is chosen
     * anyway, and a mode asked for explicitly says the user doubts it. */
    uint32_t theirs = sh->io_mode, mine = log->io_pwrite ? DURLOG_IO_PWRITE : DURLOG_IO_MMAP;
    if (theirs != mine && !log->io_explicit &&
        (theirs == DURLOG_IO_PWRITE || theirs == DURLOG_IO_MMAP)) {
        /* `auto` joins in the mode the log's writers use (someone asked for
         * it explicitly). */
        log->io_pwrite = theirs == DURLOG_IO_PWRITE;
        mine = theirs;
    }
    if (theirs != mine)
        return dl_fail(log, -EBUSY, "%s is open by writers using the %s I/O mode, "
                       "and this one would use %s: all of a log's writers use one mode "
                       "(set durlog_options.io_mode or DURLOG_IO to match, or close them "
                       "first)", log->path, theirs == DURLOG_IO_PWRITE ? "pwrite" : "mmap",
                       mine == DURLOG_IO_PWRITE ? "pwrite" : "mmap");
    return hold_shared(log);
}

/* Gives up this handle's flock of the log directory. Its failure (only a
 * bug could cause one) leaves the lock held until the directory's
 * descriptor is closed, which the handle does on every way out. */
static void unlock_dir(durlog *log)
{
    (void)dl_flock(log->dirfd, LOCK_UN);
}

/* How long an opener pauses before it looks again at a coordination file
 * half built or not held by the log's writers: 1 to 6 ms, varied by attempt
 * so that openers racing each other spread out. */
static uint64_t open_retry_pause_ns(int attempt)
{
    return DL_NS_PER_MS + (uint64_t)(attempt * 97 % 5000) * DL_NS_PER_US;
}

static int join_log(durlog *log)
{
    int stale = 0, closing = 0;
    for (int attempt = 0; attempt < DL_OPEN_RETRIES; attempt++) {
        int rc = dl_flock(log->dirfd, LOCK_EX | LOCK_NB);
        if (rc == 0) {
            stale = 0;
            rc = open_first(log);
            if (rc) {
                close_shm(log);
                unlock_dir(log);
            }
            if (rc <= 0)
                return rc;
            /* A writer closing after it let go of the directory's lock:
             * it is about to close the coordination file. */
            closing = 1;
            dl_sleep_ns(open_retry_pause_ns(attempt));
            continue;
        }
        closing = 0;
        if (rc == -EWOULDBLOCK)
            rc = dl_flock(log->dirfd, LOCK_SH);
        if (rc)
            return dl_fail(log, rc, "flock %s: %s", log->path, durlog_strerror(rc));
        rc = open_joining(log);
        if (rc <= 0) {
            if (rc < 0) {
                close_shm(log);
                unlock_dir(log);
            }
            return rc;
        }
        /* Not (yet) the file the writers use. Look again: they may be
         * closing, or a rebuilder may have died; but if the writers stay
         * and the file stays foreign, it was removed or replaced under
         * them. */
        int half_built = log->sh && !atomic_load(&log->sh->ready);
        close_shm(log);
        unlock_dir(log);
        struct dl_stat now;
        if (!half_built && ++stale >= DL_OPEN_STALE_RETRIES &&
            dl_stat_at(log->dirfd, DL_SHM_NAME, &now) == 0 && now.size < DL_SHM_SIZE)
            return dl_fail(log, -EBUSY, "%s/%s was truncated while writers have the "
                           "log open (their appends fail from then on): no new writer can "
                           "join them until they have all closed the log", log->path,
                           DL_SHM_NAME);
        if (!half_built && stale >= DL_OPEN_STALE_RETRIES)
            return dl_fail(log, -EBUSY, "%s/%s was removed or replaced while "
                           "writers have the log open: they go on safely through the "
                           "file they opened, but no new writer can join them until "
                           "they have all closed the log", log->path, DL_SHM_NAME);
        dl_sleep_ns(open_retry_pause_ns(attempt));
    }
    if (closing)
        return dl_fail(log, -EAGAIN, "could not open %s: a writer that is closing it "
                       "keeps holding %s (stopped, or very slow?)", log->path,
                       DL_SHM_NAME);
    return dl_fail(log, -EAGAIN, "could not join %s: its coordination file "
                   "stays half built", log->path);
}

/* A directory that exists and holds none of a log's files is not made into
 * one when it holds anything else: a mistyped path ($HOME, a project
 * directory) must not become a log. An empty one may, unless no_create
 * asked for an existing log. */
static int refuse_non_log(durlog *log)
{
    char other[256] = "";
    int content = dl_dir_content(log->dirfd, other, sizeof other);
    if (content < 0)
        return dl_fail(log, content, "list %s: %s", log->path, durlog_strerror(content));
    if (content == DL_DIR_OTHER)
        return dl_fail(log, DURLOG_EFORMAT, "%s holds other files (\"%s\", ...) and no log: "
                       "it is not made into one (a log needs a directory of its own: name "
                       "a new or an empty one)", log->path, other);
    if (content == DL_DIR_EMPTY && log->opts.no_create)
        return dl_fail(log, DURLOG_EFORMAT, "%s holds no log (the directory is empty, and "
                       "no_create asks for an existing log)", log->path);
    return 0;
}

static void free_handle(durlog *log)
{
    dl_seg_close(&log->tail.cur);
    dl_release_held(log, DL_NO_SEGMENT);
    dl_close(log->sync.fd);
    close_shm(log);
    dl_close(log->dirfd); /* releases the directory's flock */
    pthread_mutex_destroy(&log->mu);
    dl_async_free(log);
    dl_engine_close(log);
    pthread_mutex_destroy(&log->engine.emu);
    pthread_mutex_destroy(&log->cq.dmu);
    pthread_mutex_destroy(&log->prefault.pmu);
    pthread_cond_destroy(&log->prefault.cond);
    free(log->buf.data);
    free(log->stage.buf);
    free(log->path);
    free(log);
}

/* A log that has never held a record gets its identity (durlog_log_id)
 * now, as it is created. Not a reason to fail the open: a log without one
 * (made by an older version, or where this failed) gets one when something
 * first asks for it (libdurlog-ship), which reports the error then. */
static void give_new_log_an_id(durlog *log)
{
    char id[DURLOG_LOG_ID_LEN + 1], err[DL_ERRMSG_SIZE];
    if (log->sh->tail_seg == DL_NO_SEGMENT && log->sh->next_seq == 0 &&
        faccessat(log->dirfd, DL_LOG_ID_FILE, F_OK, AT_SYMLINK_NOFOLLOW) != 0)
        (void)dl_log_id_create(log->dirfd, log->path, id, err, sizeof err);
}

int durlog_open(const char *path, const durlog_options *opts, durlog **out)
{
    durlog_options o;
    char msg[DL_ERRMSG_SIZE] = "";
    int rc;

    if (!path || !*path || !out) {
        dl_set_err(msg, sizeof msg, "durlog_open: %s", !path ? "path is NULL"
                   : !*path ? "path is empty (name the log's directory)" : "out is NULL");
        rc = -EINVAL;
        goto refused;
    }
    *out = NULL;
    if (opts)
        o = *opts;
    else
        durlog_options_init(&o);
    rc = check_options(&o, msg, sizeof msg);
    if (rc)
        goto refused;

    durlog *log = calloc(1, sizeof *log);
    if (!log || !(log->path = strdup(path))) {
        free(log);
        dl_set_err(msg, sizeof msg, "out of memory");
        rc = -ENOMEM;
        goto refused;
    }
    log->opts = o;
    log->dirfd = log->shmfd = log->sync.fd = -1;
    log->tail.cur = (struct dl_segmap)DL_SEGMAP_INIT;
    for (size_t i = 0; i < DL_HELD_ROLLED; i++)
        log->tail.held[i].fd = -1;
    pthread_mutex_init(&log->prefault.pmu, NULL);
    pthread_cond_init(&log->prefault.cond, NULL);
    /* Never writable by every user: such a directory is refused below (and
     * by every later open), and would be left behind, empty, by this one. */
    log->dir_mode = (o.mode | ((o.mode & 0444) >> 2)) & ~(mode_t)S_IWOTH;
    dl_clock_init(&log->clock);
    pthread_mutex_init(&log->mu, NULL);
    pthread_mutex_init(&log->engine.emu, NULL);
    pthread_mutex_init(&log->cq.dmu, NULL);
    atomic_init(&log->cq.evfd, -1);

    if (!o.no_create && dl_os.mkdirat(AT_FDCWD, path, log->dir_mode) < 0 && errno != EEXIST) {
        rc = dl_fail(log, -errno, "create directory %s: %s", path, strerror(errno));
        goto fail;
    }
    rc = dl_openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY, 0);
    if (rc < 0) {
        rc = dl_fail(log, rc, "open log directory %s: %s", path, durlog_strerror(rc));
        goto fail;
    }
    log->dirfd = rc;
    {
        char why[DL_ERRMSG_SIZE];
        struct dl_stat st;
        rc = dl_log_dir_check(log->dirfd, path, why, sizeof why);
        if (rc) {
            rc = dl_fail(log, rc, "%s", why);
            goto fail;
        }
        rc = dl_stat_fd(log->dirfd, &st);
        if (rc) {
            rc = dl_fail(log, rc, "stat %s: %s", path, durlog_strerror(rc));
            goto fail;
        }
        rc = dl_log_owner_check(st.uid, (o.flags & DURLOG_OPEN_ALLOW_FOREIGN_OWNER) != 0,
                                path, why, sizeof why);
        if (rc) {
            rc = dl_fail(log, rc, "%s", why);
            goto fail;
        }
        log->owner = (struct dl_owner){ st.uid, st.gid };
    }
    rc = refuse_non_log(log);
    if (rc)
        goto fail;
    rc = dl_io_choose(log);
    if (!rc)
        rc = dl_engine_init(log, dl_engine_loop);
    if (!rc)
        rc = dl_async_init(log);
    if (rc)
        goto fail;
    rc = join_log(log);
    if (rc)
        goto fail;
    give_new_log_an_id(log);
    dl_retention_start(log);
    *out = log;
    return 0;

fail:
    dl_set_err(msg, sizeof msg, "%s", log->errmsg);
    free_handle(log);
refused:
    /* Reachable with or without options: errbuf, and durlog_last_errmsg(). */
    if (opts)
        dl_set_err(opts->errbuf, opts->errbuf_size, "%s", msg);
    dl_set_last_errmsg(msg);
    return rc;
}

/* 1 if the file open as fd is no longer segment seg's (someone replaced or
 * removed it; not durlog's own replacement of an empty tail). */
static int no_longer_there(durlog *log, uint64_t seg, int fd)
{
    char name[DL_SEG_NAME_LEN + 1];
    dl_seg_name(name, seg);
    return dl_seg_is_at(log->dirfd, name, fd, NULL) == 0 && !dl_seg_replaced_by_roll(log, seg);
}

/* 1 if segment seg, rolled away from by this handle or by another writer
 * (this handle's mapping of the tail is then an old one), was sealed and is
 * gone since: a trim removed it. Its seal
 * vouches for what this handle appended there (the sealer checked it sealed
 * the file the writers stored into), so nothing of it is lost. */
static int trimmed_after_seal(durlog *log, uint64_t seg)
{
    char name[DL_SEG_NAME_LEN + 1];
    struct dl_stat st;
    dl_seg_name(name, seg);
    return seg < atomic_load(&log->sh->seal_next) && dl_stat_at(log->dirfd, name, &st) == -ENOENT;
}

/* A kernel-level writer is not checked at each append (that would cost a
 * system call per record): at close, the tail it stored into, and the tails
 * it rolled away from that are not sealed yet, must still be the log's, or
 * what it appended to them since the replacement is not in the log (it is
 * then saved next to it, if nobody has yet). Also on a log that failed for
 * another reason first (a sync that found the copy short of the records, a
 * damaged durlog.shm): those records were acknowledged all the same, and
 * only this handle's files (its own descriptors) are looked at. */
static int check_files_still_there(durlog *log)
{
    int rc = 0;
    if (log->tail.cur.fd >= 0 && no_longer_there(log, log->tail.cur.first_seq, log->tail.cur.fd) &&
        !trimmed_after_seal(log, log->tail.cur.first_seq))
        rc = dl_mark_replaced(log, log->tail.cur.first_seq, log->tail.cur.fd);
    for (size_t i = 0; i < DL_HELD_ROLLED; i++) {
        if (log->tail.held[i].fd < 0 || !no_longer_there(log, log->tail.held[i].seg, log->tail.held[i].fd))
            continue;
        if (trimmed_after_seal(log, log->tail.held[i].seg))
            continue;
        int rc2 = dl_mark_replaced(log, log->tail.held[i].seg, log->tail.held[i].fd);
        if (!rc)
            rc = rc2;
    }
    return rc;
}

int durlog_close(durlog *log)
{
    if (!log)
        return -EINVAL;
    /* It would wait for the callbacks to end, and for the engine thread. */
    if (dl_in_callback(log) || dl_on_engine_thread(log))
        return dl_fail(log, -EDEADLK, "durlog_close called from a "
                       "completion callback of the same handle");
    int rc = dl_engine_stop(log);
    dl_prealloc_stop(log);
    int rc2 = dl_flush_buffer(log);
    if (!rc)
        rc = rc2;
    rc2 = check_files_still_there(log);
    if (!rc)
        rc = rc2;
    /* Seal what this or any writer rolled, unless another sealer is at it;
     * then, if this is the last writer, leave the log durable and
     * checkpointed. (Converting the lock may let a new opener in first:
     * then it is not the last.) */
    if (!atomic_load(&log->sh->failed)) {
        rc2 = dl_seal_run(log);
        if (!rc2)
            dl_retention_close(log);
        int last = rc2 ? -EWOULDBLOCK : dl_flock(log->dirfd, LOCK_EX | LOCK_NB);
        if (last == 0)
            rc2 = dl_close_checkpoint(log);
        else if (last != -EWOULDBLOCK)
            rc2 = dl_fail(log, last, "flock %s: %s (if this was its last writer, the log "
                          "was not synced and checkpointed at close; the next open "
                          "recovers it)", log->path, durlog_strerror(last));
        if (!rc)
            rc = rc2;
    }
    /* The log failed (here or in another process) after this handle
     * appended: what it appended may not be in the log, or not durable. */
    if (!rc && log->last_seq && atomic_load(&log->sh->failed))
        rc = dl_failed_state(log);
    /* The handle and its message go: the thread keeps the message. */
    if (rc)
        dl_set_last_errmsg(log->errmsg);
    free_handle(log);
    return rc;
}

void durlog_last_recovery(const durlog *log, durlog_recovery *out)
{
    if (!out)
        return;
    if (!log) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = log->recovery;
}

int durlog_get_info(durlog *log, durlog_info *out)
{
    struct dl_dir_stats ds;
    char err[DL_ERRMSG_SIZE];
    if (!log)
        return -EINVAL;
    if (!out)
        return dl_fail(log, -EINVAL, "durlog_get_info: NULL result");
    struct dl_shared *sh = log->sh;
    struct dl_dir_hint hint = DL_DIR_HINT_NONE;
    uint64_t durable = atomic_load(&sh->durable_seq);
    uint64_t published = atomic_load(&sh->published_seq);
    /* Marks no writer leaves (shared.h) are not passed on: the segments
     * say where the log ends, and nothing is known durable. */
    char why[DL_ERRMSG_SIZE / 2];
    int marks_ok = dl_sh_marks_ok(durable, published, why, sizeof why);
    if (marks_ok)
        hint.stop_seq = published;
    /* Under the append lock, where the tail ends, and the notes of the
     * segments rolled and not sealed yet (pushed under that lock: copied
     * whole here): those segments are then not walked, and info costs the
     * same whatever they hold. The tail's end only when it is where the
     * published mark read above is (else the walk stops at that mark), and
     * not on a failed log (whose tail the segments decide). */
    struct dl_seal_note notes[DL_SEAL_NOTES];
    if (marks_ok && !atomic_load(&sh->failed) && dl_lock_append(log) == 0) {
        if (sh->tail_seg != DL_NO_SEGMENT && sh->next_seq == published) {
            hint.tail_seg = sh->tail_seg;
            hint.tail_end_seq = sh->next_seq;
            hint.tail_end_off = sh->tail_off;
        }
        uint64_t pushed = atomic_load(&sh->seal_pushed);
        for (uint64_t i = pushed > DL_SEAL_NOTES ? pushed - DL_SEAL_NOTES : 0; i < pushed; i++)
            notes[hint.n_notes++] = sh->seal_notes[i % DL_SEAL_NOTES];
        hint.notes = notes;
        dl_unlock_append(log);
    }
    int rc = dl_dir_stats(log->dirfd, log->path, &hint, &ds, err, sizeof err);
    if (rc)
        return dl_fail(log, rc, "%s", err);
    memset(out, 0, sizeof *out);
    out->segments = ds.segments;
    out->bytes = ds.bytes;
    out->disk_bytes = ds.disk_bytes;
    out->missing = ds.missing;
    out->durable_seq = durable;
    out->next_seq = published;
    if (!marks_ok) {
        out->next_seq = ds.next_seq;
        out->durable_seq = 0;
    }
    out->first_seq = ds.segments ? ds.first_seq : out->next_seq;
    if (out->durable_seq > out->next_seq)
        out->durable_seq = out->next_seq;
    return 0;
}
