#!/bin/sh
# Input (issue #12 item 3): --link/--xapply, :::+ and ::::+, --colsep,
# --header, -E, -r, --trim, --arg-sep, --arg-file-sep, and no COMMAND (each
# input is a shell command); held against GNU parallel where it is
# installed, and checked literally where the output does not depend on it.
. "$(dirname "$0")/lib.sh"
. "$TESTDIR/gnu-compare.sh"

W=$T/work
printf 'a\nb\nc\n' >"$W/abc-file"
printf 'd\ne\nf\n' >"$W/def-file"
printf 'f1\tf2\nA\tB\nC\tD\n' >"$W/tsv-file.tsv"
printf 'aardvark\nbabble\ncab\ndab\n' >"$W/from"
printf 'babble\ncab\ndab\neach\n' >"$W/to"

# --link, :::+, ::::+
run -k --link echo ::: A B C ::: D E F
same_str "$OUT" "--link: one value of each group per job" 'A D\nB E\nC F\n'
compare "--link" -- -k --link echo ::: A B C ::: D E F
compare "--link: the shorter group wraps" -- -k --link echo ::: A B C D E ::: F G
compare "--xapply, three groups" -- -k --xapply echo ::: A B C ::: 1 2 ::: x y z w
compare "--link, :::: files" -- -k --link echo :::: abc-file :::: def-file
compare ":::+ after a file" -- -k echo :::: abc-file :::+ G H I :::: def-file
compare "::::+" -- -k echo :::: abc-file ::: G H I ::::+ def-file
compare ":::+: the shorter ends" -- -k echo ::: A B C D E :::+ F G
compare "::::+ F G: the files linked" -- -k echo '{1} - {2}' ::::+ from to
compare ":::+ then a product" -- -k echo ::: A B C :::+ 1 2 3 ::: x y
compare "--link with -N2" -- -k --link -N2 echo ::: a b c d ::: 1 2 3 4

# --colsep
compare "--colsep tab" -- -k --colsep '\t' echo 1={1} 2={2} :::: tsv-file.tsv
compare "--colsep: {} is every column" -- -k --colsep '\t' echo {} :::: tsv-file.tsv
printf 'a,b,,c\nd\ne,,\n' >"$W/csv"
compare "--colsep , : empty and missing columns" -- -k --colsep , echo '[{1}]' '[{2}]' '[{3}]' '[{4}]' :::: csv
printf 'x1  y1 z1\nx2 y2   z2\n' >"$W/spaces"
compare "--colsep ' +' (a regex)" -- -k --colsep ' +' echo '{3}-{2}-{1}' :::: spaces
printf 'foo\tbar\nbaz \t quux\n' >"$W/table"
compare "--colsep trims columns" -- -k -a table --colsep '\t' echo -o {2} -i {1}
compare "--colsep --trim n keeps white space" -- -k -a table --trim n --colsep '\t' echo -o {2} -i {1}

# --header
run -k --header : echo f1={f1} f2={f2} ::: f1 A B ::: f2 C D
same_str "$OUT" "--header :, ::: groups" 'f1=A f2=C\nf1=A f2=D\nf1=B f2=C\nf1=B f2=D\n'
compare "--header : with :::" -- -k --header : echo f1={f1} f2={f2} ::: f1 A B ::: f2 C D
compare "--header : --colsep" -- -k --header : --colsep '\t' echo f1={f1} f2={f2} :::: tsv-file.tsv
compare "--header : from stdin" "$W/tsv-file.tsv" -- -k --header : --colsep '\t' echo {f2} {f1}
compare "--header: {name.} {name/}" -- -k --header : echo {p.} {p/} {p//} ::: p a/b.c d/e.f
compare "--header: names" -- -k --header : echo {colour} {size} ::: colour red green ::: size S M L
printf 'Name\tE-mail address\nAnn\tann@example.com\nBo B\tbo@example.com\n' >"$W/book.tsv"
compare "--header: a name with a space" "$W/book.tsv" -- -k --colsep '\t' --header : echo {Name} '{E-mail address}'
compare "--header '.*': any regex reads the first line" -- -k --header '.*' echo {h} ::: h x y

# -E, -r, --trim
run -k -E stop echo ::: A B stop C D
same_str "$OUT" "-E: inputs end at EOF-STR" 'A\nB\n'
compare "-E" -- -k -E stop echo ::: A B stop C D
printf 'a\nb\nEND\nc\n' >"$W/endin"
compare "--eof from stdin" "$W/endin" -- -k --eof END echo
compare "-E '': no end string" -- -k -E '' echo ::: a '' b
compare "-E in a :::: file" -- -k -E END echo :::: endin
printf '1\n\n  \n2\n' >"$W/blank"
run_in "$W/blank" -k -r echo x
same_str "$OUT" "-r: empty and blank inputs skipped" 'x 1\nx 2\n'
compare "--no-run-if-empty" "$W/blank" -- -k --no-run-if-empty echo
for t in r l lr rl n; do
    compare "--trim $t" -- -k --trim $t echo pre-{}-post ::: ' A ' 'B  '
done

# --arg-sep, --arg-file-sep
compare "--arg-sep" -- -k --arg-sep ,, echo ,, A B C :::: def-file
compare "--arg-file-sep" -- -k --arg-file-sep // echo ::: A B C // def-file
compare "--arg-sep ,,+: linked" -- -k --arg-sep ,, echo ,, A B ,,+ 1 2

# no COMMAND: each input is a command line, run by the shell
run -k ::: 'echo foo' 'echo "a  b" | tr a z'
same_str "$OUT" "no command: inputs run by the shell" 'foo\nz  b\n'
compare "no command" -- -k ::: 'echo foo' 'printf %s\\n x y' true
printf 'echo 1\necho 2; echo 3\n' >"$W/cmds"
compare "no command, from stdin" "$W/cmds" -- -k
compare "no command, -N2 joins inputs" -- -k -N2 ::: echo a echo b
run -k ::: 'exit 3' true
is "$RC" 1 "no command: a failing input counts as a failed job"

# bad values
usage_error "--colsep: a bad regex" "--colsep" --colsep '(' echo ::: a
usage_error "--colsep ''" "--colsep" --colsep '' echo ::: a
usage_error "--trim x" "--trim" --trim x echo ::: a
usage_error "--trim needs a value" "--trim" --trim
usage_error "--header ''" "--header" --header '' echo ::: a
usage_error "--arg-sep ''" "--arg-sep" --arg-sep '' echo ::: a
usage_error "--arg-file-sep ''" "--arg-file-sep" --arg-file-sep= echo ::: a
usage_error "-E needs a value" "-E" -E
usage_error "--link takes no value" "--link" --link=1 echo ::: a
usage_error "-r takes no value" "--no-run-if-empty" --no-run-if-empty=yes echo ::: a
usage_error "::::+ with no file" "::::+" echo ::::+
usage_error "--arg-file-sep: a missing file" "cannot open" --arg-file-sep // echo // "$T/none"

done_testing
