/*
 * test_hostile.c - regression tests for "Fixes from trying issue #14 as a
 * hostile user" (commit 9d77cfc): a writer never appends into a file someone
 * else owns, and what check, info and recovery do about files that are not
 * what the writers left.
 *
 *  - a tail overwritten in place under an open writer (foreign bytes where
 *    its next record goes, or an old copy of durlog.shm written over the live
 *    one) fails the next append with DURLOG_EFAILED; nothing acknowledged is
 *    lost or overwritten, and no reader returns the foreign bytes;
 *  - a tail replaced by cp + mv under a writer that appends at `kernel`: the
 *    close (or the roll away from it) fails, and the old file is saved as
 *    <segment>.replaced-<inode> with every record the handle was told it
 *    appended (in <segment>.replaced-<inode>.1 when an older side file has
 *    that name: inode numbers are reused); the same for a rolled segment
 *    removed before it was sealed, and a sync append after a rolled segment
 *    was replaced is refused;
 *  - durlog_info.missing counts records no segment file holds;
 *  - durlog_check tells writers (a shared hold of the directory's lock)
 *    from another repair (an exclusive one), ignores the record writers are
 *    copying when it cannot read their published mark, and treats records
 *    missing under a checkpoint as damage at a place a forced repair can
 *    mend without moving anything aside;
 *  - recovery zeroes a torn tail in place when there is no room for a side
 *    file (never a whole record; on a real full disk too, and `durlog
 *    append` says so), a refused recovery stays refused, and a recovery
 *    whose fdatasync failed writes what it keeps again on the next try.
 *
 * Every test here fails on the code before that commit (each says how); the
 * last two found bugs in that commit, fixed since.
 *
 * Section 6 is issue #16's part on hostile logs: every value a writer or a
 * reader reads from durlog.shm is untrusted input (a value out of bounds
 * fails the log with a message naming the file, never a store outside a
 * mapping, a crash or a wait without end), a writer running as root
 * refuses a log another user owns unless allowed, and no writer writes
 * through a file of the log that has a second hard link. fuzz/fuzz_shm.c
 * explores the first with random writes into the file.
 */
#include <grp.h>
#include <sys/file.h>
#include <sys/wait.h>

#include "lib/children.h"
#include "lib/fixture.h"
#include "lib/logfiles.h"
#include "lib/model.h"
#include "lib/seam.h"
#include "log.h"

/* ------------------------------------------------------------------------
 * Helpers.
 */

/* The segment size of the logs that stay in one segment: allocated whole
 * when it is created, so that no pre-faulter thread grows the file or takes
 * the append lock behind a test that copies or compares the log's files. */
#define ONE_SEGMENT (64 << 10)

/* A model of n records of base..base+199 bytes (most not multiples of 8:
 * those records end in padding). */
static void model_make(struct model *m, uint64_t salt, size_t n, uint32_t base)
{
    uint32_t *lens = malloc(n * sizeof *lens);
    for (size_t i = 0; i < n; i++)
        lens[i] = base + (uint32_t)(i * 37 % 200);
    model_init(m, salt, lens, n);
    free(lens);
}

static void seg_name_of(char name[DL_SEG_NAME_LEN + 1], uint64_t first)
{
    dl_seg_name(name, first);
}

/* How many entries of the log directory have `part` in their name. */
static size_t count_named(const char *log, const char *part)
{
    DIR *d = opendir(log);
    struct dirent *de;
    size_t n = 0;
    while (d && (de = readdir(d)) != NULL)
        if (strstr(de->d_name, part))
            n++;
    if (d)
        closedir(d);
    return n;
}

static uint64_t inode_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* Checks that `bytes` (a segment file, or the saved copy of one) holds
 * records [first, first + count) of the model one after the other from its
 * header on, each a valid frame with that sequence number and exactly the
 * model's payload. Returns how many it found in order. */
static uint64_t frames_match(struct model *m, const unsigned char *bytes, size_t len,
                             uint64_t first, uint64_t count)
{
    uint64_t off = DL_SEG_HEADER_SIZE, n = 0;
    struct dl_seg_header h;
    if (len < DL_SEG_HEADER_SIZE || dl_seg_header_decode(bytes, &h) != 0)
        return 0;
    struct dl_seg_fmt f = dl_seg_fmt_of(&h);
    while (n < count && off < len) {
        struct dl_rec_view v;
        uint64_t seq = first + n;
        if (dl_rec_check(&f, bytes + off, len - off, seq, &v) != DL_REC_VALID || v.seq != seq ||
            v.len != m->lens[seq] || memcmp(v.payload, model_payload(m, seq), v.len) != 0)
            break;
        off += v.size;
        n++;
    }
    return n;
}

/* A log of `n` model records at `kernel` in one segment of `segment_size`,
 * closed (so checkpointed), with its coordination file from this boot. */
static void build_closed(const char *log, struct model *m, size_t n, uint64_t segment_size)
{
    durlog *w;
    CHECK_OK(open_log(log, segment_size, &w));
    if (!w)
        return;
    model_append(w, m, 0, n, DURLOG_KERNEL);
    CHECK_OK(durlog_close(w));
}

static durlog_check_report check_log(const char *log, int flags, int want_rc)
{
    durlog_check_report rep;
    memset(&rep, 0xa5, sizeof rep);
    CHECK_RC(durlog_check(log, flags, &rep), want_rc);
    return rep;
}

/* The whole file at path equals [bytes, bytes + len). */
static int file_equals(const char *path, const unsigned char *bytes, size_t len)
{
    size_t now_len;
    unsigned char *now = file_read(path, &now_len);
    int same = now && now_len == len && memcmp(now, bytes, len) == 0;
    free(now);
    return same;
}

/* Bytes [from, to) of the file at path equal those of `bytes`, and what
 * follows them up to `zero_to` (bounded by the file's size) is zero: for a
 * segment an open writer's pre-faulter may grow meanwhile. */
static int range_equals(const char *path, const unsigned char *bytes, uint64_t from,
                        uint64_t to, uint64_t zero_to)
{
    size_t now_len;
    unsigned char *now = file_read(path, &now_len);
    int same = now && now_len >= to && memcmp(now + from, bytes + from, to - from) == 0;
    if (same && zero_to > now_len)
        zero_to = now_len;
    if (same && zero_to > to)
        same = nonzero_extent(now + to, zero_to - to) == 0;
    free(now);
    return same;
}

/* ------------------------------------------------------------------------
 * 1. Files overwritten in place under an open writer.
 */

/* A writer has appended records 0..9 (the last at sync). Someone writes an
 * old copy of records 2..4 into the segment file, in place, exactly where
 * record 10 would go. The next append, at any level, fails with
 * DURLOG_EFAILED and a message naming the log and `durlog check`; the writer
 * writes nothing over the foreign bytes; readers (live, after close, and
 * skipping damage) return records 0..9 and never the foreign frames; close
 * fails too; reopening cuts the foreign bytes into a side file and the log
 * goes on from record 10. (Before 9d77cfc the append stored record 10 over
 * them and returned 0.) */
static void a_tail_overwritten_in_place_under_a_writer_fails_the_next_append(void)
{
    struct scratch s;
    struct model m;
    model_make(&m, 4101, 20, 100);
    durlog *w = fx_open(&s, &(durlog_options){ .segment_size = ONE_SEGMENT });
    REQUIRE(w);
    model_append(w, &m, 0, 9, DURLOG_KERNEL);
    model_append(w, &m, 9, 10, DURLOG_SYNC);

    char seg[400];
    seg_file(seg, sizeof seg, s.log, 0);
    uint64_t end = DL_SEG_HEADER_SIZE + model_bytes(&m, 10);
    size_t len;
    unsigned char *before = file_read(seg, &len);
    REQUIRE(before && len >= end + 4096);
    uint64_t from = DL_SEG_HEADER_SIZE + model_bytes(&m, 2);
    uint64_t to = DL_SEG_HEADER_SIZE + model_bytes(&m, 5);
    REQUIRE(file_put(seg, end, before + from, to - from) == 0);

    uint64_t seq = 12345;
    CHECK_RC(durlog_append(w, model_payload(&m, 10), m.lens[10], DURLOG_KERNEL, &seq),
             DURLOG_EFAILED);
    const char *msg = durlog_errmsg(w);
    if (!strstr(msg, s.log) || !strstr(msg, "durlog check"))
        fprintf(stderr, "  the failure's message: \"%s\"\n", msg);
    CHECK(strstr(msg, s.log) != NULL);
    CHECK(strstr(msg, "durlog check") != NULL);
    CHECK_RC(durlog_append(w, model_payload(&m, 10), m.lens[10], DURLOG_SYNC, &seq),
             DURLOG_EFAILED);
    durlog_iov two[2] = { { model_payload(&m, 10), m.lens[10] }, { "x", 1 } };
    CHECK_RC(durlog_append_batch(w, two, 2, DURLOG_KERNEL, &seq), DURLOG_EFAILED);

    /* Nothing was written over the foreign bytes, nor over the records. */
    size_t now_len;
    unsigned char *now = file_read(seg, &now_len);
    REQUIRE(now && now_len >= end + (to - from));
    CHECK(memcmp(now + DL_SEG_HEADER_SIZE, before + DL_SEG_HEADER_SIZE,
                 end - DL_SEG_HEADER_SIZE) == 0);
    CHECK(memcmp(now + end, before + from, to - from) == 0);
    free(now);

    int end_rc;
    CHECK_EQ_U64(model_read_log(&m, s.log, &end_rc), 10);
    CHECK_RC(end_rc, DURLOG_EEND);
    CHECK_RC(fx_close(w), DURLOG_EFAILED);

    /* After the close nothing vouches for the foreign frames either. */
    CHECK_EQ_U64(model_read_log(&m, s.log, &end_rc), 10);
    CHECK(end_rc != 0);
    CHECK_EQ_U64(model_read_skipping(&m, s.log, NULL), 10);

    /* Close, reopen: the foreign bytes are cut into a side file (kept), and
     * the log goes on from record 10. */
    CHECK_OK(open_log(s.log, ONE_SEGMENT, &w));
    REQUIRE(w);
    durlog_recovery rec;
    durlog_last_recovery(w, &rec);
    CHECK(rec.bytes_cut >= to - from);
    CHECK_EQ_U64(rec.offset, end);
    CHECK(rec.side_file[0] != 0);
    CHECK_EQ_U64(log_next_seq(w), 10);
    model_append(w, &m, 10, 20, DURLOG_KERNEL);
    CHECK_OK(durlog_close(w));
    CHECK_EQ_U64(model_read_log(&m, s.log, &end_rc), 20);
    CHECK_RC(end_rc, DURLOG_EEND);
    free(before);
}

/* The same through the coordination file: a copy of durlog.shm taken after
 * record 4 is written back over the live one, in place (no truncation), while
 * the writer that has since appended records 5..9 has the log open. Its
 * tail is now record 5's place. The next append fails with DURLOG_EFAILED
 * naming durlog.shm instead of storing a record over acknowledged record 5;
 * close fails; after it, every record 0..9 reads back intact, and a writer
 * reopening the log continues at 10. (Before 9d77cfc the append returned 0
 * and record 5 was overwritten.) */
static void an_old_coordination_file_written_over_the_live_one_fails_the_next_append(void)
{
    struct scratch s;
    struct model m;
    model_make(&m, 4102, 20, 120);
    durlog *w = fx_open(&s, &(durlog_options){ .segment_size = ONE_SEGMENT });
    REQUIRE(w);
    model_append(w, &m, 0, 5, DURLOG_KERNEL);
    char shm[400], seg[400];
    log_file(shm, sizeof shm, s.log, DL_SHM_NAME);
    seg_file(seg, sizeof seg, s.log, 0);
    size_t old_len;
    unsigned char *old = file_read(shm, &old_len);
    REQUIRE(old && old_len >= DL_SHM_SIZE);
    model_append(w, &m, 5, 10, DURLOG_KERNEL);
    size_t len;
    unsigned char *before = file_read(seg, &len);
    REQUIRE(before);

    REQUIRE(file_put(shm, 0, old, old_len) == 0);
    CHECK_RC(durlog_append(w, model_payload(&m, 10), m.lens[10], DURLOG_KERNEL, NULL),
             DURLOG_EFAILED);
    const char *msg = durlog_errmsg(w);
    if (!strstr(msg, DL_SHM_NAME))
        fprintf(stderr, "  the failure's message: \"%s\"\n", msg);
    CHECK(strstr(msg, DL_SHM_NAME) != NULL);
    CHECK_RC(durlog_append(w, model_payload(&m, 10), m.lens[10], DURLOG_SYNC, NULL),
             DURLOG_EFAILED);
    /* The records are as they were: nothing was stored over record 5, nor
     * after record 9. */
    uint64_t end = DL_SEG_HEADER_SIZE + model_bytes(&m, 10);
    CHECK(range_equals(seg, before, DL_SEG_HEADER_SIZE, end, end + 4096));
    CHECK_RC(fx_close(w), DURLOG_EFAILED);
    int end_rc;
    CHECK_EQ_U64(model_read_log(&m, s.log, &end_rc), 10);
    CHECK_RC(end_rc, DURLOG_EEND);
    CHECK_OK(open_log(s.log, ONE_SEGMENT, &w));
    REQUIRE(w);
    CHECK_EQ_U64(log_next_seq(w), 10);
    model_append(w, &m, 10, 20, DURLOG_KERNEL);
    CHECK_OK(durlog_close(w));
    CHECK_EQ_U64(model_read_log(&m, s.log, &end_rc), 20);
    CHECK_RC(end_rc, DURLOG_EEND);
    free(old);
    free(before);
}

/* ------------------------------------------------------------------------
 * 2. A tail replaced (cp + mv) or a rolled segment removed under a writer
 * appending at `kernel`.
 */

/* cp seg tmp; mv tmp seg, done by hand. */
static int cp_and_mv(const char *log, const char *seg)
{
    char tmp[500];
    size_t len;
    snprintf(tmp, sizeof tmp, "%s/copy.tmp", log);
    unsigned char *bytes = file_read(seg, &len);
    int rc = bytes && file_write(tmp, bytes, len) == 0 && rename(tmp, seg) == 0 ? 0 : -1;
    free(bytes);
    return rc;
}

/* "<log>/<segment 0>.replaced-<inode>" holds the model's records 0..n-1,
 * in order, byte for byte. */
static void expect_saved(const char *log, struct model *m, uint64_t ino, uint64_t n)
{
    char name[DL_SEG_NAME_LEN + 1], path[500];
    size_t len = 0;
    seg_name_of(name, 0);
    snprintf(path, sizeof path, "%s/%s.replaced-%" PRIu64, log, name, ino);
    unsigned char *saved = file_read(path, &len);
    if (!saved)
        fprintf(stderr, "  %s was not saved\n", path);
    CHECK(saved != NULL);
    if (saved)
        CHECK_EQ_U64(frames_match(m, saved, len, 0, n), n);
    free(saved);
}

/* The new scratch log s, in one segment, of the model's 20 records of
 * 100..299 bytes: a writer appends records 0..9 at `kernel`, the tail is
 * replaced by cp + mv, and the writer appends 10..19 (acknowledged: a
 * kernel append is not checked one by one). Returns that writer, still
 * open, and in *ino the inode of the file replaced; NULL after a failed
 * CHECK. */
static durlog *tail_replaced_under_a_kernel_writer(struct scratch *s, struct model *m,
                                                   uint64_t salt, uint64_t *ino)
{
    model_make(m, salt, 20, 100);
    durlog *w = fx_open(s, &(durlog_options){ .segment_size = ONE_SEGMENT });
    if (!w)
        return NULL;
    model_append(w, m, 0, 10, DURLOG_KERNEL);
    char seg[400];
    seg_file(seg, sizeof seg, s->log, 0);
    *ino = inode_of(seg);
    if (*ino == 0 || cp_and_mv(s->log, seg) != 0 || inode_of(seg) == *ino) {
        CHECK(!"the tail replaced by cp + mv");
        return NULL;
    }
    model_append(w, m, 10, 20, DURLOG_KERNEL);
    return w;
}

/* A handle appends records 0..9 at `kernel`; the tail is copied and the copy
 * renamed over it; the handle appends 10..19 at `kernel` (acknowledged: a
 * kernel append is not checked one by one). durlog_close returns
 * DURLOG_EFAILED, and "<segment>.replaced-<inode of the old file>" holds
 * every one of the 20 records, in order, byte for byte, as the old file had
 * them. The log itself holds the copy: a reader returns records 0..9 and
 * nothing else. (Before 9d77cfc the old file was saved as
 * "<segment>.replaced".) */
static void kernel_appends_into_a_tail_replaced_by_cp_and_mv_are_saved_when_close_fails(void)
{
    struct scratch s;
    struct model m;
    uint64_t ino;
    durlog *w = tail_replaced_under_a_kernel_writer(&s, &m, 4201, &ino);
    REQUIRE(w);
    CHECK_RC(fx_close(w), DURLOG_EFAILED);

    expect_saved(s.log, &m, ino, 20);
    CHECK_EQ_U64(count_named(s.log, ".replaced"), 1);
    /* The log itself holds the copy: a reader returns records 0..9 and no
     * other record. (It then says record 10 is missing, since this boot's
     * writers published it, where `durlog check` calls the log clean: see
     * check_agrees_with_a_reader_after_a_tail_was_replaced below.) */
    durlog_reader *r = fx_reader(s.log, NULL);
    REQUIRE(r);
    int end_rc;
    CHECK_EQ_U64(model_read(&m, r, 0, &end_rc), 10);
    CHECK(end_rc == DURLOG_EEND ||
          (end_rc == DURLOG_ECORRUPT && strstr(durlog_reader_errmsg(r), "missing")));
    fx_reader_close(r);
}

/* Inode numbers are reused: on ext4 the next file created once a replaced
 * segment's old file is gone (the next copy put over the same segment, say)
 * often gets its number, so when that file is replaced in turn, the side
 * file of the first ("<segment>.replaced-<inode>", saved with other records)
 * is already under the name its save wants. Here, as the tail is replaced
 * under a `kernel` writer, such a file is planted (the copy's bytes: records
 * 0..9 only). durlog_close returns DURLOG_EFAILED and records 0..19 are
 * saved all the same, in "<segment>.replaced-<inode>.1"; the planted file is
 * left as it was. (Before the fix, the name taken counted as "saved already
 * by another writer holding the same file", and records 10..19, which no
 * other file holds, were lost: test_accidents failed about 1 run in 50.) */
static void a_replaced_tail_is_saved_even_where_its_inode_number_names_an_older_side_file(void)
{
    struct scratch s;
    struct model m;
    uint64_t ino;
    durlog *w = tail_replaced_under_a_kernel_writer(&s, &m, 4207, &ino);
    REQUIRE(w);
    char seg[400], planted[500], name[DL_SEG_NAME_LEN + 1];
    seg_file(seg, sizeof seg, s.log, 0);
    seg_name_of(name, 0);
    snprintf(planted, sizeof planted, "%s/%s.replaced-%" PRIu64, s.log, name, ino);
    size_t len = 0, plen = 0;
    unsigned char *copy = file_read(seg, &len);
    REQUIRE(copy);
    REQUIRE(file_write(planted, copy, len) == 0);
    CHECK_RC(fx_close(w), DURLOG_EFAILED);

    unsigned char *left = file_read(planted, &plen);
    CHECK(left && plen == len && memcmp(left, copy, len) == 0);
    free(left);
    free(copy);
    char path[520];
    snprintf(path, sizeof path, "%s.1", planted);
    unsigned char *saved = file_read(path, &plen);
    if (!saved)
        fprintf(stderr, "  %s was not saved: records 10..19 are in no file\n", path);
    CHECK(saved != NULL);
    if (saved)
        CHECK_EQ_U64(frames_match(&m, saved, plen, 0, 20), 20);
    free(saved);
    CHECK_EQ_U64(count_named(s.log, ".replaced"), 2);
}

/* A writer on the new scratch log s whose 4096-byte segments hold 12 of the
 * model's n records of 300 bytes each. NULL after a failed CHECK. */
static durlog *writer_of_twelve_a_segment(struct scratch *s, struct model *m, uint64_t salt,
                                          size_t n)
{
    model_same_len(m, salt, n, 300);
    if ((4096 - DL_SEG_HEADER_SIZE) / dl_rec_size(300) != 12) {
        CHECK(!"12 records of 300 bytes fill a 4096-byte segment");
        return NULL;
    }
    return fx_open(s, &(durlog_options){ .segment_size = 4096 });
}

/* Takes the seal lock of the log, as another process's sealer would hold
 * it: a segment rolled away from stays unsealed (and unsynced) until
 * release_seal_lock. Returns the coordination file it locked, or NULL after
 * a failed CHECK. */
static struct dl_shared *hold_seal_lock(const char *log)
{
    struct dl_shared *sh = tu_map_shared_rw(log);
    CHECK(sh != NULL);
    if (sh && pthread_mutex_lock(&sh->seal_lock) != 0) {
        CHECK(!"took the seal lock");
        tu_unmap_shared(sh);
        sh = NULL;
    }
    return sh;
}

static void release_seal_lock(struct dl_shared *sh)
{
    pthread_mutex_unlock(&sh->seal_lock);
    tu_unmap_shared(sh);
}

/* 4096-byte segments of 12 records of 300 bytes. A handle appends records
 * 0..4 at `kernel`; segment 0 is replaced by cp + mv; the handle appends
 * 5..11 (acknowledged, into the old file), then record 12, which needs a new
 * segment: the roll checks the tail it leaves, so that append fails with
 * DURLOG_EFAILED naming segment 0 and the saved file, and no segment 12 is
 * created. "<segment 0>.replaced-<inode>" holds records 0..11; close fails.
 * (Before 9d77cfc the roll went ahead: records 5..11 were in no file under
 * the log, and close returned 0.) */
static void a_roll_away_from_a_tail_replaced_by_cp_and_mv_fails_and_saves_it(void)
{
    struct scratch s;
    struct model m;
    durlog *w = writer_of_twelve_a_segment(&s, &m, 4202, 24);
    REQUIRE(w);
    model_append(w, &m, 0, 5, DURLOG_KERNEL);
    char seg[400], name[DL_SEG_NAME_LEN + 1];
    seg_file(seg, sizeof seg, s.log, 0);
    seg_name_of(name, 0);
    uint64_t ino = inode_of(seg);
    REQUIRE(ino != 0);
    REQUIRE(cp_and_mv(s.log, seg) == 0);
    model_append(w, &m, 5, 12, DURLOG_KERNEL);
    CHECK_RC(durlog_append(w, model_payload(&m, 12), m.lens[12], DURLOG_KERNEL, NULL),
             DURLOG_EFAILED);
    const char *msg = durlog_errmsg(w);
    char saved_name[80];
    snprintf(saved_name, sizeof saved_name, "%s.replaced-%" PRIu64, name, ino);
    if (!strstr(msg, name) || !strstr(msg, saved_name))
        fprintf(stderr, "  the failure's message: \"%s\"\n", msg);
    CHECK(strstr(msg, name) != NULL);
    CHECK(strstr(msg, saved_name) != NULL);
    char seg12[400];
    CHECK(!file_exists(seg_file(seg12, sizeof seg12, s.log, 12)));
    CHECK_RC(fx_close(w), DURLOG_EFAILED);

    expect_saved(s.log, &m, ino, 12);
}

/* 4096-byte segments of 12 records. The seal lock is held (as another
 * process's sealer would hold it), so segment 0, once rolled away from,
 * stays unsealed; a handle appends records 0..19 at `kernel` (segment 0
 * holds 0..11, segment 12 the rest); then segment 0's file is removed.
 * durlog_close returns DURLOG_EFAILED and saves the file it still holds as
 * "<segment 0>.replaced-<inode>", records 0..11 byte for byte. (Before
 * 9d77cfc only the current tail was checked at close: it returned 0, and
 * records 0..11 were gone.) */
static void close_fails_and_saves_a_rolled_segment_removed_before_its_seal(void)
{
    struct scratch s;
    struct model m;
    durlog *w = writer_of_twelve_a_segment(&s, &m, 4203, 20);
    struct dl_shared *sh = w ? hold_seal_lock(s.log) : NULL;
    REQUIRE(w && sh);
    model_append(w, &m, 0, 20, DURLOG_KERNEL);
    char seg[400], seg12[400];
    seg_file(seg, sizeof seg, s.log, 0);
    CHECK(file_exists(seg_file(seg12, sizeof seg12, s.log, 12)));
    CHECK((segment_flags(s.log, 0) & DL_SEG_F_SEALED) == 0);
    uint64_t ino = inode_of(seg);
    CHECK(ino != 0);
    CHECK(unlink(seg) == 0);
    CHECK_RC(fx_close(w), DURLOG_EFAILED);
    release_seal_lock(sh);

    expect_saved(s.log, &m, ino, 12);
}

/* 4096-byte segments of 12 records, the seal lock held (so segment 0 is
 * neither synced nor sealed in the background). A handle appends records
 * 0..4 at `kernel`; segment 0 is copied (the `cp` of a cp + mv); records
 * 5..13 are appended (rolling to segment 12 at record 12: segment 0 is
 * still the file under its name then); the copy, which lacks records 5..11,
 * is renamed over segment 0. A `sync` append of record 14 must not be
 * acknowledged: its sync would vouch for records 5..11, which the log no
 * longer holds. It fails with DURLOG_EFAILED naming segment 0, and the file
 * the handle still holds is saved as "<segment 0>.replaced-<inode>" with
 * records 0..11. (Before 9d77cfc the sync fsynced the copy and returned 0.) */
static void a_sync_append_after_a_rolled_segment_was_replaced_fails_and_saves_it(void)
{
    struct scratch s;
    struct model m;
    durlog *w = writer_of_twelve_a_segment(&s, &m, 4204, 20);
    struct dl_shared *sh = w ? hold_seal_lock(s.log) : NULL;
    REQUIRE(w && sh);
    model_append(w, &m, 0, 5, DURLOG_KERNEL);
    char seg[400], tmp[500], name[DL_SEG_NAME_LEN + 1];
    seg_file(seg, sizeof seg, s.log, 0);
    seg_name_of(name, 0);
    snprintf(tmp, sizeof tmp, "%s/copy.tmp", s.log);
    uint64_t ino = inode_of(seg);
    size_t len;
    unsigned char *copy = file_read(seg, &len);
    CHECK(copy && file_write(tmp, copy, len) == 0);
    free(copy);
    model_append(w, &m, 5, 14, DURLOG_KERNEL);
    char seg12[400];
    CHECK(file_exists(seg_file(seg12, sizeof seg12, s.log, 12)));
    CHECK(rename(tmp, seg) == 0);
    /* Record 14 is in the tail; the sync finds segment 0 replaced: the log
     * fails, and the append says its record is not durable (and why). */
    CHECK_RC(durlog_append(w, model_payload(&m, 14), m.lens[14], DURLOG_SYNC, NULL),
             DURLOG_ENOTDURABLE);
    const char *msg = durlog_errmsg(w);
    CHECK(strstr(msg, "failed state") != NULL);
    if (!strstr(msg, name))
        fprintf(stderr, "  the failure's message: \"%s\"\n", msg);
    CHECK(strstr(msg, name) != NULL);
    CHECK_RC(fx_close(w), DURLOG_EFAILED);
    release_seal_lock(sh);

    expect_saved(s.log, &m, ino, 12);
}

/* ------------------------------------------------------------------------
 * 3. durlog_info.missing.
 */

/* A closed log of 4096-byte segments: missing is 0 and records are
 * next_seq - first_seq, from a reader and from a writer. With a middle
 * segment's file moved out of the directory, both report exactly that
 * segment's records as missing (one fewer segment, the same first and next
 * seq). Put back, missing is 0 again. */
static void info_counts_the_records_of_a_moved_middle_segment_as_missing(void)
{
    struct scratch s;
    struct model m;
    scratch_make(&s);
    model_make(&m, 4301, 120, 100);
    build_closed(s.log, &m, 120, 4096);
    uint64_t segs[64];
    size_t n = list_segments(s.log, segs, 64);
    REQUIRE(n >= 5 && n <= 64);

    durlog_reader *r;
    durlog_info info;
    durlog *w;
    r = fx_reader(s.log, NULL);
    REQUIRE(r);
    memset(&info, 0xa5, sizeof info);
    CHECK_OK(durlog_reader_get_info(r, &info));
    CHECK_EQ_U64(info.missing, 0);
    CHECK_EQ_U64(info.segments, n);
    CHECK_EQ_U64(info.next_seq - info.first_seq, 120);
    fx_reader_close(r);
    CHECK_OK(open_log(s.log, 4096, &w));
    REQUIRE(w);
    memset(&info, 0xa5, sizeof info);
    CHECK_OK(durlog_get_info(w, &info));
    CHECK_EQ_U64(info.missing, 0);
    CHECK_OK(durlog_close(w));

    char seg[400], aside[400];
    seg_file(seg, sizeof seg, s.log, segs[2]);
    snprintf(aside, sizeof aside, "%s/moved.seg", s.dir);
    REQUIRE(rename(seg, aside) == 0);
    uint64_t gone = segs[3] - segs[2];

    r = fx_reader(s.log, NULL);
    REQUIRE(r);
    memset(&info, 0xa5, sizeof info);
    CHECK_OK(durlog_reader_get_info(r, &info));
    CHECK_EQ_U64(info.missing, gone);
    CHECK_EQ_U64(info.segments, n - 1);
    CHECK_EQ_U64(info.first_seq, 0);
    CHECK_EQ_U64(info.next_seq, 120);
    fx_reader_close(r);

    CHECK_OK(open_log(s.log, 4096, &w));
    REQUIRE(w);
    memset(&info, 0xa5, sizeof info);
    CHECK_OK(durlog_get_info(w, &info));
    CHECK_EQ_U64(info.missing, gone);
    CHECK_EQ_U64(info.segments, n - 1);
    CHECK_EQ_U64(info.next_seq, 120);
    CHECK_OK(durlog_close(w));

    REQUIRE(rename(aside, seg) == 0);
    r = fx_reader(s.log, NULL);
    REQUIRE(r);
    memset(&info, 0xa5, sizeof info);
    CHECK_OK(durlog_reader_get_info(r, &info));
    CHECK_EQ_U64(info.missing, 0);
    CHECK_EQ_U64(info.segments, n);
    fx_reader_close(r);
}

/* ------------------------------------------------------------------------
 * 4. durlog_check.
 */

/* The log's directory, opened and flock'ed as a writer (LOCK_SH) or a repair
 * (LOCK_EX) would hold it; -1 on failure. */
static int hold_dir(const char *log, int how)
{
    int fd = open(log, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0 && flock(fd, how | LOCK_NB) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* A closed log of 10 records without its coordination file, and the first
 * half of record 10's frame after them, as a writer copying it leaves it. */
static void build_with_a_record_half_copied(const struct scratch *s, struct model *m)
{
    model_make(m, 4401, 11, 100);
    build_closed(s->log, m, 10, ONE_SEGMENT);
    char path[400];
    CHECK(unlink(log_file(path, sizeof path, s->log, DL_SHM_NAME)) == 0);
    size_t size = dl_rec_size(m->lens[10]);
    unsigned char *frame = calloc(1, size);
    REQUIRE(frame);
    seg_file(path, sizeof path, s->log, 0);
    size_t len;
    unsigned char *seg = file_read(path, &len);
    struct dl_seg_header h;
    REQUIRE(seg && len >= DL_SEG_HEADER_SIZE && dl_seg_header_decode(seg, &h) == 0);
    free(seg);
    dl_rec_encode(frame, h.created_ns, 10, h.created_ns + 1, 0, model_payload(m, 10),
                  m->lens[10]);
    CHECK(file_put(path, DL_SEG_HEADER_SIZE + model_bytes(m, 10), frame, size / 2) == 0);
    free(frame);
}

/* Such a log while the directory's lock is held shared, as writers hold it
 * (their coordination file gone, so their published mark is unknown):
 * `check` reports it live and clean (the half record is one being copied),
 * and `check --repair` (forced too) refuses with -EBUSY saying a writer
 * has the log open, not that another repair runs. While the lock is held
 * exclusively, as a repair holds it: `check` finds the torn tail (nobody
 * is appending), and `check --repair` refuses saying another repair is
 * running. Nothing changes in the directory. Once the lock is free, the
 * repair cuts the half record. (Before 9d77cfc the shared holder got "another
 * repair ... is running on it, or a writer is opening it", and `check`
 * reported the record being copied as a torn tail.) */
static void check_and_repair_tell_writers_from_another_repair_holding_the_log(void)
{
    struct scratch s;
    struct model m;
    scratch_make(&s);
    build_with_a_record_half_copied(&s, &m);
    char seg[400];
    seg_file(seg, sizeof seg, s.log, 0);
    size_t len;
    unsigned char *before = file_read(seg, &len);
    REQUIRE(before);

    int fd = hold_dir(s.log, LOCK_SH);
    REQUIRE(fd >= 0);
    durlog_check_report rep = check_log(s.log, 0, 0);
    CHECK_EQ_U64(rep.live, 1);
    CHECK_EQ_U64(rep.damaged, 0);
    CHECK_EQ_U64(rep.records, 10);
    if (rep.damaged)
        fprintf(stderr, "  check under writers: %s\n", rep.problem);
    for (int force = 0; force <= 1; force++) {
        rep = check_log(s.log, DURLOG_CHECK_REPAIR | (force ? DURLOG_CHECK_FORCE : 0),
                        -EBUSY);
        if (!strstr(rep.problem, "writer has the log open") ||
            strstr(rep.problem, "another `durlog"))
            fprintf(stderr, "  repair under writers: \"%s\"\n", rep.problem);
        CHECK(strstr(rep.problem, "writer has the log open") != NULL);
        CHECK(strstr(rep.problem, "another `durlog") == NULL);
    }
    close(fd);

    fd = hold_dir(s.log, LOCK_EX);
    REQUIRE(fd >= 0);
    rep = check_log(s.log, 0, 0);
    CHECK_EQ_U64(rep.live, 0);
    CHECK_EQ_U64(rep.damaged, 1);
    CHECK_EQ_U64(rep.damage_at_tail, 1);
    rep = check_log(s.log, DURLOG_CHECK_REPAIR, -EBUSY);
    if (!strstr(rep.problem, "another `durlog check --repair`") ||
        strstr(rep.problem, "writer has the log open"))
        fprintf(stderr, "  repair under a repair: \"%s\"\n", rep.problem);
    CHECK(strstr(rep.problem, "another `durlog check --repair`") != NULL);
    CHECK(strstr(rep.problem, "writer has the log open") == NULL);
    close(fd);

    CHECK(file_equals(seg, before, len));
    CHECK_EQ_U64(count_named(s.log, ".cut-"), 0);
    rep = check_log(s.log, DURLOG_CHECK_REPAIR, 0);
    CHECK_EQ_U64(rep.damaged, 0);
    CHECK_EQ_U64(rep.records, 10);
    CHECK_EQ_U64(count_named(s.log, ".cut-"), 1);
    free(before);
}

/* A closed log of 10 records whose close checkpointed all 10; records 7..9
 * are then zeroed (the data ends cleanly after record 6, below what the
 * checkpoint promised). `check` reports damage: records that were durable
 * are missing, naming the segment. `--repair` without force refuses (the
 * damage is not a torn tail) and changes nothing. `--repair --force` keeps
 * records 0..6 where they are: it moves no segment aside and creates no side
 * file (there is nothing to cut), and lowers the checkpoint to record 7;
 * the log then checks clean and takes records 7..9 again. (Before 9d77cfc
 * the damage had no place, and the forced repair moved the whole segment
 * aside, leaving an empty log.) */
static void forced_repair_of_records_missing_under_a_checkpoint_cuts_nothing(void)
{
    struct scratch s;
    struct model m;
    scratch_make(&s);
    model_make(&m, 4402, 10, 100);
    build_closed(s.log, &m, 10, ONE_SEGMENT);
    char seg[400], name[DL_SEG_NAME_LEN + 1];
    seg_file(seg, sizeof seg, s.log, 0);
    seg_name_of(name, 0);
    int flags = segment_flags(s.log, 0);
    REQUIRE(flags >= 0 && (flags & DL_SEG_F_CKPT));
    uint64_t off7 = DL_SEG_HEADER_SIZE + model_bytes(&m, 7);
    REQUIRE(file_zero(seg, off7, model_bytes(&m, 10) - model_bytes(&m, 7)) == 0);
    size_t len;
    unsigned char *before = file_read(seg, &len);
    REQUIRE(before);

    durlog_check_report rep = check_log(s.log, 0, 0);
    CHECK_EQ_U64(rep.damaged, 1);
    CHECK_EQ_U64(rep.damage_at_tail, 0);
    CHECK(strstr(rep.problem, name) != NULL && strstr(rep.problem, "missing") != NULL);
    rep = check_log(s.log, DURLOG_CHECK_REPAIR, DURLOG_ECORRUPT);
    CHECK(file_equals(seg, before, len));

    rep = check_log(s.log, DURLOG_CHECK_REPAIR | DURLOG_CHECK_FORCE, 0);
    if (rep.damaged)
        fprintf(stderr, "  after the forced repair: %s\n", rep.problem);
    CHECK_EQ_U64(rep.damaged, 0);
    CHECK_EQ_U64(rep.records, 7);
    CHECK_EQ_U64(rep.side_files, 0);
    CHECK(file_exists(seg));
    CHECK_EQ_U64(count_named(s.log, ".cut-"), 0);
    size_t now_len;
    unsigned char *now = file_read(seg, &now_len);
    struct dl_seg_header h;
    REQUIRE(now && now_len == len);
    CHECK(memcmp(now + DL_SEG_HEADER_SIZE, before + DL_SEG_HEADER_SIZE,
                 len - DL_SEG_HEADER_SIZE) == 0);
    CHECK_OK(dl_seg_header_decode(now, &h));
    CHECK_EQ_U64(h.flags, DL_SEG_F_CKPT);
    CHECK_EQ_U64(h.ckpt_seq, 7);
    CHECK_EQ_U64(h.ckpt_off, off7);
    free(now);

    int end_rc;
    CHECK_EQ_U64(model_read_log(&m, s.log, &end_rc), 7);
    CHECK_RC(end_rc, DURLOG_EEND);
    durlog *w;
    CHECK_OK(open_log(s.log, ONE_SEGMENT, &w));
    REQUIRE(w);
    CHECK_EQ_U64(log_next_seq(w), 7);
    model_append(w, &m, 7, 10, DURLOG_KERNEL);
    CHECK_OK(durlog_close(w));
    CHECK_EQ_U64(model_read_log(&m, s.log, &end_rc), 10);
    CHECK_RC(end_rc, DURLOG_EEND);
    rep = check_log(s.log, 0, 0);
    CHECK_EQ_U64(rep.damaged, 0);
    free(before);
}

/* ------------------------------------------------------------------------
 * 5. Recovery without room for a side file; a refused recovery.
 */

/* Side files ("*.cut-*") cannot be written: their write fails with ENOSPC,
 * as on a full disk (their creation succeeds: an inode is free). */
static _Atomic int cut_fd = -1;

static int openat_noting_cut_files(int dirfd, const char *name, int flags, mode_t mode)
{
    int fd = dl_os_real.openat(dirfd, name, flags, mode);
    if (fd >= 0 && strstr(name, ".cut-"))
        atomic_store(&cut_fd, fd);
    return fd;
}

static ssize_t write_failing_on_cut_files(int fd, const void *buf, size_t len)
{
    if (fd == atomic_load(&cut_fd)) {
        errno = ENOSPC;
        return -1;
    }
    return dl_os_real.write(fd, buf, len);
}

static void no_room_for_side_files(int on)
{
    atomic_store(&cut_fd, -1);
    dl_os.openat = on ? openat_noting_cut_files : dl_os_real.openat;
    dl_os.write = on ? write_failing_on_cut_files : dl_os_real.write;
}

/* A closed log of 20 records, its checkpoints cleared (a writer crashed),
 * the last record torn (a stretch of its payload zeroed: no whole record in
 * what follows record 18). With no room for a side file, the open still
 * succeeds: the torn bytes are zeroed in place, reported as cut with no side
 * file, and no half-written side file is left; records 0..18 read back and
 * record 19 is appended again. (Before 9d77cfc the open failed with
 * -ENOSPC, every writer was kept out, and an empty side file remained.) */
static void recovery_without_room_for_a_side_file_zeroes_a_torn_tail_in_place(void)
{
    struct scratch s;
    struct model m;
    scratch_make(&s);
    model_make(&m, 4501, 20, 100);
    build_closed(s.log, &m, 20, ONE_SEGMENT);
    forget_checkpoints(s.log);
    char seg[400];
    seg_file(seg, sizeof seg, s.log, 0);
    uint64_t off19 = DL_SEG_HEADER_SIZE + model_bytes(&m, 19);
    REQUIRE(file_zero(seg, off19 + DL_REC_HEADER_SIZE + 40, 30) == 0);

    no_room_for_side_files(1);
    durlog *w = NULL;
    char err[512] = "";
    durlog_options o = {
        .segment_size = ONE_SEGMENT,
        .errbuf = err,
        .errbuf_size = sizeof err,
    };
    int rc = durlog_open(s.log, &o, &w);
    no_room_for_side_files(0);
    if (rc)
        fprintf(stderr, "  open: %s\n", err);
    CHECK_OK(rc);
    CHECK_EQ_U64(count_named(s.log, ".cut-"), 0);
    REQUIRE(w);
    durlog_recovery rec;
    durlog_last_recovery(w, &rec);
    CHECK(rec.bytes_cut > 0);
    CHECK_EQ_U64(rec.offset, off19);
    CHECK(rec.side_file[0] == 0);
    CHECK_EQ_U64(log_next_seq(w), 19);
    size_t len;
    unsigned char *now = file_read(seg, &len);
    CHECK(now && len > off19 && nonzero_extent(now + off19, len - off19) == 0);
    free(now);
    model_append(w, &m, 19, 20, DURLOG_KERNEL);
    CHECK_OK(durlog_close(w));
    int end_rc;
    CHECK_EQ_U64(model_read_log(&m, s.log, &end_rc), 20);
    CHECK_RC(end_rc, DURLOG_EEND);
}

/* The limit of that zeroing. The same without room for side files, but the
 * damage is followed by whole records recovery would cut (after a reboot: no
 * coordination file, nothing vouches for them): the open fails with -ENOSPC
 * and a message, zeroes nothing, and leaves no half-written side file behind;
 * once there is room, the open cuts them into a side file, byte for byte.
 * (Before 9d77cfc the failed side file stayed, empty.) */
static void recovery_without_room_for_a_side_file_never_zeroes_a_whole_record(void)
{
    struct scratch s;
    struct model m;
    scratch_make(&s);
    model_make(&m, 4502, 20, 100);
    build_closed(s.log, &m, 20, ONE_SEGMENT);
    forget_checkpoints(s.log);
    char seg[400], shm[400];
    CHECK(unlink(log_file(shm, sizeof shm, s.log, DL_SHM_NAME)) == 0);
    seg_file(seg, sizeof seg, s.log, 0);
    uint64_t off15 = DL_SEG_HEADER_SIZE + model_bytes(&m, 15);
    REQUIRE(file_flip_bit(seg, off15 + DL_REC_HEADER_SIZE + 3, 2) == 0);
    size_t len;
    unsigned char *before = file_read(seg, &len);
    REQUIRE(before);

    no_room_for_side_files(1);
    durlog *w = NULL;
    char err[512] = "";
    durlog_options o = {
        .segment_size = ONE_SEGMENT,
        .errbuf = err,
        .errbuf_size = sizeof err,
    };
    int rc = durlog_open(s.log, &o, &w);
    no_room_for_side_files(0);
    CHECK_RC(rc, -ENOSPC);
    if (w)
        durlog_close(w);
    CHECK(strstr(err, "No space left") != NULL);
    CHECK(file_equals(seg, before, len));
    CHECK_EQ_U64(count_named(s.log, ".cut-"), 0);

    CHECK_OK(open_log(s.log, ONE_SEGMENT, &w));
    REQUIRE(w);
    durlog_recovery rec;
    durlog_last_recovery(w, &rec);
    CHECK(rec.side_file[0] != 0);
    CHECK_EQ_U64(log_next_seq(w), 15);
    CHECK_OK(durlog_close(w));
    char side[400];
    size_t side_len = 0;
    unsigned char *kept = rec.side_file[0]
        ? file_read(log_file(side, sizeof side, s.log, rec.side_file), &side_len) : NULL;
    uint64_t cut = model_bytes(&m, 20) - model_bytes(&m, 15);
    CHECK(kept && side_len >= cut - 8 && memcmp(kept, before + off15, side_len) == 0);
    free(kept);
    free(before);
}

/* A real full disk: an 8 MiB ext4 image, loop-mounted (needs root, as
 * test_fulldisk does), holding a closed log of 20 records whose last record
 * is torn and whose checkpoints were cleared, then filled up by another
 * file. `durlog append` opens it: the torn bytes are zeroed in place (no
 * side file fits), it says so on standard error ("they held no whole record,
 * and there was no room to keep them"), and appends its record as record 19.
 * (Before 9d77cfc the command failed with "No space left on device" and no
 * writer could open the log until space was freed.) */
static void durlog_append_on_a_full_disk_zeroes_a_torn_tail_and_says_so(void)
{
    char dir[256], image[400], mnt[400], log[500], filler[500], cmd[3000];
    test_tmpdir(dir, sizeof dir);
    snprintf(image, sizeof image, "%s/disk.ext4", dir);
    snprintf(mnt, sizeof mnt, "%s/mnt", dir);
    snprintf(log, sizeof log, "%s/log", mnt);
    snprintf(filler, sizeof filler, "%s/filler", mnt);
    SKIP_UNLESS(geteuid() == 0, "mounts a file system: needs root");
    snprintf(cmd, sizeof cmd, "truncate -s 8M '%s' && mkfs.ext4 -q -F '%s' && mkdir -p '%s' "
             "&& mount -o loop '%s' '%s'", image, image, mnt, image, mnt);
    if (system(cmd) != 0) {
        fprintf(stderr, "  `%s` failed\n", cmd);
        CHECK(!"mounted a loop-back ext4 image");
        test_rmrf(dir);
        return;
    }
    struct model m;
    model_make(&m, 4504, 20, 100);
    build_closed(log, &m, 19, ONE_SEGMENT);
    forget_checkpoints(log);
    char seg[600], err[600];
    seg_file(seg, sizeof seg, log, 0);
    uint64_t off18 = DL_SEG_HEADER_SIZE + model_bytes(&m, 18);
    CHECK(file_zero(seg, off18 + DL_REC_HEADER_SIZE + 40, 30) == 0);
    snprintf(err, sizeof err, "%s/err", dir);
    const char *bin = getenv("DURLOG_BIN");
    /* Full to the last block (a large write stops short of the last few). */
    snprintf(cmd, sizeof cmd, "head -c 8000000 /dev/zero > '%s' 2>/dev/null; "
             "dd if=/dev/zero of='%s.2' bs=1024 2>/dev/null; "
             "dd if=/dev/zero of='%s.3' bs=1 2>/dev/null; "
             "'%s' append '%s' again 2>'%s'", filler, filler, filler,
             bin && *bin ? bin : "build/durlog", log, err);
    int status = system(cmd);
    size_t len;
    char *msg = (char *)file_read(err, &len);
    if (msg)
        msg[len ? len - 1 : 0] = '\0';
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) || !msg ||
        !strstr(msg, "no room to keep them"))
        fprintf(stderr, "  durlog append: status %d, stderr: %s\n", status, msg ? msg : "");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(msg && strstr(msg, "opening the log cut") && strstr(msg, "no room to keep them"));
    free(msg);
    CHECK_EQ_U64(count_named(log, ".cut-"), 0);
    /* Records 0..17, then "again" as record 18 (where the torn one was). */
    durlog_reader *r;
    durlog_record rec;
    CHECK_OK(durlog_reader_open(log, NULL, &r));
    if (r) {
        uint64_t n = 0;
        int rc;
        while ((rc = durlog_reader_next(r, &rec)) == 0 && n < 18 && model_matches(&m, &rec))
            n++;
        CHECK_EQ_U64(n, 18);
        CHECK(rc == 0 && rec.seq == 18 && rec.len == 5 && memcmp(rec.data, "again", 5) == 0);
        CHECK_RC(durlog_reader_next(r, &rec), DURLOG_EEND);
        durlog_reader_close(r);
    }
    durlog_check_report rep = check_log(log, 0, 0);
    CHECK_EQ_U64(rep.damaged, 0);
    CHECK_EQ_U64(rep.records, 19);
    snprintf(cmd, sizeof cmd, "umount '%s'", mnt);
    CHECK(system(cmd) == 0);
    test_rmrf(dir);
}

/* Segment `first`'s header as one no checkpoint was ever written into
 * (format.h: no flags, ckpt_seq its first record, ckpt_off 64). */
static int clear_checkpoint(const char *log, uint64_t first)
{
    char path[400];
    unsigned char hdr[DL_SEG_HEADER_SIZE];
    struct dl_seg_header h;
    int fd = open(seg_file(path, sizeof path, log, first), O_RDWR);
    int rc = -1;
    if (fd >= 0 && pread(fd, hdr, sizeof hdr, 0) == (ssize_t)sizeof hdr &&
        dl_seg_header_decode(hdr, &h) == 0) {
        h.flags = 0;
        h.ckpt_seq = first;
        h.ckpt_off = DL_SEG_HEADER_SIZE;
        dl_seg_header_encode(hdr, &h);
        if (pwrite(fd, hdr, sizeof hdr, 0) == (ssize_t)sizeof hdr)
            rc = 0;
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

/* pwrites of exactly [rewrite_off, rewrite_off + rewrite_len) of a file. */
static _Atomic uint64_t rewrite_off, rewrite_len;
static _Atomic int rewrites;

static ssize_t pwrite_counting_rewrites(int fd, const void *buf, size_t len, off_t off)
{
    if ((uint64_t)off == atomic_load(&rewrite_off) && len == atomic_load(&rewrite_len))
        atomic_fetch_add(&rewrites, 1);
    return dl_os_real.pwrite(fd, buf, len, off);
}

/* A closed log of 20 records without a checkpoint, and its coordination
 * file from another boot (its boot id changed): a writer's open recovers
 * leniently and must fdatasync the records before it trusts them. That
 * fdatasync fails (EIO): the open fails. The failed rebuild keeps, in the
 * coordination file, that a sync of this log failed, so the next open (the
 * disk well again) first writes the records it keeps again from the page
 * cache (a failed fdatasync may leave pages clean but never written, which a
 * plain fdatasync would then report durable), then syncs them: one pwrite of
 * exactly the records' bytes. It succeeds with all 20 records. (Before
 * 9d77cfc the failed rebuild forgot both the log's identity and the failure,
 * and the next open synced without writing anything again.) */
static void a_recovery_whose_fdatasync_failed_writes_the_records_again_on_the_next_open(void)
{
    struct scratch s;
    struct model m;
    scratch_make(&s);
    model_make(&m, 4505, 20, 100);
    build_closed(s.log, &m, 20, ONE_SEGMENT);
    REQUIRE(clear_checkpoint(s.log, 0) == 0);
    struct dl_shared *sh = tu_map_shared_rw(s.log);
    REQUIRE(sh);
    sh->boot_id[0] = sh->boot_id[0] == 'x' ? 'y' : 'x'; /* another boot */
    tu_unmap_shared(sh);

    durlog_options o = { .segment_size = ONE_SEGMENT };
    char err[512] = "";
    o.errbuf = err;
    o.errbuf_size = sizeof err;
    durlog *w = NULL;
    atomic_store(&tu_fdatasync_fails, 1);
    dl_os.fdatasync = tu_fdatasync_maybe_eio;
    CHECK_RC(durlog_open(s.log, &o, &w), -EIO);
    dl_os.fdatasync = dl_os_real.fdatasync;
    atomic_store(&tu_fdatasync_fails, 0);
    if (w)
        durlog_close(w);
    w = NULL;

    atomic_store(&rewrite_off, DL_SEG_HEADER_SIZE);
    atomic_store(&rewrite_len, model_bytes(&m, 20));
    atomic_store(&rewrites, 0);
    dl_os.pwrite = pwrite_counting_rewrites;
    int rc = durlog_open(s.log, &o, &w);
    dl_os.pwrite = dl_os_real.pwrite;
    if (rc)
        fprintf(stderr, "  second open: %s\n", err);
    CHECK_OK(rc);
    CHECK_EQ_U64(atomic_load(&rewrites), 1);
    if (w) {
        CHECK_EQ_U64(log_next_seq(w), 20);
        CHECK_OK(durlog_close(w));
    }
    int end_rc;
    CHECK_EQ_U64(model_read_log(&m, s.log, &end_rc), 20);
    CHECK_RC(end_rc, DURLOG_EEND);
}

/* A closed log of 20 records (kernel appends only: no record vouches for
 * another), its checkpoints cleared as a crash leaves them, its coordination
 * file from this boot (so recovery is strict), and record 5 damaged with
 * good records after it. The open is refused with DURLOG_ECORRUPT; so is
 * the next one: the failed rebuild kept what made it strict, so it is not
 * retried as a lenient one that would cut records 5..19. The segment is
 * unchanged and no side file appears. (Before 9d77cfc the second open cut
 * them.) */
static void a_refused_recovery_is_refused_again_by_the_next_open(void)
{
    struct scratch s;
    struct model m;
    scratch_make(&s);
    model_make(&m, 4503, 20, 100);
    build_closed(s.log, &m, 20, ONE_SEGMENT);
    forget_checkpoints(s.log);
    char seg[400];
    seg_file(seg, sizeof seg, s.log, 0);
    uint64_t off5 = DL_SEG_HEADER_SIZE + model_bytes(&m, 5);
    REQUIRE(file_flip_bit(seg, off5 + DL_REC_HEADER_SIZE + 7, 1) == 0);
    size_t len;
    unsigned char *before = file_read(seg, &len);
    REQUIRE(before);
    for (int attempt = 0; attempt < 3; attempt++) {
        durlog *w = NULL;
        char err[512] = "";
        durlog_options o = {
            .segment_size = ONE_SEGMENT,
            .errbuf = err,
            .errbuf_size = sizeof err,
        };
        int rc = durlog_open(s.log, &o, &w);
        if (rc != DURLOG_ECORRUPT)
            fprintf(stderr, "  open %d returned %d (%s)\n", attempt + 1, rc, err);
        CHECK_RC(rc, DURLOG_ECORRUPT);
        if (w)
            durlog_close(w);
        CHECK(strstr(err, "durlog check") != NULL);
    }
    CHECK(file_equals(seg, before, len));
    CHECK_EQ_U64(count_named(s.log, ".cut-"), 0);
    CHECK_EQ_U64(model_read_skipping(&m, s.log, NULL), 19);
    free(before);
}

/* ------------------------------------------------------------------------
 * Found by these tests, fixed since.
 */

/* The failure for a segment overwritten in place names the segment file
 * (it used to blame durlog.shm, whatever file was overwritten). */
static void the_overwrite_failure_names_the_overwritten_segment_file(void)
{
    struct scratch s;
    struct model m;
    model_make(&m, 4901, 11, 100);
    durlog *w = fx_open(&s, &(durlog_options){ .segment_size = ONE_SEGMENT });
    REQUIRE(w);
    model_append(w, &m, 0, 10, DURLOG_KERNEL);
    char seg[400], name[DL_SEG_NAME_LEN + 1];
    seg_file(seg, sizeof seg, s.log, 0);
    seg_name_of(name, 0);
    static const char foreign[64] = "someone else's bytes, where record 10 goes";
    REQUIRE(file_put(seg, DL_SEG_HEADER_SIZE + model_bytes(&m, 10), foreign,
                     sizeof foreign) == 0);
    CHECK_RC(durlog_append(w, model_payload(&m, 10), m.lens[10], DURLOG_KERNEL, NULL),
             DURLOG_EFAILED);
    const char *msg = durlog_errmsg(w);
    if (!strstr(msg, name))
        fprintf(stderr, "  the failure's message does not name %s: \"%s\"\n", name, msg);
    CHECK(strstr(msg, name) != NULL);
    fx_close(w);
}

/* After a tail replaced by cp + mv under a `kernel` writer (its close
 * failed, its records 10..19 saved in <segment>.replaced-<inode>), a reader
 * stops after record 9 with DURLOG_ECORRUPT, "record 10 is missing ...; run
 * `durlog check`" (this boot's coordination file says records up to 19 were
 * published). `durlog check` must agree (it used to call the log clean),
 * and its repair, with nothing to cut, drops that promise: then both call
 * the log whole. */
static void check_agrees_with_a_reader_after_a_tail_was_replaced(void)
{
    struct scratch s;
    struct model m;
    uint64_t ino;
    durlog *w = tail_replaced_under_a_kernel_writer(&s, &m, 4902, &ino);
    REQUIRE(w);
    CHECK_RC(fx_close(w), DURLOG_EFAILED);
    int end_rc;
    uint64_t n = model_read_log(&m, s.log, &end_rc);
    durlog_check_report rep = check_log(s.log, 0, 0);
    if ((end_rc == DURLOG_ECORRUPT) != (rep.damaged == 1))
        fprintf(stderr, "  a reader read %" PRIu64 " records and ended with %d (%s); "
                "durlog_check: damaged %d, %" PRIu64 " records (\"%s\")\n", n, end_rc,
                durlog_strerror(end_rc), rep.damaged, rep.records, rep.problem);
    CHECK((end_rc == DURLOG_ECORRUPT) == (rep.damaged == 1));
    CHECK_EQ_U64(rep.damaged, 1);
    CHECK(strstr(rep.problem, "records 10 to 19 are missing") != NULL);
    durlog_check_report fixed;
    CHECK_OK(durlog_check(s.log, DURLOG_CHECK_REPAIR, &fixed));
    CHECK_EQ_U64(fixed.damaged, 0);
    CHECK_EQ_U64(model_read_log(&m, s.log, &end_rc), 10);
    CHECK_RC(end_rc, DURLOG_EEND);
    rep = check_log(s.log, 0, 0);
    CHECK_EQ_U64(rep.damaged, 0);
}

/* ------------------------------------------------------------------------
 * 6. Issue #16: durlog.shm as untrusted input; who may write a log.
 */

#define NOBODY 65534

/* Maps <log>/durlog.shm read-write, as any other process that may write the
 * log can. */
static struct dl_shared *map_shm(const char *log)
{
    char path[400];
    int fd = open(log_file(path, sizeof path, log, DL_SHM_NAME), O_RDWR);
    if (fd < 0)
        return NULL;
    void *p = mmap(NULL, DL_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return p == MAP_FAILED ? NULL : p;
}

static void unmap_shm(struct dl_shared *sh)
{
    if (sh)
        munmap(sh, DL_SHM_SIZE);
}

/* The log fails for another reason before the replacement of its tail is
 * found: here the first sync after a rebuild that found a dead sync
 * leader's mark (as an old copy of durlog.shm taken during an fdatasync
 * brings back) checks the records not proven durable, by the segment's
 * name, and the copy put there by cp + mv lacks records 10..19, which looks
 * like pages a failed fdatasync lost: the log enters the failed state for
 * a failed sync (DL_FAIL_SYNC). Records 10..19, acknowledged at `kernel`,
 * are in the old file only. durlog_close returns DURLOG_EFAILED and
 * "<segment>.replaced-<inode>" holds all 20. (Before the fix a replaced
 * file was saved only while the log had not failed, or had failed for that
 * very replacement, and they were lost: test_accidents, 1 run in 50,
 * "kernel records acknowledged right after a tail was replaced, in no
 * file".) */
static void a_replaced_tail_is_saved_when_the_log_already_failed_for_another_reason(void)
{
    struct scratch s;
    struct model m;
    model_make(&m, 4213, 20, 100);
    durlog *w = fx_open(&s, &(durlog_options){ .segment_size = ONE_SEGMENT });
    REQUIRE(w);
    model_append(w, &m, 0, 10, DURLOG_KERNEL);
    struct dl_shared *sh = map_shm(s.log);
    REQUIRE(sh);
    sh->sync_started_ns = 1;
    char seg[400];
    seg_file(seg, sizeof seg, s.log, 0);
    uint64_t ino = inode_of(seg);
    REQUIRE(ino != 0 && cp_and_mv(s.log, seg) == 0 && inode_of(seg) != ino);
    model_append(w, &m, 10, 20, DURLOG_KERNEL);
    CHECK_RC(durlog_flush(w, DURLOG_SYNC), DURLOG_EFAILED);
    /* The failure this case is about: another one than the replacement. */
    CHECK_EQ_U64(atomic_load(&sh->failed), DL_FAIL_SYNC);
    unmap_shm(sh);
    CHECK_RC(fx_close(w), DURLOG_EFAILED);
    expect_saved(s.log, &m, ino, 20);
    CHECK_EQ_U64(count_named(s.log, ".replaced"), 1);
}

/* The writer's last failure names durlog.shm and `what`. */
static void check_blames_shm(durlog *w, const char *what)
{
    const char *msg = durlog_errmsg(w);
    CHECK(strstr(msg, DL_SHM_NAME) != NULL);
    CHECK(strstr(msg, what) != NULL);
    if (!strstr(msg, DL_SHM_NAME) || !strstr(msg, what))
        fprintf(stderr, "  message: %s\n", msg);
}

/* Someone writes an absurd last_time_ns (the tail's last record time) into
 * durlog.shm while a writer has the log open: UINT64_MAX, and a time 200
 * hours after the tail segment's base. A record's time is the later of the
 * clock and that value, stored as a 48-bit offset from the segment's base:
 * the writer used to store UINT64_MAX - base truncated to 48 bits (a time
 * that is neither the clock's nor the claimed one, before the previous
 * record's: a resync's time filter then skips good records). Now a time
 * the tail cannot hold makes the writer start a new segment, whose records
 * carry the clock's time; every record reads back in order, with the
 * clock's times (within an hour), never decreasing. */
static void an_absurd_last_time_in_the_coordination_file_never_wraps_a_time(void)
{
    struct scratch s;
    scratch_make(&s);
    durlog *w;
    REQUIRE(open_log(s.log, ONE_SEGMENT, &w) == 0);
    for (int i = 0; i < 3; i++)
        CHECK_OK(durlog_append(w, "before", 6, DURLOG_KERNEL, NULL));
    struct dl_shared *sh = map_shm(s.log);
    REQUIRE(sh);
    sh->last_time_ns = UINT64_MAX;
    CHECK_OK(durlog_append(w, "after max", 9, DURLOG_KERNEL, NULL));
    uint64_t now = (uint64_t)time(NULL) * 1000000000ull;
    sh->last_time_ns = now + 200ull * 3600 * 1000000000ull;
    CHECK_OK(durlog_append(w, "after 200 h", 11, DURLOG_KERNEL, NULL));
    CHECK_OK(durlog_append(w, "last", 4, DURLOG_KERNEL, NULL));
    unmap_shm(sh);
    CHECK_OK(durlog_close(w));

    durlog_reader *r = fx_reader(s.log, NULL);
    REQUIRE(r);
    durlog_record rec;
    uint64_t n = 0, prev = 0;
    while (durlog_reader_next(r, &rec) == 0) {
        CHECK_EQ_U64(rec.seq, n);
        CHECK(rec.time_ns >= now - 3600ull * 1000000000ull);
        CHECK(rec.time_ns <= now + 3600ull * 1000000000ull);
        if (rec.time_ns < prev)
            fprintf(stderr, "  record %" PRIu64 ": time %" PRIu64 " before %" PRIu64 "\n",
                    rec.seq, rec.time_ns, prev);
        CHECK(rec.time_ns >= prev);
        prev = rec.time_ns;
        n++;
    }
    CHECK_EQ_U64(n, 6);
    fx_reader_close(r);
}

/* A writer has appended records 0..9 to a 64 KiB segment. Someone writes
 * into durlog.shm a tail that points past the writer's mapping of that
 * segment (capacity and allocation 1 GiB, the next record at 68 KiB). The
 * next append fails with DURLOG_EFAILED naming durlog.shm and the value,
 * and stores nothing (before: the record was copied 4 KiB past the end of
 * the mapping, over whatever memory lay there, or the process died); a
 * reader returns records 0..9; once every writer closed, the next open
 * rebuilds the file and appends go on from record 10. */
static void a_tail_past_the_segment_in_the_coordination_file_fails_the_log(void)
{
    struct scratch s;
    struct model m;
    scratch_make(&s);
    model_make(&m, 1601, 11, 100);
    durlog *w;
    REQUIRE(open_log(s.log, ONE_SEGMENT, &w) == 0);
    model_append(w, &m, 0, 10, DURLOG_KERNEL);
    struct dl_shared *sh = map_shm(s.log);
    REQUIRE(sh);
    sh->tail_capacity = sh->tail_alloc = (uint64_t)1 << 30;
    sh->tail_off = sh->reserve_end = ONE_SEGMENT + 4096;
    CHECK_RC(durlog_append(w, model_payload(&m, 10), m.lens[10], DURLOG_KERNEL, NULL),
             DURLOG_EFAILED);
    check_blames_shm(w, "tail_capacity");
    /* Every later call says why too, without looking at the tail again. */
    CHECK_RC(durlog_append(w, "x", 1, DURLOG_SYNC, NULL), DURLOG_EFAILED);
    CHECK(strstr(durlog_errmsg(w), DL_SHM_NAME) != NULL);
    int end_rc;
    CHECK_EQ_U64(model_read_log(&m, s.log, &end_rc), 10);
    CHECK_RC(end_rc, DURLOG_EEND);
    CHECK_RC(durlog_close(w), DURLOG_EFAILED);
    unmap_shm(sh);

    REQUIRE(open_log(s.log, ONE_SEGMENT, &w) == 0);
    model_append(w, &m, 10, 11, DURLOG_SYNC);
    CHECK_OK(durlog_close(w));
    CHECK_EQ_U64(model_read_log(&m, s.log, &end_rc), 11);
    CHECK_RC(end_rc, DURLOG_EEND);
    model_free(&m);
    scratch_remove(&s);
}

/* Whether the writer maps its tail (mmap I/O). If not, the case is
 * skipped: the handle, the model and the scratch directory go first. */
static int tail_is_mapped(durlog *w, struct model *m, struct scratch *s)
{
    if (strcmp(durlog_io(w), "mmap") == 0)
        return 1;
    durlog_close(w);
    model_free(m);
    scratch_remove(s);
    return 0;
}

/* Records 0..4 synced into the tail, then someone truncates its file to
 * 200 bytes: inside the page the records are on, so no store or touch
 * faults, and the fdatasync of the short file succeeds. The next sync
 * append must not be acknowledged as durable (before: it returned 0, and
 * after close a reader found record 1 damaged and record 5 gone): it is
 * DURLOG_ENOTDURABLE naming the truncated file, and the log is failed. */
static void a_tail_truncated_within_its_last_page_is_never_acknowledged_durable(void)
{
    struct scratch s;
    struct model m;
    scratch_make(&s);
    model_make(&m, 1605, 6, 100);
    durlog *w;
    REQUIRE(open_log(s.log, ONE_SEGMENT, &w) == 0);
    SKIP_UNLESS(tail_is_mapped(w, &m, &s), "the tail is not mapped here");
    model_append(w, &m, 0, 5, DURLOG_SYNC);
    char path[512];
    char name[DL_SEG_NAME_LEN + 1];
    seg_name_of(name, 0);
    REQUIRE(truncate(log_file(path, sizeof path, s.log, name), 200) == 0);
    CHECK_RC(durlog_append(w, model_payload(&m, 5), m.lens[5], DURLOG_SYNC, NULL),
             DURLOG_ENOTDURABLE);
    CHECK(strstr(durlog_errmsg(w), name) != NULL);
    CHECK(strstr(durlog_errmsg(w), "truncated") != NULL);
    CHECK_RC(durlog_append(w, "x", 1, DURLOG_SYNC, NULL), DURLOG_EFAILED);
    CHECK_RC(durlog_close(w), DURLOG_EFAILED);
    model_free(&m);
    scratch_remove(&s);
}

/* The same cut under an asynchronous `sync` append. In mmap mode it writes
 * its record with pwrite (writer.c: writes_by_pwrite), which grows the file
 * back to just past the record, over the zeros where records 1 to 4 were:
 * the file then reaches the tail again, but no longer what was allocated.
 * The completion must fail with the log (never status 0), and the log is
 * failed. */
static _Atomic int cut_status;
static _Atomic int cut_calls;

static void note_cut_status(void *ctx, uint64_t seq, int status)
{
    (void)ctx;
    (void)seq;
    atomic_store(&cut_status, status);
    atomic_fetch_add(&cut_calls, 1);
}

static void a_tail_truncated_under_an_async_sync_append_is_never_acknowledged_durable(void)
{
    struct scratch s;
    struct model m;
    scratch_make(&s);
    model_make(&m, 1606, 6, 100);
    durlog *w;
    REQUIRE(open_log(s.log, ONE_SEGMENT, &w) == 0);
    SKIP_UNLESS(tail_is_mapped(w, &m, &s), "the tail is not mapped here");
    model_append(w, &m, 0, 5, DURLOG_SYNC);
    char path[512];
    char name[DL_SEG_NAME_LEN + 1];
    seg_name_of(name, 0);
    REQUIRE(truncate(log_file(path, sizeof path, s.log, name), 200) == 0);
    atomic_store(&cut_status, 0);
    atomic_store(&cut_calls, 0);
    CHECK_OK(durlog_append_async(w, model_payload(&m, 5), m.lens[5], DURLOG_SYNC,
                                 note_cut_status, NULL, NULL));
    CHECK(durlog_close(w) != 0); /* delivers the completion */
    CHECK_EQ_U64((uint64_t)atomic_load(&cut_calls), 1);
    CHECK_RC(atomic_load(&cut_status), DURLOG_EFAILED);
    model_free(&m);
    scratch_remove(&s);
}

/* The tail segment removed (rm, a clean-up script) under a writer that has
 * not synced it yet: an asynchronous `sync` append must be told, while the
 * handle is still open, that its record will never be durable
 * (DURLOG_EFAILED: the segment was removed). The engine could not open the
 * segment to sync it and took that for a passing shortage of descriptors,
 * retrying every 10 ms for as long as the handle stayed open: the
 * completion never came (found from Python, where the future never
 * resolved). */
static void a_tail_removed_under_an_async_sync_append_fails_it_before_close(void)
{
    struct scratch s;
    struct model m;
    scratch_make(&s);
    model_make(&m, 1607, 6, 100);
    durlog *w;
    REQUIRE(open_log(s.log, ONE_SEGMENT, &w) == 0);
    model_append(w, &m, 0, 5, DURLOG_KERNEL);
    char path[512];
    char name[DL_SEG_NAME_LEN + 1];
    seg_name_of(name, 0);
    REQUIRE(unlink(log_file(path, sizeof path, s.log, name)) == 0);
    atomic_store(&cut_status, 0);
    atomic_store(&cut_calls, 0);
    CHECK_OK(durlog_append_async(w, model_payload(&m, 5), m.lens[5], DURLOG_SYNC,
                                 note_cut_status, NULL, NULL));
    /* A hang guard, not a speed claim: the engine retries every 10 ms. */
    for (int i = 0; i < 1000 && !atomic_load(&cut_calls); i++)
        usleep(10000);
    CHECK_EQ_U64((uint64_t)atomic_load(&cut_calls), 1);
    CHECK_RC(atomic_load(&cut_status), DURLOG_EFAILED);
    CHECK(durlog_close(w) != 0);
    CHECK_EQ_U64((uint64_t)atomic_load(&cut_calls), 1);
    model_free(&m);
    scratch_remove(&s);
}

/* durlog.shm replaced, between writers, by something that is not a
 * regular file: a FIFO and a directory are both DURLOG_EFORMAT naming it
 * (the directory was -EISDIR, against the manual); a symbolic link is
 * -ELOOP saying it must not be one. Nothing is written through any. */
static void a_coordination_file_that_is_not_a_regular_file_is_eformat(void)
{
    struct scratch s;
    scratch_make(&s);
    durlog *w;
    REQUIRE(open_log(s.log, ONE_SEGMENT, &w) == 0);
    CHECK_OK(durlog_append(w, "r", 1, DURLOG_SYNC, NULL));
    CHECK_OK(durlog_close(w));
    char shm[512];
    log_file(shm, sizeof shm, s.log, DL_SHM_NAME);
    for (int kind = 0; kind < 3; kind++) {
        REQUIRE(unlink(shm) == 0 || rmdir(shm) == 0);
        if (kind == 0)
            REQUIRE(mkfifo(shm, 0644) == 0);
        else if (kind == 1)
            REQUIRE(mkdir(shm, 0755) == 0);
        else
            REQUIRE(symlink("/dev/null", shm) == 0);
        w = NULL;
        CHECK_RC(open_log(s.log, ONE_SEGMENT, &w), kind < 2 ? DURLOG_EFORMAT : -ELOOP);
        CHECK(w == NULL);
        CHECK(strstr(durlog_last_errmsg(), DL_SHM_NAME) != NULL);
        if (kind == 2)
            CHECK(strstr(durlog_last_errmsg(), "symbolic link") != NULL);
    }
    REQUIRE(unlink(shm) == 0);
    REQUIRE(open_log(s.log, ONE_SEGMENT, &w) == 0);
    CHECK_OK(durlog_close(w));
    scratch_remove(&s);
}

/* Someone writes a failure code no writer leaves (0xffffffff) into
 * durlog.shm's `failed` word. The writer's next append fails with
 * DURLOG_EFAILED naming durlog.shm (before: "an earlier fdatasync failed",
 * blaming the disk for what another user did), and so does its close. */
static void an_unknown_failure_code_in_the_coordination_file_is_blamed_on_it(void)
{
    struct scratch s;
    struct model m;
    scratch_make(&s);
    model_make(&m, 1603, 4, 100);
    durlog *w;
    REQUIRE(open_log(s.log, ONE_SEGMENT, &w) == 0);
    model_append(w, &m, 0, 3, DURLOG_SYNC);
    struct dl_shared *sh = map_shm(s.log);
    REQUIRE(sh);
    atomic_store(&sh->failed, 0xffffffffu);
    CHECK_RC(durlog_append(w, model_payload(&m, 3), m.lens[3], DURLOG_SYNC, NULL),
             DURLOG_EFAILED);
    check_blames_shm(w, "failure code");
    CHECK(strstr(durlog_errmsg(w), "fdatasync") == NULL);
    CHECK_RC(durlog_close(w), DURLOG_EFAILED);
    CHECK(strstr(durlog_last_errmsg(), DL_SHM_NAME) != NULL);
    unmap_shm(sh);
    int end_rc;
    CHECK_EQ_U64(model_read_log(&m, s.log, &end_rc), 3);
    model_free(&m);
    scratch_remove(&s);
}

/* Records 0..9 appended; someone moves durlog.shm's published mark 100
 * records ahead. A live reader returns records 0..9, then fails with
 * DURLOG_ECORRUPT naming durlog.shm (before: "record 10 is missing", naming
 * only the segment); its wait returns at once (there seems to be a record),
 * and so does the next call, with the same error: it neither hangs nor
 * skips. The writer's next append fails naming published_seq. */
static void a_published_mark_moved_ahead_makes_readers_fail_naming_the_file(void)
{
    struct scratch s;
    struct model m;
    scratch_make(&s);
    model_make(&m, 1602, 10, 100);
    durlog *w;
    REQUIRE(open_log(s.log, ONE_SEGMENT, &w) == 0);
    model_append(w, &m, 0, 10, DURLOG_KERNEL);
    durlog_reader *r;
    REQUIRE(durlog_reader_open(s.log, NULL, &r) == 0);
    struct dl_shared *sh = map_shm(s.log);
    REQUIRE(sh);
    atomic_store(&sh->published_seq, 110);
    int end_rc;
    CHECK_EQ_U64(model_read(&m, r, 0, &end_rc), 10);
    CHECK_RC(end_rc, DURLOG_ECORRUPT);
    CHECK(strstr(durlog_reader_errmsg(r), DL_SHM_NAME) != NULL);
    uint64_t t0 = dl_mono_ns();
    CHECK_OK(durlog_reader_wait(r, 5000));
    CHECK(dl_mono_ns() - t0 < 1000000000u);
    durlog_record rec;
    CHECK_RC(durlog_reader_next(r, &rec), DURLOG_ECORRUPT);
    durlog_reader_close(r);
    CHECK_RC(durlog_append(w, "x", 1, DURLOG_KERNEL, NULL), DURLOG_EFAILED);
    check_blames_shm(w, "published_seq");
    durlog_close(w);
    unmap_shm(sh);
    model_free(&m);
    scratch_remove(&s);
}

/* The sync lock's word says a thread holds it that is not there (an old
 * copy of durlog.shm written over the live one would say so). A sync
 * append gives up once the sync lock's patience (shortened here from
 * 120 s) runs out with no sync finishing: DURLOG_ENOTDURABLE (the record
 * itself was appended), with a message naming the lock and durlog.shm
 * (before: it waited for ever); durlog_flush at sync times out the same
 * way, with -ETIMEDOUT. */
static void a_sync_lock_held_by_nobody_times_out_instead_of_hanging(void)
{
    struct scratch s;
    scratch_make(&s);
    durlog *w;
    REQUIRE(open_log(s.log, ONE_SEGMENT, &w) == 0);
    CHECK_OK(durlog_append(w, "a", 1, DURLOG_SYNC, NULL));
    struct dl_shared *sh = map_shm(s.log);
    REQUIRE(sh);
    uint64_t saved = atomic_load(&dl_sync_patience_ns);
    atomic_store(&dl_sync_patience_ns, 300000000u);
    int word = 0x3ffffff0; /* a thread id no thread has (above pid_max) */
    memcpy(&sh->sync_lock, &word, sizeof word);
    uint64_t t0 = dl_mono_ns(), seq = 0;
    CHECK_RC(durlog_append(w, "b", 1, DURLOG_SYNC, &seq), DURLOG_ENOTDURABLE);
    CHECK(dl_mono_ns() - t0 < 5000000000u);
    CHECK(strstr(durlog_errmsg(w), "sync lock") != NULL);
    CHECK(strstr(durlog_errmsg(w), DL_SHM_NAME) != NULL);
    CHECK_RC(durlog_flush(w, DURLOG_SYNC), -ETIMEDOUT);
    CHECK(strstr(durlog_errmsg(w), "sync lock") != NULL);
    atomic_store(&dl_sync_patience_ns, saved);
    durlog_reader *r;
    REQUIRE(durlog_reader_open(s.log, NULL, &r) == 0);
    durlog_record rec;
    CHECK_OK(durlog_reader_next(r, &rec));
    CHECK_OK(durlog_reader_next(r, &rec));
    CHECK(rec.seq == seq && rec.len == 1 && memcmp(rec.data, "b", 1) == 0);
    CHECK_RC(durlog_reader_next(r, &rec), DURLOG_EEND);
    durlog_reader_close(r);
    durlog_close(w);
    unmap_shm(sh);
    scratch_remove(&s);
}

#if defined(__GLIBC__)
/* The append lock's bytes are rewritten with another kind of mutex (one
 * with lock elision, whose lock call runs transactional instructions the
 * processor may not have). The next append makes no lock call on it: it
 * fails with DURLOG_EFAILED naming the append lock and durlog.shm (the
 * fuzzer's first find was this lock call dying with SIGILL). */
static void an_append_lock_that_is_not_durlogs_is_never_locked(void)
{
    struct scratch s;
    scratch_make(&s);
    durlog *w;
    REQUIRE(open_log(s.log, ONE_SEGMENT, &w) == 0);
    CHECK_OK(durlog_append(w, "a", 1, DURLOG_KERNEL, NULL));
    struct dl_shared *sh = map_shm(s.log);
    REQUIRE(sh);
    sh->append_lock.__data.__kind = PTHREAD_MUTEX_TIMED_NP | 256; /* elision */
    CHECK_RC(durlog_append(w, "b", 1, DURLOG_KERNEL, NULL), DURLOG_EFAILED);
    check_blames_shm(w, "append lock");
    durlog_close(w);
    unmap_shm(sh);
    scratch_remove(&s);
}

/* While this thread holds the append lock, someone rewrites the lock's
 * bookkeeping (the pointers glibc keeps of the holder's robust locks,
 * which its unlock writes through, and the owner in the lock word). The
 * unlock writes the holder's own state back first: no store through the
 * planted pointers, and the lock is free and usable after (before: a store
 * at address 0x10 and up, or a robust list pointing into a mapping about to
 * be unmapped, to crash the next lock call of the thread). */
static void a_held_lock_rewritten_by_someone_else_unlocks_cleanly(void)
{
    struct scratch s;
    scratch_make(&s);
    durlog *w;
    REQUIRE(open_log(s.log, ONE_SEGMENT, &w) == 0);
    CHECK_OK(durlog_append(w, "a", 1, DURLOG_KERNEL, NULL));
    struct dl_shared *sh = map_shm(s.log), *mine = w->sh;
    REQUIRE(sh);
    REQUIRE(dl_mutex_lock_within(&mine->append_lock, 1000000000u) == 0);
    sh->append_lock.__data.__list.__prev = (void *)0x10;
    sh->append_lock.__data.__list.__next = (void *)0x20;
    sh->append_lock.__data.__lock = 0x3ffffff0;
    dl_mutex_unlock(&mine->append_lock);
    CHECK_EQ_U64(sh->append_lock.__data.__lock, 0);
    CHECK_OK(durlog_append(w, "b", 1, DURLOG_KERNEL, NULL));
    CHECK_OK(durlog_close(w));
    unmap_shm(sh);
    /* The thread's list of robust locks must not point into the unmapped
     * file: another lock taken now would write through it. */
    REQUIRE(open_log(s.log, ONE_SEGMENT, &w) == 0);
    CHECK_OK(durlog_append(w, "c", 1, DURLOG_KERNEL, NULL));
    CHECK_OK(durlog_close(w));
    scratch_remove(&s);
}

#else
/* The checks these prove look into glibc's mutexes (src/shared.c). */
static void an_append_lock_that_is_not_durlogs_is_never_locked(void)
{
    SKIP_UNLESS(0, "looks into glibc's mutexes: needs glibc");
}

static void a_held_lock_rewritten_by_someone_else_unlocks_cleanly(void)
{
    SKIP_UNLESS(0, "looks into glibc's mutexes: needs glibc");
}
#endif

/* A file outside the log, of `len` bytes of `c` (outside_intact: 1 if it
 * still is). */
static void make_outside(const char *path, size_t len, int c)
{
    unsigned char *buf = malloc(len);
    memset(buf, c, len);
    CHECK(file_write(path, buf, len) == 0);
    free(buf);
}

static int outside_intact(const char *path, size_t len, int c)
{
    size_t now;
    unsigned char *buf = file_read(path, &now);
    int ok = buf && now == len;
    for (size_t i = 0; ok && i < len; i++)
        ok = buf[i] == c;
    free(buf);
    return ok;
}

/* The tail segment of a closed log gets a second name (a hard link, as one
 * planted to a file elsewhere would be). A writer opens the log, but its
 * append fails with -EPERM naming the segment and "2 hard links", and the
 * file is not written (before: the record went into it); readers still
 * read the log. */
static void a_writer_never_writes_through_a_segment_with_a_second_hard_link(void)
{
    struct scratch s;
    struct model m;
    scratch_make(&s);
    model_make(&m, 1603, 10, 100);
    build_closed(s.log, &m, 10, ONE_SEGMENT);
    char seg[400], other[400];
    seg_file(seg, sizeof seg, s.log, 0);
    snprintf(other, sizeof other, "%s/other-name", s.dir);
    REQUIRE(link(seg, other) == 0);
    size_t before_len;
    unsigned char *before = file_read(seg, &before_len);
    REQUIRE(before);
    durlog *w;
    REQUIRE(open_log(s.log, ONE_SEGMENT, &w) == 0);
    CHECK_RC(durlog_append(w, "x", 1, DURLOG_KERNEL, NULL), -EPERM);
    CHECK(strstr(durlog_errmsg(w), "00000000000000000000.seg") != NULL);
    CHECK(strstr(durlog_errmsg(w), "2 hard links") != NULL);
    durlog_close(w);
    CHECK(file_equals(other, before, before_len));
    int end_rc;
    CHECK_EQ_U64(model_read_log(&m, s.log, &end_rc), 10);
    CHECK_RC(end_rc, DURLOG_EEND);
    free(before);
    model_free(&m);
    scratch_remove(&s);
}

/* durlog.shm is a hard link to a file outside the log. Opening the log for
 * writing fails with -EPERM naming durlog.shm and its link count, and the
 * other file is untouched (before: the first writer rebuilt "durlog.shm"
 * over it); a reader reads the log, and writes nothing into that file
 * either. */
static void a_writer_refuses_a_coordination_file_with_a_second_hard_link(void)
{
    struct scratch s;
    struct model m;
    scratch_make(&s);
    model_make(&m, 1604, 5, 100);
    build_closed(s.log, &m, 5, ONE_SEGMENT);
    char shm[400], outside[400];
    log_file(shm, sizeof shm, s.log, DL_SHM_NAME);
    snprintf(outside, sizeof outside, "%s/outside", s.dir);
    make_outside(outside, 8192, 'o');
    REQUIRE(unlink(shm) == 0 && link(outside, shm) == 0);
    durlog_options o;
    durlog_options_init(&o);
    durlog *w = NULL;
    CHECK_RC(durlog_open(s.log, &o, &w), -EPERM);
    CHECK(strstr(durlog_last_errmsg(), DL_SHM_NAME) != NULL);
    CHECK(strstr(durlog_last_errmsg(), "2 hard links") != NULL);
    int end_rc;
    CHECK_EQ_U64(model_read_log(&m, s.log, &end_rc), 5);
    CHECK_RC(end_rc, DURLOG_EEND);
    CHECK(outside_intact(outside, 8192, 'o'));
    model_free(&m);
    scratch_remove(&s);
}

/* A file named like the temporary a writer creates the first segment as
 * ("<segment>.tmp") is planted as a hard link to a file outside the log.
 * The first append creates its segment all the same, and the other file
 * keeps its bytes (before: it was truncated and became the segment). */
static void a_planted_temporary_segment_name_is_never_written_through(void)
{
    struct scratch s;
    scratch_make(&s);
    durlog *w;
    REQUIRE(open_log(s.log, ONE_SEGMENT, &w) == 0);
    char seg[400], tmp[420], outside[400];
    seg_file(seg, sizeof seg, s.log, 0);
    snprintf(tmp, sizeof tmp, "%s%s", seg, DL_SEG_TMP_SUFFIX);
    snprintf(outside, sizeof outside, "%s/outside", s.dir);
    make_outside(outside, 4096, 'o');
    REQUIRE(link(outside, tmp) == 0);
    CHECK_OK(durlog_append(w, "x", 1, DURLOG_SYNC, NULL));
    CHECK_OK(durlog_close(w));
    CHECK(outside_intact(outside, 4096, 'o'));
    CHECK(!file_exists(tmp));
    scratch_remove(&s);
}

static int become_nobody_and_append(void *arg)
{
    if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
        return 1;
    durlog *w;
    if (open_log(arg, ONE_SEGMENT, &w) != 0)
        return 1;
    int rc = durlog_append(w, "nobody's", 8, DURLOG_KERNEL, NULL);
    return durlog_close(w) != 0 || rc != 0;
}

/* A log user nobody created and appended to. Root (the suite runs as
 * root) opening it for writing is refused with -EPERM, with a message naming
 * uid 65534 and DURLOG_OPEN_ALLOW_FOREIGN_OWNER, and nothing in it changes;
 * root's reader reads it; with the flag root appends (test_trust.c shows
 * the files stay nobody's). A flag bit the library does not know is
 * refused with -EINVAL. */
static void a_root_writer_refuses_another_users_log_unless_allowed(void)
{
    SKIP_UNLESS(geteuid() == 0, "gives a log to user nobody: needs root");
    struct scratch s;
    scratch_make(&s);
    REQUIRE(chmod(s.dir, 0755) == 0);
    REQUIRE(mkdir(s.log, 0755) == 0 && chown(s.log, NOBODY, NOBODY) == 0);
    REQUIRE(tu_exited_ok(tu_wait(tu_fork(become_nobody_and_append, s.log))));
    char shm[400];
    struct stat before, after;
    REQUIRE(stat(log_file(shm, sizeof shm, s.log, DL_SHM_NAME), &before) == 0);

    durlog_options o;
    durlog_options_init(&o);
    durlog *w = NULL;
    CHECK_RC(durlog_open(s.log, &o, &w), -EPERM);
    CHECK(strstr(durlog_last_errmsg(), "uid 65534") != NULL);
    CHECK(strstr(durlog_last_errmsg(), "DURLOG_OPEN_ALLOW_FOREIGN_OWNER") != NULL);
    REQUIRE(stat(shm, &after) == 0);
    CHECK(after.st_mtim.tv_sec == before.st_mtim.tv_sec &&
          after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);

    durlog_reader *r;
    durlog_record rec;
    REQUIRE(durlog_reader_open(s.log, NULL, &r) == 0);
    CHECK_OK(durlog_reader_next(r, &rec));
    CHECK(rec.len == 8 && memcmp(rec.data, "nobody's", 8) == 0);
    durlog_reader_close(r);

    o.flags = (uint64_t)1 << 40;
    CHECK_RC(durlog_open(s.log, &o, &w), -EINVAL);
    CHECK(strstr(durlog_last_errmsg(), "flags") != NULL);
    o.flags = DURLOG_OPEN_ALLOW_FOREIGN_OWNER;
    REQUIRE(durlog_open(s.log, &o, &w) == 0);
    CHECK_OK(durlog_append(w, "root's", 6, DURLOG_KERNEL, NULL));
    CHECK_OK(durlog_close(w));
    scratch_remove(&s);
}

TEST_MAIN(
    RUN(a_tail_overwritten_in_place_under_a_writer_fails_the_next_append);
    RUN(an_old_coordination_file_written_over_the_live_one_fails_the_next_append);
    RUN(kernel_appends_into_a_tail_replaced_by_cp_and_mv_are_saved_when_close_fails);
    RUN(a_replaced_tail_is_saved_even_where_its_inode_number_names_an_older_side_file);
    RUN(a_replaced_tail_is_saved_when_the_log_already_failed_for_another_reason);
    RUN(a_roll_away_from_a_tail_replaced_by_cp_and_mv_fails_and_saves_it);
    RUN(close_fails_and_saves_a_rolled_segment_removed_before_its_seal);
    RUN(a_sync_append_after_a_rolled_segment_was_replaced_fails_and_saves_it);
    RUN(info_counts_the_records_of_a_moved_middle_segment_as_missing);
    RUN(check_and_repair_tell_writers_from_another_repair_holding_the_log);
    RUN(forced_repair_of_records_missing_under_a_checkpoint_cuts_nothing);
    RUN(recovery_without_room_for_a_side_file_zeroes_a_torn_tail_in_place);
    RUN(recovery_without_room_for_a_side_file_never_zeroes_a_whole_record);
    RUN(durlog_append_on_a_full_disk_zeroes_a_torn_tail_and_says_so);
    RUN(a_refused_recovery_is_refused_again_by_the_next_open);
    RUN(a_recovery_whose_fdatasync_failed_writes_the_records_again_on_the_next_open);
    RUN(the_overwrite_failure_names_the_overwritten_segment_file);
    RUN(check_agrees_with_a_reader_after_a_tail_was_replaced);
    RUN(a_tail_past_the_segment_in_the_coordination_file_fails_the_log);
    RUN(a_published_mark_moved_ahead_makes_readers_fail_naming_the_file);
    RUN(an_unknown_failure_code_in_the_coordination_file_is_blamed_on_it);
    RUN(a_coordination_file_that_is_not_a_regular_file_is_eformat);
    RUN(a_tail_truncated_within_its_last_page_is_never_acknowledged_durable);
    RUN(a_tail_truncated_under_an_async_sync_append_is_never_acknowledged_durable);
    RUN(a_tail_removed_under_an_async_sync_append_fails_it_before_close);
    RUN(a_sync_lock_held_by_nobody_times_out_instead_of_hanging);
    RUN(an_append_lock_that_is_not_durlogs_is_never_locked);
    RUN(a_held_lock_rewritten_by_someone_else_unlocks_cleanly);
    RUN(a_writer_never_writes_through_a_segment_with_a_second_hard_link);
    RUN(a_writer_refuses_a_coordination_file_with_a_second_hard_link);
    RUN(a_planted_temporary_segment_name_is_never_written_through);
    RUN(a_root_writer_refuses_another_users_log_unless_allowed);
    RUN(an_absurd_last_time_in_the_coordination_file_never_wraps_a_time);
)
