#!/bin/bash
# rombsr verify on APKs: apksigner-signed APKs (SoftHSM2, test key set)
# verify and are attributed to their manifest key; a tampered APK, an
# unsigned one, a stranger's and a revoked key's are refused.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"
. "$(dirname "$0")/lib/capture.sh"
need apksigner zipalign zip keytool

step "provision and sign"
capture_setup
make_apk "$WORK/unsigned.apk" 1
apk_sign_direct "$WORK/unsigned.apk" "$WORK/platform.apk" platform
apk_sign_direct "$WORK/unsigned.apk" "$WORK/device.apk" device

step "signed APKs verify and name their key"
expect_exit 0 "$ROMBSR" verify --manifest "$MANIFEST" "$WORK/platform.apk" "$WORK/device.apk"
grep -qF "platform.apk: APK signature by key 'platform' (active)" "$WORK/last.out" ||
	{ cat "$WORK/last.out"; fail "platform not named"; }
grep -qF "device.apk: APK signature by key 'device' (active)" "$WORK/last.out" ||
	{ cat "$WORK/last.out"; fail "device not named"; }
expect_exit 0 "$ROMBSR" verify --manifest "$MANIFEST" --json "$WORK/device.apk"
[ "$(jq -r '.files[0].form + " " + .files[0].key' "$WORK/last.out")" = "apk device" ] || fail "json"

step "a tampered APK is refused"
cp "$WORK/device.apk" "$WORK/tampered.apk"
flip_bit "$WORK/tampered.apk" 200
expect_exit 7 "$ROMBSR" verify --manifest "$MANIFEST" "$WORK/tampered.apk"

step "an unsigned APK is refused"
expect_exit 4 "$ROMBSR" verify --manifest "$MANIFEST" "$WORK/unsigned.apk"

step "a stranger's valid signature is refused"
keytool -genkeypair -keystore "$WORK/stranger.p12" -storetype PKCS12 -storepass stranger \
	-alias s -keyalg EC -groupname secp256r1 -dname CN=stranger -validity 365 >/dev/null 2>&1
apksigner sign --ks "$WORK/stranger.p12" --ks-pass pass:stranger --ks-key-alias s --min-sdk-version 24 \
	--out "$WORK/stranger.apk" "$WORK/unsigned.apk"
apksigner verify --min-sdk-version 24 "$WORK/stranger.apk" >/dev/null || fail "apksigner rejects the stranger's APK"
expect_exit 4 "$ROMBSR" verify --manifest "$MANIFEST" "$WORK/stranger.apk"

step "a revoked key is refused"
manifest_with_revoked device "$WORK/revoked.json"
expect_exit 5 "$ROMBSR" verify --manifest "$WORK/revoked.json" "$WORK/device.apk"
expect_exit 0 "$ROMBSR" verify --manifest "$WORK/revoked.json" "$WORK/platform.apk"

echo "verify-apk: all checks passed"
