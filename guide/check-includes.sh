#!/usr/bin/env bash
# Check the guide's {{#include}} links and the ANCHOR comments in the source.
#
#   guide/check-includes.sh        (from any directory)
#
# mdBook does not complain about a broken include: an unknown anchor
# includes nothing, and an ANCHOR without its ANCHOR_END includes the rest
# of the file. Both give a chapter with a silently wrong listing. This
# script fails instead:
#
# 1. For every {{#include PATH}}, {{#include PATH:ANCHOR}} and line range
#    {{#include PATH:START:END}} (and the same with #rustdoc_include) in
#    guide/src/**/*.md: PATH (relative to the .md file) must be a file; an
#    ANCHOR must appear in exactly one `ANCHOR: name` line, followed by
#    exactly one `ANCHOR_END: name` line, with at least one line of code
#    (not blank, not an anchor line) between them; a range must start
#    inside the file.
# 2. For every *.rs under step*/ (not target/): no ANCHOR that is never
#    closed, no ANCHOR_END without its ANCHOR, no name opened or closed
#    twice in one file.
#
# Prints one line per problem and exits 1, or a summary line and exits 0.
# Anchor names are matched as mdBook matches them: `ANCHOR:` or
# `ANCHOR_END:`, optional spaces, then a name of letters, digits, _ and -.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
src=$here/src

problems=0
problem() {
    echo "$*"
    problems=$((problems + 1))
}

# anchor_stats FILE NAME: prints "STARTS ENDS ORDER_OK CONTENT_LINES" for
# the anchor NAME in FILE, where ORDER_OK is 1 when the first ANCHOR_END
# after the first ANCHOR exists, and CONTENT_LINES counts the lines between
# them that mdBook would include and that are not blank.
anchor_stats() {
    awk -v want="$2" '
        function anchor_name(line, kind,    rest) {
            # kind is "ANCHOR:" or "ANCHOR_END:"; returns the name or "".
            if (!match(line, kind "[ \t]*[A-Za-z0-9_-]+")) return ""
            rest = substr(line, RSTART, RLENGTH)
            sub(kind "[ \t]*", "", rest)
            return rest
        }
        {
            s = anchor_name($0, "ANCHOR:")
            e = anchor_name($0, "ANCHOR_END:")
            if (s == want) {
                starts++
                if (starts == 1) inside = 1
                next
            }
            if (e == want) {
                ends++
                if (inside) { inside = 0; closed = 1 }
                next
            }
            if (inside && s == "" && e == "" && $0 !~ /^[ \t]*$/) content++
        }
        END { printf "%d %d %d %d\n", starts, ends, closed, content }
    ' "$1"
}

# --- 1. the includes of the guide -------------------------------------

includes=0
anchors_used=0
md_files=0
while IFS= read -r -d '' md; do
    md_files=$((md_files + 1))
    dir=$(dirname "$md")
    rel_md=${md#"$here"/}
    # One match per line of output: LINENO:{{#include ...}}
    while IFS= read -r hit; do
        lineno=${hit%%:*}
        link=${hit#*:}
        # \{{#include ...}} is mdBook's escape for a literal link.
        case $link in '\'*) continue ;; esac
        includes=$((includes + 1))
        target=$(printf '%s' "$link" | sed -E 's/^\{\{[[:space:]]*#[a-z_]+[[:space:]]+//; s/\}\}$//')
        target=$(printf '%s' "$target" | awk '{print $1}')
        path=${target%%:*}
        rest=
        [ "$path" != "$target" ] && rest=${target#*:}
        file=$dir/$path
        where="$rel_md:$lineno: $link"
        if [ ! -f "$file" ]; then
            problem "$where: no such file: $path"
            continue
        fi
        [ -z "$rest" ] && continue
        first=${rest%%:*}
        if [ -z "$first" ] || [[ $first =~ ^[0-9]+$ ]]; then
            # A line range START:END; START must be inside the file.
            lines=$(wc -l < "$file")
            if [ -n "$first" ] && [ "$first" -gt "$lines" ]; then
                problem "$where: line $first is past the end of $path ($lines lines)"
            fi
            continue
        fi
        anchors_used=$((anchors_used + 1))
        read -r starts ends closed content < <(anchor_stats "$file" "$first")
        if [ "$starts" -eq 0 ]; then
            problem "$where: no 'ANCHOR: $first' in $path"
        elif [ "$starts" -gt 1 ]; then
            problem "$where: 'ANCHOR: $first' appears $starts times in $path"
        elif [ "$closed" -eq 0 ]; then
            problem "$where: no 'ANCHOR_END: $first' after 'ANCHOR: $first' in $path"
        elif [ "$ends" -gt 1 ]; then
            problem "$where: 'ANCHOR_END: $first' appears $ends times in $path"
        elif [ "$content" -eq 0 ]; then
            problem "$where: anchor '$first' in $path encloses no code"
        fi
    done < <(grep -n -o -E '\\?\{\{[[:space:]]*#(include|rustdoc_include)[[:space:]]+[^}]+\}\}' "$md" || true)
done < <(find "$src" -name '*.md' -type f -print0 | sort -z)

# --- 2. the anchors of the source -------------------------------------

rs_files=0
anchors_defined=0
while IFS= read -r -d '' rs; do
    rs_files=$((rs_files + 1))
    rel_rs=${rs#"$repo"/}
    out=$(awk -v file="$rel_rs" '
        function anchor_name(line, kind,    rest) {
            if (!match(line, kind "[ \t]*[A-Za-z0-9_-]+")) return ""
            rest = substr(line, RSTART, RLENGTH)
            sub(kind "[ \t]*", "", rest)
            return rest
        }
        {
            s = anchor_name($0, "ANCHOR:")
            e = anchor_name($0, "ANCHOR_END:")
            if (s != "") {
                defined++
                if (s in opened_at)
                    printf "%s:%d: ANCHOR %s opened a second time (first at line %d)\n", file, NR, s, opened_at[s]
                else
                    opened_at[s] = NR
                open[s] = 1
            }
            if (e != "") {
                if (e in closed_at)
                    printf "%s:%d: ANCHOR_END %s closed a second time (first at line %d)\n", file, NR, e, closed_at[e]
                else
                    closed_at[e] = NR
                if (!(e in opened_at))
                    printf "%s:%d: ANCHOR_END %s without an ANCHOR %s before it\n", file, NR, e, e
                open[e] = 0
            }
        }
        END {
            for (name in open)
                if (open[name])
                    printf "%s:%d: ANCHOR %s is never closed (no ANCHOR_END %s after it)\n", file, opened_at[name], name, name
            printf "defined %d\n", defined
        }
    ' "$rs")
    while IFS= read -r line; do
        case $line in
            "defined "*) anchors_defined=$((anchors_defined + ${line#defined })) ;;
            ?*) problem "$line" ;;
        esac
    done <<< "$out"
done < <(find "$repo" -mindepth 1 -maxdepth 1 -type d -name 'step*' -print0 |
         xargs -0 -I{} find {} -name target -prune -o -name '*.rs' -type f -print0 |
         sort -z)

if [ "$problems" -gt 0 ]; then
    echo "check-includes: $problems problem(s)" >&2
    exit 1
fi
echo "check-includes: ok: $includes includes ($anchors_used by anchor) in $md_files .md files;" \
     "$anchors_defined anchors in $rs_files .rs files, all closed once"
