#include "keys/keyspec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"
#include "keys/purpose.h"
#include "pgp/pgp.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fileio.h"
#include "x509/x509.h"

int key_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > KEY_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int key_algorithm_parse(const char *s, enum rb_key_alg *ret_alg, unsigned *ret_bits)
{
	static const struct {
		const char *name;
		enum rb_key_alg alg;
		unsigned bits;
	} algs[] = {
		{ "rsa-2048", RB_KEY_RSA, 2048 },
		{ "rsa-3072", RB_KEY_RSA, 3072 },
		{ "rsa-4096", RB_KEY_RSA, 4096 },
		{ "ec-p256", RB_KEY_EC_P256, 256 },
		{ "ed25519", RB_KEY_ED25519, 255 },
	};

	for (size_t i = 0; i < ELEMENTSOF(algs); i++)
		if (strcmp(s, algs[i].name) == 0) {
			*ret_alg = algs[i].alg;
			*ret_bits = algs[i].bits;
			return RB_OK;
		}
	return RB_E_UNSUPPORTED;
}

const char *key_algorithm_format(enum rb_key_alg alg, unsigned bits, char buf[16])
{
	switch (alg) {
	case RB_KEY_RSA:
		snprintf(buf, 16, "rsa-%u", bits);
		return buf;
	case RB_KEY_EC_P256:
		return "ec-p256";
	case RB_KEY_ED25519:
		return "ed25519";
	}
	return "unknown";
}

void keyspec_free(struct keyspec *ks)
{
	if (!ks)
		return;
	for (size_t i = 0; i < ks->n_keys; i++) {
		free(ks->keys[i].name);
		free(ks->keys[i].purpose);
		free(ks->keys[i].subject);
		free(ks->keys[i].openpgp_uid);
	}
	free(ks->keys);
	free(ks);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct keyspec *, keyspec_free)

static int dup_opt(const struct json_value *o, const char *key, const char *fallback, char **ret)
{
	const char *s = NULL;
	int err = json_get_string_opt(o, key, &s);

	if (err == RB_E_NOTFOUND)
		s = fallback;
	else if (err < 0)
		return err;
	if (!s) {
		*ret = NULL;
		return RB_OK;
	}
	*ret = strdup(s);
	return *ret ? RB_OK : RB_E_NOMEM;
}

static int parse_key(const struct json_value *o, int64_t version, struct keyspec_key *k)
{
	static const char *const required[] = { "name", "algorithm", NULL };
	static const char *const optional_v1[] = { "purpose", "subject", "validity_days",
						   "openpgp_uid", NULL };
	static const char *const optional[] = { "purpose", "purposes", "subject", "validity_days",
						"openpgp_uid", NULL };
	const char *name, *alg;
	char default_subject[128];
	int64_t days = 3650;
	int err;

	if ((err = json_object_check_keys(o, required, version == 1 ? optional_v1 : optional)) < 0 ||
	    (err = json_get_string(o, "name", &name)) < 0 ||
	    (err = json_get_string(o, "algorithm", &alg)) < 0)
		return err;
	if (!key_name_valid(name))
		return json_err_set(json_object_get(o, "name"), RB_E_PARSE,
				    "key name \"%.64s\" must be 1-64 characters of a-z, 0-9, '_' or '-'", name);
	if (key_algorithm_parse(alg, &k->alg, &k->bits) < 0)
		return json_err_set(json_object_get(o, "algorithm"), RB_E_UNSUPPORTED,
				    "key \"%s\": algorithm \"%.32s\" is not supported; use rsa-2048, "
				    "rsa-3072, rsa-4096, ec-p256 or ed25519", name, alg);
	if (json_object_get(o, "validity_days") &&
	    (err = json_get_int_range(o, "validity_days", 1, 36500, &days)) < 0)
		return err;
	k->validity_days = days;
	snprintf(default_subject, sizeof(default_subject), "/O=rombsr/CN=%s", name);
	k->name = strdup(name);
	if (!k->name)
		return RB_E_NOMEM;
	if ((err = dup_opt(o, "purpose", "general", &k->purpose)) < 0 ||
	    (err = dup_opt(o, "subject", default_subject, &k->subject)) < 0 ||
	    (err = dup_opt(o, "openpgp_uid", NULL, &k->openpgp_uid)) < 0)
		return err;
	if (json_object_get(o, "purposes")) {
		if ((err = key_purposes_from_json(json_object_get(o, "purposes"), &k->purposes)) < 0)
			return err;
	} else {
		k->purposes = key_purposes_legacy(k->purpose);
	}
	if ((err = key_purposes_check(k->purposes, k->alg, name)) < 0) {
		char detail[RB_ERR_DETAIL_MAX];

		rb_err_save(err, detail);
		return json_err_set(json_object_get(o, "purposes") ? json_object_get(o, "purposes") : o, err,
				    "%s", detail);
	}
	/* Catch what the certificate builders would refuse now, before a
	 * token is initialised, not half-way through provisioning. */
	{
		uint8_t *der = NULL;
		size_t der_len;

		err = x509_subject_to_der(k->subject, &der, &der_len);
		free(der);
		if (err < 0)
			return json_err_set(json_object_get(o, "subject") ? json_object_get(o, "subject") : o,
					    RB_E_PARSE, "key \"%s\": subject: %s", name, rb_err_message(err));
	}
	if (k->openpgp_uid) {
		size_t n = strlen(k->openpgp_uid);
		bool ctl = false;

		for (size_t i = 0; i < n; i++)
			ctl |= (unsigned char)k->openpgp_uid[i] < 0x20 || k->openpgp_uid[i] == 0x7f;
		if (n == 0 || n > PGP_USER_ID_MAX || ctl)
			return json_err_set(json_object_get(o, "openpgp_uid"), RB_E_PARSE,
					    "key \"%s\": openpgp_uid must be 1-%d bytes without control characters",
					    name, PGP_USER_ID_MAX);
	}
	return RB_OK;
}

int keyspec_parse(const char *text, size_t len, const char *source, struct keyspec **ret)
{
	static const char *const required[] = { "format", "version", "keys", NULL };
	_cleanup_(keyspec_freep) struct keyspec *ks = NULL;
	_cleanup_json_ struct json_value *root = NULL;
	const struct json_value *keys;
	const char *format;
	int64_t version;
	int err;

	if (len > KEYSPEC_MAX_BYTES)
		return rb_err_set(RB_E_TOOBIG, "key spec %s: larger than %d bytes", source, KEYSPEC_MAX_BYTES);
	if ((err = json_parse(text, len, NULL, &root)) < 0 ||
	    (err = json_object_check_keys(root, required, NULL)) < 0 ||
	    (err = json_get_string(root, "format", &format)) < 0 ||
	    (err = json_get_int(root, "version", &version)) < 0 ||
	    (err = json_get_array(root, "keys", &keys)) < 0)
		goto bad;
	if (strcmp(format, KEYSPEC_FORMAT) != 0) {
		err = json_err_set(json_object_get(root, "format"), RB_E_PARSE,
				   "format is \"%.40s\", expected \"" KEYSPEC_FORMAT "\"", format);
		goto bad;
	}
	if (version < KEYSPEC_VERSION_MIN || version > KEYSPEC_VERSION) {
		err = json_err_set(json_object_get(root, "version"), RB_E_UNSUPPORTED,
				   "version %lld is not supported (this rombsr reads versions %d to %d); "
				   "upgrade rombsr", (long long)version, KEYSPEC_VERSION_MIN, KEYSPEC_VERSION);
		goto bad;
	}
	if (json_array_size(keys) == 0 || json_array_size(keys) > KEYSPEC_MAX_KEYS) {
		err = json_err_set(keys, RB_E_PARSE, "keys must list 1 to %d keys", KEYSPEC_MAX_KEYS);
		goto bad;
	}
	ks = calloc(1, sizeof(*ks));
	if (!ks)
		return RB_E_NOMEM;
	ks->keys = calloc(json_array_size(keys), sizeof(*ks->keys));
	if (!ks->keys)
		return RB_E_NOMEM;
	for (size_t i = 0; i < json_array_size(keys); i++) {
		const struct json_value *o = json_array_get(keys, i);

		ks->n_keys = i + 1;
		if ((err = json_expect_type(o, JSON_OBJECT)) < 0 || (err = parse_key(o, version, &ks->keys[i])) < 0)
			goto bad;
		for (size_t j = 0; j < i; j++)
			if (strcmp(ks->keys[j].name, ks->keys[i].name) == 0) {
				err = json_err_set(json_object_get(o, "name"), RB_E_PARSE,
						   "key \"%s\" is listed twice", ks->keys[i].name);
				goto bad;
			}
	}
	*ret = TAKE_PTR(ks);
	return RB_OK;
bad:
	{
		char detail[RB_ERR_DETAIL_MAX];

		rb_err_save(err, detail);
		return rb_err_set(err, "key spec %s: %s", source, detail);
	}
}

int keyspec_load(const char *path, struct keyspec **ret)
{
	_cleanup_free_ uint8_t *text = NULL;
	size_t len;
	int err;

	if ((err = rb_file_read(path, KEYSPEC_MAX_BYTES, &text, &len)) < 0)
		return err;
	return keyspec_parse((const char *)text, len, path, ret);
}
