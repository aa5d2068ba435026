/* rombsr verify: check artifacts against the key manifest - APKs with
 * rombsr's APK verifier, other files by FILE.asc or FILE.sig. */
#include <stdio.h>
#include <string.h>

#include "apply/verify.h"
#include "cli.h"
#include "json/json.h"
#include "keys/manifest.h"
#include "util/cleanup.h"
#include "util/err.h"

static const char verb[] = "verify";

static void help(void)
{
	printf("usage: rombsr verify --manifest FILE [--json] FILE...\n"
	       "\n"
	       "Verify each FILE against the keys of the manifest: an .apk with rombsr's APK\n"
	       "Signature Scheme v2/v3 verifier, any other file by FILE.asc (armored OpenPGP)\n"
	       "or FILE.sig (binary OpenPGP, or a raw RSA/ECDSA/Ed25519 signature as written\n"
	       "by 'rombsr apply' and 'rombsr sign-file'). Signatures by retired keys pass\n"
	       "with a note; revoked keys fail. Exits non-zero if any file fails.\n"
	       "\n"
	       "  --manifest FILE   key manifest\n"
	       "  --json            print a JSON report on stdout\n");
}

static const char *describe(const struct apply_verify_result *r)
{
	switch (r->form) {
	case APPLY_FORM_OPENPGP:
		return r->armored ? "OpenPGP signature (armored)" : "OpenPGP signature";
	case APPLY_FORM_RAW_DIGEST:
		return "raw signature";
	case APPLY_FORM_ED25519_FILE:
		return "raw Ed25519 signature over the whole file";
	case APPLY_FORM_ED25519_DIGEST:
		return "raw Ed25519 signature over the file's SHA-256 digest";
	case APPLY_FORM_APK:
		return "APK signature";
	}
	return "signature";
}

static int report_json(struct json_value *files, const char *file, int err,
		       const struct apply_verify_result *r)
{
	_cleanup_json_ struct json_value *o = NULL;
	int e;

	if ((e = json_new_object(&o)) < 0)
		return e;
	if (json_object_set_string(o, "file", file) < 0 &&
	    (e = json_object_set_string(o, "file", "(not UTF-8)")) < 0)
		return e;
	if ((e = json_object_set_bool(o, "ok", err == RB_OK)) < 0)
		return e;
	if (err == RB_OK) {
		if ((e = json_object_set_string(o, "key", r->key->name)) < 0 ||
		    (e = json_object_set_string(o, "status", key_status_name(r->key->status))) < 0 ||
		    (e = json_object_set_string(o, "form", apply_sig_form_name(r->form))) < 0 ||
		    (r->scheme && (e = json_object_set_string(o, "scheme",
							      rb_sig_scheme_name(r->scheme))) < 0))
			return e;
	} else {
		if ((e = json_object_set_string(o, "error", rb_strerror(err))) < 0)
			return e;
		if (json_object_set_string(o, "detail", rb_err_message(err)) < 0 &&
		    (e = json_object_set_string(o, "detail", "(not UTF-8)")) < 0)
			return e;
	}
	return json_array_append(files, TAKE_PTR(o));
}

static void report_text(const char *file, int err, const struct apply_verify_result *r)
{
	if (err < 0) {
		const char *d = rb_err_message(err);

		printf("FAIL %s: %s\n", file, *d ? d : rb_strerror(err));
		return;
	}
	printf("OK   %s: %s", file, describe(r));
	if (r->form == APPLY_FORM_RAW_DIGEST)
		printf(" (%s)", rb_sig_scheme_name(r->scheme));
	printf(" by key '%s' (%s)%s\n", r->key->name, key_status_name(r->key->status),
	       r->key->status == KEY_RETIRED ? "; retired keys verify old artifacts but no longer sign"
					     : "");
}

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "manifest", required_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *manifest_path = NULL;
	struct manifest *m = NULL;
	_cleanup_json_ struct json_value *report = NULL, *files = NULL;
	bool json = false;
	int opt, err, rc = EXIT_OK, first_failure = RB_OK;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'm': manifest_path = optarg; break;
		case 'j': json = true; break;
		case 'h': help(); return EXIT_OK;
		default: return cli_usage_error(verb, "unknown option");
		}
	}
	if (!manifest_path)
		return cli_usage_error(verb, "--manifest FILE is required");
	if (optind >= argc)
		return cli_usage_error(verb, "name at least one FILE to verify");
	cli_working_on("manifest %s", manifest_path);
	if ((err = manifest_load(manifest_path, &m)) < 0)
		return cli_fail(verb, err);
	if (json && ((err = json_new_object(&report)) < 0 || (err = json_new_array(&files)) < 0)) {
		manifest_free(m);
		return cli_fail(verb, err);
	}
	for (int i = optind; i < argc; i++) {
		struct apply_verify_result r;

		rb_err_clear();
		err = apply_verify_path(m, argv[i], &r);
		if (err < 0 && first_failure == RB_OK)
			first_failure = err;
		if (!json) {
			report_text(argv[i], err, &r);
		} else if ((err = report_json(files, argv[i], err, &r)) < 0) {
			manifest_free(m);
			return cli_fail(verb, err);
		}
	}
	/* A per-file RB_E_INVAL (a link, not a regular file) is about the
	 * input, not the command line. */
	if (first_failure < 0)
		rc = first_failure == RB_E_INVAL ? EXIT_BAD_INPUT : rb_exit_code(first_failure);
	if (json) {
		struct rb_buf out = RB_BUF_INIT;

		err = json_object_set_bool(report, "ok", first_failure == RB_OK);
		if (err == RB_OK)
			err = json_object_set(report, "files", TAKE_PTR(files));
		if (err == RB_OK)
			err = json_emit(report, JSON_PRETTY, &out);
		if (err == RB_OK)
			fwrite(out.data, 1, out.len, stdout);
		rb_buf_free(&out);
		if (err < 0)
			rc = cli_fail(verb, err);
	}
	manifest_free(m);
	return rc;
}
