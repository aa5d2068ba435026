#!/bin/bash
# Bad input: one clear line naming the input and the fix, the documented
# exit code, and no partial output.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"

STATE="$WORK/state"
ESCROW="$WORK/escrow"
provision_small "$STATE" "$ESCROW"
S=(--state-dir "$STATE")
PIN=(--pin-file "$ESCROW/operator.pin")
echo data >"$WORK/file"

no_output() { [ ! -e "$WORK/file.sig" ] || fail "partial output left behind"; ls "$WORK"/file.sig.tmp-* >/dev/null 2>&1 && fail "temp file left"; return 0; }
one_line() { [ "$(wc -l <"$WORK/last.err")" -eq 1 ] || { cat "$WORK/last.err"; fail "expected one line on stderr"; }; }

step "wrong PIN -> 5"
printf 'not-the-pin\n' >"$WORK/wrong.pin" && chmod 600 "$WORK/wrong.pin"
expect_exit 5 "$ROMBSR" sign-file --key media "${S[@]}" --pin-file "$WORK/wrong.pin" "$WORK/file"
expect_err "CKR_PIN_INCORRECT"; one_line; no_output

step "PIN file readable by others -> 5, names the fix"
printf 'x\n' >"$WORK/open.pin" && chmod 644 "$WORK/open.pin"
expect_exit 5 "$ROMBSR" sign-file --key media "${S[@]}" --pin-file "$WORK/open.pin" "$WORK/file"
expect_err "chmod 600"; one_line; no_output

step "PIN from an environment variable and from a descriptor"
export OP_PIN; OP_PIN=$(cat "$ESCROW/operator.pin")
"$ROMBSR" sign-file --key media "${S[@]}" --pin-env OP_PIN --output "$WORK/env.sig" "$WORK/file" 2>/dev/null || fail "pin-env"
unset OP_PIN
"$ROMBSR" sign-file --key media "${S[@]}" --pin-fd 3 --output "$WORK/fd.sig" "$WORK/file" 3<"$ESCROW/operator.pin" 2>/dev/null || fail "pin-fd"
expect_exit 5 "$ROMBSR" sign-file --key media "${S[@]}" --pin-env UNSET_VARIABLE_X "$WORK/file" </dev/null
expect_err "UNSET_VARIABLE_X"; no_output

step "missing module -> 6"
expect_exit 6 "$ROMBSR" sign-file --key media "${S[@]}" "${PIN[@]}" --module /nonexistent/libp11.so "$WORK/file"
expect_err "/nonexistent/libp11.so"; one_line; no_output

step "unloadable module -> 6"
expect_exit 6 "$ROMBSR" sign-file --key media "${S[@]}" "${PIN[@]}" --module /etc/hostname "$WORK/file"
expect_err "cannot be loaded"; one_line; no_output

step "token not found -> 4"
expect_exit 4 "$ROMBSR" sign-file --key media "${S[@]}" "${PIN[@]}" --token no-such-token "$WORK/file"
expect_err "no-such-token"; one_line; no_output

step "unknown key name -> 4"
expect_exit 4 "$ROMBSR" sign-file --key nosuchkey "${S[@]}" "${PIN[@]}" "$WORK/file"
expect_err "nosuchkey"; one_line; no_output

step "unsupported algorithm for the key -> 8"
expect_exit 8 "$ROMBSR" sign-file --key fw --pss "${S[@]}" "${PIN[@]}" "$WORK/file"
expect_err "Ed25519"; one_line; no_output
expect_exit 5 "$ROMBSR" sign-file --key device --format openpgp "${S[@]}" "${PIN[@]}" "$WORK/file"
one_line; no_output

step "unreadable file -> 4 / 9"
expect_exit 4 "$ROMBSR" sign-file --key media "${S[@]}" "${PIN[@]}" "$WORK/does-not-exist"
expect_err "does-not-exist"; one_line
expect_exit 9 "$ROMBSR" sign-file --key media "${S[@]}" "${PIN[@]}" --output "$WORK/x.sig" "$WORK"
one_line
[ ! -e "$WORK/x.sig" ] || fail "partial output"

step "corrupt key spec -> 3, names file and position"
printf '{"format": "rombsr-keyspec", "version": 1, "keys": [ {"name": "a", "algorithm": "rsa-4096",} ]}' >"$WORK/bad.json"
expect_exit 3 "$ROMBSR" hsm-provision --state-dir "$WORK/s2" --escrow-dir "$WORK/e2" --keyspec "$WORK/bad.json"
expect_err "bad.json"; expect_err "line 1"; one_line
[ ! -e "$WORK/s2" ] && [ ! -e "$WORK/e2" ] || fail "partial state after bad key spec"
printf '{"format": "rombsr-keyspec", "version": 1, "keys": [ {"name": "a", "algorithm": "dsa-1024"} ]}' >"$WORK/bad2.json"
expect_exit 8 "$ROMBSR" hsm-provision --state-dir "$WORK/s2" --escrow-dir "$WORK/e2" --keyspec "$WORK/bad2.json"
expect_err "dsa-1024"; one_line
printf '{"format": "rombsr-keyspec", "version": 1, "keys": [ {"name": "a", "algorithm": "ed25519", "colour": "red"} ]}' >"$WORK/bad3.json"
expect_exit 3 "$ROMBSR" hsm-provision --state-dir "$WORK/s2" --escrow-dir "$WORK/e2" --keyspec "$WORK/bad3.json"
expect_err "colour"; one_line

step "corrupt manifest -> 3; tampered manifest -> 7"
cp "$STATE/manifest.json" "$WORK/manifest.good"
head -c 500 "$WORK/manifest.good" >"$WORK/truncated.json"
expect_exit 3 "$ROMBSR" keys list "${S[@]}" --manifest "$WORK/truncated.json"
expect_err "truncated.json"; one_line
expect_exit 3 "$ROMBSR" sign-file --key media "${S[@]}" "${PIN[@]}" --manifest "$WORK/truncated.json" "$WORK/file"
no_output
# swap one key's SPKI for another's: fingerprints no longer match
python3 - "$WORK/manifest.good" "$WORK/swapped.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
a = next(k for k in m["keys"] if k["name"] == "media")
b = next(k for k in m["keys"] if k["name"] == "platform")
a["spki"] = b["spki"]
json.dump(m, open(sys.argv[2], "w"), indent=2)
PY
expect_exit 3 "$ROMBSR" keys list "${S[@]}" --manifest "$WORK/swapped.json"
one_line
python3 - "$WORK/manifest.good" "$WORK/fpr.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
k = next(k for k in m["keys"] if k["name"] == "media")
f = k["fingerprints"]["spki_sha256"]
k["fingerprints"]["spki_sha256"] = ("0" if f[0] != "0" else "1") + f[1:]
json.dump(m, open(sys.argv[2], "w"), indent=2)
PY
expect_exit 7 "$ROMBSR" keys list "${S[@]}" --manifest "$WORK/fpr.json"
expect_err "spki_sha256"; one_line

step "a revoked key is refused before the HSM is touched"
python3 - "$WORK/manifest.good" "$WORK/revoked.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
k = next(k for k in m["keys"] if k["name"] == "media")
k["status"] = "revoked"; k["revocation_reason"] = "key leaked"
json.dump(m, open(sys.argv[2], "w"), indent=2)
PY
expect_exit 5 "$ROMBSR" sign-file --key media "${S[@]}" "${PIN[@]}" --manifest "$WORK/revoked.json" "$WORK/file"
expect_err "revoked"; one_line; no_output

step "a manifest whose key differs from the token's is refused"
# The other deployment needs only a media key of the same shape.
jq '.keys |= map(select(.name == "media"))' "$TEST_KEYSPEC" >"$WORK/media-only.json"
"$ROMBSR" hsm-provision --state-dir "$WORK/other" --escrow-dir "$WORK/other-escrow" --keyspec "$WORK/media-only.json" \
	--label rombsr-other >/dev/null 2>&1 || fail "second provision"
# our token's key URI, the other deployment's (self-consistent) key material
python3 - "$WORK/manifest.good" "$WORK/other/manifest.json" "$WORK/mixed.json" <<'PY'
import json, sys
ours, theirs = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
a = next(k for k in ours["keys"] if k["name"] == "media")
b = next(k for k in theirs["keys"] if k["name"] == "media")
for f in ("spki", "certificate", "fingerprints", "openpgp_certificate", "created"):
    if f in b:
        a[f] = b[f]
    else:
        a.pop(f, None)
json.dump(ours, open(sys.argv[3], "w"), indent=2)
PY
expect_exit 7 "$ROMBSR" sign-file --key media "${S[@]}" "${PIN[@]}" --manifest "$WORK/mixed.json" "$WORK/file"
expect_err "not the key in the manifest"; one_line; no_output

step "usage errors -> 2"
expect_exit 2 "$ROMBSR" sign-file "${S[@]}" "$WORK/file"
expect_exit 2 "$ROMBSR" no-such-verb
expect_exit 2 "$ROMBSR" sign-file --key media --format zip "$WORK/file"
echo "cli-errors: all checks passed"
