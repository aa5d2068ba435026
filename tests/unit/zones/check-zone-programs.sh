#!/bin/bash
# Each trust zone's program links only what its zone needs
# (docs/ARCHITECTURE.md), read from the programs' symbol tables with nm:
# the build node's, the queue host's and the auditor's programs hold no
# PKCS#11 client and no sign-node code; the orchestrator rombsr-sign holds
# no PKCS#11 client at all (only its key holder does); the key holder holds
# no gpgme, no queue transport and no orchestrator. Each program must also
# hold its own verbs, and the all-in-one rombsr every pattern, so that no
# rule passes because a pattern matches nothing.
#   check-zone-programs.sh BUILD-DIR
set -euo pipefail
B=$1
failed=0

# nm's names, without a shared library's symbol version (gpgme_new@GPGME_1.0)
symbols() { nm "$1" | awk '{ print $NF }' | sed 's/@.*//' | sort -u; }

# PROGRAM "FORBIDDEN-REGEX" "REQUIRED-SYMBOL..."
zone() {
	local prog=$B/$1 forbid=$2 sym hits all ok=1
	shift 2
	[ -x "$prog" ] || { echo "FAIL: $prog was not built"; failed=1; return; }
	all=$(symbols "$prog")
	hits=$(grep -E "$forbid" <<<"$all" | head -5 | tr '\n' ' ' || true)
	if [ -n "$hits" ]; then
		echo "FAIL: $(basename "$prog") links what its zone must not hold: $hits"
		ok=0
	fi
	for sym in "$@"; do
		grep -qx -- "$sym" <<<"$all" || { echo "FAIL: $(basename "$prog") lacks $sym"; ok=0; }
	done
	[ "$ok" = 1 ] && echo "$(basename "$prog"): ok" || failed=1
}

pkcs11='^(p11_|C_GetFunctionList$)'
zone src/cli/rombsr-build "$pkcs11|^(signd_|keyholder_|ceremony_)" cmd_submit cmd_apply cmd_verify
zone src/cli/rombsr-queue "$pkcs11|^(signd_|keyholder_|ceremony_)" cmd_queue_guard cmd_queue
zone src/cli/rombsr-audit "$pkcs11|^(signd_|keyholder_|ceremony_|gpgme_)" cmd_audit cmd_verify_rotation
zone src/cli/rombsr-admin '^(signd_|keyholder_|gpgme_)' cmd_hsm_provision p11_module_load
zone src/signd/rombsr-sign "$pkcs11|^(ceremony_|cmd_)" signd_run_batch keyholder_start signd_sandbox_enter
zone src/signer/rombsr-signer '^(signd_|gpgme_|queue_fetch|queue_open|ceremony_|cmd_)' p11_module_load signer_policy_check
# the control: the front end holds every pattern above
zone src/cli/rombsr '^$' p11_module_load signd_run_batch keyholder_start ceremony_key_generate gpgme_op_verify queue_fetch \
	cmd_queue_guard
exit $failed
