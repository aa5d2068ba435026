# shellcheck shell=bash
# OpenPGP verification with independent tools, for integration tests.
# Source it from bash after `set -euo pipefail`:
#
#   . "$(dirname "$0")/lib/pgp-verify.sh"
#
# Every function takes the certificate (binary or armored), its v4
# fingerprint (40 hex digits, either case), a detached signature (binary
# or armored) and the data file. It returns 0 on the expected outcome and
# 1 otherwise, after printing what failed and the tool's output to stderr.
#
#   pgp_verify_gpg | _sq | _pacman | _all   CERT FPR SIG DATA
#       the tool(s) must accept SIG as a good signature by FPR over DATA.
#   pgp_reject_gpg | _sq | _pacman | _all   CERT FPR SIG DATA
#       the tool(s) must report SIG over DATA as a BAD signature. A
#       failure for another reason (unknown key, unreadable file) does not
#       count as a rejection: the attack has to be caught by the signature
#       check itself.
#   pgp_check_cert_gpg | _sq   CERT FPR [USER_ID]
#       the certificate imports/parses, has fingerprint FPR, a valid
#       self-signature, and (if given) exactly that user ID.
#   pgp_verify_cleanup
#       kill the gpg-agents started for the keyrings below and remove them.
#
# The tools run in private keyrings under one `mktemp -d` directory made on
# first use: a GNUPGHOME for gpg, a HOME for sq, and a pacman keyring
# (`pacman-key --init`, then `--add` + `--lsign-key` per certificate, as
# Arch's keyring packages do). The caller's GNUPGHOME and HOME are not
# touched. pgp_verify_cleanup is chained in front of the EXIT trap that is
# in place at first use (the caller's status is preserved for it); call it
# yourself if you replace the EXIT trap later. Call the functions from the
# main shell, not inside $(...), so the keyrings are set up only once.
#
# pacman-key refuses armored signatures by design ("Cannot use armored
# signatures for packages"), so for pacman an armored SIG is first
# converted with `gpg --dearmor` and the binary result is verified.
#
# After a successful pgp_verify_gpg, PGPV_LAST_VALIDSIG holds gpg's
# VALIDSIG status line: "[GNUPG:] VALIDSIG FPR DATE TIME EXPIRE 4 0 PKALGO
# HASHALGO CLASS PRIMARY_FPR".

# Sourcing twice must not forget the keyrings made so far.
[ -z "${_PGPV_LOADED:-}" ] || return 0
_PGPV_LOADED=1
_PGPV_DIR=
_PGPV_PREV_EXIT=
_PGPV_PACMAN_READY=
_PGPV_PACMAN_KEYS=" "
_PGPV_BSIG=
# shellcheck disable=SC2034 # read by the scripts that source this file
PGPV_LAST_VALIDSIG=

_pgpv_fail() { # what output
	{
		echo "FAIL: $1"
		[ -z "${2:-}" ] || printf '%s\n' "$2" | sed 's/^/    | /'
	} >&2
	return 1
}

_pgpv_return() {
	return "$1"
}

_pgpv_on_exit() {
	local rc=$?

	pgp_verify_cleanup
	if [ -n "$_PGPV_PREV_EXIT" ]; then
		# Hand the exit status to the caller's own EXIT trap.
		set +e
		_pgpv_return "$rc"
		eval "$_PGPV_PREV_EXIT"
	fi
}

_pgpv_init() {
	local prev
	local -a words=()

	[ -z "$_PGPV_DIR" ] || return 0
	_PGPV_DIR=$(mktemp -d "${TMPDIR:-/tmp}/rombsr-pgpv.XXXXXX") || return 1
	mkdir -m 700 "$_PGPV_DIR/gnupg" "$_PGPV_DIR/home" || return 1
	# `trap -p` prints "trap -- 'CMD' EXIT", quoted for re-reading by
	# the shell; let the shell unquote it.
	prev=$(trap -p EXIT)
	if [ -n "$prev" ]; then
		eval "words=($prev)"
		_PGPV_PREV_EXIT=${words[2]}
	fi
	trap _pgpv_on_exit EXIT
}

pgp_verify_cleanup() {
	[ -n "$_PGPV_DIR" ] || return 0
	# Only the pacman keyring ever starts an agent (--init, --lsign-key);
	# gpg here runs with --no-autostart. Kill both to be sure.
	gpgconf --homedir "$_PGPV_DIR/pacman" --kill all >/dev/null 2>&1 || true
	gpgconf --homedir "$_PGPV_DIR/gnupg" --kill all >/dev/null 2>&1 || true
	rm -rf "$_PGPV_DIR"
	_PGPV_DIR=
	_PGPV_PACMAN_READY=
	_PGPV_PACMAN_KEYS=" "
}

_pgpv_fpr() { # fpr -> uppercase on stdout
	local f

	f=$(printf '%s' "$1" | tr 'a-f' 'A-F')
	if ! [[ $f =~ ^[0-9A-F]{40}$ ]]; then
		_pgpv_fail "'$1' is not a v4 fingerprint (40 hex digits)"
		return 1
	fi
	printf '%s' "$f"
}

_pgpv_tmpfile() { # a fresh name in the private directory
	printf '%s/tmp.%d.%d' "$_PGPV_DIR" "$BASHPID" "$RANDOM"
}

_pgpv_gpg() {
	gpg --homedir "$_PGPV_DIR/gnupg" --batch --no-tty --no-autostart "$@"
}

_pgpv_sq() {
	HOME="$_PGPV_DIR/home" sq "$@"
}

_pgpv_gpg_import() { # cert fpr
	local out

	if ! out=$(_pgpv_gpg --import "$1" 2>&1); then
		_pgpv_fail "gpg --import $1" "$out"
		return 1
	fi
	if ! _pgpv_gpg --with-colons --list-keys "$2" 2>/dev/null | grep -q "^fpr:*$2:"; then
		_pgpv_fail "gpg: $1 does not hold key $2" "$out"
		return 1
	fi
}

# Status lines of one gpg --verify; sets _PGPV_OUT and _PGPV_RC.
_pgpv_gpg_verify_raw() { # homedir-args... -- sig data
	_PGPV_RC=0
	_PGPV_OUT=$("$@" 2>&1) || _PGPV_RC=$?
}

pgp_verify_gpg() {
	local cert=$1 fpr sig=$3 data=$4

	fpr=$(_pgpv_fpr "$2") || return 1
	_pgpv_init || return 1
	_pgpv_gpg_import "$cert" "$fpr" || return 1
	_pgpv_gpg_verify_raw _pgpv_gpg --status-fd 1 --verify "$sig" "$data"
	if [ "$_PGPV_RC" -ne 0 ] ||
		! grep -q '^\[GNUPG:\] GOODSIG ' <<<"$_PGPV_OUT" ||
		! grep -Eq "^\[GNUPG:\] VALIDSIG $fpr .* $fpr\$" <<<"$_PGPV_OUT" ||
		grep -Eq '^\[GNUPG:\] (BADSIG|ERRSIG|EXPSIG|EXPKEYSIG|REVKEYSIG) ' <<<"$_PGPV_OUT"; then
		_pgpv_fail "gpg --verify $sig $data: not a good signature by $fpr (exit $_PGPV_RC)" "$_PGPV_OUT"
		return 1
	fi
	# shellcheck disable=SC2034 # read by the scripts that source this file
	PGPV_LAST_VALIDSIG=$(grep '^\[GNUPG:\] VALIDSIG ' <<<"$_PGPV_OUT")
}

pgp_reject_gpg() {
	local cert=$1 fpr sig=$3 data=$4

	fpr=$(_pgpv_fpr "$2") || return 1
	_pgpv_init || return 1
	_pgpv_gpg_import "$cert" "$fpr" || return 1
	_pgpv_gpg_verify_raw _pgpv_gpg --status-fd 1 --verify "$sig" "$data"
	if [ "$_PGPV_RC" -eq 0 ] ||
		grep -Eq '^\[GNUPG:\] (GOODSIG|VALIDSIG) ' <<<"$_PGPV_OUT" ||
		! grep -q "^\[GNUPG:\] BADSIG ${fpr: -16} " <<<"$_PGPV_OUT"; then
		_pgpv_fail "gpg --verify $sig $data: expected BAD signature by $fpr (exit $_PGPV_RC)" "$_PGPV_OUT"
		return 1
	fi
}

_pgpv_sq_cert() { # cert fpr
	local out

	if ! out=$(_pgpv_sq inspect "$1" 2>&1) || ! grep -q "Fingerprint: $2\$" <<<"$out"; then
		_pgpv_fail "sq inspect $1: not the certificate of $2" "$out"
		return 1
	fi
}

pgp_verify_sq() {
	local cert=$1 fpr sig=$3 data=$4 out rc=0

	fpr=$(_pgpv_fpr "$2") || return 1
	_pgpv_init || return 1
	_pgpv_sq_cert "$cert" "$fpr" || return 1
	out=$(_pgpv_sq verify --signer-cert "$cert" --detached "$sig" "$data" 2>&1) || rc=$?
	if [ "$rc" -ne 0 ] || ! grep -q "Good signature from ${fpr: -16}" <<<"$out"; then
		_pgpv_fail "sq verify --detached $sig $data: not a good signature by $fpr (exit $rc)" "$out"
		return 1
	fi
}

pgp_reject_sq() {
	local cert=$1 fpr sig=$3 data=$4 out rc=0

	fpr=$(_pgpv_fpr "$2") || return 1
	_pgpv_init || return 1
	_pgpv_sq_cert "$cert" "$fpr" || return 1
	out=$(_pgpv_sq verify --signer-cert "$cert" --detached "$sig" "$data" 2>&1) || rc=$?
	# sq 0.27 says "bad checksum" ("Message has been manipulated"); later
	# versions say "bad signature". "unknown checksum" (no key) is not a
	# rejection of the signature.
	if [ "$rc" -eq 0 ] || grep -qi 'good signature' <<<"$out" ||
		! grep -Eqi 'bad (checksum|signature)|manipulated' <<<"$out"; then
		_pgpv_fail "sq verify --detached $sig $data: expected a bad signature by $fpr (exit $rc)" "$out"
		return 1
	fi
}

_pgpv_pacman() {
	pacman-key --gpgdir "$_PGPV_DIR/pacman" "$@"
}

_pgpv_pacman_add() { # cert fpr
	local out

	if [ -z "$_PGPV_PACMAN_READY" ]; then
		# Generates the keyring's RSA-4096 master key; libgcrypt reads
		# getrandom(), so this takes a few seconds and never blocks.
		if ! out=$(_pgpv_pacman --init 2>&1); then
			_pgpv_fail "pacman-key --init" "$out"
			return 1
		fi
		_PGPV_PACMAN_READY=1
	fi
	case $_PGPV_PACMAN_KEYS in *" $2 "*) return 0 ;; esac
	if ! out=$(_pgpv_pacman --add "$1" 2>&1); then
		_pgpv_fail "pacman-key --add $1" "$out"
		return 1
	fi
	if ! out=$(_pgpv_pacman --lsign-key "$2" 2>&1); then
		_pgpv_fail "pacman-key --lsign-key $2" "$out"
		return 1
	fi
	_PGPV_PACMAN_KEYS="$_PGPV_PACMAN_KEYS$2 "
}

# Sets _PGPV_BSIG to a binary form of the signature.
_pgpv_pacman_sig() { # sig
	local out

	_PGPV_BSIG=$1
	grep -q 'BEGIN PGP SIGNATURE' "$1" || return 0
	_PGPV_BSIG=$(_pgpv_tmpfile).sig
	if ! out=$(_pgpv_gpg --yes --dearmor --output "$_PGPV_BSIG" "$1" 2>&1); then
		_pgpv_fail "gpg --dearmor $1" "$out"
		return 1
	fi
}

pgp_verify_pacman() {
	local cert=$1 fpr sig=$3 data=$4 bsig out rc=0

	fpr=$(_pgpv_fpr "$2") || return 1
	_pgpv_init || return 1
	_pgpv_pacman_add "$cert" "$fpr" || return 1
	_pgpv_pacman_sig "$sig" || return 1
	bsig=$_PGPV_BSIG
	out=$(_pgpv_pacman --verify "$bsig" "$data" 2>&1) || rc=$?
	if [ "$rc" -ne 0 ]; then
		_pgpv_fail "pacman-key --verify $sig $data (exit $rc)" "$out"
		return 1
	fi
	# pacman-key only asks for a fully trusted good signature; make sure it
	# was this key's, in the same keyring.
	_pgpv_gpg_verify_raw gpg --homedir "$_PGPV_DIR/pacman" --no-permission-warning --batch --no-tty --no-autostart \
		--status-fd 1 --verify "$bsig" "$data"
	if [ "$_PGPV_RC" -ne 0 ] || ! grep -Eq "^\[GNUPG:\] VALIDSIG $fpr " <<<"$_PGPV_OUT"; then
		_pgpv_fail "pacman keyring: $sig is not by $fpr" "$_PGPV_OUT"
		return 1
	fi
}

pgp_reject_pacman() {
	local cert=$1 fpr sig=$3 data=$4 bsig out rc=0

	fpr=$(_pgpv_fpr "$2") || return 1
	_pgpv_init || return 1
	_pgpv_pacman_add "$cert" "$fpr" || return 1
	_pgpv_pacman_sig "$sig" || return 1
	bsig=$_PGPV_BSIG
	out=$(_pgpv_pacman --verify "$bsig" "$data" 2>&1) || rc=$?
	_pgpv_gpg_verify_raw gpg --homedir "$_PGPV_DIR/pacman" --no-permission-warning --batch --no-tty --no-autostart \
		--status-fd 1 --verify "$bsig" "$data"
	if [ "$rc" -eq 0 ] || ! grep -q "^\[GNUPG:\] BADSIG ${fpr: -16} " <<<"$_PGPV_OUT"; then
		_pgpv_fail "pacman-key --verify $sig $data: expected a BAD signature by $fpr (exit $rc)" \
			"$out"$'\n'"$_PGPV_OUT"
		return 1
	fi
}

pgp_verify_all() {
	local bad=0

	pgp_verify_gpg "$@" || bad=1
	pgp_verify_sq "$@" || bad=1
	pgp_verify_pacman "$@" || bad=1
	return "$bad"
}

pgp_reject_all() {
	local bad=0

	pgp_reject_gpg "$@" || bad=1
	pgp_reject_sq "$@" || bad=1
	pgp_reject_pacman "$@" || bad=1
	return "$bad"
}

pgp_check_cert_gpg() { # cert fpr [uid]
	local cert=$1 fpr uid=${3:-} out

	fpr=$(_pgpv_fpr "$2") || return 1
	_pgpv_init || return 1
	_pgpv_gpg_import "$cert" "$fpr" || return 1
	out=$(_pgpv_gpg --with-colons --check-sigs "$fpr" 2>&1) || {
		_pgpv_fail "gpg --check-sigs $fpr" "$out"
		return 1
	}
	# A good (!) positive certification (13x) by the key itself, and no
	# bad (-) or unverifiable (%, ?) signature.
	if ! grep -Eq "^sig:!::[0-9]+:${fpr: -16}:.*:13x::$fpr:" <<<"$out" ||
		grep -Eq '^sig:[-%?]:' <<<"$out"; then
		_pgpv_fail "gpg --check-sigs $fpr: no valid self-signature" "$out"
		return 1
	fi
	if [ -n "$uid" ] && ! grep -Fq "::$uid::" <<<"$(grep '^uid:' <<<"$out")"; then
		_pgpv_fail "gpg: $fpr lacks user ID '$uid'" "$out"
		return 1
	fi
}

pgp_check_cert_sq() { # cert fpr [uid]
	local cert=$1 fpr uid=${3:-} out

	fpr=$(_pgpv_fpr "$2") || return 1
	_pgpv_init || return 1
	if ! out=$(_pgpv_sq inspect "$cert" 2>&1) || ! grep -q "Fingerprint: $fpr\$" <<<"$out" ||
		! grep -q 'Key flags: certification, signing' <<<"$out" ||
		grep -Eq '^ *Invalid:' <<<"$out"; then
		_pgpv_fail "sq inspect $cert: not a valid certificate for $fpr" "$out"
		return 1
	fi
	if [ -n "$uid" ] && ! grep -Fxq "         UserID: $uid" <<<"$out"; then
		_pgpv_fail "sq inspect $cert: lacks user ID '$uid'" "$out"
		return 1
	fi
}
