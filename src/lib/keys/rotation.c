#include "keys/rotation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"
#include "keys/keyspec.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/timefmt.h"

/* Domain separation: each key signs a message that says which side of
 * the rotation it speaks for, so one signature can never stand in for the
 * other even when old and new are the same algorithm. */
#define PROOF_OLD "rombsr-rotation-statement/v1 old key vouches for new key\n"
#define PROOF_NEW "rombsr-rotation-statement/v1 new key vouches for old key\n"

void rotation_statement_free(struct rotation_statement *st)
{
	if (!st)
		return;
	manifest_key_clear(&st->old_key);
	manifest_key_clear(&st->new_key);
	free(st->old_sig);
	free(st->new_sig);
	free(st);
}

static int set_b64(struct json_value *o, const char *key, const uint8_t *p, size_t n)
{
	_cleanup_free_ char *s = NULL;
	int err;

	if ((err = rb_base64_encode(p, n, true, &s)) < 0)
		return err;
	return json_object_set_string(o, key, s);
}

static int key_object(const struct manifest_key *k, struct json_value **ret)
{
	_cleanup_json_ struct json_value *o = NULL;
	_cleanup_free_ char *fpr = NULL;
	char alg[16];
	int err;

	if ((err = rb_hex_encode(k->spki_sha256, 32, &fpr)) < 0 || (err = json_new_object(&o)) < 0 ||
	    (err = json_object_set_string(o, "name", k->name)) < 0 ||
	    (err = json_object_set_string(o, "algorithm", key_algorithm_format(k->alg, k->bits, alg))) < 0 ||
	    (err = set_b64(o, "spki", k->spki, k->spki_len)) < 0 ||
	    (err = json_object_set_string(o, "spki_sha256", fpr)) < 0 ||
	    (err = set_b64(o, "certificate", k->cert, k->cert_len)) < 0)
		return err;
	*ret = TAKE_PTR(o);
	return RB_OK;
}

/* The signed body: everything but the two signatures. */
static int body_object(int64_t t, const struct manifest_key *old_key, const struct manifest_key *new_key,
		       struct json_value **ret)
{
	_cleanup_json_ struct json_value *o = NULL, *ko = NULL, *kn = NULL;
	char ts[RB_TIME_LEN + 1];
	int err;

	rb_time_format(t, ts);
	if ((err = key_object(old_key, &ko)) < 0 || (err = key_object(new_key, &kn)) < 0 ||
	    (err = json_new_object(&o)) < 0 ||
	    (err = json_object_set_string(o, "format", ROTATION_FORMAT)) < 0 ||
	    (err = json_object_set_int(o, "version", ROTATION_VERSION)) < 0 ||
	    (err = json_object_set_string(o, "time", ts)) < 0 ||
	    (err = json_object_set(o, "old", TAKE_PTR(ko))) < 0 ||
	    (err = json_object_set(o, "new", TAKE_PTR(kn))) < 0)
		return err;
	*ret = TAKE_PTR(o);
	return RB_OK;
}

static int proof_message(const char *domain, const struct json_value *body, struct rb_buf *out)
{
	int err;

	if ((err = rb_buf_put_str(out, domain)) < 0)
		return err;
	return json_emit(body, JSON_CANONICAL, out);
}

static enum rb_sig_scheme scheme_for(enum rb_key_alg alg)
{
	switch (alg) {
	case RB_KEY_RSA: return RB_SIG_RSA_PKCS1_SHA256;
	case RB_KEY_EC_P256: return RB_SIG_ECDSA_SHA256;
	case RB_KEY_ED25519: return RB_SIG_ED25519;
	}
	return RB_SIG_ED25519;
}

/* What the signer is given: the SHA-256 of msg, or msg itself for Ed25519. */
static int proof_input(enum rb_sig_scheme scheme, const struct rb_buf *msg, uint8_t digest[64],
		       const uint8_t **ret_in, size_t *ret_len)
{
	int err;

	if (scheme == RB_SIG_ED25519) {
		*ret_in = msg->data;
		*ret_len = msg->len;
		return RB_OK;
	}
	if ((err = rb_digest(EVP_sha256(), msg->data, msg->len, digest, ret_len)) < 0)
		return err;
	*ret_in = digest;
	return RB_OK;
}

static int proof_sign(const struct rb_signer *s, enum rb_key_alg alg, const struct rb_buf *msg,
		      uint8_t **ret_sig, size_t *ret_len)
{
	enum rb_sig_scheme scheme = scheme_for(alg);
	uint8_t digest[64];
	const uint8_t *in;
	size_t inlen;
	int err;

	if ((err = proof_input(scheme, msg, digest, &in, &inlen)) < 0)
		return err;
	return rb_signer_sign(s, scheme, in, inlen, ret_sig, ret_len);
}

static int proof_verify(const struct manifest_key *k, const struct rb_buf *msg, const uint8_t *sig,
			size_t siglen)
{
	enum rb_sig_scheme scheme = scheme_for(k->alg);
	uint8_t digest[64];
	const uint8_t *in;
	size_t inlen;
	int err;

	if ((err = proof_input(scheme, msg, digest, &in, &inlen)) < 0)
		return err;
	return rb_sig_verify(k->pub, scheme, in, inlen, sig, siglen);
}

int rotation_statement_verify(const struct rotation_statement *st)
{
	_cleanup_json_ struct json_value *body = NULL;
	struct rb_buf mo = RB_BUF_INIT, mn = RB_BUF_INIT;
	int err;

	if ((err = body_object(st->time, &st->old_key, &st->new_key, &body)) < 0 ||
	    (err = proof_message(PROOF_OLD, body, &mo)) < 0 || (err = proof_message(PROOF_NEW, body, &mn)) < 0)
		goto out;
	if (proof_verify(&st->old_key, &mo, st->old_sig, st->old_sig_len) < 0) {
		err = rb_err_set(RB_E_VERIFY, "rotation statement: old_signature is not a signature by the old "
				 "key '%s' over this statement; it does not prove the rotation", st->old_key.name);
		goto out;
	}
	if (proof_verify(&st->new_key, &mn, st->new_sig, st->new_sig_len) < 0) {
		err = rb_err_set(RB_E_VERIFY, "rotation statement: new_signature is not a signature by the new "
				 "key '%s' over this statement; it does not prove the rotation", st->new_key.name);
		goto out;
	}
	err = RB_OK;
out:
	rb_buf_free(&mo);
	rb_buf_free(&mn);
	return err;
}

int rotation_statement_sign(const struct manifest_key *old_key, const struct rb_signer *old_signer,
			    const struct manifest_key *new_key, const struct rb_signer *new_signer,
			    int64_t t, struct rb_buf *out)
{
	_cleanup_json_ struct json_value *body = NULL;
	_cleanup_(rotation_statement_freep) struct rotation_statement *st = NULL;
	_cleanup_free_ uint8_t *so = NULL, *sn = NULL;
	struct rb_buf mo = RB_BUF_INIT, mn = RB_BUF_INIT, doc = RB_BUF_INIT;
	size_t so_len, sn_len;
	int err;

	if (!old_key->pub || !new_key->pub || !old_signer->pub || !new_signer->pub)
		return RB_E_INVAL;
	if (EVP_PKEY_eq(old_signer->pub, old_key->pub) != 1 || EVP_PKEY_eq(new_signer->pub, new_key->pub) != 1)
		return rb_err_set(RB_E_VERIFY, "rotation statement %s -> %s: a signer's key is not the key it "
				  "signs for", old_key->name, new_key->name);
	if (EVP_PKEY_eq(old_key->pub, new_key->pub) == 1)
		return rb_err_set(RB_E_INVAL, "rotation statement %s -> %s: both are the same key",
				  old_key->name, new_key->name);
	if ((err = body_object(t, old_key, new_key, &body)) < 0 ||
	    (err = proof_message(PROOF_OLD, body, &mo)) < 0 || (err = proof_message(PROOF_NEW, body, &mn)) < 0 ||
	    (err = proof_sign(old_signer, old_key->alg, &mo, &so, &so_len)) < 0 ||
	    (err = proof_sign(new_signer, new_key->alg, &mn, &sn, &sn_len)) < 0 ||
	    (err = set_b64(body, "old_signature", so, so_len)) < 0 ||
	    (err = set_b64(body, "new_signature", sn, sn_len)) < 0 ||
	    (err = json_emit(body, JSON_CANONICAL, &doc)) < 0)
		goto out;
	/* What is written is what a verifier will read: check it that way. */
	if ((err = rotation_statement_parse(doc.data, doc.len, "new statement", &st)) < 0 ||
	    (err = rotation_statement_verify(st)) < 0 ||
	    (err = rb_buf_put(out, doc.data, doc.len)) < 0)
		goto out;
out:
	rb_buf_free(&mo);
	rb_buf_free(&mn);
	rb_buf_free(&doc);
	return err;
}

static int get_b64(const struct json_value *o, const char *key, size_t max, uint8_t **ret, size_t *ret_len)
{
	const char *s;
	size_t n;
	int err;

	if ((err = json_get_string(o, key, &s)) < 0)
		return err;
	n = strlen(s);
	if (n > (max + 2) / 3 * 4)
		return json_err_set(json_object_get(o, key), RB_E_TOOBIG, "%s is larger than %zu bytes", key, max);
	if (rb_base64_decode(s, n, true, ret, ret_len) < 0 || *ret_len == 0)
		return json_err_set(json_object_get(o, key), RB_E_PARSE, "%s is not valid non-empty base64", key);
	return RB_OK;
}

static int parse_key(const struct json_value *parent, const char *member, struct manifest_key *k)
{
	static const char *const required[] = { "name", "algorithm", "spki", "spki_sha256", "certificate",
						NULL };
	const struct json_value *o;
	_cleanup_free_ char *hex = NULL;
	const char *s;
	int err;

	if ((err = json_get_object(parent, member, &o)) < 0 ||
	    (err = json_object_check_keys(o, required, NULL)) < 0 || (err = json_get_string(o, "name", &s)) < 0)
		return err;
	if (!key_name_valid(s))
		return json_err_set(json_object_get(o, "name"), RB_E_PARSE, "invalid key name");
	if (!(k->name = strdup(s)))
		return RB_E_NOMEM;
	if ((err = json_get_string(o, "algorithm", &s)) < 0)
		return err;
	if (key_algorithm_parse(s, &k->alg, &k->bits) < 0)
		return json_err_set(json_object_get(o, "algorithm"), RB_E_UNSUPPORTED,
				    "unsupported algorithm \"%.32s\"", s);
	if ((err = get_b64(o, "spki", ROTATION_SPKI_MAX, &k->spki, &k->spki_len)) < 0 ||
	    (err = get_b64(o, "certificate", ROTATION_CERT_MAX, &k->cert, &k->cert_len)) < 0)
		return err;
	if ((err = manifest_key_derive(k)) < 0)
		return json_err_set(o, err, "%s", rb_err_message(err));
	if ((err = json_get_string(o, "spki_sha256", &s)) < 0 || (err = rb_hex_encode(k->spki_sha256, 32, &hex)) < 0)
		return err;
	if (strcmp(s, hex) != 0)
		return json_err_set(json_object_get(o, "spki_sha256"), RB_E_VERIFY,
				    "spki_sha256 does not match spki (expected %s)", hex);
	return RB_OK;
}

static int parse_doc(const void *bytes, size_t len, struct rotation_statement *st)
{
	static const char *const required[] = { "format", "version", "time", "old", "new", "old_signature",
						"new_signature", NULL };
	const struct json_limits lim = { .max_input = ROTATION_MAX_BYTES, .max_depth = 4 };
	_cleanup_json_ struct json_value *root = NULL;
	struct rb_buf canon = RB_BUF_INIT;
	const char *s;
	int64_t version;
	int err;

	if (len > ROTATION_MAX_BYTES)
		return rb_err_set(RB_E_TOOBIG, "larger than %d bytes", ROTATION_MAX_BYTES);
	if ((err = json_parse(bytes, len, &lim, &root)) < 0 || (err = json_expect_type(root, JSON_OBJECT)) < 0 ||
	    (err = json_object_check_keys(root, required, NULL)) < 0 ||
	    (err = json_get_string(root, "format", &s)) < 0)
		return err;
	if (strcmp(s, ROTATION_FORMAT) != 0)
		return json_err_set(json_object_get(root, "format"), RB_E_PARSE,
				    "format is \"%.40s\", expected \"" ROTATION_FORMAT "\"", s);
	if ((err = json_get_int(root, "version", &version)) < 0)
		return err;
	if (version != ROTATION_VERSION)
		return json_err_set(json_object_get(root, "version"), RB_E_UNSUPPORTED,
				    "version %lld is not supported (this rombsr reads version %d)",
				    (long long)version, ROTATION_VERSION);
	/* One byte string per statement: a signed document has no second,
	 * differently spelled form that another reader might see. */
	if ((err = json_emit(root, JSON_CANONICAL, &canon)) < 0)
		return err;
	err = canon.len == len && memcmp(canon.data, bytes, len) == 0 ? RB_OK : RB_E_PARSE;
	rb_buf_free(&canon);
	if (err < 0)
		return rb_err_set(err, "not in canonical JSON form (RFC 8785, one line, sorted keys)");
	if ((err = json_get_string(root, "time", &s)) < 0)
		return err;
	if (rb_time_parse(s, &st->time) < 0)
		return json_err_set(json_object_get(root, "time"), RB_E_PARSE,
				    "time must look like 2026-01-31T12:00:00Z");
	if ((err = parse_key(root, "old", &st->old_key)) < 0 || (err = parse_key(root, "new", &st->new_key)) < 0 ||
	    (err = get_b64(root, "old_signature", ROTATION_SIG_MAX, &st->old_sig, &st->old_sig_len)) < 0 ||
	    (err = get_b64(root, "new_signature", ROTATION_SIG_MAX, &st->new_sig, &st->new_sig_len)) < 0)
		return err;
	if (strcmp(st->old_key.name, st->new_key.name) == 0 || EVP_PKEY_eq(st->old_key.pub, st->new_key.pub) == 1)
		return rb_err_set(RB_E_PARSE, "old and new name the same key");
	return RB_OK;
}

int rotation_statement_parse(const void *bytes, size_t len, const char *source,
			     struct rotation_statement **ret)
{
	_cleanup_(rotation_statement_freep) struct rotation_statement *st = calloc(1, sizeof(*st));
	char detail[RB_ERR_DETAIL_MAX];
	int err;

	if (!st)
		return RB_E_NOMEM;
	rb_err_clear();
	if ((err = parse_doc(bytes, len, st)) < 0) {
		rb_err_save(err, detail);
		return rb_err_set(err, "rotation statement %s: %s", source, detail);
	}
	*ret = TAKE_PTR(st);
	return RB_OK;
}

static int same_key(const struct manifest_key *in_manifest, const struct manifest_key *in_statement)
{
	return in_manifest->spki_len == in_statement->spki_len &&
	       memcmp(in_manifest->spki, in_statement->spki, in_statement->spki_len) == 0 &&
	       in_manifest->cert_len == in_statement->cert_len &&
	       memcmp(in_manifest->cert, in_statement->cert, in_statement->cert_len) == 0;
}

int rotation_statement_check_manifest(const struct rotation_statement *st, const struct manifest *m)
{
	const struct manifest_key *o = manifest_find(m, st->old_key.name);
	const struct manifest_key *n = manifest_find(m, st->new_key.name);

	if (!o || !n)
		return rb_err_set(RB_E_VERIFY, "rotation statement: the manifest has no key '%s'",
				  !o ? st->old_key.name : st->new_key.name);
	if (!same_key(o, &st->old_key) || !same_key(n, &st->new_key))
		return rb_err_set(RB_E_VERIFY, "rotation statement: key '%s' in the statement is not the key "
				  "of that name in the manifest", !same_key(o, &st->old_key) ? o->name : n->name);
	if (!o->successor || strcmp(o->successor, n->name) != 0 || !n->predecessor ||
	    strcmp(n->predecessor, o->name) != 0)
		return rb_err_set(RB_E_VERIFY, "rotation statement: the manifest does not record '%s' as the "
				  "successor of '%s'", n->name, o->name);
	return RB_OK;
}
