#!/bin/bash
# keytool -list through Java's SunPKCS11 against the capture module: every
# active key is a PrivateKeyEntry under its name, with the manifest's
# certificate; a revoked key is not there. The same listing from SoftHSM2
# directly is the reference.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"
. "$(dirname "$0")/lib/capture.sh"
need keytool

capture_setup

# "ALIAS SHA256-FINGERPRINT" per entry (lowercase hex, no colons), sorted.
keytool_entries() { # CFG PIN OUT
	keytool -list -keystore NONE -storetype PKCS11 -providerClass sun.security.pkcs11.SunPKCS11 \
		-providerArg "$1" -storepass "$2" >"$3.raw" 2>&1 || { cat "$3.raw" >&2; fail "keytool -list ($1)"; }
	awk '/, PrivateKeyEntry, *$/ { a = $1; sub(/,$/, "", a); next }
	     /^Certificate fingerprint \(SHA-256\): / { if (a) { f = tolower($4); gsub(/:/, "", f); print a, f; a = "" } }' \
		"$3.raw" | sort >"$3"
}

want_entries() { # MANIFEST
	jq -r '.keys[] | select(.status == "active") | .name + " " + .fingerprints.certificate_sha256' "$1" | sort
}

step "keytool -list through the capture module"
client keytool_entries "$CAPTURE_CFG" any-pin-will-do "$WORK/capture"
want_entries "$MANIFEST" >"$WORK/want"
diff -u "$WORK/want" "$WORK/capture" || { cat "$WORK/capture.raw" >&2; fail "keytool entries differ from the manifest"; }
n=$(wc -l <"$WORK/want")
grep -qx "Your keystore contains $n entries" "$WORK/capture.raw" || { cat "$WORK/capture.raw" >&2; fail "entry count is not $n"; }

step "the same as keytool sees on the real token"
direct keytool_entries "$SOFTHSM_CFG" "$PIN" "$WORK/direct"
diff -u "$WORK/direct" "$WORK/capture" || fail "the capture module shows other entries than the token"

step "a revoked key is not listed"
manifest_with_revoked platform "$WORK/revoked.json"
ROMBSR_CAPTURE_MANIFEST="$WORK/revoked.json" client keytool_entries "$CAPTURE_CFG" any-pin-will-do "$WORK/rev"
want_entries "$WORK/revoked.json" >"$WORK/rev.want"
diff -u "$WORK/rev.want" "$WORK/rev" || { cat "$WORK/rev.raw" >&2; fail "keytool entries with 'platform' revoked"; }
if grep -q '^platform ' "$WORK/rev"; then fail "revoked key listed"; fi
grep -qx "Your keystore contains $((n - 1)) entries" "$WORK/rev.raw" || { cat "$WORK/rev.raw" >&2; fail "entry count with one key revoked"; }
echo "capture-keytool: all checks passed"
