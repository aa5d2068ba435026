#!/bin/bash
# sign-file with every key and format; every result verified by an
# independent tool (openssl, gpg, sq, pacman-key), and every tampering
# detected.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"
. "$(dirname "$0")/lib/pgp-verify.sh"

STATE="$WORK/state"
ESCROW="$WORK/escrow"
provision_small "$STATE" "$ESCROW"
PIN=(--pin-file "$ESCROW/operator.pin")
S=(--state-dir "$STATE")

head -c 300000 /dev/urandom >"$WORK/payload.bin"
printf 'release notes\n' >"$WORK/notes.txt"

step "raw signatures verify with openssl"
for k in platform media device fw; do
	"$ROMBSR" keys export "$k" --format spki-pem "${S[@]}" --output "$WORK/$k.pub.pem"
	"$ROMBSR" sign-file --key "$k" "${S[@]}" "${PIN[@]}" --output "$WORK/$k.sig" "$WORK/payload.bin" 2>/dev/null
	case $k in
	fw)
		openssl pkeyutl -verify -pubin -inkey "$WORK/$k.pub.pem" -rawin -in "$WORK/payload.bin" \
			-sigfile "$WORK/$k.sig" >/dev/null || fail "ed25519 $k"
		;;
	*)
		openssl dgst -sha256 -verify "$WORK/$k.pub.pem" -signature "$WORK/$k.sig" "$WORK/payload.bin" \
			>/dev/null || fail "openssl verify $k"
		;;
	esac
done
step "RSA SHA-512 and PSS"
"$ROMBSR" sign-file --key platform --hash sha512 "${S[@]}" "${PIN[@]}" --output "$WORK/p512.sig" "$WORK/payload.bin" 2>/dev/null
openssl dgst -sha512 -verify "$WORK/platform.pub.pem" -signature "$WORK/p512.sig" "$WORK/payload.bin" >/dev/null || fail sha512
"$ROMBSR" sign-file --key platform --pss "${S[@]}" "${PIN[@]}" --output "$WORK/pss.sig" "$WORK/payload.bin" 2>/dev/null
openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -verify "$WORK/platform.pub.pem" \
	-signature "$WORK/pss.sig" "$WORK/payload.bin" >/dev/null || fail pss

step "tampered payload is rejected by openssl"
cp "$WORK/payload.bin" "$WORK/tampered.bin"
flip_bit "$WORK/tampered.bin" 1000
if openssl dgst -sha256 -verify "$WORK/platform.pub.pem" -signature "$WORK/platform.sig" "$WORK/tampered.bin" >/dev/null 2>&1; then
	fail "tampered payload verified"
fi

step "OpenPGP: RSA and Ed25519, binary and armored, with gpg, sq and pacman-key"
for k in release release-ed; do
	"$ROMBSR" keys export "$k" --format openpgp "${S[@]}" --output "$WORK/$k.pgp"
	"$ROMBSR" sign-file --key "$k" --format openpgp "${S[@]}" "${PIN[@]}" --output "$WORK/$k.pgp.sig" "$WORK/notes.txt" 2>/dev/null
	"$ROMBSR" sign-file --key "$k" --format openpgp --armor "${S[@]}" "${PIN[@]}" --output "$WORK/$k.pgp.asc" "$WORK/notes.txt" 2>/dev/null
	fpr=$(grep -A30 "\"name\": \"$k\"" "$STATE/manifest.json" | sed -n 's/.*"openpgp_v4": "\([0-9a-f]*\)".*/\1/p' | head -1)
	[ -n "$fpr" ] || fail "no fingerprint for $k"
	for sig in "$WORK/$k.pgp.sig" "$WORK/$k.pgp.asc"; do
		pgp_verify_all "$WORK/$k.pgp" "$fpr" "$sig" "$WORK/notes.txt" || fail "$k $sig"
	done
	printf 'release notes, edited\n' >"$WORK/notes.bad"
	pgp_reject_all "$WORK/$k.pgp" "$fpr" "$WORK/$k.pgp.sig" "$WORK/notes.bad" || fail "$k tampered accepted"
done
echo "cli-sign: all checks passed"
