#!/usr/bin/env bash
# tests/harness.sh - the suite's own bookkeeping: a case that cannot run here
# (not root, no loop device) is reported as skipped with its reason, and
# tests/run.sh counts it apart, never as passed and never as failed.
set -u
B=${B:-build}
pass() { echo "ok $1"; }
fail() { echo "not ok $1"; shift; printf '  %s\n' "$@"; }
scratch=$(realpath "$(mktemp -d "${DURLOG_TEST_DIR:-/tmp}/harness.XXXXXX")")
trap 'rm -rf "$scratch"' EXIT

# DURLOG_TEST_SKIP leaves a case out with the reason given; a program none of
# whose cases ran exits 77.
out=$(DURLOG_TEST_DIR=$scratch DURLOG_TEST_SKIP=no_create_does_not_create \
      DURLOG_TEST_SKIP_WHY="left out here" "$B/tests/test_api" no_create_does_not_create 2>&1)
rc=$?
if [ "$rc" -eq 77 ] && [ "$out" = "skip no_create_does_not_create: left out here" ]; then
    pass a_case_left_out_is_skipped_with_its_reason
else
    fail a_case_left_out_is_skipped_with_its_reason "status $rc" "$out"
fi

# DURLOG_TEST_SKIP may list several cases, separated by spaces; a name that
# only begins or ends like a listed one is not left out.
out=$(DURLOG_TEST_DIR=$scratch DURLOG_TEST_SKIP="default_level_follows_the_option  no_create_does_not_create" \
      DURLOG_TEST_SKIP_WHY="left out here" "$B/tests/test_api" no_create_does_not_create 2>&1)
rc=$?
near=$(DURLOG_TEST_DIR=$scratch DURLOG_TEST_SKIP="no_create_does_not no_create_does_not_createX" \
       "$B/tests/test_api" no_create_does_not_create 2>&1)
if [ "$rc" -eq 77 ] && [ "$out" = "skip no_create_does_not_create: left out here" ] &&
   [ "$near" = "ok no_create_does_not_create" ]; then
    pass cases_listed_in_durlog_test_skip_are_each_skipped
else
    fail cases_listed_in_durlog_test_skip_are_each_skipped "status $rc" "$out" "$near"
fi

# A case that needs root, run as another user: skipped, saying why.
if [ "$(id -u)" -eq 0 ]; then
    mkdir -p "$scratch/nobody" && chmod 0777 "$scratch" "$scratch/nobody"
    prog=$(cd "$B/tests" && pwd)/test_io
    out=$(cd "$scratch/nobody" && DURLOG_TEST_DIR=$scratch/nobody setpriv --reuid=65534 --regid=65534 \
          --clear-groups "$prog" test_auto_per_file_system 2>&1)
    rc=$?
    if [ "$rc" -eq 77 ] && [[ $out == "skip test_auto_per_file_system: "*root* ]]; then
        pass a_case_that_needs_root_is_skipped_without_it
    else
        fail a_case_that_needs_root_is_skipped_without_it "status $rc" "$out"
    fi
else
    echo "skip a_case_that_needs_root_is_skipped_without_it: needs root to become another user"
fi

# run.sh's counts: skipped cases and wholly skipped programs are listed with
# their reasons and counted apart; the last line counts only what ran.
mkdir -p "$scratch/b/tests"
printf '#!/bin/sh\necho "ok one"\necho "skip two: no loop device"\n' >"$scratch/b/tests/test_partly"
printf '#!/bin/sh\necho "needs a 2 GiB scratch disk"\nexit 77\n' >"$scratch/b/tests/test_wholly"
printf '#!/bin/sh\necho "ok three"\nexit 77\n' >"$scratch/b/tests/test_liar"
chmod +x "$scratch/b/tests/"test_*
out=$(B=$scratch/b DURLOG_TEST_DIR=$scratch/run bash tests/run.sh '^test_(partly|wholly)$' 2>&1)
last=$(printf '%s\n' "$out" | tail -n 2 | paste -sd'|')
if [ "$last" = "2 skipped|1 passed, 0 failed" ] &&
   printf '%s\n' "$out" | grep -q 'skip two: no loop device' &&
   printf '%s\n' "$out" | grep -q 'skip test_wholly: needs a 2 GiB scratch disk'; then
    pass run_sh_counts_skips_apart_with_their_reasons
else
    fail run_sh_counts_skips_apart_with_their_reasons "$out"
fi
# Exit 77 after running a case is not a skip: what ran counts, and a skip
# status with no skipped case is not hidden as success of nothing.
out=$(B=$scratch/b DURLOG_TEST_DIR=$scratch/run bash tests/run.sh '^test_liar$' 2>&1)
last=$(printf '%s\n' "$out" | tail -n 2 | paste -sd'|')
if [ "$last" = "0 skipped|1 passed, 0 failed" ]; then
    pass exit_77_after_a_case_ran_is_not_a_skip
else
    fail exit_77_after_a_case_ran_is_not_a_skip "$out"
fi
