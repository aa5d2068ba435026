#!/bin/bash
# make demo as a test (suite 'soak', make check-full only: it provisions the
# default key set, thirteen keys of which eleven are RSA-4096, about a
# minute of key generation): the main job from nothing still runs and
# passes every independent verifier. It runs in a temporary directory, not
# in ./demo/.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"
ROMBSR_DEMO_DIR="$WORK/demo" "$ROMBSR_SOURCE_DIR/scripts/demo" "$ROMBSR_BUILD_DIR" >"$WORK/demo.out" 2>&1 ||
	{ tail -40 "$WORK/demo.out" >&2; fail "make demo failed"; }
grep -q "demo complete" "$WORK/demo.out" || fail "the demo did not reach its end"
echo "demo: all checks passed"
