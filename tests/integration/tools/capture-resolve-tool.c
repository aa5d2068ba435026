/* capture-resolve-tool: the sign node and apply steps of deferred signing,
 * for the integration tests, until `rombsr apply` exists.
 *
 *   capture-resolve-tool --state-dir STATE --pin-file FILE --spool DIR
 *                        [--module PATH] [--allow-unused] ARTIFACT...
 *
 * Loads STATE/manifest.json and every request in the spool (checked
 * against the manifest), opens the token the manifest names (SoftHSM2:
 * SOFTHSM2_CONF=STATE/softhsm2.conf unless already set), logs in with the
 * PIN file, signs every request with capture_request_sign() and replaces
 * the placeholders in the artifacts with capture_resolve_file().
 *
 * Every request must be found exactly once across all artifacts (with
 * --allow-unused: at most once). Occurrences are counted over every
 * artifact before anything is written, so a failing run changes nothing.
 *
 * stdout, one line each, for the tests to assert on:
 *   requests N
 *   signed ID KEY MECHANISM SIGLEN
 *   found ID ARTIFACT
 *   resolved ARTIFACT COUNT
 * Exit status: 0 success, 1 a request missing or duplicated, 2 usage,
 * 3 any other failure (message on stderr).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "keys/manifest.h"
#include "p11/p11.h"
#include "request/capture_request.h"
#include "signer/capture_sign.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fileio.h"

#define EXIT_MISMATCH 1
#define EXIT_USAGE 2
#define EXIT_FAIL 3

static int fail(const char *what, int err)
{
	const char *detail = rb_err_detail();

	fprintf(stderr, "capture-resolve-tool: %s: %s%s%s\n", what, rb_strerror(err),
		detail && *detail ? ": " : "", detail ? detail : "");
	return EXIT_FAIL;
}

static void usage(void)
{
	fprintf(stderr, "usage: capture-resolve-tool --state-dir STATE --pin-file FILE --spool DIR\n"
			"                            [--module PATH] [--allow-unused] ARTIFACT...\n");
}

struct run {
	struct manifest *m;
	struct capture_request_set *set;
	struct p11_module *mod;
	struct p11_token *tok;
	struct capture_resolution *res;
	uint8_t **sigs;
	size_t *total;
	struct capture_resolve_result *results;
};

static void run_done(struct run *r)
{
	if (r->sigs)
		for (size_t i = 0; r->set && i < r->set->n; i++)
			free(r->sigs[i]);
	free(r->sigs);
	free(r->res);
	free(r->total);
	free(r->results);
	p11_token_free(r->tok);
	p11_module_free(r->mod);
	capture_request_set_free(r->set);
	manifest_free(r->m);
}

static int open_token(struct run *r, const char *module, const char *state_dir, const char *pin_file)
{
	struct p11_pin_source src = { P11_PIN_FILE, pin_file };
	struct rb_secret *pin = NULL;
	_cleanup_free_ char *conf = NULL;
	int err;

	if (strstr(module, "softhsm") && !getenv("SOFTHSM2_CONF")) {
		if (asprintf(&conf, "%s/softhsm2.conf", state_dir) < 0)
			return RB_E_NOMEM;
		setenv("SOFTHSM2_CONF", conf, 1);
	}
	if ((err = p11_module_load(module, &r->mod)) < 0 ||
	    (err = p11_token_open(r->mod, r->m->token_uri, 0, &r->tok)) < 0)
		return err;
	if ((err = p11_pin_read(&src, &pin)) == RB_OK)
		err = p11_token_login(r->tok, CKU_USER, pin);
	rb_secret_free(pin);
	return err;
}

/* The real signature for every request, through the foundation's core. */
static int sign_all(struct run *r)
{
	size_t n = r->set->n;

	r->res = calloc(n ? n : 1, sizeof(*r->res));
	r->sigs = calloc(n ? n : 1, sizeof(*r->sigs));
	r->total = calloc(n ? n : 1, sizeof(*r->total));
	r->results = calloc(n ? n : 1, sizeof(*r->results));
	if (!r->res || !r->sigs || !r->total || !r->results)
		return RB_E_NOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct capture_request *q = r->set->items[i];
		struct manifest_key *mk = manifest_find(r->m, q->key_name);
		struct p11_key *key;
		size_t len;
		int err;

		if (!mk)
			return rb_err_set(RB_E_KEY, "request %s: no key '%s' in the manifest", q->id_hex,
					  q->key_name);
		if (mk->status != KEY_ACTIVE)
			return rb_err_set(RB_E_PERM, "request %s: key '%s' is %s", q->id_hex, q->key_name,
					  key_status_name(mk->status));
		if ((err = p11_token_find_key(r->tok, mk->uri, &key)) < 0)
			return err;
		if (EVP_PKEY_eq(p11_key_public(key), mk->pub) != 1)
			return rb_err_set(RB_E_VERIFY, "key '%s' on the token is not the manifest's",
					  q->key_name);
		if ((err = capture_request_sign(key, q, &r->sigs[i], &len)) < 0)
			return err;
		r->res[i] = (struct capture_resolution){ q, mk->pub, r->sigs[i], len };
		printf("signed %s %s %s %zu\n", q->id_hex, q->key_name,
		       capture_mech_name(q->mechanism) ? capture_mech_name(q->mechanism) : "?", len);
	}
	return RB_OK;
}

/* Count occurrences in a scratch copy of each artifact: nothing is written
 * unless every request is accounted for. */
static int count_all(struct run *r, char **artifacts, int n_artifacts)
{
	for (int a = 0; a < n_artifacts; a++) {
		_cleanup_free_ uint8_t *data = NULL;
		size_t len;
		int err;

		if ((err = rb_file_read(artifacts[a], CAPTURE_ARTIFACT_MAX_BYTES, &data, &len)) < 0)
			return err;
		memset(r->results, 0, r->set->n * sizeof(*r->results));
		err = capture_resolve_buffer(data, len, r->res, r->set->n, r->results);
		if (err == RB_E_STATE) {
			for (size_t i = 0; i < r->set->n; i++)
				if (r->results[i].found > 1)
					fprintf(stderr, "capture-resolve-tool: request %s (%s) found %zu times in %s\n",
						r->set->items[i]->id_hex, r->set->items[i]->key_name,
						r->results[i].found, artifacts[a]);
			return err;
		}
		if (err < 0)
			return err;
		for (size_t i = 0; i < r->set->n; i++) {
			r->total[i] += r->results[i].found;
			for (size_t k = 0; k < r->results[i].found; k++)
				printf("found %s %s\n", r->set->items[i]->id_hex, artifacts[a]);
		}
	}
	return RB_OK;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "pin-file", required_argument, NULL, 'p' },
		{ "spool", required_argument, NULL, 'q' },
		{ "module", required_argument, NULL, 'm' },
		{ "allow-unused", no_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state_dir = NULL, *pin_file = NULL, *spool = NULL;
	const char *module = ROMBSR_DEFAULT_SOFTHSM_MODULE;
	_cleanup_free_ char *manifest_path = NULL;
	struct run r = { 0 };
	bool allow_unused = false;
	int opt, err, rc = EXIT_FAIL, mismatches = 0;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 's': state_dir = optarg; break;
		case 'p': pin_file = optarg; break;
		case 'q': spool = optarg; break;
		case 'm': module = optarg; break;
		case 'u': allow_unused = true; break;
		default: usage(); return EXIT_USAGE;
		}
	}
	if (!state_dir || !pin_file || !spool || optind >= argc) {
		usage();
		return EXIT_USAGE;
	}
	if (asprintf(&manifest_path, "%s/manifest.json", state_dir) < 0)
		return fail("memory", RB_E_NOMEM);
	if ((err = manifest_load(manifest_path, &r.m)) < 0) {
		rc = fail(manifest_path, err);
		goto out;
	}
	if ((err = capture_spool_load(spool, r.m, &r.set)) < 0) {
		rc = fail(spool, err);
		goto out;
	}
	printf("requests %zu\n", r.set->n);
	if ((err = open_token(&r, module, state_dir, pin_file)) < 0) {
		rc = fail("opening the token", err);
		goto out;
	}
	if ((err = sign_all(&r)) < 0) {
		rc = fail("signing", err);
		goto out;
	}
	if ((err = count_all(&r, argv + optind, argc - optind)) < 0) {
		rc = err == RB_E_STATE ? EXIT_MISMATCH : fail("counting placeholders", err);
		goto out;
	}
	for (size_t i = 0; i < r.set->n; i++) {
		const struct capture_request *q = r.set->items[i];

		if (r.total[i] == 1 || (r.total[i] == 0 && allow_unused))
			continue;
		fprintf(stderr, "capture-resolve-tool: request %s (%s, %s, from %s) found %zu times in the artifacts\n",
			q->id_hex, q->key_name, capture_mech_name(q->mechanism), q->tool ? q->tool : "?",
			r.total[i]);
		mismatches++;
	}
	if (mismatches) {
		rc = EXIT_MISMATCH;
		goto out;
	}
	for (int a = optind; a < argc; a++) {
		size_t count = 0;

		memset(r.results, 0, r.set->n * sizeof(*r.results));
		if ((err = capture_resolve_file(argv[a], r.res, r.set->n, r.results)) < 0) {
			rc = fail(argv[a], err);
			goto out;
		}
		for (size_t i = 0; i < r.set->n; i++) {
			if (r.results[i].found && !r.results[i].replaced) {
				fprintf(stderr, "capture-resolve-tool: %s: request %s found but not replaced\n",
					argv[a], r.set->items[i]->id_hex);
				goto out;
			}
			count += r.results[i].found;
		}
		printf("resolved %s %zu\n", argv[a], count);
	}
	rc = 0;
out:
	run_done(&r);
	return rc;
}
