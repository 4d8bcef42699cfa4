/*
 * open.c - opening and closing a log for writing, and facts about it.
 *
 * Opening maps the coordination file and takes a shared flock on it for the
 * handle's lifetime. The opener that can take the flock exclusively is the
 * only writer of the log at that moment: it rebuilds the shared state from
 * the segments (dl_recover) before converting its lock to shared, so no
 * stale state is ever trusted. Other openers wait on the shared lock until
 * that is done.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "os.h"
#include "scan.h"

/* How often an opener retries when it finds the coordination file half
 * built by an opener that died during recovery. */
#define DL_OPEN_RETRIES 200

void durlog_options_init(durlog_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->default_level = DURLOG_KERNEL;
    opts->segment_size = DURLOG_DEFAULT_SEGMENT_SIZE;
    opts->interval_ms = DURLOG_DEFAULT_INTERVAL_MS;
    opts->mode = 0644;
    opts->create = 1;
    opts->buffer_size = DL_DEFAULT_BUFFER_SIZE;
}

static int check_options(durlog_options *o, char *err, size_t errlen)
{
    if ((unsigned)o->default_level > DURLOG_SYNC) {
        dl_set_err(err, errlen, "invalid default durability level %d", (int)o->default_level);
        return DURLOG_EINVAL;
    }
    if (!o->segment_size)
        o->segment_size = DURLOG_DEFAULT_SEGMENT_SIZE;
    if (o->segment_size < DL_SEG_MIN_SIZE || o->segment_size > DL_SEG_MAX_CAPACITY) {
        dl_set_err(err, errlen, "segment size %llu out of range (%d bytes to 1 TiB)",
                   (unsigned long long)o->segment_size, DL_SEG_MIN_SIZE);
        return DURLOG_EINVAL;
    }
    if (!o->interval_ms)
        o->interval_ms = DURLOG_DEFAULT_INTERVAL_MS;
    if (!o->mode)
        o->mode = 0644;
    o->mode &= 0777;
    if (!o->buffer_size)
        o->buffer_size = DL_DEFAULT_BUFFER_SIZE;
    if (o->buffer_size < 4096)
        o->buffer_size = 4096;
    if ((unsigned)o->engine > DURLOG_ENGINE_THREAD) {
        dl_set_err(err, errlen, "invalid engine %d", (int)o->engine);
        return DURLOG_EINVAL;
    }
    if (!o->max_pending)
        o->max_pending = DL_DEFAULT_MAX_PENDING;
    if (o->max_pending > DL_MAX_PENDING) {
        dl_set_err(err, errlen, "max_pending %zu above the limit of %zu",
                   o->max_pending, (size_t)DL_MAX_PENDING);
        return DURLOG_EINVAL;
    }
    return 0;
}

/* Called holding the exclusive flock: nobody else writes the log. */
static int rebuild_shared(durlog *log)
{
    struct dl_shared *sh = log->sh;
    char boot[40];
    dl_boot_id(boot);
    int existed = sh->magic == DL_SHM_MAGIC && sh->version == DL_SHM_VERSION &&
                  sh->size == sizeof *sh;
    int strict = existed && boot[0] && strcmp(boot, sh->boot_id) == 0;
    /* Same boot, and the last fdatasync failed or its leader died in it:
     * the pages it did not write may still be in the page cache, intact
     * but clean, and a plain fdatasync now would report success over them.
     * The first sync redoes that work (redo_dead_sync in sync.c). */
    int redo = strict && (atomic_load(&sh->failed) || sh->sync_started_ns);

    atomic_store(&sh->ready, 0);
    if (!existed) {
        memset(sh, 0, sizeof *sh);
        sh->magic = DL_SHM_MAGIC;
        sh->version = DL_SHM_VERSION;
        sh->size = sizeof *sh;
    }
    int rc = dl_shared_init_locks(sh);
    if (rc)
        return dl_fail(log, rc, "initialise locks in %s/%s: %s", log->path,
                       DL_SHM_NAME, durlog_strerror(rc));
    atomic_store(&sh->failed, 0);
    /* Sleepers may be counted (readers do not hold the flock): leaving
     * after this reset is safe (dl_waitq_leave). Dropping the counts of
     * sleepers that died with an older coordination file is the point. */
    memset(sh->published.count, 0, sizeof sh->published.count);
    memset(sh->durable.count, 0, sizeof sh->durable.count);
    rc = dl_recover(log, strict, &log->recovery);
    if (rc)
        return rc;
    sh->sync_started_ns = redo ? 1 : 0;
    memcpy(sh->boot_id, boot, sizeof boot);
    atomic_fetch_add(&sh->generation, 1);
    atomic_store(&sh->ready, 1);
    return 0;
}

static int join_log(durlog *log)
{
    for (int attempt = 0; attempt < DL_OPEN_RETRIES; attempt++) {
        if (flock(log->shmfd, LOCK_EX | LOCK_NB) == 0) {
            int rc = rebuild_shared(log);
            /* Converting to shared is not atomic: another opener may take
             * the exclusive lock in between and rebuild again, which is
             * harmless - nobody has appended yet. */
            if (rc == 0 && flock(log->shmfd, LOCK_SH) < 0)
                rc = dl_fail(log, -errno, "flock %s/%s: %s", log->path,
                             DL_SHM_NAME, strerror(errno));
            if (rc)
                flock(log->shmfd, LOCK_UN);
            return rc;
        }
        if (errno != EWOULDBLOCK && errno != EINTR)
            return dl_fail(log, -errno, "flock %s/%s: %s", log->path,
                           DL_SHM_NAME, strerror(errno));
        if (flock(log->shmfd, LOCK_SH) < 0) {
            if (errno == EINTR)
                continue;
            return dl_fail(log, -errno, "flock %s/%s: %s", log->path,
                           DL_SHM_NAME, strerror(errno));
        }
        if (atomic_load(&log->sh->ready) && log->sh->magic == DL_SHM_MAGIC) {
            if (log->sh->version == DL_SHM_VERSION && log->sh->size == sizeof *log->sh)
                return 0;
            flock(log->shmfd, LOCK_UN);
            return dl_fail(log, DURLOG_EFORMAT, "%s is open by a writer using "
                           "another version of durlog (coordination file version "
                           "%u, this library's %u): close it first", log->path,
                           log->sh->version, DL_SHM_VERSION);
        }
        /* The rebuilder died half way; let one of us redo it. */
        flock(log->shmfd, LOCK_UN);
        usleep(1000 + (unsigned)(attempt * 97 % 5000));
    }
    return dl_fail(log, -EAGAIN, "could not join %s: its coordination file "
                   "stays half built", log->path);
}

static int open_shm(durlog *log)
{
    struct stat st;
    void *p;
    int fd = dl_openat(log->dirfd, DL_SHM_NAME, O_RDWR | O_CREAT | O_NOFOLLOW,
                       log->opts.mode);
    if (fd < 0)
        return dl_fail(log, fd, "open %s/%s: %s", log->path, DL_SHM_NAME,
                       durlog_strerror(fd));
    log->shmfd = fd;
    if (fstat(fd, &st) < 0)
        return dl_fail(log, -errno, "fstat %s/%s: %s", log->path, DL_SHM_NAME,
                       strerror(errno));
    if (!S_ISREG(st.st_mode))
        return dl_fail(log, DURLOG_EFORMAT, "%s/%s is not a regular file",
                       log->path, DL_SHM_NAME);
    /* The log's permissions are those its first writer gave this file; every
     * segment any writer creates gets the same, whatever its own options
     * and umask, so that all of the log's writers and readers can open it. */
    log->file_mode = st.st_mode & 0777;
    if (st.st_size < DL_SHM_SIZE) {
        /* Allocated, not just sized: a store into a hole on a full disk
         * would raise SIGBUS. */
        int rc = dl_allocate(fd, 0, DL_SHM_SIZE);
        if (rc)
            return dl_fail(log, rc, "allocate %s/%s: %s", log->path,
                           DL_SHM_NAME, durlog_strerror(rc));
    }
    int rc = dl_mmap(DL_SHM_SIZE, PROT_READ | PROT_WRITE, fd, 0, &p);
    if (rc)
        return dl_fail(log, rc, "mmap %s/%s: %s", log->path, DL_SHM_NAME,
                       durlog_strerror(rc));
    log->sh = p;
    return 0;
}

static void free_handle(durlog *log)
{
    dl_seg_close(&log->tail);
    dl_seg_close(&log->retired);
    dl_close(log->sync_fd);
    if (log->sh)
        dl_munmap(log->sh, DL_SHM_SIZE);
    dl_close(log->shmfd); /* releases the flock */
    dl_close(log->dirfd);
    pthread_mutex_destroy(&log->mu);
    dl_async_free(log);
    dl_uring_close(log->uring);
    pthread_mutex_destroy(&log->emu);
    pthread_mutex_destroy(&log->dmu);
    pthread_mutex_destroy(&log->pmu);
    pthread_cond_destroy(&log->pcond);
    free(log->buf);
    free(log->path);
    free(log);
}

int durlog_open(const char *path, const durlog_options *opts, durlog **out)
{
    durlog_options o;
    char *err = opts ? opts->errbuf : NULL;
    size_t errlen = opts ? opts->errbuf_size : 0;
    int rc;

    if (!path || !*path || !out) {
        dl_set_err(err, errlen, "durlog_open: path and out are required");
        return DURLOG_EINVAL;
    }
    *out = NULL;
    if (opts)
        o = *opts;
    else
        durlog_options_init(&o);
    rc = check_options(&o, err, errlen);
    if (rc)
        return rc;

    durlog *log = calloc(1, sizeof *log);
    if (!log || !(log->path = strdup(path))) {
        free(log);
        dl_set_err(err, errlen, "out of memory");
        return -ENOMEM;
    }
    log->opts = o;
    log->dirfd = log->shmfd = log->sync_fd = -1;
    log->tail = (struct dl_segmap)DL_SEGMAP_INIT;
    log->retired = (struct dl_segmap)DL_SEGMAP_INIT;
    pthread_mutex_init(&log->pmu, NULL);
    pthread_cond_init(&log->pcond, NULL);
    log->dir_mode = o.mode | ((o.mode & 0444) >> 2);
    dl_clock_init(&log->clock);
    pthread_mutex_init(&log->mu, NULL);
    pthread_mutex_init(&log->emu, NULL);
    pthread_mutex_init(&log->dmu, NULL);
    atomic_init(&log->evfd, -1);

    if (o.create && mkdir(path, log->dir_mode) < 0 && errno != EEXIST) {
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
        char why[512];
        rc = dl_log_dir_check(log->dirfd, path, why, sizeof why);
        if (rc) {
            rc = dl_fail(log, rc, "%s", why);
            goto fail;
        }
    }
    rc = dl_engine_init(log);
    if (!rc)
        rc = dl_async_init(log);
    if (rc)
        goto fail;
    rc = open_shm(log);
    if (rc)
        goto fail;
    rc = join_log(log);
    if (rc)
        goto fail;
    *out = log;
    return 0;

fail:
    dl_set_err(err, errlen, "%s", log->errmsg);
    free_handle(log);
    return rc;
}

int durlog_close(durlog *log)
{
    if (!log)
        return 0;
    if (dl_in_callback(log) || dl_on_engine_thread(log))
        return dl_fail(log, DURLOG_EINVAL, "durlog_close called from a "
                       "completion callback of the same handle");
    int rc = dl_engine_stop(log);
    dl_prealloc_stop(log);
    int rc2 = dl_flush_buffer(log);
    if (!rc)
        rc = rc2;
    free_handle(log);
    return rc;
}

void durlog_last_recovery(const durlog *log, durlog_recovery *out)
{
    *out = log->recovery;
}

int durlog_get_info(durlog *log, durlog_info *out)
{
    struct dl_dir_stats ds;
    int rc = dl_dir_stats(log->dirfd, &ds);
    if (rc)
        return dl_fail(log, rc, "read segments of %s: %s", log->path,
                       durlog_strerror(rc));
    memset(out, 0, sizeof *out);
    out->segments = ds.segments;
    out->bytes = ds.bytes;
    out->disk_bytes = ds.disk_bytes;
    out->next_seq = atomic_load(&log->sh->published_seq);
    out->first_seq = ds.segments ? ds.first_seq : out->next_seq;
    out->durable_seq = atomic_load(&log->sh->durable_seq);
    if (out->durable_seq > out->next_seq)
        out->durable_seq = out->next_seq;
    return 0;
}
