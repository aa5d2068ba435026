#include "admin/lifecycle.h"
#include "audit/origin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "audit/note.h"
#include "keys/keyspec.h"
#include "pgp/pgp-internal.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/fileio.h"
#include "x509/x509.h"


static bool is_hex(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F')))
			return false;
	return true;
}

int key_lifecycle_select(const struct manifest *m, const char *sel, size_t *ret_index)
{
	size_t n = strlen(sel), found = 0, idx = 0;

	for (size_t i = 0; i < m->n_keys; i++)
		if (strcmp(m->keys[i].name, sel) == 0) {
			*ret_index = i;
			return RB_OK;
		}
	if (!is_hex(sel) || n > 64)
		return rb_err_set(RB_E_KEY, "no key named '%.64s' in the manifest; give a key name or its "
				  "SPKI SHA-256 fingerprint ('rombsr keys list' shows both)", sel);
	if (n < KEY_SELECTOR_MIN_HEX)
		return rb_err_set(RB_E_KEY, "no key named '%s'; a fingerprint prefix needs at least %d hex "
				  "digits", sel, KEY_SELECTOR_MIN_HEX);
	for (size_t i = 0; i < m->n_keys; i++) {
		_cleanup_free_ char *hex = NULL;

		if (rb_hex_encode(m->keys[i].spki_sha256, 32, &hex) < 0)
			return RB_E_NOMEM;
		if (strncasecmp(hex, sel, n) == 0) {
			found++;
			idx = i;
		}
	}
	if (found == 0)
		return rb_err_set(RB_E_KEY, "no key's SPKI SHA-256 fingerprint starts with %s; 'rombsr keys "
				  "list' shows the fingerprints", sel);
	if (found > 1)
		return rb_err_set(RB_E_KEY, "fingerprint prefix %s matches %zu keys; give more digits or "
				  "the key name", sel, found);
	*ret_index = idx;
	return RB_OK;
}

int key_lifecycle_check_reason(const char *reason)
{
	size_t n;

	if (!reason || !*reason)
		return rb_err_set(RB_E_INVAL, "a revocation reason is required (--reason TEXT): it goes into "
				  "the manifest and the audit log");
	n = strlen(reason);
	if (n > KEY_REASON_MAX)
		return rb_err_set(RB_E_INVAL, "the revocation reason is %zu bytes; at most %d are allowed",
				  n, KEY_REASON_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)reason[i] < 0x20 || (unsigned char)reason[i] > 0x7e)
			return rb_err_set(RB_E_INVAL, "the revocation reason has a non-printable byte at "
					  "offset %zu; use printable ASCII only", i);
	return RB_OK;
}

int key_lifecycle_revoke(struct manifest *m, size_t index, const char *reason)
{
	struct manifest_key *k;
	char *copy;
	int err;

	if (index >= m->n_keys)
		return RB_E_INVAL;
	k = &m->keys[index];
	if (k->status == KEY_REVOKED)
		return rb_err_set(RB_E_PERM, "key '%s' is already revoked (%s); a revocation is final and "
				  "its reason is never replaced", k->name,
				  k->revocation_reason ? k->revocation_reason : "no reason recorded");
	if ((err = key_lifecycle_check_reason(reason)) < 0)
		return err;
	if (!(copy = strdup(reason)))
		return RB_E_NOMEM;
	free(k->revocation_reason);
	k->revocation_reason = copy;
	k->status = KEY_REVOKED;
	return RB_OK;
}

int key_lifecycle_check_rotatable(const struct manifest *m, size_t index)
{
	const struct manifest_key *k;

	if (index >= m->n_keys)
		return RB_E_INVAL;
	k = &m->keys[index];
	if (k->status == KEY_REVOKED)
		return rb_err_set(RB_E_PERM, "key '%s' is revoked (%s); a revoked key is never rotated - "
				  "provision a new key and re-sign with it", k->name,
				  k->revocation_reason ? k->revocation_reason : "no reason recorded");
	if (k->status != KEY_ACTIVE)
		return rb_err_set(RB_E_PERM, "key '%s' is %s%s%s; only an active key is rotated%s", k->name,
				  key_status_name(k->status), k->successor ? ", superseded by " : "",
				  k->successor ? k->successor : "",
				  k->successor ? " - rotate its successor instead" : "");
	/* The sign node and the queue guard find these two by name. */
	if (strcmp(k->name, "queue") == 0 || strcmp(k->name, "audit") == 0)
		return rb_err_set(RB_E_PERM, "key '%s' is found by its name by the sign node and the queue "
				  "guard; rotating it would leave them without a key - it is not rotated by "
				  "hsm-rotate-keys", k->name);
	return RB_OK;
}

static void keyspec_freep_(struct keyspec **p)
{
	keyspec_free(*p);
}

/* The User ID of an OpenPGP certificate as rombsr writes it: the key
 * packet, then the User ID packet. */
static int openpgp_uid(const struct manifest_key *k, char **ret)
{
	struct rb_reader r;
	const uint8_t *body;
	size_t len;
	uint8_t tag;

	rb_reader_init(&r, k->openpgp, k->openpgp_len);
	if (pgp_get_packet(&r, &tag, &body, &len) < 0 || tag != PGP_TAG_PUBLIC_KEY ||
	    pgp_get_packet(&r, &tag, &body, &len) < 0 || tag != PGP_TAG_USER_ID || len == 0 || len > 1024 ||
	    memchr(body, 0, len))
		return rb_err_set(RB_E_PARSE, "key '%s': its OpenPGP certificate has no User ID after the key "
				  "packet", k->name);
	if (!(*ret = strndup((const char *)body, len)))
		return RB_E_NOMEM;
	return RB_OK;
}

int key_lifecycle_successor_spec(const struct manifest_key *old, const char *name, struct keyspec **ret)
{
	__attribute__((cleanup(keyspec_freep_))) struct keyspec *ks = NULL;
	_cleanup_free_ uint8_t *want = NULL, *have = NULL;
	const unsigned char *p = old->cert;
	struct keyspec_key *k;
	X509 *x;
	char subject[X509_SUBJECT_MAX + 1];
	size_t want_len, have_len;
	int days = 0, secs = 0, n, err;
	unsigned char *der = NULL;

	if (!key_name_valid(name))
		return rb_err_set(RB_E_INVAL, "successor name '%.64s' must be 1-%d characters of a-z, 0-9, "
				  "'_' or '-'", name, KEY_NAME_MAX);
	x = d2i_X509(NULL, &p, (long)old->cert_len);
	if (!x)
		return rb_err_set(RB_E_PARSE, "key '%s': its certificate does not parse", old->name);
	X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject));
	n = i2d_X509_NAME(X509_get_subject_name(x), &der);
	if (ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)) != 1)
		days = 0;
	X509_free(x);
	if (n <= 0)
		return RB_E_CRYPTO;
	have = malloc((size_t)n);
	if (!have) {
		OPENSSL_free(der);
		return RB_E_NOMEM;
	}
	memcpy(have, der, (size_t)n);
	have_len = (size_t)n;
	OPENSSL_free(der);
	/* The successor's subject must be the old one exactly; a subject
	 * that does not survive the one-line form is refused, not changed. */
	if (x509_subject_to_der(subject, &want, &want_len) < 0 || want_len != have_len ||
	    memcmp(want, have, have_len) != 0)
		return rb_err_set(RB_E_UNSUPPORTED, "key '%s': its certificate subject cannot be reproduced "
				  "exactly by rombsr's X.509 profile, so a successor would not carry the same "
				  "subject", old->name);
	if (days < 1)
		return rb_err_set(RB_E_PARSE, "key '%s': its certificate is valid for less than a day", old->name);
	if (!(ks = calloc(1, sizeof(*ks))) || !(ks->keys = calloc(1, sizeof(*ks->keys))))
		return RB_E_NOMEM;
	ks->n_keys = 1;
	k = &ks->keys[0];
	k->name = strdup(name);
	k->purpose = strdup(old->purpose ? old->purpose : "");
	k->subject = strdup(subject);
	if (!k->name || !k->purpose || !k->subject)
		return RB_E_NOMEM;
	k->alg = old->alg;
	k->bits = old->bits;
	k->purposes = old->purposes; /* a successor signs in its predecessor's domains */
	k->validity_days = days;
	if (old->openpgp && (err = openpgp_uid(old, &k->openpgp_uid)) < 0)
		return err;
	*ret = TAKE_PTR(ks);
	return RB_OK;
}

int key_lifecycle_successor_name(const struct manifest *m, size_t index, char **ret)
{
	const struct manifest_key *root;

	if (index >= m->n_keys)
		return RB_E_INVAL;
	root = &m->keys[index];
	/* Links are checked reciprocal at parse time, but a manifest built
	 * in memory need not be: bound the walk by the number of keys. */
	for (size_t steps = 0; root->predecessor && steps < m->n_keys; steps++) {
		const struct manifest_key *p = manifest_find(m, root->predecessor);

		if (!p)
			break;
		root = p;
	}
	for (unsigned n = 2; n < 100000; n++) {
		char *name;

		if (asprintf(&name, "%s-%u", root->name, n) < 0)
			return RB_E_NOMEM;
		if (!key_name_valid(name)) {
			free(name);
			return rb_err_set(RB_E_INVAL, "key '%s': no valid successor name fits in %d characters; "
					  "choose one with --successor NAME", root->name, KEY_NAME_MAX);
		}
		if (!manifest_find(m, name)) {
			*ret = name;
			return RB_OK;
		}
		free(name);
	}
	return rb_err_set(RB_E_LIMIT, "key '%s': no free successor name; choose one with --successor NAME",
			  root->name);
}

int key_lifecycle_link_successor(struct manifest *m, size_t index, struct manifest_key *successor)
{
	struct manifest_key *keys, *old;
	char *succ_name, *pred_name;
	int err;

	if (index >= m->n_keys || !successor->name)
		return RB_E_INVAL;
	if ((err = key_lifecycle_check_rotatable(m, index)) < 0)
		return err;
	if (!key_name_valid(successor->name))
		return rb_err_set(RB_E_INVAL, "successor name '%.64s' must be 1-%d characters of a-z, 0-9, "
				  "'_' or '-'", successor->name, KEY_NAME_MAX);
	if (manifest_find(m, successor->name))
		return rb_err_set(RB_E_EXISTS, "the manifest already has a key named '%s'; choose another "
				  "--successor NAME", successor->name);
	if (m->n_keys >= MANIFEST_MAX_KEYS)
		return rb_err_set(RB_E_LIMIT, "the manifest holds %d keys, its maximum", MANIFEST_MAX_KEYS);
	succ_name = strdup(successor->name);
	pred_name = strdup(m->keys[index].name);
	keys = realloc(m->keys, (m->n_keys + 1) * sizeof(*keys));
	if (!succ_name || !pred_name || !keys) {
		free(succ_name);
		free(pred_name);
		if (keys)
			m->keys = keys;
		return RB_E_NOMEM;
	}
	m->keys = keys;
	old = &m->keys[index];
	free(old->successor);
	old->successor = succ_name;
	old->status = KEY_RETIRED;
	free(successor->predecessor);
	successor->predecessor = pred_name;
	successor->status = KEY_ACTIVE;
	m->keys[m->n_keys++] = *successor;
	memset(successor, 0, sizeof(*successor));
	return RB_OK;
}

const char *key_lifecycle_storage(const struct manifest_key *k, const char *wrapped_dir)
{
	_cleanup_free_ char *path = NULL;

	if (!wrapped_dir || !key_name_valid(k->name))
		return "resident";
	if (asprintf(&path, "%s/%s.json", wrapped_dir, k->name) < 0)
		return "resident";
	return access(path, F_OK) == 0 ? "wrapped" : "resident";
}

void key_lifecycle_links_format(const struct manifest_key *k, char *buf, size_t n)
{
	if (k->predecessor && k->successor)
		snprintf(buf, n, "after %s, before %s", k->predecessor, k->successor);
	else if (k->predecessor)
		snprintf(buf, n, "after %s", k->predecessor);
	else if (k->successor)
		snprintf(buf, n, "before %s", k->successor);
	else
		snprintf(buf, n, "-");
}

int key_lifecycle_audit_open(const char *dir, const char *token_label, struct audit_log **ret)
{
	_cleanup_free_ char *cp_path = NULL, *origin = NULL;
	_cleanup_free_ uint8_t *cp = NULL;
	size_t len;
	int err;

	if (asprintf(&cp_path, "%s/checkpoint", dir) < 0)
		return RB_E_NOMEM;
	err = rb_file_read(cp_path, NOTE_MAX_BYTES, &cp, &len);
	if (err == RB_OK) {
		_cleanup_(note_freep) struct note *n = NULL;
		_cleanup_(checkpoint_freep) struct checkpoint *c = NULL;

		if ((err = note_parse(cp, len, &n)) < 0 ||
		    (err = checkpoint_parse(n->text, n->text_len, &c)) < 0)
			return rb_err_set(err, "%s is not a readable checkpoint; run 'rombsr audit verify' on %s",
					  cp_path, dir);
		origin = TAKE_PTR(c->origin);
	} else if (err == RB_E_NOTFOUND) {
		rb_err_clear();
		if ((err = audit_origin_for_token(token_label, &origin)) < 0)
			return err;
	} else {
		return err;
	}
	/* These are admin actions given the directory: one that holds no log
	 * yet gets a new one (the sign node's own log is made with `rombsr
	 * audit init`, and the sign node checks it against the queue). */
	err = audit_log_open(dir, origin, ret);
	if (err == RB_E_NOTFOUND) {
		rb_err_clear();
		err = audit_log_create(dir, origin, ret);
	}
	return err;
}

int key_lifecycle_audit_dir(const char *given, const char *config_audit_dir, const char *state_dir,
			    char **ret)
{
	struct stat st;
	char *dir = NULL;

	if (given || config_audit_dir) {
		if (!(dir = strdup(given ? given : config_audit_dir)))
			return RB_E_NOMEM;
	} else {
		if (asprintf(&dir, "%s/audit", state_dir) < 0)
			return RB_E_NOMEM;
		if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
			free(dir);
			dir = NULL;
		}
	}
	*ret = dir;
	return RB_OK;
}

int key_lifecycle_audit_signer(struct p11_token *t, const struct manifest *m, struct rb_signer *ret)
{
	const struct manifest_key *ak = manifest_find(m, "audit");
	struct p11_key *key;
	int err;

	if (!ak)
		return rb_err_set(RB_E_KEY, "the manifest has no 'audit' key to sign audit checkpoints with");
	if (ak->status != KEY_ACTIVE)
		return rb_err_set(RB_E_PERM, "the manifest's 'audit' key is %s", key_status_name(ak->status));
	if ((err = p11_token_find_key(t, ak->uri, &key)) < 0)
		return err;
	if (EVP_PKEY_eq(p11_key_public(key), ak->pub) != 1)
		return rb_err_set(RB_E_VERIFY, "the 'audit' key on token '%s' is not the manifest's; refusing "
				  "to sign a checkpoint with it", p11_token_label(t));
	p11_key_signer(key, ret);
	return RB_OK;
}

int key_lifecycle_audit_record(const char *dir, const char *token_label,
			       const struct json_value *const *entries, size_t n,
			       const struct rb_signer *audit_key, uint64_t *ret_first)
{
	_cleanup_(audit_log_closep) struct audit_log *log = NULL;
	_cleanup_free_ char *cp = NULL;
	uint64_t first;
	int err;

	if ((err = key_lifecycle_audit_open(dir, token_label, &log)) < 0 ||
	    (err = audit_log_append_batch(log, entries, n, &first)) < 0 ||
	    (err = audit_log_checkpoint(log, audit_key, &cp)) < 0)
		return err;
	if (ret_first)
		*ret_first = first;
	return RB_OK;
}

int key_lifecycle_signed_by(const char *dir, const char *token_label, const uint8_t key_fpr[32],
			    key_lifecycle_sign_fn fn, void *userdata, uint64_t *ret_count)
{
	_cleanup_(audit_log_closep) struct audit_log *log = NULL;
	_cleanup_free_ char *hex = NULL;
	uint64_t count = 0;
	int err;

	if ((err = rb_hex_encode(key_fpr, 32, &hex)) < 0 ||
	    (err = key_lifecycle_audit_open(dir, token_label, &log)) < 0)
		return err;
	for (uint64_t i = 0; i < audit_log_size(log); i++) {
		_cleanup_free_ uint8_t *bytes = NULL;
		_cleanup_json_ struct json_value *e = NULL;
		enum audit_event type;
		const char *fpr;
		size_t len;

		if ((err = audit_log_entry(log, i, &bytes, &len)) < 0 ||
		    (err = audit_entry_parse(bytes, len, &e, &type)) < 0)
			return err;
		if (type != AUDIT_SIGN || json_get_string(e, "key_fingerprint", &fpr) < 0 ||
		    strcasecmp(fpr, hex) != 0)
			continue;
		count++;
		if (fn)
			fn(e, userdata);
	}
	if (ret_count)
		*ret_count = count;
	return RB_OK;
}
