/*
 * files.c - where a benchmark runs: its scratch directory, removed at the
 * end, and the facts a result should carry (the file system it ran on,
 * the CPU).
 *
 * Every benchmark writes fresh files and logs in a directory of its own and
 * removes each straight after use: durlog preallocates its segments, so
 * logs kept around would fill the disk.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "benchlib.h"

/* Descriptors nftw() may hold open at once while it walks a tree. */
#define NFTW_MAX_FDS 16

int bench_make_scratch(char *out, size_t size, const char *parent, const char *prefix)
{
    int n = snprintf(out, size, "%s/%s-XXXXXX", parent, prefix);
    if (n < 0 || (size_t)n >= size) {
        if (size)
            out[0] = '\0';
        return -ENAMETOOLONG;
    }
    if (!mkdtemp(out)) {
        int err = errno;
        out[0] = '\0';
        return -err;
    }
    return 0;
}

/* The scratch directory of bench_scratch, and the process that made it. */
static char scratch[PATH_MAX];
static pid_t scratch_owner;

const char *bench_scratch(const char *parent, const char *prefix)
{
    char made[PATH_MAX];
    int rc = bench_make_scratch(made, sizeof made, parent, prefix);
    if (rc)
        bench_die("cannot make a scratch directory in %s: %s", parent, strerror(-rc));
    /* Absolute: a program may hand it to one that changes directory. */
    if (!realpath(made, scratch)) {
        rc = -errno;
        rmdir(made);
        bench_die("realpath %s: %s", made, strerror(-rc));
    }
    scratch_owner = getpid();
    return scratch;
}

int bench_scratch_remove(void)
{
    if (!scratch[0] || getpid() != scratch_owner)
        return 0;
    int rc = bench_remove_tree(scratch);
    if (rc)
        fprintf(stderr, "%s: could not remove all of %s: %s\n",
                program_invocation_short_name, scratch, strerror(-rc));
    scratch[0] = '\0';
    return rc;
}

/* nftw() calls back without a context pointer: the walk's first failure. */
static int remove_failure;

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if ((type == FTW_DP ? rmdir(path) : unlink(path)) != 0 && !remove_failure)
        remove_failure = -errno;
    return 0; /* on to the rest: leave as little behind as possible */
}

int bench_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -errno;
    remove_failure = 0;
    if (nftw(path, remove_entry, NFTW_MAX_FDS, FTW_DEPTH | FTW_PHYS) != 0 && !remove_failure)
        remove_failure = -errno;
    return remove_failure;
}

void bench_mount_of(const char *path, struct bench_mount *m)
{
    snprintf(m->type, sizeof m->type, "unknown");
    snprintf(m->device, sizeof m->device, "unknown");
    snprintf(m->point, sizeof m->point, "unknown");
    char *real = realpath(path, NULL);
    /* getmntent_r decodes the \040 of a mount point with spaces. */
    FILE *f = real ? setmntent("/proc/self/mounts", "r") : NULL;
    struct mntent ent;
    char buf[8192];
    size_t best = 0;
    while (f && getmntent_r(f, &ent, buf, sizeof buf)) {
        size_t len = strlen(ent.mnt_dir);
        int under = strncmp(real, ent.mnt_dir, len) == 0 &&
                    (real[len] == '/' || real[len] == '\0' || len == 1);
        if (under && len >= best) {
            best = len;
            snprintf(m->type, sizeof m->type, "%s", ent.mnt_type);
            snprintf(m->device, sizeof m->device, "%s", ent.mnt_fsname);
            snprintf(m->point, sizeof m->point, "%s", ent.mnt_dir);
        }
    }
    if (f)
        endmntent(f);
    free(real);
}

int bench_fs_in_memory(const char *type)
{
    return strcmp(type, "tmpfs") == 0 || strcmp(type, "ramfs") == 0;
}

void bench_cpu_model(char *out, size_t size)
{
    snprintf(out, size, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[1024];
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            colon += 1 + strspn(colon + 1, " \t");
            colon[strcspn(colon, "\n")] = '\0';
            snprintf(out, size, "%s", colon);
            break;
        }
    }
    if (f)
        fclose(f);
}
