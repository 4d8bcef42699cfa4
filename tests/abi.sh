#!/usr/bin/env bash
# tests/abi.sh - the library as its users get it (issue #16): `make install`
# into a scratch DESTDIR, a program built against the installed header alone
# and run on the installed shared library, the symbols that library exports,
# its soname, durlog.pc, and `make uninstall`. Run by tests/run.sh from the
# repository root, on the build in $B (default build), which must be up to
# date: the test installs what was built, it does not build.
#
#   DURLOG_TEST_DIR  scratch directory (default build/testtmp)
#   CC               compiler for the test program (default cc)
#
# Works on a sanitizer build too: the test program is then compiled with the
# sanitizers whose run-time the library calls. Each test is a shell function
# run by `t`, which records broken expectations with `fail` (or why it cannot
# run here with `skip`): tests/lib/cli.sh. Prints "ok NAME" or "not ok NAME"
# plus the reasons per test; exits 1 if any failed.
set -u

B=${B:-build}
CC=${CC:-cc}
. tests/lib/cli.sh
SCRATCH=$(cd "$SCRATCH" && pwd) # make runs with other working directories

PREFIX=/usr/local
DEST=$SCRATCH/dest
ROOT=$DEST$PREFIX # where the installed files are

version_macro() { # MAJOR|MINOR|PATCH: its value in include/durlog.h
    sed -n "s/^#define DURLOG_VERSION_$1 *\([0-9][0-9]*\) *$/\1/p" include/durlog.h
}
MAJOR=$(version_macro MAJOR)
MINOR=$(version_macro MINOR)
VERSION=$MAJOR.$MINOR.$(version_macro PATCH)
SO_REAL=libdurlog.so.$VERSION
# Before 1.0 the soname carries the minor version too (see the Makefile).
if [ "$MAJOR" = 0 ]; then SO_NAME=libdurlog.so.0.$MINOR; else SO_NAME=libdurlog.so.$MAJOR; fi

# quietly CMD...: runs it; on failure records its status and output.
quietly() {
    local out rc
    out=$("$@" 2>&1)
    rc=$?
    [ "$rc" -eq 0 ] && return 0
    fail "'$*' exited with status $rc:"
    printf '%s\n' "$out" | tail -n 20 | sed 's/^/    | /' >>"$WHY"
    return 1
}

# same_list WHAT EXPECTED GOT: records the difference of two sorted lists.
same_list() {
    [ "$2" = "$3" ] && return 0
    fail "$1 (< expected, > got):"
    diff <(printf '%s\n' "$2") <(printf '%s\n' "$3") | grep '^[<>]' | sed 's/^/    /' >>"$WHY"
}

# Every function the public headers in DIR (default include) declare, one
# name a line, sorted: the headers go through the preprocessor (comments and
# macros gone), then each declaration ("...;" or "...{") that is not a
# typedef gives the name before its first parenthesis.
header_functions() {
    local dir=${1:-include} h
    for h in "$dir"/*.h; do
        "$CC" -E -P -I"$dir" "$h" || return 1
    done | grep -v '^[[:space:]]*#' | tr '\n' ' ' | tr ';{}' '\n\n\n' |
        grep -v '^[[:space:]]*typedef[[:space:]]' | grep -o 'durlog_[A-Za-z0-9_]*[[:space:]]*(' |
        tr -d ' \t(' | sort -u
}

# Flags for programs linked with the library: the sanitizers the build in $B
# was made with (their run-time functions are what the library leaves
# undefined), none for a normal build.
sanitizer_flags() {
    local undefined
    undefined=$(nm -D --undefined-only "$B/$SO_REAL")
    case $undefined in *" __asan_"*) printf ' -fsanitize=address';; esac
    case $undefined in *" __ubsan_"*) printf ' -fsanitize=undefined';; esac
    case $undefined in *" __tsan_"*) printf ' -fsanitize=thread';; esac
}
SANITIZE_FLAGS=$(sanitizer_flags)

# The installed files, as paths under $DEST.
installed_files() {
    (cd "$DEST" && find . ! -type d | sed 's|^\.||' | sort)
}

install_puts_headers_libraries_pc_man_pages_and_command_in_place() {
    local expected h m
    expected=$(
        echo "$PREFIX/bin/durlog"
        for h in include/*.h; do echo "$PREFIX/include/${h#include/}"; done
        for f in libdurlog.a "$SO_REAL" "$SO_NAME" libdurlog.so pkgconfig/durlog.pc; do
            echo "$PREFIX/lib/$f"
        done
        for m in man/*.1; do echo "$PREFIX/share/man/man1/${m#man/}"; done
        for m in man/*.3; do echo "$PREFIX/share/man/man3/${m#man/}"; done
        # libdurlog-ship, where nats.c is installed (the Makefile builds it then)
        if [ -f "$B/libdurlog-ship.a" ]; then
            echo "$PREFIX/include/durlog_ship.h"
            echo "$PREFIX/lib/libdurlog-ship.a"
        fi
    )
    same_list "installed files" "$(printf '%s\n' "$expected" | sort)" "$(installed_files)"
    [ -f "$ROOT/lib/$SO_REAL" ] && [ ! -L "$ROOT/lib/$SO_REAL" ] ||
        fail "$SO_REAL is not a regular file"
    [ "$(readlink "$ROOT/lib/$SO_NAME")" = "$SO_REAL" ] || fail "$SO_NAME does not point to $SO_REAL"
    [ "$(readlink "$ROOT/lib/libdurlog.so")" = "$SO_NAME" ] ||
        fail "libdurlog.so does not point to $SO_NAME"
    for h in include/*.h; do
        cmp -s "$h" "$ROOT/include/${h#include/}" || fail "installed ${h#include/} differs from $h"
    done
}

# The program is built with -Werror and -pedantic: the installed header must
# compile cleanly in a user's strict build.
USER_CFLAGS="-std=c11 -pedantic -Wall -Wextra -Werror"

program_built_against_the_installed_header_runs_on_the_shared_library() {
    local prog=$SCRATCH/abi_program_shared
    # shellcheck disable=SC2086 # the flag lists are word lists
    quietly "$CC" $USER_CFLAGS $SANITIZE_FLAGS -I"$ROOT/include" tests/abi_program.c \
        -o "$prog" -L"$ROOT/lib" -ldurlog -Wl,-rpath,"$ROOT/lib" || return
    readelf -d "$prog" | grep -q "(NEEDED).*\[$SO_NAME\]" ||
        fail "the program does not name $SO_NAME among the libraries it needs"
    ldd "$prog" | grep -q "$SO_NAME => $ROOT/lib/$SO_NAME" ||
        fail "the program does not load the installed $SO_NAME: $(ldd "$prog" | grep durlog)"
    quietly "$prog" "$SCRATCH/shared-log" || return
    same_list "the program's output" "$(printf 'version %s\nread back 3 records' "$VERSION")" \
        "$("$prog" "$SCRATCH/shared-log-2")"
}

# pkg-config with the staged prefix; its flags must build the program both
# against the shared library and, with --static, against libdurlog.a (the
# libraries the static one needs, liburing among them, come from the .pc).
durlog_pc_builds_the_program_shared_and_static() {
    local pc=(pkg-config --define-variable=prefix="$ROOT")
    local cflags libs static_libs prog=$SCRATCH/abi_program_static
    command -v pkg-config >/dev/null || { skip "pkg-config is not installed (scripts/deps.sh installs it)"; return; }
    export PKG_CONFIG_PATH=$ROOT/lib/pkgconfig
    [ "$("${pc[@]}" --modversion durlog)" = "$VERSION" ] ||
        fail "pkg-config --modversion durlog is not $VERSION"
    cflags=$("${pc[@]}" --cflags durlog) && libs=$("${pc[@]}" --libs durlog) &&
        static_libs=$("${pc[@]}" --static --libs durlog) ||
        { fail "pkg-config cannot read the installed durlog.pc"; unset PKG_CONFIG_PATH; return; }
    unset PKG_CONFIG_PATH
    # shellcheck disable=SC2086
    quietly "$CC" $USER_CFLAGS $SANITIZE_FLAGS $cflags tests/abi_program.c -o "$SCRATCH/abi_program_pc" \
        $libs -Wl,-rpath,"$ROOT/lib" && quietly "$SCRATCH/abi_program_pc" "$SCRATCH/pc-log"
    # -Bstatic around -ldurlog picks libdurlog.a over the shared library.
    # shellcheck disable=SC2086
    quietly "$CC" $USER_CFLAGS $SANITIZE_FLAGS $cflags tests/abi_program.c -o "$prog" \
        ${static_libs/-ldurlog/-Wl,-Bstatic -ldurlog -Wl,-Bdynamic} || return
    readelf -d "$prog" | grep -q "libdurlog" && fail "the static program still needs libdurlog.so"
    quietly "$prog" "$SCRATCH/static-log"
}

# libdurlog-ship from the installed files: its header compiles in a strict
# user's build, and a program links with -ldurlog-ship -ldurlog -lnats and
# gets a usage error back from durlog_ship_open (no server needed).
ship_program_builds_against_the_installed_ship_header_and_library() {
    local prog=$SCRATCH/ship_program
    [ -f "$B/libdurlog-ship.a" ] || { skip "libdurlog-ship is not built (no libnats-dev; scripts/deps.sh installs it)"; return; }
    cat >"$SCRATCH/ship_program.c" <<'PROG'
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <durlog_ship.h>
int main(void)
{
    durlog_ship_options o;
    durlog_ship *s;
    char err[256] = "";
    durlog_ship_options_init(&o);
    o.errbuf = err;
    o.errbuf_size = sizeof err;
    int rc = durlog_ship_open("/nonexistent", DURLOG_SHIP_PUBLISH, &o, &s);
    printf("%d %s\n", rc == -EINVAL, strstr(err, "required") ? "required" : err);
    return 0;
}
PROG
    # shellcheck disable=SC2086
    quietly "$CC" $USER_CFLAGS $SANITIZE_FLAGS -I"$ROOT/include" "$SCRATCH/ship_program.c" -o "$prog" \
        -L"$ROOT/lib" -Wl,-Bstatic -ldurlog-ship -ldurlog -Wl,-Bdynamic -lnats -luring -lisal -pthread || return
    same_list "the ship program's output" "1 required" "$("$prog")"
}

shared_library_exports_exactly_the_header_functions_under_one_version_node() {
    local lib=$ROOT/lib/$SO_REAL declared listed exported nodes
    declared=$(header_functions) || { fail "the headers do not preprocess"; return; }
    [ -n "$declared" ] || { fail "no function found in include/*.h"; return; }
    listed=$(sed -n 's/^[[:space:]]*\(durlog_[A-Za-z0-9_]*\);.*/\1/p' src/libdurlog.map | sort)
    same_list "src/libdurlog.map against the functions in include/*.h" "$declared" "$listed"
    [ -z "$(printf '%s\n' "$listed" | uniq -d)" ] || fail "src/libdurlog.map lists a name twice"
    # nm -D prints "VALUE TYPE NAME@@NODE" for each defined dynamic symbol;
    # the version node itself is an absolute (A) symbol.
    nodes=$(sed -n 's/^\([A-Z][A-Z0-9_.]*\)[[:space:]]*{.*/\1/p' src/libdurlog.map | sort)
    exported=$(nm -D --defined-only "$lib" | awk '$2 != "A" { print $2, $3 }' | sort -k2)
    same_list "functions the library exports" "$declared" \
        "$(printf '%s\n' "$exported" | awk '$1 == "T" { sub(/@.*/, "", $2); print $2 }' | sort)"
    printf '%s\n' "$exported" | awk '$1 != "T" || $2 !~ /^durlog_[A-Za-z0-9_]*@@/' | grep . |
        sed 's/^/    exported but not a versioned durlog_ function: /' >>"$WHY"
    same_list "absolute symbols (version nodes)" "$nodes" \
        "$(nm -D --defined-only "$lib" | awk '$2 == "A" { print $3 }' | sort)"
}

shared_library_soname_names_the_abi_version() {
    local soname
    soname=$(readelf -d "$ROOT/lib/$SO_REAL" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    [ "$soname" = "$SO_NAME" ] || fail "SONAME is '$soname', expected $SO_NAME"
}

installed_command_reports_the_header_version() {
    local out
    out=$("$ROOT/bin/durlog" --version) || fail "durlog --version failed"
    [ "$out" = "durlog $VERSION" ] || fail "durlog --version printed '$out', expected 'durlog $VERSION'"
}

# Every function the installed headers declare has a section 3 page under its
# own name (issue #16): the page itself, or a one-line ".so man3/PAGE.3" link
# to the page of its group (liburing's way), which names it in NAME and has
# RETURN VALUE and ERRORS sections. Every installed page (links followed, as
# man does) renders without a warning (groff-base is in scripts/deps.sh).
every_public_function_has_an_installed_man_page_with_return_value_and_errors() {
    local man3=$ROOT/share/man/man3 declared f page target out
    declared=$(header_functions "$ROOT/include") ||
        { fail "the installed headers do not preprocess"; return; }
    [ -n "$declared" ] || { fail "no function found in the installed headers"; return; }
    for f in $declared; do
        page=$man3/$f.3
        [ -f "$page" ] || { fail "no man page for $f (man3/$f.3 is not installed)"; continue; }
        target=$(sed -n '1s|^\.so[[:space:]][[:space:]]*man3/\([^[:space:]/]*\.3\)[[:space:]]*$|\1|p' "$page")
        if [ -n "$target" ]; then
            [ "$(wc -l <"$page")" -eq 1 ] || fail "man3/$f.3: a .so link page holds more than the link"
            page=$man3/$target
            [ -f "$page" ] || { fail "man3/$f.3 links to man3/$target, which is not installed"; continue; }
            ! grep -q '^\.so' "$page" || { fail "man3/$f.3 links to man3/$target, itself a link"; continue; }
        fi
        sed -n '/^\.SH NAME/,/^\.SH SYNOPSIS/p' "$page" | grep -qw "$f" ||
            fail "man3/${page##*/} (the page of $f) does not name $f in its NAME section"
        grep -q '^\.SH RETURN VALUE' "$page" ||
            fail "man3/${page##*/} (the page of $f) has no RETURN VALUE section"
        grep -q '^\.SH ERRORS' "$page" ||
            fail "man3/${page##*/} (the page of $f) has no ERRORS section"
    done
    command -v groff >/dev/null || { fail "groff is missing (scripts/deps.sh installs groff-base)"; return; }
    for page in "$man3"/*.3 "$ROOT"/share/man/man1/*.1; do
        out=$(cd "$ROOT/share/man" && groff -man -ww -z "${page#"$ROOT/share/man/"}" 2>&1)
        [ -z "$out" ] || fail "groff warns about ${page#"$ROOT/share/man/"}: $out"
    done
}

# Files that were there before stay: uninstall removes only what install put,
# every man page and .so link page included.
uninstall_removes_every_installed_file_and_nothing_else() {
    local left
    echo other >"$ROOT/lib/other.txt"
    echo other >"$ROOT/include/other.h"
    quietly make -s uninstall B="$B" DESTDIR="$DEST" PREFIX="$PREFIX" || return
    left=$(cd "$ROOT/share/man" 2>/dev/null && find . ! -type d | sed 's|^\./||' | sort)
    [ -z "$left" ] || fail "man pages left after make uninstall: $(printf '%s\n' "$left" | tr '\n' ' ')"
    same_list "files left after make uninstall" \
        "$(printf '%s\n' "$PREFIX/include/other.h" "$PREFIX/lib/other.txt")" "$(installed_files)"
}

# A DESTDIR with a space in it: install and uninstall (twice) work there,
# and touch nothing outside it. Unquoted, the name split in two: install
# failed, and uninstall ran `rm -f <first word> <second word>$PREFIX/...`,
# removing the files of that name outside DESTDIR (here the decoy, which
# the second word names). An install directory with a space is refused
# (make words cannot hold it).
install_and_uninstall_work_in_a_destdir_with_a_space() {
    local spaced="$SCRATCH/stage $SCRATCH/other" n
    mkdir -p "$SCRATCH/stage" "$SCRATCH/other$PREFIX/bin"
    echo decoy >"$SCRATCH/other$PREFIX/bin/durlog"
    quietly make -s install B="$B" DESTDIR="$spaced" PREFIX="$PREFIX" || return
    [ -x "$spaced$PREFIX/bin/durlog" ] || fail "no durlog under the spaced DESTDIR"
    quietly make -s uninstall B="$B" DESTDIR="$spaced" PREFIX="$PREFIX"
    quietly make -s uninstall B="$B" DESTDIR="$spaced" PREFIX="$PREFIX"
    n=$(find "$spaced" ! -type d | wc -l)
    [ "$n" -eq 0 ] || fail "$n files left under the spaced DESTDIR after uninstall"
    [ "$(cat "$SCRATCH/other$PREFIX/bin/durlog")" = decoy ] ||
        fail "uninstall removed a file outside DESTDIR"
    [ -d "$SCRATCH/stage" ] || fail "uninstall removed a directory outside DESTDIR"
    if make -s install B="$B" DESTDIR="$spaced" PREFIX="/opt/a b" >/dev/null 2>&1; then
        fail "make install took a PREFIX with a space"
    fi
    rm -rf "$SCRATCH/stage" "$SCRATCH/stage " "$SCRATCH/other"
}

if ! make -q B="$B" "$B/libdurlog.a" "$B/$SO_REAL" "$B/durlog" 2>/dev/null; then
    echo "not ok abi_needs_an_up_to_date_build (run make B=$B first)"
    exit 1
fi
WHY=$SCRATCH/why
: >"$WHY"
if ! quietly make -s install B="$B" DESTDIR="$DEST" PREFIX="$PREFIX"; then
    echo "not ok make_install_succeeds"
    sed 's/^/  /' "$WHY"
    exit 1
fi
t install_puts_headers_libraries_pc_man_pages_and_command_in_place
t ship_program_builds_against_the_installed_ship_header_and_library
t program_built_against_the_installed_header_runs_on_the_shared_library
t durlog_pc_builds_the_program_shared_and_static
t shared_library_exports_exactly_the_header_functions_under_one_version_node
t shared_library_soname_names_the_abi_version
t installed_command_reports_the_header_version
t every_public_function_has_an_installed_man_page_with_return_value_and_errors
t uninstall_removes_every_installed_file_and_nothing_else
t install_and_uninstall_work_in_a_destdir_with_a_space
[ "$failed" -eq 0 ]
