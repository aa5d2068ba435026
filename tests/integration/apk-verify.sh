#!/bin/bash
# rombsr's APK verifier (src/lib/apk) against `apksigner verify` on the
# same files: APKs apksigner signed directly against SoftHSM2 with the test
# key set verify in both and map to the right manifest key; tampered ones
# fail in both; a stranger's valid signature verifies in apksigner but is
# refused by the manifest check, and so is a revoked key.
#
#   apk-verify.sh APK-VERIFY-TOOL   (tests/unit/apk/apk_verify_tool)
set -euo pipefail
TOOL=$1
. "$(dirname "$0")/lib/fixture.sh"
. "$(dirname "$0")/lib/capture.sh"
need apksigner zipalign zip python3 keytool

rombsr_verify() { # APK [MANIFEST] -> output in $WORK/rv.out, status returned
	"$TOOL" "${2:-$MANIFEST}" "$1" >"$WORK/rv.out" 2>&1
}

expect_both_verify() { # APK KEY-NAME SCHEMES(v2|v3|v2v3)
	local fp cert
	rombsr_verify "$1" || { cat "$WORK/rv.out" >&2; fail "rombsr rejects $1"; }
	apk_verify "$1" || { cat "$WORK/verify.out" >&2; fail "apksigner rejects $1"; }
	fp=$(key_field "$2" .fingerprints.spki_sha256)
	cert=$(key_field "$2" .fingerprints.certificate_sha256)
	grep -qxF "key $2" "$WORK/rv.out" || { cat "$WORK/rv.out" >&2; fail "$1: not attributed to $2"; }
	for s in v2 v3; do
		if [[ $3 == *$s* ]]; then
			grep -qE "^$s [a-z0-9-]+ $fp $cert" "$WORK/rv.out" || { cat "$WORK/rv.out" >&2; fail "$1: no $s signer $2"; }
			grep -qxF "Verified using $s scheme (APK Signature Scheme $s): true" "$WORK/verify.out" ||
				{ cat "$WORK/verify.out" >&2; fail "$1: apksigner did not verify $s"; }
		else
			! grep -q "^$s " "$WORK/rv.out" || fail "$1: rombsr reports a $s signer"
		fi
	done
	# both name the same certificate
	grep -qxF "Signer #1 certificate SHA-256 digest: $cert" "$WORK/verify.out" ||
		{ cat "$WORK/verify.out" >&2; fail "$1: apksigner names another certificate"; }
}

expect_both_fail() { # APK WHAT
	if rombsr_verify "$1"; then cat "$WORK/rv.out" >&2; fail "rombsr accepts $2"; fi
	[ -s "$WORK/rv.out" ] || fail "rombsr gave no reason for $2"
	if apk_verify "$1"; then cat "$WORK/verify.out" >&2; fail "apksigner accepts $2"; fi
	echo "ok both refuse $2: $(head -1 "$WORK/rv.out")"
}

# Byte surgery on copies; offsets come from the ZIP/signing-block layout.
tamper() { # IN OUT WHAT
	python3 - "$1" "$2" "$3" <<'PY'
import struct, sys
src, out, what = sys.argv[1:]
d = bytearray(open(src, 'rb').read())
eocd = d.rfind(b'PK\x05\x06')
cd_size, cd = struct.unpack('<II', d[eocd + 12:eocd + 20])
size = struct.unpack('<Q', d[cd - 24:cd - 16])[0]
block = cd - size - 8
def signer(scheme_id):
    p = block + 8
    while p < cd - 24:
        ln, i = struct.unpack('<QI', d[p:p + 12])
        if i == scheme_id:
            s = p + 12 + 8                      # signers seq len, signer len
            sd_len = struct.unpack('<I', d[s:s + 4])[0]
            q = s + 4 + sd_len + (8 if scheme_id == 0xf05368c0 else 0)
            return s + 4, sd_len, q + 16        # signed data, its length, first signature
        p += 8 + ln
    raise SystemExit('no block %x' % scheme_id)
if what == 'entry':
    d[d.find(b'ROMBSR-TAMPER-TARGET') + 2] ^= 1
elif what == 'cd':
    d[cd + 16] ^= 0x80
elif what.startswith('signed-data-') or what.startswith('signature-'):
    sid = 0x7109871a if what.endswith('v2') else 0xf05368c0
    sd, sd_len, sig = signer(sid)
    d[(sd + sd_len // 2) if what.startswith('signed') else sig + 8] ^= 4
elif what == 'truncate':
    d = d[:cd + 10]
elif what == 'eocd-offset':
    struct.pack_into('<I', d, eocd + 16, cd + 2)
elif what == 'block-size':
    struct.pack_into('<Q', d, block, size + 8)
else:
    raise SystemExit('unknown tampering ' + what)
open(out, 'wb').write(d)
PY
}

step "provision and sign"
capture_setup
make_apk "$WORK/unsigned.apk" 1
apk_sign_direct "$WORK/unsigned.apk" "$WORK/platform.apk" platform
apk_sign_direct "$WORK/unsigned.apk" "$WORK/device.apk" device
apk_sign_direct "$WORK/unsigned.apk" "$WORK/media.apk" media
apk_sign_direct "$WORK/unsigned.apk" "$WORK/v2only.apk" device --v3-signing-enabled false
apk_sign_direct "$WORK/unsigned.apk" "$WORK/v3only.apk" platform --v2-signing-enabled false

step "valid APKs verify in both"
expect_both_verify "$WORK/platform.apk" platform v2v3
grep -q "^v3 rsa-pkcs1-sha512 .* 24 2147483647$" "$WORK/rv.out" || fail "platform: not RSA-4096 0x0104 for SDK 24+"
expect_both_verify "$WORK/device.apk" device v2v3
grep -q "^v2 ecdsa-sha256 " "$WORK/rv.out" || fail "device: not ECDSA-SHA256 (0x0201)"
expect_both_verify "$WORK/media.apk" media v2v3
grep -q "^v2 rsa-pkcs1-sha256 " "$WORK/rv.out" || fail "media: not RSA 0x0103"
expect_both_verify "$WORK/v2only.apk" device v2
expect_both_verify "$WORK/v3only.apk" platform v3
echo "ok five apksigner-signed APKs"

step "tampered APKs fail in both"
for base in platform device; do
	for t in entry cd signed-data-v2 signed-data-v3 signature-v2 signature-v3 truncate eocd-offset block-size; do
		tamper "$WORK/$base.apk" "$WORK/t.apk" "$t"
		expect_both_fail "$WORK/t.apk" "$base.apk with $t tampered"
	done
done
# an unsigned APK: neither accepts it
expect_both_fail "$WORK/unsigned.apk" "an unsigned APK"

step "the manifest decides who counts"
# A valid signature by a key the manifest does not know.
keytool -genkeypair -keystore "$WORK/stranger.p12" -storetype PKCS12 -storepass stranger-pass \
	-alias stranger -keyalg EC -groupname secp256r1 -dname CN=stranger -validity 30 >/dev/null 2>&1 ||
	fail "keytool could not make the stranger's key"
apksigner sign --ks "$WORK/stranger.p12" --ks-pass pass:stranger-pass --min-sdk-version 24 \
	--v1-signing-enabled false --out "$WORK/stranger.apk" "$WORK/unsigned.apk" || fail "apksigner sign (stranger)"
apk_verify "$WORK/stranger.apk" || fail "apksigner rejects the stranger's APK"
expect_exit 2 "$TOOL" "$MANIFEST" "$WORK/stranger.apk"
grep -q "is not a key of the manifest" "$WORK/last.err" || { cat "$WORK/last.err" >&2; fail "stranger: wrong reason"; }
echo "ok a stranger's signature is refused"
manifest_with_revoked media "$WORK/revoked.json"
expect_exit 2 "$TOOL" "$WORK/revoked.json" "$WORK/media.apk"
grep -q "revoked" "$WORK/last.err" || { cat "$WORK/last.err" >&2; fail "revoked: wrong reason"; }
expect_exit 0 "$TOOL" "$WORK/revoked.json" "$WORK/device.apk"
echo "ok a revoked key is refused, the others still verify"
