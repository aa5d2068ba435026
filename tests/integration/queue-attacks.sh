#!/bin/bash
# Attacks on the main job that must fail. Each is refused with a stated
# reason (an unsigned or unknown signer's commit also with an audit entry),
# and nothing is signed or applied:
#   an unsigned request commit; a commit signed by an unknown key; a node
#   asking for a key it may not use; an artifact hash that does not match
#   the request; a replayed request document; a revoked key; a quota
#   exceeded; a tampered response (signature bytes changed, or the response
#   commit unsigned); a force-push; an oversized or malformed request
#   document; a path traversal in an artifact name.
# Where the guard (pre-receive hook) refuses the push, the test then plays
# an attacker who owns the git server and puts the commit in anyway, to
# show the sign node refuses it on its own.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"
. "$(dirname "$0")/lib/capture.sh"
. "$(dirname "$0")/lib/queue.sh"

queue_setup
MALLORY_FPR=$(node_key mallory)
head -c 5000 /dev/urandom >"$ROOT/fw.bin"
head -c 7000 /dev/urandom >"$ROOT/pkg.bin"

signed_before=0
expect_nothing_signed() { # BUILD
	[ "$(audit_sign_count)" -eq "$signed_before" ] || fail "$1: the HSM signed something"
	git --git-dir="$QUEUE" cat-file -e "main:responses/$NODE/$1.json" 2>/dev/null &&
		fail "$1: the sign node published a response"
	return 0
}
# A whole commit refused is an audit entry too: a reject entry naming the
# queue path, with no build id (nothing in the commit is believed).
expect_refusal_audited() { # REASON PATH
	"$ROMBSR" audit show --json "$SIGND/audit" >"$WORK/audit-show.json" ||
		fail "rombsr audit show"
	jq -e -s --arg r "$1" --arg p "$2" '[.[] | .entry | select(.type == "reject" and .reason == $r
		and .artifact == $p and (has("build_id") | not))] | length == 1' "$WORK/audit-show.json" >/dev/null ||
		{ jq -c -s '.[] | .entry | select(.type == "reject")' "$WORK/audit-show.json" >&2;
		  fail "no audit entry for the refusal of $2 ($1)"; }
}
expect_refused_in_log() { # REASON PATH-SUBSTRING
	grep -q "event=refuse.*reason=$1" "$WORK/sign.err" && grep -q "event=refuse.*$2" "$WORK/sign.err" ||
		{ cat "$WORK/sign.err" >&2; fail "the sign node did not refuse $2 with reason $1"; }
}
expect_rejected() { # BUILD REASON: response holds only rejections with REASON; apply writes nothing
	local r
	r=$(git --git-dir="$QUEUE" show "main:responses/$NODE/$1.json") || fail "$1: no response"
	[ "$(jq '[.required.entries[] | select(.status == "signed")] | length' <<<"$r")" -eq 0 ] ||
		fail "$1: something was signed"
	jq -e --arg r "$2" '[.required.entries[] | select(.reason == $r)] | length > 0' <<<"$r" >/dev/null ||
		{ echo "$r" >&2; fail "$1: no rejection with reason $2"; }
	local before
	before=$(find "$ROOT" -type f -newer "$SIGN_CONF" | sort | md5sum)
	expect_exit 11 apply "$1"
	expect_err "$2"
	[ "$(find "$ROOT" -name '*.sig' -o -name '*.asc' | wc -l)" -eq "$(cat "$WORK/sigfiles" 2>/dev/null || echo 0)" ] ||
		fail "$1: apply wrote a signature file"
}
find "$ROOT" -name '*.sig' -o -name '*.asc' | wc -l >"$WORK/sigfiles"

step "a legitimate build goes through (the baseline the attacks are measured against)"
submit ok1 --raw "media=$ROOT/fw.bin" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit ok1"; }
sign_once || { cat "$WORK/sign.err" >&2; fail "sign ok1"; }
apply ok1 >"$WORK/apply.out" 2>&1 || { cat "$WORK/apply.out" >&2; fail "apply ok1"; }
rm -f "$ROOT/fw.bin.sig"
signed_before=$(audit_sign_count)
[ "$signed_before" -eq 1 ] || fail "baseline: $signed_before signatures in the audit log, expected 1"

step "attack: an unsigned request commit"
scratch_doc u1 "$WORK/u1.json" --raw "media=$ROOT/fw.bin"
commit_file "$WORK/u1.json" "requests/$NODE/u1.json" - "unsigned request"
push_refused "not signed"
server_force "$WORK/clone"
sign_once || { cat "$WORK/sign.err" >&2; fail "sign after an unsigned commit"; }
expect_refused_in_log unsigned-commit "requests/$NODE/u1.json"
expect_refusal_audited unsigned-commit "requests/$NODE/u1.json"
expect_nothing_signed u1

step "attack: a commit signed by a key not on the allow-list"
scratch_doc m1 "$WORK/m1.json" --raw "media=$ROOT/fw.bin"
commit_file "$WORK/m1.json" "requests/$NODE/m1.json" "$MALLORY_FPR" "mallory's request"
push_refused "unknown key"
server_force "$WORK/clone"
sign_once || { cat "$WORK/sign.err" >&2; fail "sign after an unknown signer"; }
expect_refused_in_log unknown-signer "requests/$NODE/m1.json"
expect_refusal_audited unknown-signer "requests/$NODE/m1.json"
expect_nothing_signed m1

step "rombsr submit reports the guard's refusal at once (exit 5), not as a lost race to retry"
# The guard's "pre-receive hook declined" must not be read as git's
# "cannot lock ref" race: mallory's own submit is refused, not retried.
rm -f "$ROOT/fw.bin.sig"
expect_exit 5 "$ROMBSR" submit --build-id m2 --node mallory --queue "$QUEUE" --signing-key "$MALLORY_FPR" \
	--gnupghome "$BUILD_GNUPG" --manifest "$MANIFEST" --root "$ROOT" --cache "$WORK/mallory-cache" \
	--raw "media=$ROOT/fw.bin"
expect_err "refused the commit"
grep -q "moved on" "$WORK/last.err" && fail "the guard's refusal was retried as a race"
# The next honest build still lands.
submit ok2 --raw "media=$ROOT/fw.bin" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit ok2 after a refused submit"; }
sign_once || { cat "$WORK/sign.err" >&2; fail "sign ok2"; }
apply ok2 >"$WORK/apply.out" 2>&1 || { cat "$WORK/apply.out" >&2; fail "apply ok2 after a refused submit"; }
rm -f "$ROOT/fw.bin.sig"
signed_before=$(audit_sign_count)

step "attack: an unsigned commit that adds no request document is audited by its commit id"
echo "not a request" >"$WORK/note.txt"
commit_file "$WORK/note.txt" "notes/note.txt" - "unsigned note"
push_refused "not signed"
server_force "$WORK/clone"
note_commit=$(git -C "$WORK/clone" rev-parse HEAD)
sign_once || { cat "$WORK/sign.err" >&2; fail "sign after an unsigned note"; }
expect_refusal_audited unsigned-commit "commit $note_commit"

step "attack: a node asks for a key it may not use"
submit na1 --raw "fw=$ROOT/fw.bin" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit na1"; }
sign_once || { cat "$WORK/sign.err" >&2; fail "sign na1"; }
[ "$(audit_sign_count)" -eq "$signed_before" ] || fail "na1: signed"
expect_rejected na1 key-not-allowed

step "attack: an artifact hash that does not match the request"
scratch_doc h1 "$WORK/h1.json" --openpgp "release=$ROOT/pkg.bin"
jq -c '.required.artifacts[0].sha512 = ("00" * 64)' "$WORK/h1.json" >"$WORK/h1.bad.json"
commit_file "$WORK/h1.bad.json" "requests/$NODE/h1.json" "$NODE_FPR" "tampered hash"
push_refused "h1.json"
server_force "$WORK/clone"
sign_once || { cat "$WORK/sign.err" >&2; fail "sign after a hash mismatch"; }
expect_refused_in_log schema "requests/$NODE/h1.json"
expect_nothing_signed h1
step "attack: the artifact changed on the build node after submit"
submit h2 --raw "media=$ROOT/pkg.bin" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit h2"; }
sign_once || { cat "$WORK/sign.err" >&2; fail "sign h2"; }
signed_before=$(audit_sign_count)
printf 'x' >>"$ROOT/pkg.bin"
expect_exit 7 apply h2
expect_err "pkg.bin"
[ ! -e "$ROOT/pkg.bin.sig" ] || fail "h2: apply wrote a signature for a changed artifact"

step "attack: a replayed request document under a new path"
git --git-dir="$QUEUE" show "main:requests/$NODE/ok1.json" >"$WORK/replay.json"
commit_file "$WORK/replay.json" "requests/$NODE/ok1-again.json" "$NODE_FPR" "replay"
push_refused "ok1-again.json"
server_force "$WORK/clone"
sign_once || { cat "$WORK/sign.err" >&2; fail "sign after a replay"; }
expect_refused_in_log replay "requests/$NODE/ok1-again.json"
expect_nothing_signed ok1-again

step "attack: a revoked key"
SIGN_MANIFEST="$WORK/manifest-revoked.json"
manifest_with_revoked media "$SIGN_MANIFEST"
write_sign_conf
submit rv1 --raw "media=$ROOT/fw.bin" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit rv1"; }
sign_once || { cat "$WORK/sign.err" >&2; fail "sign rv1"; }
expect_rejected rv1 key-revoked
unset SIGN_MANIFEST
write_sign_conf

step "attack: a build over its quota"
write_sign_conf "	quotaPerBuild = 1"
submit q1 --raw "media=$ROOT/fw.bin" --raw "platform=$ROOT/fw.bin" >"$WORK/submit.out" 2>&1 ||
	{ cat "$WORK/submit.out" >&2; fail "submit q1"; }
sign_once || { cat "$WORK/sign.err" >&2; fail "sign q1"; }
expect_rejected q1 quota-build
write_sign_conf "	quotaPerHour = 2"
submit q2 --raw "media=$ROOT/fw.bin" --raw "platform=$ROOT/fw.bin" >"$WORK/submit.out" 2>&1 ||
	{ cat "$WORK/submit.out" >&2; fail "submit q2"; }
sign_once || { cat "$WORK/sign.err" >&2; fail "sign q2"; }
expect_rejected q2 quota-hour
write_sign_conf

step "attack: a malformed request document"
printf '{"format":"rombsr-request","version":1,"required":{' >"$WORK/bad.json"
commit_file "$WORK/bad.json" "requests/$NODE/bad1.json" "$NODE_FPR" "malformed"
push_refused "bad1.json"
server_force "$WORK/clone"
sign_once || { cat "$WORK/sign.err" >&2; fail "sign after a malformed document"; }
expect_refused_in_log schema "requests/$NODE/bad1.json"
expect_nothing_signed bad1

step "attack: an oversized request document"
QUEUE_EXTRA="maxRequestBytes = 2048"
write_sign_conf
big=()
for i in 1 2 3 4 5 6 7 8; do
	head -c 100 /dev/urandom >"$ROOT/big$i.bin"
	big+=(--raw "media=$ROOT/big$i.bin")
done
scratch_doc big1 "$WORK/big1.json" "${big[@]}"
[ "$(wc -c <"$WORK/big1.json")" -gt 2048 ] || fail "big1 is not over the cap"
commit_file "$WORK/big1.json" "requests/$NODE/big1.json" "$NODE_FPR" "oversized"
push_refused "big1.json"
server_force "$WORK/clone"
sign_once || { cat "$WORK/sign.err" >&2; fail "sign after an oversized document"; }
expect_refused_in_log too-large "requests/$NODE/big1.json"
expect_nothing_signed big1
unset QUEUE_EXTRA
write_sign_conf

step "attack: a path traversal in an artifact name"
scratch_doc p1 "$WORK/p1.json" --raw "media=$ROOT/fw.bin"
jq -c '.required.artifacts[0].name = "../../etc/passwd"' "$WORK/p1.json" >"$WORK/p1.bad.json"
commit_file "$WORK/p1.bad.json" "requests/$NODE/p1.json" "$NODE_FPR" "traversal"
push_refused "p1.json"
server_force "$WORK/clone"
sign_once || { cat "$WORK/sign.err" >&2; fail "sign after a traversal"; }
expect_refused_in_log schema "requests/$NODE/p1.json"
expect_nothing_signed p1
mkdir -p "$WORK/outside"
head -c 100 /dev/urandom >"$WORK/outside/x.bin"
expect_exit 2 submit p2 --raw "media=$WORK/outside/x.bin"
expect_err "not under --root"

step "attack: a force-push over the queue's history"
rm -rf "$WORK/clone"
attacker_clone "$WORK/clone"
git -C "$WORK/clone" reset -q --hard HEAD~1
scratch_doc f1 "$WORK/f1.json" --raw "media=$ROOT/fw.bin"
mkdir -p "$WORK/clone/requests/$NODE"
cp "$WORK/f1.json" "$WORK/clone/requests/$NODE/f1.json"
git -C "$WORK/clone" add .
node_commit "$WORK/clone" "$NODE_FPR" "rewrite"
if git -C "$WORK/clone" push -q --force origin HEAD:main >"$WORK/push.out" 2>&1; then
	fail "the queue accepted a force-push"
fi
grep -qi "fast-forward" "$WORK/push.out" || { cat "$WORK/push.out" >&2; fail "force-push refused, but not as a non-fast-forward"; }

step "attack: a tampered response (signature bytes changed, commit signature kept)"
submit t1 --raw "media=$ROOT/fw.bin" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit t1"; }
sign_once || { cat "$WORK/sign.err" >&2; fail "sign t1"; }
rm -rf "$WORK/clone"
attacker_clone "$WORK/clone"
resp="$WORK/clone/responses/$NODE/t1.json"
# Flip one bit of the first signature and keep the queue key's commit
# signature on the rewritten commit object.
python3 - "$resp" <<'PY'
import base64, json, sys
p = sys.argv[1]
d = json.load(open(p))
e = next(e for e in d["required"]["entries"] if e["status"] == "signed")
sig = bytearray(base64.b64decode(e["signature"]))
sig[len(sig) // 2] ^= 1
e["signature"] = base64.b64encode(bytes(sig)).decode()
open(p, "w").write(json.dumps(d, sort_keys=True, separators=(",", ":")) + "\n")
PY
git -C "$WORK/clone" add -A
tree=$(git -C "$WORK/clone" write-tree)
git -C "$WORK/clone" cat-file commit HEAD | sed "s/^tree .*/tree $tree/" >"$WORK/forged.commit"
forged=$(git -C "$WORK/clone" hash-object -t commit -w "$WORK/forged.commit")
git -C "$WORK/clone" reset -q --hard "$forged"
grep -q '^gpgsig ' "$WORK/forged.commit" || fail "the forged commit lost its signature header"
server_force "$WORK/clone"
expect_exit 7 apply t1
[ ! -e "$ROOT/fw.bin.sig" ] || fail "t1: apply wrote a signature from a tampered response"

step "attack: an unsigned response commit"
git -C "$WORK/clone" reset -q --hard HEAD~1
git -C "$WORK/clone" cat-file -e HEAD:responses/$NODE/t1.json 2>/dev/null && fail "reset did not drop the response"
git --git-dir="$QUEUE" show "$forged^:requests/$NODE/t1.json" >/dev/null
git --git-dir="$QUEUE" show "$(git --git-dir="$QUEUE" rev-parse main):responses/$NODE/t1.json" >"$WORK/t1.resp"
mkdir -p "$WORK/clone/responses/$NODE"
cp "$WORK/t1.resp" "$WORK/clone/responses/$NODE/t1.json"
git -C "$WORK/clone" add -A
git -C "$WORK/clone" commit -q -m "unsigned response"
server_force "$WORK/clone"
expect_exit 7 apply t1
[ ! -e "$ROOT/fw.bin.sig" ] || fail "t1: apply wrote a signature from an unsigned response"

step "the sign node notices a rewritten history and stops"
# Drop the last commits the sign node saw, as a hostile git server could:
# its response, its claim and the request commit it processed last.
git -C "$WORK/clone" reset -q --hard HEAD~3
server_force "$WORK/clone"
expect_exit 6 "$ROMBSR" sign --once --config "$SIGN_CONF"
expect_err "history was rewritten"
echo "queue-attacks: OK"
