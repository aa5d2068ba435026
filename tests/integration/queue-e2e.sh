#!/bin/bash
# The main job end to end, with every real part: apksigner signs two APKs
# through the capture module (RSA-4096 and P-256), the build asks for an
# OpenPGP signature over a package and a raw signature over an image,
# `rombsr submit` commits one signed request document to a guarded git
# queue, `rombsr sign --once` signs on SoftHSM2 and publishes a response
# signed by the HSM's queue key, and `rombsr apply` puts the signatures in
# place. Independent tools check the result: apksigner verify, gpg
# --verify, sq verify, openssl, git verify-commit.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"
. "$(dirname "$0")/lib/capture.sh"
. "$(dirname "$0")/lib/queue.sh"
. "$(dirname "$0")/lib/pgp-verify.sh"
need apksigner zipalign zip sq

queue_setup
BUILD=e2e-1
export ROMBSR_BUILD_ID=$BUILD

step "build: two APKs through the capture module, a package, an image"
make_apk "$WORK/a.apk" 1
make_apk "$WORK/b.apk" 2
mkdir -p "$ROOT/apps"
apk_sign_capture "$WORK/a.apk" "$ROOT/apps/A.apk" platform >"$WORK/cap.out" 2>&1 ||
	{ cat "$WORK/cap.out" >&2; fail "apksigner through the capture module (platform)"; }
apk_sign_capture "$WORK/b.apk" "$ROOT/apps/B.apk" device >"$WORK/cap.out" 2>&1 ||
	{ cat "$WORK/cap.out" >&2; fail "apksigner through the capture module (device)"; }
head -c 300000 /dev/urandom >"$ROOT/pkg.tar.zst"
head -c 123457 /dev/urandom >"$ROOT/boot.img"
[ "$(spool_count)" -eq 4 ] || fail "$(spool_count) capture requests, expected 4"
apk_verify "$ROOT/apps/A.apk" && fail "an APK with placeholders verifies"

step "submit: one commit, signed by the build node"
submit "$BUILD" --artifact "$ROOT/apps/A.apk" --artifact "$ROOT/apps/B.apk" \
	--openpgp "release=$ROOT/pkg.tar.zst" --raw "media=$ROOT/boot.img" >"$WORK/submit.out" 2>&1 ||
	{ cat "$WORK/submit.out" >&2; fail "rombsr submit"; }
grep -q "requests/$NODE/$BUILD.json: 6 requests" "$WORK/submit.out" || { cat "$WORK/submit.out" >&2; fail "submit summary"; }
[ "$(git --git-dir="$QUEUE" rev-list --count main)" -eq 1 ] || fail "expected exactly one queue commit after submit"
git --git-dir="$QUEUE" cat-file -p main | grep -q '^gpgsig ' || fail "the request commit is not signed"

step "sign: one batch on the HSM"
sign_once || { cat "$WORK/sign.out" "$WORK/sign.err" >&2; fail "rombsr sign --once"; }
grep -q '6 signed, 0 rejected' "$WORK/sign.out" || { cat "$WORK/sign.out" "$WORK/sign.err" >&2; fail "sign summary"; }
[ "$(grep -c 'event=sign ' "$WORK/sign.err")" -eq 6 ] || fail "expected one structured log line per signature"
resp=$(git --git-dir="$QUEUE" rev-parse main)
git --git-dir="$QUEUE" show --name-only --format= "$resp" | grep -qx "responses/$NODE/$BUILD.json" ||
	fail "the response commit does not hold responses/$NODE/$BUILD.json"
# Before the HSM: the sign node's claim on the build (docs/formats/claim.md).
[ "$(git --git-dir="$QUEUE" rev-list --count main)" -eq 3 ] || fail "expected a claim and a response commit"
git --git-dir="$QUEUE" show --name-only --format= "$resp~1" | grep -qx "claims/$NODE/$BUILD/1.json" ||
	fail "the commit before the response does not claim the build"

step "git verify-commit accepts the response commit with the exported queue certificate"
export GNUPGHOME="$WORK/verify-gnupg"
mkdir -p -m 700 "$GNUPGHOME"
"$ROMBSR" keys export queue --format openpgp-armor --manifest "$MANIFEST" --state-dir "$STATE" >"$WORK/queue.asc"
gpg --batch --quiet --import "$WORK/queue.asc" 2>/dev/null
git --git-dir="$QUEUE" verify-commit "$resp" 2>"$WORK/verify-commit.err" ||
	{ cat "$WORK/verify-commit.err" >&2; fail "git verify-commit on the response commit"; }
grep -q 'Good signature' "$WORK/verify-commit.err" || fail "git verify-commit: no good signature"

step "sign again: nothing new, nothing signed twice"
sign_once || { cat "$WORK/sign.err" >&2; fail "second rombsr sign --once"; }
grep -q '0 signed' "$WORK/sign.out" || fail "the second batch signed something"
[ "$(git --git-dir="$QUEUE" rev-list --count main)" -eq 3 ] || fail "the second batch committed"

step "apply: verify and put the signatures in place"
apply "$BUILD" >"$WORK/apply.out" 2>&1 || { cat "$WORK/apply.out" >&2; fail "rombsr apply"; }
expect_apk_verified "$ROOT/apps/A.apk" platform
expect_apk_verified "$ROOT/apps/B.apk" device
[ -f "$ROOT/pkg.tar.zst.sig" ] || fail "no OpenPGP signature written"
[ -f "$ROOT/boot.img.sig" ] || fail "no raw signature written"

step "independent verifiers: gpg, sq, pacman-key, openssl"
"$ROMBSR" keys export release --format openpgp-armor --manifest "$MANIFEST" --state-dir "$STATE" >"$WORK/release.asc"
pgp_verify_all "$WORK/release.asc" "$(key_field release .fingerprints.openpgp_v4)" "$ROOT/pkg.tar.zst.sig" \
	"$ROOT/pkg.tar.zst" || fail "an independent OpenPGP verifier refuses the package signature"
"$ROMBSR" keys export media --format spki-pem --manifest "$MANIFEST" --state-dir "$STATE" >"$WORK/media.pem"
openssl dgst -sha256 -verify "$WORK/media.pem" -signature "$ROOT/boot.img.sig" "$ROOT/boot.img" >/dev/null ||
	fail "openssl does not verify the raw image signature"

step "rombsr verify agrees"
"$ROMBSR" verify --manifest "$MANIFEST" "$ROOT/apps/A.apk" "$ROOT/apps/B.apk" "$ROOT/pkg.tar.zst" \
	"$ROOT/boot.img" >"$WORK/rverify.out" 2>&1 || { cat "$WORK/rverify.out" >&2; fail "rombsr verify"; }

step "the audit log verifies and explains every signature"
"$ROMBSR" audit verify --manifest "$MANIFEST" --trust-dir "$WORK/trust" "$SIGND/audit" >"$WORK/audit.out" 2>&1 ||
	{ cat "$WORK/audit.out" >&2; fail "rombsr audit verify"; }
step "four builds submitted at once all land: a push that loses the race is retried"
pids=()
for i in 1 2 3 4; do
	head -c 2000 /dev/urandom >"$ROOT/par$i.bin"
	ROMBSR_CAPTURE_SPOOL="$WORK/spool-par$i" submit "par$i" --raw "media=$ROOT/par$i.bin" >"$WORK/par$i.out" 2>&1 &
	pids+=($!)
done
for i in 1 2 3 4; do
	wait "${pids[$((i - 1))]}" || { cat "$WORK/par$i.out" >&2; fail "concurrent submit par$i"; }
done
sign_once || { cat "$WORK/sign.err" >&2; fail "rombsr sign --once after concurrent submits"; }
grep -q '4 documents answered, 4 signed' "$WORK/sign.out" || { cat "$WORK/sign.out" >&2; fail "not every concurrent build was answered"; }
echo "queue-e2e: OK"
