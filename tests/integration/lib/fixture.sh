# Shared set-up for integration tests; source it after `set -euo pipefail`.
#
#   ROMBSR      the rombsr binary under test (from ROMBSR_BUILD_DIR)
#   WORK        a private temporary directory, removed on exit
#   fail MSG    print MSG and exit 1
#   expect_exit CODE CMD...   run CMD, require exit status CODE, keep stderr
#                             in $WORK/last.err
#   wait_for SECONDS CMD...   poll CMD until it succeeds (0), at most SECONDS (1)
#   provision_small STATE ESCROW   a token with the test key spec (a copy of the build's)

: "${ROMBSR_BUILD_DIR:?run through meson test}"
: "${ROMBSR_SOURCE_DIR:?run through meson test}"
ROMBSR="$ROMBSR_BUILD_DIR/src/cli/rombsr"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rombsr-it.XXXXXX")
export GNUPGHOME="$WORK/gnupg"
mkdir -m 700 "$GNUPGHOME"
unset SOFTHSM2_CONF

cleanup_fixture() {
	gpgconf --kill all >/dev/null 2>&1 || true
	# A process the test killed (a sign node, its key holder) may still
	# be on its way out, writing a lock file: try once more.
	rm -rf "$WORK" 2>/dev/null || { sleep 1; rm -rf "$WORK"; }
}
trap cleanup_fixture EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

step() {
	echo "--- $*"
}

expect_exit() {
	local want=$1 got=0
	shift
	"$@" >"$WORK/last.out" 2>"$WORK/last.err" || got=$?
	if [ "$got" -ne "$want" ]; then
		echo "command: $*" >&2
		cat "$WORK/last.out" "$WORK/last.err" >&2
		fail "exit status $got, expected $want"
	fi
}

# Waiting on an event another process causes (a log line, a file), never
# a fixed sleep: CMD is polled every 0.1 s.
wait_for() { # SECONDS CMD...
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		"${@:2}" && return 0
		sleep 0.1
	done
	return 1
}

# Flip the lowest bit of the byte at OFFSET, in place (writing a fixed byte would
# leave random data unchanged one time in 256).
flip_bit() { # FILE OFFSET
	local b
	b=$(od -An -tu1 -j"$2" -N1 "$1" | tr -d ' ')
	[ -n "$b" ] || fail "flip_bit: $1 has no byte $2"
	printf "\\$(printf '%03o' $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

expect_err() { # substring expected in the last command's stderr
	grep -qF -- "$1" "$WORK/last.err" || { cat "$WORK/last.err" >&2; fail "stderr lacks '$1'"; }
}

TEST_KEYSPEC="$ROMBSR_SOURCE_DIR/tests/vectors/keyspec-test.json"

provision_small() { # STATE ESCROW
	# A copy of the build's test token (tests/fixtures/test-token.sh), with
	# SoftHSM2 pointed at the copy's own token directory.
	local tpl="$ROMBSR_BUILD_DIR/tests/test-token" abs
	[ -f "$tpl/state/manifest.json" ] ||
		fail "no test token in $tpl; build first (ninja -C $ROMBSR_BUILD_DIR)"
	[ ! -e "$1" ] && [ ! -e "$2" ] || fail "provision_small: $1 or $2 exists already"
	cp -a "$tpl/state" "$1" && cp -a "$tpl/escrow" "$2" || fail "copying the test token"
	abs=$(cd "$1" && pwd)
	sed -i "s|^directories.tokendir = .*|directories.tokendir = $abs/tokens|" "$1/softhsm2.conf"
	grep -qx "directories.tokendir = $abs/tokens" "$1/softhsm2.conf" || fail "$1/softhsm2.conf: no token directory"
}
