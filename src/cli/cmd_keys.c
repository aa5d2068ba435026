/* rombsr keys list|export: read the key manifest (no HSM needed).
 * rombsr keys gen --wrapped|wrap|wrap-key: the wrapped key store. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "admin/certify.h"
#include "admin/lifecycle.h"
#include "cli_hsm.h"
#include "json/json.h"
#include "keys/keyspec.h"
#include "keys/manifest.h"
#include "p11/wrap.h"
#include "pgp/pgp.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/timefmt.h"
#include "x509/x509.h"

static const char verb[] = "keys";

static void help(void)
{
	printf("usage: rombsr keys list [--json]\n"
	       "       rombsr keys export NAME [--format FORMAT] [--output FILE]\n"
	       "       rombsr keys wrap-key [--create]\n"
	       "       rombsr keys gen --wrapped NAME --algorithm ALG [--purpose P] [--purposes LIST]\n"
	       "                       [--subject S] [--validity-days N] [--openpgp-uid UID] [--store DIR]\n"
	       "       rombsr keys wrap NAME [--store DIR]\n"
	       "\n"
	       "list/export read the key manifest. FORMAT is one of:\n"
	       "  cert-pem (default), cert-der, spki-pem, spki-der, openpgp, openpgp-armor\n"
	       "wrap-key prints the fingerprint of the token's wrap key (AES-256); with\n"
	       "--create it makes it first. gen --wrapped generates a key outside the token's\n"
	       "storage: only a blob encrypted under the wrap key is kept, in the wrapped key\n"
	       "store, and the key joins the manifest. wrap exports a resident key to the store\n"
	       "(only keys created extractable; the default key set is not).\n"
	       "\n"
	       "  --json              machine-readable list\n"
	       "  --output FILE       write to FILE (atomically) instead of stdout\n"
	       "  --algorithm ALG     rsa-2048, rsa-3072, rsa-4096, ec-p256 (ed25519 where the\n"
	       "                      token can wrap it)\n"
	       "  --purposes LIST     what the key may sign, comma-separated: apk, avb, ota, bundle,\n"
	       "                      raw-detached, openpgp-detached (default from --purpose:\n"
	       "                      android apk, avb avb, ota ota, bundle bundle, else raw-detached)\n"
	       "  --store DIR         wrapped key store (default STATE/wrapped)\n"
	       CLI_COMMON_HELP);
}

static int list_table(const struct manifest *m, const char *store)
{
	char alg[16], ts[RB_TIME_LEN + 1], links[2 * KEY_NAME_MAX + 32], pp[KEY_PURPOSES_TEXT_MAX];

	printf("%-18s %-9s %-8s %-20s %-10s %-24s %-64s %-8s %s\n", "NAME", "ALGORITHM", "STATUS", "CREATED",
	       "PURPOSE", "PURPOSES", "SPKI-SHA256", "STORAGE", "LINEAGE");
	for (size_t i = 0; i < m->n_keys; i++) {
		const struct manifest_key *k = &m->keys[i];
		_cleanup_free_ char *fpr = NULL;

		if (rb_hex_encode(k->spki_sha256, 32, &fpr) < 0)
			return RB_E_NOMEM;
		rb_time_format(k->created, ts);
		key_lifecycle_links_format(k, links, sizeof(links));
		printf("%-18s %-9s %-8s %-20s %-10s %-24s %-64s %-8s %s\n", k->name,
		       key_algorithm_format(k->alg, k->bits, alg), key_status_name(k->status), ts,
		       k->purpose ? k->purpose : "-", key_purposes_format(k->purposes, ",", pp), fpr,
		       key_lifecycle_storage(k, store), links);
	}
	return RB_OK;
}

static int list_json(const struct manifest *m, const char *store)
{
	_cleanup_json_ struct json_value *arr = NULL;
	struct rb_buf out = RB_BUF_INIT;
	char alg[16], ts[RB_TIME_LEN + 1];
	int err;

	if ((err = json_new_array(&arr)) < 0)
		return err;
	for (size_t i = 0; i < m->n_keys; i++) {
		const struct manifest_key *k = &m->keys[i];
		_cleanup_free_ char *id = NULL, *spki = NULL, *cert = NULL, *pgp = NULL;
		struct json_value *o = NULL, *pp = NULL;

		rb_time_format(k->created, ts);
		if ((err = rb_hex_encode(k->id, k->id_len, &id)) < 0 ||
		    (err = rb_hex_encode(k->spki_sha256, 32, &spki)) < 0 ||
		    (err = rb_hex_encode(k->cert_sha256, 32, &cert)) < 0 ||
		    (err = rb_hex_encode(k->openpgp_fpr, 20, &pgp)) < 0 ||
		    (err = json_new_object(&o)) < 0 ||
		    (err = json_array_append(arr, o)) < 0 ||
		    (err = json_object_set_string(o, "name", k->name)) < 0 ||
		    (err = json_object_set_string(o, "id", id)) < 0 ||
		    (err = json_object_set_string(o, "uri", k->uri)) < 0 ||
		    (err = json_object_set_string(o, "algorithm", key_algorithm_format(k->alg, k->bits, alg))) < 0 ||
		    (err = json_object_set_string(o, "purpose", k->purpose ? k->purpose : "")) < 0 ||
		    (err = key_purposes_to_json(k->purposes, &pp)) < 0 ||
		    (err = json_object_set(o, "purposes", pp)) < 0 ||
		    (err = json_object_set_string(o, "status", key_status_name(k->status))) < 0 ||
		    (err = json_object_set_string(o, "created", ts)) < 0 ||
		    (err = json_object_set_string(o, "spki_sha256", spki)) < 0 ||
		    (err = json_object_set_string(o, "certificate_sha256", cert)) < 0 ||
		    (k->openpgp && (err = json_object_set_string(o, "openpgp_v4", pgp)) < 0) ||
		    (err = json_object_set_string(o, "storage", key_lifecycle_storage(k, store))) < 0 ||
		    (k->predecessor && (err = json_object_set_string(o, "predecessor", k->predecessor)) < 0) ||
		    (k->successor && (err = json_object_set_string(o, "successor", k->successor)) < 0))
			return err;
	}
	if ((err = json_emit(arr, JSON_PRETTY, &out)) == RB_OK)
		fwrite(out.data, 1, out.len, stdout);
	rb_buf_free(&out);
	return err;
}

static int export_key(const struct manifest *m, const char *name, const char *format, const char *output)
{
	const struct manifest_key *k = manifest_find(m, name);
	struct rb_buf out = RB_BUF_INIT;
	int err = RB_OK;

	if (!k)
		return rb_err_set(RB_E_KEY, "no key '%s' in the manifest; 'rombsr keys list' shows the keys", name);
	if (strcmp(format, "cert-pem") == 0) {
		err = x509_der_to_pem(k->cert, k->cert_len, &out);
	} else if (strcmp(format, "cert-der") == 0) {
		err = rb_buf_put(&out, k->cert, k->cert_len);
	} else if (strcmp(format, "spki-der") == 0) {
		err = rb_buf_put(&out, k->spki, k->spki_len);
	} else if (strcmp(format, "spki-pem") == 0) {
		_cleanup_free_ char *b64 = NULL;

		if ((err = rb_base64_encode(k->spki, k->spki_len, true, &b64)) == RB_OK) {
			size_t n = strlen(b64);

			err = rb_buf_put_str(&out, "-----BEGIN PUBLIC KEY-----\n");
			for (size_t i = 0; err == RB_OK && i < n; i += 64) {
				err = rb_buf_put(&out, b64 + i, n - i < 64 ? n - i : 64);
				if (err == RB_OK)
					err = rb_buf_put_u8(&out, '\n');
			}
			if (err == RB_OK)
				err = rb_buf_put_str(&out, "-----END PUBLIC KEY-----\n");
		}
	} else if (strcmp(format, "openpgp") == 0 || strcmp(format, "openpgp-armor") == 0) {
		char pp[KEY_PURPOSES_TEXT_MAX];

		/* Manifests written before certify.h gave every RSA and Ed25519
		 * key one; a key whose digests a build node chooses could be
		 * made to revoke or bind it, so it is not handed out. */
		if (!(k->purposes & KEY_PURPOSES_OPENPGP))
			return rb_err_set(RB_E_PERM, "key '%s' (purposes %s) does not sign OpenPGP, so rombsr does not "
					  "export an OpenPGP certificate for it: give OpenPGP signing its own "
					  "openpgp-detached key", name, key_purposes_format(k->purposes, ", ", pp));
		if (!k->openpgp)
			return rb_err_set(RB_E_NOTFOUND, "key '%s' has no OpenPGP certificate in the manifest", name);
		err = strcmp(format, "openpgp") == 0 ? rb_buf_put(&out, k->openpgp, k->openpgp_len)
						     : pgp_armor(PGP_ARMOR_PUBLIC_KEY, k->openpgp, k->openpgp_len, &out);
	} else {
		return rb_err_set(RB_E_INVAL, "unknown export format '%s'; use cert-pem, cert-der, spki-pem, "
				  "spki-der, openpgp or openpgp-armor", format);
	}
	if (err == RB_OK) {
		if (output)
			err = rb_file_write_atomic(output, out.data, out.len, 0644);
		else if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0)
			err = rb_err_set(RB_E_IO, "cannot write to standard output");
	}
	rb_buf_free(&out);
	return err;
}

/* ---- the wrapped key store ------------------------------------------- */

struct wrap_opts {
	bool wrapped, create;
	const char *algorithm, *purpose, *purposes, *subject, *openpgp_uid, *store;
	int64_t validity_days;
};

static int store_dir(const struct cli_common *c, const struct wrap_opts *o, char **ret)
{
	if (o->store)
		return (*ret = strdup(o->store)) ? RB_OK : RB_E_NOMEM;
	if (asprintf(ret, "%s/%s", c->state_dir, WRAP_STORE_DEFAULT_DIR) < 0)
		return RB_E_NOMEM;
	return RB_OK;
}

static void print_fpr(const char *what, const uint8_t fpr[P11_WRAP_FPR_LEN])
{
	_cleanup_free_ char *hex = NULL;

	if (rb_hex_encode(fpr, P11_WRAP_FPR_LEN, &hex) == RB_OK)
		printf("%s%s\n", what, hex);
}

static int wrap_key_cmd(struct cli_common *c, const struct wrap_opts *o)
{
	struct p11_module *mod = NULL;
	struct p11_token *tok = NULL;
	uint8_t fpr[P11_WRAP_FPR_LEN];
	struct manifest *m = NULL;
	int err;

	if (!c->token && manifest_load(c->manifest, &m) == RB_OK)
		c->token = m->token_uri;
	err = cli_open_token(c, true, &mod, &tok);
	c->token = NULL;
	manifest_free(m);
	if (err < 0)
		return err;
	if (o->create && (err = p11_token_generate_wrap_key(tok)) < 0)
		goto out;
	if ((err = p11_token_wrap_key_fingerprint(tok, fpr)) < 0)
		goto out;
	print_fpr("wrap key fingerprint: ", fpr);
out:
	p11_module_free(mod);
	return err;
}

/* Certificates for a new wrapped key, issued as provisioning issues them
 * (admin/certify.h); nothing is stored on the token. */
static int issue_certs(struct p11_key *key, const struct wrap_opts *o, int64_t now, struct manifest_key *mk)
{
	_cleanup_free_ char *subject = NULL, *uid = NULL;
	struct keyspec_key ks = { 0 };

	if (o->subject)
		subject = strdup(o->subject);
	else if (asprintf(&subject, "/O=rombsr/CN=rombsr %s key", mk->name) < 0)
		subject = NULL;
	if (!subject || (o->openpgp_uid && !(uid = strdup(o->openpgp_uid))))
		return RB_E_NOMEM;
	ks.name = mk->name;
	ks.alg = mk->alg;
	ks.bits = mk->bits;
	ks.purpose = mk->purpose;
	ks.purposes = mk->purposes;
	ks.subject = subject;
	ks.validity_days = o->validity_days;
	ks.openpgp_uid = uid;
	return key_certify(key, &ks, now, mk);
}

static int manifest_add_key(struct manifest *m, struct manifest_key *mk)
{
	struct manifest_key *keys;

	if (m->n_keys >= MANIFEST_MAX_KEYS)
		return rb_err_set(RB_E_LIMIT, "the manifest already holds %d keys", MANIFEST_MAX_KEYS);
	keys = realloc(m->keys, (m->n_keys + 1) * sizeof(*keys));
	if (!keys)
		return RB_E_NOMEM;
	m->keys = keys;
	m->keys[m->n_keys++] = *mk;
	memset(mk, 0, sizeof(*mk));
	return RB_OK;
}

static int gen_wrapped(struct cli_common *c, const struct wrap_opts *o, const char *name)
{
	_cleanup_wrap_meta_ struct wrap_meta *meta = NULL;
	_cleanup_free_ char *dir = NULL;
	struct manifest_key mk = { 0 };
	struct manifest *m = NULL;
	struct p11_module *mod = NULL;
	struct p11_token *tok = NULL;
	struct p11_key *key = NULL;
	enum rb_key_alg alg;
	unsigned bits;
	int64_t now = (int64_t)time(NULL);
	int err;

	if (!key_name_valid(name))
		return rb_err_set(RB_E_INVAL, "key name '%s' must be 1-64 characters of a-z, 0-9, '_' or '-'", name);
	if (!o->algorithm)
		return rb_err_set(RB_E_INVAL, "--algorithm is required (rsa-2048, rsa-3072, rsa-4096, ec-p256)");
	if (key_algorithm_parse(o->algorithm, &alg, &bits) < 0)
		return rb_err_set(RB_E_UNSUPPORTED, "algorithm '%s' is not rsa-2048, rsa-3072, rsa-4096, ec-p256 "
				  "or ed25519", o->algorithm);
	if (o->validity_days <= 0 || o->validity_days > 36500)
		return rb_err_set(RB_E_INVAL, "--validity-days must be 1 to 36500");
	if (o->purposes) {
		if ((err = key_purposes_parse_list(o->purposes, &mk.purposes)) < 0)
			return rb_err_recode(err, RB_E_INVAL); /* the detail names the bad purpose */
	} else {
		mk.purposes = key_purposes_legacy(o->purpose);
	}
	/* queue-response and audit-checkpoint belong to the provisioned
	 * queue and audit keys; a wrapped key never gets them. */
	if (mk.purposes & KEY_PURPOSES_SIGN_NODE)
		return rb_err_set(RB_E_INVAL, "--purposes: queue-response and audit-checkpoint are the sign node's own "
				  "keys' purposes (provisioned with the token); give this key a signing purpose");
	if ((err = key_purposes_check(mk.purposes, alg, name)) < 0)
		return rb_err_recode(err, RB_E_INVAL); /* the detail says which combination and why */
	if ((err = store_dir(c, o, &dir)) < 0 || (err = manifest_load(c->manifest, &m)) < 0)
		goto out;
	if (manifest_find(m, name)) {
		err = rb_err_set(RB_E_EXISTS, "key '%s' is already in %s; pick another name", name, c->manifest);
		goto out;
	}
	if (!c->token)
		c->token = m->token_uri;
	if ((err = cli_open_token(c, true, &mod, &tok)) < 0 ||
	    (err = p11_token_set_wrapped_store(tok, dir, 0)) < 0 ||
	    (err = wrap_key_generate(tok, dir, name, NULL, 0, alg, bits, now, &meta)) < 0 ||
	    (err = p11_token_find_key(tok, name, &key)) < 0)
		goto out;
	/* From here on the key is used exactly as sign-file will use it:
	 * unwrapped on demand, every signature self-checked. */
	mk.name = strdup(name);
	mk.purpose = strdup(o->purpose ? o->purpose : "wrapped");
	mk.id = malloc(meta->id_len);
	mk.spki = malloc(meta->spki_len);
	if (!mk.name || !mk.purpose || !mk.id || !mk.spki) {
		err = RB_E_NOMEM;
		goto out;
	}
	memcpy(mk.id, meta->id, meta->id_len);
	mk.id_len = meta->id_len;
	memcpy(mk.spki, meta->spki, meta->spki_len);
	mk.spki_len = meta->spki_len;
	mk.alg = alg;
	mk.bits = bits;
	mk.status = KEY_ACTIVE;
	mk.created = now;
	if ((err = p11_key_uri(key, &mk.uri)) < 0 || (err = manifest_key_derive(&mk)) < 0 ||
	    (err = issue_certs(key, o, now, &mk)) < 0 || (err = manifest_key_derive(&mk)) < 0 ||
	    (err = manifest_add_key(m, &mk)) < 0)
		goto out;
	m->generated = now;
	if ((err = manifest_save(m, c->manifest)) < 0)
		goto out;
	printf("generated wrapped key '%s' (%s) in %s/%s.json\n", name, o->algorithm, dir, name);
	print_fpr("wrap key fingerprint: ", meta->wrap_fpr);
out:
	manifest_key_clear(&mk);
	manifest_free(m);
	p11_module_free(mod);
	return err;
}

static int wrap_resident(struct cli_common *c, const struct wrap_opts *o, const char *name)
{
	_cleanup_wrap_meta_ struct wrap_meta *meta = NULL;
	_cleanup_free_ char *dir = NULL;
	struct manifest *m = NULL;
	struct p11_module *mod = NULL;
	struct p11_token *tok = NULL;
	int err;

	if ((err = store_dir(c, o, &dir)) < 0)
		return err;
	if (!c->token && manifest_load(c->manifest, &m) == RB_OK)
		c->token = m->token_uri;
	if ((err = cli_open_token(c, true, &mod, &tok)) < 0 ||
	    (err = wrap_key_export(tok, dir, name, (int64_t)time(NULL), &meta)) < 0)
		goto out;
	printf("wrapped key '%s' into %s/%s.json; the resident key is still on token '%s'\n", name, dir,
	       name, p11_token_label(tok));
	print_fpr("wrap key fingerprint: ", meta->wrap_fpr);
out:
	c->token = NULL;
	manifest_free(m);
	p11_module_free(mod);
	return err;
}

int cmd_keys(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "wrapped", no_argument, NULL, 'W' },
		{ "create", no_argument, NULL, 'C' },
		{ "algorithm", required_argument, NULL, 'A' },
		{ "purpose", required_argument, NULL, 'P' },
		{ "purposes", required_argument, NULL, 'Q' },
		{ "subject", required_argument, NULL, 'S' },
		{ "validity-days", required_argument, NULL, 'V' },
		{ "openpgp-uid", required_argument, NULL, 'U' },
		{ "store", required_argument, NULL, 'D' },
		CLI_COMMON_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct cli_common c;
	struct manifest *m = NULL;
	const char *format = "cert-pem", *output = NULL, *sub;
	struct wrap_opts wo = { .validity_days = 3650 };
	bool json = false;
	int opt, err, rc;

	cli_common_init(&c);
	while ((opt = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		if (cli_common_opt(&c, opt, optarg))
			continue;
		switch (opt) {
		case 'j': json = true; break;
		case 'f': format = optarg; break;
		case 'o': output = optarg; break;
		case 'W': wo.wrapped = true; break;
		case 'C': wo.create = true; break;
		case 'A': wo.algorithm = optarg; break;
		case 'P': wo.purpose = optarg; break;
		case 'Q': wo.purposes = optarg; break;
		case 'S': wo.subject = optarg; break;
		case 'U': wo.openpgp_uid = optarg; break;
		case 'D': wo.store = optarg; break;
		case 'V': {
			char *end;

			wo.validity_days = strtoll(optarg, &end, 10);
			if (!*optarg || *end)
				return cli_usage_error(verb, "--validity-days takes a number of days");
			break;
		}
		case 'h': help(); return EXIT_OK;
		default: return cli_usage_error(verb, "unknown option");
		}
	}
	if (optind >= argc)
		return cli_usage_error(verb, "missing sub-command 'list', 'export', 'wrap-key', 'gen' or 'wrap'");
	sub = argv[optind++];
	if ((err = cli_common_finish(&c)) < 0)
		return cli_fail(verb, err);
	if (strcmp(sub, "wrap-key") == 0 || strcmp(sub, "gen") == 0 || strcmp(sub, "wrap") == 0) {
		bool named = strcmp(sub, "wrap-key") != 0;

		if (optind + (named ? 1 : 0) != argc)
			rc = cli_usage_error(verb, named ? "%s takes exactly one key NAME" : "%s takes no arguments",
					     sub);
		else if (strcmp(sub, "gen") == 0 && !wo.wrapped)
			rc = cli_usage_error(verb, "gen makes wrapped keys only (pass --wrapped); resident keys "
					     "come from 'rombsr hsm-provision'");
		else
			rc = -1;
		if (rc != -1) {
			cli_common_done(&c);
			return rc;
		}
		err = strcmp(sub, "wrap-key") == 0 ? wrap_key_cmd(&c, &wo)
		      : strcmp(sub, "gen") == 0   ? gen_wrapped(&c, &wo, argv[optind])
						  : wrap_resident(&c, &wo, argv[optind]);
		rc = err < 0 ? cli_fail(verb, err) : EXIT_OK;
		cli_common_done(&c);
		return rc;
	}
	/* Usage errors after cli_common_finish() go through out: so the
	 * manifest path it allocated is freed. */
	if (strcmp(sub, "list") == 0) {
		if (optind != argc) {
			rc = cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);
			goto out;
		}
	} else if (strcmp(sub, "export") == 0) {
		if (optind + 1 != argc) {
			rc = cli_usage_error(verb, "export takes exactly one key NAME");
			goto out;
		}
	} else {
		rc = cli_usage_error(verb, "unknown sub-command '%s'", sub);
		goto out;
	}
	if ((err = manifest_load(c.manifest, &m)) < 0) {
		rc = cli_fail(verb, err);
		goto out;
	}
	if (strcmp(sub, "list") == 0) {
		_cleanup_free_ char *store = NULL;

		if ((err = store_dir(&c, &wo, &store)) == RB_OK)
			err = json ? list_json(m, store) : list_table(m, store);
	} else {
		err = export_key(m, argv[optind], format, output);
	}
	rc = err < 0 ? cli_fail(verb, err) : EXIT_OK;
out:
	manifest_free(m);
	cli_common_done(&c);
	return rc;
}
