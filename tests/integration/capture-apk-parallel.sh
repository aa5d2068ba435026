#!/bin/bash
# Concurrency: eight apksigner processes sign eight different APKs through
# the capture module at once, all writing to one spool. Every run must
# leave its own complete request set (v2 + v3), no request may be lost or
# torn, and each APK's placeholders must be found exactly once - in that
# APK - so that all eight verify after resolving.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"
. "$(dirname "$0")/lib/capture.sh"
need apksigner zipalign zip

N=8
capture_setup
for i in $(seq 1 $N); do
	make_apk "$WORK/in.$i.apk" "$i"
done

step "$N apksigner runs at once (RSA-4096)"
pids=()
for i in $(seq 1 $N); do
	apk_sign_capture "$WORK/in.$i.apk" "$WORK/out.$i.apk" platform >"$WORK/sign.$i.out" 2>&1 &
	pids+=($!)
done
for i in $(seq 1 $N); do
	wait "${pids[$((i - 1))]}" || { cat "$WORK/sign.$i.out" >&2; fail "apksigner run $i failed"; }
done

step "$((2 * N)) complete, distinct requests; no temporary files left"
[ "$(spool_count)" -eq $((2 * N)) ] || { ls -la "$SPOOL" >&2; fail "$(spool_count) requests, expected $((2 * N))"; }
leftover=$(find "$SPOOL" -mindepth 1 -maxdepth 1 ! -name '*.json' ! -name '*.log' | head -5)
[ -z "$leftover" ] || fail "left in the spool: $leftover"
for req in $(spool_list); do
	jq -e . "$req" >/dev/null || fail "$req is not complete JSON"
	[ "$(req_field "$req" .id).json" = "$(basename "$req")" ] || fail "$req: file name is not its id"
done
[ "$(for r in $(spool_list); do req_placeholder_hex "$r"; echo; done | sort -u | wc -l)" -eq $((2 * N)) ] ||
	fail "placeholders are not distinct"

step "each APK holds exactly its own two placeholders"
args=()
for i in $(seq 1 $N); do args+=("$WORK/out.$i.apk"); done
"$RESOLVE_TOOL" --state-dir "$STATE" --pin-file "$PIN_FILE" --spool "$SPOOL" "${args[@]}" >"$WORK/resolve.out" 2>&1 ||
	{ cat "$WORK/resolve.out" >&2; fail "resolve tool"; }
grep -qx "requests $((2 * N))" "$WORK/resolve.out" || fail "resolve tool saw another request count"
for i in $(seq 1 $N); do
	grep -qx "resolved $WORK/out.$i.apk 2" "$WORK/resolve.out" || { cat "$WORK/resolve.out" >&2; fail "APK $i: not 2 placeholders"; }
done
[ "$(grep '^found ' "$WORK/resolve.out" | cut -d' ' -f2 | sort | uniq -d | wc -l)" -eq 0 ] || fail "a request found twice"

step "all $N verify"
for i in $(seq 1 $N); do
	expect_apk_verified "$WORK/out.$i.apk" platform
done
echo "capture-apk-parallel: all checks passed"
