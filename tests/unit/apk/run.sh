#!/bin/bash
# Unit tests of src/lib/apk on real APKs: zip + zipalign build them,
# apksigner signs them directly against a copy of the build's test token
# (tests/fixtures/test-token.sh: RSA-4096 platform -> 0x0104, RSA-2048
# media -> 0x0103, P-256 device -> 0x0201), then the C test verifies and
# tampers.
#
#   run.sh TEST-BINARY...
set -euo pipefail
. "$ROMBSR_SOURCE_DIR/tests/integration/lib/fixture.sh"
. "$ROMBSR_SOURCE_DIR/tests/integration/lib/capture.sh"
need apksigner zipalign zip unzip

capture_setup
APKS="$WORK/apks"
mkdir -p "$APKS"
make_apk "$APKS/unsigned.apk" 1 8
# Several 1 MiB chunks, so the chunked digest crosses chunk boundaries.
make_apk "$WORK/big-unsigned.apk" 2 3000
apk_sign_direct "$APKS/unsigned.apk" "$APKS/platform.apk" platform
apk_sign_direct "$APKS/unsigned.apk" "$APKS/media.apk" media
apk_sign_direct "$APKS/unsigned.apk" "$APKS/device.apk" device
apk_sign_direct "$APKS/unsigned.apk" "$APKS/v2only.apk" platform --v3-signing-enabled false
apk_sign_direct "$APKS/unsigned.apk" "$APKS/v3only.apk" device --v2-signing-enabled false
apk_sign_direct "$WORK/big-unsigned.apk" "$APKS/big.apk" device
# What apksigner asks a key to sign for v1 (the .SF file) and v4 (the
# .idsig's signing data), for the signed-input checks.
apk_sign_direct "$APKS/unsigned.apk" "$APKS/v1v4.apk" platform --v1-signing-enabled true \
	--v4-signing-enabled true
unzip -p "$APKS/v1v4.apk" META-INF/PLATFORM.SF >"$APKS/platform.sf" || fail "no META-INF/PLATFORM.SF"
[ -s "$APKS/v1v4.apk.idsig" ] || fail "apksigner wrote no .idsig"
# apksigner itself must accept what the C test treats as valid.
for a in platform media device v2only v3only big v1v4; do
	apk_verify "$APKS/$a.apk" || { cat "$WORK/verify.out" >&2; fail "apksigner rejects $a.apk"; }
done
manifest_with_revoked media "$WORK/revoked.json"

export TEST_APK_DIR="$APKS" TEST_MANIFEST="$MANIFEST" TEST_REVOKED_MANIFEST="$WORK/revoked.json"
for t in "$@"; do
	"$t"
done
