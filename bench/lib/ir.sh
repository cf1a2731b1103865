# shellcheck shell=bash
# ir.sh - the arithmetic of the callgrind harnesses (ir-frontend.sh,
# ir-backend.sh): each measures a program four times, two idle runs (the
# peer moves nothing) and two busy runs, short and long.
#
#   ir_per_frame NAME LABEL II1 PI1 II2 PI2 IB1 FB1 PB1 IB2 FB2 PB2
#       II/PI: Ir and idle polls of the idle runs; IB/FB/PB: Ir, frames and
#       idle polls of the busy runs.  c_idle = dIr / d(idle polls) of the
#       idle pair; Ir/frame = (dIr - d(idle polls) * c_idle) / d(frames) of
#       the busy pair.  Prints "LABEL Ir/frame X raw X c_idle X frames N
#       idle/frame X"; fails (NAME: on stderr) when a pair did not move.
#   ir_extras CG    with IR_CG=FILE, keeps CG there; with IR_TOP=N, prints
#       the N functions of CG with the most exclusive Ir.
if [[ -n ${_VIRTQ_BENCH_IR_SH:-} ]]; then return 0; fi
_VIRTQ_BENCH_IR_SH=1

ir_per_frame() {
	awk -v name="$1" -v label="$2" -v ii1="$3" -v pi1="$4" -v ii2="$5" -v pi2="$6" \
		-v ib1="$7" -v fb1="$8" -v pb1="$9" -v ib2="${10}" -v fb2="${11}" -v pb2="${12}" 'BEGIN {
		if (fb2 <= fb1 || pi2 <= pi1) {
			printf "%s: no frames or no idle polls (frames %d %d, idle polls %d %d)\n",
				name, fb1, fb2, pi1, pi2 > "/dev/stderr"
			exit 1
		}
		c = (ii2 - ii1) / (pi2 - pi1)
		printf "%s Ir/frame %.1f raw %.1f c_idle %.1f frames %d idle/frame %.3f\n", label,
			(ib2 - ib1 - (pb2 - pb1) * c) / (fb2 - fb1), (ib2 - ib1) / (fb2 - fb1), c,
			fb2 - fb1, (pb2 - pb1) / (fb2 - fb1) }'
}

ir_extras() {
	[[ -n ${IR_CG:-} ]] && cp "$1" "$IR_CG"
	if [[ -n ${IR_TOP:-} ]]; then
		callgrind_annotate "$1" 2>/dev/null |
			grep -E '^ *[0-9,]+ \([ 0-9.]+%\)  [^ ]+:[A-Za-z_]' | sed -n "1,$((IR_TOP + 1))p"
	fi
	return 0
}
