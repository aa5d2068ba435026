/* bench/sign-throughput: rombsr's signing path against a raw C_Sign loop
 * on the same SoftHSM2 key, measured in the same run.
 *
 * For RSA-4096 and P-256 it prints signatures per second for
 *   raw       C_SignInit + C_Sign on one session, nothing else
 *   rombsr    p11_key_sign(): session lookup, DigestInfo, C_Sign, and the
 *             OpenSSL self-check of every signature
 *   rombsr x2 the same from two threads (one session each)
 * and the ratios rombsr/raw (budget >= 0.95) and rombsr x2 / rombsr
 * (budget >= 1.7). It also prints the cost of the self-check alone, since
 * that is work raw C_Sign does not do.
 *
 * usage: sign-throughput [SECONDS per measurement, default 3]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "p11/p11.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/secret.h"

static double seconds = 3.0;
static struct p11_token *tok;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "sign-throughput: %s: %s (%s)\n", what, rb_strerror(err), rb_err_detail());
	exit(1);
}

struct raw_job {
	struct p11_module *m;
	struct p11_key *k;
	double rate;
};

static double raw_rate(struct p11_module *m, struct p11_key *k)
{
	CK_FUNCTION_LIST *f = p11_module_functions(m);
	CK_SESSION_HANDLE s;
	uint8_t in[64] = { 0 }, sig[1024];
	const uint8_t *prefix;
	size_t plen;
	CK_ULONG inlen, siglen;
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	long n = 0;
	double t0, t;
	int err;

	if ((err = p11_token_session(tok, &s)) < 0)
		die("session", err);
	if (p11_key_alg(k) == RB_KEY_RSA) {
		rb_digestinfo_prefix(RB_SIG_RSA_PKCS1_SHA256, &prefix, &plen);
		memcpy(in, prefix, plen);
		inlen = plen + 32;
		mech.mechanism = CKM_RSA_PKCS;
	} else {
		inlen = 32;
	}
	t0 = now();
	do {
		for (int i = 0; i < 8; i++) {
			in[inlen - 1] = (uint8_t)n;
			siglen = sizeof(sig);
			if (f->C_SignInit(s, &mech, p11_key_handle(k)) != CKR_OK ||
			    f->C_Sign(s, in, inlen, sig, &siglen) != CKR_OK)
				die("raw C_Sign", RB_E_P11);
			n++;
		}
		t = now() - t0;
	} while (t < seconds);
	p11_token_session_release(tok);
	return (double)n / t;
}

static void *raw_thread(void *arg)
{
	struct raw_job *j = arg;

	j->rate = raw_rate(j->m, j->k);
	return NULL;
}

/* Two threads, one session each, raw C_Sign: what the module itself
 * allows in parallel. */
static double raw_rate2(struct p11_module *m, struct p11_key *k)
{
	struct raw_job jobs[2] = { { m, k, 0 }, { m, k, 0 } };
	pthread_t th[2];

	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, raw_thread, &jobs[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	return jobs[0].rate + jobs[1].rate;
}

struct job {
	struct p11_key *key;
	enum rb_sig_scheme scheme;
	long n;
	double elapsed;
};

static void *rombsr_loop(void *arg)
{
	struct job *j = arg;
	uint8_t digest[32] = { 0 }, *sig;
	size_t siglen;
	double t0 = now();
	int err;

	do {
		for (int i = 0; i < 8; i++) {
			digest[0] = (uint8_t)j->n;
			if ((err = p11_key_sign(j->key, j->scheme, digest, 32, &sig, &siglen)) < 0)
				die("p11_key_sign", err);
			free(sig);
			j->n++;
		}
		j->elapsed = now() - t0;
	} while (j->elapsed < seconds);
	p11_token_session_release(tok);
	return NULL;
}

static double rombsr_rate(struct p11_key *k, enum rb_sig_scheme scheme, int threads)
{
	pthread_t th[2];
	struct job jobs[2];
	double rate = 0;

	for (int i = 0; i < threads; i++) {
		jobs[i] = (struct job){ k, scheme, 0, 0 };
		pthread_create(&th[i], NULL, rombsr_loop, &jobs[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		rate += (double)jobs[i].n / jobs[i].elapsed;
	}
	return rate;
}

static double verify_rate(struct p11_key *k, enum rb_sig_scheme scheme)
{
	uint8_t digest[32] = { 0 }, *sig;
	size_t siglen;
	long n = 0;
	double t0, t;
	int err;

	if ((err = p11_key_sign(k, scheme, digest, 32, &sig, &siglen)) < 0)
		die("p11_key_sign", err);
	t0 = now();
	do {
		if (rb_sig_verify(p11_key_public(k), scheme, digest, 32, sig, siglen) < 0)
			die("verify", RB_E_VERIFY);
		n++;
		t = now() - t0;
	} while (t < seconds / 2);
	free(sig);
	return (double)n / t;
}

static void run(struct p11_module *m, const char *label, struct p11_key *k, enum rb_sig_scheme scheme)
{
	double raw = raw_rate(m, k);
	double raw2 = raw_rate2(m, k);
	double one = rombsr_rate(k, scheme, 1);
	double two = rombsr_rate(k, scheme, 2);
	double ver = verify_rate(k, scheme);
	/* Time per signature minus the self-check's share: what the rest of
	 * the path costs relative to raw C_Sign. */
	double no_check = 1.0 / (1.0 / one - 1.0 / ver);

	printf("%-9s raw %8.1f/s  raw-x2 %8.1f/s  rombsr %8.1f/s  rombsr-x2 %8.1f/s  self-check alone %8.1f/s\n",
	       label, raw, raw2, one, two, ver);
	printf("%-9s rombsr/raw = %.3f (budget >= 0.95)   rombsr x2/x1 = %.3f (budget >= 1.70)   "
	       "raw x2/x1 = %.3f   rombsr-without-self-check/raw = %.3f\n",
	       label, one / raw, two / one, raw2 / raw, ver > one ? no_check / raw : 0.0);
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/rombsr-bench-XXXXXX", path[512], conf[1024];
	struct p11_module *m = NULL;
	struct rb_secret *so = NULL, *user = NULL;
	struct p11_key *rsa = NULL, *ec = NULL;
	uint8_t id1 = 1, id2 = 2;
	struct p11_keygen g1 = { "bench-rsa", &id1, 1, RB_KEY_RSA, 4096 };
	struct p11_keygen g2 = { "bench-ec", &id2, 1, RB_KEY_EC_P256, 256 };
	int err;

	if (argc > 1)
		seconds = atof(argv[1]);
	if (seconds <= 0)
		seconds = 3.0;
	if (!mkdtemp(dir))
		die("mkdtemp", RB_E_IO);
	snprintf(path, sizeof(path), "%s/tokens", dir);
	mkdir(path, 0700);
	snprintf(conf, sizeof(conf), "directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n", dir);
	snprintf(path, sizeof(path), "%s/softhsm2.conf", dir);
	rb_file_write_atomic(path, conf, strlen(conf), 0600);
	setenv("SOFTHSM2_CONF", path, 1);

	rb_secret_new(16, &so);
	rb_secret_new(16, &user);
	memcpy(so->data, "bench-so-pin", so->len = 12);
	memcpy(user->data, "bench-user-pin", user->len = 14);
	if ((err = p11_module_load(ROMBSR_DEFAULT_SOFTHSM_MODULE, &m)) < 0 ||
	    (err = p11_module_init_token(m, "bench", so, user)) < 0 ||
	    (err = p11_token_open(m, "bench", 4, &tok)) < 0 || (err = p11_token_login(tok, CKU_USER, user)) < 0 ||
	    (err = p11_token_generate_key(tok, &g1, &rsa)) < 0 || (err = p11_token_generate_key(tok, &g2, &ec)) < 0)
		die("setup", err);
	printf("sign-throughput: SoftHSM2, %.1f s per measurement, %ld CPUs\n", seconds, sysconf(_SC_NPROCESSORS_ONLN));
	run(m, "RSA-4096", rsa, RB_SIG_RSA_PKCS1_SHA256);
	run(m, "P-256", ec, RB_SIG_ECDSA_SHA256);
	p11_module_free(m);
	rb_secret_free(so);
	rb_secret_free(user);
	snprintf(conf, sizeof(conf), "rm -rf '%s'", dir);
	if (system(conf) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return 0;
}
