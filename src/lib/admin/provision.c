#include "admin/provision.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "admin/certify.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/secret.h"

static int dir_is_empty_or_absent(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int empty = 1;

	if (!d)
		return errno == ENOENT ? 1 : 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}

/* A credential: random bytes as base64url without padding, so it is
 * printable, typeable, and valid as a PKCS#11 PIN everywhere. */
static int make_credential(struct rb_secret **ret)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint8_t raw[PROVISION_CREDENTIAL_BYTES];
	struct rb_secret *s = NULL;
	size_t i, o = 0;
	int err;

	if ((err = rb_secret_new(PROVISION_CREDENTIAL_BYTES * 4 / 3 + 4, &s)) < 0)
		return err;
	if ((err = rb_random_bytes(raw, sizeof(raw))) < 0) {
		rb_secret_free(s);
		return err;
	}
	for (i = 0; i + 2 < sizeof(raw); i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];

		s->data[o++] = (uint8_t)alphabet[v >> 18];
		s->data[o++] = (uint8_t)alphabet[(v >> 12) & 63];
		s->data[o++] = (uint8_t)alphabet[(v >> 6) & 63];
		s->data[o++] = (uint8_t)alphabet[v & 63];
	}
	rb_wipe(raw, sizeof(raw));
	s->len = o;
	*ret = s;
	return RB_OK;
}

static int write_credential(const char *dir, const char *file, const struct rb_secret *s)
{
	_cleanup_free_ char *path = NULL;
	struct rb_buf b = RB_BUF_INIT;
	int err;

	if (asprintf(&path, "%s/%s", dir, file) < 0)
		return RB_E_NOMEM;
	if ((err = rb_buf_put(&b, s->data, s->len)) == RB_OK && (err = rb_buf_put_u8(&b, '\n')) == RB_OK)
		err = rb_file_create_secret(path, b.data, b.len);
	rb_buf_free(&b);
	return err;
}

static const char escrow_readme[] =
	"rombsr role credentials\n"
	"=======================\n"
	"\n"
	"Each file holds one role's credential. Split them between custodians and\n"
	"take this directory off the sign node. Only operator.pin belongs on the\n"
	"sign node (mode 0600, readable by the rombsr-sign user).\n"
	"\n"
	"  admin.pin     PKCS#11 Security Officer: re-initialise, unblock the operator.\n"
	"                Never store it on the sign node.\n"
	"  operator.pin  PKCS#11 user: signing. The sign node's only credential.\n"
	"  backup.pin    backup custodian role (wrap-key export/restore).\n"
	"  audit.pin     auditor role (read the HSM's own audit log).\n"
	"\n"
	"On modules that enforce only the PKCS#11 SO/user split (SoftHSM2), the\n"
	"backup and audit credentials are generated for parity and are NOT\n"
	"enforced by the token. See docs/ROLES.md for YubiHSM2 and NetHSM.\n";

/* The X.509 certificate is stored on the token too, beside the key, for
 * tools that look for it there. */
static int issue_certificates(struct p11_key *key, const struct keyspec_key *ks, int64_t now,
			      struct manifest_key *mk)
{
	int err;

	if ((err = key_certify(key, ks, now, mk)) < 0)
		return err;
	return p11_key_store_cert(key, mk->cert, mk->cert_len);
}

int provision_key(struct p11_token *t, const struct keyspec_key *ks, int64_t now, struct manifest_key *ret)
{
	struct manifest_key mk = { 0 };
	struct p11_key *key = NULL;
	struct p11_keygen gen = { 0 };
	uint8_t id[16];
	unsigned char *spki = NULL;
	int err, n;

	if ((err = rb_random_bytes(id, sizeof(id))) < 0)
		return err;
	gen = (struct p11_keygen){ ks->name, id, sizeof(id), ks->alg, ks->bits };
	if ((err = p11_token_generate_key(t, &gen, &key)) < 0)
		return err;
	mk.name = strdup(ks->name);
	mk.purpose = strdup(ks->purpose);
	mk.id = malloc(sizeof(id));
	if (!mk.name || !mk.purpose || !mk.id) {
		err = RB_E_NOMEM;
		goto fail;
	}
	memcpy(mk.id, id, sizeof(id));
	mk.id_len = sizeof(id);
	mk.alg = ks->alg;
	mk.bits = ks->bits;
	mk.purposes = ks->purposes;
	mk.status = KEY_ACTIVE;
	mk.created = now;
	if ((err = p11_key_uri(key, &mk.uri)) < 0)
		goto fail;
	n = i2d_PUBKEY(p11_key_public(key), &spki);
	if (n <= 0) {
		err = RB_E_CRYPTO;
		goto fail;
	}
	mk.spki = malloc((size_t)n);
	if (!mk.spki) {
		OPENSSL_free(spki);
		err = RB_E_NOMEM;
		goto fail;
	}
	memcpy(mk.spki, spki, (size_t)n);
	mk.spki_len = (size_t)n;
	OPENSSL_free(spki);
	if ((err = manifest_key_derive(&mk)) < 0)
		goto fail;
	if ((err = issue_certificates(key, ks, now, &mk)) < 0)
		goto fail;
	if ((err = manifest_key_derive(&mk)) < 0)
		goto fail;
	*ret = mk;
	return RB_OK;
fail:
	manifest_key_clear(&mk);
	return err;
}

int provision_token(const struct provision_params *p, provision_progress_fn progress, void *userdata,
		    struct provision_report *ret)
{
	struct rb_secret *admin = NULL, *op = NULL, *backup = NULL, *audit = NULL;
	struct manifest m = { 0 };
	struct p11_token *t = NULL;
	_cleanup_free_ char *readme = NULL;
	int err;

	if (!dir_is_empty_or_absent(p->escrow_dir))
		return rb_err_set(RB_E_EXISTS, "escrow directory %s is not empty; credentials are never "
				  "overwritten - choose a new --escrow-dir", p->escrow_dir);
	if ((err = rb_mkdir_p(p->escrow_dir, 0700)) < 0)
		return err;
	if ((err = make_credential(&admin)) < 0 || (err = make_credential(&op)) < 0 ||
	    (err = make_credential(&backup)) < 0 || (err = make_credential(&audit)) < 0)
		goto out;
	/* Escrow first: once the token exists, these are the only way in. */
	if ((err = write_credential(p->escrow_dir, PROVISION_ADMIN_FILE, admin)) < 0 ||
	    (err = write_credential(p->escrow_dir, PROVISION_OPERATOR_FILE, op)) < 0 ||
	    (err = write_credential(p->escrow_dir, PROVISION_BACKUP_FILE, backup)) < 0 ||
	    (err = write_credential(p->escrow_dir, PROVISION_AUDIT_FILE, audit)) < 0)
		goto out;
	if (asprintf(&readme, "%s/README", p->escrow_dir) < 0) {
		readme = NULL;
		err = RB_E_NOMEM;
		goto out;
	}
	if ((err = rb_file_write_atomic(readme, escrow_readme, sizeof(escrow_readme) - 1, 0600)) < 0)
		goto out;

	if ((err = p11_module_init_token(p->module, p->label, admin, op)) < 0)
		goto out;
	/* The admin credential is not needed again in this process. */
	rb_secret_free(admin);
	admin = NULL;
	if ((err = p11_token_open(p->module, p->label, 0, &t)) < 0 ||
	    (err = p11_token_login(t, CKU_USER, op)) < 0)
		goto out;

	m.generated = p->now;
	m.token_label = strdup(p->label);
	m.token_model = strdup(p11_token_model(t));
	m.keys = calloc(p->spec->n_keys, sizeof(*m.keys));
	if (!m.token_label || !m.token_model || !m.keys) {
		err = RB_E_NOMEM;
		goto out;
	}
	if ((err = p11_token_uri(t, &m.token_uri)) < 0)
		goto out;
	for (size_t i = 0; i < p->spec->n_keys; i++) {
		if ((err = provision_key(t, &p->spec->keys[i], p->now, &m.keys[i])) < 0)
			goto out;
		m.n_keys = i + 1;
		if (progress)
			progress(p->spec->keys[i].name, i + 1, p->spec->n_keys, userdata);
	}
	if ((err = manifest_save(&m, p->manifest_path)) < 0)
		goto out;
	ret->hardware_roles = p11_token_has_hardware_roles(t);
	snprintf(ret->token_model, sizeof(ret->token_model), "%s", p11_token_model(t));
	ret->n_keys = m.n_keys;
out:
	for (size_t i = 0; i < m.n_keys; i++)
		manifest_key_clear(&m.keys[i]);
	free(m.keys);
	free(m.token_label);
	free(m.token_model);
	free(m.token_uri);
	p11_token_free(t);
	rb_secret_free(admin);
	rb_secret_free(op);
	rb_secret_free(backup);
	rb_secret_free(audit);
	return err;
}
