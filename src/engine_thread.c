/*
 * engine_thread.c - the thread engine: the fallback every machine has
 * (engine.h).
 *
 * Its engine thread runs the same loop as the io_uring engine's
 * (engine_loop.c), and a sync it leads calls fdatasync() (fsync() for the
 * directory) on each file in turn, as an appender leading a sync does: it
 * needs nothing set up and nothing freed. DURLOG_ENGINE=thread or
 * options.engine forces it; DURLOG_ENGINE_AUTO falls back to it where the
 * kernel refuses a ring or the library was built without liburing
 * (dl_engine_init). The guarantees are the same either way.
 */
#include "engine.h"

const struct dl_engine_ops dl_engine_thread = {
    .name = "thread",
};
