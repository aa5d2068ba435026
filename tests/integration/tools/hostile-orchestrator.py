#!/usr/bin/env python3
"""An orchestrator in an attacker's hands, talking to the real key holder.

    hostile-orchestrator.py SIGNER SIGN-CONF MANIFEST NODE

Starts rombsr-signer (SIGNER) on SIGN-CONF as rombsr-sign does (a
socketpair on its fd 3) and asks it, in the wire format of
docs/formats/signer-wire.md, for what a parser exploit in rombsr-sign would
ask: keys the node may not use, keys outside their purposes, the audit key
over another log's checkpoint, malformed and oversized messages. Each
request must get the answer the key holder's policy gives it; the script
prints one line per case and exits 1 at the first that does not.
"""
import os
import re
import socket
import struct
import subprocess
import sys
import json

RB_E_INVAL, RB_E_PERM = -2, -16
SIG, ERROR, READY = 0x82, 0x84, 0x81
FOR_CAPTURE, FOR_RAW, FOR_OPENPGP, FOR_QUEUE, FOR_CHECKPOINT = 1, 2, 3, 4, 5
RSA_PKCS1_SHA256, ECDSA_SHA256, ED25519 = 1, 5, 6


def s16(text):
    b = text.encode()
    return struct.pack(">H", len(b)) + b


def b32(data):
    return struct.pack(">I", len(data)) + data


def frame(body):
    return struct.pack(">I", len(body)) + body


def sign_msg(purpose, scheme, key, node, data, placeholder=0):
    return frame(bytes([1, 1, purpose, scheme]) + s16(key) + s16(node) +
                 struct.pack(">I", placeholder) + b32(data))


class KeyHolder:
    def __init__(self, program, conf):
        self.sock, theirs = socket.socketpair()
        fd = theirs.fileno()
        # The child's fd 3 is the socket: dup2 before exec, and keep fd 3
        # through close_fds, which runs after preexec_fn.
        self.proc = subprocess.Popen(
            [program, "--config", conf], pass_fds=(fd, 3),
            preexec_fn=lambda: os.dup2(fd, 3), stderr=subprocess.PIPE)
        theirs.close()
        kind, _ = self.reply()
        if kind != READY:
            sys.exit("the key holder did not start")

    def recv_exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                return None
            out += chunk
        return out

    def reply(self):
        hdr = self.recv_exact(4)
        if hdr is None:
            return None, None
        body = self.recv_exact(struct.unpack(">I", hdr)[0])
        return body[1], body[2:]

    def ask(self, raw):
        self.sock.sendall(raw)
        return self.reply()

    def exit_status(self):
        self.sock.close()
        return self.proc.wait(timeout=30)


failed = False


def expect(name, got, want_kind, want_err=None, want_text=None):
    global failed
    kind, rest = got
    if kind == ERROR:
        err = struct.unpack(">i", rest[:4])[0]
        detail = rest[6:].decode(errors="replace")
        ok = want_kind == ERROR and err == want_err and (want_text is None or want_text in detail)
        print(f"{'ok ' if ok else 'BAD'} {name}: refused ({err}) {detail}")
    else:
        ok = kind == want_kind
        print(f"{'ok ' if ok else 'BAD'} {name}: answer type {kind}")
    failed = failed or not ok


def main():
    program, conf, manifest, node = sys.argv[1:5]
    label = json.load(open(manifest))["token"]["label"]
    origin = "rombsr-audit/" + re.sub(r"[^A-Za-z0-9._-]", "-", label)
    digest = bytes(range(32))

    kh = KeyHolder(program, conf)
    expect("a raw request the node may make", kh.ask(sign_msg(FOR_RAW, ECDSA_SHA256, "device", node, digest)), SIG)
    expect("a key the node may not use", kh.ask(sign_msg(FOR_RAW, ED25519, "fw", node, digest)),
           ERROR, RB_E_PERM, "may not use key 'fw'")
    expect("a node sign.conf does not have", kh.ask(sign_msg(FOR_RAW, ECDSA_SHA256, "device", "intruder", digest)),
           ERROR, RB_E_PERM, "node 'intruder' is not in")
    expect("an OpenPGP key over a raw digest", kh.ask(sign_msg(FOR_RAW, RSA_PKCS1_SHA256, "release", node, digest)),
           ERROR, RB_E_PERM, "does not sign raw requests")
    expect("the queue key for a request", kh.ask(sign_msg(FOR_RAW, ED25519, "queue", node, digest)),
           ERROR, RB_E_PERM)
    expect("a request key for a response commit", kh.ask(sign_msg(FOR_QUEUE, ED25519, "release-ed", "", bytes(64))),
           ERROR, RB_E_PERM, "response commits are signed by the key 'queue' alone")
    expect("the audit key over another log's checkpoint",
           kh.ask(sign_msg(FOR_CHECKPOINT, ED25519, "audit", "", b"rombsr-audit/other\n1\nAAAA\n")),
           ERROR, RB_E_PERM, "checkpoints of log")
    expect("the audit key over a note that is no checkpoint",
           kh.ask(sign_msg(FOR_CHECKPOINT, ED25519, "audit", "", (origin + "\nhello\n").encode())),
           ERROR, RB_E_PERM, "checkpoints only")
    expect("a checkpoint of this node's log",
           kh.ask(sign_msg(FOR_CHECKPOINT, ED25519, "audit", "", (origin + "\n1\nAAAA\n").encode())), SIG)
    expect("a digest of the wrong length", kh.ask(sign_msg(FOR_RAW, ECDSA_SHA256, "device", node, digest[:20])),
           ERROR, RB_E_INVAL)
    expect("a scheme the key cannot make", kh.ask(sign_msg(FOR_RAW, RSA_PKCS1_SHA256, "device", node, digest)),
           ERROR, RB_E_PERM, "cannot make scheme")

    # sign.conf narrowed on disk: the key holder reads it again before
    # the next signature, whatever the orchestrator does.
    text = open(conf).read()
    narrowed = re.sub(r"^\s*allowKey = device\s*$\n", "", text, flags=re.M)
    if narrowed == text:
        sys.exit("sign.conf has no 'allowKey = device' line to remove")
    with open(conf + ".tmp", "w") as f:
        f.write(narrowed)
    os.rename(conf + ".tmp", conf)
    expect("the same request after allowKey was removed",
           kh.ask(sign_msg(FOR_RAW, ECDSA_SHA256, "device", node, digest)), ERROR, RB_E_PERM,
           "may not use key 'device'")
    with open(conf + ".tmp", "w") as f:
        f.write(text)
    os.rename(conf + ".tmp", conf)

    # A malformed message ends the key holder: it answers, then exits.
    msg = sign_msg(FOR_RAW, ECDSA_SHA256, "device", node, digest)
    bad = frame(msg[4:] + b"\0")
    expect("a message with a trailing byte", kh.ask(bad), ERROR, -3)
    status = kh.exit_status()
    print(f"{'ok ' if status == 3 else 'BAD'} the key holder stopped after it (exit {status})")
    failed_now = status != 3

    kh = KeyHolder(program, conf)
    kh.sock.sendall(struct.pack(">I", 64 * 1024 * 1024))
    got = kh.reply()
    status = kh.exit_status()
    ok = got[0] == ERROR and status == 3
    print(f"{'ok ' if ok else 'BAD'} a 64 MiB frame header: refused unread, key holder exit {status}")
    sys.exit(1 if failed or failed_now or not ok else 0)


if __name__ == "__main__":
    main()
