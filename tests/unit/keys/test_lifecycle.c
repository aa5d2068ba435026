/* Key lifecycle and rotation statements: lineage links in the manifest
 * (round trip, every broken link refused), key selection by name or
 * fingerprint, revocation and rotation refusals, and rotation statements
 * whose either signature, body or form is altered. Keys come from the
 * test-only soft signer; tests/integration/key-lifecycle.sh does the same
 * on SoftHSM2. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "audit/entry.h"
#include "audit/log.h"
#include "audit/origin.h"

#include "admin/lifecycle.h"
#include "harness.h"
#include "keys/manifest.h"
#include "keys/rotation.h"
#include "pgp/pgp.h"
#include "soft_signer.h"
#include "util/encode.h"
#include "util/err.h"
#include "x509/x509.h"

HARNESS_GLOBALS;

static void make_key(const char *name, const char *kind, struct rb_signer *s, struct manifest_key *k)
{
	struct x509_cert_params cp = { .subject = "/O=rombsr/CN=test", .serial = { 1, 2, 3 }, .serial_len = 3,
				       .not_before = 1700000000, .not_after = 1900000000 };
	unsigned char *der = NULL;
	int n;

	CHECK_OK(soft_signer_new(kind, s));
	memset(k, 0, sizeof(*k));
	k->name = strdup(name);
	k->id = malloc(1);
	k->id[0] = 0x01;
	k->id_len = 1;
	k->uri = strdup("pkcs11:token=t;object=x;type=private");
	k->purpose = strdup("android");
	k->purposes = KEY_PURPOSE_APK;
	k->alg = s->alg;
	k->bits = (unsigned)(s->alg == RB_KEY_RSA ? EVP_PKEY_get_bits(s->pub) : s->alg == RB_KEY_EC_P256 ? 256 : 255);
	k->status = KEY_ACTIVE;
	k->created = 1700000000;
	n = i2d_PUBKEY(s->pub, &der);
	k->spki = malloc((size_t)n);
	memcpy(k->spki, der, (size_t)n);
	k->spki_len = (size_t)n;
	OPENSSL_free(der);
	CHECK_OK(x509_cert_build_selfsigned(s, &cp, &k->cert, &k->cert_len));
	CHECK_OK(manifest_key_derive(k));
}

static void manifest_init(struct manifest *m, size_t cap)
{
	memset(m, 0, sizeof(*m));
	m->generated = 1700000000;
	m->token_label = strdup("t");
	m->token_uri = strdup("pkcs11:token=t");
	m->keys = calloc(cap, sizeof(*m->keys));
}

static void manifest_clear(struct manifest *m)
{
	for (size_t i = 0; i < m->n_keys; i++)
		manifest_key_clear(&m->keys[i]);
	free(m->keys);
	free(m->token_label);
	free(m->token_uri);
}

/* Emit m and parse it back. */
static int reparse(const struct manifest *m, struct manifest **ret)
{
	struct rb_buf out = RB_BUF_INIT;
	int err = manifest_emit(m, &out);

	if (err == RB_OK)
		err = manifest_parse((const char *)out.data, out.len, "m.json", ret);
	rb_buf_free(&out);
	return err;
}

static struct rb_signer s_media, s_queue, s_new;

static void test_lineage_roundtrip(void)
{
	struct manifest m, *back = NULL, *again = NULL;
	struct manifest_key succ;
	struct rb_buf a = RB_BUF_INIT, b = RB_BUF_INIT;
	char *name = NULL;

	manifest_init(&m, 2);
	make_key("media", "rsa2048", &s_media, &m.keys[0]);
	make_key("queue", "ed25519", &s_queue, &m.keys[1]);
	m.n_keys = 2;
	/* no links: what every manifest before rotation looks like */
	CHECK_OK(reparse(&m, &back));
	CHECK(back && !back->keys[0].predecessor && !back->keys[0].successor);
	manifest_free(back);
	back = NULL;

	CHECK_OK(key_lifecycle_successor_name(&m, 0, &name));
	CHECK(name && strcmp(name, "media-2") == 0);
	make_key(name, "rsa2048", &s_new, &succ);
	soft_signer_free(&s_new);
	CHECK_OK(key_lifecycle_link_successor(&m, 0, &succ));
	CHECK(succ.name == NULL); /* taken over */
	CHECK(m.n_keys == 3);
	CHECK(m.keys[0].status == KEY_RETIRED && strcmp(m.keys[0].successor, "media-2") == 0);
	CHECK(m.keys[2].status == KEY_ACTIVE && strcmp(m.keys[2].predecessor, "media") == 0);
	CHECK_OK(reparse(&m, &back));
	if (back) {
		const struct manifest_key *o = manifest_find(back, "media"), *n = manifest_find(back, "media-2");

		CHECK(o && o->status == KEY_RETIRED && o->successor && strcmp(o->successor, "media-2") == 0);
		CHECK(n && n->status == KEY_ACTIVE && n->predecessor && strcmp(n->predecessor, "media") == 0);
		CHECK(!manifest_find(back, "queue")->successor);
		/* emit(parse(emit(m))) == emit(m) */
		CHECK_OK(manifest_emit(&m, &a));
		CHECK_OK(manifest_emit(back, &b));
		CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
		CHECK(strstr((const char *)a.data, "\"successor\": \"media-2\"") != NULL);
	}
	/* the next successor continues the lineage's numbering */
	free(name);
	name = NULL;
	CHECK_OK(key_lifecycle_successor_name(&m, 2, &name));
	CHECK(name && strcmp(name, "media-3") == 0);
	/* the retired key cannot be rotated again, and names are not reused */
	CHECK_ERR(key_lifecycle_check_rotatable(&m, 0), RB_E_PERM);
	CHECK(strstr(rb_err_detail(), "media-2") != NULL);
	make_key("queue", "ed25519", &s_new, &succ);
	soft_signer_free(&s_new);
	CHECK_ERR(key_lifecycle_link_successor(&m, 2, &succ), RB_E_EXISTS);
	CHECK(m.n_keys == 3 && m.keys[2].status == KEY_ACTIVE && !m.keys[2].successor);
	free(succ.name);
	succ.name = strdup("Bad.Name");
	CHECK_ERR(key_lifecycle_link_successor(&m, 2, &succ), RB_E_INVAL);
	manifest_key_clear(&succ);
	free(name);
	rb_buf_free(&a);
	rb_buf_free(&b);
	manifest_free(back);
	manifest_free(again);
	manifest_clear(&m);
}

/* Every way a link can be wrong makes the whole manifest unreadable. */
static void test_lineage_broken_links(void)
{
	struct manifest m, *back = NULL;

	manifest_init(&m, 2);
	make_key("old", "ed25519", &s_new, &m.keys[0]);
	soft_signer_free(&s_new);
	make_key("new", "ed25519", &s_new, &m.keys[1]);
	soft_signer_free(&s_new);
	m.n_keys = 2;
	m.keys[0].status = KEY_RETIRED;
	m.keys[0].successor = strdup("new");
	m.keys[1].predecessor = strdup("old");
	CHECK_OK(reparse(&m, &back));
	manifest_free(back);
	back = NULL;

	/* one-way: the successor does not name its predecessor */
	free(m.keys[1].predecessor);
	m.keys[1].predecessor = NULL;
	CHECK_ERR(reparse(&m, &back), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "predecessor") != NULL);
	/* dangling */
	m.keys[1].predecessor = strdup("old");
	free(m.keys[0].successor);
	m.keys[0].successor = strdup("ghost");
	CHECK_ERR(reparse(&m, &back), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "ghost") != NULL);
	/* onto itself */
	free(m.keys[0].successor);
	m.keys[0].successor = strdup("old");
	CHECK_ERR(reparse(&m, &back), RB_E_PARSE);
	/* a superseded key left active could still sign */
	free(m.keys[0].successor);
	m.keys[0].successor = strdup("new");
	m.keys[0].status = KEY_ACTIVE;
	CHECK_ERR(reparse(&m, &back), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "active") != NULL);
	/* revoked after rotation is fine */
	m.keys[0].status = KEY_REVOKED;
	m.keys[0].revocation_reason = strdup("leaked");
	CHECK_OK(reparse(&m, &back));
	manifest_free(back);
	back = NULL;
	/* not a key name */
	free(m.keys[1].predecessor);
	m.keys[1].predecessor = strdup("../old");
	CHECK_ERR(reparse(&m, &back), RB_E_PARSE);
	CHECK(back == NULL);
	manifest_clear(&m);
}

static void test_select(void)
{
	struct manifest m;
	char *hex = NULL, prefix[17];
	size_t idx = 99;

	manifest_init(&m, 2);
	make_key("media", "p256", &s_new, &m.keys[0]);
	soft_signer_free(&s_new);
	make_key("platform", "p256", &s_new, &m.keys[1]);
	soft_signer_free(&s_new);
	m.n_keys = 2;
	CHECK_OK(key_lifecycle_select(&m, "platform", &idx));
	CHECK(idx == 1);
	CHECK_OK(rb_hex_encode(m.keys[1].spki_sha256, 32, &hex));
	idx = 99;
	CHECK_OK(key_lifecycle_select(&m, hex, &idx));
	CHECK(idx == 1);
	memcpy(prefix, hex, 16);
	prefix[16] = 0;
	idx = 99;
	CHECK_OK(key_lifecycle_select(&m, prefix, &idx));
	CHECK(idx == 1);
	for (char *p = prefix; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	idx = 99;
	CHECK_OK(key_lifecycle_select(&m, prefix, &idx));
	CHECK(idx == 1);
	/* too short a prefix could match by accident */
	prefix[15] = 0;
	CHECK_ERR(key_lifecycle_select(&m, prefix, &idx), RB_E_KEY);
	CHECK(strstr(rb_err_detail(), "16") != NULL);
	CHECK_ERR(key_lifecycle_select(&m, "nosuchkey", &idx), RB_E_KEY);
	CHECK(strstr(rb_err_detail(), "nosuchkey") != NULL);
	/* a wrong fingerprint */
	hex[0] = hex[0] == '0' ? '1' : '0';
	CHECK_ERR(key_lifecycle_select(&m, hex, &idx), RB_E_KEY);
	CHECK(idx == 1);
	free(hex);
	manifest_clear(&m);
}

static void test_revoke(void)
{
	struct manifest m;
	char big[KEY_REASON_MAX + 2];

	manifest_init(&m, 1);
	make_key("media", "ed25519", &s_new, &m.keys[0]);
	soft_signer_free(&s_new);
	m.n_keys = 1;
	CHECK_ERR(key_lifecycle_revoke(&m, 0, NULL), RB_E_INVAL);
	CHECK_ERR(key_lifecycle_revoke(&m, 0, ""), RB_E_INVAL);
	CHECK_ERR(key_lifecycle_revoke(&m, 0, "line\nbreak"), RB_E_INVAL);
	CHECK_ERR(key_lifecycle_revoke(&m, 0, "caf\xc3\xa9"), RB_E_INVAL);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	CHECK_ERR(key_lifecycle_revoke(&m, 0, big), RB_E_INVAL);
	big[KEY_REASON_MAX] = 0;
	CHECK_OK(key_lifecycle_check_reason(big));
	CHECK(m.keys[0].status == KEY_ACTIVE && !m.keys[0].revocation_reason);
	CHECK_OK(key_lifecycle_revoke(&m, 0, "key file found on build host"));
	CHECK(m.keys[0].status == KEY_REVOKED);
	/* no second revocation, the first reason stays */
	CHECK_ERR(key_lifecycle_revoke(&m, 0, "another reason"), RB_E_PERM);
	CHECK(strcmp(m.keys[0].revocation_reason, "key file found on build host") == 0);
	/* and a revoked key is never rotated */
	CHECK_ERR(key_lifecycle_check_rotatable(&m, 0), RB_E_PERM);
	CHECK(strstr(rb_err_detail(), "revoked") != NULL);
	manifest_clear(&m);
}

static void test_links_storage(void)
{
	struct manifest_key k = { .name = "media-2" };
	char buf[160], dir[] = "/tmp/rombsr-store-XXXXXX", path[64];
	FILE *f;

	key_lifecycle_links_format(&k, buf, sizeof(buf));
	CHECK(strcmp(buf, "-") == 0);
	k.predecessor = "media";
	key_lifecycle_links_format(&k, buf, sizeof(buf));
	CHECK(strcmp(buf, "after media") == 0);
	k.successor = "media-3";
	key_lifecycle_links_format(&k, buf, sizeof(buf));
	CHECK(strcmp(buf, "after media, before media-3") == 0);
	k.predecessor = NULL;
	key_lifecycle_links_format(&k, buf, 8);
	CHECK(strcmp(buf, "before ") == 0);
	CHECK(strcmp(key_lifecycle_storage(&k, NULL), "resident") == 0);
	CHECK(mkdtemp(dir) != NULL);
	CHECK(strcmp(key_lifecycle_storage(&k, dir), "resident") == 0);
	snprintf(path, sizeof(path), "%s/media-2.json", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f)
		fclose(f);
	CHECK(strcmp(key_lifecycle_storage(&k, dir), "wrapped") == 0);
	/* a name that is not a key name never becomes a path */
	k.name = "../media-2";
	CHECK(strcmp(key_lifecycle_storage(&k, dir), "resident") == 0);
	unlink(path);
	rmdir(dir);
}

static void test_audit_origin(void)
{
	char *o = NULL;

	CHECK_OK(audit_origin_for_token("rombsr test/1", &o));
	CHECK(o && strcmp(o, "rombsr-audit/rombsr-test-1") == 0);
	free(o);
}

static void test_successor_spec(void)
{
	struct manifest_key k;
	struct keyspec *ks = NULL;
	struct rb_buf pgp = RB_BUF_INIT;

	make_key("pkg", "ed25519", &s_new, &k);
	CHECK_OK(pgp_cert_write(&s_new, k.created, "Example Packages <pkg@example.org>", k.created, &pgp));
	k.openpgp = rb_buf_steal(&pgp, &k.openpgp_len);
	CHECK_OK(manifest_key_derive(&k));
	CHECK_OK(key_lifecycle_successor_spec(&k, "pkg-2", &ks));
	if (ks) {
		CHECK(ks->n_keys == 1 && strcmp(ks->keys[0].name, "pkg-2") == 0);
		CHECK(ks->keys[0].alg == RB_KEY_ED25519);
		CHECK(strcmp(ks->keys[0].subject, "/O=rombsr/CN=test") == 0);
		CHECK(strcmp(ks->keys[0].purpose, "android") == 0);
		/* 1700000000 .. 1900000000 is 2314 whole days */
		CHECK(ks->keys[0].validity_days == 2314);
		CHECK(ks->keys[0].openpgp_uid && strcmp(ks->keys[0].openpgp_uid, "Example Packages <pkg@example.org>") == 0);
	}
	keyspec_free(ks);
	ks = NULL;
	CHECK_ERR(key_lifecycle_successor_spec(&k, "Pkg.2", &ks), RB_E_INVAL);
	/* no OpenPGP certificate: no user ID to carry over */
	free(k.openpgp);
	k.openpgp = NULL;
	k.openpgp_len = 0;
	CHECK_OK(key_lifecycle_successor_spec(&k, "pkg-2", &ks));
	CHECK(ks && ks->keys[0].openpgp_uid == NULL);
	keyspec_free(ks);
	ks = NULL;
	/* a certificate that is not one */
	k.cert[0] ^= 0xff;
	CHECK_ERR(key_lifecycle_successor_spec(&k, "pkg-2", &ks), RB_E_PARSE);
	CHECK(ks == NULL);
	manifest_key_clear(&k);
	soft_signer_free(&s_new);
}

static void test_rotatable_names(void)
{
	struct manifest m;

	manifest_init(&m, 2);
	make_key("queue", "ed25519", &s_new, &m.keys[0]);
	soft_signer_free(&s_new);
	make_key("audit", "ed25519", &s_new, &m.keys[1]);
	soft_signer_free(&s_new);
	m.n_keys = 2;
	CHECK_ERR(key_lifecycle_check_rotatable(&m, 0), RB_E_PERM);
	CHECK(strstr(rb_err_detail(), "by its name") != NULL);
	CHECK_ERR(key_lifecycle_check_rotatable(&m, 1), RB_E_PERM);
	manifest_clear(&m);
}

static struct json_value *sign_entry(uint64_t i, const uint8_t key_fpr[32], const char *artifact)
{
	uint8_t node[20], digest[32], sig[64], sha[32];
	char rid[32], build[32];
	struct audit_sign_info in = { 0 };
	struct json_value *e = NULL;

	memset(node, 0x22, sizeof(node));
	memset(digest, (int)i, sizeof(digest));
	memset(sig, 0x33, sizeof(sig));
	memset(sha, 0x44, sizeof(sha));
	snprintf(rid, sizeof(rid), "%016llx", (unsigned long long)i);
	snprintf(build, sizeof(build), "build-%llu", (unsigned long long)i);
	in = (struct audit_sign_info){ .time = 1800000000 + (int64_t)i, .request_id = rid, .build_id = build,
				       .node_fpr = node, .key_name = "media", .key_fpr = key_fpr,
				       .scheme = RB_SIG_ED25519, .artifact_name = artifact, .artifact_sha256 = sha,
				       .digest = digest, .digest_len = 32, .sig = sig, .sig_len = 64 };
	CHECK_OK(audit_entry_sign(&in, &e));
	return e;
}

static void count_artifacts(const struct json_value *e, void *userdata)
{
	const char *a = NULL;

	if (json_get_string(e, "artifact", &a) == 0 && strcmp(a, "system.img") == 0)
		(*(int *)userdata)++;
}

/* What hsm-revoke and hsm-rotate-keys do with an audit log: record under
 * a signed checkpoint, re-open by the checkpoint's origin, list what a key
 * signed. */
static void test_audit_record_and_list(void)
{
	char dir[] = "/tmp/rombsr-lifecycle-XXXXXX", *log_dir = NULL, *found = NULL, sub[64];
	uint8_t mine[32], other[32];
	struct rb_signer audit_key;
	struct audit_log *log = NULL;
	struct json_value *entries[3] = { 0 }, *revoke = NULL;
	struct audit_key_info info = { .time = 1800000100, .actor = "operator", .key_name = "media",
				       .key_fpr = mine, .detail = "test" };
	uint64_t first = 99, count = 0;
	int systems = 0;

	CHECK(mkdtemp(dir) != NULL);
	CHECK(asprintf(&log_dir, "%s/audit", dir) > 0);
	memset(mine, 0xaa, sizeof(mine));
	memset(other, 0xbb, sizeof(other));
	CHECK_OK(soft_signer_new("ed25519", &audit_key));
	/* no directory: nothing to record into */
	CHECK_OK(key_lifecycle_audit_dir(NULL, NULL, dir, &found));
	CHECK(found == NULL);
	CHECK_OK(key_lifecycle_audit_dir("/given", "/config", dir, &found));
	CHECK(found && strcmp(found, "/given") == 0);
	free(found);
	CHECK_OK(key_lifecycle_audit_dir(NULL, "/config", dir, &found));
	CHECK(found && strcmp(found, "/config") == 0);
	free(found);
	CHECK(mkdir(log_dir, 0700) == 0);
	CHECK_OK(key_lifecycle_audit_dir(NULL, NULL, dir, &found));
	CHECK(found && strcmp(found, log_dir) == 0);
	free(found);

	entries[0] = sign_entry(1, mine, "system.img");
	entries[1] = sign_entry(2, other, "system.img");
	entries[2] = sign_entry(3, mine, "boot.img");
	CHECK_OK(key_lifecycle_audit_record(log_dir, "tok en", (const struct json_value *const *)entries, 3,
					    &audit_key, &first));
	CHECK(first == 0);
	/* re-opened with another label, the checkpoint's origin wins */
	CHECK_OK(audit_entry_key(AUDIT_REVOKE, &info, &revoke));
	CHECK_OK(key_lifecycle_audit_record(log_dir, "other-token", (const struct json_value *const *)&revoke, 1,
					    &audit_key, &first));
	CHECK(first == 3);
	CHECK_OK(key_lifecycle_signed_by(log_dir, "ignored", mine, count_artifacts, &systems, &count));
	CHECK(count == 2 && systems == 1);
	CHECK_OK(key_lifecycle_signed_by(log_dir, "ignored", other, NULL, NULL, &count));
	CHECK(count == 1);
	CHECK_OK(audit_log_open(log_dir, "rombsr-audit/tok-en", &log));
	CHECK(log && audit_log_size(log) == 4 && audit_log_checkpoint_size(log) == 4);
	audit_log_close(log);
	/* an entry that does not parse stops the listing, it is not skipped */
	snprintf(sub, sizeof(sub), "%s/checkpoint", log_dir);
	{
		FILE *f = fopen(sub, "w");

		CHECK(f != NULL);
		if (f) {
			fputs("not a checkpoint\n", f);
			fclose(f);
		}
	}
	CHECK(key_lifecycle_signed_by(log_dir, "ignored", mine, NULL, NULL, &count) < 0);
	for (size_t i = 0; i < 3; i++)
		json_free(entries[i]);
	json_free(revoke);
	soft_signer_free(&audit_key);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		CHECK(system(cmd) == 0);
	}
	free(log_dir);
}

/* --- rotation statements ------------------------------------------------ */

static struct manifest rm;
static struct rb_signer r_old, r_new;
static char *stmt;

static int parse_verify(const char *text, size_t len)
{
	struct rotation_statement *st = NULL;
	int err = rotation_statement_parse(text, len, "st.json", &st);

	if (err == RB_OK)
		err = rotation_statement_verify(st);
	if (err == RB_OK)
		err = rotation_statement_check_manifest(st, &rm);
	rotation_statement_free(st);
	return err;
}

/* Replace the first from by to in stmt and parse+verify. */
static int verify_edited(const char *from, const char *to)
{
	const char *at = strstr(stmt, from);
	char *ed;
	int err;

	if (!at) {
		fprintf(stderr, "anchor '%s' not found\n", from);
		return 999;
	}
	ed = malloc(strlen(stmt) + strlen(to) + 1);
	memcpy(ed, stmt, (size_t)(at - stmt));
	strcpy(ed + (at - stmt), to);
	strcat(ed, at + strlen(from));
	err = parse_verify(ed, strlen(ed));
	free(ed);
	return err;
}

/* The base64 value of member key in stmt; caller frees. */
static char *member_value(const char *key)
{
	char anchor[64];
	const char *p, *e;

	snprintf(anchor, sizeof(anchor), "\"%s\":\"", key);
	p = strstr(stmt, anchor);
	if (!p)
		return NULL;
	p += strlen(anchor);
	e = strchr(p, '"');
	return strndup(p, (size_t)(e - p));
}

static void rotation_setup(const char *old_kind, const char *new_kind)
{
	struct manifest_key succ;
	struct rb_buf out = RB_BUF_INIT;

	manifest_init(&rm, 2);
	make_key("media", old_kind, &r_old, &rm.keys[0]);
	rm.n_keys = 1;
	make_key("media-2", new_kind, &r_new, &succ);
	CHECK_OK(key_lifecycle_link_successor(&rm, 0, &succ));
	CHECK_OK(rotation_statement_sign(&rm.keys[0], &r_old, &rm.keys[1], &r_new, 1800000000, &out));
	CHECK_OK(rb_buf_terminate(&out));
	stmt = (char *)rb_buf_steal(&out, NULL);
}

static void rotation_teardown(void)
{
	manifest_clear(&rm);
	soft_signer_free(&r_old);
	soft_signer_free(&r_new);
	free(stmt);
	stmt = NULL;
}

static void check_statement_attacks(void)
{
	struct rotation_statement *st = NULL;
	char *so = member_value("old_signature"), *sn = member_value("new_signature");

	CHECK(stmt && so && sn);
	if (!stmt || !so || !sn)
		goto out;
	CHECK_OK(parse_verify(stmt, strlen(stmt)));
	CHECK(strstr(stmt, "\"format\":\"rombsr-rotation-statement\"") != NULL);
	/* either signature altered */
	CHECK_OK(rotation_statement_parse(stmt, strlen(stmt), "st.json", &st));
	if (st) {
		st->old_sig[st->old_sig_len / 2] ^= 0x01;
		CHECK_ERR(rotation_statement_verify(st), RB_E_VERIFY);
		CHECK(strstr(rb_err_detail(), "old_signature") != NULL);
		st->old_sig[st->old_sig_len / 2] ^= 0x01;
		st->new_sig[st->new_sig_len / 2] ^= 0x80;
		CHECK_ERR(rotation_statement_verify(st), RB_E_VERIFY);
		CHECK(strstr(rb_err_detail(), "new_signature") != NULL);
		st->new_sig[st->new_sig_len / 2] ^= 0x80;
		CHECK_OK(rotation_statement_verify(st));
	}
	/* the same through the document: one signature put in the other's place */
	CHECK_ERR(verify_edited(so, sn), RB_E_VERIFY);
	CHECK_ERR(verify_edited(sn, so), RB_E_VERIFY);
	/* the time is signed */
	CHECK_ERR(verify_edited("\"time\":\"2027-01-15T08:00:00Z\"", "\"time\":\"2027-01-15T08:00:01Z\""),
		  RB_E_VERIFY);
	/* a different claimed name for the old key */
	CHECK_ERR(verify_edited("\"name\":\"media\"", "\"name\":\"mediax\""), RB_E_VERIFY);
	/* form: not canonical, trailing data, unknown member, version */
	CHECK_ERR(verify_edited("{\"format\"", "{ \"format\""), RB_E_PARSE);
	CHECK_ERR(verify_edited("\"version\":1}", "\"version\":1}\n"), RB_E_PARSE);
	CHECK_ERR(verify_edited("\"version\":1}", "\"version\":1}x"), RB_E_PARSE);
	CHECK_ERR(verify_edited("\"version\":1}", "\"version\":2}"), RB_E_UNSUPPORTED);
	CHECK_ERR(verify_edited("{\"format\"", "{\"extra\":1,\"format\""), RB_E_PARSE);
	CHECK_ERR(parse_verify(stmt, strlen(stmt) - 5), RB_E_PARSE);
	/* a fingerprint that does not match the SPKI */
	{
		char hex[65];
		char *h = NULL;

		CHECK_OK(rb_hex_encode(rm.keys[1].spki_sha256, 32, &h));
		memcpy(hex, h, 65);
		hex[63] = hex[63] == '0' ? '1' : '0';
		CHECK_ERR(verify_edited(h, hex), RB_E_VERIFY);
		free(h);
	}
	/* the manifest must link the two keys */
	if (st) {
		free(rm.keys[1].predecessor);
		rm.keys[1].predecessor = NULL;
		CHECK_ERR(rotation_statement_check_manifest(st, &rm), RB_E_VERIFY);
		rm.keys[1].predecessor = strdup("media");
		CHECK_OK(rotation_statement_check_manifest(st, &rm));
	}
out:
	rotation_statement_free(st);
	free(so);
	free(sn);
}

static void test_rotation_rsa(void)
{
	rotation_setup("rsa2048", "rsa2048");
	check_statement_attacks();
	rotation_teardown();
}

static void test_rotation_ed25519_p256(void)
{
	rotation_setup("ed25519", "p256");
	check_statement_attacks();
	rotation_teardown();
}

/* A signer whose key is not the manifest key signs nothing. */
static void test_rotation_wrong_signer(void)
{
	struct rb_buf out = RB_BUF_INIT;

	rotation_setup("ed25519", "ed25519");
	CHECK_ERR(rotation_statement_sign(&rm.keys[0], &r_new, &rm.keys[1], &r_new, 1800000000, &out),
		  RB_E_VERIFY);
	CHECK_ERR(rotation_statement_sign(&rm.keys[0], &r_old, &rm.keys[1], &r_old, 1800000000, &out),
		  RB_E_VERIFY);
	CHECK(out.len == 0);
	rb_buf_free(&out);
	rotation_teardown();
}

int main(void)
{
	RUN(test_lineage_roundtrip);
	RUN(test_lineage_broken_links);
	RUN(test_select);
	RUN(test_revoke);
	RUN(test_audit_origin);
	RUN(test_links_storage);
	RUN(test_successor_spec);
	RUN(test_rotatable_names);
	RUN(test_audit_record_and_list);
	RUN(test_rotation_rsa);
	RUN(test_rotation_ed25519_p256);
	RUN(test_rotation_wrong_signer);
	soft_signer_free(&s_media);
	soft_signer_free(&s_queue);
	soft_signer_free(&s_new);
	TEST_MAIN_END();
}
