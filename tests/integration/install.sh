#!/bin/bash
# make install's payload: binary, library + pkg-config file + headers, man
# page; a program built only from the installed files links and runs, and
# one that calls a function outside the public API (docs/API.md) does not
# link.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"

ROOT="$WORK/root"
DESTDIR="$ROOT" meson install -C "$ROMBSR_BUILD_DIR" --no-rebuild --quiet >/dev/null
opt() { meson introspect "$ROMBSR_BUILD_DIR" --buildoptions |
	python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]==sys.argv[1]))' "$1"; }
prefix=$(opt prefix)
# a sanitizer build's library needs the sanitizer runtime in its clients
san=$(opt b_sanitize)
sanflags=()
[ "$san" = none ] || sanflags=(-fsanitize="$san")
P="$ROOT$prefix"
[ -x "$P/bin/rombsr" ] || fail "binary not installed"
[ -x "$P/bin/rombsr-sign" ] || fail "rombsr-sign not installed"
for zone in build queue audit admin; do
	"$P/bin/rombsr-$zone" --version | grep -q "^rombsr-$zone " || fail "rombsr-$zone not installed or does not run"
done
libexec=$(opt libexecdir)
case $libexec in /*) ;; *) libexec="$prefix/$libexec" ;; esac
[ -x "$ROOT$libexec/rombsr/rombsr-signer" ] || fail "the key holder is not installed in $libexec/rombsr"
"$ROOT$libexec/rombsr/rombsr-signer" --version | grep -q '^rombsr-signer ' || fail "installed key holder does not run"
[ -f "$P/share/man/man1/rombsr.1" ] || fail "man page not installed"
pc=$(find "$P" -name rombsr.pc | head -1)
[ -n "$pc" ] || fail "pkg-config file not installed"
lib=$(dirname "$(dirname "$pc")")
[ -e "$lib/librombsr.so" ] || fail "shared library not installed"
"$P/bin/rombsr" --version | grep -q '^rombsr ' || fail "installed binary does not run"

# The client uses only the public API (docs/API.md): error and scheme
# names, and the RFC 6962 hash of the empty leaf.
cat >"$WORK/client.c" <<'C'
#include <stdio.h>
#include <string.h>
#include "audit/merkle.h"
#include "crypto/signer.h"
#include "util/err.h"
int main(void)
{
	uint8_t h[MERKLE_HASH_LEN];
	merkle_hash_leaf("", 0, h);
	if (h[0] != 0x6e || h[1] != 0x34 || h[31] != 0x1d)
		return 1;
	printf("%s %s\n", rb_strerror(RB_E_PIN), rb_sig_scheme_name(RB_SIG_ED25519));
	return 0;
}
C
# A private function (one the static library has, not in docs/API.md)
# does not link against the shared library.
cat >"$WORK/private.c" <<'C'
#include "keys/keyspec.h"
int main(void)
{
	struct keyspec *ks = NULL;
	return keyspec_default(&ks);
}
C
export PKG_CONFIG_SYSROOT_DIR="$ROOT" PKG_CONFIG_PATH="$(dirname "$pc")"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror "${sanflags[@]}" -o "$WORK/client" "$WORK/client.c" $(pkg-config --cflags --libs rombsr) \
	|| fail "cannot build against the installed library"
LD_LIBRARY_PATH="$lib" "$WORK/client" | grep -q "PIN rejected ed25519" || fail "client output"
# shellcheck disable=SC2046
if cc -std=c11 -Wall -Werror "${sanflags[@]}" -o "$WORK/private" "$WORK/private.c" $(pkg-config --cflags --libs rombsr) \
	2>"$WORK/private.err"; then
	fail "a private function (keyspec_default) links against the installed library"
fi
grep -q 'keyspec_default' "$WORK/private.err" || fail "private client failed for another reason: $(cat "$WORK/private.err")"
echo "install: all checks passed"
