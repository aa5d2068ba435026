#!/bin/bash
# The queue guard with real git and gpg: `rombsr queue init` makes a bare
# queue whose pre-receive hook is `rombsr queue-guard`; nodes push signed
# commits with the git command. Every rule of docs/QUEUE.md is attacked
# once and the refusal's reason is checked in git's stderr. Then `rombsr
# queue verify` passes on a clone and finds a commit that was put into a
# copy of the queue behind the hook's back.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"
DOC_TOOL=$(realpath "${1:?usage: queue-guard.sh QUEUE_DOC_TOOL}")

export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_TERMINAL_PROMPT=0
STATE="$WORK/state"
provision_small "$STATE" "$WORK/escrow"
MANIFEST="$STATE/manifest.json"

step "node keys (and one stranger) in a temporary GNUPGHOME"
newkey() { # UID -> prints the primary fingerprint
	gpg --batch --quiet --passphrase '' --quick-gen-key "$1" ed25519 sign never 2>/dev/null
	gpg --batch --with-colons --list-keys "$1" | awk -F: '$1=="fpr"{print $10; exit}'
}
FPR1=$(newkey "builder1 <b1@example.org>")
FPR2=$(newkey "builder2 <b2@example.org>")
FPRX=$(newkey "mallory <m@example.org>")
mkdir "$WORK/keys"
gpg --export --armor "$FPR1" >"$WORK/keys/builder1.asc"
gpg --export "$FPR2" >"$WORK/keys/builder2.pgp"

cat >"$WORK/sign.conf" <<CONF
[rombsr]
	version = 1
	stateDir = signstate
	manifest = $MANIFEST
[queue]
	url = queue.git
	branch = main
[node "builder1"]
	fingerprint = $FPR1
	publicKey = keys/builder1.asc
	allowKey = platform
[node "builder2"]
	fingerprint = $(echo "$FPR2" | tr A-F a-f)
	publicKey = keys/builder2.pgp
CONF

step "rombsr queue init"
expect_exit 0 "$ROMBSR" queue init --config "$WORK/sign.conf"
[ -x "$WORK/queue.git/hooks/pre-receive" ] || fail "no hook"
grep -qF "queue-guard --config '$(realpath "$WORK/sign.conf")'" "$WORK/queue.git/hooks/pre-receive" || { cat "$WORK/queue.git/hooks/pre-receive" >&2; fail "hook content"; }
[ "$(git --git-dir="$WORK/queue.git" config receive.denyNonFastForwards)" = true ] || fail denyNonFastForwards
expect_exit 10 "$ROMBSR" queue init --config "$WORK/sign.conf"
expect_err "not empty"

WT="$WORK/wt"
git clone -q "$WORK/queue.git" "$WT" 2>/dev/null
cd "$WT"
git config user.name builder
git config user.email builder@example.org
git config commit.gpgsign false
git checkout -q -b main

remote_tip() { git --git-dir="$WORK/queue.git" rev-parse -q --verify refs/heads/main || echo none; }
reset_wt() {
	git fetch -q origin
	git checkout -q -f main
	git reset -q --hard origin/main
	git clean -qfdx
}
add_doc() { # PATH CONTENT-FILE
	mkdir -p "$(dirname "$1")"
	cp "$2" "$1"
	git add "$1"
}
commit_as() { # FPR MESSAGE
	git -c user.signingkey="$1" commit -q -S -m "$2"
}
push_ok() {
	git push -q origin "$@" 2>"$WORK/push.err" || { cat "$WORK/push.err" >&2; fail "push refused"; }
}
push_refused() { # REASON PUSH-ARGS...
	local reason=$1 before
	shift
	before=$(remote_tip)
	if git push origin "$@" >"$WORK/push.out" 2>"$WORK/push.err"; then
		fail "push accepted, expected: $reason"
	fi
	grep -qF "rombsr queue-guard: refused" "$WORK/push.err" || { cat "$WORK/push.err" >&2; fail "not the guard"; }
	grep -qF -- "$reason" "$WORK/push.err" || { cat "$WORK/push.err" >&2; fail "reason lacks '$reason'"; }
	[ -z "${SHOW_PUSH_ERR:-}" ] || cat "$WORK/push.err"
	[ "$(remote_tip)" = "$before" ] || fail "the queue moved although the push was refused"
}

"$DOC_TOOL" request "$MANIFEST" builder1 b1 >"$WORK/b1.json"
"$DOC_TOOL" request "$MANIFEST" builder1 b2 >"$WORK/b2.json"
"$DOC_TOOL" request "$MANIFEST" builder2 c1 >"$WORK/c1.json"
"$DOC_TOOL" request "$MANIFEST" builder1 b9 >"$WORK/b9.json"

step "accepted: builder1 creates the branch with requests/builder1/b1.json"
add_doc requests/builder1/b1.json "$WORK/b1.json"
commit_as "$FPR1" "build b1"
push_ok HEAD:main
step "accepted: builder2 (configured in lower case, binary certificate) adds its request"
add_doc requests/builder2/c1.json "$WORK/c1.json"
commit_as "$FPR2" "build c1"
push_ok HEAD:main
TIP_GOOD=$(remote_tip)

step "refused: an unsigned commit"
reset_wt
add_doc requests/builder1/b2.json "$WORK/b2.json"
git commit -q -m unsigned
push_refused "is not signed" HEAD:main

step "refused: a commit signed by an unknown key"
reset_wt
add_doc requests/builder1/b2.json "$WORK/b2.json"
commit_as "$FPRX" "stranger"
push_refused "signed by unknown key $FPRX" HEAD:main

step "refused: builder1 writing into builder2's area"
reset_wt
add_doc requests/builder2/b2.json "$WORK/b2.json"
commit_as "$FPR1" "wrong area"
push_refused "adds requests/builder2/b2.json outside its signer's area requests/builder1/" HEAD:main

step "refused: a file outside every area"
reset_wt
add_doc README "$WORK/b2.json"
commit_as "$FPR1" "readme"
push_refused "adds README outside its signer's area" HEAD:main

step "refused: modifying an existing file"
reset_wt
echo '{}' >requests/builder1/b1.json
git add requests/builder1/b1.json
commit_as "$FPR1" "modify"
push_refused "modifies existing file requests/builder1/b1.json" HEAD:main

step "refused: deleting a file"
reset_wt
git rm -q requests/builder1/b1.json
commit_as "$FPR1" "delete"
push_refused "deletes existing file requests/builder1/b1.json" HEAD:main

step "refused: a force push that rewrites history"
reset_wt
git reset -q --hard HEAD~1
add_doc requests/builder1/b2.json "$WORK/b2.json"
commit_as "$FPR1" "rewritten"
push_refused "not a fast-forward" --force HEAD:main

step "refused: deleting the branch"
reset_wt
push_refused "deletes refs/heads/main" :main

step "refused: another ref"
reset_wt
add_doc requests/builder1/b2.json "$WORK/b2.json"
commit_as "$FPR1" "side branch"
push_refused "is not the queue branch" HEAD:refs/heads/other

step "refused: a merge commit"
reset_wt
git checkout -q -b side
add_doc requests/builder1/b2.json "$WORK/b2.json"
commit_as "$FPR1" "side"
git checkout -q main
add_doc requests/builder1/b9.json "$WORK/b9.json"
commit_as "$FPR1" "main"
git -c user.signingkey="$FPR1" merge -q -S --no-edit side
push_refused "is a merge (2 parents)" HEAD:main

step "refused: a document that is not schema-valid"
reset_wt
printf '{"format":"rombsr-request"}\n' >"$WORK/bad.json"
add_doc requests/builder1/b3.json "$WORK/bad.json"
commit_as "$FPR1" "bad schema"
push_refused "requests/builder1/b3.json is not a valid document" HEAD:main

step "refused: a document whose build id disagrees with its path"
reset_wt
add_doc requests/builder1/b8.json "$WORK/b9.json"
commit_as "$FPR1" "b9 as b8"
push_refused "names build id \"b9\" but its path says \"b8\"" HEAD:main

step "refused: a good commit followed by a bad one is refused as a whole"
reset_wt
add_doc requests/builder1/b2.json "$WORK/b2.json"
commit_as "$FPR1" "good"
add_doc requests/builder2/b5.json "$WORK/b2.json"
commit_as "$FPR1" "bad"
push_refused "outside its signer's area" HEAD:main
[ "$(remote_tip)" = "$TIP_GOOD" ] || fail "partial push landed"

step "accepted: the next real request after all of that"
reset_wt
add_doc requests/builder1/b2.json "$WORK/b2.json"
commit_as "$FPR1" "build b2"
push_ok HEAD:main

step "rombsr queue verify passes on a clone and on the url"
git clone -q --bare "$WORK/queue.git" "$WORK/clone.git"
expect_exit 0 "$ROMBSR" queue verify --config "$WORK/sign.conf" --repo "$WORK/clone.git"
expect_exit 0 "$ROMBSR" queue verify --config "$WORK/sign.conf"
grep -qF "follows the queue rules" "$WORK/last.out" || fail "verify output"

step "rombsr queue verify reports a commit that bypassed the hook"
cp -a "$WORK/queue.git" "$WORK/doctored.git"
rm "$WORK/doctored.git/hooks/pre-receive"
reset_wt
echo '{"changed":true}' >requests/builder1/b1.json
git add requests/builder1/b1.json
commit_as "$FPR1" "doctored"
BAD=$(git rev-parse HEAD)
git push -q "$WORK/doctored.git" HEAD:main 2>/dev/null
expect_exit 7 "$ROMBSR" queue verify --config "$WORK/sign.conf" --repo "$WORK/doctored.git"
expect_err "commit ${BAD:0:12}: modifies existing file requests/builder1/b1.json"

step "queue-guard refuses malformed hook input"
expect_exit 5 env GIT_DIR="$WORK/queue.git" "$ROMBSR" queue-guard --config "$WORK/sign.conf" <<<"not an update line"
expect_err "malformed update line 1"
cd /
echo "queue-guard: all checks passed"
