/* The apply library: the one-pass placeholder locator, detached and
 * response-commit verification, the response binding, and the apply plan
 * (every refusal leaves the disk untouched).
 *
 * Keys are test-only soft signers in an in-memory manifest; documents are
 * built as the parsers would return them. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "apply/apply.h"
#include "apply/locate.h"
#include "apply/verify.h"
#include <openssl/bn.h>
#include <openssl/core_names.h>

#include "harness.h"
#include "pgp/pgp.h"
#include "soft_signer.h"
#include "util/err.h"
#include "util/fileio.h"

HARNESS_GLOBALS;

static char tmpdir[] = "/tmp/rombsr-apply-XXXXXX";
static struct rb_signer s_rsa, s_ec, s_ed, s_other;
static struct manifest man;
static const char *build = "build-7";
static const int64_t t0 = 1760000000;

/* ---- fixtures ----------------------------------------------------------- */

static void make_key(const char *name, const char *purpose, struct rb_signer *s,
		     enum key_status status, struct manifest_key *k)
{
	unsigned char *der = NULL;
	int n;

	memset(k, 0, sizeof(*k));
	k->name = strdup(name);
	k->uri = strdup("pkcs11:token=t;type=private");
	k->purpose = strdup(purpose);
	/* In-memory keys for apply's own checks, never emitted: the queue
	 * key keeps its one purpose, the others may sign every request kind. */
	k->purposes = strcmp(purpose, "queue") == 0 ? KEY_PURPOSE_QUEUE_RESPONSE
						    : KEY_PURPOSES_NODE_DIGEST | KEY_PURPOSE_OPENPGP_DETACHED;
	k->alg = s->alg;
	k->bits = (unsigned)(s->alg == RB_KEY_RSA ? EVP_PKEY_get_bits(s->pub) :
			     s->alg == RB_KEY_EC_P256 ? 256 : 255);
	k->status = status;
	k->created = t0;
	n = i2d_PUBKEY(s->pub, &der);
	k->spki = malloc((size_t)n);
	memcpy(k->spki, der, (size_t)n);
	k->spki_len = (size_t)n;
	OPENSSL_free(der);
	CHECK_OK(manifest_key_derive(k));
}

static struct manifest_key *key(const char *name)
{
	return manifest_find(&man, name);
}

static const struct rb_signer *signer_of(const char *name)
{
	return !strcmp(name, "rsa-key") ? &s_rsa : !strcmp(name, "ec-key") ? &s_ec :
	       !strcmp(name, "other") ? &s_other : &s_ed;
}

static void setup(void)
{
	if (!mkdtemp(tmpdir))
		abort();
	if (soft_signer_new("p256", &s_ec) < 0 || soft_signer_new("ed25519", &s_ed) < 0 ||
	    soft_signer_new("ed25519", &s_other) < 0)
		abort();
	/* A modulus whose top byte is above 0xc2, so that raw signatures can
	 * start with every byte test_verify_raw_that_looks_openpgp needs (a
	 * signature is below the modulus). About half of all keys qualify. */
	for (int tries = 0;; tries++) {
		uint8_t top = 0;
		BIGNUM *n = NULL;

		if (tries == 64 || soft_signer_new("rsa2048", &s_rsa) < 0)
			abort();
		if (EVP_PKEY_get_bn_param(s_rsa.pub, "n", &n) == 1 && BN_num_bytes(n) == 256) {
			uint8_t buf[256];

			BN_bn2bin(n, buf);
			top = buf[0];
		}
		BN_free(n);
		if (top > 0xc2)
			break;
		soft_signer_free(&s_rsa);
	}
	man.keys = calloc(3, sizeof(*man.keys));
	make_key("rsa-key", "release", &s_rsa, KEY_ACTIVE, &man.keys[0]);
	make_key("ec-key", "apk", &s_ec, KEY_ACTIVE, &man.keys[1]);
	make_key("queue", "queue", &s_ed, KEY_ACTIVE, &man.keys[2]);
	man.n_keys = 3;
}

static uint8_t *sign_with(const struct rb_signer *s, enum rb_sig_scheme scheme, const uint8_t *in,
			  size_t inlen, size_t *ret_len)
{
	uint8_t *sig = NULL;

	for (int tries = 0; tries < 200; tries++) {
		free(sig);
		sig = NULL;
		if (rb_signer_sign(s, scheme, in, inlen, &sig, ret_len) < 0)
			abort();
		if (scheme != RB_SIG_ECDSA_SHA256 || capture_ecdsa_sig_fits(sig))
			return sig;
	}
	abort();
}

static void sha256(const void *p, size_t n, uint8_t out[32])
{
	size_t len;

	if (rb_digest(EVP_sha256(), p, n, out, &len) < 0)
		abort();
}

static struct capture_request *creq(const char *keyname, const char *msg)
{
	struct capture_request *r = NULL;
	uint8_t d[32];

	sha256(msg, strlen(msg), d);
	if (!strcmp(keyname, "ec-key"))
		CHECK_OK(capture_request_new(build, key(keyname), CAPTURE_MECH_ECDSA,
					     RB_SIG_ECDSA_SHA256, d, 32, "t", t0, &r));
	else
		CHECK_OK(capture_request_new(build, key(keyname), CAPTURE_MECH_RSA_PKCS_PSS,
					     RB_SIG_RSA_PSS_SHA256, d, 32, "t", t0, &r));
	return r;
}

static uint8_t *random_bytes(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	if (!p || RAND_bytes(p, (int)n) != 1)
		abort();
	return p;
}

static void der70(const uint8_t *raw, uint8_t *out)
{
	out[0] = 0x30; out[1] = 0x44; out[2] = 0x02; out[3] = 0x20;
	memcpy(out + 4, raw, 32);
	out[36] = 0x02; out[37] = 0x20;
	memcpy(out + 38, raw + 32, 32);
}

/* ---- locate ------------------------------------------------------------- */

static void test_locate_positions(void)
{
	struct capture_request *ec = creq("ec-key", "a"), *rsa = creq("rsa-key", "b"),
			       *absent = creq("ec-key", "c");
	const struct capture_request *reqs[3] = { ec, rsa, absent };
	size_t len = 8192, counts[3] = { 99, 99, 99 };
	uint8_t *buf = random_bytes(len), d[70];

	/* ec raw at the start, rsa at the very end, ec DER in the middle. */
	memcpy(buf, ec->placeholder, 64);
	memcpy(buf + len - rsa->placeholder_len, rsa->placeholder, rsa->placeholder_len);
	der70(ec->placeholder, d);
	memcpy(buf + 3000, d, 70);
	CHECK_OK(apply_locate_placeholders(buf, len, reqs, 3, counts));
	CHECK(counts[0] == 2 && counts[1] == 1 && counts[2] == 0);

	/* Twice: the rsa placeholder again. */
	memcpy(buf + 4000, rsa->placeholder, rsa->placeholder_len);
	CHECK_OK(apply_locate_placeholders(buf, len, reqs, 3, counts));
	CHECK(counts[1] == 2);

	/* Straddling the end of the data: cut short by one byte, not found. */
	CHECK_OK(apply_locate_placeholders(buf, len - 1, reqs, 3, counts));
	CHECK(counts[1] == 1);
	/* And a head that matches without the rest. */
	memcpy(buf + 6000, absent->placeholder, 32);
	CHECK_OK(apply_locate_placeholders(buf, len, reqs, 3, counts));
	CHECK(counts[2] == 0);

	/* Tiny and empty inputs. */
	CHECK_OK(apply_locate_placeholders(buf, 7, reqs, 3, counts));
	CHECK(counts[0] == 0);
	CHECK_OK(apply_locate_placeholders(NULL, 0, reqs, 3, counts));
	CHECK_ERR(apply_locate_placeholders(NULL, 5, reqs, 3, counts), RB_E_INVAL);
	free(buf);
	capture_request_free(ec);
	capture_request_free(rsa);
	capture_request_free(absent);
}

/* Many requests against a naive count: the hash table must not lose any. */
static void test_locate_many(void)
{
	enum { N = 600 };
	struct capture_request *rs[N];
	size_t counts[N], len = 1 << 20;
	uint8_t *buf = random_bytes(len);
	bool ok = true;

	for (int i = 0; i < N; i++) {
		char msg[32];

		snprintf(msg, sizeof(msg), "m%d", i);
		rs[i] = creq(i % 2 ? "ec-key" : "rsa-key", msg);
		/* i % 3 == 0: absent; else once; i % 5 == 0: twice. */
		if (i % 3 == 0)
			continue;
		memcpy(buf + (size_t)i * 1700, rs[i]->placeholder, rs[i]->placeholder_len);
		if (i % 5 == 0) {
			if (i % 2) {
				uint8_t d[70];

				der70(rs[i]->placeholder, d);
				memcpy(buf + (size_t)i * 1700 + 800, d, 70);
			} else {
				memcpy(buf + (size_t)i * 1700 + 600, rs[i]->placeholder, 256);
			}
		}
	}
	CHECK_OK(apply_locate_placeholders(buf, len, (const struct capture_request *const *)rs, N,
					   counts));
	for (int i = 0; i < N; i++) {
		size_t want = i % 3 == 0 ? 0 : i % 5 == 0 ? 2 : 1;

		ok &= counts[i] == want;
		capture_request_free(rs[i]);
	}
	CHECK(ok);
	free(buf);
}

static void test_locate_file(void)
{
	struct capture_request *ec = creq("ec-key", "f");
	const struct capture_request *reqs[1] = { ec };
	char path[512], link[512];
	size_t counts[1];
	uint8_t *buf = random_bytes(5000);

	memcpy(buf + 4936, ec->placeholder, 64);
	snprintf(path, sizeof(path), "%s/loc.bin", tmpdir);
	snprintf(link, sizeof(link), "%s/loc.link", tmpdir);
	CHECK_OK(rb_file_write_atomic(path, buf, 5000, 0644));
	CHECK_OK(apply_locate_file(path, reqs, 1, counts));
	CHECK(counts[0] == 1);
	CHECK(symlink(path, link) == 0);
	CHECK_ERR(apply_locate_file(link, reqs, 1, counts), RB_E_INVAL);
	CHECK_ERR(apply_locate_file(tmpdir, reqs, 1, counts), RB_E_INVAL);
	snprintf(path, sizeof(path), "%s/missing", tmpdir);
	CHECK_ERR(apply_locate_file(path, reqs, 1, counts), RB_E_NOTFOUND);
	free(buf);
	capture_request_free(ec);
}

/* ---- detached verification --------------------------------------------- */

static uint8_t *pgp_sig(const struct rb_signer *s, const void *data, size_t len, bool armor,
			size_t *ret_len)
{
	struct pgp_key *pk = NULL;
	struct rb_buf bin = RB_BUF_INIT, arm = RB_BUF_INIT;

	CHECK_OK(pgp_key_new(s, t0, &pk));
	CHECK_OK(pgp_sign_buffer(pk, PGP_SIG_BINARY, PGP_HASH_SHA256, t0 + 5, data, len, &bin));
	pgp_key_free(pk);
	if (!armor)
		return rb_buf_steal(&bin, ret_len);
	CHECK_OK(pgp_armor(PGP_ARMOR_SIGNATURE, bin.data, bin.len, &arm));
	rb_buf_free(&bin);
	return rb_buf_steal(&arm, ret_len);
}

static void test_verify_detached(void)
{
	const char *file = "release tarball bytes";
	size_t n = strlen(file), len;
	struct apply_verify_result r;
	uint8_t d[32], *sig, *der;
	size_t derlen;

	sha256(file, n, d);
	/* RSA PKCS#1 and PSS over SHA-256 of the file. */
	sig = sign_with(&s_rsa, RB_SIG_RSA_PSS_SHA256, d, 32, &len);
	CHECK_OK(apply_verify_detached(&man, (const uint8_t *)file, n, sig, len, "f.sig", &r));
	CHECK(r.key == key("rsa-key") && r.scheme == RB_SIG_RSA_PSS_SHA256);
	sig[len / 2] ^= 1;
	CHECK_ERR(apply_verify_detached(&man, (const uint8_t *)file, n, sig, len, "f.sig", &r),
		  RB_E_VERIFY);
	free(sig);
	/* ECDSA as DER. */
	sig = sign_with(&s_ec, RB_SIG_ECDSA_SHA256, d, 32, &len);
	CHECK_OK(rb_ecdsa_raw_to_der(sig, len, &der, &derlen));
	CHECK_OK(apply_verify_detached(&man, (const uint8_t *)file, n, der, derlen, "f.sig", &r));
	CHECK(r.key == key("ec-key") && r.form == APPLY_FORM_RAW_DIGEST);
	/* The same signature over a modified file. */
	CHECK_ERR(apply_verify_detached(&man, (const uint8_t *)"Release tarball bytes", n, der,
					derlen, "f.sig", &r), RB_E_VERIFY);
	free(der);
	free(sig);
	/* Ed25519: digest form (queue) and whole-file form (sign-file). */
	sig = sign_with(&s_ed, RB_SIG_ED25519, d, 32, &len);
	CHECK_OK(apply_verify_detached(&man, (const uint8_t *)file, n, sig, len, "f.sig", &r));
	CHECK(r.form == APPLY_FORM_ED25519_DIGEST);
	free(sig);
	sig = sign_with(&s_ed, RB_SIG_ED25519, (const uint8_t *)file, n, &len);
	CHECK_OK(apply_verify_detached(&man, (const uint8_t *)file, n, sig, len, "f.sig", &r));
	CHECK(r.form == APPLY_FORM_ED25519_FILE);
	free(sig);
	/* A key that is not in the manifest. */
	sig = sign_with(&s_other, RB_SIG_ED25519, d, 32, &len);
	CHECK_ERR(apply_verify_detached(&man, (const uint8_t *)file, n, sig, len, "f.sig", &r),
		  RB_E_VERIFY);
	free(sig);
	/* OpenPGP, binary and armored. */
	sig = pgp_sig(&s_rsa, file, n, false, &len);
	CHECK_OK(apply_verify_detached(&man, (const uint8_t *)file, n, sig, len, "f.sig", &r));
	CHECK(r.form == APPLY_FORM_OPENPGP && !r.armored && r.key == key("rsa-key"));
	CHECK_ERR(apply_verify_detached(&man, (const uint8_t *)file, n - 1, sig, len, "f.sig", &r),
		  RB_E_VERIFY);
	free(sig);
	sig = pgp_sig(&s_ed, file, n, true, &len);
	CHECK_OK(apply_verify_detached(&man, (const uint8_t *)file, n, sig, len, "f.asc", &r));
	CHECK(r.form == APPLY_FORM_OPENPGP && r.armored && r.key == key("queue"));
	free(sig);
	sig = pgp_sig(&s_other, file, n, true, &len);
	CHECK_ERR(apply_verify_detached(&man, (const uint8_t *)file, n, sig, len, "f.asc", &r),
		  RB_E_VERIFY);
	free(sig);

	/* Retired keys still verify; revoked keys fail. */
	sig = sign_with(&s_rsa, RB_SIG_RSA_PKCS1_SHA256, d, 32, &len);
	key("rsa-key")->status = KEY_RETIRED;
	CHECK_OK(apply_verify_detached(&man, (const uint8_t *)file, n, sig, len, "f.sig", &r));
	CHECK(r.key->status == KEY_RETIRED);
	key("rsa-key")->status = KEY_REVOKED;
	CHECK_ERR(apply_verify_detached(&man, (const uint8_t *)file, n, sig, len, "f.sig", &r),
		  RB_E_PERM);
	key("rsa-key")->status = KEY_ACTIVE;
	free(sig);
}

/* A raw RSA signature is random bytes; some start like an OpenPGP packet
 * and even parse far enough to fail as an unsupported one: 0x8b (an old
 * packet of indeterminate length), 0xc2 followed by 224..254 (a partial
 * body length). They must still verify as what they are. */
static bool looks_unsupported_pgp(const uint8_t *sig)
{
	return sig[0] == 0x8b || (sig[0] == 0xc2 && sig[1] >= 224 && sig[1] <= 254);
}

static void test_verify_raw_that_looks_openpgp(void)
{
	bool seen_8b = false, seen_c2 = false;
	struct apply_verify_result r;
	char file[64];

	for (size_t tries = 0; tries < 40000 && !(seen_8b && seen_c2); tries++) {
		uint8_t d[32], *sig;
		size_t n, len;

		n = (size_t)snprintf(file, sizeof(file), "artifact number %zu", tries);
		sha256(file, n, d);
		sig = sign_with(&s_rsa, RB_SIG_RSA_PKCS1_SHA256, d, 32, &len);
		if (looks_unsupported_pgp(sig) && !(sig[0] == 0x8b ? seen_8b : seen_c2)) {
			*(sig[0] == 0x8b ? &seen_8b : &seen_c2) = true;
			CHECK_OK(apply_verify_detached(&man, (const uint8_t *)file, n, sig, len, "f.sig", &r));
			CHECK(r.form == APPLY_FORM_RAW_DIGEST && r.key == key("rsa-key"));
			/* ... and a flipped bit still fails. */
			sig[len - 1] ^= 1;
			CHECK(apply_verify_detached(&man, (const uint8_t *)file, n, sig, len, "f.sig", &r) < 0);
		}
		free(sig);
	}
	CHECK(seen_8b && seen_c2);
}

/* ---- response commit and binding --------------------------------------- */

static void test_commit_check(void)
{
	const char *commit = "tree 0123\nauthor q <q@x> 1 +0000\n\nresponse\n";
	size_t n = strlen(commit), len;
	const struct manifest_key *k = NULL;
	uint8_t *sig = pgp_sig(&s_ed, commit, n, true, &len), *bin;

	CHECK_OK(apply_commit_check(&man, sig, len, (const uint8_t *)commit, n, &k));
	CHECK(k == key("queue"));
	/* The commit data altered after signing. */
	CHECK_ERR(apply_commit_check(&man, sig, len, (const uint8_t *)"tree 1123", 9, &k),
		  RB_E_VERIFY);
	/* Queue key revoked. */
	key("queue")->status = KEY_REVOKED;
	CHECK_ERR(apply_commit_check(&man, sig, len, (const uint8_t *)commit, n, &k), RB_E_PERM);
	key("queue")->status = KEY_ACTIVE;
	free(sig);
	/* Signed by a key that is in the manifest but is not the queue key. */
	sig = pgp_sig(&s_rsa, commit, n, true, &len);
	CHECK_ERR(apply_commit_check(&man, sig, len, (const uint8_t *)commit, n, &k), RB_E_VERIFY);
	free(sig);
	/* Signed by a stranger; and a binary (unarmored) header. */
	sig = pgp_sig(&s_other, commit, n, true, &len);
	CHECK_ERR(apply_commit_check(&man, sig, len, (const uint8_t *)commit, n, &k), RB_E_VERIFY);
	free(sig);
	bin = pgp_sig(&s_ed, commit, n, false, &len);
	CHECK_ERR(apply_commit_check(&man, bin, len, (const uint8_t *)commit, n, &k), RB_E_PARSE);
	free(bin);
}

static void test_response_check(void)
{
	const char *doc = "{\"request\":1}\n";
	const char *commit = "0123456789abcdef0123456789abcdef01234567";
	struct request_doc req = { .node = (char *)"builder1", .build_id = (char *)build };
	struct response_doc resp = { .node = (char *)"builder1", .build_id = (char *)build };

	memcpy(resp.request_commit, commit, 41);
	sha256(doc, strlen(doc), resp.request_sha256);
	CHECK_OK(apply_response_check(&resp, &req, (const uint8_t *)doc, strlen(doc), commit));
	CHECK_ERR(apply_response_check(&resp, &req, (const uint8_t *)"{\"request\":2}\n",
				       strlen(doc), commit), RB_E_VERIFY);
	CHECK_ERR(apply_response_check(&resp, &req, (const uint8_t *)doc, strlen(doc),
				       "1123456789abcdef0123456789abcdef01234567"), RB_E_VERIFY);
	resp.build_id = (char *)"build-8";
	CHECK_ERR(apply_response_check(&resp, &req, (const uint8_t *)doc, strlen(doc), commit),
		  RB_E_VERIFY);
	resp.build_id = (char *)build;
	resp.node = (char *)"builder2";
	CHECK_ERR(apply_response_check(&resp, &req, (const uint8_t *)doc, strlen(doc), commit),
		  RB_E_VERIFY);
}

/* ---- the plan ----------------------------------------------------------- */

/* A build with three artifacts:
 *   app.bin   two capture placeholders: ECDSA (DER form) and RSA-PSS (raw)
 *   tool.tgz  raw ECDSA -> tool.tgz.sig (DER); openpgp armored -> .asc
 *   notes.txt raw Ed25519 over the digest -> notes.txt.sig
 * and a fourth, data.bin, with no requests (only checked). */
struct fixture {
	char root[512];
	struct request_doc req;
	struct response_doc resp;
	struct request_artifact arts[4];
	struct request_entry ents[5];
	struct response_entry ans[5];
	uint8_t *file[4];
	size_t file_len[4];
};

static void fx_artifact(struct fixture *f, size_t i, const char *name, uint8_t *data, size_t len)
{
	char path[700];

	f->arts[i] = (struct request_artifact){ .name = strdup(name), .size = len };
	sha256(data, len, f->arts[i].sha256);
	f->file[i] = data;
	f->file_len[i] = len;
	snprintf(path, sizeof(path), "%s/%s", f->root, name);
	CHECK_OK(rb_file_write_atomic(path, data, len, 0640));
}

static void fx_entry(struct fixture *f, size_t i, enum request_kind kind, size_t art,
		     const char *keyname, enum rb_sig_scheme scheme, struct capture_request *cr)
{
	struct request_entry *e = &f->ents[i];
	struct response_entry *a = &f->ans[i];
	const struct manifest_key *k = key(keyname);

	*e = (struct request_entry){ .kind = kind, .artifact = art, .key_name = strdup(keyname),
				     .scheme = scheme, .capture = cr };
	memcpy(e->key_spki_sha256, k->spki_sha256, 32);
	if (cr) {
		memcpy(e->id, cr->id, 32);
		e->input = malloc(cr->input_len);
		memcpy(e->input, cr->input, cr->input_len);
		e->input_len = cr->input_len;
	} else {
		uint8_t seed[40];

		snprintf((char *)seed, sizeof(seed), "entry-%zu", i);
		sha256(seed, strlen((char *)seed), e->id);
		e->input = malloc(32);
		sha256(f->file[art], f->file_len[art], e->input);
		e->input_len = 32;
	}
	for (int j = 0; j < 32; j++)
		snprintf(e->id_hex + 2 * j, 3, "%02x", e->id[j]);
	*a = (struct response_entry){ .status = RESPONSE_SIGNED, .kind = kind,
				      .key_name = strdup(keyname), .scheme = scheme };
	memcpy(a->id, e->id, 32);
	memcpy(a->id_hex, e->id_hex, sizeof(a->id_hex));
	memcpy(a->key_spki_sha256, k->spki_sha256, 32);
	if (kind == REQUEST_KIND_OPENPGP) {
		e->armor = true;
		a->signature = pgp_sig(signer_of(keyname), f->file[art], f->file_len[art], false,
				       &a->signature_len);
	} else {
		a->signature = sign_with(signer_of(keyname), scheme, e->input, e->input_len,
					 &a->signature_len);
	}
}

static void fx_init(struct fixture *f, const char *sub)
{
	struct capture_request *ec = creq("ec-key", sub), *rsa = creq("rsa-key", sub);
	size_t len = 20000;
	uint8_t *app = random_bytes(len), d[70];

	memset(f, 0, sizeof(*f));
	snprintf(f->root, sizeof(f->root), "%s/%s", tmpdir, sub);
	CHECK(mkdir(f->root, 0755) == 0);
	der70(ec->placeholder, d);
	memcpy(app + 1000, d, 70);
	memcpy(app + 9000, rsa->placeholder, rsa->placeholder_len);
	fx_artifact(f, 0, "app.bin", app, len);
	fx_artifact(f, 1, "tool.tgz", random_bytes(3000), 3000);
	fx_artifact(f, 2, "notes.txt", (uint8_t *)strdup("release notes\n"), 14);
	fx_artifact(f, 3, "data.bin", random_bytes(100), 100);
	fx_entry(f, 0, REQUEST_KIND_CAPTURE, 0, "ec-key", RB_SIG_ECDSA_SHA256, ec);
	fx_entry(f, 1, REQUEST_KIND_CAPTURE, 0, "rsa-key", RB_SIG_RSA_PSS_SHA256, rsa);
	fx_entry(f, 2, REQUEST_KIND_RAW, 1, "ec-key", RB_SIG_ECDSA_SHA256, NULL);
	fx_entry(f, 3, REQUEST_KIND_OPENPGP, 1, "rsa-key", 0, NULL);
	fx_entry(f, 4, REQUEST_KIND_RAW, 2, "queue", RB_SIG_ED25519, NULL);
	f->req = (struct request_doc){ .node = (char *)"builder1", .build_id = (char *)build,
				       .artifacts = f->arts, .n_artifacts = 4, .entries = f->ents,
				       .n_entries = 5 };
	f->resp = (struct response_doc){ .node = (char *)"builder1", .build_id = (char *)build,
					 .entries = f->ans, .n_entries = 5 };
}

static void fx_done(struct fixture *f)
{
	for (size_t i = 0; i < 4; i++) {
		free(f->arts[i].name);
		free(f->file[i]);
	}
	for (size_t i = 0; i < 5; i++) {
		free(f->ents[i].key_name);
		free(f->ents[i].input);
		capture_request_free(f->ents[i].capture);
		free(f->ans[i].key_name);
		free(f->ans[i].signature);
		free(f->ans[i].message);
	}
}

/* The root holds exactly what fx_init wrote: nothing was applied. */
static bool fx_untouched(const struct fixture *f)
{
	static const char *const sigs[] = { "app.bin.sig", "tool.tgz.sig", "tool.tgz.asc",
					    "notes.txt.sig" };
	char path[700];

	for (size_t i = 0; i < 4; i++) {
		uint8_t *data = NULL;
		size_t len;
		bool same;

		snprintf(path, sizeof(path), "%s/%s", f->root, f->arts[i].name);
		if (rb_file_read(path, 1 << 20, &data, &len) < 0)
			return false;
		same = len == f->file_len[i] && memcmp(data, f->file[i], len) == 0;
		free(data);
		if (!same)
			return false;
	}
	for (size_t i = 0; i < ELEMENTSOF(sigs); i++) {
		snprintf(path, sizeof(path), "%s/%s", f->root, sigs[i]);
		if (access(path, F_OK) == 0)
			return false;
	}
	return true;
}

static int fx_apply(struct fixture *f, const struct apply_options *opt)
{
	struct apply_plan *p = NULL;
	int err = apply_plan_build(&man, &f->req, &f->resp, f->root, opt, &p);

	if (err == RB_OK)
		err = apply_plan_write(p, f->root);
	apply_plan_free(p);
	return err;
}

static void test_plan_success(void)
{
	struct fixture f;
	struct apply_plan *p = NULL;
	struct apply_verify_result r;
	char path[700];
	uint8_t *data = NULL, d[70];
	size_t len;
	struct stat st;

	fx_init(&f, "ok");
	CHECK_OK(apply_plan_build(&man, &f.req, &f.resp, f.root, NULL, &p));
	CHECK(p && p->n_rejections == 0 && p->n_outputs == 4);
	CHECK(p && p->artifacts[0].n_capture == 2 && p->artifacts[1].n_raw == 1 &&
	      p->artifacts[1].n_openpgp == 1 && p->artifacts[2].n_raw == 1);
	CHECK(fx_untouched(&f));
	CHECK_OK(apply_plan_write(p, f.root));
	apply_plan_free(p);

	/* The artifact holds the real signatures in the placeholders' forms. */
	snprintf(path, sizeof(path), "%s/app.bin", f.root);
	CHECK_OK(rb_file_read(path, 1 << 20, &data, &len));
	der70(f.ans[0].signature, d);
	CHECK(len == 20000 && memcmp(data + 1000, d, 70) == 0);
	CHECK(memcmp(data + 9000, f.ans[1].signature, f.ans[1].signature_len) == 0);
	CHECK(memcmp(data, f.file[0], 1000) == 0);
	free(data);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);

	/* The detached files verify as `rombsr verify` checks them. */
	snprintf(path, sizeof(path), "%s/tool.tgz", f.root);
	CHECK_OK(apply_verify_path(&man, path, &r)); /* .asc first */
	CHECK(r.form == APPLY_FORM_OPENPGP && r.armored && r.key == key("rsa-key"));
	snprintf(path, sizeof(path), "%s/tool.tgz.asc", f.root);
	CHECK(unlink(path) == 0);
	snprintf(path, sizeof(path), "%s/tool.tgz", f.root);
	CHECK_OK(apply_verify_path(&man, path, &r));
	CHECK(r.form == APPLY_FORM_RAW_DIGEST && r.key == key("ec-key"));
	snprintf(path, sizeof(path), "%s/notes.txt", f.root);
	CHECK_OK(apply_verify_path(&man, path, &r));
	CHECK(r.form == APPLY_FORM_ED25519_DIGEST && r.key == key("queue"));
	snprintf(path, sizeof(path), "%s/data.bin", f.root);
	CHECK_ERR(apply_verify_path(&man, path, &r), RB_E_NOTFOUND);

	/* Applying again: app.bin is no longer the submitted artifact. */
	CHECK_ERR(fx_apply(&f, NULL), RB_E_VERIFY);
	fx_done(&f);
}

static void test_plan_tampered_signature(void)
{
	struct fixture f;

	for (size_t i = 0; i < 5; i++) {
		char sub[32];

		snprintf(sub, sizeof(sub), "tamper%zu", i);
		fx_init(&f, sub);
		f.ans[i].signature[f.ans[i].signature_len - 2] ^= 0x01;
		CHECK_ERR(fx_apply(&f, NULL), RB_E_VERIFY);
		CHECK(fx_untouched(&f));
		fx_done(&f);
	}
}

static void test_plan_answers_mismatch(void)
{
	struct fixture f;

	/* A request the response does not answer. */
	fx_init(&f, "missing");
	f.resp.n_entries = 4;
	CHECK_ERR(fx_apply(&f, NULL), RB_E_VERIFY);
	CHECK(fx_untouched(&f));
	/* An answer without a request. */
	f.resp.n_entries = 5;
	f.req.n_entries = 4;
	CHECK_ERR(fx_apply(&f, NULL), RB_E_VERIFY);
	f.req.n_entries = 5;
	/* An answer by another key than asked (a valid signature by it). */
	free(f.ans[4].key_name);
	f.ans[4].key_name = strdup("rsa-key");
	CHECK_ERR(fx_apply(&f, NULL), RB_E_VERIFY);
	CHECK(fx_untouched(&f));
	fx_done(&f);

	/* Answered under another scheme. */
	fx_init(&f, "scheme");
	f.ans[1].scheme = RB_SIG_RSA_PKCS1_SHA256;
	CHECK_ERR(fx_apply(&f, NULL), RB_E_VERIFY);
	CHECK(fx_untouched(&f));
	fx_done(&f);
}

static void test_plan_rejections(void)
{
	struct fixture f;
	struct apply_plan *p = NULL;

	fx_init(&f, "rejected");
	f.ans[3].status = RESPONSE_REJECTED;
	f.ans[3].reason = RESPONSE_REASON_QUOTA_HOUR;
	f.ans[3].message = strdup("hourly quota of key rsa-key reached");
	CHECK_OK(apply_plan_build(&man, &f.req, &f.resp, f.root, NULL, &p));
	CHECK(p && p->n_rejections == 1 && p->n_outputs == 0);
	if (p && p->n_rejections == 1) {
		CHECK(p->rejections[0].artifact == 1);
		CHECK(!strcmp(p->rejections[0].key_name, "rsa-key"));
		CHECK(p->rejections[0].reason == RESPONSE_REASON_QUOTA_HOUR);
		CHECK(!strcmp(p->rejections[0].id_hex, f.ents[3].id_hex));
	}
	CHECK_ERR(apply_plan_write(p, f.root), RB_E_PERM);
	apply_plan_free(p);
	CHECK(fx_untouched(&f));
	fx_done(&f);
}

static void test_plan_keys(void)
{
	struct fixture f;

	fx_init(&f, "revoked");
	key("ec-key")->status = KEY_REVOKED;
	CHECK_ERR(fx_apply(&f, NULL), RB_E_PERM);
	key("ec-key")->status = KEY_RETIRED; /* retired still applies */
	CHECK_OK(fx_apply(&f, NULL));
	key("ec-key")->status = KEY_ACTIVE;
	fx_done(&f);

	fx_init(&f, "fpr");
	f.ents[2].key_spki_sha256[0] ^= 1;
	f.ans[2].key_spki_sha256[0] ^= 1;
	CHECK_ERR(fx_apply(&f, NULL), RB_E_KEY);
	CHECK(fx_untouched(&f));
	fx_done(&f);
}

static void test_plan_artifacts(void)
{
	struct fixture f;
	char path[700], target[700];
	uint8_t *dup;
	struct capture_request *ec;

	/* Changed after submit. */
	fx_init(&f, "changed");
	snprintf(path, sizeof(path), "%s/data.bin", f.root);
	CHECK_OK(rb_file_write_atomic(path, "x", 1, 0644));
	CHECK_ERR(fx_apply(&f, NULL), RB_E_VERIFY);
	fx_done(&f);

	/* A symbolic link in place of an artifact, to the very same bytes. */
	fx_init(&f, "symlink");
	snprintf(path, sizeof(path), "%s/notes.txt", f.root);
	snprintf(target, sizeof(target), "%s/real-notes", f.root);
	CHECK(rename(path, target) == 0 && symlink(target, path) == 0);
	CHECK_ERR(fx_apply(&f, NULL), RB_E_INVAL);
	fx_done(&f);

	/* Missing. */
	fx_init(&f, "gone");
	snprintf(path, sizeof(path), "%s/tool.tgz", f.root);
	CHECK(unlink(path) == 0);
	CHECK_ERR(fx_apply(&f, NULL), RB_E_NOTFOUND);
	fx_done(&f);

	/* A placeholder present twice (recorded so in the request). */
	fx_init(&f, "twice");
	dup = f.file[0];
	memcpy(dup + 15000, f.ents[1].capture->placeholder, f.ents[1].capture->placeholder_len);
	sha256(dup, f.file_len[0], f.arts[0].sha256);
	snprintf(path, sizeof(path), "%s/app.bin", f.root);
	CHECK_OK(rb_file_write_atomic(path, dup, f.file_len[0], 0640));
	CHECK_ERR(fx_apply(&f, NULL), RB_E_STATE);
	CHECK(fx_untouched(&f));
	fx_done(&f);

	/* A placeholder that is not in its artifact. */
	fx_init(&f, "absent");
	ec = creq("ec-key", "not-in-it");
	capture_request_free(f.ents[0].capture);
	f.ents[0].capture = ec;
	memcpy(f.ents[0].id, ec->id, 32);
	memcpy(f.ents[0].id_hex, ec->id_hex, sizeof(ec->id_hex));
	memcpy(f.ans[0].id, ec->id, 32);
	memcpy(f.ents[0].input, ec->input, 32);
	free(f.ans[0].signature);
	f.ans[0].signature = sign_with(&s_ec, RB_SIG_ECDSA_SHA256, ec->input, 32,
				       &f.ans[0].signature_len);
	CHECK_ERR(fx_apply(&f, NULL), RB_E_STATE);
	CHECK(fx_untouched(&f));
	fx_done(&f);
}

static void test_plan_existing_detached(void)
{
	struct fixture f;
	struct apply_plan *p = NULL;
	struct apply_options force = { .force_detached = true };
	char path[700];
	uint8_t *data = NULL;
	size_t len;

	fx_init(&f, "existing");
	snprintf(path, sizeof(path), "%s/notes.txt.sig", f.root);
	CHECK_OK(rb_file_write_atomic(path, "someone else's", 14, 0644));
	CHECK_ERR(fx_apply(&f, NULL), RB_E_EXISTS);
	snprintf(path, sizeof(path), "%s/app.bin", f.root);
	CHECK_OK(rb_file_read(path, 1 << 20, &data, &len));
	CHECK(len == f.file_len[0] && memcmp(data, f.file[0], len) == 0);
	free(data);
	CHECK_OK(fx_apply(&f, &force));
	snprintf(path, sizeof(path), "%s/notes.txt.sig", f.root);
	CHECK_OK(rb_file_read(path, 1 << 20, &data, &len));
	CHECK(len == 64 && memcmp(data, f.ans[4].signature, 64) == 0);
	free(data);
	fx_done(&f);

	/* The same bytes already there: nothing to write for it. */
	fx_init(&f, "same");
	snprintf(path, sizeof(path), "%s/notes.txt.sig", f.root);
	CHECK_OK(rb_file_write_atomic(path, f.ans[4].signature, 64, 0644));
	CHECK_OK(apply_plan_build(&man, &f.req, &f.resp, f.root, NULL, &p));
	for (size_t k = 0; p && k < p->n_outputs; k++)
		CHECK(p->outputs[k].unchanged == !strcmp(p->outputs[k].name, "notes.txt.sig"));
	apply_plan_free(p);
	fx_done(&f);
}

int main(void)
{
	setup();
	RUN(test_locate_positions);
	RUN(test_locate_many);
	RUN(test_locate_file);
	RUN(test_verify_detached);
	RUN(test_verify_raw_that_looks_openpgp);
	RUN(test_commit_check);
	RUN(test_response_check);
	RUN(test_plan_success);
	RUN(test_plan_tampered_signature);
	RUN(test_plan_answers_mismatch);
	RUN(test_plan_rejections);
	RUN(test_plan_keys);
	RUN(test_plan_artifacts);
	RUN(test_plan_existing_detached);
	for (size_t i = 0; i < man.n_keys; i++)
		manifest_key_clear(&man.keys[i]);
	free(man.keys);
	soft_signer_free(&s_rsa);
	soft_signer_free(&s_ec);
	soft_signer_free(&s_ed);
	soft_signer_free(&s_other);
	if (fork() == 0) {
		execlp("rm", "rm", "-rf", tmpdir, (char *)NULL);
		_exit(127);
	}
	wait(NULL);
	TEST_MAIN_END();
}
