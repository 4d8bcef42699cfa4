#!/usr/bin/env bash
# Lists the cycles in the call graph between the library's files: file A
# calls a function defined in file B and B (directly or through others)
# calls one defined in A. A file is easiest to read, test and replace when
# what it calls does not call it back; a cycle says two files share one
# concern, or that something belongs in a third file both use.
#
#   scripts/callcycles.sh [DIR]    (default src/)
#
# Prints the pairs of files that call each other directly, then each set of
# files that reach each other through calls (a cycle, however long) with the
# calls between them, and exits 1 if there is any cycle, 0 if there is none.
#
# How: every non-static function defined at the start of a line of a DIR/*.c
# file is that file's export; a file calls another when an identifier in its
# code (comments and strings stripped by the C preprocessor) is the
# other's export. A name in a comment or a macro body never counts; a
# function called only through a pointer does not either.
set -euo pipefail
dir=${1:-src}
cc=${CC:-cc}
shopt -s nullglob
files=("$dir"/*.c)
[ ${#files[@]} -gt 0 ] || { echo "callcycles: no .c files in $dir" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for f in "${files[@]}"; do
    base=$(basename "$f")
    # -fpreprocessed: comments go, nothing is included or expanded.
    "$cc" -fpreprocessed -dD -E -P "$f" 2>/dev/null \
        | sed -E 's/"([^"\\]|\\.)*"/""/g' >"$tmp/$base.code" \
        || { echo "callcycles: cannot read $f" >&2; exit 2; }
    # Definitions: "type name(" at column 0, not static, not a prototype
    # (a definition's line or the following ones do not end in ';' before
    # its '{').
    awk -v file="$base" '
        /^[A-Za-z_]/ && !/^(static|typedef|struct [A-Za-z_]+ \{|#|__attribute__)/ && /\(/ {
            head = $0; sub(/\(.*/, "", head)
            n = split(head, w, /[^A-Za-z0-9_]+/)
            name = w[n]; if (name == "") name = w[n - 1]
            pending = name; text = $0
            if (text ~ /;[[:space:]]*$/) pending = ""
            else if (text ~ /\{/) { print name, file; pending = "" }
            next
        }
        pending != "" {
            if ($0 ~ /;[[:space:]]*$/ && $0 !~ /\{/) pending = ""
            else if ($0 ~ /^\{/ || $0 ~ /\)[[:space:]]*\{/) { print pending, file; pending = "" }
        }' "$tmp/$base.code"
done >"$tmp/defs"

# Edges "caller callee function": identifiers used in one file, defined in another.
for f in "${files[@]}"; do
    base=$(basename "$f")
    grep -oE '\b[A-Za-z_][A-Za-z0-9_]*\b' "$tmp/$base.code" | sort -u \
        | awk -v file="$base" 'NR == FNR { def[$1] = $2; next }
                               ($1 in def) && def[$1] != file { print file, def[$1], $1 }' \
            "$tmp/defs" -
done >"$tmp/edges"

# Files that reach each other (transitive closure; the graph is small).
awk '
    { node[$1]; node[$2]; reach[$1, $2] = 1
      calls[$1, $2] = calls[$1, $2] (calls[$1, $2] == "" ? "" : ", ") $3 }
    END {
        n = 0
        for (v in node) names[++n] = v
        # sort the names, for stable output
        for (i = 2; i <= n; i++) for (j = i; j > 1 && names[j] < names[j - 1]; j--) {
            t = names[j]; names[j] = names[j - 1]; names[j - 1] = t }
        for (k = 1; k <= n; k++) for (i = 1; i <= n; i++) if (reach[names[i], names[k]])
            for (j = 1; j <= n; j++) if (reach[names[k], names[j]]) reach[names[i], names[j]] = 1
        # Two files calling each other directly: the shortest cycles.
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
            if (calls[names[i], names[j]] != "" && calls[names[j], names[i]] != "")
                print "calls both ways: " names[i] " <-> " names[j]
        cycles = 0
        for (i = 1; i <= n; i++) {
            a = names[i]
            if ((a in done) || !reach[a, a]) continue
            members = a; done[a]
            for (j = i + 1; j <= n; j++) {
                b = names[j]
                if (reach[a, b] && reach[b, a]) { members = members " " b; done[b] }
            }
            cycles++
            print "cycle: " members
            m = split(members, ms, " ")
            for (x = 1; x <= m; x++) for (y = 1; y <= m; y++)
                if (x != y && calls[ms[x], ms[y]] != "")
                    print "  " ms[x] " -> " ms[y] ": " calls[ms[x], ms[y]]
        }
        if (!cycles) print "no call cycles between the files of the directory"
        exit cycles ? 1 : 0
    }' "$tmp/edges"
