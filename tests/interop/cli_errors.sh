#!/bin/bash
# cli_errors.sh - the tools' command-line errors, as a table.
#
# Each row: the exit status wanted, a text stderr must contain (fixed
# string), and the command line (words split on blanks; @LONG@ is a socket
# path longer than a unix socket allows, @DIR@ this test's work directory).
# A usage error (exit 2) must be exactly one line that names the option.
# "help" rows check that --help (stdout) mentions the text instead: every
# retry and wait a tool makes is documented there.
#
# Prints PASS/FAIL lines and "N passed, N failed, N skipped".
set -uo pipefail
. "$(dirname "$0")/hostile_common.bash"
hc_init cli_errors
hc_need virtq-net virtq-blk virtq-user virtq-bench virtq-demo virtq-hostile virtq-svq

LONG=$WORK/$(printf 's%.0s' {1..120}).sock
touch disk.img notasocket

# exit | stderr contains | command
CASES='
2 | bad value for --queues: '"'"'0'"'"'             | virtq-blk --queues 0 -s x.sock -f disk.img
2 | unknown option '"'"'--bogus'"'"'                 | virtq-blk --bogus
2 | unexpected argument '"'"'extra'"'"'              | virtq-blk --socket S --file D extra
2 | --socket-path (or --fd) and --file are required  | virtq-blk
2 | --file is required                               | virtq-blk -s x.sock
2 | --socket-path (or --fd) is required              | virtq-blk --file disk.img
2 | bad value for --serial                           | virtq-blk -s x.sock -f disk.img --serial 123456789012345678901
2 | at most 20                                       | virtq-blk -s x.sock -f disk.img --serial 123456789012345678901
2 | bad value for --stats                            | virtq-blk -s x.sock -f disk.img --stats -1
1 | cannot serve @DIR@/missing.img                   | virtq-blk -s x.sock -f @DIR@/missing.img --stats 0
1 | cannot serve @DIR@/missing.img                   | virtq-blk --socket-path x.sock --blk-file @DIR@/missing.img --read-only
2 | bad value for --blk-size                         | virtq-blk -s x.sock -f disk.img --blk-size 1000
2 | not a listening unix socket                      | virtq-blk --fd 0 -f disk.img
2 | fd 99999 is not open                             | virtq-blk --fd 99999 -f disk.img
2 | option '"'"'--queues'"'"' needs a value          | virtq-blk -s x.sock -f disk.img --queues
2 | bad value for --log-format                       | virtq-blk --log-format xml
2 | CPU 999 does not exist                           | virtq-net -s x.sock --cpus 999
2 | must be 0..1023                                  | virtq-net -s x.sock --cpus 9999
2 | bad value for --cpus                             | virtq-net -s x.sock --cpus 0,9999
2 | bad value for --queues                           | virtq-net -s x.sock -q 0
2 | no port (--socket-path, --fd or --tap)           | virtq-net
2 | unexpected argument '"'"'extra'"'"'              | virtq-net -s x.sock extra
2 | not a listening unix socket                      | virtq-net --fd 0
2 | bad value for --stats                            | virtq-net -s x.sock --stats x
2 | bad value for --sink                             | virtq-net -s x.sock --sink=bogus
2 | unknown option '"'"'--bogus'"'"'                 | virtq-net --bogus
2 | --socket-path is required                        | virtq-user net
2 | bad value for --qsize                            | virtq-user net -s x.sock --qsize 100
2 | bad value for --mode                             | virtq-user blk -s x.sock --mode foo
2 | unknown subcommand '"'"'foo'"'"'                 | virtq-user foo
1 | @LONG@: path too long for a unix socket          | virtq-user net -s @LONG@
1 | @DIR@/nodir/x.sock: its directory does not exist | virtq-user blk --server -s @DIR@/nodir/x.sock
2 | bad value for --count                            | virtq-bench ring --count x
2 | bad value for --cpus                             | virtq-bench net --cpus 1
2 | unknown command '"'"'foo'"'"'                    | virtq-bench foo
1 | the device dropped                               | virtq-bench split --method a --size 9000 --ratio 1 --frames 100
2 | bad value for --seconds: '"'"'x'"'"': not a number | virtq-demo --seconds x
2 | bad value for --layout                           | virtq-demo --layout foo
2 | bad value for --cpus                             | virtq-demo --cpus 0
2 | --case is required                               | virtq-hostile fe -s x.sock
2 | bad value for --hold-ms                          | virtq-hostile fe -s x.sock -c x --hold-ms -1
help | 10 s                                          | virtq-user net --help
2 | --coalesce: must be 1..32768                     | virtq-svq -s x.sock -b y.sock --coalesce 0
2 | --coalesce: must be 1..1000000                   | virtq-svq -s x.sock -b y.sock --coalesce 64:0
2 | --coalesce: not a number                         | virtq-svq -s x.sock -b y.sock --coalesce 64:x
help | --coalesce N[:USEC]                           | virtq-svq --help
help | 60 s                                          | virtq-user net --help
help | 10 s                                          | virtq-user blk --help
help | 60 s                                          | virtq-user blk --help
help | doubling up to 2000 ms                        | virtq-net --help
help | doubling up to 2000 ms                        | virtq-blk --help
help | --print-capabilities                          | virtq-net --help
help | --fd FD                                       | virtq-blk --help
'

n=0
while IFS='|' read -r want text cmd; do
	want=${want//[[:space:]]/}
	[[ -z $want ]] && continue
	text=$(sed 's/^ *//; s/ *$//' <<<"$text")
	text=${text//@LONG@/$LONG}; text=${text//@DIR@/$WORK}
	cmd=${cmd//@LONG@/$LONG}; cmd=${cmd//@DIR@/$WORK}
	read -ra argv <<<"$cmd"
	n=$((n + 1))
	name="$n:${cmd:0:60}"
	timeout -k 5 30 "$BIN/${argv[0]}" "${argv[@]:1}" </dev/null >out.txt 2>err.txt
	rc=$?
	if [[ $want == help ]]; then
		if ((rc == 0)) && grep -qF -- "$text" out.txt; then
			hc_pass "$name" "--help mentions '$text'"
		else
			hc_fail "$name" "exit $rc; --help does not mention '$text'"
		fi
		continue
	fi
	lines=$(wc -l <err.txt)
	if ((rc != want)); then
		hc_fail "$name" "exit $rc, want $want: $(head -c 300 err.txt)"
	elif ! grep -qF -- "$text" err.txt; then
		hc_fail "$name" "stderr lacks '$text': $(head -c 300 err.txt)"
	elif ((want == 2 && lines != 1)); then
		hc_fail "$name" "a usage error in $lines lines: $(tr '\n' '|' <err.txt)"
	else
		hc_pass "$name" "exit $rc: $(head -n 1 err.txt | cut -c1-110)"
	fi
done <<<"$CASES"
hc_end
