/* rombsr submit: the build node's half of deferred signing. Collects the
 * capture spool and any detached-signature requests of one build into one
 * request document, and commits it to the signing queue in one commit
 * signed with the build node's OpenPGP key (gpgme: gpg-agent or a
 * smartcard holds it). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "apply/locate.h"
#include "cli.h"
#include "keys/manifest.h"
#include "queue/git.h"
#include "queue/gpgsig.h"
#include "request/capture_request.h"
#include "request/request.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fileio.h"

static const char verb[] = "submit";

#define SUBMIT_MAX_ITEMS 10000

static void submit_usage(void)
{
	printf("usage: rombsr submit --build-id ID --node NAME --queue URL --signing-key FPR\n"
	       "                     --manifest FILE [--spool DIR] [--root DIR]\n"
	       "                     [--artifact FILE]... [--raw KEY=FILE]... [--openpgp KEY=FILE]...\n"
	       "Commit one build's signing requests to the signing queue as\n"
	       "requests/NODE/ID.json, in one commit signed with the node's OpenPGP key.\n"
	       "  --build-id ID        the build (default $ROMBSR_BUILD_ID)\n"
	       "  --node NAME          this build node's name in the sign node's sign.conf\n"
	       "  --queue URL          the signing queue (path, file://, ssh://, https://)\n"
	       "  --branch NAME        queue branch (default main)\n"
	       "  --signing-key FPR    the node's OpenPGP key (in $GNUPGHOME or --gnupghome)\n"
	       "  --gnupghome DIR      GnuPG home holding that key\n"
	       "  --manifest FILE      key manifest (default $ROMBSR_CAPTURE_MANIFEST)\n"
	       "  --spool DIR          capture spool (default $ROMBSR_CAPTURE_SPOOL; none: no\n"
	       "                       capture requests)\n"
	       "  --root DIR           artifact names are paths relative to DIR (default .)\n"
	       "  --artifact FILE      an artifact holding placeholders (repeatable)\n"
	       "  --raw KEY=FILE       ask for a raw detached signature of FILE by KEY\n"
	       "  --openpgp KEY=FILE   ask for an OpenPGP detached signature of FILE by KEY\n"
	       "  --armor              OpenPGP signatures ASCII-armored (.asc) instead of .sig\n"
	       "  --cache DIR          local mirror of the queue (default ROOT/.rombsr-queue)\n"
	       "  --comment TEXT       a note for the people reading the queue\n"
	       "  --publish-seconds N  while other nodes win the race to the queue, keep\n"
	       "                       trying for N seconds (default %d; 0: once); then\n"
	       "                       exit 13, nothing submitted\n", QUEUE_DEFAULT_PUBLISH_SECONDS);
}

struct submit {
	const char *build_id, *node, *queue, *branch, *signing_key, *gnupghome, *manifest_path,
		*spool, *root, *cache, *comment;
	bool spool_explicit;
	const char *artifacts[SUBMIT_MAX_ITEMS];
	size_t n_artifacts;
	const char *raw[SUBMIT_MAX_ITEMS], *openpgp[SUBMIT_MAX_ITEMS];
	size_t n_raw, n_openpgp;
	bool armor;
	unsigned publish_seconds;
	char root_real[PATH_MAX];
	struct gpgsig *gpg;
};

/* The artifact name of path: its real path relative to the root. */
static int submit_name(const struct submit *sb, const char *path, char **ret_name)
{
	char real[PATH_MAX];
	size_t rl = strlen(sb->root_real);

	if (!realpath(path, real))
		return rb_err_set(RB_E_NOTFOUND, "%s: cannot resolve the artifact path", path);
	if (strncmp(real, sb->root_real, rl) != 0 || real[rl] != '/')
		return rb_err_set(RB_E_INVAL, "%s: the artifact is not under --root %s; artifact names are paths below the root",
				  path, sb->root_real);
	if (!request_artifact_name_valid(real + rl + 1))
		return rb_err_set(RB_E_INVAL, "%s: '%s' is not a valid artifact name (components of A-Z a-z 0-9 . _ + -)",
				  path, real + rl + 1);
	if (!(*ret_name = strdup(real + rl + 1)))
		return RB_E_NOMEM;
	return RB_OK;
}

static int submit_add_artifact(struct submit *sb, struct request_doc *doc, const char *path,
			       char **ret_name)
{
	_cleanup_free_ char *name = NULL;
	int err;

	if ((err = submit_name(sb, path, &name)) < 0)
		return err;
	err = request_doc_add_artifact_file(doc, name, path);
	if (err == RB_E_EXISTS)
		err = RB_OK; /* named twice, or also a detached request's file */
	if (err < 0)
		return err;
	if (ret_name)
		*ret_name = TAKE_PTR(name);
	return RB_OK;
}

/* Map every capture request to the one artifact that holds its
 * placeholder, exactly once. */
static int submit_add_captures(struct submit *sb, struct request_doc *doc,
			       const struct capture_request_set *set)
{
	_cleanup_free_ size_t *where = NULL, *counts = NULL;
	int err;

	if (!set || set->n == 0)
		return RB_OK;
	where = calloc(set->n, sizeof(*where));
	counts = calloc(set->n, sizeof(*counts));
	if (!where || !counts)
		return RB_E_NOMEM;
	for (size_t i = 0; i < set->n; i++)
		where[i] = SIZE_MAX;
	for (size_t a = 0; a < sb->n_artifacts; a++) {
		if ((err = apply_locate_file(sb->artifacts[a], (const struct capture_request *const *)set->items,
					     set->n, counts)) < 0)
			return err;
		for (size_t i = 0; i < set->n; i++) {
			if (counts[i] == 0)
				continue;
			if (counts[i] > 1 || where[i] != SIZE_MAX)
				return rb_err_set(RB_E_STATE,
						  "request %.16s (key %s, tool %s): its placeholder occurs more than once (%s%s%s); rombsr apply could not tell which to replace",
						  set->items[i]->id_hex, set->items[i]->key_name,
						  set->items[i]->tool ? set->items[i]->tool : "?", sb->artifacts[a],
						  where[i] != SIZE_MAX ? " and " : "",
						  where[i] != SIZE_MAX ? sb->artifacts[where[i]] : "");
			where[i] = a;
		}
	}
	for (size_t i = 0; i < set->n; i++) {
		_cleanup_free_ char *name = NULL;

		if (where[i] == SIZE_MAX)
			return rb_err_set(RB_E_NOTFOUND,
					  "request %.16s (key %s, tool %s) is in no artifact given with --artifact; pass the file that holds it, or clear the spool of requests from abandoned runs",
					  set->items[i]->id_hex, set->items[i]->key_name,
					  set->items[i]->tool ? set->items[i]->tool : "?");
		if ((err = submit_name(sb, sb->artifacts[where[i]], &name)) < 0 ||
		    (err = request_doc_add_capture(doc, name, set->items[i])) < 0)
			return err;
	}
	return RB_OK;
}

static int submit_add_direct(struct submit *sb, struct request_doc *doc, const struct manifest *m,
			     const char *spec, bool openpgp)
{
	_cleanup_free_ char *key = NULL, *name = NULL;
	const char *eq = strchr(spec, '=');
	const struct manifest_key *mk;
	int err;

	if (!eq || eq == spec || !eq[1])
		return rb_err_set(RB_E_INVAL, "--%s '%s': expected KEY=FILE", openpgp ? "openpgp" : "raw", spec);
	if (!(key = strndup(spec, (size_t)(eq - spec))))
		return RB_E_NOMEM;
	if (!(mk = manifest_find(m, key)))
		return rb_err_set(RB_E_KEY, "--%s %s: the manifest has no key '%s'; see 'rombsr keys list'",
				  openpgp ? "openpgp" : "raw", spec, key);
	if ((err = submit_add_artifact(sb, doc, eq + 1, &name)) < 0)
		return err;
	if (openpgp)
		return request_doc_add_openpgp(doc, name, mk, HASH_STATE_SHA512, sb->armor);
	{
		enum rb_sig_scheme scheme = mk->alg == RB_KEY_RSA     ? RB_SIG_RSA_PKCS1_SHA256
					    : mk->alg == RB_KEY_EC_P256 ? RB_SIG_ECDSA_SHA256
									: RB_SIG_ED25519;

		return request_doc_add_raw(doc, name, mk, scheme);
	}
}

static int submit_sign(void *ctx, const uint8_t *data, size_t len, char **ret_armored)
{
	struct submit *sb = ctx;
	size_t n;

	return gpgsig_sign_detached(sb->gpg, sb->signing_key, data, len, ret_armored, &n);
}

static int submit_run(struct submit *sb, char ret_commit[QUEUE_OID_HEX + 1], size_t *ret_n)
{
	_cleanup_(request_doc_freep) struct request_doc *doc = NULL;
	_cleanup_free_ uint8_t *mbytes = NULL;
	_cleanup_free_ char *path = NULL, *cache = NULL, *message = NULL;
	_cleanup_queue_ struct queue *q = NULL;
	struct capture_request_set *set = NULL;
	struct manifest *m = NULL;
	struct rb_buf out = RB_BUF_INIT;
	uint8_t msha[32];
	size_t mlen;
	int err;

	if (!realpath(sb->root, sb->root_real))
		return rb_err_set(RB_E_NOTFOUND, "--root %s: no such directory", sb->root);
	if ((err = rb_file_read(sb->manifest_path, MANIFEST_MAX_BYTES, &mbytes, &mlen)) < 0 ||
	    (err = manifest_parse((const char *)mbytes, mlen, sb->manifest_path, &m)) < 0)
		return err;
	SHA256(mbytes, mlen, msha);
	if (sb->spool) {
		err = capture_spool_load(sb->spool, m, &set);
		/* A build whose tools never signed through the capture module
		 * has no spool; one named on the command line must exist. */
		if (err == RB_E_NOTFOUND && !sb->spool_explicit) {
			rb_err_clear();
			err = RB_OK;
		}
		if (err < 0)
			goto out;
		for (size_t i = 0; set && i < set->n; i++) {
			if (strcmp(set->items[i]->build_id, sb->build_id) != 0) {
				err = rb_err_set(RB_E_INVAL,
						 "%s: request %.16s belongs to build '%s', not '%s'; use one spool per build",
						 sb->spool, set->items[i]->id_hex, set->items[i]->build_id, sb->build_id);
				goto out;
			}
			/* What the sign node would refuse with "structure",
			 * refused here first, before anything is pushed. */
			if ((err = request_capture_structure_check(set->items[i],
								   manifest_find(m, set->items[i]->key_name))) < 0)
				goto out;
		}
	}
	if ((err = request_doc_new(sb->node, sb->build_id, msha, (int64_t)time(NULL), &doc)) < 0)
		goto out;
	for (size_t a = 0; a < sb->n_artifacts; a++)
		if ((err = submit_add_artifact(sb, doc, sb->artifacts[a], NULL)) < 0)
			goto out;
	if ((err = submit_add_captures(sb, doc, set)) < 0)
		goto out;
	for (size_t i = 0; i < sb->n_raw; i++)
		if ((err = submit_add_direct(sb, doc, m, sb->raw[i], false)) < 0)
			goto out;
	for (size_t i = 0; i < sb->n_openpgp; i++)
		if ((err = submit_add_direct(sb, doc, m, sb->openpgp[i], true)) < 0)
			goto out;
	if (doc->n_entries == 0) {
		err = rb_err_set(RB_E_NOTFOUND, "build %s: nothing to sign (empty spool, no --raw or --openpgp)",
				 sb->build_id);
		goto out;
	}
	if (sb->comment && !(doc->comment = strdup(sb->comment))) {
		err = RB_E_NOMEM;
		goto out;
	}
	out.cap = REQUEST_MAX_BYTES;
	if ((err = request_doc_emit(doc, &out)) < 0)
		goto out;
	/* What goes to the queue is exactly what the sign node will parse:
	 * check it here, where a failure is cheap to fix. */
	{
		_cleanup_(request_doc_freep) struct request_doc *back = NULL;

		if ((err = request_doc_parse((const char *)out.data, out.len, "the request document", m, 0, &back)) < 0)
			goto out;
	}
	if (asprintf(&path, "requests/%s/%s.json", sb->node, sb->build_id) < 0 ||
	    (!sb->cache && asprintf(&cache, "%s/.rombsr-queue", sb->root_real) < 0) ||
	    asprintf(&message, "rombsr submit: %s/%s (%zu requests)\n", sb->node, sb->build_id,
		     doc->n_entries) < 0) {
		err = RB_E_NOMEM;
		goto out;
	}
	if ((err = gpgsig_open(sb->gnupghome, &sb->gpg)) < 0)
		goto out;
	if ((err = queue_open(sb->queue, sb->cache ? sb->cache : cache, sb->branch, &q)) < 0 ||
	    (err = queue_set_publish_deadline(q, sb->publish_seconds)) < 0)
		goto out;
	{
		struct queue_file f = { path, out.data, out.len };
		_cleanup_free_ char *email = NULL;

		if (asprintf(&email, "%s@build.rombsr.invalid", sb->node) < 0) {
			err = RB_E_NOMEM;
			goto out;
		}
		err = queue_publish(q, &f, 1, message, sb->node, email, submit_sign, sb, ret_commit);
		if (err == RB_OK && queue_publish_races(q))
			printf("submit: other publishers moved the queue on %u time%s; built again on the new tip\n",
			       queue_publish_races(q), queue_publish_races(q) == 1 ? "" : "s");
		if (err == RB_E_EXISTS)
			err = rb_err_set(err, "%s: the queue already holds this build's requests; every build id is submitted once",
					 path);
	}
	*ret_n = doc->n_entries;
out:
	rb_buf_free(&out);
	capture_request_set_free(set);
	manifest_free(m);
	return err;
}

int cmd_submit(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "build-id", required_argument, NULL, 'b' },
		{ "node", required_argument, NULL, 'n' },
		{ "queue", required_argument, NULL, 'q' },
		{ "branch", required_argument, NULL, 'B' },
		{ "signing-key", required_argument, NULL, 'k' },
		{ "gnupghome", required_argument, NULL, 'g' },
		{ "manifest", required_argument, NULL, 'm' },
		{ "spool", required_argument, NULL, 's' },
		{ "root", required_argument, NULL, 'r' },
		{ "artifact", required_argument, NULL, 'a' },
		{ "raw", required_argument, NULL, 'R' },
		{ "openpgp", required_argument, NULL, 'O' },
		{ "armor", no_argument, NULL, 'A' },
		{ "cache", required_argument, NULL, 'c' },
		{ "comment", required_argument, NULL, 'C' },
		{ "publish-seconds", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct submit sb;
	char commit[QUEUE_OID_HEX + 1] = "";
	size_t n = 0;
	int opt, err;

	memset(&sb, 0, sizeof(sb));
	sb.build_id = getenv("ROMBSR_BUILD_ID");
	sb.manifest_path = getenv("ROMBSR_CAPTURE_MANIFEST");
	sb.spool = getenv("ROMBSR_CAPTURE_SPOOL");
	sb.root = ".";
	sb.branch = QUEUE_DEFAULT_BRANCH;
	sb.publish_seconds = QUEUE_DEFAULT_PUBLISH_SECONDS;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'b': sb.build_id = optarg; break;
		case 'n': sb.node = optarg; break;
		case 'q': sb.queue = optarg; break;
		case 'B': sb.branch = optarg; break;
		case 'k': sb.signing_key = optarg; break;
		case 'g': sb.gnupghome = optarg; break;
		case 'm': sb.manifest_path = optarg; break;
		case 's': sb.spool = optarg; sb.spool_explicit = true; break;
		case 'r': sb.root = optarg; break;
		case 'A': sb.armor = true; break;
		case 'c': sb.cache = optarg; break;
		case 'C': sb.comment = optarg; break;
		case 'P':
			if ((err = cli_parse_uint(verb, "--publish-seconds", optarg, QUEUE_MAX_PUBLISH_SECONDS,
						  &sb.publish_seconds)) != EXIT_OK)
				return err;
			break;
		case 'a':
		case 'R':
		case 'O': {
			const char **list = opt == 'a' ? sb.artifacts : opt == 'R' ? sb.raw : sb.openpgp;
			size_t *cnt = opt == 'a' ? &sb.n_artifacts : opt == 'R' ? &sb.n_raw : &sb.n_openpgp;

			if (*cnt == SUBMIT_MAX_ITEMS)
				return cli_usage_error(verb, "at most %d of each of --artifact, --raw, --openpgp",
						       SUBMIT_MAX_ITEMS);
			list[(*cnt)++] = optarg;
			break;
		}
		case 'h': submit_usage(); return EXIT_OK;
		default: return cli_usage_error(verb, "unknown option");
		}
	}
	if (optind != argc)
		return cli_usage_error(verb, "unexpected argument '%s'; artifacts go after --artifact", argv[optind]);
	if (!sb.build_id || !capture_build_id_valid(sb.build_id))
		return cli_usage_error(verb, "--build-id is missing or not 1-128 of A-Z a-z 0-9 . _ -");
	if (!sb.node || !request_node_valid(sb.node))
		return cli_usage_error(verb, "--node is missing or not a valid node name");
	if (!sb.queue || !sb.signing_key || !sb.manifest_path)
		return cli_usage_error(verb, "--queue, --signing-key and --manifest are required");
	if (sb.spool && !*sb.spool)
		sb.spool = NULL;
	cli_working_on("build %s of node %s, queue %s", sb.build_id, sb.node, sb.queue);
	err = submit_run(&sb, commit, &n);
	gpgsig_free(sb.gpg);
	if (err < 0)
		return cli_fail(verb, err);
	printf("submit: requests/%s/%s.json: %zu requests, commit %s\n", sb.node, sb.build_id, n, commit);
	return EXIT_OK;
}
