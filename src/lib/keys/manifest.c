#include "keys/manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "json/json.h"
#include "keys/keyspec.h"
#include "pgp/pgp.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/timefmt.h"

const char *key_status_name(enum key_status s)
{
	switch (s) {
	case KEY_ACTIVE: return "active";
	case KEY_RETIRED: return "retired";
	case KEY_REVOKED: return "revoked";
	}
	return "unknown";
}

int key_status_parse(const char *s, enum key_status *ret)
{
	if (strcmp(s, "active") == 0)
		*ret = KEY_ACTIVE;
	else if (strcmp(s, "retired") == 0)
		*ret = KEY_RETIRED;
	else if (strcmp(s, "revoked") == 0)
		*ret = KEY_REVOKED;
	else
		return RB_E_PARSE;
	return RB_OK;
}

void manifest_key_clear(struct manifest_key *k)
{
	if (!k)
		return;
	free(k->name);
	free(k->id);
	free(k->uri);
	free(k->purpose);
	free(k->spki);
	free(k->cert);
	free(k->openpgp);
	free(k->revocation_reason);
	free(k->predecessor);
	free(k->successor);
	EVP_PKEY_free(k->pub);
	memset(k, 0, sizeof(*k));
}

void manifest_free(struct manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_keys; i++)
		manifest_key_clear(&m->keys[i]);
	free(m->keys);
	free(m->token_label);
	free(m->token_uri);
	free(m->token_model);
	free(m);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct manifest *, manifest_free)

struct manifest_key *manifest_find(const struct manifest *m, const char *name)
{
	for (size_t i = 0; i < m->n_keys; i++)
		if (strcmp(m->keys[i].name, name) == 0)
			return &m->keys[i];
	return NULL;
}

/* The OpenPGP certificate must start with exactly the v4 public-key
 * packet of this key at its creation time; its fingerprint follows. */
static int openpgp_cert_matches(struct manifest_key *k)
{
	struct rb_signer verify_only = { .name = k->name, .alg = k->alg, .pub = k->pub };
	_cleanup_(pgp_key_freep) struct pgp_key *pk = NULL;
	struct rb_buf pkt = RB_BUF_INIT;
	int err;

	if ((err = pgp_key_new(&verify_only, k->created, &pk)) < 0)
		return err;
	if ((err = pgp_key_write_packet(pk, &pkt)) < 0)
		return err;
	if (k->openpgp_len < pkt.len || memcmp(k->openpgp, pkt.data, pkt.len) != 0)
		err = rb_err_set(RB_E_VERIFY, "key \"%s\": the OpenPGP certificate is not for this key "
				 "and creation time", k->name);
	else
		memcpy(k->openpgp_fpr, pk->fpr, sizeof(k->openpgp_fpr));
	rb_buf_free(&pkt);
	return err;
}

int manifest_key_derive(struct manifest_key *k)
{
	const unsigned char *p = k->spki;
	X509 *x;
	EVP_PKEY *cert_pub;
	size_t n;
	int err;
	enum rb_key_alg alg;

	EVP_PKEY_free(k->pub);
	k->pub = d2i_PUBKEY(NULL, &p, (long)k->spki_len);
	if (!k->pub || p != k->spki + k->spki_len)
		return rb_err_set(RB_E_PARSE, "key \"%s\": spki is not one DER SubjectPublicKeyInfo", k->name);
	if (rb_pkey_alg(k->pub, &alg) < 0 || alg != k->alg)
		return rb_err_set(RB_E_PARSE, "key \"%s\": spki does not hold a key of its algorithm", k->name);
	if (alg == RB_KEY_RSA && (unsigned)EVP_PKEY_get_bits(k->pub) != k->bits)
		return rb_err_set(RB_E_PARSE, "key \"%s\": spki holds RSA-%d, algorithm says RSA-%u", k->name,
				  EVP_PKEY_get_bits(k->pub), k->bits);
	if ((err = rb_digest(EVP_sha256(), k->spki, k->spki_len, k->spki_sha256, &n)) < 0)
		return err;
	if (k->openpgp && (err = openpgp_cert_matches(k)) < 0)
		return err;
	if (!k->cert)
		return RB_OK;
	p = k->cert;
	x = d2i_X509(NULL, &p, (long)k->cert_len);
	if (!x || p != k->cert + k->cert_len) {
		X509_free(x);
		return rb_err_set(RB_E_PARSE, "key \"%s\": certificate is not one DER X.509 certificate", k->name);
	}
	cert_pub = X509_get0_pubkey(x);
	err = cert_pub && EVP_PKEY_eq(cert_pub, k->pub) == 1 ? RB_OK : RB_E_VERIFY;
	X509_free(x);
	if (err < 0)
		return rb_err_set(err, "key \"%s\": the certificate is for a different key than spki", k->name);
	return rb_digest(EVP_sha256(), k->cert, k->cert_len, k->cert_sha256, &n);
}

static int get_b64(const struct json_value *o, const char *key, bool required, uint8_t **ret,
		   size_t *ret_len)
{
	const char *s;
	int err = required ? json_get_string(o, key, &s) : json_get_string_opt(o, key, &s);

	if (err == RB_E_NOTFOUND) {
		*ret = NULL;
		*ret_len = 0;
		return RB_OK;
	}
	if (err < 0)
		return err;
	if (rb_base64_decode(s, strlen(s), true, ret, ret_len) < 0)
		return json_err_set(json_object_get(o, key), RB_E_PARSE, "%s is not valid base64", key);
	return RB_OK;
}

static int check_hex(const struct json_value *o, const char *key, const uint8_t *want, size_t n)
{
	_cleanup_free_ char *hex = NULL;
	const char *s;
	int err;

	if ((err = json_get_string(o, key, &s)) < 0)
		return err;
	if ((err = rb_hex_encode(want, n, &hex)) < 0)
		return err;
	if (strcmp(hex, s) != 0)
		return json_err_set(json_object_get(o, key), RB_E_VERIFY,
				    "%s does not match the key material (expected %s)", key, hex);
	return RB_OK;
}

/* An optional lineage link: the name of another key. */
static int get_link(const struct json_value *o, const char *key, char **ret)
{
	const char *s;
	int err = json_get_string_opt(o, key, &s);

	if (err == RB_E_NOTFOUND)
		return RB_OK;
	if (err < 0)
		return err;
	if (!key_name_valid(s))
		return json_err_set(json_object_get(o, key), RB_E_PARSE, "%s is not a valid key name", key);
	if (!(*ret = strdup(s)))
		return RB_E_NOMEM;
	return RB_OK;
}

/* Lineage links are only useful if a reader can follow them both ways,
 * so a manifest whose links dangle, loop onto the key itself, are one-way,
 * or leave a superseded key active is refused whole. */
static int check_links(const struct manifest *m)
{
	for (size_t i = 0; i < m->n_keys; i++) {
		const struct manifest_key *k = &m->keys[i], *o;

		if (k->successor) {
			o = manifest_find(m, k->successor);
			if (!o || o == k)
				return rb_err_set(RB_E_PARSE, "key \"%s\": successor \"%s\" is not another key "
						  "of this manifest", k->name, k->successor);
			if (!o->predecessor || strcmp(o->predecessor, k->name) != 0)
				return rb_err_set(RB_E_PARSE, "key \"%s\": successor \"%s\" does not name it as "
						  "its predecessor", k->name, o->name);
			if (k->status == KEY_ACTIVE)
				return rb_err_set(RB_E_PARSE, "key \"%s\" has a successor but is active; a "
						  "superseded key must be retired or revoked", k->name);
		}
		if (k->predecessor) {
			o = manifest_find(m, k->predecessor);
			if (!o || o == k)
				return rb_err_set(RB_E_PARSE, "key \"%s\": predecessor \"%s\" is not another "
						  "key of this manifest", k->name, k->predecessor);
			if (!o->successor || strcmp(o->successor, k->name) != 0)
				return rb_err_set(RB_E_PARSE, "key \"%s\": predecessor \"%s\" does not name it as "
						  "its successor", k->name, o->name);
		}
	}
	return RB_OK;
}

static int parse_key(const struct json_value *o, int64_t version, struct manifest_key *k)
{
	static const char *const required_v1[] = { "name", "id", "uri", "algorithm", "status", "created",
						   "spki", "certificate", "fingerprints", NULL };
	static const char *const required[] = { "name", "id", "uri", "algorithm", "purposes", "status",
						"created", "spki", "certificate", "fingerprints", NULL };
	static const char *const optional[] = { "purpose", "openpgp_certificate", "revocation_reason",
						"predecessor", "successor", NULL };
	static const char *const fpr_required[] = { "spki_sha256", "certificate_sha256", NULL };
	static const char *const fpr_optional[] = { "openpgp_v4", NULL };
	const struct json_value *fprs;
	const char *name, *s;
	int err;

	if ((err = json_object_check_keys(o, version == 1 ? required_v1 : required, optional)) < 0 ||
	    (err = json_get_string(o, "name", &name)) < 0)
		return err;
	if (!key_name_valid(name))
		return json_err_set(json_object_get(o, "name"), RB_E_PARSE, "invalid key name");
	if (!(k->name = strdup(name)))
		return RB_E_NOMEM;
	if ((err = json_get_string(o, "id", &s)) < 0)
		return err;
	if (rb_hex_decode(s, strlen(s), &k->id, &k->id_len) < 0 || k->id_len == 0 || k->id_len > 64)
		return json_err_set(json_object_get(o, "id"), RB_E_PARSE, "id must be 1-64 bytes of hex");
	if ((err = json_get_string(o, "uri", &s)) < 0)
		return err;
	if (strncmp(s, "pkcs11:", 7) != 0)
		return json_err_set(json_object_get(o, "uri"), RB_E_PARSE, "uri must be a pkcs11: URI");
	if (!(k->uri = strdup(s)))
		return RB_E_NOMEM;
	if ((err = json_get_string(o, "algorithm", &s)) < 0)
		return err;
	if (key_algorithm_parse(s, &k->alg, &k->bits) < 0)
		return json_err_set(json_object_get(o, "algorithm"), RB_E_UNSUPPORTED,
				    "unsupported algorithm \"%.32s\"", s);
	if ((err = json_get_string(o, "status", &s)) < 0)
		return err;
	if (key_status_parse(s, &k->status) < 0)
		return json_err_set(json_object_get(o, "status"), RB_E_PARSE,
				    "status must be active, retired or revoked");
	if ((err = json_get_string(o, "created", &s)) < 0)
		return err;
	if (rb_time_parse(s, &k->created) < 0)
		return json_err_set(json_object_get(o, "created"), RB_E_PARSE,
				    "created must look like 2026-01-31T12:00:00Z");
	err = json_get_string_opt(o, "purpose", &s);
	if (err == RB_OK && !(k->purpose = strdup(s)))
		return RB_E_NOMEM;
	if (err < 0 && err != RB_E_NOTFOUND)
		return err;
	/* Version 1 has no purposes: derive a narrow set from the tag, so an
	 * old manifest never grants a key every domain. */
	if (version == 1)
		k->purposes = key_purposes_legacy(k->purpose);
	else if ((err = key_purposes_from_json(json_object_get(o, "purposes"), &k->purposes)) < 0)
		return err;
	if ((err = key_purposes_check(k->purposes, k->alg, k->name)) < 0) {
		char detail[RB_ERR_DETAIL_MAX];

		rb_err_save(err, detail);
		return json_err_set(json_object_get(o, "purposes") ? json_object_get(o, "purposes") : o, err,
				    "%s", detail);
	}
	err = json_get_string_opt(o, "revocation_reason", &s);
	if (err == RB_OK && !(k->revocation_reason = strdup(s)))
		return RB_E_NOMEM;
	if (err < 0 && err != RB_E_NOTFOUND)
		return err;
	if ((err = get_link(o, "predecessor", &k->predecessor)) < 0 ||
	    (err = get_link(o, "successor", &k->successor)) < 0)
		return err;
	if ((err = get_b64(o, "spki", true, &k->spki, &k->spki_len)) < 0 ||
	    (err = get_b64(o, "certificate", true, &k->cert, &k->cert_len)) < 0 ||
	    (err = get_b64(o, "openpgp_certificate", false, &k->openpgp, &k->openpgp_len)) < 0)
		return err;
	if ((err = manifest_key_derive(k)) < 0)
		return json_err_set(o, err, "%s", rb_err_message(err));
	if ((err = json_get_object(o, "fingerprints", &fprs)) < 0 ||
	    (err = json_object_check_keys(fprs, fpr_required, fpr_optional)) < 0 ||
	    (err = check_hex(fprs, "spki_sha256", k->spki_sha256, 32)) < 0 ||
	    (err = check_hex(fprs, "certificate_sha256", k->cert_sha256, 32)) < 0)
		return err;
	if (k->openpgp) {
		if ((err = check_hex(fprs, "openpgp_v4", k->openpgp_fpr, 20)) < 0)
			return err;
	} else if (json_object_get(fprs, "openpgp_v4")) {
		return json_err_set(fprs, RB_E_PARSE, "openpgp_v4 given without openpgp_certificate");
	}
	return RB_OK;
}

int manifest_parse(const char *text, size_t len, const char *source, struct manifest **ret)
{
	static const char *const required[] = { "format", "version", "generated", "token", "keys", NULL };
	static const char *const tok_required[] = { "label", "uri", NULL };
	static const char *const tok_optional[] = { "model", NULL };
	_cleanup_(manifest_freep) struct manifest *m = NULL;
	_cleanup_json_ struct json_value *root = NULL;
	const struct json_value *keys, *tok;
	const char *s;
	int64_t version;
	int err;

	if (len > MANIFEST_MAX_BYTES) {
		err = rb_err_set(RB_E_TOOBIG, "larger than %d bytes", MANIFEST_MAX_BYTES);
		goto bad;
	}
	if ((err = json_parse(text, len, NULL, &root)) < 0 ||
	    (err = json_object_check_keys(root, required, NULL)) < 0 ||
	    (err = json_get_string(root, "format", &s)) < 0)
		goto bad;
	if (strcmp(s, MANIFEST_FORMAT) != 0) {
		err = json_err_set(json_object_get(root, "format"), RB_E_PARSE,
				   "format is \"%.40s\", expected \"" MANIFEST_FORMAT "\"", s);
		goto bad;
	}
	if ((err = json_get_int(root, "version", &version)) < 0)
		goto bad;
	if (version < MANIFEST_VERSION_MIN || version > MANIFEST_VERSION) {
		err = json_err_set(json_object_get(root, "version"), RB_E_UNSUPPORTED,
				   "version %lld is not supported (this rombsr reads versions %d to %d); upgrade rombsr",
				   (long long)version, MANIFEST_VERSION_MIN, MANIFEST_VERSION);
		goto bad;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return RB_E_NOMEM;
	if ((err = json_get_string(root, "generated", &s)) < 0)
		goto bad;
	if (rb_time_parse(s, &m->generated) < 0) {
		err = json_err_set(json_object_get(root, "generated"), RB_E_PARSE,
				   "generated must look like 2026-01-31T12:00:00Z");
		goto bad;
	}
	if ((err = json_get_object(root, "token", &tok)) < 0 ||
	    (err = json_object_check_keys(tok, tok_required, tok_optional)) < 0 ||
	    (err = json_get_string(tok, "label", &s)) < 0)
		goto bad;
	if (!(m->token_label = strdup(s)))
		return RB_E_NOMEM;
	if ((err = json_get_string(tok, "uri", &s)) < 0)
		goto bad;
	if (!(m->token_uri = strdup(s)))
		return RB_E_NOMEM;
	if (json_get_string_opt(tok, "model", &s) == RB_OK && !(m->token_model = strdup(s)))
		return RB_E_NOMEM;
	if ((err = json_get_array(root, "keys", &keys)) < 0)
		goto bad;
	if (json_array_size(keys) > MANIFEST_MAX_KEYS) {
		err = json_err_set(keys, RB_E_TOOBIG, "more than %d keys", MANIFEST_MAX_KEYS);
		goto bad;
	}
	m->keys = calloc(json_array_size(keys) + 1, sizeof(*m->keys));
	if (!m->keys)
		return RB_E_NOMEM;
	for (size_t i = 0; i < json_array_size(keys); i++) {
		const struct json_value *o = json_array_get(keys, i);

		m->n_keys = i + 1;
		if ((err = json_expect_type(o, JSON_OBJECT)) < 0 || (err = parse_key(o, version, &m->keys[i])) < 0)
			goto bad;
		for (size_t j = 0; j < i; j++)
			if (strcmp(m->keys[j].name, m->keys[i].name) == 0) {
				err = json_err_set(o, RB_E_PARSE, "key \"%s\" is listed twice", m->keys[i].name);
				goto bad;
			}
	}
	if ((err = check_links(m)) < 0)
		goto bad;
	*ret = TAKE_PTR(m);
	return RB_OK;
bad:
	{
		char detail[RB_ERR_DETAIL_MAX];

		rb_err_save(err, detail);
		return rb_err_set(err, "manifest %s: %s", source, detail);
	}
}

int manifest_load(const char *path, struct manifest **ret)
{
	_cleanup_free_ uint8_t *text = NULL;
	size_t len;
	int err;

	if ((err = rb_file_read(path, MANIFEST_MAX_BYTES, &text, &len)) < 0)
		return err;
	return manifest_parse((const char *)text, len, path, ret);
}

static int set_b64(struct json_value *o, const char *key, const uint8_t *p, size_t n)
{
	_cleanup_free_ char *s = NULL;
	int err;

	if ((err = rb_base64_encode(p, n, true, &s)) < 0)
		return err;
	return json_object_set_string(o, key, s);
}

static int set_hex(struct json_value *o, const char *key, const uint8_t *p, size_t n)
{
	_cleanup_free_ char *s = NULL;
	int err;

	if ((err = rb_hex_encode(p, n, &s)) < 0)
		return err;
	return json_object_set_string(o, key, s);
}

static int emit_key(const struct manifest_key *k, struct json_value **ret)
{
	_cleanup_json_ struct json_value *o = NULL, *f = NULL, *pp = NULL;
	char algbuf[16], ts[RB_TIME_LEN + 1];
	int err;

	/* Never write a key whose purposes a reader would refuse. */
	if ((err = key_purposes_check(k->purposes, k->alg, k->name)) < 0)
		return err;
	rb_time_format(k->created, ts);
	if ((err = json_new_object(&o)) < 0 || (err = json_new_object(&f)) < 0 ||
	    (err = json_object_set_string(o, "name", k->name)) < 0 ||
	    (err = set_hex(o, "id", k->id, k->id_len)) < 0 ||
	    (err = json_object_set_string(o, "uri", k->uri)) < 0 ||
	    (err = json_object_set_string(o, "algorithm", key_algorithm_format(k->alg, k->bits, algbuf))) < 0 ||
	    (k->purpose && (err = json_object_set_string(o, "purpose", k->purpose)) < 0) ||
	    (err = key_purposes_to_json(k->purposes, &pp)) < 0 ||
	    (err = json_object_set(o, "purposes", TAKE_PTR(pp))) < 0 ||
	    (err = json_object_set_string(o, "status", key_status_name(k->status))) < 0 ||
	    (k->revocation_reason &&
	     (err = json_object_set_string(o, "revocation_reason", k->revocation_reason)) < 0) ||
	    (k->predecessor && (err = json_object_set_string(o, "predecessor", k->predecessor)) < 0) ||
	    (k->successor && (err = json_object_set_string(o, "successor", k->successor)) < 0) ||
	    (err = json_object_set_string(o, "created", ts)) < 0 ||
	    (err = set_hex(f, "spki_sha256", k->spki_sha256, 32)) < 0 ||
	    (err = set_hex(f, "certificate_sha256", k->cert_sha256, 32)) < 0 ||
	    (k->openpgp && (err = set_hex(f, "openpgp_v4", k->openpgp_fpr, 20)) < 0) ||
	    (err = json_object_set(o, "fingerprints", TAKE_PTR(f))) < 0 ||
	    (err = set_b64(o, "spki", k->spki, k->spki_len)) < 0 ||
	    (err = set_b64(o, "certificate", k->cert, k->cert_len)) < 0 ||
	    (k->openpgp && (err = set_b64(o, "openpgp_certificate", k->openpgp, k->openpgp_len)) < 0))
		return err;
	*ret = TAKE_PTR(o);
	return RB_OK;
}

int manifest_emit(const struct manifest *m, struct rb_buf *out)
{
	_cleanup_json_ struct json_value *root = NULL, *tok = NULL, *keys = NULL;
	char ts[RB_TIME_LEN + 1];
	int err;

	rb_time_format(m->generated, ts);
	if ((err = json_new_object(&root)) < 0 || (err = json_new_object(&tok)) < 0 ||
	    (err = json_new_array(&keys)) < 0 ||
	    (err = json_object_set_string(root, "format", MANIFEST_FORMAT)) < 0 ||
	    (err = json_object_set_int(root, "version", MANIFEST_VERSION)) < 0 ||
	    (err = json_object_set_string(root, "generated", ts)) < 0 ||
	    (err = json_object_set_string(tok, "label", m->token_label)) < 0 ||
	    (err = json_object_set_string(tok, "uri", m->token_uri)) < 0 ||
	    (m->token_model && (err = json_object_set_string(tok, "model", m->token_model)) < 0) ||
	    (err = json_object_set(root, "token", TAKE_PTR(tok))) < 0)
		return err;
	for (size_t i = 0; i < m->n_keys; i++) {
		struct json_value *k = NULL;

		if ((err = emit_key(&m->keys[i], &k)) < 0 || (err = json_array_append(keys, k)) < 0)
			return err;
	}
	if ((err = json_object_set(root, "keys", TAKE_PTR(keys))) < 0)
		return err;
	return json_emit(root, JSON_PRETTY, out);
}

int manifest_save(const struct manifest *m, const char *path)
{
	struct rb_buf b = RB_BUF_INIT;
	int err;

	if ((err = manifest_emit(m, &b)) == RB_OK)
		err = rb_file_write_atomic(path, b.data, b.len, 0644);
	rb_buf_free(&b);
	return err;
}
