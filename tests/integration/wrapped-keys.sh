#!/bin/bash
# Wrapped keys through the command line on SoftHSM2: the wrap key,
# `keys gen --wrapped`, sign-file with wrapped keys verified by openssl and
# gpg/sq, nothing left on the token, and every refusal - a taken name, a
# non-extractable resident key, a corrupt blob, a blob under another
# deployment's wrap key - with nothing imported and nothing overwritten.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"
. "$(dirname "$0")/lib/pgp-verify.sh"

STATE="$WORK/state"
ESCROW="$WORK/escrow"
provision_small "$STATE" "$ESCROW"
PIN=(--pin-file "$ESCROW/operator.pin")
S=(--state-dir "$STATE")
STORE="$STATE/wrapped"
head -c 100000 /dev/urandom >"$WORK/payload.bin"

# Private key objects on the token, as an independent client sees them.
count_privkeys() { # STATE ESCROW
	SOFTHSM2_CONF="$1/softhsm2.conf" pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so \
		--token-label rombsr-test --login --pin "$(cat "$2/operator.pin")" --list-objects --type privkey \
		2>/dev/null | grep -c '^Private Key Object' || true
}
RESIDENT=$(count_privkeys "$STATE" "$ESCROW")
[ "$RESIDENT" -eq 8 ] || fail "expected the 8 resident test keys, found $RESIDENT"

step "no wrap key yet: a clear error, nothing written"
expect_exit 4 "$ROMBSR" keys gen --wrapped dev-p256 --algorithm ec-p256 "${S[@]}" "${PIN[@]}"
expect_err "wrap-key --create"
[ ! -e "$STORE/dev-p256.json" ] || fail "a blob was written without a wrap key"

step "wrap key: created once, fingerprint stable"
"$ROMBSR" keys wrap-key --create "${S[@]}" "${PIN[@]}" >"$WORK/wk1"
"$ROMBSR" keys wrap-key "${S[@]}" "${PIN[@]}" >"$WORK/wk2"
grep -Eq '^wrap key fingerprint: [0-9a-f]{64}$' "$WORK/wk1" || fail "fingerprint format"
cmp -s "$WORK/wk1" "$WORK/wk2" || fail "fingerprint changed"
expect_exit 10 "$ROMBSR" keys wrap-key --create "${S[@]}" "${PIN[@]}"
expect_err "already has a wrap key"
FPR=$(sed 's/^wrap key fingerprint: //' "$WORK/wk1")

step "keys gen --wrapped: P-256 and RSA-2048, into the store and the manifest"
"$ROMBSR" keys gen --wrapped dev-p256 --algorithm ec-p256 "${S[@]}" "${PIN[@]}" >"$WORK/gen1"
"$ROMBSR" keys gen --wrapped dev-rsa --algorithm rsa-2048 --purpose device "${S[@]}" "${PIN[@]}" >"$WORK/gen2"
for k in dev-p256 dev-rsa; do
	[ -f "$STORE/$k.json" ] || fail "no $k.json"
	grep -q "\"wrap_key_fingerprint\": \"$FPR\"" "$STORE/$k.json" || fail "$k: wrong wrap key fingerprint"
	grep -q '"mechanism": "CKM_AES_KEY_WRAP_PAD"' "$STORE/$k.json" || fail "$k: mechanism"
done
"$ROMBSR" keys list "${S[@]}" >"$WORK/list"
grep -q '^dev-p256 ' "$WORK/list" && grep -q '^dev-rsa ' "$WORK/list" || fail "keys not in the manifest"
[ "$(count_privkeys "$STATE" "$ESCROW")" -eq "$RESIDENT" ] || fail "generation left a key object on the token"

step "sign-file with wrapped keys, verified with openssl"
for k in dev-p256 dev-rsa; do
	"$ROMBSR" keys export "$k" --format spki-pem "${S[@]}" --output "$WORK/$k.pub.pem"
	"$ROMBSR" keys export "$k" --format cert-pem "${S[@]}" --output "$WORK/$k.crt"
	openssl x509 -in "$WORK/$k.crt" -noout -pubkey | cmp -s - "$WORK/$k.pub.pem" || fail "$k certificate key"
	openssl verify -check_ss_sig -partial_chain -CAfile "$WORK/$k.crt" "$WORK/$k.crt" >/dev/null 2>&1 ||
		fail "$k self-signed certificate does not verify"
	"$ROMBSR" sign-file --key "$k" "${S[@]}" "${PIN[@]}" --output "$WORK/$k.sig" "$WORK/payload.bin" 2>/dev/null
	openssl dgst -sha256 -verify "$WORK/$k.pub.pem" -signature "$WORK/$k.sig" "$WORK/payload.bin" >/dev/null ||
		fail "openssl verify $k"
done
"$ROMBSR" sign-file --key dev-rsa --pss --hash sha512 "${S[@]}" "${PIN[@]}" --output "$WORK/pss.sig" \
	"$WORK/payload.bin" 2>/dev/null
openssl dgst -sha512 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:64 -verify "$WORK/dev-rsa.pub.pem" \
	-signature "$WORK/pss.sig" "$WORK/payload.bin" >/dev/null || fail "pss with a wrapped key"
cp "$WORK/payload.bin" "$WORK/tampered.bin"
flip_bit "$WORK/tampered.bin" 500
cmp -s "$WORK/payload.bin" "$WORK/tampered.bin" && fail "the tampered copy is not tampered"
if openssl dgst -sha256 -verify "$WORK/dev-p256.pub.pem" -signature "$WORK/dev-p256.sig" "$WORK/tampered.bin" \
	>/dev/null 2>&1; then
	fail "tampered payload verified"
fi
[ "$(count_privkeys "$STATE" "$ESCROW")" -eq "$RESIDENT" ] || fail "signing left a key object on the token"

step "OpenPGP with a wrapped RSA key (--purposes openpgp-detached), verified with gpg and sq"
printf 'release notes\n' >"$WORK/notes.txt"
# An OpenPGP key never signs raw digests: the mixed set is refused.
expect_exit 2 "$ROMBSR" keys gen --wrapped dev-mixed --algorithm rsa-2048 --purposes openpgp-detached,raw-detached \
	"${S[@]}" "${PIN[@]}"
expect_err "revocation"
expect_exit 2 "$ROMBSR" keys gen --wrapped dev-q --algorithm rsa-2048 --purposes queue-response "${S[@]}" "${PIN[@]}"
"$ROMBSR" keys gen --wrapped dev-pgp --algorithm rsa-2048 --purposes openpgp-detached "${S[@]}" "${PIN[@]}" >"$WORK/gen3"
expect_exit 5 "$ROMBSR" sign-file --key dev-rsa --format openpgp "${S[@]}" "${PIN[@]}" --output "$WORK/no.sig" "$WORK/notes.txt"
expect_exit 5 "$ROMBSR" sign-file --key dev-pgp "${S[@]}" "${PIN[@]}" --output "$WORK/no.sig" "$WORK/payload.bin"
[ ! -e "$WORK/no.sig" ] || fail "sign-file signed outside the key's purposes"
"$ROMBSR" keys export dev-pgp --format openpgp "${S[@]}" --output "$WORK/dev-pgp.pgp"
"$ROMBSR" sign-file --key dev-pgp --format openpgp "${S[@]}" "${PIN[@]}" --output "$WORK/notes.sig" \
	"$WORK/notes.txt" 2>/dev/null
fpr=$(grep -A30 '"name": "dev-pgp"' "$STATE/manifest.json" | sed -n 's/.*"openpgp_v4": "\([0-9a-f]*\)".*/\1/p' | head -1)
[ -n "$fpr" ] || fail "no OpenPGP fingerprint for dev-pgp"
pgp_verify_all "$WORK/dev-pgp.pgp" "$fpr" "$WORK/notes.sig" "$WORK/notes.txt" || fail "OpenPGP dev-pgp"

step "a taken name is refused and nothing is overwritten"
sha_before=$(sha256sum "$STORE/dev-p256.json" "$STATE/manifest.json")
expect_exit 10 "$ROMBSR" keys gen --wrapped dev-p256 --algorithm ec-p256 "${S[@]}" "${PIN[@]}"
expect_exit 10 "$ROMBSR" keys gen --wrapped platform --algorithm ec-p256 "${S[@]}" "${PIN[@]}"
[ "$sha_before" = "$(sha256sum "$STORE/dev-p256.json" "$STATE/manifest.json")" ] || fail "a file changed"
expect_exit 2 "$ROMBSR" keys gen dev-x --algorithm ec-p256 "${S[@]}" "${PIN[@]}"
expect_err "--wrapped"
expect_exit 2 "$ROMBSR" keys gen --wrapped ../evil --algorithm ec-p256 "${S[@]}" "${PIN[@]}"
[ ! -e "$STATE/evil.json" ] || fail "path escaped the store"

step "a resident, non-extractable key cannot be wrapped"
expect_exit 5 "$ROMBSR" keys wrap platform "${S[@]}" "${PIN[@]}"
expect_err "keys gen --wrapped"
[ ! -e "$STORE/platform.json" ] || fail "a blob was written for a non-extractable key"

step "a corrupt blob: a clear error, nothing imported, the file unchanged"
cp "$STORE/dev-p256.json" "$WORK/dev-p256.good"
python3 - "$STORE/dev-p256.json" <<'EOF'
import base64, json, sys
p = sys.argv[1]
d = json.load(open(p))
b = bytearray(base64.b64decode(d["blob"]))
b[len(b) // 2] ^= 0x40
d["blob"] = base64.b64encode(bytes(b)).decode()
open(p, "w").write(json.dumps(d, indent=2) + "\n")
EOF
cp "$STORE/dev-p256.json" "$WORK/dev-p256.bad"
expect_exit 4 "$ROMBSR" sign-file --key dev-p256 "${S[@]}" "${PIN[@]}" --output "$WORK/bad.sig" "$WORK/payload.bin"
expect_err "refused to unwrap"
[ ! -e "$WORK/bad.sig" ] || fail "a signature was written"
cmp -s "$STORE/dev-p256.json" "$WORK/dev-p256.bad" || fail "the store file was changed"
[ "$(count_privkeys "$STATE" "$ESCROW")" -eq "$RESIDENT" ] || fail "a corrupt blob left an object"
cp "$WORK/dev-p256.good" "$STORE/dev-p256.json"

step "edited metadata (another public key) is refused before the HSM"
python3 - "$STORE/dev-rsa.json" "$STORE/dev-p256.json" "$WORK/edited.json" <<'EOF'
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
a["spki"] = b["spki"]
open(sys.argv[3], "w").write(json.dumps(a, indent=2) + "\n")
EOF
cp "$STORE/dev-rsa.json" "$WORK/dev-rsa.good"
cp "$WORK/edited.json" "$STORE/dev-rsa.json"
expect_exit 7 "$ROMBSR" sign-file --key dev-rsa "${S[@]}" "${PIN[@]}" --output "$WORK/bad.sig" "$WORK/payload.bin"
expect_err "spki"
cp "$WORK/dev-rsa.good" "$STORE/dev-rsa.json"

step "a whole other key passed off under this name (metadata is not signed): the manifest's SPKI refuses it"
"$ROMBSR" keys gen --wrapped dev-p256b --algorithm ec-p256 "${S[@]}" "${PIN[@]}" >/dev/null
python3 - "$STORE/dev-p256b.json" "$STORE/dev-p256.json" "$WORK/dev-p256.forged" <<'EOF2'
import json, sys
other = json.load(open(sys.argv[1])); mine = json.load(open(sys.argv[2]))
other["name"] = mine["name"]; other["id"] = mine["id"]
open(sys.argv[3], "w").write(json.dumps(other, indent=2) + "\n")
EOF2
cp "$WORK/dev-p256.forged" "$STORE/dev-p256.json"
expect_exit 7 "$ROMBSR" sign-file --key dev-p256 "${S[@]}" "${PIN[@]}" --output "$WORK/bad.sig" "$WORK/payload.bin"
expect_err "not the key in the manifest"
[ ! -e "$WORK/bad.sig" ] || fail "a signature was written"
cp "$WORK/dev-p256.good" "$STORE/dev-p256.json"

step "a blob made under another deployment's wrap key"
STATE2="$WORK/state2"
ESCROW2="$WORK/escrow2"
provision_small "$STATE2" "$ESCROW2"
S2=(--state-dir "$STATE2")
PIN2=(--pin-file "$ESCROW2/operator.pin")
"$ROMBSR" keys wrap-key --create "${S2[@]}" "${PIN2[@]}" >"$WORK/wk-other"
cmp -s "$WORK/wk1" "$WORK/wk-other" && fail "two wrap keys share a fingerprint"
mkdir -p "$STATE2/wrapped"
cp "$STORE/dev-rsa.json" "$STATE2/wrapped/dev-rsa.json"
# deployment 1's manifest, deployment 2's token and store
expect_exit 4 "$ROMBSR" sign-file --key dev-rsa "${S2[@]}" "${PIN2[@]}" --manifest "$STATE/manifest.json" \
	--token rombsr-test --output "$WORK/other.sig" "$WORK/payload.bin"
expect_err "was made under wrap key"
[ ! -e "$WORK/other.sig" ] || fail "a signature was written"
cmp -s "$STORE/dev-rsa.json" "$STATE2/wrapped/dev-rsa.json" || fail "the store file was changed"
[ "$(count_privkeys "$STATE2" "$ESCROW2")" -eq 8 ] || fail "the foreign blob left an object"

step "the original deployment still signs"
"$ROMBSR" sign-file --key dev-p256 "${S[@]}" "${PIN[@]}" --output "$WORK/again.sig" "$WORK/payload.bin" 2>/dev/null
openssl dgst -sha256 -verify "$WORK/dev-p256.pub.pem" -signature "$WORK/again.sig" "$WORK/payload.bin" >/dev/null ||
	fail "signing after the refusals"
echo "wrapped-keys: all checks passed"
