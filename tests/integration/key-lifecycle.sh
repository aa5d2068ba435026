#!/bin/bash
# Key rotation and revocation on a SoftHSM2 token: hsm-rotate-keys gives
# `media` a successor (certificate checked with openssl, links in the
# manifest, rotation statement checked and tampered with), the retired key
# no longer signs and the successor does; hsm-revoke revokes a key by
# fingerprint prefix with an audit entry and prints the incident
# checklist; every bad input fails with a clear message and leaves the
# manifest byte-identical.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"

STATE="$WORK/state"
ESCROW="$WORK/escrow"
provision_small "$STATE" "$ESCROW"
M="$STATE/manifest.json"
PIN=(--pin-file "$ESCROW/operator.pin")
S=(--state-dir "$STATE")
AUDIT="$WORK/audit"
head -c 100000 /dev/urandom >"$WORK/payload.bin"

key() { # NAME FIELD: a field of one key in the manifest
	jq -r --arg n "$1" ".keys[] | select(.name == \$n) | .$2" "$M"
}

# Run a command that must fail with CODE and MESSAGE, and change nothing.
refused() { # CODE MESSAGE CMD...
	local code=$1 msg=$2
	shift 2
	cp "$M" "$WORK/before.json"
	expect_exit "$code" "$@"
	expect_err "$msg"
	cmp -s "$M" "$WORK/before.json" || fail "manifest changed by a refused command: $*"
}

step "rotate media: successor on the token, statement, audit entry"
"$ROMBSR" keys export media --format cert-pem "${S[@]}" --output "$WORK/media.pem"
expect_exit 0 "$ROMBSR" hsm-rotate-keys --key media --statement "$WORK/rot.json" --audit-dir "$AUDIT" \
	"${S[@]}" "${PIN[@]}"
grep -q "rotated 'media' -> 'media-2'" "$WORK/last.out" || fail "no rotation summary"
[ "$(key media status)" = retired ] || fail "media not retired"
[ "$(key media successor)" = media-2 ] || fail "media has no successor link"
[ "$(key media-2 status)" = active ] || fail "media-2 not active"
[ "$(key media-2 predecessor)" = media ] || fail "media-2 has no predecessor link"
[ "$(key media-2 algorithm)" = rsa-2048 ] || fail "successor algorithm"
[ "$(key media-2 purpose)" = android ] || fail "successor purpose"
[ "$(key media-2 id)" != "$(key media id)" ] || fail "successor reuses the CKA_ID"
[ "$(key media-2 spki)" != "$(key media spki)" ] || fail "successor is the same key"
# media signs digests a build node chooses (apk, raw-detached): it has no
# OpenPGP identity, and neither does its successor.
[ "$(key media-2 openpgp_certificate)" = null ] || fail "successor of a key that does not sign OpenPGP has an OpenPGP certificate"

step "the successor's certificate: openssl verify, same subject, the successor's key"
"$ROMBSR" keys export media-2 --format cert-pem "${S[@]}" --output "$WORK/media-2.pem"
"$ROMBSR" keys export media-2 --format spki-pem "${S[@]}" --output "$WORK/media-2.pub.pem"
openssl verify -CAfile "$WORK/media-2.pem" "$WORK/media-2.pem" >/dev/null || fail "openssl verify media-2"
[ "$(openssl x509 -in "$WORK/media-2.pem" -noout -subject)" = "$(openssl x509 -in "$WORK/media.pem" -noout -subject)" ] ||
	fail "successor subject differs"
cmp -s <(openssl x509 -in "$WORK/media-2.pem" -noout -pubkey) "$WORK/media-2.pub.pem" || fail "certificate key"
if openssl verify -CAfile "$WORK/media.pem" "$WORK/media-2.pem" >/dev/null 2>&1; then
	fail "the successor's certificate verifies under the old key"
fi

step "the retired key signs nothing; its successor signs"
refused 5 "retired" "$ROMBSR" sign-file --key media "${S[@]}" "${PIN[@]}" --output "$WORK/old.sig" "$WORK/payload.bin"
[ ! -e "$WORK/old.sig" ] || fail "a signature by the retired key was written"
expect_exit 0 "$ROMBSR" sign-file --key media-2 "${S[@]}" "${PIN[@]}" --output "$WORK/new.sig" "$WORK/payload.bin"
openssl dgst -sha256 -verify "$WORK/media-2.pub.pem" -signature "$WORK/new.sig" "$WORK/payload.bin" >/dev/null ||
	fail "openssl rejects the successor's signature"

step "the rotation statement verifies; either signature altered does not"
expect_exit 0 "$ROMBSR" verify-rotation "$WORK/rot.json" "${S[@]}"
grep -q "'media' -> 'media-2'" "$WORK/last.out" || fail "verify-rotation output"
[ "$(jq -r .old.spki "$WORK/rot.json")" = "$(key media spki)" ] || fail "statement old spki"
[ "$(jq -r .new.spki_sha256 "$WORK/rot.json")" = "$(key media-2 fingerprints.spki_sha256)" ] || fail "statement new fpr"
for which in old_signature new_signature; do
	python3 - "$WORK/rot.json" "$which" "$WORK/bad-$which.json" <<'PY'
import base64, sys
text = open(sys.argv[1]).read()
key = '"%s":"' % sys.argv[2]
start = text.index(key) + len(key)
end = text.index('"', start)
sig = bytearray(base64.b64decode(text[start:end]))
sig[len(sig) // 2] ^= 1
open(sys.argv[3], "w").write(text[:start] + base64.b64encode(bytes(sig)).decode() + text[end:])
PY
	refused 7 "$which" "$ROMBSR" verify-rotation "$WORK/bad-$which.json" "${S[@]}"
done
sed 's/"name":"media-2"/"name":"media-3"/' "$WORK/rot.json" >"$WORK/renamed.json"
refused 7 "signature" "$ROMBSR" verify-rotation "$WORK/renamed.json" "${S[@]}"
printf ' ' | cat "$WORK/rot.json" - >"$WORK/spaced.json"
refused 3 "canonical" "$ROMBSR" verify-rotation "$WORK/spaced.json" "${S[@]}"
# a statement the manifest does not back: the manifest as it was before
jq 'del(.keys[] | select(.name == "media-2")) | (.keys[] | select(.name == "media")) |= (del(.successor) | .status = "active")' \
	"$M" >"$WORK/unrotated.json"
expect_exit 7 "$ROMBSR" verify-rotation "$WORK/rot.json" --manifest "$WORK/unrotated.json"
expect_err "no key 'media-2'"

step "the audit log holds the rotation under a checkpoint signed by the audit key"
expect_exit 0 "$ROMBSR" audit verify "$AUDIT" --manifest "$M" --no-trust
expect_exit 0 "$ROMBSR" audit show "$AUDIT" --json
jq -e -s 'length == 1 and .[0].entry.type == "rotate" and .[0].entry.key == "media" and .[0].entry.new_key == "media-2"' \
	"$WORK/last.out" >/dev/null || { cat "$WORK/last.out" >&2; fail "rotate entry"; }

step "rotate again: media-2 -> media-3 continues the lineage"
expect_exit 0 "$ROMBSR" hsm-rotate-keys --key media-2 "${S[@]}" "${PIN[@]}"
expect_err "NO audit event was written"
[ "$(key media-2 status)" = retired ] && [ "$(key media-2 successor)" = media-3 ] &&
	[ "$(key media-3 predecessor)" = media-2 ] || fail "second rotation links"
expect_exit 0 "$ROMBSR" keys list "${S[@]}"

step "an OpenPGP key's successor gets an OpenPGP certificate with its predecessor's user ID"
expect_exit 0 "$ROMBSR" hsm-rotate-keys --key release "${S[@]}" "${PIN[@]}"
[ "$(key release-2 openpgp_certificate)" != null ] || fail "release-2 lacks an OpenPGP certificate"
"$ROMBSR" keys export release --format openpgp "${S[@]}" --output "$WORK/release.pgp"
"$ROMBSR" keys export release-2 --format openpgp "${S[@]}" --output "$WORK/release-2.pgp"
uids() { sq inspect "$1" | sed -n 's/^ *UserID: //p'; }
[ -n "$(uids "$WORK/release.pgp")" ] && [ "$(uids "$WORK/release.pgp")" = "$(uids "$WORK/release-2.pgp")" ] ||
	fail "release-2's user ID differs from release's"
refused 5 "does not sign OpenPGP" "$ROMBSR" keys export media-3 --format openpgp "${S[@]}"

step "revoke platform by fingerprint prefix, with an audit entry and the checklist"
PLATFORM_FPR=$(key platform fingerprints.spki_sha256)
expect_exit 0 "$ROMBSR" hsm-revoke --key-id "${PLATFORM_FPR:0:16}" --reason "key material found on a build host" \
	--audit-dir "$AUDIT" "${S[@]}" "${PIN[@]}"
grep -q "Incident checklist: key 'platform' is revoked" "$WORK/last.out" || fail "no checklist"
grep -q "$PLATFORM_FPR" "$WORK/last.out" || fail "checklist lacks the fingerprint"
grep -q "0 signature(s) in the audit log" "$WORK/last.out" || fail "checklist lacks the signed artifacts"
grep -q "Next commands" "$WORK/last.out" || fail "checklist lacks the next commands"
[ "$(key platform status)" = revoked ] || fail "platform not revoked"
[ "$(key platform revocation_reason)" = "key material found on a build host" ] || fail "revocation reason"
refused 5 "revoked" "$ROMBSR" sign-file --key platform "${S[@]}" "${PIN[@]}" --output "$WORK/p.sig" "$WORK/payload.bin"
expect_exit 0 "$ROMBSR" audit verify "$AUDIT" --manifest "$M" --no-trust
expect_exit 0 "$ROMBSR" audit show "$AUDIT" --json
jq -e -s 'length == 2 and .[1].entry.type == "revoke" and .[1].entry.key == "platform" and
	.[1].entry.detail == "key material found on a build host"' "$WORK/last.out" >/dev/null || fail "revoke entry"

step "revoke without an audit log says so"
expect_exit 0 "$ROMBSR" hsm-revoke --key-id device --reason "retired hardware" "${S[@]}"
expect_err "NO audit event was written"
grep -q "no audit log given" "$WORK/last.out" || fail "checklist does not say the artifacts are unknown"

step "bad input: clear errors, nothing changed"
refused 4 "no key named 'nosuchkey'" "$ROMBSR" hsm-revoke --key-id nosuchkey --reason x "${S[@]}"
refused 4 "at least 16 hex" "$ROMBSR" hsm-revoke --key-id "${PLATFORM_FPR:0:8}" --reason x "${S[@]}"
refused 4 "no key's SPKI SHA-256 fingerprint" "$ROMBSR" hsm-revoke --key-id 0000000000000000000 --reason x "${S[@]}"
refused 5 "already revoked" "$ROMBSR" hsm-revoke --key-id platform --reason "again" "${S[@]}"
refused 2 "reason is required" "$ROMBSR" hsm-revoke --key-id media-3 "${S[@]}"
refused 2 "reason is required" "$ROMBSR" hsm-revoke --key-id media-3 --reason "" "${S[@]}"
refused 2 "non-printable" "$ROMBSR" hsm-revoke --key-id media-3 --reason "$(printf 'a\tb')" "${S[@]}"
refused 2 "at most 256" "$ROMBSR" hsm-revoke --key-id media-3 --reason "$(head -c 257 /dev/zero | tr '\0' r)" "${S[@]}"
refused 5 "revoked" "$ROMBSR" hsm-rotate-keys --key platform "${S[@]}" "${PIN[@]}"
refused 5 "rotate its successor" "$ROMBSR" hsm-rotate-keys --key media "${S[@]}" "${PIN[@]}"
refused 5 "found by its name" "$ROMBSR" hsm-rotate-keys --key queue "${S[@]}" "${PIN[@]}"
refused 4 "no key named 'ghost'" "$ROMBSR" hsm-rotate-keys --key ghost "${S[@]}" "${PIN[@]}"
refused 10 "already has a key named 'device'" "$ROMBSR" hsm-rotate-keys --key media-3 --successor device "${S[@]}" "${PIN[@]}"
refused 2 "must be 1-64" "$ROMBSR" hsm-rotate-keys --key media-3 --successor "Media.4" "${S[@]}" "${PIN[@]}"
refused 10 "never overwritten" "$ROMBSR" hsm-rotate-keys --key media-3 --statement "$WORK/rot.json" "${S[@]}" "${PIN[@]}"
printf 'wrong-pin\n' >"$WORK/wrong.pin"
chmod 600 "$WORK/wrong.pin"
refused 5 "PIN" "$ROMBSR" hsm-rotate-keys --key media-3 "${S[@]}" --pin-file "$WORK/wrong.pin"
refused 5 "PIN" "$ROMBSR" hsm-revoke --key-id media-3 --reason "x" --audit-dir "$AUDIT" "${S[@]}" --pin-file "$WORK/wrong.pin"
[ "$(key media-3 status)" = active ] || fail "media-3 changed"
# the token's label is taken although the manifest does not know it
jq 'del(.keys[] | select(.name == "media-3")) | (.keys[] | select(.name == "media-2")) |= (del(.successor) | .status = "active")' \
	"$M" >"$WORK/forked.json"
refused 10 "already has a key named 'media-3'" "$ROMBSR" hsm-rotate-keys --key media-2 --manifest "$WORK/forked.json" \
	"${S[@]}" "${PIN[@]}"
cmp -s "$WORK/forked.json" <(jq 'del(.keys[] | select(.name == "media-3")) | (.keys[] | select(.name == "media-2")) |= (del(.successor) | .status = "active")' "$M") ||
	fail "forked manifest changed"

step "sign.conf: its audit.dir, the nodes and approvers to notify, the allowKey lines to add"
cat >"$WORK/sign.conf" <<CONF
[rombsr]
	version = 1
	stateDir = $WORK/signd
	manifest = $M
[queue]
	url = $WORK/queue.git
[audit]
	dir = $AUDIT
[node "builder1"]
	fingerprint = 0123456789ABCDEF0123456789ABCDEF01234567
	publicKey = $WORK/builder1.asc
	allowKey = media-3
[approver "alice"]
	fingerprint = 1123456789ABCDEF0123456789ABCDEF01234567
	publicKey = $WORK/alice.asc
[key "media-3"]
	approvers = 1
	approver = alice
CONF
cp "$WORK/sign.conf" "$WORK/sign.conf.orig"
expect_exit 0 "$ROMBSR" hsm-rotate-keys --key media-3 --sign-config "$WORK/sign.conf" "${S[@]}" "${PIN[@]}"
grep -qF "add 'allowKey = media-4' to [node \"builder1\"]" "$WORK/last.out" || fail "rotation does not name the allowKey to add"
grep -qF "copy [key \"media-3\"]" "$WORK/last.out" || fail "rotation does not name the approval policy to copy"
expect_exit 0 "$ROMBSR" hsm-revoke --key-id media-3 --reason "superseded and leaked" --sign-config "$WORK/sign.conf" \
	"${S[@]}" "${PIN[@]}"
grep -qF "build node 'builder1'" "$WORK/last.out" || fail "checklist does not name the build node"
grep -qF "approver 'alice'" "$WORK/last.out" || fail "checklist does not name the approver"
grep -qF "with the successor key 'media-4'" "$WORK/last.out" || fail "checklist does not name the successor"
cmp -s "$WORK/sign.conf" "$WORK/sign.conf.orig" || fail "sign.conf was changed"
[ "$(key media-3 status)" = revoked ] && [ "$(key media-3 successor)" = media-4 ] || fail "retired then revoked"
expect_exit 0 "$ROMBSR" audit show "$AUDIT" --json
jq -e -s 'length == 4 and .[2].entry.type == "rotate" and .[3].entry.type == "revoke"' "$WORK/last.out" >/dev/null ||
	fail "sign.conf's audit.dir was not used"
expect_exit 0 "$ROMBSR" audit verify "$AUDIT" --manifest "$M" --no-trust

step "a wrapped key's successor is wrapped too, and nothing stays on the token"
expect_exit 0 "$ROMBSR" keys wrap-key --create "${S[@]}" "${PIN[@]}"
expect_exit 0 "$ROMBSR" keys gen --wrapped pkg --algorithm rsa-2048 --purpose packages "${S[@]}" "${PIN[@]}"
privkeys() {
	SOFTHSM2_CONF="$STATE/softhsm2.conf" GNUTLS_PIN=$(cat "$ESCROW/operator.pin") p11tool \
		--provider /usr/lib/softhsm/libsofthsm2.so --login --list-all-privkeys "pkcs11:token=rombsr-test" 2>/dev/null |
		grep -c 'Type: Private key' || true
}
RESIDENT=$(privkeys)
[ "$RESIDENT" -eq 12 ] || fail "expected 12 resident keys (8 provisioned, media-2..4, release-2), found $RESIDENT"
expect_exit 0 "$ROMBSR" hsm-rotate-keys --key pkg --statement "$WORK/pkg-rot.json" "${S[@]}" "${PIN[@]}"
expect_err "generating wrapped key 'pkg-2'"
[ -f "$STATE/wrapped/pkg-2.json" ] || fail "no wrapped successor in the store"
[ "$(privkeys)" -eq "$RESIDENT" ] || fail "rotating a wrapped key left a key object on the token"
[ "$(key pkg status)" = retired ] && [ "$(key pkg-2 predecessor)" = pkg ] || fail "wrapped rotation links"
[ "$(key pkg-2 purpose)" = packages ] || fail "wrapped successor purpose"
expect_exit 0 "$ROMBSR" verify-rotation "$WORK/pkg-rot.json" "${S[@]}"
"$ROMBSR" keys export pkg-2 --format spki-pem "${S[@]}" --output "$WORK/pkg-2.pub.pem"
"$ROMBSR" keys export pkg-2 --format cert-pem "${S[@]}" --output "$WORK/pkg-2.pem"
openssl verify -check_ss_sig -partial_chain -CAfile "$WORK/pkg-2.pem" "$WORK/pkg-2.pem" >/dev/null 2>&1 ||
	fail "wrapped successor certificate"
expect_exit 0 "$ROMBSR" sign-file --key pkg-2 "${S[@]}" "${PIN[@]}" --output "$WORK/pkg.sig" "$WORK/payload.bin"
openssl dgst -sha256 -verify "$WORK/pkg-2.pub.pem" -signature "$WORK/pkg.sig" "$WORK/payload.bin" >/dev/null ||
	fail "openssl rejects the wrapped successor's signature"
refused 5 "retired" "$ROMBSR" sign-file --key pkg "${S[@]}" "${PIN[@]}" --output "$WORK/pkg-old.sig" "$WORK/payload.bin"

step "keys list: status, lineage links, resident or wrapped"
expect_exit 0 "$ROMBSR" keys list --json "${S[@]}"
jq -e '(.[] | select(.name == "pkg-2") | .storage == "wrapped" and .predecessor == "pkg" and .status == "active") and
	(.[] | select(.name == "pkg") | .storage == "wrapped" and .successor == "pkg-2" and .status == "retired") and
	(.[] | select(.name == "media-3") | .storage == "resident" and .predecessor == "media-2" and
		.successor == "media-4" and .status == "revoked") and
	(.[] | select(.name == "queue") | .storage == "resident" and (has("predecessor") | not))' "$WORK/last.out" >/dev/null ||
	{ cat "$WORK/last.out" >&2; fail "keys list --json"; }
expect_exit 0 "$ROMBSR" keys list "${S[@]}"
grep -Eq '^media-3 .* revoked .* resident +after media-2, before media-4$' "$WORK/last.out" ||
	{ cat "$WORK/last.out" >&2; fail "keys list table"; }
grep -Eq '^pkg-2 .* active .* wrapped +after pkg$' "$WORK/last.out" || fail "keys list: wrapped successor"
grep -Eq '^queue .* resident +-$' "$WORK/last.out" || fail "keys list: key without lineage"

step "revoking the audit key: its last checkpoint covers its own revocation; then nothing more is recorded"
expect_exit 0 "$ROMBSR" hsm-revoke --key-id audit --reason "audit key rotated out by policy" --audit-dir "$AUDIT" \
	"${S[@]}" "${PIN[@]}"
expect_exit 0 "$ROMBSR" audit show "$AUDIT" --json
jq -e -s '.[-1].entry.type == "revoke" and .[-1].entry.key == "audit"' "$WORK/last.out" >/dev/null ||
	fail "the audit key's revocation is not the last entry"
refused 5 "'audit' key is revoked" "$ROMBSR" hsm-revoke --key-id media-4 --reason "x" --audit-dir "$AUDIT" \
	"${S[@]}" "${PIN[@]}"
echo "key-lifecycle: all checks passed"
