#!/bin/bash
# rombsr verify on what rombsr sign-file writes: raw RSA (PKCS#1 v1.5, PSS,
# SHA-512), ECDSA (DER), Ed25519 over the whole file and over the file's
# SHA-256 digest (the queue's form), OpenPGP binary and armored. Every
# signature is accepted; a modified file, a signature by a key outside the
# manifest, a signature of another file and a revoked key are refused.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"

STATE="$WORK/state"
ESCROW="$WORK/escrow"
provision_small "$STATE" "$ESCROW"
PIN=(--pin-file "$ESCROW/operator.pin")
S=(--state-dir "$STATE")
MAN="$STATE/manifest.json"
D="$WORK/files"
mkdir "$D"

sign() { # OUTPUT FILE SIGN-FILE-ARGS...
	local out=$1 file=$2
	shift 2
	"$ROMBSR" sign-file "${S[@]}" "${PIN[@]}" "$@" --output "$out" "$file" 2>/dev/null ||
		fail "sign-file $* $file"
}

expect_out() { # substring expected in the last command's stdout
	grep -qF -- "$1" "$WORK/last.out" || { cat "$WORK/last.out" >&2; fail "stdout lacks '$1'"; }
}

make_file() { # NAME
	head -c 50000 /dev/urandom >"$D/$1"
}

step "raw signatures of every key, and the forms rombsr apply writes"
for k in platform media device fw; do
	make_file "raw-$k.bin"
	sign "$D/raw-$k.bin.sig" "$D/raw-$k.bin" --key "$k"
done
make_file pss.bin
sign "$D/pss.bin.sig" "$D/pss.bin" --key platform --pss
make_file sha512.bin
sign "$D/sha512.bin.sig" "$D/sha512.bin" --key media --hash sha512
# The queue's raw Ed25519 form: the message is the file's 32-byte SHA-256 digest.
make_file digest.bin
openssl dgst -sha256 -binary "$D/digest.bin" >"$WORK/digest.bin.sha256"
sign "$D/digest.bin.sig" "$WORK/digest.bin.sha256" --key fw

step "OpenPGP signatures, binary and armored"
for k in release release-ed; do
	make_file "pgp-$k.bin"
	sign "$D/pgp-$k.bin.sig" "$D/pgp-$k.bin" --key "$k" --format openpgp
	make_file "asc-$k.bin"
	sign "$D/asc-$k.bin.asc" "$D/asc-$k.bin" --key "$k" --format openpgp --armor
done

step "rombsr verify accepts them all"
files=()
for f in "$D"/*.bin; do files+=("$f"); done
expect_exit 0 "$ROMBSR" verify --manifest "$MAN" "${files[@]}"
[ "$(grep -c '^OK ' "$WORK/last.out")" -eq "${#files[@]}" ] || { cat "$WORK/last.out"; fail "not all OK"; }
expect_out "raw-device.bin: raw signature (ecdsa-p256-sha256) by key 'device' (active)"
expect_out "raw-fw.bin: raw Ed25519 signature over the whole file by key 'fw'"
expect_out "digest.bin: raw Ed25519 signature over the file's SHA-256 digest by key 'fw'"
expect_out "pss.bin: raw signature (rsa-pss-sha256) by key 'platform'"
expect_out "sha512.bin: raw signature (rsa-pkcs1-sha512) by key 'media'"
expect_out "asc-release-ed.bin: OpenPGP signature (armored) by key 'release-ed'"

step "the same signatures verify with openssl, as docs/formats/detached-signatures.md says"
"$ROMBSR" keys export device --format spki-pem "${S[@]}" --output "$WORK/device.pem"
openssl dgst -sha256 -verify "$WORK/device.pem" -signature "$D/raw-device.bin.sig" "$D/raw-device.bin" >/dev/null ||
	fail "openssl ECDSA"
"$ROMBSR" keys export fw --format spki-pem "${S[@]}" --output "$WORK/fw.pem"
openssl pkeyutl -verify -pubin -inkey "$WORK/fw.pem" -rawin -in "$WORK/digest.bin.sha256" \
	-sigfile "$D/digest.bin.sig" >/dev/null || fail "openssl Ed25519 digest form"

step "--json report"
expect_exit 0 "$ROMBSR" verify --manifest "$MAN" --json "$D/raw-device.bin" "$D/asc-release.bin"
[ "$(jq -r '.ok' "$WORK/last.out")" = true ] || fail "json ok"
[ "$(jq -r '.files[0].key + " " + .files[0].form + " " + .files[0].scheme' "$WORK/last.out")" = \
  "device raw ecdsa-p256-sha256" ] || fail "json entry"
[ "$(jq -r '.files[1].form' "$WORK/last.out")" = openpgp ] || fail "json openpgp"

step "a modified file is refused, for every form"
for f in raw-platform raw-device raw-fw digest pgp-release asc-release-ed; do
	flip_bit "$D/$f.bin" 100
	expect_exit 7 "$ROMBSR" verify --manifest "$MAN" "$D/$f.bin"
	expect_out "FAIL $D/$f.bin"
done
# One bad file among good ones still fails the run.
expect_exit 7 "$ROMBSR" verify --manifest "$MAN" "$D/raw-media.bin" "$D/raw-platform.bin"
expect_out "OK   $D/raw-media.bin"

step "a signature by a key outside the manifest is refused"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/stranger.pem" 2>/dev/null
make_file stranger.bin
openssl dgst -sha256 -sign "$WORK/stranger.pem" -out "$D/stranger.bin.sig" "$D/stranger.bin"
expect_exit 7 "$ROMBSR" verify --manifest "$MAN" "$D/stranger.bin"
openssl genpkey -algorithm ED25519 -out "$WORK/stranger-ed.pem" 2>/dev/null
openssl pkeyutl -sign -inkey "$WORK/stranger-ed.pem" -rawin -in "$D/stranger.bin" -out "$D/stranger.bin.sig"
expect_exit 7 "$ROMBSR" verify --manifest "$MAN" "$D/stranger.bin"
# A stranger's raw signature whose first byte looks like an OpenPGP
# packet tag (about one in sixty do): still "does not verify" (7), never
# "malformed" (3). 64 bytes as Ed25519, 256 as RSA-2048.
for first in '\xc2' '\x89' '\x88'; do
	for n in 63 255; do
		{ printf "$first"; head -c "$n" /dev/urandom; } >"$D/stranger.bin.sig"
		expect_exit 7 "$ROMBSR" verify --manifest "$MAN" "$D/stranger.bin"
	done
done

step "a valid signature of another file is refused"
cp "$D/raw-media.bin.sig" "$D/stranger.bin.sig"
expect_exit 7 "$ROMBSR" verify --manifest "$MAN" "$D/stranger.bin"

step "no signature at all"
make_file unsigned.bin
expect_exit 4 "$ROMBSR" verify --manifest "$MAN" "$D/unsigned.bin"

step "a symbolic link as the signature is refused"
ln -s "$D/raw-media.bin.sig" "$D/linked.bin.sig"
cp "$D/raw-media.bin" "$D/linked.bin"
expect_exit 3 "$ROMBSR" verify --manifest "$MAN" "$D/linked.bin"

step "revoked keys fail, retired keys pass with a note"
jq '(.keys[] | select(.name == "media")) |= (.status = "revoked" | .revocation_reason = "test: key compromised")
  | (.keys[] | select(.name == "release-ed")) |= (.status = "retired")' "$MAN" >"$WORK/revoked.json"
expect_exit 5 "$ROMBSR" verify --manifest "$WORK/revoked.json" "$D/raw-media.bin"
expect_out "revoked"
expect_exit 5 "$ROMBSR" verify --manifest "$WORK/revoked.json" "$D/sha512.bin"
expect_exit 0 "$ROMBSR" verify --manifest "$WORK/revoked.json" "$D/pgp-release-ed.bin"
expect_out "(retired); retired keys verify old artifacts"

echo "verify-detached: all checks passed"
