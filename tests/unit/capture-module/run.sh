#!/bin/bash
# Strictness tests of the capture PKCS#11 module, against the manifest of a
# copy of the build's test token (tests/fixtures/test-token.sh).
#
#   run.sh TEST-BINARY MODULE
set -euo pipefail
: "${ROMBSR_BUILD_DIR:?run through meson test}"
: "${ROMBSR_SOURCE_DIR:?run through meson test}"
TEST_BIN=$1
MODULE=$2
. "$ROMBSR_SOURCE_DIR/tests/integration/lib/fixture.sh"
unset ROMBSR_CAPTURE_CONFIG ROMBSR_CAPTURE_LOG ROMBSR_CAPTURE_PIN_FILE

# The module exports the PKCS#11 entry points and nothing else.
exports=$(nm -D --defined-only "$MODULE" | awk 'NF == 3 { print $3 }' | sort | tr '\n' ' ')
[ "$exports" = "C_GetFunctionList C_GetInterface C_GetInterfaceList " ] ||
	fail "$MODULE exports: $exports"
echo "ok exports: $exports"
# The compatibility name sits beside it, in the build tree as when installed.
compat="$(dirname "$MODULE")/libmock_pkcs11.so"
[ "$(readlink "$compat")" = "librombsr-capture.so" ] || fail "$compat is not a link to librombsr-capture.so"
echo "ok $compat -> librombsr-capture.so"

provision_small "$WORK/state" "$WORK/escrow"
MANIFEST="$WORK/state/manifest.json"

# Key status is not covered by the manifest's fingerprints, so a copy with
# one key revoked still parses.
python3 - "$MANIFEST" "$WORK/revoked.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
for k in m["keys"]:
    if k["name"] == "media":
        k["status"] = "revoked"
        k["revocation_reason"] = "unit test: key withdrawn"
json.dump(m, open(sys.argv[2], "w"), indent=2)
PY

export ROMBSR_CAPTURE_MANIFEST="$MANIFEST"
export ROMBSR_CAPTURE_SPOOL="$WORK/spool"
export ROMBSR_BUILD_ID="unit-capture-module-1"
export TEST_REVOKED_MANIFEST="$WORK/revoked.json"
export TEST_TOKEN_LABEL=rombsr-test
export TEST_OPERATOR_PIN_FILE="$WORK/escrow/operator.pin"
export SOFTHSM2_CONF="$WORK/state/softhsm2.conf"
"$TEST_BIN" "$MODULE"
