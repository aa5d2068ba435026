/* rombsr approve: dual control. An approver states, in a commit signed
 * with their own OpenPGP key, that one build's request document (named by
 * its SHA-256) may be signed with the listed keys. The sign node counts
 * approvals for keys whose policy asks for them (sign.conf: key.NAME). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "cli.h"
#include "queue/config.h"
#include "queue/git.h"
#include "queue/gpgsig.h"
#include "request/approval.h"
#include "request/request.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"

static const char verb[] = "approve";

#define APPROVE_MAX_KEYS 64

static void approve_usage(void)
{
	printf("usage: rombsr approve --queue URL --approver NAME --signing-key FPR\n"
	       "                      --node NODE --build-id ID --key KEY [--key KEY]...\n"
	       "Approve one build's request document for the listed keys, in a commit\n"
	       "signed with the approver's OpenPGP key (approvals/NAME/NODE/ID.json).\n"
	       "  --queue URL        the signing queue\n"
	       "  --branch NAME      queue branch (default main)\n"
	       "  --approver NAME    your name in the sign node's sign.conf\n"
	       "  --signing-key FPR  your OpenPGP key (in $GNUPGHOME or --gnupghome)\n"
	       "  --gnupghome DIR    GnuPG home holding that key\n"
	       "  --node NODE --build-id ID   the build to approve\n"
	       "  --key KEY          a key the approval covers (repeatable)\n"
	       "  --cache DIR        local mirror of the queue (default ./.rombsr-queue)\n"
	       "The request document is printed first: approve only what you have read.\n");
}

struct approve {
	const char *queue, *branch, *approver, *signing_key, *gnupghome, *node, *build_id, *cache;
	const char *keys[APPROVE_MAX_KEYS];
	size_t n_keys;
	struct gpgsig *gpg;
};

static int approve_sign(void *ctx, const uint8_t *data, size_t len, char **ret_armored)
{
	struct approve *a = ctx;
	size_t n;

	return gpgsig_sign_detached(a->gpg, a->signing_key, data, len, ret_armored, &n);
}

static int approve_run(struct approve *a, char ret_commit[QUEUE_OID_HEX + 1])
{
	_cleanup_queue_ struct queue *q = NULL;
	_cleanup_(request_doc_freep) struct request_doc *doc = NULL;
	_cleanup_(approval_doc_freep) struct approval_doc *ap = NULL;
	_cleanup_free_ uint8_t *data = NULL;
	_cleanup_free_ char *req_path = NULL, *path = NULL, *message = NULL, *email = NULL;
	char tip[QUEUE_OID_HEX + 1];
	struct rb_buf out = RB_BUF_INIT;
	uint8_t sha[32];
	size_t len;
	int err;

	if ((err = queue_open(a->queue, a->cache, a->branch, &q)) < 0 || (err = queue_fetch(q, tip)) < 0)
		return err;
	if (!tip[0])
		return rb_err_set(RB_E_NOTFOUND, "queue %s is empty: there is nothing to approve", a->queue);
	if (asprintf(&req_path, "requests/%s/%s.json", a->node, a->build_id) < 0)
		return RB_E_NOMEM;
	if ((err = queue_read_file(q, tip, req_path, REQUEST_MAX_BYTES, &data, &len)) < 0)
		return rb_err_set(err, "queue %s: no %s to approve", a->queue, req_path);
	if ((err = request_doc_parse((const char *)data, len, req_path, NULL, 0, &doc)) < 0)
		return err;
	SHA256(data, len, sha);
	printf("approve: %s (sha256 %02x%02x%02x%02x...)\n", req_path, sha[0], sha[1], sha[2], sha[3]);
	for (size_t i = 0; i < doc->n_entries; i++)
		printf("approve:   %s %-8s key %-16s %s\n", doc->entries[i].id_hex,
		       request_kind_name(doc->entries[i].kind), doc->entries[i].key_name,
		       doc->artifacts[doc->entries[i].artifact].name);
	for (size_t k = 0; k < a->n_keys; k++) {
		bool used = false;

		if (strcmp(a->keys[k], SIGN_NODE_QUEUE_KEY) == 0 || strcmp(a->keys[k], SIGN_NODE_AUDIT_KEY) == 0)
			return rb_err_set(RB_E_INVAL, "--key %s: the '%s' key signs only what the sign node composes "
					  "and takes no requests, so there is nothing to approve; approve signing keys only",
					  a->keys[k], a->keys[k]);

		for (size_t i = 0; i < doc->n_entries && !used; i++)
			used = strcmp(doc->entries[i].key_name, a->keys[k]) == 0;
		if (!used)
			return rb_err_set(RB_E_INVAL, "%s asks for no signature by key '%s'; approve only keys the build uses",
					  req_path, a->keys[k]);
	}
	if ((err = approval_doc_new(a->approver, a->node, a->build_id, sha, a->keys, a->n_keys, &ap)) < 0 ||
	    (err = approval_doc_emit(ap, &out)) < 0)
		goto out;
	if (asprintf(&path, "approvals/%s/%s/%s.json", a->approver, a->node, a->build_id) < 0 ||
	    asprintf(&message, "rombsr approve: %s/%s by %s\n", a->node, a->build_id, a->approver) < 0 ||
	    asprintf(&email, "%s@approver.rombsr.invalid", a->approver) < 0) {
		err = RB_E_NOMEM;
		goto out;
	}
	if ((err = gpgsig_open(a->gnupghome, &a->gpg)) < 0)
		goto out;
	{
		struct queue_file f = { path, out.data, out.len };

		err = queue_publish(q, &f, 1, message, a->approver, email, approve_sign, a, ret_commit);
		if (err == RB_E_EXISTS)
			err = rb_err_set(err, "%s: you approved this build already", path);
	}
out:
	rb_buf_free(&out);
	return err;
}

int cmd_approve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "queue", required_argument, NULL, 'q' },
		{ "branch", required_argument, NULL, 'B' },
		{ "approver", required_argument, NULL, 'a' },
		{ "signing-key", required_argument, NULL, 's' },
		{ "gnupghome", required_argument, NULL, 'g' },
		{ "node", required_argument, NULL, 'n' },
		{ "build-id", required_argument, NULL, 'b' },
		{ "key", required_argument, NULL, 'k' },
		{ "cache", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct approve a = { .branch = QUEUE_DEFAULT_BRANCH, .cache = ".rombsr-queue" };
	char commit[QUEUE_OID_HEX + 1] = "";
	int opt, err;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'q': a.queue = optarg; break;
		case 'B': a.branch = optarg; break;
		case 'a': a.approver = optarg; break;
		case 's': a.signing_key = optarg; break;
		case 'g': a.gnupghome = optarg; break;
		case 'n': a.node = optarg; break;
		case 'b': a.build_id = optarg; break;
		case 'c': a.cache = optarg; break;
		case 'k':
			if (a.n_keys == APPROVE_MAX_KEYS)
				return cli_usage_error(verb, "at most %d --key options", APPROVE_MAX_KEYS);
			a.keys[a.n_keys++] = optarg;
			break;
		case 'h': approve_usage(); return EXIT_OK;
		default: return cli_usage_error(verb, "unknown option");
		}
	}
	if (optind != argc)
		return cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);
	if (!a.queue || !a.signing_key || !a.n_keys)
		return cli_usage_error(verb, "--queue, --signing-key and at least one --key are required");
	if (!a.approver || !request_node_valid(a.approver) || !a.node || !request_node_valid(a.node))
		return cli_usage_error(verb, "--approver and --node must be valid names");
	if (!a.build_id || !capture_build_id_valid(a.build_id))
		return cli_usage_error(verb, "--build-id is missing or invalid");
	cli_working_on("build %s of node %s, queue %s", a.build_id, a.node, a.queue);
	err = approve_run(&a, commit);
	gpgsig_free(a.gpg);
	if (err < 0)
		return cli_fail(verb, err);
	printf("approve: approvals/%s/%s/%s.json, commit %s\n", a.approver, a.node, a.build_id, commit);
	return EXIT_OK;
}
