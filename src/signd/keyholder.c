/* Starting the key holder and talking to it (keyholder.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "signd/keyholder.h"
#include "util/cleanup.h"
#include "util/err.h"

struct keyholder {
	int fd;
	pid_t pid;
	char label[SIGNER_DETAIL_MAX + 1];
};

/* $ROMBSR_SIGNER; for a program run from its build tree, the key holder
 * built there; rombsr-signer beside the running program; or the
 * installed one. */
static void keyholder_program(char *out, size_t n)
{
	const char *env = getenv("ROMBSR_SIGNER");
	size_t root = strlen(ROMBSR_BUILD_ROOT);
	char self[PATH_MAX];
	ssize_t len;

	if (env && *env) {
		snprintf(out, n, "%s", env);
		return;
	}
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len > 0) {
		char *slash;

		self[len] = '\0';
		if ((size_t)len > root && memcmp(self, ROMBSR_BUILD_ROOT, root) == 0 && self[root] == '/') {
			snprintf(out, n, "%s/src/signer/rombsr-signer", ROMBSR_BUILD_ROOT);
			return;
		}
		if ((slash = strrchr(self, '/'))) {
			*slash = '\0';
			if ((size_t)snprintf(out, n, "%s/rombsr-signer", self) < n && access(out, X_OK) == 0)
				return;
		}
	}
	snprintf(out, n, "%s/rombsr-signer", ROMBSR_LIBEXECDIR);
}

/* The key holder's answer to the last message: one of want, or its
 * ERROR as an rb_err. A key holder that is gone (the socket closed or
 * broke) is RB_E_GONE: like a token that went away, it says nothing about
 * the request. */
static int keyholder_reply(struct keyholder *kh, enum signer_msg_type want, uint8_t **ret_body,
			   struct signer_msg *ret)
{
	uint8_t *body = NULL;
	size_t len;
	int err;

	if ((err = signer_frame_read(kh->fd, &body, &len)) < 0)
		return rb_err_set(RB_E_GONE, "the key holder (rombsr-signer, pid %d) stopped answering: %s",
				  (int)kh->pid, rb_err_message(err));
	if ((err = signer_msg_decode(body, len, ret)) < 0) {
		free(body);
		return rb_err_set(RB_E_GONE, "the key holder (rombsr-signer, pid %d) sent a message that "
				  "cannot be read: %s", (int)kh->pid, rb_err_message(err));
	}
	if (ret->type == SIGNER_MSG_ERROR) {
		err = rb_err_set(ret->err, "%s", ret->text);
		free(body);
		return err;
	}
	if (ret->type != want) {
		free(body);
		return rb_err_set(RB_E_GONE, "the key holder sent message type 0x%02x where 0x%02x was due",
				  ret->type, want);
	}
	*ret_body = body;
	return RB_OK;
}

static int keyholder_spawn(struct keyholder *kh, const char *config)
{
	char program[PATH_MAX];
	int sv[2];

	keyholder_program(program, sizeof(program));
	if (access(program, X_OK) != 0)
		return rb_err_set(RB_E_MODULE, "the key holder %s cannot be run (%s); install rombsr-signer "
				  "or set ROMBSR_SIGNER to its path", program, strerror(errno));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return rb_err_set(RB_E_AGAIN, "cannot start the key holder: socketpair: %s; nothing was done, try again",
				  strerror(errno));
	pid_t parent = getpid();

	kh->pid = fork();
	if (kh->pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return rb_err_set(RB_E_AGAIN, "cannot start the key holder: fork: %s; nothing was done, try again",
				  strerror(errno));
	}
	if (kh->pid == 0) {
		char *argv[] = { "rombsr-signer", "--config", (char *)config, NULL };

		/* The key holder dies with the orchestrator that started it:
		 * one that was killed leaves no process touching the token. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(127);
		/* Only the socket crosses: no queue, log or keyring fd. */
		if (dup2(sv[1], SIGNER_FD) < 0)
			_exit(127);
		(void)close_range(SIGNER_FD + 1, ~0U, 0);
		execv(program, argv);
		_exit(127);
	}
	close(sv[1]);
	kh->fd = sv[0];
	return RB_OK;
}

int keyholder_start(const char *config, struct keyholder **ret)
{
	_cleanup_free_ uint8_t *body = NULL;
	struct keyholder *kh = calloc(1, sizeof(*kh));
	struct signer_msg ready;
	int err;

	if (!kh)
		return RB_E_NOMEM;
	kh->fd = -1;
	if ((err = keyholder_spawn(kh, config)) < 0) {
		free(kh);
		return err;
	}
	if ((err = keyholder_reply(kh, SIGNER_MSG_READY, &body, &ready)) < 0) {
		char detail[RB_ERR_DETAIL_MAX];

		rb_err_save(err, detail);
		keyholder_stop(kh);
		/* A key holder that never started (exec failed) is a missing
		 * program, not a token that went away. */
		return rb_err_set(err == RB_E_GONE ? RB_E_MODULE : err, "%s", detail);
	}
	snprintf(kh->label, sizeof(kh->label), "%s", ready.text);
	*ret = kh;
	return RB_OK;
}

void keyholder_stop(struct keyholder *kh)
{
	if (!kh)
		return;
	if (kh->fd >= 0)
		close(kh->fd);
	if (kh->pid > 0) {
		int status;

		/* It exits when its socket closes; one in the middle of a
		 * token call finishes that first. */
		while (waitpid(kh->pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	free(kh);
}

const char *keyholder_token_label(const struct keyholder *kh)
{
	return kh->label;
}

pid_t keyholder_pid(const struct keyholder *kh)
{
	return kh->pid;
}

static int keyholder_send(struct keyholder *kh, const struct signer_msg *m)
{
	int err = signer_msg_send(kh->fd, m);

	if (err < 0)
		return rb_err_set(RB_E_GONE, "the key holder (rombsr-signer, pid %d) is gone: %s", (int)kh->pid,
				  rb_err_message(err));
	return RB_OK;
}

int keyholder_sign(struct keyholder *kh, enum signer_purpose purpose, const char *key, const char *node,
		   enum rb_sig_scheme scheme, const uint8_t *in, size_t inlen, uint32_t placeholder_len,
		   uint8_t **ret_sig, size_t *ret_len)
{
	struct signer_msg m = {
		.type = SIGNER_MSG_SIGN, .purpose = purpose, .scheme = (uint8_t)scheme, .key = key,
		.node = node ? node : "", .placeholder_len = placeholder_len, .input = in, .input_len = inlen,
	};
	_cleanup_free_ uint8_t *body = NULL;
	struct signer_msg r;
	uint8_t *sig;
	int err;

	if ((err = keyholder_send(kh, &m)) < 0 || (err = keyholder_reply(kh, SIGNER_MSG_SIG, &body, &r)) < 0)
		return err;
	if (!(sig = malloc(r.input_len ? r.input_len : 1)))
		return RB_E_NOMEM;
	memcpy(sig, r.input, r.input_len);
	*ret_sig = sig;
	*ret_len = r.input_len;
	return RB_OK;
}

int keyholder_probe(struct keyholder *kh, const char *key)
{
	struct signer_msg m = { .type = SIGNER_MSG_PROBE, .key = key }, r;
	_cleanup_free_ uint8_t *body = NULL;
	int err;

	if ((err = keyholder_send(kh, &m)) < 0)
		return err;
	return keyholder_reply(kh, SIGNER_MSG_OK, &body, &r);
}

unsigned keyholder_open_sessions(struct keyholder *kh)
{
	struct signer_msg m = { .type = SIGNER_MSG_STATUS }, r;
	_cleanup_free_ uint8_t *body = NULL;

	if (keyholder_send(kh, &m) < 0 || keyholder_reply(kh, SIGNER_MSG_STATUS_REPLY, &body, &r) < 0)
		return 0;
	return r.sessions;
}

static int keyholder_key_sign(void *ctx, enum rb_sig_scheme scheme, const uint8_t *in, size_t inlen,
			      uint8_t **ret_sig, size_t *ret_len)
{
	const struct keyholder_key *ref = ctx;
	uint8_t *sig = NULL;
	size_t len = 0;
	int err;

	if ((err = keyholder_sign(ref->kh, ref->purpose, ref->key, ref->node, scheme, in, inlen, 0, &sig,
				  &len)) < 0)
		return err;
	/* The rb_signer contract: verified before it is returned. The key
	 * holder verified it too; this side trusts no other process. */
	if ((err = rb_sig_verify(ref->pub, scheme, in, inlen, sig, len)) < 0) {
		free(sig);
		return rb_err_set(RB_E_VERIFY, "the key holder's signature with key '%s' does not verify; "
				  "not used", ref->key);
	}
	*ret_sig = sig;
	*ret_len = len;
	return RB_OK;
}

void keyholder_key_signer(struct keyholder_key *ref, const struct manifest_key *mk, struct rb_signer *ret)
{
	ref->pub = mk->pub;
	ret->name = mk->name;
	ret->alg = mk->alg;
	ret->pub = mk->pub;
	ret->sign = keyholder_key_sign;
	ret->ctx = ref;
}
