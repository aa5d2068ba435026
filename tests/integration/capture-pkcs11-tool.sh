#!/bin/bash
# OpenSC pkcs11-tool against the capture module: the token and its objects
# come from the manifest, and every C_Sign records the request a sign node
# needs (the digest the tool meant) and returns that request's placeholder,
# the same one every time.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"
. "$(dirname "$0")/lib/capture.sh"
need pkcs11-tool

capture_setup
M=(--module "$CAPTURE_MODULE")
LOGIN=(--login --pin any-pin-will-do)
# pkcs11-tool selects the key for --sign by --id only (--label is ignored)

step "-L: one slot, holding the manifest's token"
client pkcs11-tool "${M[@]}" -L >"$WORK/L.out" 2>&1 || { cat "$WORK/L.out" >&2; fail "pkcs11-tool -L"; }
[ "$(grep -c '^Slot ' "$WORK/L.out")" -eq 1 ] || { cat "$WORK/L.out" >&2; fail "expected exactly one slot"; }
grep -qE "^  token label +: $TOKEN\$" "$WORK/L.out" || { cat "$WORK/L.out" >&2; fail "token label is not '$TOKEN'"; }
grep -qE '^  token flags +:.*token initialized' "$WORK/L.out" || { cat "$WORK/L.out" >&2; fail "token not initialized"; }

# "CLASS LABEL ID" for every object pkcs11-tool -O prints, sorted.
list_objects() { # OUT [MANIFEST]
	client pkcs11-tool "${M[@]}" "${LOGIN[@]}" -O >"$1.raw" 2>&1 || { cat "$1.raw" >&2; fail "pkcs11-tool -O"; }
	awk '/^[A-Z][a-z]+( [A-Z][a-z]+)* Object;/ { if (cls) print cls, label, id; cls = $1; label = "-"; id = "-" }
	     /^  label:/ { label = $2 } /^  ID:/ { id = $2 }
	     END { if (cls) print cls, label, id }' "$1.raw" | sort >"$1"
}

expected_objects() { # MANIFEST
	jq -r '.keys[] | select(.status == "active") | (.name + " " + .id) as $o |
		"Private " + $o, "Public " + $o, "Certificate " + $o' "$1" | sort
}

step "-O: every active key as private key, public key and certificate, by label and CKA_ID"
list_objects "$WORK/objects"
expected_objects "$MANIFEST" >"$WORK/objects.want"
diff -u "$WORK/objects.want" "$WORK/objects" || { cat "$WORK/objects.raw" >&2; fail "objects differ from the manifest"; }
# private keys: sensitive, never extractable, may sign
awk '/^Private Key Object/ { p = 1; next } /^[A-Z]/ { p = 0 } p && /^  (Usage|Access):/' "$WORK/objects.raw" >"$WORK/priv.attrs"
[ "$(grep -c '^  Usage: .*sign' "$WORK/priv.attrs")" -eq "$(active_keys | wc -l)" ] ||
	{ cat "$WORK/objects.raw" >&2; fail "a private key lacks CKA_SIGN"; }
[ "$(grep -c '^  Access: .*sensitive' "$WORK/priv.attrs")" -eq "$(active_keys | wc -l)" ] ||
	{ cat "$WORK/objects.raw" >&2; fail "a private key is not sensitive"; }
if grep -q '^  Access: .*[^r] extractable' "$WORK/priv.attrs"; then
	cat "$WORK/objects.raw" >&2
	fail "a private key claims to be extractable"
fi

step "-O: a revoked key is not shown"
manifest_with_revoked media "$WORK/revoked.json"
ROMBSR_CAPTURE_MANIFEST="$WORK/revoked.json" list_objects "$WORK/objects.rev"
expected_objects "$WORK/revoked.json" >"$WORK/objects.rev.want"
diff -u "$WORK/objects.rev.want" "$WORK/objects.rev" || fail "revoked key listed"
if grep -q ' media ' "$WORK/objects.rev"; then fail "revoked key 'media' visible"; fi

# sign_check NAME KEY MECH INPUT WANT-DIGEST-HEX WANT-MECH WANT-SCHEME SIGLEN
# Sign twice; the request must record WANT-DIGEST-HEX, the output must be
# the request's placeholder, and the second run must give the same bytes
# and the same request.
sign_check() {
	local name=$1 key=$2 mech=$3 input=$4 want=$5 want_mech=$6 want_scheme=$7 siglen=$8 req n
	spool_list >"$WORK/before"
	client pkcs11-tool "${M[@]}" "${LOGIN[@]}" --sign -m "$mech" --id "$(key_field "$key" .id)" \
		-i "$input" -o "$WORK/$name.sig" >"$WORK/$name.out" 2>&1 ||
		{ cat "$WORK/$name.out" >&2; fail "$name: pkcs11-tool --sign"; }
	req=$(spool_new "$WORK/before")
	[ "$(req_key "$req")" = "$key" ] || fail "$name: request names key '$(req_key "$req")'"
	[ "$(req_mech "$req")" = "$want_mech" ] || fail "$name: mechanism $(req_mech "$req"), expected $want_mech"
	[ "$(req_scheme "$req")" = "$want_scheme" ] || fail "$name: scheme $(req_scheme "$req"), expected $want_scheme"
	[ "$(req_input_hex "$req")" = "$want" ] ||
		fail "$name: recorded digest $(req_input_hex "$req"), openssl says $want"
	[ "$(req_field "$req" .id).json" = "$(basename "$req")" ] || fail "$name: file name is not the request id"
	[ "$(req_field "$req" .build_id)" = "$ROMBSR_BUILD_ID" ] || fail "$name: build id not recorded"
	[ "$(stat -c %s "$WORK/$name.sig")" -eq "$siglen" ] || fail "$name: signature is not $siglen bytes"
	[ "$(hex_of "$WORK/$name.sig")" = "$(req_placeholder_hex "$req")" ] ||
		fail "$name: the signature returned is not the recorded placeholder"
	n=$(spool_count)
	client pkcs11-tool "${M[@]}" "${LOGIN[@]}" --sign -m "$mech" --id "$(key_field "$key" .id)" \
		-i "$input" -o "$WORK/$name.sig2" >"$WORK/$name.out" 2>&1 ||
		{ cat "$WORK/$name.out" >&2; fail "$name: second pkcs11-tool --sign"; }
	cmp -s "$WORK/$name.sig" "$WORK/$name.sig2" || fail "$name: placeholder is not deterministic"
	[ "$(spool_count)" -eq "$n" ] || fail "$name: the same signing operation made a second request"
	echo "ok $name $(basename "$req" .json)"
}

head -c 100000 /dev/urandom >"$WORK/data.bin"
DIGEST=$(sha256_hex "$WORK/data.bin")
openssl dgst -sha256 -binary "$WORK/data.bin" >"$WORK/data.sha256"
RSA4096_LEN=512

step "--sign SHA256-RSA-PKCS: the module hashes, records the digest"
sign_check rsa-sha256 platform SHA256-RSA-PKCS "$WORK/data.bin" "$DIGEST" CKM_SHA256_RSA_PKCS rsa-pkcs1-sha256 $RSA4096_LEN

step "--sign RSA-PKCS on a DigestInfo: the module parses it"
# RFC 8017 9.2 note 1: the DER prefix of a SHA-256 DigestInfo
printf '\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20' >"$WORK/di.bin"
cat "$WORK/data.sha256" >>"$WORK/di.bin"
sign_check rsa-pkcs platform RSA-PKCS "$WORK/di.bin" "$DIGEST" CKM_RSA_PKCS rsa-pkcs1-sha256 $RSA4096_LEN

step "--sign RSA-PKCS with the 2048-bit key"
sign_check rsa2048-pkcs media RSA-PKCS "$WORK/di.bin" "$DIGEST" CKM_RSA_PKCS rsa-pkcs1-sha256 256

step "--sign ECDSA on a 32-byte hash: raw r||s whose DER form is 70 bytes"
sign_check ecdsa device ECDSA "$WORK/data.sha256" "$DIGEST" CKM_ECDSA ecdsa-p256-sha256 64
r0=$(od -An -tu1 -j0 -N1 "$WORK/ecdsa.sig" | tr -d ' ')
s0=$(od -An -tu1 -j32 -N1 "$WORK/ecdsa.sig" | tr -d ' ')
if [ "$r0" -lt 1 ] || [ "$r0" -gt 127 ] || [ "$s0" -lt 1 ] || [ "$s0" -gt 127 ]; then
	fail "ECDSA placeholder top bytes r=$r0 s=$s0 are outside 0x01..0x7f"
fi

step "the same digest through a different key or mechanism is a different request"
[ "$(spool_count)" -eq 4 ] || fail "expected 4 distinct requests, found $(spool_count)"
cmp -s "$WORK/rsa-sha256.sig" "$WORK/rsa-pkcs.sig" && fail "two requests share a placeholder"

step "a placeholder is not a signature"
key_field platform .spki | base64 -d | openssl pkey -pubin -inform DER -out "$WORK/platform.pub.pem"
if openssl dgst -sha256 -verify "$WORK/platform.pub.pem" -signature "$WORK/rsa-sha256.sig" "$WORK/data.bin" >/dev/null 2>&1; then
	fail "a placeholder verified as a real signature"
fi

step "RSA-PKCS on anything but a SHA-256/SHA-512 DigestInfo is refused and records nothing"
n=$(spool_count)
printf '\x30\x21\x30\x09\x06\x05\x2b\x0e\x03\x02\x1a\x05\x00\x04\x14' >"$WORK/sha1-di.bin" # SHA-1
head -c 20 /dev/urandom >>"$WORK/sha1-di.bin"
head -c 51 /dev/urandom >"$WORK/junk.bin"
for bad in sha1-di junk; do
	if client pkcs11-tool "${M[@]}" "${LOGIN[@]}" --sign -m RSA-PKCS --id "$(key_field platform .id)" \
		-i "$WORK/$bad.bin" -o "$WORK/$bad.sig" >"$WORK/$bad.out" 2>&1; then
		fail "RSA-PKCS signed a $bad input"
	fi
	grep -q 'CKR_' "$WORK/$bad.out" || { cat "$WORK/$bad.out" >&2; fail "$bad: no PKCS#11 error reported"; }
done
[ "$(spool_count)" -eq "$n" ] || fail "a refused operation left a request behind"

step "--sign EDDSA records the whole message"
printf 'tree head 42\n' >"$WORK/note.txt"
spool_list >"$WORK/before"
client pkcs11-tool "${M[@]}" "${LOGIN[@]}" --sign -m EDDSA --id "$(key_field queue .id)" -i "$WORK/note.txt" -o "$WORK/ed.sig" \
	>"$WORK/ed.out" 2>&1 || { cat "$WORK/ed.out" >&2; fail "pkcs11-tool EDDSA"; }
req=$(spool_new "$WORK/before")
[ "$(req_mech "$req")" = CKM_EDDSA ] || fail "EDDSA mechanism recorded as $(req_mech "$req")"
[ "$(req_input_hex "$req")" = "$(hex_of "$WORK/note.txt")" ] || fail "EDDSA request does not hold the message"
[ "$(hex_of "$WORK/ed.sig")" = "$(req_placeholder_hex "$req")" ] || fail "EDDSA output is not the placeholder"
[ "$(stat -c %s "$WORK/ed.sig")" -eq 64 ] || fail "EDDSA placeholder is not 64 bytes"

step "the sign node can sign every recorded request (capture-resolve-tool, nothing to resolve)"
printf 'no placeholders here\n' >"$WORK/empty.artifact"
"$RESOLVE_TOOL" --state-dir "$STATE" --pin-file "$PIN_FILE" --spool "$SPOOL" --allow-unused "$WORK/empty.artifact" \
	>"$WORK/resolve.out" 2>&1 || { cat "$WORK/resolve.out" >&2; fail "resolve tool"; }
grep -qx "requests $(spool_count)" "$WORK/resolve.out" || { cat "$WORK/resolve.out" >&2; fail "resolve tool request count"; }
[ "$(grep -c '^signed ' "$WORK/resolve.out")" -eq "$(spool_count)" ] || fail "not every request signed"
echo "capture-pkcs11-tool: all checks passed"
