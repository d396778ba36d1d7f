#!/bin/sh
# Installs section-3 manual pages into DIR, and for every other name on a
# page's NAME line (".SH NAME" then "name1, name2 \- summary") a symlink to
# the page, so that `man forkpool_catch` opens forkpool_then.3.
#
# Usage: tools/install-man.sh DIR PAGE...
set -eu
dir=$1
shift
install -d "$dir"
for page in "$@"; do
    base=${page##*/}
    install -m 644 "$page" "$dir/$base"
    names=$(sed -n '/^\.SH NAME/{n;p;q;}' "$page" | sed 's/ *\\-.*//; s/,/ /g')
    [ -n "$names" ] || { echo "$page: no NAME line" >&2; exit 1; }
    for n in $names; do
        [ "$n.3" = "$base" ] || ln -sf "$base" "$dir/$n.3"
    done
done
