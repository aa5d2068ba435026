#!/bin/bash
# The sign node and a lost or rolled-back audit log. Every signed response
# carries the checkpoint of its batch, so the queue knows how far the log
# had grown; the sign node refuses to start (exit 12, naming the directory,
# the sizes and what to do) on a log that does not extend that checkpoint:
# the audit directory missing, or restored from a copy one batch old. It
# signs nothing, publishes nothing and makes no new log; `rombsr audit
# init` will not make one either. A new log is only ever made on purpose,
# with `rombsr audit init` before the first start. The honest restart,
# with the real log back, signs the waiting build.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"
. "$(dirname "$0")/lib/capture.sh"
. "$(dirname "$0")/lib/queue.sh"
need jq

queue_setup
LOG="$SIGND/audit"
SIGND_EXE="$ROMBSR_BUILD_DIR/src/signd/rombsr-sign"
tip() { git --git-dir="$QUEUE" rev-parse main; }
has_response() { git --git-dir="$QUEUE" cat-file -e "main:responses/$NODE/$1.json" 2>/dev/null; }
build() { # BUILD: one raw request
	head -c 1000 /dev/urandom >"$ROOT/$1.bin"
	submit "$1" --raw "media=$ROOT/$1.bin" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit $1"; }
}
signed() { # BUILD: signed in the last run, and its response applies
	grep -q '1 signed' "$WORK/sign.out" || { cat "$WORK/sign.out" "$WORK/sign.err" >&2; fail "$1 was not signed"; }
	apply "$1" >"$WORK/apply.out" 2>&1 || { cat "$WORK/apply.out" >&2; fail "apply $1"; }
}
entries() { "$ROMBSR" audit show --json "$1" | wc -l; }
# Every byte of the log, to show a refused run changed nothing.
log_sum() { (cd "$1" && find . -type f ! -name .lock -print0 | sort -z | xargs -0 sha256sum | sha256sum); }

step "the sign node never makes an audit log: rombsr audit init does, once"
expect_exit 10 "$ROMBSR" audit init --config "$SIGN_CONF"
expect_err "$LOG holds an audit log already"
rm -rf "$LOG"
build b1
expect_exit 4 "$ROMBSR" sign --once --config "$SIGN_CONF"
expect_err "$LOG: no audit log. On this sign node's first start, create it with 'rombsr audit init --config $SIGN_CONF'"
[ ! -e "$LOG" ] || fail "the sign node made an audit log"
has_response b1 && fail "b1 answered without an audit log"
expect_exit 0 "$ROMBSR" audit init --config "$SIGN_CONF"
grep -qF "$LOG: created an empty audit log" "$WORK/last.out" || { cat "$WORK/last.out" >&2; fail "audit init output"; }
sign_once || { cat "$WORK/sign.err" >&2; fail "sign b1"; }
signed b1

step "another batch; the log as it was one batch before is kept aside"
cp -a "$LOG" "$WORK/audit.old"
OLD=$(entries "$LOG")
build b2
sign_once || { cat "$WORK/sign.err" >&2; fail "sign b2"; }
signed b2
PUBLISHED=$(git --git-dir="$QUEUE" show "main:responses/$NODE/b2.json" | jq -r '.required.entries[0].audit.checkpoint' | sed -n 2p)
[ "$PUBLISHED" -gt "$OLD" ] || fail "b2's checkpoint ($PUBLISHED entries) does not cover more than the old copy ($OLD)"

step "the audit directory missing: refused, nothing signed, no new log"
mv "$LOG" "$WORK/audit.real"
build b3
BEFORE=$(tip)
expect_exit 12 "$ROMBSR" sign --once --config "$SIGN_CONF"
expect_err "$LOG: the audit log is missing, but this sign node published a checkpoint of $PUBLISHED entries (responses/$NODE/b2.json"
expect_err "restore the directory from a backup that holds at least those $PUBLISHED entries"
[ ! -e "$LOG" ] || fail "the refused run made an audit log"
[ "$(tip)" = "$BEFORE" ] && ! has_response b3 || fail "b3 was answered on a missing log"
# The daemon refuses the same way, and says why in its log stream.
expect_exit 12 "$SIGND_EXE" --config "$SIGN_CONF" --once
expect_err "event=halt reason=audit-log-behind dir=\"$LOG\" entries=0 published=$PUBLISHED"
# Nor does rombsr audit init make a new log in its place.
expect_exit 12 "$ROMBSR" audit init --config "$SIGN_CONF"
expect_err "this sign node already published a checkpoint of $PUBLISHED audit-log entries"
[ ! -e "$LOG" ] || fail "audit init made a log where one was lost"

step "the audit directory restored one batch old: refused, nothing signed, the copy untouched"
cp -a "$WORK/audit.old" "$LOG"
SUM=$(log_sum "$LOG")
expect_exit 12 "$ROMBSR" sign --once --config "$SIGN_CONF"
expect_err "$LOG: the audit log has $OLD entries, but this sign node published a checkpoint of $PUBLISHED entries"
expect_err "rolled back"
[ "$(log_sum "$LOG")" = "$SUM" ] || fail "the refused run changed the old log"
[ "$(tip)" = "$BEFORE" ] && ! has_response b3 || fail "b3 was answered on a rolled-back log"

step "the honest restart: the real log back, the waiting build is signed"
rm -rf "$LOG"
mv "$WORK/audit.real" "$LOG"
sign_once || { cat "$WORK/sign.err" >&2; fail "sign b3 on the real log"; }
signed b3
"$ROMBSR" audit verify --manifest "$MANIFEST" --no-trust --queue "$QUEUE" "$LOG" >"$WORK/verify.out" 2>&1 ||
	{ cat "$WORK/verify.out" >&2; fail "the log and the queue disagree after the restart"; }
echo "signd-audit-loss: OK"
