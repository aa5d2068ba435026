/* rombsr apply: put a build's signatures from the queue into its
 * artifacts, on the build node. Nothing is written until every check has
 * passed (src/lib/apply/apply.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "apply/apply.h"
#include "apply/fetch.h"
#include "cli.h"
#include "json/json.h"
#include "keys/manifest.h"
#include "queue/git.h"
#include "request/request.h"
#include "request/response.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/encode.h"

static const char verb[] = "apply";

struct apply_args {
	const char *build_id, *node, *queue, *branch, *manifest, *root, *cache;
	bool json;
	struct apply_options opt;
};

static void help(void)
{
	printf("usage: rombsr apply --build-id ID --node NAME --queue URL --manifest FILE\n"
	       "                    [--root DIR] [--cache DIR] [--branch NAME] [--force-detached] [--json]\n"
	       "\n"
	       "Fetch the sign node's response for a submitted build, verify it (response commit\n"
	       "signed by the manifest's queue key, every signature by the requested manifest\n"
	       "key, artifacts unchanged since submit), then replace the placeholders in the\n"
	       "artifacts and write NAME.sig / NAME.asc. Nothing is written unless every check\n"
	       "passes and no request was rejected (exit 11).\n"
	       "\n"
	       "  --build-id ID      the build, as given to 'rombsr submit'\n"
	       "  --node NAME        the build node's name\n"
	       "  --queue URL        the signing queue (git remote)\n"
	       "  --manifest FILE    key manifest\n"
	       "  --root DIR         directory the artifact names are relative to (default .)\n"
	       "  --cache DIR        local mirror of the queue (default\n"
	       "                     $XDG_CACHE_HOME/rombsr/queue-<sha256(URL)[:16]>, else\n"
	       "                     ROOT/.rombsr-queue)\n"
	       "  --branch NAME      queue branch (default main)\n"
	       "  --force-detached   replace an existing .sig/.asc that holds something else\n"
	       "  --json             print a JSON report on stdout\n");
}

static int default_cache(const struct apply_args *a, char **ret)
{
	const char *xdg = secure_getenv("XDG_CACHE_HOME");
	uint8_t h[SHA256_DIGEST_LENGTH];
	char hex[17], *dir = NULL;
	int err;

	if (!xdg || xdg[0] != '/')
		return asprintf(ret, "%s/.rombsr-queue", a->root) < 0 ? RB_E_NOMEM : RB_OK;
	SHA256((const uint8_t *)a->queue, strlen(a->queue), h);
	rb_hex_format(h, 8, hex);
	if (asprintf(&dir, "%s/rombsr", xdg) < 0)
		return RB_E_NOMEM;
	err = rb_mkdir_p(dir, 0700);
	free(dir);
	if (err < 0)
		return err;
	return asprintf(ret, "%s/rombsr/queue-%s", xdg, hex) < 0 ? RB_E_NOMEM : RB_OK;
}

static const char *kind_name(enum request_kind k)
{
	const char *n = request_kind_name(k);

	return n ? n : "unknown";
}

static void print_text(const struct apply_plan *p, const struct request_doc *req,
		       const struct apply_fetched *f)
{
	if (p->n_rejections > 0) {
		size_t last = SIZE_MAX;

		fprintf(stderr, "rombsr apply: the sign node rejected %zu of %zu requests of build %s; "
			"nothing was written\n", p->n_rejections, req->n_entries, req->build_id);
		for (size_t i = 0; i < p->n_rejections; i++) {
			const struct apply_rejection *r = &p->rejections[i];
			const char *reason = response_reason_name(r->reason);

			if (r->artifact != last)
				fprintf(stderr, "  %s:\n", p->artifacts[r->artifact].name);
			last = r->artifact;
			fprintf(stderr, "    %.16s  %-8s key %-12s %s: %s\n", r->id_hex,
				kind_name(r->kind), r->key_name, reason ? reason : "unknown",
				r->message);
		}
		return;
	}
	for (size_t a = 0; a < p->n_artifacts; a++) {
		const struct apply_artifact_summary *s = &p->artifacts[a];

		if (!s->n_capture && !s->n_raw && !s->n_openpgp)
			continue;
		printf("%s:", s->name);
		if (s->n_capture)
			printf(" %zu placeholder%s replaced%s", s->n_capture, s->n_capture == 1 ? "" : "s",
			       s->apk_verified ? " (APK verified)" : "");
		for (size_t k = 0; k < p->n_outputs; k++)
			if (p->outputs[k].artifact == a && p->outputs[k].kind == APPLY_OUTPUT_DETACHED)
				printf(" %s%s", p->outputs[k].name,
				       p->outputs[k].unchanged ? " (already there)" : "");
		printf("\n");
	}
	fprintf(stderr, "rombsr: applied build %s (response %.12s, signed by '%s')\n",
		req->build_id, f->response_commit, f->queue_key->name);
}

static int json_rejections(const struct apply_plan *p, struct json_value *report)
{
	_cleanup_json_ struct json_value *arr = NULL;
	int err;

	if ((err = json_new_array(&arr)) < 0)
		return err;
	for (size_t i = 0; i < p->n_rejections; i++) {
		const struct apply_rejection *r = &p->rejections[i];
		_cleanup_json_ struct json_value *o = NULL;
		const char *reason = response_reason_name(r->reason);

		if ((err = json_new_object(&o)) < 0 ||
		    (err = json_object_set_string(o, "artifact", p->artifacts[r->artifact].name)) < 0 ||
		    (err = json_object_set_string(o, "id", r->id_hex)) < 0 ||
		    (err = json_object_set_string(o, "kind", kind_name(r->kind))) < 0 ||
		    (err = json_object_set_string(o, "key", r->key_name)) < 0 ||
		    (err = json_object_set_string(o, "reason", reason ? reason : "unknown")) < 0 ||
		    (err = json_object_set_string(o, "message", r->message)) < 0 ||
		    (err = json_array_append(arr, TAKE_PTR(o))) < 0)
			return err;
	}
	return json_object_set(report, "rejections", TAKE_PTR(arr));
}

static int json_artifacts(const struct apply_plan *p, struct json_value *report)
{
	_cleanup_json_ struct json_value *arr = NULL;
	int err;

	if ((err = json_new_array(&arr)) < 0)
		return err;
	for (size_t a = 0; a < p->n_artifacts; a++) {
		const struct apply_artifact_summary *s = &p->artifacts[a];
		_cleanup_json_ struct json_value *o = NULL, *written = NULL;

		if ((err = json_new_object(&o)) < 0 || (err = json_new_array(&written)) < 0 ||
		    (err = json_object_set_string(o, "name", s->name)) < 0 ||
		    (err = json_object_set_int(o, "capture", (int64_t)s->n_capture)) < 0 ||
		    (err = json_object_set_int(o, "raw", (int64_t)s->n_raw)) < 0 ||
		    (err = json_object_set_int(o, "openpgp", (int64_t)s->n_openpgp)) < 0 ||
		    (err = json_object_set_int(o, "rejected", (int64_t)s->n_rejected)) < 0 ||
		    (err = json_object_set_bool(o, "apk_verified", s->apk_verified)) < 0)
			return err;
		for (size_t k = 0; k < p->n_outputs; k++) {
			const struct apply_output *out = &p->outputs[k];
			_cleanup_json_ struct json_value *v = NULL;

			if (out->artifact != a || out->unchanged || p->n_rejections > 0)
				continue;
			if ((err = json_new_string(out->name, &v)) < 0 ||
			    (err = json_array_append(written, TAKE_PTR(v))) < 0)
				return err;
		}
		if ((err = json_object_set(o, "written", TAKE_PTR(written))) < 0 ||
		    (err = json_array_append(arr, TAKE_PTR(o))) < 0)
			return err;
	}
	return json_object_set(report, "artifacts", TAKE_PTR(arr));
}

/* The report; plan is NULL when apply failed before or while planning. */
static int print_json(const struct apply_args *a, const struct apply_plan *p,
		      const struct apply_fetched *f, int failure)
{
	_cleanup_json_ struct json_value *r = NULL;
	struct rb_buf out = RB_BUF_INIT;
	bool ok = failure == RB_OK && p && p->n_rejections == 0;
	int err;

	if ((err = json_new_object(&r)) < 0 || (err = json_object_set_bool(r, "ok", ok)) < 0 ||
	    (err = json_object_set_string(r, "node", a->node)) < 0 ||
	    (err = json_object_set_string(r, "build_id", a->build_id)) < 0)
		return err;
	if (f && ((err = json_object_set_string(r, "request_commit", f->request_commit)) < 0 ||
		  (err = json_object_set_string(r, "response_commit", f->response_commit)) < 0))
		return err;
	if (failure < 0 && ((err = json_object_set_string(r, "error", rb_strerror(failure))) < 0 ||
			    (json_object_set_string(r, "detail", rb_err_message(failure)) < 0 &&
			     (err = json_object_set_string(r, "detail", "(not UTF-8)")) < 0)))
		return err;
	if (p && ((err = json_artifacts(p, r)) < 0 || (err = json_rejections(p, r)) < 0))
		return err;
	if ((err = json_emit(r, JSON_PRETTY, &out)) == RB_OK)
		fwrite(out.data, 1, out.len, stdout);
	rb_buf_free(&out);
	return err;
}

static int apply_parse_docs(const struct apply_fetched *f, const struct manifest *m,
			    struct request_doc **ret_req, struct response_doc **ret_resp)
{
	int err;

	err = request_doc_parse((const char *)f->request, f->request_len, "the request document",
				m, 0, ret_req);
	/* A key retired since submit still verifies; apply_plan_build refuses
	 * revoked and unknown keys itself, so parse without the policy check. */
	if (err == RB_E_PERM)
		err = request_doc_parse((const char *)f->request, f->request_len,
					"the request document", NULL, 0, ret_req);
	if (err < 0)
		return err;
	return response_doc_parse((const char *)f->response, f->response_len,
				  "the response document", ret_resp);
}

static int apply_run(const struct apply_args *a, struct apply_fetched **ret_f,
		     struct apply_plan **ret_plan)
{
	_cleanup_free_ char *cache = NULL;
	_cleanup_queue_ struct queue *q = NULL;
	_cleanup_(request_doc_freep) struct request_doc *req = NULL;
	_cleanup_(response_doc_freep) struct response_doc *resp = NULL;
	struct manifest *m = NULL;
	int err;

	if ((err = manifest_load(a->manifest, &m)) < 0)
		return err;
	if (!a->cache && (err = default_cache(a, &cache)) < 0)
		goto out;
	if ((err = queue_open(a->queue, a->cache ? a->cache : cache, a->branch, &q)) < 0 ||
	    (err = apply_fetch(q, m, a->node, a->build_id, ret_f)) < 0 ||
	    (err = apply_parse_docs(*ret_f, m, &req, &resp)) < 0 ||
	    (err = apply_response_check(resp, req, (*ret_f)->request, (*ret_f)->request_len,
					(*ret_f)->request_commit)) < 0 ||
	    (err = apply_plan_build(m, req, resp, a->root, &a->opt, ret_plan)) < 0)
		goto out;
	if (!a->json)
		print_text(*ret_plan, req, *ret_f);
	if ((*ret_plan)->n_rejections == 0)
		err = apply_plan_write(*ret_plan, a->root);
out:
	manifest_free(m);
	return err;
}

int cmd_apply(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "build-id", required_argument, NULL, 'b' },
		{ "node", required_argument, NULL, 'n' },
		{ "queue", required_argument, NULL, 'q' },
		{ "branch", required_argument, NULL, 'B' },
		{ "manifest", required_argument, NULL, 'm' },
		{ "root", required_argument, NULL, 'r' },
		{ "cache", required_argument, NULL, 'c' },
		{ "force-detached", no_argument, NULL, 'F' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct apply_args a = { .branch = QUEUE_DEFAULT_BRANCH, .root = "." };
	struct apply_fetched *f = NULL;
	struct apply_plan *plan = NULL;
	int opt, err, rc;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'b': a.build_id = optarg; break;
		case 'n': a.node = optarg; break;
		case 'q': a.queue = optarg; break;
		case 'B': a.branch = optarg; break;
		case 'm': a.manifest = optarg; break;
		case 'r': a.root = optarg; break;
		case 'c': a.cache = optarg; break;
		case 'F': a.opt.force_detached = true; break;
		case 'j': a.json = true; break;
		case 'h': help(); return EXIT_OK;
		default: return cli_usage_error(verb, "unknown option");
		}
	}
	if (!a.build_id || !a.node || !a.queue || !a.manifest)
		return cli_usage_error(verb, "--build-id, --node, --queue and --manifest are required");
	if (optind != argc)
		return cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);

	cli_working_on("build %s of node %s, queue %s", a.build_id, a.node, a.queue);
	err = apply_run(&a, &f, &plan);
	if (a.json && print_json(&a, err < 0 ? NULL : plan, f, err) < 0 && err == RB_OK)
		err = RB_E_NOMEM;
	if (err < 0)
		rc = a.json ? rb_exit_code(err) : cli_fail(verb, err);
	else
		rc = plan->n_rejections > 0 ? EXIT_REJECTED : EXIT_OK;
	apply_plan_free(plan);
	apply_fetched_free(f);
	return rc;
}
