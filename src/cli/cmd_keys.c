/* rombsr keys list|export: read the key manifest (no HSM needed). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "json/json.h"
#include "keys/keyspec.h"
#include "keys/manifest.h"
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
	       "\n"
	       "Read the key manifest. FORMAT is one of:\n"
	       "  cert-pem (default), cert-der, spki-pem, spki-der, openpgp, openpgp-armor\n"
	       "\n"
	       "  --json              machine-readable list\n"
	       "  --output FILE       write to FILE (atomically) instead of stdout\n"
	       CLI_COMMON_HELP);
}

static int list_table(const struct manifest *m)
{
	char alg[16], ts[RB_TIME_LEN + 1];

	printf("%-18s %-9s %-8s %-20s %-10s %s\n", "NAME", "ALGORITHM", "STATUS", "CREATED", "PURPOSE",
	       "SPKI-SHA256");
	for (size_t i = 0; i < m->n_keys; i++) {
		const struct manifest_key *k = &m->keys[i];
		_cleanup_free_ char *fpr = NULL;

		if (rb_hex_encode(k->spki_sha256, 32, &fpr) < 0)
			return RB_E_NOMEM;
		rb_time_format(k->created, ts);
		printf("%-18s %-9s %-8s %-20s %-10s %s\n", k->name, key_algorithm_format(k->alg, k->bits, alg),
		       key_status_name(k->status), ts, k->purpose ? k->purpose : "-", fpr);
	}
	return RB_OK;
}

static int list_json(const struct manifest *m)
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
		struct json_value *o = NULL;

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
		    (err = json_object_set_string(o, "status", key_status_name(k->status))) < 0 ||
		    (err = json_object_set_string(o, "created", ts)) < 0 ||
		    (err = json_object_set_string(o, "spki_sha256", spki)) < 0 ||
		    (err = json_object_set_string(o, "certificate_sha256", cert)) < 0 ||
		    (k->openpgp && (err = json_object_set_string(o, "openpgp_v4", pgp)) < 0))
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

int cmd_keys(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		CLI_COMMON_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct cli_common c;
	struct manifest *m = NULL;
	const char *format = "cert-pem", *output = NULL, *sub;
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
		case 'h': help(); return EXIT_OK;
		default: return cli_usage_error(verb, "unknown option");
		}
	}
	if (optind >= argc)
		return cli_usage_error(verb, "missing sub-command 'list' or 'export'");
	sub = argv[optind++];
	if ((err = cli_common_finish(&c)) < 0)
		return cli_fail(verb, err);
	if (strcmp(sub, "list") == 0) {
		if (optind != argc)
			return cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);
	} else if (strcmp(sub, "export") == 0) {
		if (optind + 1 != argc)
			return cli_usage_error(verb, "export takes exactly one key NAME");
	} else {
		return cli_usage_error(verb, "unknown sub-command '%s'", sub);
	}
	if ((err = manifest_load(c.manifest, &m)) < 0) {
		rc = cli_fail(verb, err);
		goto out;
	}
	if (strcmp(sub, "list") == 0)
		err = json ? list_json(m) : list_table(m);
	else
		err = export_key(m, argv[optind], format, output);
	rc = err < 0 ? cli_fail(verb, err) : EXIT_OK;
out:
	manifest_free(m);
	cli_common_done(&c);
	return rc;
}
