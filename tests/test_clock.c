/* Record timestamps: the interpolating clock stays within a few microseconds
 * of CLOCK_REALTIME and never goes backwards; records carry the time of
 * their append. */
#include "lib/clockcheck.h"
#include "lib/fixture.h"

#include <time.h>

/* Allowed distance from CLOCK_REALTIME readings taken around each call. A
 * descheduled thread can sit between the readings, so the bound is loose;
 * a wrong rate would be off by far more within a millisecond. */
#define SLACK_NS 200000u

static void interpolated_clock_tracks_the_realtime_clock(void)
{
    struct dl_clock c;
    dl_clock_init(&c);
    uint64_t prev = 0, worst = 0;
    for (int i = 0; i < 2000000; i++) {
        uint64_t off = clock_distance_ns(&c, &prev);
        if (off > worst)
            worst = off;
    }
    if (worst > SLACK_NS)
        fprintf(stderr, "  worst distance from CLOCK_REALTIME: %llu ns\n",
                (unsigned long long)worst);
    CHECK(worst <= SLACK_NS);
}

static void interpolated_clock_stays_right_across_idle_gaps(void)
{
    struct dl_clock c;
    dl_clock_init(&c);
    for (int i = 0; i < 20; i++) {
        struct timespec pause = { 0, (long)(i % 5) * 700000 }; /* 0 to 2.8 ms */
        nanosleep(&pause, NULL);
        for (int k = 0; k < 1000; k++) {
            uint64_t before = dl_now_ns();
            uint64_t t = dl_clock_now(&c);
            uint64_t after = dl_now_ns();
            CHECK(t + SLACK_NS >= before && t <= after + SLACK_NS);
        }
    }
}

static void records_carry_the_time_of_their_append(void)
{
    struct scratch s;
    durlog *log = fx_open(&s, NULL);
    REQUIRE(log);
    uint64_t before = dl_now_ns();
    for (int i = 0; i < 100000; i++)
        CHECK_OK(durlog_append(log, "t", 1, i % 2 ? DURLOG_KERNEL : DURLOG_BUFFERED, NULL));
    CHECK_OK(fx_close(log));
    uint64_t after = dl_now_ns();
    durlog_reader *r = fx_reader(s.log, NULL);
    durlog_record rec;
    REQUIRE(r);
    uint64_t prev = 0, n = 0;
    while (durlog_reader_next(r, &rec) == 0) {
        CHECK(rec.time_ns + SLACK_NS >= before && rec.time_ns <= after + SLACK_NS);
        CHECK(rec.time_ns >= prev);
        prev = rec.time_ns;
        n++;
    }
    CHECK_EQ_U64(n, 100000);
}

TEST_MAIN(
    RUN(interpolated_clock_tracks_the_realtime_clock);
    RUN(interpolated_clock_stays_right_across_idle_gaps);
    RUN(records_carry_the_time_of_their_append);
)
