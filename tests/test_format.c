/* The record layouts of docs/FORMAT.md, byte by byte: version 2 (written)
 * and version 1 (read), the durable distance's rounding, and finding a
 * record after damage. */
#include "harness.h"
#include "crc32c.h"
#include "format.h"
#include "scan.h"
#include "lib/timing.h"

#define BASE 1700000000000000000ull

static const struct dl_seg_fmt v2 = { DL_FORMAT_VERSION, BASE };
static const struct dl_seg_fmt v1 = { DL_FORMAT_V1, 0 };

static void a_100_byte_record_takes_116_bytes(void)
{
    CHECK_EQ_U64(dl_rec_size(100), 116);
    CHECK_EQ_U64(dl_rec_size(0), 16);
    CHECK_EQ_U64(dl_rec_size(1), 20);
    CHECK_EQ_U64(dl_rec_size_v(DL_FORMAT_V1, 100), 136);
}

/* The header, field by field, as FORMAT.md gives it: an independent
 * reader's computation, not the library's. */
static void the_header_holds_what_format_md_says(void)
{
    unsigned char rec[128];
    unsigned char payload[100];
    test_fill(payload, sizeof payload, 1);
    uint64_t seq = 0x123456789ull, t = BASE + 5000, durable = seq - 10;
    dl_rec_encode(rec, BASE, seq, t, durable, payload, sizeof payload);

    uint32_t word = dl_get32(rec + 4);
    CHECK_EQ_U64(word & ((1u << 27) - 1), 100);
    CHECK_EQ_U64((word >> 27) & 15, seq & 15);
    CHECK_EQ_U64(word >> 31, 0);
    CHECK_EQ_U64((uint64_t)rec[8] | (uint64_t)rec[9] << 8, 10);
    uint64_t off = 0;
    for (int i = 0; i < 6; i++)
        off |= (uint64_t)rec[10 + i] << (8 * i);
    CHECK_EQ_U64(off, 5000);
    CHECK(memcmp(rec + 16, payload, 100) == 0);

    unsigned char num[8];
    dl_put64(num, seq);
    uint32_t crc = dl_crc32c_sw(0, num, 8);
    crc = dl_crc32c_sw(crc, rec + 4, 12 + 100);
    CHECK_EQ_U64(dl_get32(rec), crc);

    struct dl_rec_view v;
    REQUIRE(dl_rec_check(&v2, rec, sizeof rec, seq, &v) == DL_REC_VALID);
    CHECK_EQ_U64(v.len, 100);
    CHECK_EQ_U64(v.seq, seq);
    CHECK_EQ_U64(v.time_ns, t);
    CHECK_EQ_U64(v.durable_before, durable);
    CHECK_EQ_U64(v.size, 116);
    CHECK(v.payload == rec + 16);
}

static void a_record_is_valid_only_at_its_own_number(void)
{
    unsigned char rec[64];
    dl_rec_encode(rec, BASE, 1000, BASE + 1, 0, "abc", 3);
    struct dl_rec_view v;
    CHECK(dl_rec_check(&v2, rec, sizeof rec, 1000, &v) == DL_REC_VALID);
    /* Same low 4 bits: only the CRC tells them apart. */
    CHECK(dl_rec_check(&v2, rec, sizeof rec, 1016, &v) == DL_REC_BAD);
    CHECK(dl_rec_check(&v2, rec, sizeof rec, 1001, &v) == DL_REC_BAD);
    CHECK(dl_rec_peek(&v2, rec, sizeof rec, 1001, &v) == DL_REC_BAD);
    CHECK(dl_rec_peek(&v2, rec, sizeof rec, 1016, &v) == DL_REC_VALID);
}

static void every_flipped_bit_is_caught(void)
{
    unsigned char rec[64], bad[64];
    memset(rec, 0, sizeof rec);
    dl_rec_encode(rec, BASE, 77, BASE + 99, 70, "hello, world", 12);
    uint64_t size = dl_rec_size(12);
    struct dl_rec_view v;
    for (uint64_t bit = 0; bit < size * 8; bit++) {
        memcpy(bad, rec, sizeof rec);
        bad[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        CHECK(dl_rec_check(&v2, bad, size, 77, &v) != DL_REC_VALID);
    }
}

static void a_header_is_never_all_zero(void)
{
    /* Empty payload, number 0, no durable distance, time at the base: the
     * time offset is still 1. */
    unsigned char rec[16];
    dl_rec_encode(rec, BASE, 0, BASE, 0, NULL, 0);
    struct dl_rec_view v;
    CHECK(dl_rec_check(&v2, rec, sizeof rec, 0, &v) == DL_REC_VALID);
    CHECK_EQ_U64(v.time_ns, BASE + 1);
    unsigned char zero[16] = { 0 };
    CHECK(dl_rec_check(&v2, zero, sizeof zero, 0, &v) == DL_REC_EMPTY);
    /* A clock behind the base counts as the base. */
    dl_rec_encode(rec, BASE, 5, BASE - 1000, 0, NULL, 0);
    REQUIRE(dl_rec_check(&v2, rec, sizeof rec, 5, &v) == DL_REC_VALID);
    CHECK_EQ_U64(v.time_ns, BASE + 1);
}

static void the_durable_distance_never_claims_too_much(void)
{
    /* Exact below 2048; above, rounded up by less than 1 part in 2048. */
    for (uint64_t d = 0; d < 5000; d++) {
        uint64_t back = dl_dist_decode(dl_dist_encode(d));
        CHECK(back >= d);
        if (d < 2048)
            CHECK_EQ_U64(back, d);
    }
    uint64_t r = 12345;
    for (int i = 0; i < 200000; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t d = r >> (r & 63);
        uint16_t code = dl_dist_encode(d);
        uint64_t back = dl_dist_decode(code);
        CHECK(back >= d);
        if (code != DL_DIST_NONE)
            CHECK(back - d <= d / 2048 + 1);
    }
    /* Monotonic: a larger distance never encodes smaller. */
    uint16_t prev = 0;
    for (uint64_t d = 0; d < ((uint64_t)1 << 44); d = d * 3 / 2 + 1) {
        uint16_t code = dl_dist_encode(d);
        CHECK(code >= prev);
        prev = code;
    }
    CHECK_EQ_U64(dl_dist_encode(UINT64_MAX), DL_DIST_NONE);
    /* A record written with a durable mark far below claims at most it. */
    unsigned char rec[32];
    struct dl_rec_view v;
    uint64_t seq = (uint64_t)1 << 40, durable = 3;
    dl_rec_encode(rec, BASE, seq, BASE + 1, durable, NULL, 0);
    REQUIRE(dl_rec_check(&v2, rec, sizeof rec, seq, &v) == DL_REC_VALID);
    CHECK(v.durable_before <= durable);
    /* A mark above the record's own number (records after it synced
     * first) is not representable and is not claimed. */
    dl_rec_encode(rec, BASE, 10, BASE + 1, 20, NULL, 0);
    REQUIRE(dl_rec_check(&v2, rec, sizeof rec, 10, &v) == DL_REC_VALID);
    CHECK(v.durable_before <= 10);
}

static void padding_must_be_zero(void)
{
    unsigned char rec[32];
    memset(rec, 0, sizeof rec);
    dl_rec_encode(rec, BASE, 3, BASE + 1, 0, "x", 1);
    struct dl_rec_view v;
    CHECK(dl_rec_check(&v2, rec, sizeof rec, 3, &v) == DL_REC_VALID);
    rec[18] = 1; /* padding after the 1-byte payload */
    CHECK(dl_rec_check(&v2, rec, sizeof rec, 3, &v) == DL_REC_BAD);
}

static void a_record_past_what_is_readable_is_bad(void)
{
    unsigned char rec[128], payload[40];
    test_fill(payload, sizeof payload, 9);
    dl_rec_encode(rec, BASE, 3, BASE + 1, 0, payload, sizeof payload);
    struct dl_rec_view v;
    CHECK(dl_rec_check(&v2, rec, dl_rec_size(40), 3, &v) == DL_REC_VALID);
    CHECK(dl_rec_check(&v2, rec, dl_rec_size(40) - 1, 3, &v) == DL_REC_BAD);
    CHECK(dl_rec_check(&v2, rec, 8, 3, &v) == DL_REC_BAD);
    CHECK(dl_rec_check(&v2, rec, 0, 3, &v) == DL_REC_EMPTY);
    /* A full segment's last few bytes, zero: the end of its data. */
    unsigned char zeros[12] = { 0 };
    CHECK(dl_rec_check(&v2, zeros, sizeof zeros, 3, &v) == DL_REC_EMPTY);
    CHECK(dl_rec_check(&v1, zeros, sizeof zeros, 3, &v) == DL_REC_EMPTY);
    zeros[11] = 1;
    CHECK(dl_rec_check(&v2, zeros, sizeof zeros, 3, &v) == DL_REC_BAD);
    /* A length above the largest record. */
    dl_put32(rec + 4, (uint32_t)DURLOG_MAX_RECORD + 1);
    CHECK(dl_rec_peek(&v2, rec, sizeof rec, 3, &v) == DL_REC_BAD);
    dl_put32(rec + 4, 1u << 31);
    CHECK(dl_rec_peek(&v2, rec, sizeof rec, 0, &v) == DL_REC_BAD);
}

/* Buffered records: framed first, numbered and sealed later. */
static void a_framed_record_sealed_later_is_the_same_record(void)
{
    unsigned char a[64], b[64];
    memset(a, 0xee, sizeof a);
    memset(b, 0x11, sizeof b);
    dl_rec_encode(a, BASE, 42, BASE + 777, 40, "payload", 7);
    dl_rec_frame(b, BASE + 777, "payload", 7);
    dl_rec_seal(b, BASE, 42, 40);
    CHECK(memcmp(a, b, dl_rec_size(7)) == 0);
}

static void find_knows_a_record_after_damage_by_its_number(void)
{
    unsigned char rec[64];
    struct dl_rec_view v;
    uint64_t seq = 5000003;
    dl_rec_encode(rec, BASE, seq, BASE + 500, 0, "later", 5);
    REQUIRE(dl_rec_find(&v2, rec, sizeof rec, 5000000, 5100000, BASE + 100, &v) == DL_REC_VALID);
    CHECK_EQ_U64(v.seq, seq);
    CHECK_EQ_U64(v.time_ns, BASE + 500);
    /* Not in the range, or older than the last good record: not it. */
    CHECK(dl_rec_find(&v2, rec, sizeof rec, 5000004, 5100000, BASE, &v) == DL_REC_BAD);
    CHECK(dl_rec_find(&v2, rec, sizeof rec, 0, 5000002, BASE, &v) == DL_REC_BAD);
    CHECK(dl_rec_find(&v2, rec, sizeof rec, 0, 6000000, BASE + 501, &v) == DL_REC_BAD);
    CHECK(dl_rec_find(&v2, rec, sizeof rec, seq, seq, BASE, &v) == DL_REC_VALID);
}

/* Numbers whose high 32 bits differ from the low end of the range's (the
 * number is solved for, one candidate per value of its high bits). */
static void find_knows_numbers_across_a_2_to_the_32_boundary(void)
{
    unsigned char rec[64];
    struct dl_rec_view v;
    uint64_t seqs[] = { 0xfffffffeull, 0x100000000ull, 0x100000005ull, 0x2ffffffffull };
    for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
        dl_rec_encode(rec, BASE, seqs[i], BASE + 500, 0, "n", 1);
        CHECK(dl_rec_find(&v2, rec, sizeof rec, 0xfffffff0ull, 0x300000000ull, BASE, &v) ==
              DL_REC_VALID);
        CHECK_EQ_U64(v.seq, seqs[i]);
        CHECK(dl_rec_find(&v2, rec, sizeof rec, seqs[i] + 1, 0x300000000ull, BASE, &v) ==
              DL_REC_BAD);
    }
}

/* A segment with a mebibyte of random bytes in the middle of its records
 * and large records after it: resynchronising finds the first record after
 * the garbage, in well under a second. Checking each candidate by passing
 * over its claimed payload for each number of the range took hours here
 * (256 KiB of random bytes kept `durlog check` busy past 100 s). */
static void resync_over_a_mebibyte_of_garbage_is_quick(void)
{
    size_t cap = 8u << 20;
    unsigned char *seg = calloc(1, cap);
    REQUIRE(seg != NULL);
    static unsigned char payload[300000];
    test_fill(payload, sizeof payload, 5);
    uint64_t off = DL_SEG_HEADER_SIZE, seq = 1000, t = BASE + 10;
    for (; seq < 1010; seq++, t += 10)
        off += dl_rec_size(100), dl_rec_encode(seg + off - dl_rec_size(100), BASE, seq, t,
                                               seq - 1, payload, 100);
    uint64_t bad = off;
    test_fill(seg + off, 1u << 20, 77);
    off += 1u << 20;
    seq += 3000; /* the records the garbage replaced */
    uint64_t later = seq, later_off = off;
    for (int i = 0; i < 8; i++, seq++, t += 10) {
        uint32_t len = i & 1 ? 100 : 250000 + (uint32_t)i;
        dl_rec_encode(seg + off, BASE, seq, t, 0, payload, len);
        off += dl_rec_size(len);
    }
    uint64_t t0 = tu_now_ns();
    struct dl_scan sc;
    dl_scan_segment(&v2, seg, cap, 1000, 1, &sc);
    uint64_t took = tu_now_ns() - t0;
    CHECK_EQ_U64(sc.records, 10);
    CHECK_EQ_U64(sc.valid_end, bad);
    CHECK_EQ_U64(sc.later_off, later_off);
    CHECK_EQ_U64(sc.later_seq, later);
    CHECK_EQ_U64(sc.later_records, 8);
    CHECK_EQ_U64(sc.later_max_seq, seq);
    /* How long, for whoever reads the output (speed is measured in bench/,
     * not asserted here: a hang is the suite's timeout). */
    if (took > 5000000000ull)
        fprintf(stderr, "  resynchronising took %.1f s\n", (double)took / 1e9);
    free(seg);
}

/* A 64 MiB segment: a little damage, then 670 records of 100 KB. The scan
 * resynchronises once per record after the damage (each found at the first
 * offset it tries); building the checksum index for each (a pass over the
 * rest of the segment) took 4.4 s here: the index is built only once the
 * checksums computed directly add up to what it costs. */
static void records_after_damage_are_not_each_charged_a_pass_over_the_segment(void)
{
    size_t cap = 64u << 20;
    unsigned char *seg = calloc(1, cap);
    REQUIRE(seg != NULL);
    static unsigned char payload[100000];
    test_fill(payload, sizeof payload, 6);
    uint64_t off = DL_SEG_HEADER_SIZE, seq = 0;
    for (; seq < 3; seq++) {
        dl_rec_encode(seg + off, BASE, seq, BASE + 1000 + seq, seq, "abc", 3);
        off += dl_rec_size(3);
    }
    memset(seg + off, 0x5a, 100);
    off += 200;
    seq += 2;
    uint64_t later = 0;
    for (; off + dl_rec_size(sizeof payload) < cap; seq++, later++) {
        dl_rec_encode(seg + off, BASE, seq, BASE + 5000 + seq, seq, payload, sizeof payload);
        off += dl_rec_size(sizeof payload);
    }
    uint64_t t0 = tu_now_ns();
    struct dl_scan sc;
    dl_scan_segment(&v2, seg, cap, 0, 1, &sc);
    uint64_t took = tu_now_ns() - t0;
    CHECK_EQ_U64(sc.records, 3);
    CHECK_EQ_U64(sc.later_records, later);
    CHECK_EQ_U64(sc.later_max_seq, seq);
    if (took > 1500000000ull)
        fprintf(stderr, "  the scan took %.1f s\n", (double)took / 1e9);
    free(seg);
}

/* A hostile segment: in front of each record, 16 stray bytes shaped as a
 * header (the expected number's low bits, a late time) claiming a payload
 * up to the segment's end. Each resync after a record tried them as a
 * record by a pass over that payload (no checksum index: one number to
 * try, and a fresh index per resync): a pass over the rest of the segment
 * per record: 11 s for 4 MiB here, 47 s for this 8 MiB one (quadratic:
 * about 3 hours for a 64 MiB segment), in recovery (an open), `durlog
 * check` and readers. Now about a second; the bound is loose for
 * sanitizers and a loaded machine. */
static void stray_headers_claiming_the_segment_before_each_record_are_quick(void)
{
    size_t cap = 8u << 20;
    unsigned char *seg = calloc(1, cap);
    REQUIRE(seg != NULL);
    uint64_t off = DL_SEG_HEADER_SIZE, seq = 0, t = BASE + 1000, found = 0;
    dl_rec_encode(seg + off, BASE, seq++, t, 0, NULL, 0);
    off += dl_rec_size(0);
    while (off + 64 < cap) {
        uint32_t len = (uint32_t)((cap - off - DL_REC_HEADER_SIZE) & ~(uint64_t)3);
        dl_put32(seg + off, 0x12345678);
        dl_put32(seg + off + 4, len | (uint32_t)(seq & 15) << 27);
        dl_put64(seg + off + 8, (DL_REC_TIME_LIMIT - 1) << 16);
        off += DL_REC_HEADER_SIZE;
        seq++;
        dl_rec_encode(seg + off, BASE, seq++, t, 0, NULL, 0);
        off += dl_rec_size(0);
        found++;
    }
    uint64_t t0 = tu_now_ns();
    struct dl_scan sc;
    dl_scan_segment(&v2, seg, cap, 0, 1, &sc);
    uint64_t took = tu_now_ns() - t0;
    CHECK_EQ_U64(sc.records, 1);
    CHECK_EQ_U64(sc.later_records, found);
    CHECK_EQ_U64(sc.later_max_seq, seq);
    if (took > 20000000000ull)
        fprintf(stderr, "  the scan took %.1f s\n", (double)took / 1e9);
    CHECK(took < 20000000000ull);
    free(seg);
}

/* 32 MiB of stray bytes after three records, random or zeros with a bit
 * set every 64 bytes: with 4 bits of each number stored, some position
 * there passes a record's checks for some number of the search's range
 * (found here before records had to be confirmed by the next one or by
 * zeros after them); a reader skipping damage would have returned it. */
static void stray_bytes_are_never_taken_for_a_record(void)
{
    size_t cap = 32u << 20;
    unsigned char *seg = malloc(cap);
    REQUIRE(seg != NULL);
    for (int kind = 0; kind < 2; kind++) {
        memset(seg, 0, cap);
        uint64_t off = DL_SEG_HEADER_SIZE;
        for (uint64_t q = 0; q < 3; q++) {
            dl_rec_encode(seg + off, BASE, q, BASE + 100 + q, 0, "abc", 3);
            off += dl_rec_size(3);
        }
        uint64_t x = 0x9e3779b97f4a7c15ull;
        for (uint64_t i = off; i < cap; i += kind ? 64 : 8) {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            uint64_t v = x * 0x2545f4914f6cdd1dull;
            if (kind)
                seg[i + (v & 63) < cap ? i + (v & 63) : i] |= (unsigned char)(1u << ((v >> 6) & 7));
            else
                memcpy(seg + i, &v, i + 8 <= cap ? 8 : cap - i);
        }
        struct dl_scan sc;
        dl_scan_segment(&v2, seg, cap, 0, 1, &sc);
        CHECK_EQ_U64(sc.records, 3);
        if (sc.later_records)
            fprintf(stderr, "  %s: a record %" PRIu64 " found at offset %" PRIu64 "\n",
                    kind ? "sparse bits" : "random bytes", sc.later_seq, sc.later_off);
        CHECK_EQ_U64(sc.later_records, 0);
    }
    free(seg);
}

/* Two flipped bytes in records 5 and 7 of ten: record 6, between them, is
 * followed by damage, not by its successor, and is found all the same (the
 * search had tried a few numbers: it needs no confirmation), as are 8 and
 * 9. A reader skipping damage returns it. */
static void a_record_between_two_damaged_ones_is_found(void)
{
    unsigned char seg[4096];
    memset(seg, 0, sizeof seg);
    uint64_t off = DL_SEG_HEADER_SIZE, at[10];
    for (uint64_t q = 0; q < 10; q++) {
        at[q] = off;
        dl_rec_encode(seg + off, BASE, q, BASE + 100 + q, 0, "a payload of some bytes", 23);
        off += dl_rec_size(23);
    }
    seg[at[5] + DL_REC_HEADER_SIZE + 3] ^= 0x10;
    seg[at[7] + DL_REC_HEADER_SIZE + 3] ^= 0x10;
    struct dl_scan sc;
    dl_scan_segment(&v2, seg, sizeof seg, 0, 1, &sc);
    CHECK_EQ_U64(sc.records, 5);
    CHECK_EQ_U64(sc.later_off, at[6]);
    CHECK_EQ_U64(sc.later_seq, 6);
    CHECK_EQ_U64(sc.later_records, 3);
    CHECK_EQ_U64(sc.later_max_seq, 10);
}

/* A buffered record sealed for one segment whose write failed is framed
 * again (dl_rec_unseal) and sealed for another segment and number: the same
 * record as one encoded there directly (its time kept). */
static void an_unsealed_record_seals_again_elsewhere(void)
{
    unsigned char a[64], b[64];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    dl_rec_frame(b, BASE + 5555, "retry me", 8);
    dl_rec_seal(b, BASE, 17, 10);
    dl_rec_unseal(b, BASE);
    CHECK_EQ_U64(dl_rec_frame_time(b), BASE + 5555);
    dl_rec_seal(b, BASE + 1000, 40, 39);
    dl_rec_encode(a, BASE + 1000, 40, BASE + 5555, 39, "retry me", 8);
    CHECK(memcmp(a, b, dl_rec_size(8)) == 0);
    struct dl_rec_view v;
    const struct dl_seg_fmt other = { DL_FORMAT_VERSION, BASE + 1000 };
    REQUIRE(dl_rec_check(&other, b, sizeof b, 40, &v) == DL_REC_VALID);
    CHECK_EQ_U64(v.time_ns, BASE + 5555);
}

/* Version 1, as the previous version wrote it (fields placed by hand). */
static void version_1_records_are_still_read(void)
{
    unsigned char rec[64];
    memset(rec, 0, sizeof rec);
    dl_put32(rec + 4, 5);
    dl_put64(rec + 8, 900);
    dl_put64(rec + 16, BASE + 3);
    dl_put64(rec + 24, 850);
    memcpy(rec + 32, "hello", 5);
    dl_put32(rec, dl_crc32c_sw(0, rec + 4, 28 + 5));
    struct dl_rec_view v;
    REQUIRE(dl_rec_check(&v1, rec, sizeof rec, 900, &v) == DL_REC_VALID);
    CHECK_EQ_U64(v.seq, 900);
    CHECK_EQ_U64(v.time_ns, BASE + 3);
    CHECK_EQ_U64(v.durable_before, 850);
    CHECK_EQ_U64(v.size, 40);
    CHECK(memcmp(v.payload, "hello", 5) == 0);
    CHECK(dl_rec_find(&v1, rec, sizeof rec, 800, 1000, 0, &v) == DL_REC_VALID);
    CHECK(dl_rec_find(&v1, rec, sizeof rec, 901, 1000, 0, &v) == DL_REC_BAD);
    rec[33] ^= 1;
    CHECK(dl_rec_check(&v1, rec, sizeof rec, 900, &v) == DL_REC_BAD);
}

static void segment_headers_of_both_versions_decode(void)
{
    unsigned char buf[DL_SEG_HEADER_SIZE];
    struct dl_seg_header h = { DL_FORMAT_V1, 100, 1 << 20, BASE, 110, 64 + 10 * 32,
                               DL_SEG_F_CKPT }, out;
    dl_seg_header_encode(buf, &h);
    REQUIRE(dl_seg_header_decode(buf, &out) == 0);
    CHECK_EQ_U64(out.version, DL_FORMAT_V1);
    /* Version 1 records are at least 32 bytes: 10 in 300 bytes cannot be. */
    h.ckpt_off = 64 + 300;
    dl_seg_header_encode(buf, &h);
    CHECK(dl_seg_header_decode(buf, &out) == DURLOG_ECORRUPT);
    /* Version 2 records are at least 16 bytes and 4-aligned. */
    h.version = DL_FORMAT_VERSION;
    h.ckpt_off = 64 + 10 * 16;
    dl_seg_header_encode(buf, &h);
    REQUIRE(dl_seg_header_decode(buf, &out) == 0);
    CHECK_EQ_U64(out.version, DL_FORMAT_VERSION);
    h.ckpt_off = 64 + 10 * 16 + 2;
    dl_seg_header_encode(buf, &h);
    CHECK(dl_seg_header_decode(buf, &out) == DURLOG_ECORRUPT);
    h.version = 3;
    h.ckpt_off = 64 + 10 * 16;
    dl_seg_header_encode(buf, &h);
    CHECK(dl_seg_header_decode(buf, &out) == DURLOG_EFORMAT);
}

/* A version 2 header whose base leaves no room for the time offsets: a
 * record's time (base + offset) wrapped past 2^64 to 1970, so times went
 * back within the segment, and after damage to record 1 the resync skipped
 * records 2 and 3 as older than record 0 (recovery and `check --repair`
 * would have cut them as a torn tail). Refused as a damaged header; a
 * version 1 header's created_ns is no base, and the latest base that fits
 * decodes. */
static void a_base_whose_times_would_wrap_is_refused(void)
{
    unsigned char buf[DL_SEG_HEADER_SIZE];
    struct dl_seg_header h = { DL_FORMAT_VERSION, 0, 1 << 20, UINT64_MAX - 1000, 0, 64, 0 },
                         out;
    dl_seg_header_encode(buf, &h);
    CHECK(dl_seg_header_decode(buf, &out) == DURLOG_ECORRUPT);
    h.created_ns = UINT64_MAX - (DL_REC_TIME_LIMIT - 1);
    dl_seg_header_encode(buf, &h);
    CHECK(dl_seg_header_decode(buf, &out) == 0);
    h.created_ns++;
    dl_seg_header_encode(buf, &h);
    CHECK(dl_seg_header_decode(buf, &out) == DURLOG_ECORRUPT);
    h.version = DL_FORMAT_V1;
    dl_seg_header_encode(buf, &h);
    CHECK(dl_seg_header_decode(buf, &out) == 0);
}

TEST_MAIN(
    RUN(a_100_byte_record_takes_116_bytes);
    RUN(the_header_holds_what_format_md_says);
    RUN(a_record_is_valid_only_at_its_own_number);
    RUN(every_flipped_bit_is_caught);
    RUN(a_header_is_never_all_zero);
    RUN(the_durable_distance_never_claims_too_much);
    RUN(padding_must_be_zero);
    RUN(a_record_past_what_is_readable_is_bad);
    RUN(a_framed_record_sealed_later_is_the_same_record);
    RUN(find_knows_a_record_after_damage_by_its_number);
    RUN(find_knows_numbers_across_a_2_to_the_32_boundary);
    RUN(resync_over_a_mebibyte_of_garbage_is_quick);
    RUN(records_after_damage_are_not_each_charged_a_pass_over_the_segment);
    RUN(stray_headers_claiming_the_segment_before_each_record_are_quick);
    RUN(stray_bytes_are_never_taken_for_a_record);
    RUN(a_record_between_two_damaged_ones_is_found);
    RUN(an_unsealed_record_seals_again_elsewhere);
    RUN(version_1_records_are_still_read);
    RUN(segment_headers_of_both_versions_decode);
    RUN(a_base_whose_times_would_wrap_is_refused);
)
