#!/bin/bash
# Interop test for src/lib/pgp: the certificates and detached signatures
# rombsr writes must be accepted by GnuPG (gpg --verify), Sequoia
# (sq verify --signer-cert) and pacman (pacman-key --verify), for RSA-4096
# and Ed25519 (EdDSALegacy), binary and armored - and each tool must
# REJECT a signature over modified data or a modified signature.
#
# The keys are test-only software keys (tests/common/soft_signer.c), a
# stand-in for the HSM so the format is proven independently of the token;
# the same checks (tests/integration/lib/pgp-verify.sh) run against
# SoftHSM2 keys in cli-sign.sh.
#
# usage: pgp-interop.sh PATH/TO/pgp_interop_gen
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

gen=${1:?usage: pgp-interop.sh PATH/TO/pgp_interop_gen}
here=$(cd "$(dirname "$0")" && pwd)

missing=
for tool in gpg gpgconf sq pacman-key; do
	command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
# Debian's pacman-key sources makepkg's shell library; without the
# makepkg package it dies before doing anything.
if [ -z "$missing" ] && ! pacman-key --version >/dev/null 2>&1; then
	missing="$missing pacman-key(makepkg)"
fi
if [ -n "$missing" ]; then
	echo "FAIL: missing:$missing (Debian: apt-get install gpg sq pacman-package-manager makepkg)" >&2
	exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rombsr-pgp-interop.XXXXXX")
# Nothing below may touch the invoking user's keyrings.
export GNUPGHOME="$WORK/gnupg-unused"
export HOME="$WORK/home"
mkdir -m 700 "$GNUPGHOME" "$HOME"
cleanup() {
	gpgconf --kill all >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
# shellcheck source=lib/pgp-verify.sh
. "$here/lib/pgp-verify.sh"

passed=0
failed=0
check() { # description command...
	local what=$1
	shift
	if "$@"; then
		passed=$((passed + 1))
		echo "ok   $what"
	else
		failed=$((failed + 1))
		echo "FAIL $what" >&2
		echo "FAIL $what"
	fi
}

# Copy in to out with the byte at offset XOR 1.
flip_byte() { # in offset out
	local b
	cp "$1" "$3"
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' \n')
	# shellcheck disable=SC2059 # the format is the escaped byte
	printf "$(printf '\\%03o' $((b ^ 1)))" | dd of="$3" bs=1 seek="$2" conv=notrunc status=none
}

validsig_field() { # n: field n (1-based) of the last VALIDSIG line
	awk -v n="$(($1 + 2))" '{ print $n }' <<<"$PGPV_LAST_VALIDSIG"
}

gpg_validsig_is() { # cert fpr sig data pkalgo hashalgo class
	pgp_verify_gpg "$1" "$2" "$3" "$4" || return 1
	if [ "$(validsig_field 7)" != "$5" ] || [ "$(validsig_field 8)" != "$6" ] ||
		[ "$(validsig_field 9)" != "$7" ]; then
		echo "VALIDSIG is '$PGPV_LAST_VALIDSIG', want algo $5 hash $6 class $7" >&2
		return 1
	fi
}

same_after_dearmor() { # armored binary
	local out="$WORK/dearmored.$RANDOM"
	gpg --batch --no-autostart --yes --dearmor --output "$out" "$1" 2>/dev/null && cmp -s "$out" "$2"
}

# Text signatures mean nothing to pacman, which signs packages as binary.
verify_gpg_sq() { # cert fpr sig data
	pgp_verify_gpg "$@" && pgp_verify_sq "$@"
}

reject_gpg_sq() { # cert fpr sig data
	pgp_reject_gpg "$@" && pgp_reject_sq "$@"
}

sq_rejects_other_key() { # cert sig data
	local out rc=0
	out=$(HOME="$WORK/home" sq verify --signer-cert "$1" --detached "$2" "$3" 2>&1) || rc=$?
	if [ "$rc" -eq 0 ] || grep -qi 'good signature' <<<"$out"; then
		printf '%s\n' "$out" >&2
		return 1
	fi
}

start=$SECONDS
out="$WORK/out"
mkdir "$out"
echo "--- generating keys and signatures ($gen)"
"$gen" "$out" || { echo "FAIL: pgp_interop_gen" >&2; exit 1; }

# Modified copies of the documents: one bit of one byte.
flip_byte "$out/data.bin" 1000 "$out/data.bin.bad"
flip_byte "$out/data.txt" 17 "$out/data.txt.bad"
sed 's/$/\r/' "$out/data.txt" >"$out/data.crlf.txt"

for alg in rsa4096 ed25519; do
	fpr=$(cat "$out/$alg.fpr")
	uid=$(cat "$out/$alg.uid")
	cert="$out/$alg.cert"
	asc="$out/$alg.cert.asc"
	case $alg in
	rsa4096) pk=1 ;;
	ed25519) pk=22 ;; # EdDSALegacy
	esac
	echo "--- $alg $fpr"

	check "$alg: gpg imports the binary certificate, self-signature valid" \
		pgp_check_cert_gpg "$cert" "$fpr" "$uid"
	check "$alg: gpg imports the armored certificate" pgp_check_cert_gpg "$asc" "$fpr" "$uid"
	check "$alg: sq accepts the binary certificate" pgp_check_cert_sq "$cert" "$fpr" "$uid"
	check "$alg: sq accepts the armored certificate" pgp_check_cert_sq "$asc" "$fpr" "$uid"
	check "$alg: armored certificate dearmors to the binary one" same_after_dearmor "$asc" "$cert"
	check "$alg: armored signature dearmors to the binary one" \
		same_after_dearmor "$out/$alg.sig.asc" "$out/$alg.sig"

	# Good signatures.
	check "$alg: binary SHA-512 signature: gpg, sq, pacman-key" \
		pgp_verify_all "$cert" "$fpr" "$out/$alg.sig" "$out/data.bin"
	check "$alg: armored SHA-512 signature: gpg, sq, pacman-key (dearmored)" \
		pgp_verify_all "$asc" "$fpr" "$out/$alg.sig.asc" "$out/data.bin"
	check "$alg: gpg reports algo $pk, SHA-512 (10), class 00" \
		gpg_validsig_is "$cert" "$fpr" "$out/$alg.sig" "$out/data.bin" "$pk" 10 00
	check "$alg: SHA-256 signature from a caller-fed hash state: gpg, sq, pacman-key" \
		pgp_verify_all "$cert" "$fpr" "$out/$alg.sha256.sig" "$out/data.bin"
	check "$alg: gpg reports SHA-256 (8) for it" \
		gpg_validsig_is "$cert" "$fpr" "$out/$alg.sha256.sig" "$out/data.bin" "$pk" 8 00
	check "$alg: canonical text signature: gpg (class 01)" \
		gpg_validsig_is "$cert" "$fpr" "$out/$alg.text.sig" "$out/data.txt" "$pk" 10 01
	check "$alg: canonical text signature: sq" \
		pgp_verify_sq "$cert" "$fpr" "$out/$alg.text.sig" "$out/data.txt"
	check "$alg: canonical text signature over the CRLF copy: gpg, sq" \
		verify_gpg_sq "$cert" "$fpr" "$out/$alg.text.sig" "$out/data.crlf.txt"
	check "$alg: signature whose MPI lost a leading zero octet: gpg, sq, pacman-key" \
		pgp_verify_all "$cert" "$fpr" "$out/$alg.zero.sig" "$out/$alg.zero.data"

	# Attacks: each must be caught by the signature check of every tool.
	check "$alg: modified data, binary signature: gpg, sq, pacman-key REJECT" \
		pgp_reject_all "$cert" "$fpr" "$out/$alg.sig" "$out/data.bin.bad"
	check "$alg: modified data, armored signature: gpg, sq, pacman-key REJECT" \
		pgp_reject_all "$asc" "$fpr" "$out/$alg.sig.asc" "$out/data.bin.bad"
	check "$alg: modified data, SHA-256 signature: gpg, sq, pacman-key REJECT" \
		pgp_reject_all "$cert" "$fpr" "$out/$alg.sha256.sig" "$out/data.bin.bad"
	check "$alg: modified text: gpg, sq REJECT" \
		reject_gpg_sq "$cert" "$fpr" "$out/$alg.text.sig" "$out/data.txt.bad"
	flip_byte "$out/$alg.zero.data" 0 "$out/$alg.zero.data.bad"
	check "$alg: modified data, leading-zero signature: gpg, sq, pacman-key REJECT" \
		pgp_reject_all "$cert" "$fpr" "$out/$alg.zero.sig" "$out/$alg.zero.data.bad"
	size=$(wc -c <"$out/$alg.sig")
	flip_byte "$out/$alg.sig" $((size - 1)) "$out/$alg.sig.bad"
	check "$alg: modified signature value: gpg, sq, pacman-key REJECT" \
		pgp_reject_all "$cert" "$fpr" "$out/$alg.sig.bad" "$out/data.bin"
done

check "a signature is not accepted with another key's certificate (sq)" \
	sq_rejects_other_key "$out/ed25519.cert" "$out/rsa4096.sig" "$out/data.bin"

pgp_verify_cleanup
echo "pgp-interop: $((SECONDS - start)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
