# Shared set-up for the capture module's integration tests (real PKCS#11
# clients against librombsr-capture.so); source it after fixture.sh.
#
#   CAPTURE_MODULE  the capture module under test (from ROMBSR_BUILD_DIR)
#   SOFTHSM_MODULE  SoftHSM2, for the direct baseline and the sign node
#   RESOLVE_TOOL    tests/integration/tools/capture-resolve-tool
#
#   capture_setup            provision a SoftHSM2 token with the test key spec
#                            and point the module at its manifest; sets STATE,
#                            ESCROW, MANIFEST, PIN_FILE, PIN, TOKEN, SPOOL,
#                            CAPTURE_CFG and SOFTHSM_CFG (SunPKCS11 configs)
#   client CMD...            run a PKCS#11 client that loads the capture module
#   direct CMD...            run a client against SoftHSM2 (SOFTHSM2_CONF set)
#   spool_list / spool_count the request files in SPOOL
#   req_* FILE               fields of a request file (jq, not our parser)
#   key_field NAME JQ        a field of a manifest key
#   make_apk OUT N [KIB]     a distinct, zipaligned sample APK
#   apk_sign_capture / apk_sign_direct IN OUT ALIAS
#   apk_verify APK           apksigner verify -v --print-certs into $WORK/verify.out

CAPTURE_MODULE=${ROMBSR_CAPTURE_MODULE:-$ROMBSR_BUILD_DIR/src/capture/librombsr-capture.so}
SOFTHSM_MODULE=${ROMBSR_SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
RESOLVE_TOOL="$ROMBSR_BUILD_DIR/tests/integration/tools/capture-resolve-tool"
# JDK 17 keeps SunPKCS11's package closed; apksigner instantiates the
# provider by class name, so it needs the export.
JAVA_P11_EXPORT=-J-add-exports=jdk.crypto.cryptoki/sun.security.pkcs11=ALL-UNNAMED

need() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || fail "$t is not installed; 'make deps' installs it (scripts/deps)"
	done
}
need jq openssl
[ -f "$CAPTURE_MODULE" ] || fail "no capture module at $CAPTURE_MODULE"

# A sanitizer build's module needs the ASan runtime loaded first in the
# client process. The clients are not instrumented, so preloading the
# runtime is enough; it still catches every memory error in the module.
# LeakSanitizer stays off in clients (the JVM and OpenSC leak by design at
# exit), and ASan must leave the JVM's SIGSEGV/SIGBUS handling alone.
CLIENT_PRELOAD=
if asan=$(ldd "$CAPTURE_MODULE" 2>/dev/null | awk '/libasan\.so/ { print $3; exit }') && [ -n "$asan" ]; then
	CLIENT_PRELOAD=$asan
	CLIENT_ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:detect_odr_violation=0:handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:allow_user_segv_handler=1"
fi

client() {
	if [ -n "$CLIENT_PRELOAD" ]; then
		LD_PRELOAD="$CLIENT_PRELOAD${LD_PRELOAD:+ $LD_PRELOAD}" ASAN_OPTIONS="$CLIENT_ASAN_OPTIONS" "$@"
	else
		"$@"
	fi
}

direct() {
	SOFTHSM2_CONF="$STATE/softhsm2.conf" "$@"
}

key_field() { # NAME JQ-PATH (relative to the key object)
	jq -r --arg n "$1" ".keys[] | select(.name == \$n) | $2" "$MANIFEST"
}

# sha256 of a file, lowercase hex
sha256_hex() {
	openssl dgst -sha256 -r "$1" | cut -d' ' -f1
}

hex_of() { # FILE -> lowercase hex, one line
	od -An -v -tx1 "$1" | tr -d ' \n'
}

write_p11_cfg() { # FILE NAME LIBRARY [SLOT-LINE]
	{
		echo "name = $2"
		echo "library = $3"
		echo "${4:-slotListIndex = 0}"
	} >"$1"
}

# The decimal slot ID of the SoftHSM2 token labelled $TOKEN: SoftHSM2
# gives tokens random slot IDs and keeps a free slot beside them.
softhsm_slot() {
	local hex
	hex=$(direct pkcs11-tool --module "$SOFTHSM_MODULE" -L 2>/dev/null |
		awk -v want="$TOKEN" '/^Slot [0-9]+ \(0x/ { id = $3; gsub(/[():]/, "", id) }
			$1 == "token" && $2 == "label" { sub(/^[^:]*: /, ""); if ($0 == want) { print id; exit } }')
	[ -n "$hex" ] || fail "no SoftHSM2 slot holds token '$TOKEN'"
	echo $((hex))
}

capture_setup() {
	STATE="$WORK/state"
	ESCROW="$WORK/escrow"
	provision_small "$STATE" "$ESCROW"
	MANIFEST="$STATE/manifest.json"
	PIN_FILE="$ESCROW/operator.pin"
	PIN=$(cat "$PIN_FILE")
	TOKEN=$(jq -r .token.label "$MANIFEST")
	SPOOL="$WORK/spool"
	export ROMBSR_CAPTURE_MANIFEST="$MANIFEST"
	export ROMBSR_CAPTURE_SPOOL="$SPOOL"
	export ROMBSR_BUILD_ID="it-$(basename "$WORK")"
	unset ROMBSR_CAPTURE_CONFIG ROMBSR_CAPTURE_LOG ROMBSR_CAPTURE_PIN_FILE
	CAPTURE_CFG="$WORK/capture-p11.cfg"
	write_p11_cfg "$CAPTURE_CFG" RombsrCapture "$CAPTURE_MODULE"
	SOFTHSM_CFG="$WORK/softhsm-p11.cfg"
	write_p11_cfg "$SOFTHSM_CFG" SoftHSM "$SOFTHSM_MODULE" "slot = $(softhsm_slot)"
}

# A copy of the manifest with one key revoked, for the visibility checks.
manifest_with_revoked() { # NAME OUT
	jq --arg n "$1" '(.keys[] | select(.name == $n)) |= (.status = "revoked" | .revocation_reason = "integration test")' \
		"$MANIFEST" >"$2"
}

active_keys() {
	jq -r '.keys[] | select(.status == "active") | .name' "$MANIFEST"
}

# ---- the spool -------------------------------------------------------------

spool_list() { # request files, sorted; none before the spool exists
	[ -d "$SPOOL" ] || return 0
	find "$SPOOL" -maxdepth 1 -name '*.json' -type f | sort
}

spool_count() {
	spool_list | wc -l
}

# The one request file that appeared since spool_list was saved to $1.
spool_new() { # BEFORE-LIST
	local new
	new=$(spool_list | comm -13 "$1" -)
	[ -n "$new" ] || fail "no new request in $SPOOL"
	[ "$(echo "$new" | wc -l)" -eq 1 ] || fail "more than one new request: $new"
	echo "$new"
}

# docs/formats/capture-request.md
req_field() { # FILE JQ
	jq -r "$2" "$1"
}
req_key() { req_field "$1" .key.name; }
req_mech() { req_field "$1" .mechanism; }
req_scheme() { req_field "$1" .scheme; }
req_input_hex() { req_field "$1" .input | base64 -d | od -An -v -tx1 | tr -d ' \n'; }
req_placeholder_hex() { req_field "$1" .placeholder | base64 -d | od -An -v -tx1 | tr -d ' \n'; }

# ---- sample APKs -----------------------------------------------------------

# A small APK whose content depends on N, so every N gets distinct digests
# and therefore distinct requests. res/raw/notes.txt is stored uncompressed
# and holds a marker, so tests can flip a byte inside an entry.
make_apk() { # OUT N [KIB of random classes.dex, default 16]
	local src="$WORK/apksrc.$2"
	rm -rf "$src"
	mkdir -p "$src/res/raw" "$src/assets"
	cat >"$src/AndroidManifest.xml" <<-EOF
	<?xml version="1.0" encoding="utf-8"?>
	<manifest xmlns:android="http://schemas.android.com/apk/res/android"
	    package="org.rombsr.sample$2" android:versionCode="$2">
	    <uses-sdk android:minSdkVersion="24"/>
	</manifest>
	EOF
	head -c $((${3:-16} * 1024)) /dev/urandom >"$src/classes.dex"
	printf 'sample %s\nROMBSR-TAMPER-TARGET\n' "$2" >"$src/res/raw/notes.txt"
	seq 1 2000 >"$src/assets/numbers.txt"
	rm -f "$WORK/apk.$2.zip"
	(cd "$src" && zip -q -X -n .txt "$WORK/apk.$2.zip" AndroidManifest.xml classes.dex res/raw/notes.txt \
		assets/numbers.txt) || fail "zip for sample APK $2"
	zipalign -f 4 "$WORK/apk.$2.zip" "$1" || fail "zipalign for sample APK $2"
}

# v2 and v3 in the APK. apksigner also makes a v4 signature (a separate
# .idsig file, a third signing request) unless told not to; tests that want
# it add --v4-signing-enabled true after these.
APKSIGNER_COMMON=(--ks NONE --ks-type PKCS11 --min-sdk-version 24 --v1-signing-enabled false
	--v2-signing-enabled true --v3-signing-enabled true --v4-signing-enabled false)

# --provider-pos 1: apksigner verifies every signature it generated with
# the first provider that offers the algorithm. The capture module accepts
# its own placeholder for a recorded request as pending; Java's software
# providers would reject it.
apk_sign_capture() { # IN OUT ALIAS [apksigner sign options...]
	client apksigner "$JAVA_P11_EXPORT" sign --provider-class sun.security.pkcs11.SunPKCS11 \
		--provider-arg "$CAPTURE_CFG" --provider-pos 1 "${APKSIGNER_COMMON[@]}" \
		--ks-pass pass:capture-any-pin --ks-key-alias "$3" "${@:4}" --out "$2" "$1"
}

apk_sign_direct() { # IN OUT ALIAS [apksigner sign options...]
	direct apksigner "$JAVA_P11_EXPORT" sign --provider-class sun.security.pkcs11.SunPKCS11 \
		--provider-arg "$SOFTHSM_CFG" "${APKSIGNER_COMMON[@]}" \
		--ks-pass "file:$PIN_FILE" --ks-key-alias "$3" "${@:4}" --out "$2" "$1"
}

apk_verify() { # APK [apksigner verify options...]; output in $WORK/verify.out
	apksigner verify -v --print-certs --min-sdk-version 24 "${@:2}" "$1" >"$WORK/verify.out" 2>&1
}

# Assert a verified APK's report: v2 and v3 signatures, one signer, the
# manifest's certificate.
expect_apk_verified() { # APK KEY-NAME [apksigner verify options...]
	apk_verify "$1" "${@:3}" || { cat "$WORK/verify.out" >&2; fail "$1 does not verify"; }
	local want
	want=$(key_field "$2" .fingerprints.certificate_sha256)
	for line in "Verifies" \
		"Verified using v2 scheme (APK Signature Scheme v2): true" \
		"Verified using v3 scheme (APK Signature Scheme v3): true" \
		"Number of signers: 1" \
		"Signer #1 certificate SHA-256 digest: $want"; do
		grep -qxF -- "$line" "$WORK/verify.out" || { cat "$WORK/verify.out" >&2; fail "$1: '$line' missing"; }
	done
}
