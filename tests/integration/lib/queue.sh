# Shared set-up for the main job's integration tests: a provisioned
# SoftHSM2 token (capture.sh), a build node with its own OpenPGP key, a
# guarded bare queue, and a sign node configuration. Source after
# fixture.sh and capture.sh.
#
#   queue_setup                 everything below, and the sign node's audit
#                               log (rombsr audit init); sets QUEUE (bare repo),
#                               SIGN_CONF, SIGND (sign-node state dir),
#                               NODE (builder1), NODE_FPR, ROOT (the build's
#                               output directory), CACHE, BUILD_GNUPG
#   node_key NAME               make an OpenPGP key NAME@build.invalid in
#                               $BUILD_GNUPG; prints its fingerprint; its
#                               certificate goes to $WORK/NAME.asc
#   write_sign_conf [EXTRA]     (re)write $SIGN_CONF; EXTRA is appended;
#                               $ROMBSR_EXTRA, $HSM_EXTRA and $QUEUE_EXTRA go
#                               into their sections
#   sign_node_conf NAME SIGN-NODE [QUEUE-EXTRA]
#                               $WORK/sign-NAME.conf: another sign node on the
#                               queue, named SIGN-NODE ("-": no rombsr.signNode),
#                               with state in $WORK/signd-NAME (the guard keeps
#                               $SIGN_CONF)
#   submit BUILD [ARGS...]      rombsr submit for $NODE with the defaults
#   sign_once                   rombsr sign --once; output in $WORK/sign.out/.err
#   apply BUILD [ARGS...]       rombsr apply for $NODE
#   attacker_clone DIR          a working clone of the queue
#   server_force DIR            what an attacker who owns the git server does:
#                               move the queue's branch to DIR's HEAD with no
#                               hook and no fast-forward check
#   node_commit DIR FPR MSG     commit DIR's index signed with FPR (git -S)
#   audit_sign_count            sign entries in the sign node's audit log
#   has_response BUILD          the queue's branch has BUILD's response
#   daemon_start                run rombsr-sign on $SIGN_CONF in the background
#                               ($daemon; output in $WORK/daemon.out/.err),
#                               killed at exit, and wait until it has started

NODE=builder1
# Commit signatures are checked with gpgme against the sign node's own
# keyring; the build node's keys live in a home of their own.
BUILD_GNUPG="$WORK/build-gnupg"

node_key() { # NAME -> fingerprint on stdout
	mkdir -p -m 700 "$BUILD_GNUPG"
	GNUPGHOME="$BUILD_GNUPG" gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
		--quick-gen-key "$1 <$1@build.invalid>" ed25519 sign never 2>/dev/null ||
		fail "gpg key generation for $1"
	local fpr
	fpr=$(GNUPGHOME="$BUILD_GNUPG" gpg --with-colons --list-keys "$1@build.invalid" |
		awk -F: '/^fpr/ { print $10; exit }')
	[ -n "$fpr" ] || fail "no fingerprint for $1"
	GNUPGHOME="$BUILD_GNUPG" gpg --armor --export "$fpr" >"$WORK/$1.asc"
	echo "$fpr"
}

write_sign_conf() { # [EXTRA-TEXT]
	cat >"$SIGN_CONF" <<-EOF
	[rombsr]
		version = 1
		stateDir = $SIGND
		manifest = ${SIGN_MANIFEST:-$MANIFEST}
		${ROMBSR_EXTRA:-}
	[hsm]
		module = $SOFTHSM_MODULE
		pinFile = $PIN_FILE
		softhsmConf = $STATE/softhsm2.conf
		${HSM_EXTRA:-}
	[queue]
		url = $QUEUE
		pollSeconds = ${POLL_SECONDS:-1}
		${QUEUE_EXTRA:-}
	[node "$NODE"]
		fingerprint = $NODE_FPR
		publicKey = $WORK/$NODE.asc
		allowKey = platform
		allowKey = media
		allowKey = device
		allowKey = release
	${1:-}
	EOF
}

queue_setup() {
	need git gpg
	capture_setup
	NODE_FPR=$(node_key "$NODE")
	QUEUE="$WORK/queue.git"
	SIGN_CONF="$WORK/sign.conf"
	SIGND="$WORK/signd"
	ROOT="$WORK/out"
	CACHE="$WORK/build-cache"
	mkdir -p "$ROOT"
	write_sign_conf
	"$ROMBSR" queue init --config "$SIGN_CONF" "$QUEUE" >"$WORK/init.out" 2>&1 ||
		{ cat "$WORK/init.out" >&2; fail "rombsr queue init"; }
	"$ROMBSR" audit init --config "$SIGN_CONF" >"$WORK/init.out" 2>&1 ||
		{ cat "$WORK/init.out" >&2; fail "rombsr audit init"; }
	git config --global init.defaultBranch main >/dev/null 2>&1 || true
}

sign_node_conf() { # NAME SIGN-NODE [QUEUE-EXTRA]
	local saved_signd=$SIGND saved_conf=$SIGN_CONF
	SIGND="$WORK/signd-$1" SIGN_CONF="$WORK/sign-$1.conf"
	ROMBSR_EXTRA=$([ "$2" = - ] || echo "signNode = $2") QUEUE_EXTRA="${3:-}" write_sign_conf
	SIGND=$saved_signd SIGN_CONF=$saved_conf
}

submit() { # BUILD [ARGS...]
	"$ROMBSR" submit --build-id "$1" --node "$NODE" --queue "$QUEUE" --signing-key "$NODE_FPR" \
		--gnupghome "$BUILD_GNUPG" --manifest "$MANIFEST" --root "$ROOT" --cache "$CACHE" "${@:2}"
}

sign_once() {
	"$ROMBSR" sign --once --config "$SIGN_CONF" >"$WORK/sign.out" 2>"$WORK/sign.err"
}

apply() { # BUILD [ARGS...]
	"$ROMBSR" apply --build-id "$1" --node "$NODE" --queue "$QUEUE" --manifest "$MANIFEST" \
		--root "$ROOT" --cache "$CACHE" "${@:2}"
}

attacker_clone() { # DIR
	git clone -q "$QUEUE" "$1" 2>/dev/null || fail "git clone of the queue"
	git -C "$1" config user.name attacker
	git -C "$1" config user.email attacker@build.invalid
}

server_force() { # DIR
	git --git-dir="$QUEUE" fetch -q "$1" "+HEAD:refs/heads/main" || fail "server-side ref update"
}

node_commit() { # DIR FPR MESSAGE
	GNUPGHOME="$BUILD_GNUPG" git -C "$1" -c user.signingkey="$2" -c gpg.program=gpg \
		commit -q -S -m "$3" || fail "signed commit by $2"
}

# A request document made by the real `rombsr submit`, but committed to a
# scratch queue instead of the real one: the raw material of forgeries.
scratch_doc() { # BUILD OUT [SUBMIT ARGS...]
	local scratch="$WORK/scratch.$1.git"
	git init -q --bare "$scratch"
	"$ROMBSR" submit --build-id "$1" --node "$NODE" --queue "$scratch" --signing-key "$NODE_FPR" \
		--gnupghome "$BUILD_GNUPG" --manifest "$MANIFEST" --root "$ROOT" --cache "$WORK/scratch.$1.cache" \
		"${@:3}" >"$WORK/scratch.out" 2>&1 || { cat "$WORK/scratch.out" >&2; fail "scratch submit $1"; }
	git --git-dir="$scratch" show "main:requests/$NODE/$1.json" >"$2"
}

# Put FILE at PATH in a fresh clone and commit it: signed with FPR, or
# unsigned when FPR is "-". Leaves the clone in $WORK/clone.
commit_file() { # FILE PATH FPR MESSAGE
	rm -rf "$WORK/clone"
	attacker_clone "$WORK/clone"
	mkdir -p "$WORK/clone/$(dirname "$2")"
	cp "$1" "$WORK/clone/$2"
	git -C "$WORK/clone" add "$2"
	if [ "$3" = - ]; then
		git -C "$WORK/clone" commit -q -m "$4"
	else
		node_commit "$WORK/clone" "$3" "$4"
	fi
}

# git push from the clone; the guard must refuse it, saying $1.
push_refused() { # EXPECTED-SUBSTRING
	if git -C "$WORK/clone" push -q origin HEAD:main >"$WORK/push.out" 2>&1; then
		fail "the queue accepted a push it must refuse ($1)"
	fi
	grep -qi -- "$1" "$WORK/push.out" || { cat "$WORK/push.out" >&2; fail "push refused, but not for '$1'"; }
}

audit_sign_count() {
	# No checkpoint yet (no log, or one `rombsr audit init` just made): none.
	[ -f "$SIGND/audit/checkpoint" ] || { echo 0; return; }
	"$ROMBSR" audit show --json "$SIGND/audit" | jq -s '[.[] | select(.entry.type == "sign")] | length'
}

has_response() { # BUILD
	git --git-dir="$QUEUE" cat-file -e "main:responses/$NODE/$1.json" 2>/dev/null
}

daemon_start() {
	"$ROMBSR_BUILD_DIR/src/signd/rombsr-sign" --config "$SIGN_CONF" >"$WORK/daemon.out" 2>"$WORK/daemon.err" &
	daemon=$!
	trap 'kill "$daemon" 2>/dev/null || true; cleanup_fixture' EXIT
	wait_for 60 grep -q 'rombsr-sign: started' "$WORK/daemon.err" ||
		{ cat "$WORK/daemon.err" >&2; fail "rombsr-sign did not start"; }
}
