#!/bin/bash
# bench/capture-overhead: what signing APKs through the capture module costs
# a build compared with signing them on the HSM directly.
#
# Times apksigner (v2 + v3, RSA-4096 key, through SunPKCS11) signing the
# same N sample APKs one after another, through
#   direct   SoftHSM2, with the real key
#   capture  librombsr-capture.so, which records the requests and returns
#            placeholders (apksigner's own re-verification of each
#            signature goes to the module: --provider-pos 1)
# in the same run. One round of each is a discarded warm-up (page cache,
# JIT-less JVM start); then REPS rounds of each, interleaved and with the
# order alternating, and the medians are compared. JVM start dominates a
# run, so the ratio says whether the module adds anything a build notices.
# Budget: capture <= 1.05 x direct. The benchmark reports; it never fails
# on time.
#
# usage: capture-overhead [N APKs, default 8]
#   CAPTURE_BENCH_REPS     rounds of each after the warm-up (default 3)
#   CAPTURE_BENCH_APK_KIB  size of each APK's classes.dex (default 1024)
set -euo pipefail

N=${1:-8}
REPS=${CAPTURE_BENCH_REPS:-3}
APK_KIB=${CAPTURE_BENCH_APK_KIB:-1024}
export ROMBSR_BUILD_DIR=${ROMBSR_BUILD_DIR:-@ROMBSR_BUILD_DIR@}
export ROMBSR_SOURCE_DIR=${ROMBSR_SOURCE_DIR:-@ROMBSR_SOURCE_DIR@}
# The same provisioning, sample APKs and apksigner invocations as the
# integration tests, so the benchmark measures the flow the tests check.
. "$ROMBSR_SOURCE_DIR/tests/integration/lib/fixture.sh"
. "$ROMBSR_SOURCE_DIR/tests/integration/lib/capture.sh"
need apksigner zipalign zip

echo "capture-overhead: provisioning a SoftHSM2 token, building $N APKs of ~${APK_KIB} KiB"
capture_setup
for i in $(seq 1 "$N"); do
	make_apk "$WORK/in.$i.apk" "$i" "$APK_KIB"
done

round() { # direct|capture -> seconds on stdout
	local how=$1 t0 t1 i
	rm -rf "$SPOOL" "$WORK"/out.*.apk
	t0=$EPOCHREALTIME
	for i in $(seq 1 "$N"); do
		"apk_sign_$how" "$WORK/in.$i.apk" "$WORK/out.$i.apk" platform >"$WORK/sign.out" 2>&1 ||
			{ cat "$WORK/sign.out" >&2; fail "$how: apksigner failed on APK $i"; }
	done
	t1=$EPOCHREALTIME
	# the runs must have done the real work
	if [ "$how" = capture ]; then
		[ "$(spool_count)" -eq $((2 * N)) ] || fail "capture round left $(spool_count) requests, expected $((2 * N))"
	else
		apk_verify "$WORK/out.$N.apk" || { cat "$WORK/verify.out" >&2; fail "direct round produced an invalid APK"; }
	fi
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

wd=$(round direct)
wc=$(round capture)
echo "capture-overhead: warm-up: direct ${wd}s, capture ${wc}s (discarded)"
: >"$WORK/direct.times"
: >"$WORK/capture.times"
for r in $(seq 1 "$REPS"); do
	if [ $((r % 2)) -eq 1 ]; then order="direct capture"; else order="capture direct"; fi
	line="capture-overhead: round $r:"
	for how in $order; do
		t=$(round "$how")
		echo "$t" >>"$WORK/$how.times"
		line="$line $how ${t}s"
	done
	echo "$line"
done
d=$(median <"$WORK/direct.times")
c=$(median <"$WORK/capture.times")
ratio=$(awk -v c="$c" -v d="$d" 'BEGIN { printf "%.3f", c / d }')
verdict=$(awk -v r="$ratio" 'BEGIN { print (r <= 1.05) ? "within budget 1.05" : "OVER budget 1.05" }')
echo "capture-overhead: $N APKs x apksigner v2+v3 RSA-4096, median of $REPS; $verdict"
echo "capture-overhead: direct=${d}s capture=${c}s ratio=$ratio"
