/*
 * put_path.c - where a put writes: DEST's directory, opened, and the name in
 * it to replace (dl_put_resolve, put.h).
 *
 * The path is walked one component at a time, as the kernel walks it, but
 * here, so that every symbolic link met can be checked before it is
 * followed. Each component is opened with O_PATH|O_NOFOLLOW relative to the
 * directory before it: a link is then held as itself, its owner read with
 * fstat and its target with readlinkat on that same descriptor, so what is
 * checked is what is followed. The walk ends with a descriptor of the
 * directory and a plain name, and the temporary file, the rename and the
 * directory's fsync all go through that descriptor: no path string is
 * looked up twice, so nothing can swap a link in between the check and the
 * rename. (put used realpath() and then reopened the result, which both
 * left that window and followed any link at all.)
 *
 * The rule for links is the kernel's fs.protected_symlinks: in a directory
 * that is sticky and world-writable (/tmp), a link is followed only if the
 * caller owns it or the directory's owner does. The kernel applies it when
 * it opens through a link; a put replaces by rename(), which never follows
 * the new name, so the kernel's rule would not protect a put whose path we
 * resolve ourselves: without it, another user could plant
 * /tmp/out -> /etc/shadow and have root replace /etc/shadow. It is applied
 * whether or not the sysctl is on: refusing is safe, following is not.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durlog_put.h"
#include "error.h"
#include "os.h"
#include "put.h"

/* The kernel's MAXSYMLINKS: more links than this in one walk is -ELOOP. */
#define MAX_LINKS 40

struct walk {
    const char *path;       /* DEST as the caller wrote it, for messages */
    int at;                 /* O_PATH descriptor of the directory reached */
    char *todo;             /* the path left to walk from `at`: the
                               caller's, or a link's target and the rest */
    size_t pos;             /* the next character of todo */
    int links;              /* links followed so far */
    int last_from_link;     /* the last component is a link's target's */
    int no_link_dest;       /* DEST itself a link: -ELOOP (dl_put_buffer_own) */
    char *errbuf;
    size_t errbuf_size;
};

/* The path of a directory we hold open, for a message: the kernel's
 * /proc/self/fd link, or `fallback` without /proc. */
static void dir_text(int fd, const char *fallback, char *out, size_t size)
{
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(proc, out, size - 1);
    if (n <= 0 || (size_t)n >= size - 1)
        snprintf(out, size, "%s", fallback);
    else
        out[n] = '\0';
}

/* fs.protected_symlinks, as the kernel's may_follow_link() decides it: a
 * link outside a sticky world-writable directory is followed; inside one,
 * only if the caller or the directory's owner owns it. The caller is its
 * effective uid (the file-system uid follows it unless setfsuid is used). */
static int may_follow(const struct dl_stat *dir, const struct dl_stat *link)
{
    if ((dir->mode & (S_ISVTX | S_IWOTH)) != (S_ISVTX | S_IWOTH))
        return 1;
    return link->uid == geteuid() || link->uid == dir->uid;
}

/* Follows the link open as linkfd, named `name` in w->at, whose text ended
 * at w->todo[rest]: checks the rule, then walks its target and the rest. */
static int follow(struct walk *w, int linkfd, const char *name, size_t rest, int last)
{
    struct dl_stat dir, link;
    int rc = dl_stat_fd(w->at, &dir);
    if (rc == 0)
        rc = dl_stat_fd(linkfd, &link);
    if (rc)
        return dl_put_message(w->errbuf, w->errbuf_size, rc,
                              "%s: cannot look at the symbolic link %s", w->path, name);
    if (!may_follow(&dir, &link)) {
        char where[PATH_MAX];
        dir_text(w->at, "its directory", where, sizeof where);
        return dl_put_message(w->errbuf, w->errbuf_size, -EACCES,
                              "%s: not following the symbolic link %s%s%s, owned by uid "
                              "%u in a sticky world-writable directory owned by uid %u "
                              "(the fs.protected_symlinks rule: such a link is followed "
                              "only for its owner or the directory's owner)",
                              w->path, where, strcmp(where, "/") ? "/" : "", name,
                              (unsigned)link.uid, (unsigned)dir.uid);
    }
    if (++w->links > MAX_LINKS)
        return dl_put_message(w->errbuf, w->errbuf_size, -ELOOP,
                              "%s: more than %d symbolic links", w->path, MAX_LINKS);
    char target[PATH_MAX];
    ssize_t n = readlinkat(linkfd, "", target, sizeof target);
    if (n < 0)
        return dl_put_message(w->errbuf, w->errbuf_size, -errno,
                              "%s: cannot read the symbolic link %s", w->path, name);
    if ((size_t)n == sizeof target || n == 0) /* the kernel's answers too */
        return dl_put_message(w->errbuf, w->errbuf_size, n ? -ENAMETOOLONG : -ENOENT,
                              "%s: the symbolic link %s", w->path, name);
    target[n] = '\0';
    const char *tail = w->todo + rest; /* "" or "/..." */
    size_t size = (size_t)n + strlen(tail) + 1;
    char *todo = malloc(size);
    if (!todo)
        return dl_put_message(w->errbuf, w->errbuf_size, -ENOMEM, "put %s", w->path);
    snprintf(todo, size, "%s%s", target, tail);
    free(w->todo);
    w->todo = todo;
    w->pos = 0;
    if (target[0] == '/') {
        int root = dl_openat(AT_FDCWD, "/", O_PATH | O_DIRECTORY, 0);
        if (root < 0)
            return dl_put_message(w->errbuf, w->errbuf_size, root,
                                  "%s: cannot open / for the link %s", w->path, name);
        dl_close(w->at);
        w->at = root;
    }
    if (last)
        w->last_from_link = 1;
    return 0;
}

/* Walks w->todo from w->at up to its last component, which it copies to
 * base (NAME_MAX + 1 bytes). */
static int walk(struct walk *w, char *base)
{
    for (;;) {
        while (w->todo[w->pos] == '/')
            w->pos++;
        if (!w->todo[w->pos]) /* "dir/", "x/.", "/": it names a directory */
            return dl_put_message(w->errbuf, w->errbuf_size, -EISDIR, "%s", w->path);
        const char *name = w->todo + w->pos;
        size_t len = strcspn(name, "/"), rest = w->pos + len;
        if (len > NAME_MAX)
            return dl_put_message(w->errbuf, w->errbuf_size, -ENAMETOOLONG,
                                  "%s: a component", w->path);
        char comp[NAME_MAX + 1];
        memcpy(comp, name, len);
        comp[len] = '\0';
        int dot = strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0;
        int last = !w->todo[rest] && !dot;

        int fd = dl_openat(w->at, comp, O_PATH | O_NOFOLLOW, 0);
        if (fd == -ENOENT && last && !w->last_from_link) {
            memcpy(base, comp, len + 1); /* a new file */
            return 0;
        }
        if (fd == -ENOENT && last)
            return dl_put_message(w->errbuf, w->errbuf_size, -ENOENT,
                                  "%s is a symbolic link to a file that does not exist "
                                  "(%s); put does not create a file through a link",
                                  w->path, comp);
        if (fd < 0)
            return dl_put_message(w->errbuf, w->errbuf_size, fd,
                                  "cannot reach %s (at \"%s\")", w->path, comp);
        struct dl_stat st;
        int found = 0;
        int rc = dl_stat_fd(fd, &st);
        if (rc) {
            rc = dl_put_message(w->errbuf, w->errbuf_size, rc, "%s: cannot look at \"%s\"",
                                w->path, comp);
        } else if (S_ISLNK(st.mode) && last && w->no_link_dest) {
            rc = dl_put_message(w->errbuf, w->errbuf_size, -ELOOP,
                                "%s is a symbolic link: durlog does not write its own files "
                                "in a log directory through one (remove the link)",
                                w->path);
        } else if (S_ISLNK(st.mode)) {
            rc = follow(w, fd, comp, rest, last);
        } else if (last) {
            memcpy(base, comp, len + 1); /* an existing file (put.c looks at it) */
            found = 1;
        } else if (!S_ISDIR(st.mode)) {
            rc = dl_put_message(w->errbuf, w->errbuf_size, -ENOTDIR,
                                "cannot reach %s (at \"%s\")", w->path, comp);
        } else {
            dl_close(w->at); /* one step down */
            w->at = fd;
            w->pos = rest;
            continue;
        }
        dl_close(fd);
        if (rc || found)
            return rc;
    }
}

void dl_put_dest_free(struct dl_put_dest *d)
{
    dl_close(d->dirfd);
    d->dirfd = -1;
    free(d->base);
    free(d->dir);
    d->base = d->dir = NULL;
}

/* The directory, for messages: as the caller wrote it, or where the links
 * led (the caller never wrote that one). */
static void dest_dir_text(const char *path, int links, int dirfd, char *out, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (links)
        dir_text(dirfd, "the directory a link led to", out, size);
    else if (slash)
        snprintf(out, size, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    else
        snprintf(out, size, ".");
}

int dl_put_resolve(const char *path, int no_link_dest, struct dl_put_dest *out, char *errbuf,
                   size_t errbuf_size)
{
    struct walk w = { .path = path, .at = -1, .no_link_dest = no_link_dest, .errbuf = errbuf,
                      .errbuf_size = errbuf_size };
    char base[NAME_MAX + 1], where[PATH_MAX];
    int rc;
    *out = (struct dl_put_dest){ .dirfd = -1 };
    w.todo = strdup(path);
    if (!w.todo) {
        rc = dl_put_message(errbuf, errbuf_size, -ENOMEM, "put %s", path);
        goto out;
    }
    w.at = dl_openat(AT_FDCWD, path[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY, 0);
    if (w.at < 0) {
        rc = dl_put_message(errbuf, errbuf_size, w.at, "cannot reach %s", path);
        goto out;
    }
    rc = walk(&w, base);
    if (rc)
        goto out;
    /* Readable, not O_PATH: the directory is fsynced and listed. */
    out->dirfd = dl_openat(w.at, ".", O_RDONLY | O_DIRECTORY, 0);
    dest_dir_text(path, w.links, out->dirfd >= 0 ? out->dirfd : w.at, where, sizeof where);
    if (out->dirfd < 0) {
        rc = dl_put_message(errbuf, errbuf_size, out->dirfd, "cannot open directory %s",
                            where);
        goto out;
    }
    out->dir = strdup(where);
    out->base = strdup(base);
    if (!out->dir || !out->base)
        rc = dl_put_message(errbuf, errbuf_size, -ENOMEM, "put %s", path);
out:
    dl_close(w.at);
    free(w.todo);
    if (rc)
        dl_put_dest_free(out);
    return rc;
}
