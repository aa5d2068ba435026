#!/bin/bash
# No signing oracle: every key signs only in its own domains (key
# purposes). Each attack here worked before purposes existed and must now
# fail, with nothing signed:
#   keys whose digests a build node chooses (apk, raw-detached) have no
#   OpenPGP certificate at all, so none can be revoked or bound through
#   them; a node allowed the OpenPGP key release submits a raw request whose
#   "sha256" is the OpenPGP hash of a key-revocation signature (type 0x20)
#   over release's own certificate - if the HSM signed it, gpg would show
#   release revoked; in the same document a raw Ed25519 request for the
#   queue key over 32 chosen bytes (what a forged response commit needs);
#   allowKey = queue / audit in sign.conf; sign-file with the queue or
#   audit key, or in a format outside the key's purposes; rombsr approve
#   for the queue key; a version-1 manifest, which must not grant the
#   queue and audit keys anything but their own domains;
#   a node allowed platform and device (purposes: apk) records, through
#   the capture module, requests that ask them to sign something other
#   than apksigner's structures for them: a digest only (CKM_RSA_PKCS, and
#   a version-1 request), an X.509 TBSCertificate, and a v2 signed-data
#   block naming another key's certificate - each refused with
#   "structure" before the HSM, while an honest APK build (v2, v3, v4 and,
#   in the same document as the attacks, v1) through the same module is
#   signed, applied and verified by apksigner.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"
. "$(dirname "$0")/lib/capture.sh"
. "$(dirname "$0")/lib/queue.sh"
need xxd gpg sq apksigner zipalign zip pkcs11-tool

# The default key set's testkey (purposes: apk) next to the names
# lib/queue.sh allows, small and quick to generate. This test provisions
# its own token from it instead of the shared test key set.
ORACLE_KEYSPEC="$WORK/keyspec.json"
provision_small() { # STATE ESCROW
	"$ROMBSR" hsm-provision --state-dir "$1" --escrow-dir "$2" --keyspec "$ORACLE_KEYSPEC" \
		--label rombsr-test >"$WORK/provision.log" 2>&1 || { cat "$WORK/provision.log" >&2; fail "provisioning"; }
}
cat >"$ORACLE_KEYSPEC" <<'EOF'
{
  "format": "rombsr-keyspec",
  "version": 2,
  "keys": [
    {"name": "testkey", "algorithm": "rsa-2048", "purpose": "android", "purposes": ["apk"]},
    {"name": "platform", "algorithm": "rsa-2048", "purpose": "android", "purposes": ["apk"]},
    {"name": "media", "algorithm": "rsa-2048", "purpose": "android", "purposes": ["apk", "raw-detached"]},
    {"name": "device", "algorithm": "ec-p256", "purposes": ["apk"]},
    {"name": "release", "algorithm": "rsa-2048", "purposes": ["openpgp-detached"]},
    {"name": "queue", "algorithm": "ed25519", "purpose": "queue", "purposes": ["queue-response"],
     "openpgp_uid": "rombsr signing queue <queue@rombsr.invalid>"},
    {"name": "audit", "algorithm": "ed25519", "purpose": "audit", "purposes": ["audit-checkpoint"]}
  ]
}
EOF
queue_setup
ALICE_FPR=$(node_key alice)
write_sign_conf "	allowKey = testkey"
S=(--state-dir "$STATE")
PINS=(--pin-file "$PIN_FILE")

hex_sha256() { # reads bytes on stdin, prints the SHA-256 as hex
	openssl dgst -sha256 -r | cut -d' ' -f1
}
lp() { # HEX -> u32(length) || bytes, as hex
	printf '%08x%s' $((${#1} / 2)) "$1"
}
ascii_hex() {
	printf '%s' "$1" | xxd -p | tr -d '\n'
}

# PART: "purposes" (key purposes, OpenPGP identities, sign.conf, sign-file),
# "structure" (what an apk-only key signs, through apksigner), or both.
part=${1:-all}
printf 'release notes\n' >"$ROOT/release-notes.bin" # both parts' crafted documents name it
if [ "$part" != structure ]; then
step "baseline: a legitimate raw request is signed"
head -c 4000 /dev/urandom >"$ROOT/fw.bin"
submit ok1 --raw "media=$ROOT/fw.bin" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit ok1"; }
sign_once || { cat "$WORK/sign.err" >&2; fail "sign ok1"; }
signed_before=$(audit_sign_count)
[ "$signed_before" -eq 1 ] || fail "baseline: $signed_before signatures, expected 1"

step "the request builder refuses a kind outside the key's purposes"
printf 'release notes\n' >"$ROOT/release-notes.bin"
expect_exit 5 submit x1 --raw "testkey=$ROOT/release-notes.bin"
expect_err "testkey"
expect_err "raw-detached"
expect_exit 5 submit x2 --openpgp "media=$ROOT/release-notes.bin"
expect_exit 5 submit x3 --raw "queue=$ROOT/release-notes.bin"
expect_err "sign node itself composes"

step "only keys that sign OpenPGP have an OpenPGP identity"
# A key whose digests a build node chooses could be made to sign the hash
# of a revocation or binding of its own certificate, so it has none.
for k in testkey platform media device audit; do
	[ "$(key_field "$k" .openpgp_certificate)" = null ] || fail "$k has an OpenPGP certificate"
	expect_exit 5 "$ROMBSR" keys export "$k" --format openpgp --manifest "$MANIFEST" "${S[@]}"
	expect_err "does not sign OpenPGP"
done
for k in release queue; do
	[ "$(key_field "$k" .openpgp_certificate)" != null ] || fail "$k lacks its OpenPGP certificate"
done

step "the OpenPGP hash of a key-revocation signature over release's certificate"
"$ROMBSR" keys export release --format openpgp --manifest "$MANIFEST" "${S[@]}" --output "$WORK/release.pgp"
cert=$(xxd -p "$WORK/release.pgp" | tr -d '\n')
case ${cert:0:2} in
99) body_len=$((16#${cert:2:4})); off=6 ;;
c6)
	l1=$((16#${cert:2:2}))
	if [ "$l1" -lt 192 ]; then body_len=$l1; off=4
	elif [ "$l1" -lt 224 ]; then body_len=$(((l1 - 192) * 256 + 16#${cert:4:2} + 192)); off=6
	else body_len=$((16#${cert:4:8})); off=12; fi
	;;
*) fail "release's certificate does not start with a public-key packet" ;;
esac
key_body=${cert:off:body_len*2}
fpr=$(key_field release .fingerprints.openpgp_v4)
now=$(printf '%08x' "$(date +%s)")
hashed="0502${now}1621$(printf '04%s' "$fpr")"                   # creation time, issuer fingerprint
prefix="04200108$(printf '%04x' $((${#hashed} / 2)))${hashed}"   # v4, key revocation, RSA, SHA-256
trailer="04ff$(printf '%08x' $((${#prefix} / 2)))"
rev_digest=$(printf '99%04x%s%s%s' $((${#key_body} / 2)) "$key_body" "$prefix" "$trailer" | xxd -r -p | hex_sha256)
# What a forged response commit needs from the queue key: an Ed25519
# signature over 32 bytes the attacker chose (an OpenPGP EdDSA digest).
queue_digest=$(printf 'forged response commit' | hex_sha256)

step "attack: a crafted document asks release and the queue key for raw signatures over those digests"
scratch_doc o1 "$WORK/o1.json" --raw "media=$ROOT/release-notes.bin"
entry_for() { # KEY SCHEME DIGEST-HEX ARTIFACT -> a raw request entry (JSON)
	local spki id
	spki=$(key_field "$1" .fingerprints.spki_sha256)
	id=$({
		lp "$(ascii_hex rombsr-direct-request-v1)"
		lp "$(ascii_hex o1)"
		lp "$(ascii_hex raw)"
		lp "$spki"
		lp "$(ascii_hex "$2")"
		lp "$(ascii_hex "$4")"
		lp "$3"
	} | xxd -r -p | hex_sha256)
	jq -cn --arg k "$1" --arg f "$spki" --arg s "$2" --arg a "$4" --arg id "$id" \
		'{kind: "raw", id: $id, artifact: $a, key: {name: $k, spki_sha256: $f}, scheme: $s}'
}
e1=$(entry_for release rsa-pkcs1-sha256 "$rev_digest" release-notes.bin)
e2=$(entry_for queue ed25519 "$queue_digest" commit.bin)
jq -cS --arg d1 "$rev_digest" --arg d2 "$queue_digest" --argjson e1 "$e1" --argjson e2 "$e2" '
	.required.artifacts = [
		{name: "commit.bin", size: 22, sha256: $d2},
		{name: "release-notes.bin", size: 14, sha256: $d1}]
	| .required.requests = [$e1, $e2]' "$WORK/o1.json" >"$WORK/o1.forged.json"
commit_file "$WORK/o1.forged.json" "requests/$NODE/o1.json" "$NODE_FPR" "release notes"
# The guard may already refuse it; an attacker who owns the server puts it
# in anyway, and the sign node must refuse it on its own.
git -C "$WORK/clone" push -q origin HEAD:main >"$WORK/push.out" 2>&1 || server_force "$WORK/clone"
sign_once || { cat "$WORK/sign.out" "$WORK/sign.err" >&2; fail "sign o1"; }
resp=$(git --git-dir="$QUEUE" show "main:responses/$NODE/o1.json") || { cat "$WORK/sign.err" >&2; fail "o1: no response"; }

step "nothing was signed: the response says key-purpose, the audit log holds no new signature"
[ "$(jq '[.required.entries[] | select(.status == "signed")] | length' <<<"$resp")" -eq 0 ] || {
	# Before purposes: turn the returned signature into the revocation
	# certificate it is, so the failure shows what the attacker got. This
	# comes before the audit log's count, which would stop the test first.
	what="the HSM signed a raw request outside the key's purposes"
	sig=$(jq -r --arg id "$(jq -r .id <<<"$e1")" '.required.entries[] | select(.id == $id) | .signature // empty' <<<"$resp" |
		base64 -d | xxd -p | tr -d '\n')
	if [ -n "$sig" ]; then
		bits=$(((${#sig} / 2) * 8))
		unhashed="000a0910${fpr:24:16}"
		packet="${prefix}${unhashed}${rev_digest:0:4}$(printf '%04x' "$bits")${sig}"
		plen=$((${#packet} / 2))
		printf 'c2%02x%02x%s' $((((plen - 192) >> 8) + 192)) $(((plen - 192) & 255)) "$packet" | xxd -r -p >"$WORK/rev.pgp"
		mkdir -m 700 "$WORK/victim"
		GNUPGHOME="$WORK/victim" gpg --batch -q --import "$WORK/release.pgp" "$WORK/rev.pgp" 2>/dev/null || true
		GNUPGHOME="$WORK/victim" gpg --with-colons --list-keys "$fpr" >"$WORK/victim.list" 2>&1 || true
		cat "$WORK/victim.list" >&2
		grep -q '^pub:r:' "$WORK/victim.list" &&
			what="release signed the hash of its own key revocation: gpg now lists release revoked"
	fi
	jq -e --arg id "$(jq -r .id <<<"$e2")" '.required.entries[] | select(.id == $id) | .status == "signed"' \
		<<<"$resp" >/dev/null && what="$what; the queue key signed 32 bytes the node chose (a forged response commit's digest)"
	fail "o1: $what"
}
[ "$(audit_sign_count)" -eq "$signed_before" ] || fail "o1: the HSM signed something"
for e in "$e1" "$e2"; do
	jq -e --arg id "$(jq -r .id <<<"$e")" \
		'.required.entries[] | select(.id == $id) | .status == "rejected" and .reason == "key-purpose"' <<<"$resp" >/dev/null ||
		{ echo "$resp" >&2; fail "o1: $(jq -r .key.name <<<"$e") not rejected with key-purpose"; }
done
[ "$(jq .version <<<"$resp")" -eq 2 ] || fail "a response with key-purpose must be version 2"
grep -q "event=reject.*reason=key-purpose\|reason=key-purpose" "$WORK/sign.err" ||
	{ cat "$WORK/sign.err" >&2; fail "the sign node did not log the key-purpose rejection"; }

step "independent verifiers: release is not revoked (gpg, sq)"
mkdir -m 700 "$WORK/victim"
GNUPGHOME="$WORK/victim" gpg --batch -q --import "$WORK/release.pgp" 2>/dev/null
GNUPGHOME="$WORK/victim" gpg --with-colons --list-keys "$fpr" >"$WORK/victim.list"
grep -q '^pub:[^r]' "$WORK/victim.list" || { cat "$WORK/victim.list" >&2; fail "gpg shows release revoked"; }
sq inspect "$WORK/release.pgp" >"$WORK/sq.out" 2>&1 || { cat "$WORK/sq.out" >&2; fail "sq inspect"; }
grep -qi "revoked" "$WORK/sq.out" && { cat "$WORK/sq.out" >&2; fail "sq shows release revoked"; }

step "sign.conf: allowKey = queue / audit is refused by the loader, naming the line"
for k in queue audit; do
	write_sign_conf "	allowKey = $k"
	expect_exit 3 "$ROMBSR" sign --once --config "$SIGN_CONF"
	expect_err "allowKey = $k"
	expect_err "remove this line"
done
step "sign.conf: [key \"queue\"] / [key \"audit\"] is refused by the loader, naming the section"
# A [key] section that would load for any other key (a real approver,
# approvers = 1): only the key's name is wrong, so the refusal is the
# purpose rule's and not a typo's.
for k in queue audit; do
	write_sign_conf "[approver \"alice\"]
	fingerprint = $ALICE_FPR
	publicKey = $WORK/alice.asc
[key \"$k\"]
	approvers = 1
	approver = alice"
	expect_exit 3 "$ROMBSR" sign --once --config "$SIGN_CONF"
	expect_err "[key \"$k\"]"
	expect_err "remove this section"
done
write_sign_conf "	allowKey = testkey"
[ "$(audit_sign_count)" -eq "$signed_before" ] || fail "sign.conf attacks: something was signed"

step "sign-file: the queue and audit keys never sign, other keys only in their format"
printf 'checkpoint-shaped text\n' >"$WORK/note.txt"
for k in queue audit; do
	for f in raw openpgp; do
		expect_exit 5 "$ROMBSR" sign-file --key "$k" --format "$f" "${S[@]}" "${PINS[@]}" --output "$WORK/$k.sig" "$WORK/note.txt"
		expect_err "sign-file never uses it"
		[ ! -e "$WORK/$k.sig" ] || fail "sign-file --key $k wrote a signature"
	done
done
expect_exit 5 "$ROMBSR" sign-file --key release --format raw "${S[@]}" "${PINS[@]}" --output "$WORK/r.sig" "$WORK/note.txt"
expect_err "raw-detached"
expect_exit 5 "$ROMBSR" sign-file --key media --format openpgp "${S[@]}" "${PINS[@]}" --output "$WORK/m.sig" "$WORK/note.txt"
expect_err "openpgp-detached"
expect_exit 5 "$ROMBSR" sign-file --key testkey --format raw "${S[@]}" "${PINS[@]}" --output "$WORK/t.sig" "$WORK/note.txt"
[ ! -e "$WORK/r.sig" ] && [ ! -e "$WORK/m.sig" ] && [ ! -e "$WORK/t.sig" ] || fail "sign-file wrote a signature"
expect_exit 0 "$ROMBSR" sign-file --key release --format openpgp "${S[@]}" "${PINS[@]}" --output "$WORK/ok.sig" "$WORK/note.txt"

step "approve: the queue key is refused, even for o1, which asks for it"
# A configured approver and a build whose document does ask for the
# queue key: nothing but the purpose rule stands between them.
write_sign_conf "	allowKey = testkey
[approver \"alice\"]
	fingerprint = $ALICE_FPR
	publicKey = $WORK/alice.asc"
expect_exit 2 "$ROMBSR" approve --queue "$QUEUE" --approver alice --signing-key "$ALICE_FPR" --gnupghome "$BUILD_GNUPG" \
	--node "$NODE" --build-id o1 --key queue --cache "$WORK/approve-cache"
expect_err "nothing to approve"
! git --git-dir="$QUEUE" cat-file -e "main:approvals/alice/$NODE/o1.json" 2>/dev/null ||
	fail "approve: an approval of the queue key for o1 is in the queue"
write_sign_conf "	allowKey = testkey"

step "keys list shows purposes"
expect_exit 0 "$ROMBSR" keys list --manifest "$MANIFEST" "${S[@]}"
grep -Eq '^testkey .* apk +[0-9a-f]{64}' "$WORK/last.out" || { cat "$WORK/last.out" >&2; fail "keys list: testkey purposes"; }
grep -Eq '^queue .* queue-response +[0-9a-f]{64}' "$WORK/last.out" || fail "keys list: queue purposes"
expect_exit 0 "$ROMBSR" keys list --json --manifest "$MANIFEST" "${S[@]}"
jq -e '(.[] | select(.name == "media") | .purposes == ["apk", "raw-detached"]) and
	(.[] | select(.name == "audit") | .purposes == ["audit-checkpoint"])' "$WORK/last.out" >/dev/null ||
	{ cat "$WORK/last.out" >&2; fail "keys list --json purposes"; }

step "a version-1 manifest: narrow purposes from the tag, never everything"
[ "$(jq .version "$MANIFEST")" -eq 2 ] || fail "provisioning writes manifest version 2"
jq '.version = 1 | del(.keys[].purposes)' "$MANIFEST" >"$WORK/v1.json"
expect_exit 0 "$ROMBSR" keys list --json --manifest "$WORK/v1.json" "${S[@]}"
jq -e '(.[] | select(.name == "queue") | .purposes == ["queue-response"]) and
	(.[] | select(.name == "audit") | .purposes == ["audit-checkpoint"]) and
	(.[] | select(.name == "testkey") | .purposes == ["apk"]) and
	(.[] | select(.name == "release") | .purposes == ["raw-detached"])' "$WORK/last.out" >/dev/null ||
	{ cat "$WORK/last.out" >&2; fail "version-1 manifest purposes"; }
expect_exit 5 "$ROMBSR" sign-file --key queue --manifest "$WORK/v1.json" "${S[@]}" "${PINS[@]}" --output "$WORK/v1.sig" "$WORK/note.txt"
[ ! -e "$WORK/v1.sig" ] || fail "a version-1 manifest let the queue key sign a file"
step "a version-2 manifest relabelled as version 1 is refused, not read with its purposes dropped"
# Version 1 has no purposes field: read as version 1, release (an OpenPGP
# key) would get raw-detached from its tag.
jq '.version = 1' "$MANIFEST" >"$WORK/v1-relabelled.json"
expect_exit 3 "$ROMBSR" keys list --manifest "$WORK/v1-relabelled.json" "${S[@]}"
step "a manifest that gives the OpenPGP key release raw-detached as well is refused"
jq '(.keys[] | select(.name == "release")) |= (.purposes = ["openpgp-detached", "raw-detached"])' "$MANIFEST" >"$WORK/mixed.json"
expect_exit 3 "$ROMBSR" keys list --manifest "$WORK/mixed.json" "${S[@]}"
expect_err "revocation"

[ "$(audit_sign_count)" -eq "$signed_before" ] || fail "something was signed"
fi

# ---- capture requests on apk-only keys ----------------------------------------

le32() { # N -> 4 bytes little-endian, as hex
	printf '%02x%02x%02x%02x' $(($1 & 255)) $((($1 >> 8) & 255)) $((($1 >> 16) & 255)) $((($1 >> 24) & 255))
}
lp_le() { # HEX -> u32le(length) || bytes, as hex
	printf '%s%s' "$(le32 $((${#1} / 2)))" "$1"
}
audit_reject_count() { # REASON
	"$ROMBSR" audit show --json "$SIGND/audit" |
		jq -s --arg r "$1" '[.[] | select(.entry.type == "reject" and .entry.reason == $r)] | length'
}

if [ "$part" != purposes ]; then
step "honest: apksigner signs two APKs through the capture module with apk-only keys (v2, v3, v4)"
export ROMBSR_BUILD_ID=apk1 ROMBSR_CAPTURE_SPOOL="$WORK/spool-apk1"
SPOOL=$ROMBSR_CAPTURE_SPOOL
mkdir -p "$ROOT/apk1"
make_apk "$WORK/p.apk" 1
make_apk "$WORK/d.apk" 2
apk_sign_capture "$WORK/p.apk" "$ROOT/apk1/P.apk" platform --v4-signing-enabled true >"$WORK/cap.out" 2>&1 ||
	{ cat "$WORK/cap.out" >&2; fail "apksigner through the capture module (platform)"; }
apk_sign_capture "$WORK/d.apk" "$ROOT/apk1/D.apk" device >"$WORK/cap.out" 2>&1 ||
	{ cat "$WORK/cap.out" >&2; fail "apksigner through the capture module (device)"; }
[ "$(spool_count)" -eq 5 ] || fail "$(spool_count) capture requests, expected 5 (P: v2, v3, v4; D: v2, v3)"
for req in $(spool_list); do
	[ -n "$(req_field "$req" '.data // empty')" ] || fail "$req: the capture module kept no data"
done
signed_before=$(audit_sign_count)
submit apk1 --spool "$SPOOL" --artifact "$ROOT/apk1/P.apk" --artifact "$ROOT/apk1/P.apk.idsig" \
	--artifact "$ROOT/apk1/D.apk" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit apk1"; }
sign_once || { cat "$WORK/sign.err" >&2; fail "sign apk1"; }
resp=$(git --git-dir="$QUEUE" show "main:responses/$NODE/apk1.json") || { cat "$WORK/sign.err" >&2; fail "apk1: no response"; }
[ "$(jq '[.required.entries[] | select(.status == "signed")] | length' <<<"$resp")" -eq 5 ] ||
	{ echo "$resp" >&2; fail "apk1: not all five requests signed"; }
[ "$(audit_sign_count)" -eq $((signed_before + 5)) ] || fail "apk1: not five signatures in the audit log"
apply apk1 >"$WORK/apply.out" 2>&1 || { cat "$WORK/apply.out" >&2; fail "apply apk1"; }
expect_apk_verified "$ROOT/apk1/P.apk" platform
expect_apk_verified "$ROOT/apk1/D.apk" device

step "the build node's own rombsr submit refuses what the sign node would refuse"
export ROMBSR_BUILD_ID=o2 ROMBSR_CAPTURE_SPOOL="$WORK/spool-o2"
SPOOL=$ROMBSR_CAPTURE_SPOOL
P11=(--module "$CAPTURE_MODULE" --login --pin any-pin-will-do)
# (a) a digest only: CKM_RSA_PKCS over the DigestInfo of a chosen digest
printf '3031300d060960864801650304020105000420%s' "$(printf 'any 32 bytes' | hex_sha256)" | xxd -r -p >"$WORK/di.bin"
client pkcs11-tool "${P11[@]}" --sign -m RSA-PKCS --id "$(key_field platform .id)" -i "$WORK/di.bin" \
	-o "$WORK/a.sig" >"$WORK/p11.out" 2>&1 || { cat "$WORK/p11.out" >&2; fail "pkcs11-tool RSA-PKCS"; }
req_digest=$(spool_list)
expect_exit 5 submit o2 --spool "$SPOOL" --artifact "$ROOT/apk1/P.apk"
expect_err "carries only a digest"
expect_err "Update the capture module"
# (b) the TBSCertificate of a CA certificate the attacker wants issued
openssl req -x509 -newkey rsa:2048 -nodes -subj "/CN=attacker CA" -addext basicConstraints=critical,CA:TRUE \
	-keyout "$WORK/ca.key" -outform DER -out "$WORK/ca.der" 2>/dev/null || fail "openssl req"
ca=$(xxd -p "$WORK/ca.der" | tr -d '\n')
[ "${ca:0:4}" = 3082 ] && [ "${ca:8:4}" = 3082 ] || fail "unexpected certificate encoding"
printf '%s' "${ca:8:$(((16#${ca:12:4} + 4) * 2))}" | xxd -r -p >"$WORK/tbs.der"
spool_list >"$WORK/before"
client pkcs11-tool "${P11[@]}" --sign -m SHA256-RSA-PKCS --id "$(key_field platform .id)" -i "$WORK/tbs.der" \
	-o "$WORK/b.sig" >"$WORK/p11.out" 2>&1 || { cat "$WORK/p11.out" >&2; fail "pkcs11-tool SHA256-RSA-PKCS (TBS)"; }
req_tbs=$(spool_new "$WORK/before")
# (c) v2 signed data naming media's certificate, for platform to sign
media_cert=$(key_field media .certificate | base64 -d | xxd -p | tr -d '\n')
digest_rec=$(lp_le "$(le32 $((0x0103)))$(lp_le "$(printf 'content' | hex_sha256)")")
{ lp_le "$digest_rec"; lp_le "$(lp_le "$media_cert")"; lp_le ""; le32 0; } | xxd -r -p >"$WORK/sd.bin"
spool_list >"$WORK/before"
client pkcs11-tool "${P11[@]}" --sign -m SHA256-RSA-PKCS --id "$(key_field platform .id)" -i "$WORK/sd.bin" \
	-o "$WORK/c.sig" >"$WORK/p11.out" 2>&1 || { cat "$WORK/p11.out" >&2; fail "pkcs11-tool SHA256-RSA-PKCS (signed data)"; }
req_named=$(spool_new "$WORK/before")
mv "$req_digest" "$WORK/"
expect_exit 5 submit o2 --spool "$SPOOL" --artifact "$ROOT/apk1/P.apk"
expect_err "is not what apksigner signs with that key"
[ "$(req_field "$req_tbs" .data | base64 -d | cmp - "$WORK/tbs.der" && echo same)" = same ] ||
	fail "the capture module did not keep the TBSCertificate as the request's data"

step "the same requests in a document the attacker commits anyway, with a version-1 one and apksigner's own v1 .SF"
req_digest="$WORK/$(basename "$req_digest")"
# (d) a version-1 request: (a) relabelled, with the version-1 id and placeholder
spki=$(key_field platform .fingerprints.spki_sha256)
id1=$({
	lp "$(ascii_hex 'rombsr-capture-request-id v1')"
	printf '00000001'
	lp "$(ascii_hex o2)"
	lp "$spki"
	printf '00000001'
	lp "$(ascii_hex rsa-pkcs1-sha256)"
	lp "$(req_input_hex "$req_digest")"
} | xxd -r -p | hex_sha256)
ph=$({ printf 'rombsr-capture-placeholder v1'; printf '%s' "$id1" | xxd -r -p; } |
	openssl dgst -shake256 -xoflen 256 -binary | xxd -p | tr -d '\n')
ph=$(printf '%02x' $((16#${ph:0:2} % 63 + 1)))${ph:2}
jq -c --arg id "$id1" --arg ph "$(printf '%s' "$ph" | xxd -r -p | base64 -w0)" \
	'.version = 1 | .id = $id | .placeholder = $ph' "$req_digest" >"$WORK/v1.json"
# (e) apksigner's own v1 signature file for platform, through the module:
# what the sign node must keep signing
export ROMBSR_CAPTURE_SPOOL="$WORK/spool-o2-v1"
make_apk "$WORK/v1.apk" 3
apk_sign_capture "$WORK/v1.apk" "$WORK/v1.signed.apk" platform --v1-signing-enabled true --v2-signing-enabled false \
	--v3-signing-enabled false >"$WORK/cap.out" 2>&1 || { cat "$WORK/cap.out" >&2; fail "apksigner v1 through the capture module"; }
req_sf=$(find "$ROMBSR_CAPTURE_SPOOL" -name '*.json' | head -1)
[ "$(req_field "$req_sf" .data | base64 -d | head -c 24)" = "Signature-Version: 1.0"$'\r' ] ||
	fail "the v1 request's data is not a signature file"
ROMBSR_CAPTURE_SPOOL="$WORK/no-spool" scratch_doc o2 "$WORK/o2.json" --raw "media=$ROOT/release-notes.bin"
entries=$(for r in "$req_digest" "$WORK/v1.json" "$req_tbs" "$req_named" "$req_sf"; do
	jq -c '{kind: "capture", artifact: "release-notes.bin", request: .}' "$r"
done | jq -s -c .)
jq -cS --argjson e "$entries" '.required.requests = $e' "$WORK/o2.json" >"$WORK/o2.forged.json"
commit_file "$WORK/o2.forged.json" "requests/$NODE/o2.json" "$NODE_FPR" "o2"
git -C "$WORK/clone" push -q origin HEAD:main >"$WORK/push.out" 2>&1 || server_force "$WORK/clone"
signed_before=$(audit_sign_count)
rejects_before=$(audit_reject_count structure)
sign_once || { cat "$WORK/sign.out" "$WORK/sign.err" >&2; fail "sign o2"; }
resp=$(git --git-dir="$QUEUE" show "main:responses/$NODE/o2.json") || { cat "$WORK/sign.err" >&2; fail "o2: no response"; }

step "each attack refused with reason structure before the HSM; the audit log has the rejections and only the v1 signature"
for r in "$req_digest" "$WORK/v1.json" "$req_tbs" "$req_named"; do
	jq -e --arg id "$(req_field "$r" .id)" \
		'.required.entries[] | select(.id == $id) | .status == "rejected" and .reason == "structure"' <<<"$resp" >/dev/null ||
		{ echo "$resp" >&2; fail "o2: request $(basename "$r") not rejected with structure"; }
done
jq -e --arg id "$(req_field "$req_sf" .id)" '.required.entries[] | select(.id == $id) | .status == "signed"' \
	<<<"$resp" >/dev/null || { echo "$resp" >&2; fail "o2: apksigner's v1 signature file was not signed"; }
jq -r '.required.entries[].message // empty' <<<"$resp" >"$WORK/o2.messages"
grep -q "carries only a digest" "$WORK/o2.messages" || fail "o2: no digest-only message"
grep -q "version 1) carries only a digest" "$WORK/o2.messages" || fail "o2: no version-1 message"
grep -q "no structure an APK key signs" "$WORK/o2.messages" || fail "o2: no message for the TBSCertificate"
grep -q "v2 signed data names the certificate" "$WORK/o2.messages" || { cat "$WORK/o2.messages" >&2; fail "o2: no message for another certificate"; }
[ "$(jq .version <<<"$resp")" -eq 3 ] || fail "a response with structure must be version 3"
[ "$(audit_sign_count)" -eq $((signed_before + 1)) ] || fail "o2: the HSM signed more than the v1 signature file"
[ "$(audit_reject_count structure)" -eq $((rejects_before + 4)) ] || fail "o2: not four structure rejections in the audit log"
grep -q "reason=structure" "$WORK/sign.err" || { cat "$WORK/sign.err" >&2; fail "the sign node did not log the structure rejections"; }
fi
echo "signing-oracle ($part): all checks passed"
