/* bench/raw-sign-count: the baseline of bench/queue-throughput. Makes
 * COUNT signatures with one key on one session of a token by nothing but
 * C_SignInit + C_Sign, and prints how long that took.
 *
 *   raw-sign-count --token LABEL --key NAME --pin-file FILE --count N
 *                  [--module PATH]
 *
 * RSA keys sign a SHA-256 DigestInfo with CKM_RSA_PKCS (what rombsr's
 * PKCS#1 v1.5 path sends the token), EC keys a 32-byte digest with
 * CKM_ECDSA. Every input differs in its last bytes, so a token cannot
 * answer from a cache. The operator PIN is read from a 0600 file, never
 * from argv. SOFTHSM2_CONF comes from the environment.
 *
 * Output, one line:
 *   "raw-sign-count: key=NAME signatures=N seconds=S cpu_seconds=C". */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "crypto/signer.h"
#include "p11/p11.h"
#include "util/err.h"
#include "util/secret.h"

static double clock_seconds(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int die(const char *what, int err)
{
	fprintf(stderr, "raw-sign-count: %s: %s (%s)\n", what, rb_strerror(err), rb_err_detail());
	return 1;
}

/* COUNT raw signatures on one session; the elapsed time in *ret_seconds
 * and the CPU time of this process (SoftHSM2 signs in-process) in
 * *ret_cpu, which other load on the machine does not inflate. */
static int raw_sign_count(struct p11_module *m, struct p11_token *tok, struct p11_key *k, long count,
			  double *ret_seconds, double *ret_cpu)
{
	CK_FUNCTION_LIST *f = p11_module_functions(m);
	CK_SESSION_HANDLE s;
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	uint8_t in[64] = { 0 }, sig[1024];
	const uint8_t *prefix;
	size_t plen;
	CK_ULONG inlen = 32, siglen;
	CK_RV rv;
	double t0, c0;
	int err;

	if ((err = p11_token_session(tok, &s)) < 0)
		return err;
	if (p11_key_alg(k) == RB_KEY_RSA) {
		rb_digestinfo_prefix(RB_SIG_RSA_PKCS1_SHA256, &prefix, &plen);
		memcpy(in, prefix, plen);
		inlen = plen + 32;
		mech.mechanism = CKM_RSA_PKCS;
	} else if (p11_key_alg(k) != RB_KEY_EC_P256) {
		p11_token_session_release(tok);
		return rb_err_set(RB_E_UNSUPPORTED, "key %s: only RSA and P-256 keys are benchmarked", p11_key_name(k));
	}
	t0 = clock_seconds(CLOCK_MONOTONIC);
	c0 = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
	for (long n = 0; n < count; n++) {
		in[inlen - 1] = (uint8_t)n;
		in[inlen - 2] = (uint8_t)(n >> 8);
		in[inlen - 3] = (uint8_t)(n >> 16);
		siglen = sizeof(sig);
		if ((rv = f->C_SignInit(s, &mech, p11_key_handle(k))) != CKR_OK ||
		    (rv = f->C_Sign(s, in, inlen, sig, &siglen)) != CKR_OK) {
			p11_token_session_release(tok);
			return rb_err_set(RB_E_P11, "C_Sign with key %s, signature %ld: %s", p11_key_name(k), n,
					  p11_ckr_name(rv));
		}
	}
	*ret_seconds = clock_seconds(CLOCK_MONOTONIC) - t0;
	*ret_cpu = clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
	p11_token_session_release(tok);
	return RB_OK;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "module", required_argument, NULL, 'm' },
		{ "token", required_argument, NULL, 't' },
		{ "key", required_argument, NULL, 'k' },
		{ "pin-file", required_argument, NULL, 'p' },
		{ "count", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const char *module = ROMBSR_DEFAULT_SOFTHSM_MODULE, *token = NULL, *key = NULL, *pin_file = NULL;
	struct p11_module *m = NULL;
	struct p11_token *tok = NULL;
	struct p11_key *k = NULL;
	struct rb_secret *pin = NULL;
	struct p11_pin_source src = { P11_PIN_FILE, NULL };
	long count = 0;
	char *end;
	double seconds = 0, cpu = 0;
	int opt, err, rc = 1;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'm': module = optarg; break;
		case 't': token = optarg; break;
		case 'k': key = optarg; break;
		case 'p': pin_file = optarg; break;
		case 'n':
			count = strtol(optarg, &end, 10);
			if (*end || count <= 0 || count > 100000000) {
				fprintf(stderr, "raw-sign-count: --count '%s': expected 1..100000000\n", optarg);
				return 2;
			}
			break;
		default:
			fprintf(stderr, "usage: raw-sign-count --token LABEL --key NAME --pin-file FILE --count N [--module PATH]\n");
			return 2;
		}
	}
	if (!token || !key || !pin_file || !count || optind != argc) {
		fprintf(stderr, "usage: raw-sign-count --token LABEL --key NAME --pin-file FILE --count N [--module PATH]\n");
		return 2;
	}
	src.value = pin_file;
	if ((err = p11_module_load(module, &m)) < 0)
		return die("loading the module", err);
	if ((err = p11_token_open(m, token, 1, &tok)) < 0) {
		rc = die("opening the token", err);
		goto out;
	}
	if ((err = p11_pin_read(&src, &pin)) < 0 || (err = p11_token_login(tok, CKU_USER, pin)) < 0) {
		rc = die("logging in", err);
		goto out;
	}
	if ((err = p11_token_find_key(tok, key, &k)) < 0) {
		rc = die("finding the key", err);
		goto out;
	}
	if ((err = raw_sign_count(m, tok, k, count, &seconds, &cpu)) < 0) {
		rc = die("signing", err);
		goto out;
	}
	printf("raw-sign-count: key=%s signatures=%ld seconds=%.3f cpu_seconds=%.3f\n", key, count, seconds, cpu);
	rc = 0;
out:
	rb_secret_free(pin);
	p11_token_free(tok);
	p11_module_free(m);
	return rc;
}
