#!/bin/bash
# The key ceremony end to end on SoftHSM2: `ceremony init` (5 shares,
# threshold 3, a passphrase, an age X25519 custodian, an ssh-ed25519
# custodian, a mnemonics file), wrapped keys made and signing, the token
# destroyed, a fresh token, `ceremony restore` from two mnemonics and one
# age file, and every wrapped key signing again (verified with openssl).
# Refusals, each leaving the token unchanged: too few shares, a mistyped
# word, shares of two ceremonies, a wrong passphrase, a wrong age identity,
# a token that already has a wrap key.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"

STATE="$WORK/state"
ESCROW="$WORK/escrow"
provision_small "$STATE" "$ESCROW"
PIN=(--pin-file "$ESCROW/operator.pin")
S=(--state-dir "$STATE")
OUT="$WORK/shares"
mkdir -m 700 "$OUT"
head -c 100000 /dev/urandom >"$WORK/payload.bin"

# Secret keys labelled rombsr-wrap, as an independent client sees them.
count_wrap() { # STATE ESCROW
	SOFTHSM2_CONF="$1/softhsm2.conf" pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so \
		--token-label rombsr-test --login --pin "$(cat "$2/operator.pin")" --list-objects --type secrkey \
		2>/dev/null | grep -c "label: *rombsr-wrap" || true
}
objects() { # STATE ESCROW: every object the operator sees
	SOFTHSM2_CONF="$1/softhsm2.conf" pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so \
		--token-label rombsr-test --login --pin "$(cat "$2/operator.pin")" --list-objects 2>/dev/null
}

step "custodians: one age X25519 identity, one OpenSSH ed25519 key"
age-keygen -o "$WORK/alice.key" 2>"$WORK/alice.txt"
ALICE=$(grep -o 'age1[0-9a-z]*' "$WORK/alice.txt")
ssh-keygen -q -t ed25519 -N '' -C bob -f "$WORK/bob"
BOB=$(cat "$WORK/bob.pub")
age-keygen -o "$WORK/carol.key" 2>"$WORK/carol.txt"
CAROL=$(grep -o 'age1[0-9a-z]*' "$WORK/carol.txt")
printf 'ceremony passphrase 1\n' >"$WORK/pass"
printf 'ceremony passphrase 2\n' >"$WORK/wrongpass"
chmod 600 "$WORK/pass" "$WORK/wrongpass"

step "ceremony init --shares 5 --threshold 3"
"$ROMBSR" ceremony init --shares 5 --threshold 3 "${S[@]}" "${PIN[@]}" --passphrase-file "$WORK/pass" \
	--custodian alice="$ALICE" --custodian bob="$BOB" --custodian carol="$CAROL" \
	--custodian dave="$ALICE" --custodian erin="$CAROL" --out-dir "$OUT" \
	--mnemonics-out "$WORK/mnemonics.txt" --transcript "$WORK/init.json" --audit-dir "$STATE/audit" \
	>"$WORK/init.out" 2>"$WORK/init.err" || { cat "$WORK/init.err" >&2; fail "ceremony init"; }
FPR=$(sed -n 's/^wrap key fingerprint: //p' "$WORK/init.out")
[ ${#FPR} -eq 64 ] || fail "no fingerprint printed"
grep -q "10 share sets checked" "$WORK/init.out" || fail "not every 3-subset was checked"
"$ROMBSR" keys wrap-key "${S[@]}" "${PIN[@]}" | grep -qx "wrap key fingerprint: $FPR" ||
	fail "the token's wrap key is not the ceremony's"
[ "$(stat -c %a "$WORK/mnemonics.txt")" = 600 ] || fail "mnemonics file mode"
[ "$(grep -vc '^#' "$WORK/mnemonics.txt")" -eq 5 ] || fail "mnemonics file holds 5 shares"
ls "$OUT"/share-*-*.*.age >/dev/null
[ "$(ls "$OUT" | wc -l)" -eq 5 ] || fail "5 share files"
for f in "$OUT"/*.age; do [ "$(stat -c %a "$f")" = 600 ] || fail "$f mode"; done
ALICE_FILE=$(ls "$OUT"/share-*-1.alice.age)
BOB_FILE=$(ls "$OUT"/share-*-2.bob.age)
# The age CLI opens its share file, and it is one of the mnemonics.
age -d -i "$WORK/alice.key" "$ALICE_FILE" >"$WORK/alice.share"
grep -qxF "$(cat "$WORK/alice.share")" "$WORK/mnemonics.txt" || fail "alice's share is not a mnemonic"
age -d -i "$WORK/bob" "$BOB_FILE" | grep -qxF -f - "$WORK/mnemonics.txt" || fail "bob's share (ssh-ed25519)"
# The transcript: fingerprint and share ids, no secret.
grep -q "\"wrap_key_fingerprint\":\"$FPR\"" "$WORK/init.json" || fail "transcript fingerprint"
grep -q '"operation":"init"' "$WORK/init.json" && grep -q '"custodian":"bob"' "$WORK/init.json" ||
	fail "transcript content"
WORD=$(grep -v '^#' "$WORK/mnemonics.txt" | head -1 | awk '{print $5 " " $6 " " $7}')
! grep -qF "$WORD" "$WORK/init.json" || fail "transcript holds share words"
! grep -qF "ceremony passphrase" "$WORK/init.json" || fail "transcript holds the passphrase"
"$ROMBSR" audit show "$STATE/audit" >"$WORK/audit.txt" 2>&1 || true
grep -q "import" "$WORK/audit.txt" || { cat "$WORK/audit.txt" >&2; fail "no import entry in the audit log"; }

step "a second init on the same token is refused, nothing written (as 'rombsr backup', its alias)"
expect_exit 10 "$ROMBSR" backup --shares 3 --threshold 2 "${S[@]}" "${PIN[@]}" \
	--mnemonics-out "$WORK/again.txt"
expect_err "already has a wrap key"
[ ! -e "$WORK/again.txt" ] || fail "shares written for a refused ceremony"

step "ceremony verify: the mnemonics file, nothing imported"
"$ROMBSR" ceremony verify --mnemonic-file "$WORK/mnemonics.txt" --passphrase-file "$WORK/pass" \
	--expect-fingerprint "$FPR" >"$WORK/verify.out"
grep -q "10 share sets checked" "$WORK/verify.out" || fail "verify"

step "wrapped keys: P-256 and RSA-2048, signing"
for k in dev-p256:ec-p256 dev-rsa:rsa-2048; do
	"$ROMBSR" keys gen --wrapped "${k%%:*}" --algorithm "${k#*:}" "${S[@]}" "${PIN[@]}" >/dev/null
done
sign_all() {
	for k in dev-p256 dev-rsa; do
		"$ROMBSR" keys export "$k" --format spki-pem "${S[@]}" --output "$WORK/$k.pub.pem" 2>/dev/null ||
			[ -f "$WORK/$k.pub.pem" ]
		rm -f "$WORK/$k.sig"
		"$ROMBSR" sign-file --key "$k" "${S[@]}" "${PIN[@]}" "$@" --output "$WORK/$k.sig" "$WORK/payload.bin"
		openssl dgst -sha256 -verify "$WORK/$k.pub.pem" -signature "$WORK/$k.sig" "$WORK/payload.bin" \
			>/dev/null || fail "openssl verify $k"
	done
}
sign_all

step "mnemonic inputs for restore"
grep -v '^#' "$WORK/mnemonics.txt" >"$WORK/all.txt"
sed -n 3p "$WORK/all.txt" >"$WORK/m3.txt"
sed -n 4p "$WORK/all.txt" >"$WORK/m4.txt"
sed -n 3,4p "$WORK/all.txt" >"$WORK/two.txt"
# Word 4 of share 3 replaced by another list word that is not it.
awk '{ $4 = ($4 == "academic") ? "acid" : "academic"; print }' "$WORK/m3.txt" >"$WORK/typo.txt"
chmod 600 "$WORK"/m3.txt "$WORK"/m4.txt "$WORK"/two.txt "$WORK"/typo.txt "$WORK/all.txt"

step "destroy the token; a fresh one with the same label and PINs"
rm -rf "$STATE/tokens"
mkdir -m 700 "$STATE/tokens"
SOFTHSM2_CONF="$STATE/softhsm2.conf" softhsm2-util --init-token --free --label rombsr-test \
	--so-pin "$(cat "$ESCROW/admin.pin")" --pin "$(cat "$ESCROW/operator.pin")" >/dev/null
T=(--token rombsr-test)
expect_exit 4 "$ROMBSR" sign-file --key dev-p256 "${S[@]}" "${PIN[@]}" "${T[@]}" --output "$WORK/x.sig" \
	"$WORK/payload.bin"
BEFORE=$(objects "$STATE" "$ESCROW")
unchanged() { [ "$(objects "$STATE" "$ESCROW")" = "$BEFORE" ] || fail "the token changed: $1"; }
# `rombsr restore` is the alias of `ceremony restore` users look for.
R=(restore "${S[@]}" "${PIN[@]}" "${T[@]}" --passphrase-file "$WORK/pass")

step "refused: two shares"
expect_exit 2 "$ROMBSR" "${R[@]}" --mnemonic-file "$WORK/two.txt"
expect_err "3 needed"
unchanged "two shares"

step "refused: a mistyped word, reported with its position"
expect_exit 3 "$ROMBSR" "${R[@]}" --mnemonic-file "$WORK/typo.txt" --mnemonic-file "$WORK/m4.txt" \
	--share-file "$ALICE_FILE" --identity "$WORK/alice.key"
grep -Eq "line 1: .*(word 4|checksum)" "$WORK/last.err" || { cat "$WORK/last.err"; fail "no position"; }
unchanged "mistyped word"

step "refused: shares of two ceremonies"
mkdir -p "$WORK/other"
STATE2="$WORK/other/state"
ESCROW2="$WORK/other/escrow"
provision_small "$STATE2" "$ESCROW2"
"$ROMBSR" ceremony init --shares 3 --threshold 2 --state-dir "$STATE2" --pin-file "$ESCROW2/operator.pin" \
	--mnemonics-out "$WORK/other.txt" >/dev/null 2>&1 || fail "second ceremony"
grep -v '^#' "$WORK/other.txt" | head -1 >"$WORK/foreign.txt"
chmod 600 "$WORK/foreign.txt"
expect_exit 2 "$ROMBSR" "${R[@]}" --mnemonic-file "$WORK/two.txt" --mnemonic-file "$WORK/foreign.txt"
expect_err "another ceremony"
unchanged "mixed ceremonies"

step "refused: a wrong passphrase (the fingerprint is not the expected one)"
expect_exit 7 "$ROMBSR" ceremony restore "${S[@]}" "${PIN[@]}" "${T[@]}" --passphrase-file "$WORK/wrongpass" \
	--mnemonic-file "$WORK/two.txt" --share-file "$ALICE_FILE" --identity "$WORK/alice.key" \
	--expect-fingerprint "$FPR"
expect_err "not the expected"
unchanged "wrong passphrase"
# Without --expect-fingerprint the wrapped key store catches it.
expect_exit 7 "$ROMBSR" ceremony restore "${S[@]}" "${PIN[@]}" "${T[@]}" --passphrase-file "$WORK/wrongpass" \
	--mnemonic-file "$WORK/two.txt" --share-file "$ALICE_FILE" --identity "$WORK/alice.key"
expect_err "wrong passphrase"
unchanged "wrong passphrase, store check"

step "refused: a wrong age identity"
expect_exit 4 "$ROMBSR" "${R[@]}" --mnemonic-file "$WORK/two.txt" --share-file "$ALICE_FILE" \
	--identity "$WORK/carol.key"
expect_err "none of the given identities"
unchanged "wrong identity"

step "ceremony restore: two mnemonics and bob's age file (ssh-ed25519)"
"$ROMBSR" "${R[@]}" --mnemonic-file "$WORK/m3.txt" --mnemonic-file "$WORK/m4.txt" \
	--share-file "$BOB_FILE" --identity "$WORK/bob" --expect-fingerprint "$FPR" \
	--transcript "$WORK/restore.json" >"$WORK/restore.out" 2>"$WORK/restore.err" ||
	{ cat "$WORK/restore.err" >&2; fail "restore"; }
grep -qx "wrap key fingerprint: $FPR" "$WORK/restore.out" || fail "restore fingerprint"
[ "$(count_wrap "$STATE" "$ESCROW")" -eq 1 ] || fail "one wrap key after restore"
"$ROMBSR" keys wrap-key "${S[@]}" "${PIN[@]}" "${T[@]}" | grep -qx "wrap key fingerprint: $FPR" ||
	fail "restored wrap key fingerprint"
grep -q '"operation":"restore"' "$WORK/restore.json" || fail "restore transcript"

step "every wrapped key signs on the new token"
sign_all "${T[@]}"

step "refused: restore onto a token that already has a wrap key"
BEFORE=$(objects "$STATE" "$ESCROW")
expect_exit 10 "$ROMBSR" "${R[@]}" --mnemonic-file "$WORK/m3.txt" --mnemonic-file "$WORK/m4.txt" \
	--share-file "$BOB_FILE" --identity "$WORK/bob"
expect_err "already has a wrap key"
unchanged "second restore"
echo "ceremony: all checks passed"
