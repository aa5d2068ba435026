/* Wrapped key metadata: strict parse, emit, build (docs/formats/wrapped-key.md). */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "json/json.h"
#include "keys/keyspec.h"
#include "p11/wrap.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/timefmt.h"

/* Base64 of the largest blob plus slack; bounds one JSON string. */
#define META_MAX_STRING (WRAP_BLOB_MAX * 4 / 3 + 16)

void wrap_meta_free(struct wrap_meta *m)
{
	if (!m)
		return;
	free(m->name);
	free(m->id);
	free(m->spki);
	free(m->blob);
	EVP_PKEY_free(m->pub);
	free(m);
}

/* A wrapped key's name is a key name: one rule, the key spec's. */
_Static_assert(WRAP_NAME_MAX == KEY_NAME_MAX, "wrapped-key and key names share their cap");

int wrap_name_valid(const char *name)
{
	return key_name_valid(name);
}

static int alg_parse(const char *s, enum rb_key_alg *ret)
{
	static const enum rb_key_alg algs[] = { RB_KEY_RSA, RB_KEY_EC_P256, RB_KEY_ED25519 };

	for (size_t i = 0; i < ELEMENTSOF(algs); i++)
		if (strcmp(s, rb_key_alg_name(algs[i])) == 0) {
			*ret = algs[i];
			return RB_OK;
		}
	return RB_E_UNSUPPORTED;
}

static bool bits_fit(enum rb_key_alg alg, int64_t bits)
{
	switch (alg) {
	case RB_KEY_RSA:
		return bits == 2048 || bits == 3072 || bits == 4096;
	case RB_KEY_EC_P256:
		return bits == 256;
	case RB_KEY_ED25519:
		return bits == 255;
	}
	return false;
}

/* Bits as rombsr counts them (p11_key_bits): OpenSSL says 253 for Ed25519. */
static unsigned pkey_bits(EVP_PKEY *pk, enum rb_key_alg alg)
{
	switch (alg) {
	case RB_KEY_RSA:
		return (unsigned)EVP_PKEY_get_bits(pk);
	case RB_KEY_EC_P256:
		return 256;
	case RB_KEY_ED25519:
		return 255;
	}
	return 0;
}

/* obj[key] as base64 of 1..max bytes. */
static int get_b64(const struct json_value *obj, const char *key, size_t max, uint8_t **ret, size_t *ret_len)
{
	const char *s;
	uint8_t *p = NULL;
	size_t n = 0;
	int err;

	if ((err = json_get_string(obj, key, &s)) < 0)
		return err;
	if (rb_base64_decode(s, strlen(s), true, &p, &n) < 0)
		return json_err_set(json_object_get(obj, key), RB_E_PARSE, "%s is not canonical padded base64", key);
	if (n == 0 || n > max) {
		free(p);
		return json_err_set(json_object_get(obj, key), RB_E_TOOBIG, "%s is %zu bytes; want 1 to %zu",
				    key, n, max);
	}
	*ret = p;
	*ret_len = n;
	return RB_OK;
}

/* obj[key] as exactly n bytes of lowercase hex (the form rombsr writes). */
static int get_hex(const struct json_value *obj, const char *key, uint8_t *out, size_t n)
{
	const char *s;
	int err;

	if ((err = json_get_string(obj, key, &s)) < 0)
		return err;
	if (rb_hex_decode_lower(s, strlen(s), out, n) < 0)
		return json_err_set(json_object_get(obj, key), RB_E_PARSE, "%s must be %zu lowercase hex digits",
				    key, 2 * n);
	return RB_OK;
}

/* The public key from spki: one DER SPKI, no trailing bytes, of an
 * algorithm and size that agree with the declared ones. */
static int meta_check_spki(const struct json_value *root, struct wrap_meta *m, const char *source)
{
	const unsigned char *p = m->spki;
	uint8_t digest[32];
	size_t dlen;
	enum rb_key_alg alg;
	int err;

	m->pub = d2i_PUBKEY(NULL, &p, (long)m->spki_len);
	if (!m->pub || p != m->spki + m->spki_len)
		return json_err_set(json_object_get(root, "spki"), RB_E_PARSE,
				    "%s: spki is not one DER SubjectPublicKeyInfo", source);
	if (rb_pkey_alg(m->pub, &alg) < 0 || alg != m->alg || pkey_bits(m->pub, alg) != m->bits)
		return rb_err_set(RB_E_VERIFY, "%s: spki is not a %s-%u key as \"algorithm\" and \"bits\" say",
				  source, rb_key_alg_name(m->alg), m->bits);
	if ((err = rb_digest(EVP_sha256(), m->spki, m->spki_len, digest, &dlen)) < 0)
		return err;
	if (memcmp(digest, m->spki_sha256, sizeof(digest)) != 0)
		return rb_err_set(RB_E_VERIFY, "%s: spki_sha256 is not the SHA-256 of spki; the file was "
				  "altered - restore it from a backup", source);
	return RB_OK;
}

int wrap_meta_parse(const char *text, size_t len, const char *source, struct wrap_meta **ret)
{
	static const char *const required[] = { "format", "version", "name", "id", "algorithm", "bits",
						"spki", "spki_sha256", "wrap_key_fingerprint", "mechanism",
						"created", "blob", NULL };
	const struct json_limits lim = {
		.max_input = WRAP_META_MAX_BYTES, .max_string = META_MAX_STRING,
		.max_items = 16, .max_values = 32, .max_depth = 2,
	};
	_cleanup_json_ struct json_value *root = NULL;
	_cleanup_wrap_meta_ struct wrap_meta *m = NULL;
	const char *s;
	int64_t version, bits;
	int err;

	if (len > WRAP_META_MAX_BYTES)
		return rb_err_set(RB_E_TOOBIG, "%s: %zu bytes exceeds the %d-byte cap for wrapped key metadata",
				  source, len, WRAP_META_MAX_BYTES);
	if ((err = json_parse(text, len, &lim, &root)) < 0)
		return rb_err_set(err, "%s: %s", source, rb_err_message(err));
	if ((err = json_object_check_keys(root, required, NULL)) < 0 ||
	    (err = json_get_string(root, "format", &s)) < 0)
		return rb_err_set(err, "%s: %s", source, rb_err_message(err));
	if (strcmp(s, WRAP_META_FORMAT) != 0)
		return rb_err_set(RB_E_PARSE, "%s: format is not \"%s\"; this is not a wrapped key file", source,
				  WRAP_META_FORMAT);
	if ((err = json_get_int(root, "version", &version)) < 0)
		return rb_err_set(err, "%s: %s", source, rb_err_message(err));
	if (version != WRAP_META_VERSION)
		return rb_err_set(RB_E_UNSUPPORTED, "%s: version %lld is not supported (this rombsr reads "
				  "version %d); upgrade rombsr", source, (long long)version, WRAP_META_VERSION);
	if (!(m = calloc(1, sizeof(*m))))
		return RB_E_NOMEM;
	if ((err = json_get_string(root, "name", &s)) < 0)
		return rb_err_set(err, "%s: %s", source, rb_err_message(err));
	if (!wrap_name_valid(s))
		return rb_err_set(RB_E_PARSE, "%s: name \"%.64s\" must be 1-64 characters of a-z, 0-9, '_' "
				  "or '-'", source, s);
	if (!(m->name = strdup(s)))
		return RB_E_NOMEM;
	if ((err = json_get_string(root, "mechanism", &s)) < 0)
		return rb_err_set(err, "%s: %s", source, rb_err_message(err));
	if (strcmp(s, WRAP_MECHANISM_NAME) != 0)
		return rb_err_set(RB_E_UNSUPPORTED, "%s: mechanism \"%.40s\" is not supported; rombsr wraps "
				  "only with %s", source, s, WRAP_MECHANISM_NAME);
	if ((err = json_get_string(root, "algorithm", &s)) < 0)
		return rb_err_set(err, "%s: %s", source, rb_err_message(err));
	if (alg_parse(s, &m->alg) < 0)
		return rb_err_set(RB_E_UNSUPPORTED, "%s: algorithm \"%.32s\" is not rsa, ec-p256 or ed25519",
				  source, s);
	if ((err = json_get_int(root, "bits", &bits)) < 0)
		return rb_err_set(err, "%s: %s", source, rb_err_message(err));
	if (!bits_fit(m->alg, bits))
		return rb_err_set(RB_E_UNSUPPORTED, "%s: %lld bits is not a supported %s size", source,
				  (long long)bits, rb_key_alg_name(m->alg));
	m->bits = (unsigned)bits;
	if ((err = json_get_string(root, "created", &s)) < 0 || (err = rb_time_parse(s, &m->created)) < 0)
		return rb_err_set(err, "%s: created: %s", source, rb_err_message(err));
	if ((err = json_get_string(root, "id", &s)) < 0)
		return rb_err_set(err, "%s: %s", source, rb_err_message(err));
	if (strlen(s) == 0 || strlen(s) > 2 * WRAP_ID_MAX || strlen(s) % 2 != 0)
		return rb_err_set(RB_E_PARSE, "%s: id must be 1 to %d bytes of hex", source, WRAP_ID_MAX);
	m->id_len = strlen(s) / 2;
	if (!(m->id = malloc(m->id_len)))
		return RB_E_NOMEM;
	if ((err = get_hex(root, "id", m->id, m->id_len)) < 0 ||
	    (err = get_hex(root, "spki_sha256", m->spki_sha256, sizeof(m->spki_sha256))) < 0 ||
	    (err = get_hex(root, "wrap_key_fingerprint", m->wrap_fpr, sizeof(m->wrap_fpr))) < 0 ||
	    (err = get_b64(root, "spki", WRAP_SPKI_MAX, &m->spki, &m->spki_len)) < 0 ||
	    (err = get_b64(root, "blob", WRAP_BLOB_MAX, &m->blob, &m->blob_len)) < 0)
		return rb_err_set(err, "%s: %s", source, rb_err_message(err));
	/* RFC 5649 output is a whole number of 8-byte blocks, at least two. */
	if (m->blob_len < 16 || m->blob_len % 8 != 0)
		return rb_err_set(RB_E_PARSE, "%s: blob of %zu bytes is not RFC 5649 output (a multiple of 8, "
				  "at least 16)", source, m->blob_len);
	if ((err = meta_check_spki(root, m, source)) < 0)
		return err;
	*ret = TAKE_PTR(m);
	return RB_OK;
}

int wrap_meta_emit(const struct wrap_meta *m, struct rb_buf *out)
{
	_cleanup_json_ struct json_value *o = NULL;
	_cleanup_free_ char *id = NULL, *spki = NULL, *spki_sha = NULL, *fpr = NULL, *blob = NULL;
	char ts[RB_TIME_LEN + 1];
	int err;

	rb_time_format(m->created, ts);
	if ((err = rb_hex_encode(m->id, m->id_len, &id)) < 0 ||
	    (err = rb_hex_encode(m->spki_sha256, sizeof(m->spki_sha256), &spki_sha)) < 0 ||
	    (err = rb_hex_encode(m->wrap_fpr, sizeof(m->wrap_fpr), &fpr)) < 0 ||
	    (err = rb_base64_encode(m->spki, m->spki_len, true, &spki)) < 0 ||
	    (err = rb_base64_encode(m->blob, m->blob_len, true, &blob)) < 0 ||
	    (err = json_new_object(&o)) < 0 ||
	    (err = json_object_set_string(o, "format", WRAP_META_FORMAT)) < 0 ||
	    (err = json_object_set_int(o, "version", WRAP_META_VERSION)) < 0 ||
	    (err = json_object_set_string(o, "name", m->name)) < 0 ||
	    (err = json_object_set_string(o, "id", id)) < 0 ||
	    (err = json_object_set_string(o, "algorithm", rb_key_alg_name(m->alg))) < 0 ||
	    (err = json_object_set_int(o, "bits", m->bits)) < 0 ||
	    (err = json_object_set_string(o, "created", ts)) < 0 ||
	    (err = json_object_set_string(o, "mechanism", WRAP_MECHANISM_NAME)) < 0 ||
	    (err = json_object_set_string(o, "wrap_key_fingerprint", fpr)) < 0 ||
	    (err = json_object_set_string(o, "spki_sha256", spki_sha)) < 0 ||
	    (err = json_object_set_string(o, "spki", spki)) < 0 ||
	    (err = json_object_set_string(o, "blob", blob)) < 0)
		return err;
	return json_emit(o, JSON_PRETTY, out);
}

int wrap_meta_new(const char *name, const uint8_t *id, size_t id_len, EVP_PKEY *pub,
		  const uint8_t fpr[P11_WRAP_FPR_LEN], int64_t created, const uint8_t *blob, size_t blob_len,
		  struct wrap_meta **ret)
{
	_cleanup_wrap_meta_ struct wrap_meta *m = NULL;
	unsigned char *der = NULL;
	size_t dlen;
	int n, err;

	if (!wrap_name_valid(name))
		return rb_err_set(RB_E_INVAL, "key name '%.64s' must be 1-64 characters of a-z, 0-9, '_' or '-'",
				  name);
	if (id_len == 0 || id_len > WRAP_ID_MAX || blob_len < 16 || blob_len > WRAP_BLOB_MAX ||
	    blob_len % 8 != 0)
		return rb_err_set(RB_E_INVAL, "key '%s': CKA_ID or wrapped blob has an invalid size", name);
	if (!(m = calloc(1, sizeof(*m))) || !(m->name = strdup(name)) || !(m->id = malloc(id_len)) ||
	    !(m->blob = malloc(blob_len)))
		return RB_E_NOMEM;
	memcpy(m->id, id, id_len);
	m->id_len = id_len;
	memcpy(m->blob, blob, blob_len);
	m->blob_len = blob_len;
	memcpy(m->wrap_fpr, fpr, P11_WRAP_FPR_LEN);
	m->created = created;
	if ((err = rb_pkey_alg(pub, &m->alg)) < 0)
		return rb_err_set(err, "key '%s': public key is not RSA, P-256 or Ed25519", name);
	m->bits = pkey_bits(pub, m->alg);
	if (!bits_fit(m->alg, m->bits))
		return rb_err_set(RB_E_UNSUPPORTED, "key '%s': %u-bit %s keys are not supported", name, m->bits,
				  rb_key_alg_name(m->alg));
	n = i2d_PUBKEY(pub, &der);
	if (n <= 0 || (size_t)n > WRAP_SPKI_MAX) {
		OPENSSL_free(der);
		return RB_E_CRYPTO;
	}
	m->spki = malloc((size_t)n);
	if (!m->spki) {
		OPENSSL_free(der);
		return RB_E_NOMEM;
	}
	memcpy(m->spki, der, (size_t)n);
	m->spki_len = (size_t)n;
	OPENSSL_free(der);
	if ((err = rb_digest(EVP_sha256(), m->spki, m->spki_len, m->spki_sha256, &dlen)) < 0)
		return err;
	if (!EVP_PKEY_up_ref(pub))
		return RB_E_CRYPTO;
	m->pub = pub;
	*ret = TAKE_PTR(m);
	return RB_OK;
}
