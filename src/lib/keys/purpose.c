#include "keys/purpose.h"

#include <stdio.h>
#include <string.h>

#include "json/json.h"
#include "util/cleanup.h"
#include "util/err.h"

static const struct {
	enum key_purpose p;
	const char *name;
} purposes[] = {
	{ KEY_PURPOSE_APK, "apk" },
	{ KEY_PURPOSE_AVB, "avb" },
	{ KEY_PURPOSE_OTA, "ota" },
	{ KEY_PURPOSE_BUNDLE, "bundle" },
	{ KEY_PURPOSE_RAW_DETACHED, "raw-detached" },
	{ KEY_PURPOSE_OPENPGP_DETACHED, "openpgp-detached" },
	{ KEY_PURPOSE_QUEUE_RESPONSE, "queue-response" },
	{ KEY_PURPOSE_AUDIT_CHECKPOINT, "audit-checkpoint" },
};

const char *key_purpose_name(enum key_purpose p)
{
	for (size_t i = 0; i < ELEMENTSOF(purposes); i++)
		if (purposes[i].p == p)
			return purposes[i].name;
	return NULL;
}

int key_purpose_parse(const char *name, enum key_purpose *ret)
{
	for (size_t i = 0; i < ELEMENTSOF(purposes); i++)
		if (strcmp(name, purposes[i].name) == 0) {
			*ret = purposes[i].p;
			return RB_OK;
		}
	return rb_err_set(RB_E_PARSE, "unknown key purpose \"%.32s\"; known: apk, avb, ota, bundle, "
			  "raw-detached, openpgp-detached, queue-response, audit-checkpoint", name);
}

const char *key_purposes_format(unsigned set, const char *sep, char buf[KEY_PURPOSES_TEXT_MAX])
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ELEMENTSOF(purposes); i++) {
		int n;

		if (!(set & purposes[i].p))
			continue;
		n = snprintf(buf + off, KEY_PURPOSES_TEXT_MAX - off, "%s%s", off ? sep : "", purposes[i].name);
		if (n < 0 || (size_t)n >= KEY_PURPOSES_TEXT_MAX - off)
			break;
		off += (size_t)n;
	}
	if (!off)
		snprintf(buf, KEY_PURPOSES_TEXT_MAX, "-");
	return buf;
}

int key_purposes_parse_list(const char *list, unsigned *ret)
{
	unsigned set = 0;
	const char *p = list;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char name[KEY_PURPOSE_NAME_MAX + 1];
		enum key_purpose kp;
		int err;

		if (n == 0 || n > KEY_PURPOSE_NAME_MAX)
			return rb_err_set(RB_E_PARSE, "purposes \"%.80s\": expected a comma-separated list "
					  "such as \"apk,raw-detached\"", list);
		memcpy(name, p, n);
		name[n] = '\0';
		if ((err = key_purpose_parse(name, &kp)) < 0)
			return err;
		if (set & kp)
			return rb_err_set(RB_E_PARSE, "purposes \"%.80s\": \"%s\" is listed twice", list, name);
		set |= kp;
		if (!comma)
			break;
		p = comma + 1;
	}
	*ret = set;
	return RB_OK;
}

int key_purposes_check(unsigned set, enum rb_key_alg alg, const char *key)
{
	char buf[KEY_PURPOSES_TEXT_MAX];

	if (set == 0)
		return rb_err_set(RB_E_PARSE, "key \"%s\" has no purposes; give it at least one", key);
	if (set & ~KEY_PURPOSES_ALL)
		return rb_err_set(RB_E_PARSE, "key \"%s\" has an unknown purpose", key);
	if ((set & KEY_PURPOSE_OPENPGP_DETACHED) && (set & KEY_PURPOSES_NODE_DIGEST))
		return rb_err_set(RB_E_PARSE,
				  "key \"%s\": purposes %s: an openpgp-detached key must not also sign digests a "
				  "build node chooses (raw-detached, apk, avb, ota, bundle): such a digest can be "
				  "the hash of an OpenPGP revocation or certification. Use two keys",
				  key, key_purposes_format(set, ", ", buf));
	if ((set & KEY_PURPOSES_SIGN_NODE) && (set & (set - 1)))
		return rb_err_set(RB_E_PARSE,
				  "key \"%s\": purposes %s: queue-response and audit-checkpoint each stand alone; "
				  "a key that signs what the sign node composes signs nothing else",
				  key, key_purposes_format(set, ", ", buf));
	if ((set & (KEY_PURPOSE_OPENPGP_DETACHED | KEY_PURPOSES_SIGN_NODE)) && alg == RB_KEY_EC_P256)
		return rb_err_set(RB_E_PARSE, "key \"%s\": purposes %s need an OpenPGP key (RSA or Ed25519), "
				  "and P-256 keys have none", key, key_purposes_format(set, ", ", buf));
	return RB_OK;
}

unsigned key_purposes_legacy(const char *tag)
{
	static const struct {
		const char *tag;
		unsigned set;
	} map[] = {
		{ "android", KEY_PURPOSE_APK },
		{ "avb", KEY_PURPOSE_AVB },
		{ "ota", KEY_PURPOSE_OTA },
		{ "bundle", KEY_PURPOSE_BUNDLE },
		{ "queue", KEY_PURPOSE_QUEUE_RESPONSE },
		{ "audit", KEY_PURPOSE_AUDIT_CHECKPOINT },
	};

	for (size_t i = 0; tag && i < ELEMENTSOF(map); i++)
		if (strcmp(tag, map[i].tag) == 0)
			return map[i].set;
	return KEY_PURPOSE_RAW_DETACHED;
}

int key_purposes_from_json(const struct json_value *arr, unsigned *ret)
{
	unsigned set = 0;
	int err;

	if ((err = json_expect_type(arr, JSON_ARRAY)) < 0)
		return err;
	if (json_array_size(arr) == 0 || json_array_size(arr) > ELEMENTSOF(purposes))
		return json_err_set(arr, RB_E_PARSE, "purposes must list 1 to %zu names", ELEMENTSOF(purposes));
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const struct json_value *v = json_array_get(arr, i);
		enum key_purpose p;
		const char *s;

		if ((err = json_expect_string(v, &s)) < 0)
			return err;
		if ((err = key_purpose_parse(s, &p)) < 0) {
			char detail[RB_ERR_DETAIL_MAX];

			rb_err_save(err, detail);
			return json_err_set(v, err, "%s", detail);
		}
		if (set & p)
			return json_err_set(v, RB_E_PARSE, "purpose \"%s\" is listed twice", s);
		set |= p;
	}
	*ret = set;
	return RB_OK;
}

int key_purposes_to_json(unsigned set, struct json_value **ret)
{
	_cleanup_json_ struct json_value *arr = NULL;
	int err;

	if ((err = json_new_array(&arr)) < 0)
		return err;
	for (size_t i = 0; i < ELEMENTSOF(purposes); i++) {
		struct json_value *s = NULL;

		if (!(set & purposes[i].p))
			continue;
		if ((err = json_new_string(purposes[i].name, &s)) < 0 || (err = json_array_append(arr, s)) < 0)
			return err;
	}
	*ret = TAKE_PTR(arr);
	return RB_OK;
}
