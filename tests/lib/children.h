/*
 * tests/lib/children.h - forked children: run a function (or a shell
 * command) in a child and get its verdict back, memory shared with
 * children, and a pipe to sequence parent and child.
 */
#ifndef DURLOG_TEST_LIB_CHILDREN_H
#define DURLOG_TEST_LIB_CHILDREN_H

#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "../harness.h"

/* Runs a shell command; says on stderr when it fails. Returns its status. */
static inline int tu_sh(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "  `%s` failed (%d)\n", cmd, rc);
    return rc;
}

/* Runs fn(arg) in a forked child, which exits 0 when fn returns 0. Returns
 * the child's pid. The child dies with the test program, so that a test that
 * gives up early leaves nothing running. */
static inline pid_t tu_fork(int (*fn)(void *), void *arg)
{
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        int rc = fn(arg);
        _exit(rc ? 1 : 0);
    }
    return pid;
}

/* Waits for a child; returns its raw wait status (or -1). */
static inline int tu_wait(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return status;
}

static inline int tu_exited_ok(int status)
{
    return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Anonymous memory shared with forked children. */
static inline void *tu_shared_alloc(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Blocking helpers for sequencing parent and child through a pipe. */
static inline int tu_send(int fd, uint64_t v)
{
    return write(fd, &v, sizeof v) == (ssize_t)sizeof v ? 0 : -1;
}

static inline int tu_recv(int fd, uint64_t *v)
{
    size_t got = 0;
    while (got < sizeof *v) {
        ssize_t n = read(fd, (char *)v + got, sizeof *v - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

#endif
