#!/bin/sh
# Interop test for src/lib/x509: certificates rombsr builds must be
# accepted by the tools that will consume them - OpenSSL (verify, with the
# self-signature actually checked) and Java's keytool (apksigner and
# SunPKCS11 parse certificates with the same code) - and a certificate with
# a damaged signature must be rejected.
#
# usage: x509-interop.sh PATH/TO/x509_interop_gen
set -eu

gen=${1:?usage: x509-interop.sh x509_interop_gen}

for tool in openssl keytool; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $tool not installed" >&2
		exit 77 # meson: skipped
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rombsr-x509-interop.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

expect_line() { # file fixed-string what
	grep -qF -- "$2" "$1" || { cat "$1" >&2; fail "$3: '$2' missing"; }
}

# Flip the lowest bit of the file's last byte: for every algorithm here
# the last byte of a certificate is inside signatureValue (RSA and Ed25519
# signature bytes, the last byte of ECDSA's s), so the DER stays well-formed
# and only the signature breaks.
flip_last_byte() { # in out
	size=$(wc -c <"$1")
	head -c $((size - 1)) "$1" >"$2"
	last=$(tail -c 1 "$1" | od -An -tu1 | tr -d ' \n')
	# shellcheck disable=SC2059 # the format is the escaped byte
	printf "$(printf '\\%03o' $((last ^ 1)))" >>"$2"
}

"$gen" "$tmp" || fail "x509_interop_gen failed"

for k in rsa4096 p256 ed25519; do
	pem="$tmp/$k.pem"
	[ -s "$pem" ] || fail "$k: generator wrote no $pem"
	case $k in
	rsa4096) sigalg=sha256WithRSAEncryption jsig=SHA256withRSA ca=CA:TRUE ;;
	p256) sigalg=ecdsa-with-SHA256 jsig=SHA256withECDSA ca=CA:FALSE ;;
	ed25519) sigalg=ED25519 jsig=Ed25519 ca=CA:FALSE ;;
	esac

	# 1. OpenSSL parses it and shows the profile.
	openssl x509 -in "$pem" -noout -text >"$tmp/$k.txt" || fail "$k: openssl x509 -text"
	expect_line "$tmp/$k.txt" "Version: 3 (0x2)" "$k"
	expect_line "$tmp/$k.txt" "Signature Algorithm: $sigalg" "$k"
	expect_line "$tmp/$k.txt" "X509v3 Basic Constraints: critical" "$k"
	expect_line "$tmp/$k.txt" "$ca" "$k"
	expect_line "$tmp/$k.txt" "X509v3 Key Usage: critical" "$k"
	expect_line "$tmp/$k.txt" "X509v3 Subject Key Identifier" "$k"
	expect_line "$tmp/$k.txt" "X509v3 Authority Key Identifier" "$k"

	# 2. It verifies as its own trust anchor, with the self-signature
	#    checked (without -check_ss_sig OpenSSL trusts an anchor's
	#    signature blindly), also under RFC 5280 strict checks.
	out=$(openssl verify -CAfile "$pem" -check_ss_sig "$pem" 2>&1) ||
		fail "$k: openssl verify: $out"
	[ "$out" = "$pem: OK" ] || fail "$k: openssl verify said: $out"
	out=$(openssl verify -x509_strict -CAfile "$pem" -check_ss_sig "$pem" 2>&1) ||
		fail "$k: openssl verify -x509_strict: $out"

	# 3. Java reads it (the parser apksigner and keytool share).
	keytool -printcert -file "$pem" >"$tmp/$k.keytool" 2>&1 ||
		{ cat "$tmp/$k.keytool" >&2; fail "$k: keytool -printcert"; }
	expect_line "$tmp/$k.keytool" "Signature algorithm name: $jsig" "$k (keytool)"
	expect_line "$tmp/$k.keytool" "Version: 3" "$k (keytool)"

	# 4. A flipped signature bit must be refused.
	openssl x509 -in "$pem" -outform DER -out "$tmp/$k.der"
	flip_last_byte "$tmp/$k.der" "$tmp/$k.bad.der"
	cmp -s "$tmp/$k.der" "$tmp/$k.bad.der" && fail "$k: tampering changed nothing"
	openssl x509 -inform DER -in "$tmp/$k.bad.der" -out "$tmp/$k.bad.pem" ||
		fail "$k: tampered certificate no longer parses (the flip hit the structure)"
	if out=$(openssl verify -CAfile "$tmp/$k.bad.pem" -check_ss_sig "$tmp/$k.bad.pem" 2>&1); then
		fail "$k: openssl verify accepted a tampered certificate: $out"
	fi
	case $out in
	*"certificate signature failure"*) ;;
	*) fail "$k: tampered certificate rejected for the wrong reason: $out" ;;
	esac
	echo "ok $k"
done

# The Android platform-style certificate carries AOSP's make_key subject.
expect_line "$tmp/rsa4096.keytool" \
	"Owner: EMAILADDRESS=android@android.com, CN=Android, OU=Android, O=Android, L=Mountain View, ST=California, C=US" \
	"rsa4096 subject"
subj=$(openssl x509 -in "$tmp/rsa4096.pem" -noout -subject -nameopt compat)
[ "$subj" = "subject=/C=US/ST=California/L=Mountain View/O=Android/OU=Android/CN=Android/emailAddress=android@android.com" ] ||
	fail "rsa4096 subject: $subj"
echo "ok android subject"
