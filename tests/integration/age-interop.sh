#!/bin/bash
# Interop test for src/lib/age against the real age CLI (age 1.1, Debian
# package `age`), both ways: rombsr encrypts and `age -d` decrypts, `age`
# encrypts and rombsr decrypts - for X25519 keys from age-keygen, ssh-ed25519
# keys from `ssh-keygen -t ed25519 -N ''`, and passphrases (the age CLI reads
# those only from a terminal, so it is driven through a pty with `script`).
# Each direction must also REJECT a modified file and the wrong key.
# (`age -d -o FILE` creates no file for an empty plaintext, so the
# checks redirect stdout instead.)
#
# usage: age-interop.sh PATH/TO/age-tool
set -euo pipefail

tool=$(realpath "${1:?usage: age-interop.sh PATH/TO/age-tool}")
missing=
for t in age age-keygen ssh-keygen script; do
	command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
done
if [ -n "$missing" ]; then
	echo "FAIL: missing:$missing (Debian: apt-get install age openssh-client bsdutils)" >&2
	exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
pass=0
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
ok() {
	pass=$((pass + 1))
	echo "ok $*"
}
# refuse CMD...: CMD must fail
refuse() {
	if "$@" >/dev/null 2>refused.err; then
		fail "accepted: $*"
	fi
}

# Plaintexts: empty, short, and several 64 KiB chunks with a partial last one.
: > empty.txt
printf 'AES-256 wrap key share 3 of 5\n' > short.txt
head -c $((4 * 65536 + 123)) /dev/urandom > big.bin
# A passphrase from a file (never argv); the CLI gets it on its pty.
printf 'custodian passphrase 7\n' > pass.txt
chmod 600 pass.txt

age-keygen -o age-key.txt 2>/dev/null
age_rcpt=$(age-keygen -y age-key.txt)
ssh-keygen -q -t ed25519 -N '' -C custodian -f ssh-key
ssh_rcpt=$(cat ssh-key.pub)
ssh-keygen -q -t ed25519 -N 'locked' -f ssh-locked
age-keygen -o other-key.txt 2>/dev/null

# the recipient rombsr derives from each identity is the one the tools print
[ "$("$tool" recipient age-key.txt)" = "$age_rcpt" ] || fail "X25519 recipient differs from age-keygen -y"
[ "$("$tool" recipient ssh-key)" = "$(cut -d' ' -f1-2 ssh-key.pub)" ] || fail "ssh recipient differs from ssh-key.pub"
ok "recipients from identities match age-keygen -y and ssh-keygen"

for f in empty.txt short.txt big.bin; do
	for armor in "" "-a"; do
		# rombsr -> age
		"$tool" encrypt $armor -r "$age_rcpt" < "$f" > r-x.age
		age -d -i age-key.txt r-x.age > out
		cmp -s out "$f" || fail "age -d of rombsr X25519 file ($f $armor)"
		"$tool" encrypt $armor -r "$ssh_rcpt" < "$f" > r-s.age
		age -d -i ssh-key r-s.age > out
		cmp -s out "$f" || fail "age -d of rombsr ssh-ed25519 file ($f $armor)"
		# age -> rombsr
		age $armor -r "$age_rcpt" -o a-x.age "$f"
		"$tool" decrypt -i age-key.txt < a-x.age > out
		cmp -s out "$f" || fail "rombsr decrypt of age -r file ($f $armor)"
		age $armor -R ssh-key.pub -o a-s.age "$f"
		"$tool" decrypt -i ssh-key < a-s.age > out
		cmp -s out "$f" || fail "rombsr decrypt of age -R ssh file ($f $armor)"
		ok "X25519 and ssh-ed25519 both ways: $f ${armor:-binary}"
	done
done

# several recipients in one file, each opens it with the other tool
"$tool" encrypt -r "$(age-keygen -y other-key.txt)" -r "$ssh_rcpt" -r "$age_rcpt" < short.txt > multi.age
age -d -i age-key.txt multi.age | cmp -s - short.txt || fail "age -d of a three-recipient file"
age -d -i ssh-key multi.age | cmp -s - short.txt || fail "age -d (ssh) of a three-recipient file"
ok "three recipients"

# an identity file rombsr generates works with age
"$tool" keygen rombsr-key.txt > rombsr-rcpt.txt
[ "$(stat -c %a rombsr-key.txt)" = 600 ] || fail "generated identity is not 0600"
age -r "$(cat rombsr-rcpt.txt)" -o g.age short.txt
age -d -i rombsr-key.txt g.age | cmp -s - short.txt || fail "age -d with a rombsr identity"
ok "rombsr keygen identity used by age"

# passphrases: the age CLI only reads them from its terminal
pp=$(head -n1 pass.txt)
age_pty() { # PROMPTS "age args": answer each passphrase prompt as it appears
	local pid rc=0
	rm -f pty.in pty.log
	mkfifo pty.in
	: >pty.log
	timeout 60 script -qec "$2" /dev/null <pty.in >pty.log &
	pid=$!
	# Hold the terminal's input open until age is done: script ends the
	# session when its input closes.
	exec 9>pty.in
	for n in $(seq "$1"); do
		for _ in $(seq 600); do
			[ "$(grep -o passphrase pty.log | wc -l)" -ge "$n" ] && break
			sleep 0.05
		done
		printf '%s\n' "$pp" >&9
	done
	wait "$pid" || rc=$?
	exec 9>&-
	return "$rc"
}
"$tool" encrypt -p pass.txt < short.txt > r-p.age
grep -q '^-> scrypt ' r-p.age || fail "no scrypt stanza"
age_pty 1 "age -d -o out-p r-p.age"
cmp -s out-p short.txt || fail "age -d of a rombsr passphrase file"
age_pty 2 "age -p -o a-p.age short.txt"
"$tool" decrypt -p pass.txt < a-p.age > out
cmp -s out short.txt || fail "rombsr decrypt of an age -p file"
ok "scrypt passphrase both ways (work factor 18)"

# attacks: a modified payload, a modified header, the wrong key
"$tool" encrypt -r "$age_rcpt" < big.bin > t.age
len=$(stat -c %s t.age)
cp t.age t-pay.age
# XOR, not a fixed byte: the ciphertext byte is already 0x55 one run in 256.
b=$(od -An -tu1 -j $((len - 5000)) -N1 t.age | tr -d ' ')
printf "\\$(printf '%03o' $((b ^ 0x55)))" | dd of=t-pay.age bs=1 seek=$((len - 5000)) conv=notrunc status=none
cmp -s t.age t-pay.age && fail "payload not modified"
refuse age -d -i age-key.txt -o out t-pay.age
refuse "$tool" decrypt -i age-key.txt < t-pay.age
grep -q '^payload failure' refused.err || fail "modified payload: $(cat refused.err)"
head -c $((len - 65552)) t.age > t-trunc.age
refuse age -d -i age-key.txt -o out t-trunc.age
refuse "$tool" decrypt -i age-key.txt < t-trunc.age
grep -q '^payload failure' refused.err || fail "truncated file: $(cat refused.err)"
age -r "$age_rcpt" -o a-h.age short.txt
sed '2s/^-> X25519 /-> X25519 A/' a-h.age > a-h2.age
refuse "$tool" decrypt -i age-key.txt < a-h2.age
grep -q '^header failure' refused.err || fail "modified stanza: $(cat refused.err)"
refuse "$tool" decrypt -i other-key.txt < a-x.age
grep -q '^no match' refused.err || fail "wrong key: $(cat refused.err)"
refuse age -d -i other-key.txt -o out r-x.age
refuse "$tool" decrypt -i ssh-locked < a-s.age
grep -q 'passphrase-protected' refused.err || fail "encrypted ssh key: $(cat refused.err)"
ok "modified, truncated, wrong-key and locked-key files refused by both"

echo "age-interop: $pass groups passed"
