#!/bin/bash
# The build node's writes: `rombsr apply` (run as root here) never writes
# outside --root and never leaves a privileged file behind.
#   - a directory under the root swapped back and forth for a symbolic link
#     to an outside directory while apply runs: nothing is ever written
#     outside (the outside directory holds a copy of the artifact, so every
#     check would pass there);
#   - a component that is a symbolic link when apply starts is refused with
#     an error naming it;
#   - an artifact that is setuid, setgid and sticky and owned by another
#     uid is replaced without those bits and keeps its owner.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"
. "$(dirname "$0")/lib/capture.sh"
. "$(dirname "$0")/lib/queue.sh"

need pkcs11-tool
queue_setup
OUTSIDE="$WORK/outside"
mkdir -p "$ROOT/dir" "$OUTSIDE"
head -c 5000 /dev/urandom >"$ROOT/dir/fw.bin"
cp "$ROOT/dir/fw.bin" "$OUTSIDE/fw.bin"
cp "$ROOT/dir/fw.bin" "$WORK/fw.orig"

expect_outside_untouched() { # WHEN
	local extra
	extra=$(find "$OUTSIDE" -mindepth 1 ! -name fw.bin)
	[ -z "$extra" ] || fail "$1: apply wrote outside the root: $extra"
	cmp -s "$WORK/fw.orig" "$OUTSIDE/fw.bin" || fail "$1: the outside copy of fw.bin changed"
}

step "a build with a raw signature of dir/fw.bin"
submit race1 --raw "media=$ROOT/dir/fw.bin" >"$WORK/submit.out" 2>&1 ||
	{ cat "$WORK/submit.out" >&2; fail "submit race1"; }
sign_once || { cat "$WORK/sign.err" >&2; fail "sign race1"; }

step "static: dir is a symbolic link to an outside directory when apply runs"
mv "$ROOT/dir" "$ROOT/dir.real"
ln -s "$OUTSIDE" "$ROOT/dir"
expect_exit 2 apply race1
expect_err "$ROOT/dir: a symbolic link"
expect_outside_untouched "static link"
rm "$ROOT/dir"
mv "$ROOT/dir.real" "$ROOT/dir"

step "race: dir swapped for a symbolic link and back in a tight loop while apply runs"
# What `mv --exchange` does (renameat2 RENAME_EXCHANGE), in a loop without
# a process per move: dir and a symbolic link to the outside trade places,
# so dir is always there, half the time as the link. Bounded in time and
# by a stop file; the real directory never leaves the root.
need python3
ln -s "$OUTSIDE" "$ROOT/dir.link"
swapper() {
	python3 - "$ROOT" "$WORK/stop" <<-'PY'
	import ctypes, os, sys, time
	root, stop = sys.argv[1:]
	libc = ctypes.CDLL(None, use_errno=True)
	AT_FDCWD, RENAME_EXCHANGE = -100, 2
	a, b = os.path.join(root, "dir").encode(), os.path.join(root, "dir.link").encode()
	end = time.monotonic() + 60
	while time.monotonic() < end and not os.path.exists(stop):
	    for _ in range(500):
	        if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0:
	            sys.exit("renameat2: " + os.strerror(ctypes.get_errno()))
	# Leave the real directory at dir.
	if os.path.islink(a):
	    libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE)
	PY
}
swapper &
swapper_pid=$!
stop_swapper() {
	touch "$WORK/stop"
	wait "$swapper_pid" || true
}
trap 'stop_swapper; cleanup_fixture' EXIT
applied=0
for i in $(seq 1 60); do
	if apply race1 >"$WORK/race.out" 2>&1; then
		applied=$((applied + 1))
	fi
	expect_outside_untouched "attempt $i"
	# The next attempt must write again, not find the signature there.
	find "$ROOT" -name fw.bin.sig -delete 2>/dev/null || true
done
stop_swapper
trap cleanup_fixture EXIT
rm "$ROOT/dir.link"
[ -d "$ROOT/dir" ] && [ ! -L "$ROOT/dir" ] || fail "the swapper left the tree broken"
expect_outside_untouched "after the race"
echo "  $applied of 60 attempts applied inside the root during the race"

step "after the race, apply writes inside the root"
apply race1 >"$WORK/apply.out" 2>&1 || { cat "$WORK/apply.out" >&2; fail "apply race1"; }
[ -f "$ROOT/dir/fw.bin.sig" ] || fail "no dir/fw.bin.sig"
expect_outside_untouched "final apply"
[ "$(stat -c %a "$ROOT/dir/fw.bin.sig")" = 644 ] || fail "a new signature file is not 0644"

step "a setuid/setgid/sticky artifact owned by uid 12345 loses the bits and keeps its owner"
mkdir -p "$ROOT/bin"
openssl dgst -sha256 -binary "$ROOT/dir/fw.bin" >"$WORK/tool.sha256"
client pkcs11-tool --module "$CAPTURE_MODULE" --login --pin any-pin-will-do --sign -m ECDSA \
	--id "$(key_field device .id)" -i "$WORK/tool.sha256" -o "$ROOT/bin/tool" >"$WORK/p11.out" 2>&1 ||
	{ cat "$WORK/p11.out" >&2; fail "pkcs11-tool --sign through the capture module"; }
# The build user owns its output directory and the file.
chown 12345:12346 "$ROOT/bin" "$ROOT/bin/tool"
chmod 7755 "$ROOT/bin/tool"
[ "$(stat -c %a:%u:%g "$ROOT/bin/tool")" = 7755:12345:12346 ] || fail "could not set up the setuid file"
placeholder=$(od -An -v -tx1 "$ROOT/bin/tool" | tr -d ' \n')
submit "$ROMBSR_BUILD_ID" --artifact "$ROOT/bin/tool" >"$WORK/submit.out" 2>&1 ||
	{ cat "$WORK/submit.out" >&2; fail "submit suid1"; }
sign_once || { cat "$WORK/sign.err" >&2; fail "sign suid1"; }
apply "$ROMBSR_BUILD_ID" >"$WORK/apply.out" 2>&1 || { cat "$WORK/apply.out" >&2; fail "apply suid1"; }
[ "$(od -An -v -tx1 "$ROOT/bin/tool" | tr -d ' \n')" != "$placeholder" ] || fail "the placeholder was not replaced"
got=$(stat -c %a:%u:%g "$ROOT/bin/tool")
[ "$got" = 755:12345:12346 ] || fail "after apply the artifact is $got (mode:uid:gid), expected 755:12345:12346"
[ -z "$(find "$ROOT/bin" -name '.rombsr-tmp-*')" ] || fail "a temporary was left behind"

echo "apply-race: ok"
