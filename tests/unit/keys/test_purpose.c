/* Key purposes: names, lists, the combination rules, the version-1
 * defaults, and how the key spec carries them (version 2, and version 1
 * still read). Version-1 manifests: tests/integration/signing-oracle.sh. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "json/json.h"
#include "keys/keyspec.h"
#include "keys/purpose.h"
#include "util/err.h"

HARNESS_GLOBALS;

static void test_names(void)
{
	static const char *const names[] = { "apk", "avb", "ota", "bundle", "raw-detached",
					     "openpgp-detached", "queue-response", "audit-checkpoint" };
	char buf[KEY_PURPOSES_TEXT_MAX];
	enum key_purpose p;
	unsigned set;

	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		CHECK_OK(key_purpose_parse(names[i], &p));
		CHECK(p == 1u << i);
		CHECK(strcmp(key_purpose_name(p), names[i]) == 0);
	}
	CHECK(key_purpose_name(0) == NULL);
	CHECK(key_purpose_name(KEY_PURPOSE_APK | KEY_PURPOSE_AVB) == NULL);
	CHECK_ERR(key_purpose_parse("raw", &p), RB_E_PARSE);
	CHECK_ERR(key_purpose_parse("APK", &p), RB_E_PARSE);
	CHECK(strcmp(key_purposes_format(KEY_PURPOSES_ALL, ",", buf),
		     "apk,avb,ota,bundle,raw-detached,openpgp-detached,queue-response,audit-checkpoint") == 0);
	CHECK(strcmp(key_purposes_format(0, ",", buf), "-") == 0);
	CHECK_OK(key_purposes_parse_list("apk,raw-detached", &set));
	CHECK(set == (KEY_PURPOSE_APK | KEY_PURPOSE_RAW_DETACHED));
	CHECK_ERR(key_purposes_parse_list("apk,apk", &set), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "twice") != NULL);
	CHECK_ERR(key_purposes_parse_list("apk,", &set), RB_E_PARSE);
	CHECK_ERR(key_purposes_parse_list("", &set), RB_E_PARSE);
	CHECK_ERR(key_purposes_parse_list("apk,raw", &set), RB_E_PARSE);
}

static void test_rules(void)
{
	CHECK_OK(key_purposes_check(KEY_PURPOSE_APK | KEY_PURPOSE_RAW_DETACHED, RB_KEY_RSA, "k"));
	CHECK_OK(key_purposes_check(KEY_PURPOSE_OPENPGP_DETACHED, RB_KEY_ED25519, "k"));
	CHECK_OK(key_purposes_check(KEY_PURPOSE_QUEUE_RESPONSE, RB_KEY_ED25519, "k"));
	CHECK_OK(key_purposes_check(KEY_PURPOSE_APK | KEY_PURPOSE_RAW_DETACHED, RB_KEY_EC_P256, "k"));
	CHECK_ERR(key_purposes_check(0, RB_KEY_RSA, "k"), RB_E_PARSE);
	CHECK_ERR(key_purposes_check(1u << 12, RB_KEY_RSA, "k"), RB_E_PARSE);
	/* OpenPGP keys never sign a node-chosen digest. */
	CHECK_ERR(key_purposes_check(KEY_PURPOSE_OPENPGP_DETACHED | KEY_PURPOSE_RAW_DETACHED, RB_KEY_RSA, "k"),
		  RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "revocation") != NULL);
	for (unsigned p = KEY_PURPOSE_APK; p <= KEY_PURPOSE_BUNDLE; p <<= 1)
		CHECK_ERR(key_purposes_check(KEY_PURPOSE_OPENPGP_DETACHED | p, RB_KEY_RSA, "k"), RB_E_PARSE);
	/* The sign node's purposes stand alone. */
	CHECK_ERR(key_purposes_check(KEY_PURPOSE_QUEUE_RESPONSE | KEY_PURPOSE_RAW_DETACHED, RB_KEY_ED25519, "q"),
		  RB_E_PARSE);
	CHECK_ERR(key_purposes_check(KEY_PURPOSE_QUEUE_RESPONSE | KEY_PURPOSE_AUDIT_CHECKPOINT, RB_KEY_ED25519, "q"),
		  RB_E_PARSE);
	CHECK_ERR(key_purposes_check(KEY_PURPOSE_AUDIT_CHECKPOINT | KEY_PURPOSE_OPENPGP_DETACHED, RB_KEY_ED25519,
				     "a"), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "stand alone") != NULL);
	/* P-256 has no OpenPGP form. */
	CHECK_ERR(key_purposes_check(KEY_PURPOSE_OPENPGP_DETACHED, RB_KEY_EC_P256, "k"), RB_E_PARSE);
	CHECK_ERR(key_purposes_check(KEY_PURPOSE_QUEUE_RESPONSE, RB_KEY_EC_P256, "k"), RB_E_PARSE);
}

static void test_legacy(void)
{
	CHECK(key_purposes_legacy("android") == KEY_PURPOSE_APK);
	CHECK(key_purposes_legacy("avb") == KEY_PURPOSE_AVB);
	CHECK(key_purposes_legacy("ota") == KEY_PURPOSE_OTA);
	CHECK(key_purposes_legacy("queue") == KEY_PURPOSE_QUEUE_RESPONSE);
	CHECK(key_purposes_legacy("audit") == KEY_PURPOSE_AUDIT_CHECKPOINT);
	CHECK(key_purposes_legacy("general") == KEY_PURPOSE_RAW_DETACHED);
	CHECK(key_purposes_legacy(NULL) == KEY_PURPOSE_RAW_DETACHED);
	/* Never everything, never OpenPGP by default. */
	for (const char *const *t = (const char *const[]){ "android", "avb", "ota", "bundle", "queue", "audit",
							     "general", "", NULL }; *t; t++) {
		unsigned set = key_purposes_legacy(*t);

		CHECK(set && !(set & (set - 1)));
		CHECK(!(set & KEY_PURPOSE_OPENPGP_DETACHED));
	}
}

static int parse_spec(const char *text, struct keyspec **ret)
{
	return keyspec_parse(text, strlen(text), "spec.json", ret);
}

static void test_keyspec(void)
{
	struct keyspec *ks = NULL;

	/* Version 2 with purposes. */
	CHECK_OK(parse_spec("{\"format\":\"rombsr-keyspec\",\"version\":2,\"keys\":["
			    "{\"name\":\"a\",\"algorithm\":\"rsa-2048\",\"purposes\":[\"openpgp-detached\"]},"
			    "{\"name\":\"b\",\"algorithm\":\"ed25519\",\"purpose\":\"queue\"}]}", &ks));
	CHECK(ks->keys[0].purposes == KEY_PURPOSE_OPENPGP_DETACHED);
	CHECK(ks->keys[1].purposes == KEY_PURPOSE_QUEUE_RESPONSE); /* default from the tag */
	keyspec_free(ks);
	/* Version 1: tags only; "purposes" is an unknown field there. */
	CHECK_OK(parse_spec("{\"format\":\"rombsr-keyspec\",\"version\":1,\"keys\":["
			    "{\"name\":\"a\",\"algorithm\":\"rsa-2048\",\"purpose\":\"android\"}]}", &ks));
	CHECK(ks->keys[0].purposes == KEY_PURPOSE_APK);
	keyspec_free(ks);
	CHECK_ERR(parse_spec("{\"format\":\"rombsr-keyspec\",\"version\":1,\"keys\":["
			     "{\"name\":\"a\",\"algorithm\":\"rsa-2048\",\"purposes\":[\"apk\"]}]}", &ks),
		  RB_E_PARSE);
	/* Bad sets, with the key named. */
	CHECK_ERR(parse_spec("{\"format\":\"rombsr-keyspec\",\"version\":2,\"keys\":["
			     "{\"name\":\"pkg\",\"algorithm\":\"rsa-2048\",\"purposes\":[\"openpgp-detached\",\"raw-detached\"]}]}",
			     &ks), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "spec.json") && strstr(rb_err_detail(), "pkg"));
	CHECK_ERR(parse_spec("{\"format\":\"rombsr-keyspec\",\"version\":2,\"keys\":["
			     "{\"name\":\"a\",\"algorithm\":\"rsa-2048\",\"purposes\":[]}]}", &ks), RB_E_PARSE);
	CHECK_ERR(parse_spec("{\"format\":\"rombsr-keyspec\",\"version\":2,\"keys\":["
			     "{\"name\":\"a\",\"algorithm\":\"rsa-2048\",\"purposes\":[\"apk\",\"apk\"]}]}", &ks),
		  RB_E_PARSE);
	CHECK_ERR(parse_spec("{\"format\":\"rombsr-keyspec\",\"version\":2,\"keys\":["
			     "{\"name\":\"a\",\"algorithm\":\"rsa-2048\",\"purposes\":[\"signing\"]}]}", &ks),
		  RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "signing") != NULL);
	CHECK_ERR(parse_spec("{\"format\":\"rombsr-keyspec\",\"version\":2,\"keys\":["
			     "{\"name\":\"a\",\"algorithm\":\"rsa-2048\",\"purposes\":\"apk\"}]}", &ks), RB_E_PARSE);
	CHECK_ERR(parse_spec("{\"format\":\"rombsr-keyspec\",\"version\":3,\"keys\":["
			     "{\"name\":\"a\",\"algorithm\":\"rsa-2048\"}]}", &ks), RB_E_UNSUPPORTED);
	/* The default set: OpenPGP nowhere near a digest a node chooses, the
	 * sign node's keys alone; raw digests only for the OTA key (which has
	 * no OpenPGP identity, admin/certify.h). */
	CHECK_OK(keyspec_default(&ks));
	for (size_t i = 0; i < ks->n_keys; i++) {
		const struct keyspec_key *k = &ks->keys[i];

		if (strcmp(k->name, "queue") == 0)
			CHECK(k->purposes == KEY_PURPOSE_QUEUE_RESPONSE);
		else if (strcmp(k->name, "audit") == 0)
			CHECK(k->purposes == KEY_PURPOSE_AUDIT_CHECKPOINT);
		else if (strcmp(k->name, "release") == 0)
			CHECK(k->purposes == KEY_PURPOSE_OPENPGP_DETACHED);
		else if (strcmp(k->name, "ota_key") == 0)
			CHECK(k->purposes == (KEY_PURPOSE_OTA | KEY_PURPOSE_RAW_DETACHED));
		else
			CHECK(!(k->purposes & (KEY_PURPOSE_RAW_DETACHED | KEY_PURPOSES_OPENPGP | KEY_PURPOSES_SIGN_NODE)));
	}
	keyspec_free(ks);
}

int main(void)
{
	RUN(test_names);
	RUN(test_rules);
	RUN(test_legacy);
	RUN(test_keyspec);
	TEST_MAIN_END();
}
