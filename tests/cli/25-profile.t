#!/bin/sh
# What GNU parallel reads before its command line, and a few options about
# where jobs run: --shebang and --shebang-wrap (#! lines), --profile/-J,
# ~/.parallel/config, $PARALLEL, --plain, --record-env, -S : (this machine);
# compared with GNU parallel where it defines the output.
. "$(dirname "$0")/lib.sh"
. "$TESTDIR/gnu-compare.sh"
cd "$T/work" || exit 1

# profile NAME LINE...: the profile ~/.parallel/NAME, for both tools' homes.
profile() {
    _name=$1
    shift
    for _h in "$HOME" "$PHOME"; do
        mkdir -p "$_h/.parallel"
        printf '%s\n' "$@" >"$_h/.parallel/$_name"
    done
}

# ---------------------------------------------------------------- #! lines
# The kernel passes a #! line's options as one argument: the script runs
# the tool (a wrapper here, so that FORKPOOL_WRAP applies) with it.
cat >"$B/fp" <<EOF
#!/bin/sh
exec $FORKPOOL_WRAP '$FORKPOOL_BIN' "\$@"
EOF
chmod +x "$B/fp"
printf '#!%s --shebang -r echo\n\nfoo\nbar\n\nbaz\n' "$B/fp" >inputs.sh
chmod +x inputs.sh
./inputs.sh >"$OUT" 2>"$ERR"
is "$?" 0 "--shebang: exit 0"
sort "$OUT" >"$T/s"
same_str "$T/s" "--shebang -r echo: the script's other lines are the inputs (not the #! line, -r skips empty ones)" 'bar\nbaz\nfoo\n'
empty "$ERR" "--shebang: nothing on stderr"
printf '#!%s --shebang -k echo x\nfoo\n\n' "$B/fp" >empty.sh
chmod +x empty.sh
./empty.sh >"$OUT" 2>&1
same_str "$OUT" "--shebang -k echo x: an empty line is an input without -r, options and command words split" 'x foo\nx \n'
printf '#!%s --shebang-wrap /bin/sh\necho "[$*]"\n' "$B/fp" >wrap.sh
chmod +x wrap.sh
./wrap.sh a 'b c' >"$OUT" 2>"$ERR"
is "$?" 0 "--shebang-wrap: exit 0"
sort "$OUT" >"$T/s"
same_str "$T/s" "--shebang-wrap /bin/sh: the script run by it once per argument" '[a]\n[b c]\n'
./wrap.sh >"$OUT" 2>"$ERR"
is "$?" 0 "--shebang-wrap, no arguments: exit 0"
empty "$OUT" "--shebang-wrap, no arguments: no job"
printf '#!%s --shebang-wrap -k --tag /bin/sh\nexit "$1"\n' "$B/fp" >fail.sh
chmod +x fail.sh
./fail.sh 0 3 4 >"$OUT" 2>"$ERR"
is "$?" 2 "--shebang-wrap: options before the interpreter; two jobs failed: exit 2"
usage_error "--shebang, not first" "first argument" -k --shebang echo
usage_error "--shebang-wrap with no script" "no script" '--shebang-wrap /bin/sh'
usage_error "--shebang, unterminated quote" "unterminated quote" "--shebang echo 'x" inputs.sh

# ---------------------------------------------------------------- profiles
profile nicetimeout '--nice 17' '--timeout 1000'
compare_sorted "--profile (the tutorial's nicetimeout, 300% made a fixed 1000 s: a percentage of 1 ms jobs is timing-dependent)" -- \
    --profile nicetimeout echo ::: A B C
profile keep '# a comment line' '  # and an indented one' '-k --tag'
profile quoted '--tagstring "[\"q\" $x \\]" -j2'
compare "--profile: comments skipped" -- --profile keep echo ::: 1 2
compare "-J, two profiles, shell quoting in them" -- -J keep -J quoted echo ::: 1 2
compare "command-line options after the profile's (-j1 wins: {%} is 1)" -- --profile quoted -j1 -k echo {%} ::: 1 2
profile prefix '-k echo pre'
compare "a profile's command words come before the command line's" -- -J prefix echo ::: a b
mkdir -p sub
printf -- '--tag -k\n' >sub/prof
compare "--profile ./PATH: the file itself" -- --profile ./sub/prof echo ::: a
usage_error "--profile NAME that does not exist (GNU parallel ignores it)" "nosuch" \
    --profile nosuch echo ::: a
profile bad '-k --no-such-option'
usage_error "an unknown option in a profile: its file named" ".parallel/bad" --profile bad echo ::: a
grep -qF -e "--no-such-option" "$ERR" && pass "... and the option" || fail "... and the option"
profile unbalanced "-k 'x"
usage_error "an unterminated quote in a profile: file and line" "unbalanced, line 1" \
    --profile unbalanced echo ::: a

# ~/.parallel/config when no --profile; --plain skips it; $PARALLEL after it
profile config '-k --tag'
compare "~/.parallel/config is read" -- echo ::: a b
compare "--plain: it is not" -- --plain -k echo ::: a b
profile keep '-k'
compare "--profile: config is not read then" -- --profile keep echo ::: a b
rm "$HOME/.parallel/config" "$PHOME/.parallel/config"
export PARALLEL="-k --tagstring 'p q'"
compare "\$PARALLEL's options (shell quoting)" -- echo ::: a b
compare "\$PARALLEL, then the command line's options" -- --tagstring r echo ::: a b
PARALLEL="--no-such"
usage_error "an unknown option in \$PARALLEL: named" '$PARALLEL' echo ::: a
unset PARALLEL
mkdir "$T/ph"
printf -- '--tag\n' >"$T/ph/config"
export PARALLEL_HOME="$T/ph"
run -k echo ::: a
unset PARALLEL_HOME
same_str "$OUT" "\$PARALLEL_HOME: its config is read" 'a\ta\n'

# --record-env: the environment's names, in the config directory
export FP_PROBE=1
run --record-env
unset FP_PROBE
is "$RC" 0 "--record-env: exit 0"
empty "$OUT" "--record-env: nothing on stdout"
grep -qx FP_PROBE "$HOME/.parallel/ignored_vars" && grep -qx HOME "$HOME/.parallel/ignored_vars" &&
    ! grep -q = "$HOME/.parallel/ignored_vars"
ok "--record-env: ~/.parallel/ignored_vars lists the variables' names" test $? = 0
export PARALLEL_HOME="$T/ph"
run --record-env
grep -qx HOME "$T/ph/ignored_vars"
ok "--record-env: in \$PARALLEL_HOME when set" test $? = 0
rm "$T/ph/ignored_vars"
mkdir "$T/ph/ignored_vars" # not a file: the write fails, even for root
usage_error "--record-env, ignored_vars cannot be written" "ignored_vars" --record-env
unset PARALLEL_HOME

# -S : is this machine; remote hosts are refused
compare "-S : (the tutorial's line)" -- -S : echo running on ::: the_local_machine
compare "--sshlogin :,: -k" -- --sshlogin :,: -k echo ::: a b
usage_error "-S host" "this machine only" -S host1 echo ::: a
usage_error "-S :,host" "this machine only" -S :,host1 echo ::: a

done_testing
