/* rombsr-signer: the sign node's key holder.
 *
 *   rombsr-signer --config FILE      (started by rombsr-sign, socket on fd 3)
 *
 * The only process of the sign node that loads the PKCS#11 module, reads
 * the operator PIN and holds a logged-in session. rombsr-sign (the
 * orchestrator: git, gpg and the parsers of everything build nodes
 * write) starts it over a socketpair and asks for signatures in the
 * messages of signer/wire.h. Each one is checked against sign.conf and
 * the manifest this process read itself (signer/policy.h), signed on the
 * token, verified against the manifest's public key, and only then sent.
 *
 * It reads one message at a time and answers it; a malformed message
 * ends it (the orchestrator is broken or taken over: fail closed). It
 * exits 0 when the orchestrator closes the socket. Exit codes as for
 * rombsr (docs/EXIT-CODES.md).
 */
#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "signer/capture_sign.h"
#include "config.h"
#include "audit/origin.h"
#include "keys/manifest.h"
#include "p11/p11.h"
#include "queue/config.h"
#include "signer/policy.h"
#include "signer/wire.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/secret.h"

struct file_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct keyholder {
	const char *config_path;
	struct sign_config *cfg;
	struct manifest *m;
	struct file_id cfg_id, manifest_id; /* of what cfg and m were read from */
	struct p11_module *mod;
	struct p11_token *tok;
	char *origin;            /* the node's audit log origin */
};

static int keyholder_reply_error(int err)
{
	/* The detail set with err, else the generic text: never one an
	 * earlier failure left behind. */
	struct signer_msg r = { .type = SIGNER_MSG_ERROR, .err = err, .text = rb_err_message(err) };

	return signer_msg_send(SIGNER_FD, &r);
}

/* The token key behind a manifest key, checked to be that key: a swapped
 * object or wrapped blob with the right name signs nothing. */
static int keyholder_key(struct keyholder *k, const struct manifest_key *mk, struct p11_key **ret)
{
	uint8_t fpr[32];
	int err;

	if ((err = p11_token_find_key(k->tok, mk->uri ? mk->uri : mk->name, ret)) < 0 &&
	    (err = p11_token_find_key(k->tok, mk->name, ret)) < 0)
		return err;
	if ((err = rb_pkey_fingerprint(p11_key_public(*ret), fpr)) < 0)
		return err;
	if (memcmp(fpr, mk->spki_sha256, 32) != 0)
		return rb_err_set(RB_E_VERIFY, "key '%s' on the token is not the manifest's key (fingerprints "
				  "differ); not signing", mk->name);
	return RB_OK;
}

static int keyholder_file_id(const char *path, struct file_id *ret)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return rb_err_set(RB_E_IO, "key holder: %s: %s", path, strerror(errno));
	*ret = (struct file_id){ st.st_dev, st.st_ino, st.st_size, st.st_mtim };
	return RB_OK;
}

static bool keyholder_file_same(const struct file_id *a, const struct file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* sign.conf and the manifest, read again whenever either changed on disk
 * (checked before every signature): a revocation or a narrowed allowKey
 * binds the key holder at once, whether or not the orchestrator noticed.
 * A policy that no longer reads signs nothing. */
static int keyholder_load_policy(struct keyholder *k)
{
	struct sign_config *cfg = NULL;
	struct manifest *m = NULL;
	struct file_id cid, mid;
	char *origin = NULL;
	int err;

	if (k->cfg && (err = keyholder_file_id(k->config_path, &cid)) == RB_OK &&
	    (err = keyholder_file_id(k->cfg->manifest, &mid)) == RB_OK && keyholder_file_same(&cid, &k->cfg_id) &&
	    keyholder_file_same(&mid, &k->manifest_id))
		return RB_OK;
	/* ids first: a change while reading is seen at the next signature */
	if ((err = keyholder_file_id(k->config_path, &cid)) < 0 || (err = sign_config_load(k->config_path, &cfg)) < 0 ||
	    (err = keyholder_file_id(cfg->manifest, &mid)) < 0 || (err = manifest_load(cfg->manifest, &m)) < 0 ||
	    (err = audit_origin_for_node(m->token_label, cfg->sign_node_name, &origin)) < 0) {
		sign_config_free(cfg);
		manifest_free(m);
		return err;
	}
	sign_config_free(k->cfg);
	manifest_free(k->m);
	free(k->origin);
	k->cfg = cfg;
	k->m = m;
	k->origin = origin;
	k->cfg_id = cid;
	k->manifest_id = mid;
	return RB_OK;
}

static int keyholder_open(struct keyholder *k, const char *config)
{
	const struct sign_config *c;
	struct rb_secret *pin = NULL;
	struct p11_key *key;
	int err;

	k->config_path = config;
	if ((err = keyholder_load_policy(k)) < 0)
		return err;
	c = k->cfg;
	if (!c->hsm.pin_file)
		return rb_err_set(RB_E_PIN, "%s: hsm.pinFile is not set; the sign node logs in with the operator PIN file",
				  c->path);
	if (c->hsm.softhsm_conf)
		setenv("SOFTHSM2_CONF", c->hsm.softhsm_conf, 1);
	if ((err = p11_module_load(c->hsm.module ? c->hsm.module : ROMBSR_DEFAULT_SOFTHSM_MODULE, &k->mod)) < 0 ||
	    (err = p11_token_open(k->mod, c->hsm.token ? c->hsm.token : k->m->token_label, c->hsm.max_sessions,
				  &k->tok)) < 0)
		return err;
	{
		struct p11_pin_source src = { P11_PIN_FILE, c->hsm.pin_file };

		if ((err = p11_pin_read(&src, &pin)) < 0)
			return err;
	}
	err = p11_token_login(k->tok, CKU_USER, pin);
	rb_secret_free(pin);
	if (err < 0)
		return err;
	if (c->hsm.wrapped_store &&
	    (err = p11_token_set_wrapped_store(k->tok, c->hsm.wrapped_store, c->hsm.max_resident)) < 0)
		return err;
	/* The keys of the sign node's own signatures must be there from the
	 * start, and be the manifest's. */
	for (size_t i = 0; i < 2; i++) {
		const char *name = i ? SIGN_NODE_AUDIT_KEY : SIGN_NODE_QUEUE_KEY;
		const struct manifest_key *mk = manifest_find(k->m, name);

		if (!mk)
			return rb_err_set(RB_E_KEY, "%s: the manifest has no key '%s'", c->manifest, name);
		if ((err = keyholder_key(k, mk, &key)) < 0)
			return err;
	}
	return RB_OK;
}

static int keyholder_sign(struct keyholder *k, const struct signer_msg *req)
{
	const struct manifest_key *mk;
	struct p11_key *key;
	_cleanup_free_ uint8_t *sig = NULL;
	size_t siglen = 0;
	int err;

	if ((err = keyholder_load_policy(k)) < 0 ||
	    (err = signer_policy_check(k->cfg, k->m, k->origin, req, &mk)) < 0 ||
	    (err = keyholder_key(k, mk, &key)) < 0)
		return err;
	if (req->purpose == SIGNER_FOR_CAPTURE) {
		/* The capture module's placeholder rules: the signature must
		 * fill the hole the tool left (ECDSA: a DER length that fits). */
		struct capture_request r = {
			.key_name = (char *)mk->name,
			.scheme = req->scheme,
			.input = (uint8_t *)req->input,
			.input_len = req->input_len,
			.placeholder_len = req->placeholder_len,
		};

		memcpy(r.key_spki_sha256, mk->spki_sha256, 32);
		snprintf(r.id_hex, sizeof(r.id_hex), "for node %.32s", req->node);
		err = capture_request_sign(key, &r, &sig, &siglen);
	} else {
		/* p11_key_sign verifies what the token made against the key's
		 * public key, which keyholder_key() matched to the manifest. */
		err = p11_key_sign(key, req->scheme, req->input, req->input_len, &sig, &siglen);
	}
	if (err < 0)
		return err;
	{
		struct signer_msg r = { .type = SIGNER_MSG_SIG, .input = sig, .input_len = siglen };

		return signer_msg_send(SIGNER_FD, &r);
	}
}

static int keyholder_probe(struct keyholder *k, const struct signer_msg *req)
{
	const struct manifest_key *mk = manifest_find(k->m, req->key);
	struct signer_msg r = { .type = SIGNER_MSG_OK };
	struct p11_key *key;
	int err;

	if (!mk)
		return rb_err_set(RB_E_KEY, "key holder: key '%s' is not in the manifest", req->key);
	if ((err = p11_token_find_key(k->tok, mk->name, &key)) < 0 || (err = p11_key_still_there(key)) < 0)
		return err;
	return signer_msg_send(SIGNER_FD, &r);
}

/* One message in, one answer out. A refusal or an HSM failure is an
 * ERROR answer and the loop goes on; a message that cannot be read or
 * decoded ends it. */
static int keyholder_serve(struct keyholder *k)
{
	for (;;) {
		_cleanup_free_ uint8_t *body = NULL;
		struct signer_msg req;
		size_t len;
		int err;

		rb_err_clear();
		if ((err = signer_frame_read(SIGNER_FD, &body, &len)) == RB_E_NOTFOUND)
			return RB_OK;
		if (err < 0 || (err = signer_msg_decode(body, len, &req)) < 0) {
			(void)keyholder_reply_error(err);
			return err;
		}
		switch (req.type) {
		case SIGNER_MSG_SIGN:
			err = keyholder_sign(k, &req);
			break;
		case SIGNER_MSG_PROBE:
			err = keyholder_probe(k, &req);
			break;
		case SIGNER_MSG_STATUS: {
			struct signer_msg r = { .type = SIGNER_MSG_STATUS_REPLY,
						.sessions = p11_token_open_sessions(k->tok) };

			err = signer_msg_send(SIGNER_FD, &r);
			break;
		}
		default:
			err = rb_err_set(RB_E_INVAL, "key holder: message type 0x%02x is not a request", req.type);
			(void)keyholder_reply_error(err);
			return err;
		}
		if (err < 0 && keyholder_reply_error(err) < 0)
			return err;
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct keyholder k = { 0 };
	const char *config = NULL;
	struct stat st;
	int opt, err;

	rb_secret_harden_process();
	while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 'V': printf("rombsr-signer %s\n", ROMBSR_VERSION); return 0;
		case 'h':
			printf("usage: rombsr-signer --config FILE\n"
			       "The sign node's key holder. rombsr-sign starts it with a socket on fd %d;\n"
			       "it is not run by hand.\n", SIGNER_FD);
			return 0;
		default:
			fprintf(stderr, "rombsr-signer: see 'rombsr-signer --help'\n");
			return EXIT_USAGE;
		}
	}
	if (!config || optind != argc) {
		fprintf(stderr, "rombsr-signer: usage: rombsr-signer --config FILE (started by rombsr-sign)\n");
		return EXIT_USAGE;
	}
	if (fstat(SIGNER_FD, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "rombsr-signer: fd %d is not a socket; rombsr-sign starts this program, "
			"it is not run by hand\n", SIGNER_FD);
		return EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);
	/* The orchestrator's SIGINT/SIGTERM finish its batch; the key holder
	 * must stay until the orchestrator closes the socket. */
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGTERM, SIG_IGN);

	if ((err = keyholder_open(&k, config)) < 0) {
		(void)keyholder_reply_error(err);
	} else {
		struct signer_msg ready = { .type = SIGNER_MSG_READY, .text = p11_token_label(k.tok) };

		if ((err = signer_msg_send(SIGNER_FD, &ready)) == RB_OK)
			err = keyholder_serve(&k);
	}
	p11_token_free(k.tok);
	p11_module_free(k.mod);
	manifest_free(k.m);
	sign_config_free(k.cfg);
	free(k.origin);
	return err < 0 ? rb_exit_code(err) : 0;
}
