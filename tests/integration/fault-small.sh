#!/bin/bash
# Three small faults, each made real with tools/fault-shim.c:
# - the sign node killed while it renames its audit checkpoint into place
#   leaves audit/checkpoint.tmp-<hex>; the next process that opens the log
#   for writing removes it, and only that: no other name, not while
#   another process holds the log's writer lock, not as a reader;
# - guard runs at once (concurrent pushes) on a fresh STATEDIR/guard-gnupg
#   each get the whole keyring (they refused pushes with "builder2.asc
#   does not contain the primary key" while another run was importing);
# - the guard's state directory on a full disk is reported as the I/O
#   error it is (exit 9, the path and ENOSPC), not as "no OpenPGP
#   certificate found".
# PART ($1): "log" (the first; the sign node, so both builds run it),
# "guard" (the other two; the plain build: unit-queue-guard covers the
# guard under the sanitizers), or all of them.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"
. "$(dirname "$0")/lib/capture.sh"
. "$(dirname "$0")/lib/queue.sh"
need flock
exec </dev/null # the guard reads its update lines from stdin

SHIM="$ROMBSR_BUILD_DIR/tests/integration/tools/fault-shim.so"
[ -f "$SHIM" ] || fail "no fault shim at $SHIM; build first"
SHIM_ENV=(LD_PRELOAD="$SHIM" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0")

queue_setup
part=${1:-all}
AUDIT="$SIGND/audit"
temps() { find "$AUDIT" -maxdepth 1 -name 'checkpoint.tmp-*' | sort; }

if [ "$part" != guard ]; then
	step "killed while the checkpoint is renamed into place: checkpoint.tmp-* is left"
	sign_once || { cat "$WORK/sign.err" >&2; fail "the first batch"; }
	head -c 2048 /dev/urandom >"$ROOT/k1.bin"
	submit k1 --raw "media=$ROOT/k1.bin" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit k1"; }
	rc=0
	env "${SHIM_ENV[@]}" ROMBSR_FAULT_KILL_RENAME=checkpoint.tmp- "$ROMBSR" sign --once --config "$SIGN_CONF" \
		>"$WORK/sign.out" 2>"$WORK/sign.err" || rc=$?
	[ "$rc" -eq 137 ] || { cat "$WORK/sign.err" >&2; fail "the sign node was not killed at the rename (exit $rc)"; }
	[ "$(temps | wc -l)" -eq 1 ] && temps | grep -Eq '/checkpoint\.tmp-[0-9a-f]{16}$' ||
		{ ls -la "$AUDIT" >&2; fail "no checkpoint temporary left by the kill"; }
	left=$(temps)
	# Names that are not the log's own temporaries stay whatever happens.
	touch "$AUDIT/checkpoint.tmp-not-ours" "$AUDIT/entries.tmp-0123456789abcdef" "$AUDIT/checkpoint.tmp-0123456789ABCDEF"

	step "a reader, and a writer that cannot take the lock, remove nothing"
	expect_exit 0 "$ROMBSR" audit verify "$AUDIT" --manifest "$MANIFEST" --no-trust
	[ -e "$left" ] || fail "a reader removed the checkpoint temporary"
	expect_exit 6 flock "$AUDIT/.lock" "$ROMBSR" sign --once --config "$SIGN_CONF"
	expect_err "open for writing in another process"
	[ -e "$left" ] || fail "a sign node without the writer lock removed the checkpoint temporary"

	step "the next sign node removes the temporary, and only it"
	sign_once || { cat "$WORK/sign.err" >&2; fail "sign after the kill"; }
	has_response k1 || fail "k1 was not answered after the kill"
	[ ! -e "$left" ] || fail "$left is still there after the next sign node opened the log"
	for f in checkpoint.tmp-not-ours entries.tmp-0123456789abcdef checkpoint.tmp-0123456789ABCDEF; do
		[ -e "$AUDIT/$f" ] || fail "$f was removed: it is not the log's own temporary"
	done
	expect_exit 0 "$ROMBSR" audit verify "$AUDIT" --manifest "$MANIFEST" --no-trust
fi

if [ "$part" != log ]; then
	# Nodes enough that a guard imports several certificates.
	extra=""
	for n in builder2 builder3 builder4; do
		fpr=$(node_key "$n")
		extra="$extra
[node \"$n\"]
	fingerprint = $fpr
	publicKey = $WORK/$n.asc
	allowKey = media"
	done
	write_sign_conf "$extra"

	step "eight guard runs at once on a fresh keyring, three times: every run has every certificate"
	# The runs start together: each waits on a shared lock the test holds.
	for round in 1 2 3; do
		rm -rf "$SIGND/guard-gnupg"
		exec 4>"$WORK/start"
		flock -x 4
		pids=()
		for i in 1 2 3 4 5 6 7 8; do
			GIT_DIR="$QUEUE" flock -s "$WORK/start" "$ROMBSR" queue-guard --config "$SIGN_CONF" \
				>"$WORK/guard.$i" 2>&1 4>&- &
			pids+=($!)
		done
		flock -u 4
		exec 4>&-
		for i in 1 2 3 4 5 6 7 8; do
			wait "${pids[$((i - 1))]}" || { cat "$WORK/guard.$i" >&2; fail "round $round: guard run $i failed"; }
		done
	done

	step "the guard's state directory on a full disk: the I/O error, named"
	# A new keyring directory (its gpg.conf cannot be written), then one whose
	# keyring gpg cannot write: exit 9, ENOSPC and the directory named.
	guard_on_full_disk() {
		expect_exit 9 env "${SHIM_ENV[@]}" ROMBSR_FAULT_ENOSPC="$SIGND/guard-gnupg" GIT_DIR="$QUEUE" \
			"$ROMBSR" queue-guard --config "$SIGN_CONF"
		expect_err "$SIGND/guard-gnupg"
		expect_err "No space left on device"
		expect_err "free space on its file system"
		grep -q "no OpenPGP certificate" "$WORK/last.err" && fail "a full disk is reported as a missing certificate"
		return 0
	}
	rm -rf "$SIGND/guard-gnupg"
	guard_on_full_disk
	expect_exit 0 env GIT_DIR="$QUEUE" "$ROMBSR" queue-guard --config "$SIGN_CONF"
	rm -f "$SIGND/guard-gnupg"/pubring.kbx* "$SIGND/guard-gnupg"/trustdb.gpg
	guard_on_full_disk
	expect_err "gpg cannot write the keyring there"
	expect_exit 0 env GIT_DIR="$QUEUE" "$ROMBSR" queue-guard --config "$SIGN_CONF"
fi
echo "fault-small ($part): OK"
