#!/bin/bash
# hsm-provision on SoftHSM2: credentials escrowed 0600, keys generated
# non-extractable on the token, certificates stored, manifest consistent.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"

STATE="$WORK/state"
ESCROW="$WORK/escrow"

step "provision"
"$ROMBSR" hsm-provision --state-dir "$STATE" --escrow-dir "$ESCROW" --keyspec "$TEST_KEYSPEC" \
	--label rombsr-test >"$WORK/out" 2>"$WORK/err" || { cat "$WORK/out" "$WORK/err"; fail "provision"; }
grep -q "enforces only the PKCS#11 SO/user split" "$WORK/err" || fail "no SoftHSM roles warning"

step "escrowed credentials: 0600, >= 128 bits, distinct"
for role in admin operator backup audit; do
	f="$ESCROW/$role.pin"
	[ -f "$f" ] || fail "$f missing"
	[ "$(stat -c %a "$f")" = 600 ] || fail "$f mode $(stat -c %a "$f")"
	len=$(tr -d '\n' <"$f" | wc -c)
	[ "$len" -ge 22 ] || fail "$role credential too short ($len chars)"
done
[ "$(stat -c %a "$ESCROW")" = 700 ] || fail "escrow dir mode"
[ "$(sort -u "$ESCROW"/*.pin | wc -l)" -eq 4 ] || fail "credentials not distinct"
# The admin (SO) credential must not be stored anywhere in the state dir.
if grep -rqF -- "$(cat "$ESCROW/admin.pin")" "$STATE"; then fail "admin credential in state dir"; fi

step "manifest lists every key"
"$ROMBSR" keys list --state-dir "$STATE" >"$WORK/list"
for k in platform media device release release-ed fw queue audit; do
	grep -q "^$k " "$WORK/list" || fail "key $k not listed"
done
"$ROMBSR" keys list --json --state-dir "$STATE" >"$WORK/list.json"
grep -q '"algorithm": "rsa-4096"' "$WORK/list.json" || fail "json list"

step "token objects: private keys sensitive and never extractable (p11tool)"
export SOFTHSM2_CONF="$STATE/softhsm2.conf"
GNUTLS_PIN=$(cat "$ESCROW/operator.pin") p11tool --provider /usr/lib/softhsm/libsofthsm2.so \
	--login --list-all-privkeys "pkcs11:token=rombsr-test" >"$WORK/privkeys" 2>/dev/null
[ "$(grep -c 'Type: Private key' "$WORK/privkeys")" -eq 8 ] || { cat "$WORK/privkeys"; fail "expected 8 private keys"; }
[ "$(grep -c 'CKA_SENSITIVE' "$WORK/privkeys")" -eq 8 ] || fail "a private key is not CKA_SENSITIVE"
if grep -q 'CKA_EXTRACTABLE' "$WORK/privkeys"; then fail "a private key is extractable"; fi
p11tool --provider /usr/lib/softhsm/libsofthsm2.so --list-all-certs "pkcs11:token=rombsr-test" >"$WORK/certs" 2>/dev/null
[ "$(grep -c 'Type: X.509 Certificate' "$WORK/certs")" -eq 8 ] || { cat "$WORK/certs"; fail "expected 8 certificates"; }

step "pkcs11-tool sees the same token"
pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --token-label rombsr-test --list-objects \
	--type cert >"$WORK/p11tool-certs" 2>&1
grep -q "label:      platform" "$WORK/p11tool-certs" || { cat "$WORK/p11tool-certs"; fail "pkcs11-tool"; }
unset SOFTHSM2_CONF

step "certificates verify as self-signed (openssl) and parse (keytool)"
for k in platform media device queue audit; do
	"$ROMBSR" keys export "$k" --format cert-pem --state-dir "$STATE" --output "$WORK/$k.pem"
	openssl verify -CAfile "$WORK/$k.pem" -check_ss_sig "$WORK/$k.pem" >/dev/null || fail "openssl verify $k"
done
openssl x509 -in "$WORK/platform.pem" -noout -subject | grep -q "CN = Android" || fail "platform subject"
openssl x509 -in "$WORK/platform.pem" -noout -text | grep -q "Public-Key: (4096 bit)" || fail "platform size"
for k in platform media device; do
	keytool -printcert -file "$WORK/$k.pem" >"$WORK/keytool.$k" 2>&1 || { cat "$WORK/keytool.$k"; fail "keytool $k"; }
done

step "certificate on the token equals the manifest's"
# the manifest's certificate for every key must carry the manifest's SPKI
for k in platform device queue; do
	a=$(openssl x509 -in "$WORK/$k.pem" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)
	"$ROMBSR" keys export "$k" --format spki-der --state-dir "$STATE" --output "$WORK/$k.spki"
	b=$(sha256sum <"$WORK/$k.spki" | cut -c1-64)
	[ "$a" = "$b" ] || fail "$k certificate and SPKI differ"
	grep -q "\"spki_sha256\": \"$b\"" "$STATE/manifest.json" || fail "$k spki_sha256"
done

step "re-provisioning an existing state is refused and changes nothing"
cp "$STATE/manifest.json" "$WORK/manifest.before"
expect_exit 10 "$ROMBSR" hsm-provision --state-dir "$STATE" --escrow-dir "$WORK/escrow2" --keyspec "$TEST_KEYSPEC"
expect_err "already provisioned"
cmp -s "$STATE/manifest.json" "$WORK/manifest.before" || fail "manifest changed"
[ ! -e "$WORK/escrow2" ] || fail "escrow2 created"

step "a non-empty escrow directory is refused, nothing is left behind"
mkdir "$WORK/busy" && echo x >"$WORK/busy/file"
expect_exit 10 "$ROMBSR" hsm-provision --state-dir "$WORK/state2" --escrow-dir "$WORK/busy" --keyspec "$TEST_KEYSPEC"
expect_err "not empty"
[ ! -e "$WORK/state2" ] || fail "state2 left behind"
echo "cli-provision: all checks passed"
