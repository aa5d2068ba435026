#!/bin/bash
# make install's payload: binary, library + pkg-config file + headers, man
# page; a program built only from the installed files links and runs.
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

cat >"$WORK/client.c" <<'C'
#include <stdio.h>
#include <string.h>
#include "util/err.h"
#include "crypto/signer.h"
#include "keys/keyspec.h"
int main(void)
{
	struct keyspec *ks = NULL;
	if (keyspec_default(&ks) != 0 || ks->n_keys != 13)
		return 1;
	printf("%s %s\n", rb_strerror(RB_E_PIN), rb_sig_scheme_name(RB_SIG_ED25519));
	keyspec_free(ks);
	return 0;
}
C
export PKG_CONFIG_SYSROOT_DIR="$ROOT" PKG_CONFIG_PATH="$(dirname "$pc")"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror "${sanflags[@]}" -o "$WORK/client" "$WORK/client.c" $(pkg-config --cflags --libs rombsr) \
	|| fail "cannot build against the installed library"
LD_LIBRARY_PATH="$lib" "$WORK/client" | grep -q "PIN rejected ed25519" || fail "client output"
echo "install: all checks passed"
