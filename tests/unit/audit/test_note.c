/* Unit tests for audit/note: the signed-note known answers of
 * tests/vectors/signed-note-kats.txt (C2SP, Go sumdb/note, a Rekor v2
 * checkpoint), a byte-exact signing known answer, and every way a note,
 * verifier key or checkpoint is malformed or forged. */
#include <inttypes.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "audit/note.h"
#include "harness.h"
#include "soft_signer.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/fileio.h"

HARNESS_GLOBALS;

struct kat {
	char vkey[256];
	char skey[256];
	char spki_b64[128];
	struct rb_buf note;
};

/* Sections start with "# <n>."; a note runs from the line after "note..."
 * (or after the last comment) through its first signature line. */
static size_t load_kats(struct kat *k, size_t max)
{
	const char *src = getenv("ROMBSR_SOURCE_DIR");
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ uint8_t *text = NULL;
	size_t len, n = 0;
	int in_note = 0;
	char *save = NULL;

	if (asprintf(&path, "%s/tests/vectors/signed-note-kats.txt", src ? src : ".") < 0 ||
	    rb_file_read(path, 1 << 20, &text, &len) < 0)
		return 0;
	for (char *line = strtok_r((char *)text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct kat *cur = n ? &k[n - 1] : NULL;
		const char *p;

		if (line[0] == '#' && line[1] == ' ' && line[2] >= '1' && line[2] <= '9' && line[3] == '.') {
			if (n == max)
				break;
			memset(&k[n++], 0, sizeof(*k));
			in_note = 0;
			continue;
		}
		if (!cur)
			continue;
		if (in_note == 2)
			continue;
		if (in_note == 1) {
			rb_buf_printf(&cur->note, "%s\n", line);
			if (strncmp(line, "\xe2\x80\x94 ", 4) == 0)
				in_note = 2;
			continue;
		}
		if ((p = strstr(line, "vkey: ")) == line)
			snprintf(cur->vkey, sizeof(cur->vkey), "%s", line + 6);
		else if ((p = strstr(line, "skey: ")) == line)
			snprintf(cur->skey, sizeof(cur->skey), "%s", line + 6);
		else if ((p = strstr(line, "(SPKI DER b64): ")))
			snprintf(cur->spki_b64, sizeof(cur->spki_b64), "%s", p + 16);
		else if (strncmp(line, "note", 4) == 0)
			in_note = 1;
		else if (line[0] != '#') {
			in_note = 1;
			rb_buf_printf(&cur->note, "%s\n", line);
		}
	}
	return n;
}

/* The text file keeps the blank line between text and signatures; strtok
 * swallowed it, so insert it before the signature line. */
static void kat_note(const struct kat *k, struct rb_buf *out)
{
	const char *s = (const char *)k->note.data;
	const char *dash = strstr(s, "\xe2\x80\x94 ");

	rb_buf_put(out, s, (size_t)(dash - s));
	rb_buf_put_str(out, "\n");
	rb_buf_put_str(out, dash);
}

/* An rb_signer over a known private key, for the byte-exact KAT. */
static int kat_sign(void *ctx, enum rb_sig_scheme scheme, const uint8_t *in, size_t inlen,
		    uint8_t **ret_sig, size_t *ret_len)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	uint8_t *sig = malloc(64);
	size_t len = 64;
	int ok;

	ok = scheme == RB_SIG_ED25519 && m && sig &&
	     EVP_DigestSignInit(m, NULL, NULL, NULL, ctx) == 1 &&
	     EVP_DigestSign(m, sig, &len, in, inlen) == 1;
	EVP_MD_CTX_free(m);
	if (!ok) {
		free(sig);
		return RB_E_CRYPTO;
	}
	*ret_sig = sig;
	*ret_len = len;
	return 0;
}

static void test_kats(void)
{
	struct kat k[4];
	size_t n = load_kats(k, 4);

	CHECK(n == 3);
	for (size_t i = 0; i < n && i < 2; i++) {
		_cleanup_(note_verifier_freep) struct note_verifier *v = NULL;
		_cleanup_(note_freep) struct note *note = NULL;
		_cleanup_free_ char *again = NULL;
		struct rb_buf msg = RB_BUF_INIT;

		kat_note(&k[i], &msg);
		CHECK_OK(note_verifier_parse(k[i].vkey, &v));
		CHECK_OK(note_verifier_format(v, &again));
		CHECK(again && strcmp(again, k[i].vkey) == 0);
		CHECK_OK(note_verify(msg.data, msg.len, &v, 1, &note));
		CHECK(note && note->n_sigs == 1);
		if (i == 0)
			CHECK(note && strcmp(note->text, "This is an example message.\n") == 0);
		/* One flipped bit of the text: the known key's signature fails. */
		msg.data[3] ^= 1;
		CHECK_ERR(note_verify(msg.data, msg.len, &v, 1, NULL), RB_E_VERIFY);
		rb_buf_free(&msg);
	}
	/* The Go package's private key signs its example byte for byte
	 * (Ed25519 is deterministic). */
	{
		/* PRIVATE+KEY+<name>+<id>+<base64>; the base64 may contain '+'. */
		const char *sk = k[1].skey;

		for (int plus = 0; plus < 4 && sk; plus++)
			sk = strchr(sk, '+') ? strchr(sk, '+') + 1 : NULL;
		CHECK(sk != NULL);
		_cleanup_free_ uint8_t *raw = NULL;
		_cleanup_free_ char *signed_note = NULL;
		size_t raw_len;
		struct rb_buf msg = RB_BUF_INIT;
		EVP_PKEY *priv;
		struct rb_signer s;

		CHECK_OK(rb_base64_decode(sk, strlen(sk), true, &raw, &raw_len));
		CHECK(raw_len == 33 && raw[0] == 1);
		priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw + 1, 32);
		CHECK(priv != NULL);
		s = (struct rb_signer){ "PeterNeumann", RB_KEY_ED25519, priv, kat_sign, priv };
		kat_note(&k[1], &msg);
		CHECK_OK(rb_buf_terminate(&msg));
		{
			char *blank = strstr((char *)msg.data, "\n\n");
			_cleanup_free_ char *text = strndup((char *)msg.data,
							    (size_t)(blank - (char *)msg.data) + 1);

			CHECK_OK(note_sign(text, "PeterNeumann", &s, &signed_note));
			CHECK(signed_note && strcmp(signed_note, (char *)msg.data) == 0);
		}
		EVP_PKEY_free(priv);
		rb_buf_free(&msg);
	}
	/* Rekor v2: a real checkpoint, verified with the log's SPKI. */
	{
		_cleanup_free_ uint8_t *der = NULL;
		size_t der_len;
		const uint8_t *p;
		EVP_PKEY *pk;
		_cleanup_(note_verifier_freep) struct note_verifier *v = NULL;
		_cleanup_(checkpoint_freep) struct checkpoint *c = NULL;
		_cleanup_free_ char *hex = NULL;
		struct rb_buf msg = RB_BUF_INIT;

		CHECK_OK(rb_base64_decode(k[2].spki_b64, strlen(k[2].spki_b64), true, &der, &der_len));
		p = der;
		pk = d2i_PUBKEY(NULL, &p, (long)der_len);
		CHECK(pk != NULL);
		CHECK_OK(note_verifier_from_pkey("log2025-alpha1.rekor.sigstage.dev", pk, &v));
		EVP_PKEY_free(pk);
		CHECK_OK(rb_hex_encode(v->key_id, 4, &hex));
		CHECK(strcmp(hex, "f30d5a99") == 0);
		kat_note(&k[2], &msg);
		CHECK_OK(checkpoint_verify(msg.data, msg.len, v, &c));
		CHECK(c && c->size == 736 && c->n_ext == 0);
		rb_buf_free(&msg);
	}
	for (size_t i = 0; i < n; i++)
		rb_buf_free(&k[i].note);
}

static void sign_text(const struct rb_signer *s, const char *name, const char *text, char **ret)
{
	*ret = NULL;
	CHECK_OK(note_sign(text, name, s, ret));
}

static void test_forgeries(void)
{
	struct rb_signer a, b;
	_cleanup_(note_verifier_freep) struct note_verifier *va = NULL, *vb = NULL, *vbad = NULL;
	_cleanup_free_ char *na = NULL, *nb = NULL, *both = NULL, *twice = NULL, *unk = NULL;
	struct note_verifier *vs[2];

	CHECK_OK(soft_signer_new("ed25519", &a));
	CHECK_OK(soft_signer_new("ed25519", &b));
	CHECK_OK(note_verifier_from_pkey("log.example", a.pub, &va));
	CHECK_OK(note_verifier_from_pkey("log.example", b.pub, &vb));
	sign_text(&a, "log.example", "hello\nworld\n", &na);
	sign_text(&b, "log.example", "hello\nworld\n", &nb);
	vs[0] = va;
	vs[1] = vb;
	CHECK_OK(note_verify(na, strlen(na), &va, 1, NULL));
	/* Signed by another key under the same name: unknown, so no known key. */
	CHECK_ERR(note_verify(nb, strlen(nb), &va, 1, NULL), RB_E_VERIFY);
	/* Two signatures, one known: fine. Both known: fine. */
	CHECK(asprintf(&both, "%s%s", na, strstr(nb, "\n\n") + 2) > 0);
	CHECK_OK(note_verify(both, strlen(both), &va, 1, NULL));
	CHECK_OK(note_verify(both, strlen(both), vs, 2, NULL));
	/* The same known signature twice is refused. */
	CHECK(asprintf(&twice, "%s%s", na, strstr(na, "\n\n") + 2) > 0);
	CHECK_ERR(note_verify(twice, strlen(twice), &va, 1, NULL), RB_E_PARSE);
	/* A known key whose signature is bad fails the note, even next to a
	 * good one. */
	{
		char *bad = strdup(both);
		char *sig = strstr(bad, "\n\n") + 2 + 4 + strlen("log.example ") + 10;

		*sig = *sig == 'A' ? 'B' : 'A';
		CHECK_ERR(note_verify(bad, strlen(bad), vs, 2, NULL), RB_E_VERIFY);
		free(bad);
	}
	/* A verifier key string with a wrong key id. */
	{
		_cleanup_free_ char *s = NULL;

		CHECK_OK(note_verifier_format(va, &s));
		s[strlen("log.example+")] = s[strlen("log.example+")] == '0' ? '1' : '0';
		CHECK_ERR(note_verifier_parse(s, &vbad), RB_E_VERIFY);
	}
	CHECK_ERR(note_verifier_parse("log.example+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
				      &vbad), RB_E_PARSE);
	CHECK_ERR(note_verifier_parse("log.example+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
				      &vbad), RB_E_UNSUPPORTED);
	CHECK_ERR(note_verifier_parse("log example+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
				      &vbad), RB_E_PARSE);
	CHECK_ERR(note_verifier_parse("nokeyid", &vbad), RB_E_PARSE);
	/* Unknown-only note; a note by nobody. */
	CHECK(asprintf(&unk, "hello\n\n\xe2\x80\x94 other AAAAAAAA\n") > 0);
	CHECK_ERR(note_verify(unk, strlen(unk), &va, 1, NULL), RB_E_VERIFY);
	/* Signing refuses a text that would not round-trip. */
	{
		char *o = NULL;

		CHECK_ERR(note_sign("no newline", "log.example", &a, &o), RB_E_INVAL);
		CHECK_ERR(note_sign("a\n\nb\n", "log.example", &a, &o), RB_E_INVAL);
		CHECK_ERR(note_sign("a\n", "bad name", &a, &o), RB_E_INVAL);
		CHECK(o == NULL);
	}
	soft_signer_free(&a);
	soft_signer_free(&b);
}

static void test_note_syntax(void)
{
	static const char *const bad[] = {
		"",
		"text\n",                                                /* no signatures */
		"text\n\n",                                              /* blank, nothing after */
		"\n\n\xe2\x80\x94 k AAAAAAAA\n",                         /* empty text */
		"text\n\n\xe2\x80\x94 k AAAAAAAA",                       /* no final newline */
		"text\n\n- k AAAAAAAA\n",                                /* ASCII dash */
		"text\n\n\xe2\x80\x94 kAAAAAAAA\n",                      /* no space */
		"text\n\n\xe2\x80\x94 k AAAA\n",                         /* 3 bytes: no room for a sig */
		"text\n\n\xe2\x80\x94 k AAAAAAB=\n",                     /* non-canonical base64 */
		"text\n\n\xe2\x80\x94 k+x AAAAAAAA\n",                   /* '+' in name */
		"te\rxt\n\n\xe2\x80\x94 k AAAAAAAA\n",                   /* control character */
		"te\xc0\xafxt\n\n\xe2\x80\x94 k AAAAAAAA\n",             /* overlong UTF-8 */
	};
	struct rb_buf many = RB_BUF_INIT;
	struct note *n = NULL;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		int r = note_parse(bad[i], strlen(bad[i]), &n);

		if (r != RB_E_PARSE)
			fprintf(stderr, "bad note %zu: %d\n", i, r);
		CHECK(r == RB_E_PARSE);
	}
	/* A blank line between signatures makes the first one part of the
	 * text (the text ends at the last blank line), which no signer signed. */
	{
		const char *two = "text\n\n\xe2\x80\x94 k AAAAAAAA\n\n\xe2\x80\x94 k AAAAAAAA\n";

		CHECK_OK(note_parse(two, strlen(two), &n));
		CHECK(n && n->n_sigs == 1 && strncmp(n->text, "text\n\n", 6) == 0);
		note_free(n);
		n = NULL;
	}
	rb_buf_put_str(&many, "text\n\n");
	for (int i = 0; i <= NOTE_MAX_SIGS; i++)
		rb_buf_put_str(&many, "\xe2\x80\x94 k AAAAAAAA\n");
	CHECK_ERR(note_parse(many.data, many.len, &n), RB_E_TOOBIG);
	rb_buf_free(&many);
	CHECK(n == NULL);
	CHECK_OK(note_parse("text\n\n\xe2\x80\x94 k AAAAAAAA\n", 21, &n));
	CHECK(n && n->n_sigs == 1 && n->sigs[0].sig_len == 2);
	note_free(n);
}

static void test_checkpoint(void)
{
	static const char *const bad[] = {
		"origin\n0736\nrs1YPY0ydAV0lxgfrq5pE4oRpUJwo3syeps5+eGUTDI=\n",
		"origin\n736\nrs1YPY0ydAV0lxgfrq5pE4oRpUJwo3syeps5+eGUTDI\n",
		"origin\n736\nrs1YPY0ydAV0lxgfrq5pE4oRpUJwo3syeps5+eGU\n",
		"origin\n-1\nrs1YPY0ydAV0lxgfrq5pE4oRpUJwo3syeps5+eGUTDI=\n",
		"origin\n18446744073709551616\nrs1YPY0ydAV0lxgfrq5pE4oRpUJwo3syeps5+eGUTDI=\n",
		"origin\n736\nrs1YPY0ydAV0lxgfrq5pE4oRpUJwo3syeps5+eGUTDI=\n\n",
		"origin\n736\nrs1YPY0ydAV0lxgfrq5pE4oRpUJwo3syeps5+eGUTDI=",
		"origin\n736\n",
		"or igin\n736\nrs1YPY0ydAV0lxgfrq5pE4oRpUJwo3syeps5+eGUTDI=\n",
	};
	uint8_t root[32];
	_cleanup_free_ char *text = NULL, *signed_cp = NULL;
	_cleanup_(checkpoint_freep) struct checkpoint *c = NULL, *c2 = NULL;
	_cleanup_(note_verifier_freep) struct note_verifier *v = NULL, *vother = NULL;
	struct rb_signer s;
	struct checkpoint *x = NULL;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		CHECK(checkpoint_parse(bad[i], strlen(bad[i]), &x) < 0);
	/* 16 extension lines fit, 17 do not (found by fuzz_audit_note). */
	{
		struct rb_buf b = RB_BUF_INIT;

		rb_buf_put_str(&b, "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
		for (int i = 0; i < CHECKPOINT_MAX_EXT; i++)
			rb_buf_put_str(&b, "ext\n");
		CHECK_OK(checkpoint_parse((char *)b.data, b.len, &x));
		CHECK(x && x->n_ext == CHECKPOINT_MAX_EXT);
		checkpoint_free(x);
		x = NULL;
		rb_buf_put_str(&b, "ext\n");
		CHECK_ERR(checkpoint_parse((char *)b.data, b.len, &x), RB_E_TOOBIG);
		rb_buf_free(&b);
	}
	CHECK(x == NULL);
	for (int i = 0; i < 32; i++)
		root[i] = (uint8_t)i;
	CHECK_OK(checkpoint_format("rombsr.example/audit", 18446744073709551615u, root, &text));
	CHECK_OK(checkpoint_parse(text, strlen(text), &c));
	CHECK(c && c->size == UINT64_MAX && memcmp(c->root, root, 32) == 0 &&
	      strcmp(c->origin, "rombsr.example/audit") == 0);
	CHECK_OK(checkpoint_parse("o\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\next one\n", 57, &c2));
	CHECK(c2 && c2->size == 0 && c2->n_ext == 1 && strcmp(c2->ext[0], "ext one") == 0);

	CHECK_OK(soft_signer_new("ed25519", &s));
	CHECK_OK(note_sign(text, "rombsr.example/audit", &s, &signed_cp));
	CHECK_OK(note_verifier_from_pkey("rombsr.example/audit", s.pub, &v));
	CHECK_OK(checkpoint_verify(signed_cp, strlen(signed_cp), v, &x));
	checkpoint_free(x);
	x = NULL;
	/* The key of a different log (same key, other name) does not verify. */
	CHECK_OK(note_verifier_from_pkey("other.example", s.pub, &vother));
	CHECK_ERR(checkpoint_verify(signed_cp, strlen(signed_cp), vother, &x), RB_E_VERIFY);
	CHECK(x == NULL);
	soft_signer_free(&s);
}

int main(void)
{
	RUN(test_kats);
	RUN(test_forgeries);
	RUN(test_note_syntax);
	RUN(test_checkpoint);
	TEST_MAIN_END();
}
