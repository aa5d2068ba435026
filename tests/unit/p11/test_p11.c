/* The PKCS#11 core against a real SoftHSM2 token in a temporary directory. */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "harness.h"
#include "p11/p11.h"
#include "util/err.h"
#include "util/fileio.h"

HARNESS_GLOBALS;

static char dir[] = "/tmp/rombsr-p11-XXXXXX";
static struct p11_module *mod;
static struct p11_token *tok;
static struct rb_secret *so_pin, *user_pin;

static struct rb_secret *secret_of(const char *s)
{
	struct rb_secret *r = NULL;

	rb_secret_new(strlen(s), &r);
	memcpy(r->data, s, strlen(s));
	r->len = strlen(s);
	return r;
}

static void setup(void)
{
	char path[512], conf[1024];

	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/tokens", dir);
	mkdir(path, 0700);
	snprintf(conf, sizeof(conf),
		 "directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n", dir);
	snprintf(path, sizeof(path), "%s/softhsm2.conf", dir);
	rb_file_write_atomic(path, conf, strlen(conf), 0600);
	setenv("SOFTHSM2_CONF", path, 1);
	so_pin = secret_of("so-secret-1234");
	user_pin = secret_of("user-secret-5678");
}

static void test_module_errors(void)
{
	struct p11_module *m = NULL;

	CHECK_ERR(p11_module_load("/nonexistent/libnothing.so", &m), RB_E_MODULE);
	CHECK(strstr(rb_err_detail(), "/nonexistent/libnothing.so") != NULL);
	/* a file that is not a shared object */
	CHECK_ERR(p11_module_load("/etc/hostname", &m), RB_E_MODULE);
	/* a shared object that is not a PKCS#11 module */
	CHECK_ERR(p11_module_load("libz.so.1", &m), RB_E_MODULE);
}

static void test_init_and_open(void)
{
	CHECK_OK(p11_module_load(ROMBSR_DEFAULT_SOFTHSM_MODULE, &mod));
	if (!mod)
		exit(1);
	CHECK_OK(p11_module_init_token(mod, "rombsr-test", so_pin, user_pin));
	CHECK_ERR(p11_module_init_token(mod, "rombsr-test", so_pin, user_pin), RB_E_EXISTS);
	CHECK_ERR(p11_token_open(mod, "no-such-token", 0, &tok), RB_E_TOKEN);
	CHECK(strstr(rb_err_detail(), "no-such-token") != NULL);
	CHECK_ERR(p11_token_open(mod, "pkcs11:token=rombsr-test;bogus%zz", 0, &tok), RB_E_PARSE);
	CHECK_OK(p11_token_open(mod, "pkcs11:token=rombsr-test", 4, &tok));
	if (!tok)
		exit(1);
	CHECK(strcmp(p11_token_label(tok), "rombsr-test") == 0);
	CHECK(!p11_token_has_hardware_roles(tok));
}

static void test_login(void)
{
	struct rb_secret *wrong = secret_of("wrong-pin");
	struct p11_key *k = NULL;

	CHECK_ERR(p11_token_login(tok, CKU_USER, wrong), RB_E_PIN);
	CHECK(strstr(rb_err_detail(), "CKR_PIN_INCORRECT") != NULL);
	rb_secret_free(wrong);
	/* Not logged in: private keys are invisible. */
	CHECK_ERR(p11_token_find_key(tok, "nothing", &k), RB_E_KEY);
	CHECK_OK(p11_token_login(tok, CKU_USER, user_pin));
	CHECK_OK(p11_token_login(tok, CKU_USER, user_pin)); /* idempotent */
}

static struct p11_key *gen(const char *label, enum rb_key_alg alg, unsigned bits, uint8_t id)
{
	struct p11_keygen spec = { label, &id, 1, alg, bits };
	struct p11_key *k = NULL;

	CHECK_OK(p11_token_generate_key(tok, &spec, &k));
	return k;
}

static void sign_and_check(struct p11_key *k, enum rb_sig_scheme scheme, size_t want_len)
{
	uint8_t digest[64], *sig = NULL;
	size_t dlen, siglen = 0;
	const char msg[] = "rombsr test message";

	if (scheme == RB_SIG_ED25519) {
		CHECK_OK(p11_key_sign(k, scheme, (const uint8_t *)msg, sizeof(msg), &sig, &siglen));
		CHECK(siglen == want_len);
		CHECK_OK(rb_sig_verify(p11_key_public(k), scheme, (const uint8_t *)msg, sizeof(msg), sig, siglen));
		/* flipping a bit must break it */
		sig[0] ^= 1;
		CHECK_ERR(rb_sig_verify(p11_key_public(k), scheme, (const uint8_t *)msg, sizeof(msg), sig, siglen),
			  RB_E_VERIFY);
		free(sig);
		return;
	}
	CHECK_OK(rb_digest(rb_sig_scheme_md(scheme), msg, sizeof(msg), digest, &dlen));
	CHECK_OK(p11_key_sign(k, scheme, digest, dlen, &sig, &siglen));
	CHECK(siglen == want_len);
	CHECK_OK(rb_sig_verify(p11_key_public(k), scheme, digest, dlen, sig, siglen));
	digest[0] ^= 1;
	CHECK_ERR(rb_sig_verify(p11_key_public(k), scheme, digest, dlen, sig, siglen), RB_E_VERIFY);
	free(sig);
}

static struct p11_key *rsa, *ec, *ed;

static void test_generate_and_sign(void)
{
	uint8_t *der = NULL, *sig = NULL, digest[32] = { 0 };
	size_t derlen, siglen;
	const uint8_t *id;
	size_t idlen;

	rsa = gen("rsa-key", RB_KEY_RSA, 2048, 1);
	ec = gen("ec-key", RB_KEY_EC_P256, 256, 2);
	ed = gen("ed-key", RB_KEY_ED25519, 255, 3);
	if (!rsa || !ec || !ed)
		exit(1);
	CHECK(p11_key_bits(rsa) == 2048);
	id = p11_key_id(ec, &idlen);
	CHECK(idlen == 1 && id[0] == 2);
	sign_and_check(rsa, RB_SIG_RSA_PKCS1_SHA256, 256);
	sign_and_check(rsa, RB_SIG_RSA_PKCS1_SHA512, 256);
	sign_and_check(rsa, RB_SIG_RSA_PSS_SHA256, 256);
	sign_and_check(rsa, RB_SIG_RSA_PSS_SHA512, 256);
	sign_and_check(ec, RB_SIG_ECDSA_SHA256, 64);
	sign_and_check(ed, RB_SIG_ED25519, 64);

	/* ECDSA raw r||s converts to DER that OpenSSL accepts and back. */
	CHECK_OK(p11_key_sign(ec, RB_SIG_ECDSA_SHA256, digest, 32, &sig, &siglen));
	CHECK_OK(rb_ecdsa_raw_to_der(sig, siglen, &der, &derlen));
	{
		uint8_t raw[64];

		CHECK_OK(rb_ecdsa_der_to_raw(der, derlen, raw));
		CHECK(memcmp(raw, sig, 64) == 0);
	}
	free(der);
	free(sig);

	/* A scheme that does not fit the key is refused, naming the key. */
	CHECK_ERR(p11_key_sign(ed, RB_SIG_RSA_PKCS1_SHA256, digest, 32, &sig, &siglen), RB_E_UNSUPPORTED);
	CHECK(strstr(rb_err_detail(), "ed-key") != NULL);
	CHECK_ERR(p11_key_sign(rsa, RB_SIG_RSA_PKCS1_SHA256, digest, 31, &sig, &siglen), RB_E_INVAL);
	/* Duplicate labels are refused. */
	{
		uint8_t x = 9;
		struct p11_keygen spec = { "rsa-key", &x, 1, RB_KEY_RSA, 2048 };
		struct p11_key *k;

		CHECK_ERR(p11_token_generate_key(tok, &spec, &k), RB_E_EXISTS);
		spec.label = "rsa-1024";
		spec.bits = 1024;
		CHECK_ERR(p11_token_generate_key(tok, &spec, &k), RB_E_UNSUPPORTED);
	}
}

static void test_key_lookup(void)
{
	struct p11_key *k = NULL, *k2 = NULL;
	char *uri = NULL;

	CHECK_OK(p11_token_find_key(tok, "rsa-key", &k));
	CHECK(k == rsa); /* cached: same object, no second C_FindObjects */
	CHECK_OK(p11_key_uri(ec, &uri));
	CHECK(uri && strncmp(uri, "pkcs11:", 7) == 0 && strstr(uri, "object=ec-key"));
	CHECK_OK(p11_token_find_key(tok, uri, &k2));
	CHECK(k2 && p11_key_alg(k2) == RB_KEY_EC_P256);
	CHECK_OK(p11_token_find_key(tok, uri, &k));
	CHECK(k == k2);
	free(uri);
	CHECK_ERR(p11_token_find_key(tok, "pkcs11:object=missing;type=private", &k), RB_E_KEY);
	CHECK_ERR(p11_token_find_key(tok, "no-such-key", &k), RB_E_KEY);
	CHECK(strstr(rb_err_detail(), "no-such-key") != NULL);
	CHECK_ERR(p11_token_find_key(tok, "pkcs11:object=%zz", &k), RB_E_PARSE);
}

struct worker {
	struct p11_key *key;
	CK_SESSION_HANDLE first, second;
	int failures;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint8_t digest[32] = { 1 }, *sig;
	size_t siglen;

	p11_token_session(tok, &w->first);
	for (int i = 0; i < 20; i++) {
		if (p11_key_sign(w->key, RB_SIG_ECDSA_SHA256, digest, 32, &sig, &siglen) < 0)
			w->failures++;
		else
			free(sig);
	}
	p11_token_session(tok, &w->second);
	return NULL;
}

static void test_sessions_bounded(void)
{
	pthread_t th[8];
	struct worker w[8];

	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker){ ec, 0, 0, 0 };
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		CHECK(w[i].failures == 0);
		CHECK(w[i].first == w[i].second); /* one session per thread, reused */
	}
	/* max_sessions = 4 worker sessions + the anchor session */
	CHECK(p11_token_open_sessions(tok) <= 5);
}

static void test_pin_sources(void)
{
	struct p11_pin_source src;
	struct rb_secret *s = NULL;
	char path[512];
	int fds[2];

	snprintf(path, sizeof(path), "%s/pin", dir);
	CHECK_OK(rb_file_create_secret(path, "1234\n", 5));
	src = (struct p11_pin_source){ P11_PIN_FILE, path };
	CHECK_OK(p11_pin_read(&src, &s));
	CHECK(s && s->len == 4 && memcmp(s->data, "1234", 4) == 0);
	rb_secret_free(s);
	chmod(path, 0644);
	CHECK_ERR(p11_pin_read(&src, &s), RB_E_PERM);
	CHECK(strstr(rb_err_detail(), "chmod 600") != NULL);
	src.value = "/nonexistent/pin";
	CHECK_ERR(p11_pin_read(&src, &s), RB_E_NOTFOUND);

	setenv("ROMBSR_TEST_PIN", "env-pin", 1);
	src = (struct p11_pin_source){ P11_PIN_ENV, "ROMBSR_TEST_PIN" };
	CHECK_OK(p11_pin_read(&src, &s));
	CHECK(s && s->len == 7);
	rb_secret_free(s);
	CHECK(getenv("ROMBSR_TEST_PIN") == NULL); /* consumed */
	CHECK_ERR(p11_pin_read(&src, &s), RB_E_PIN);

	CHECK(pipe(fds) == 0);
	CHECK(write(fds[1], "fd-pin\n", 7) == 7);
	close(fds[1]);
	snprintf(path, sizeof(path), "%d", fds[0]);
	src = (struct p11_pin_source){ P11_PIN_FD, path };
	CHECK_OK(p11_pin_read(&src, &s));
	CHECK(s && s->len == 6 && memcmp(s->data, "fd-pin", 6) == 0);
	rb_secret_free(s);
	src.value = "12x";
	CHECK_ERR(p11_pin_read(&src, &s), RB_E_INVAL);

	/* an oversized PIN is refused, not truncated */
	{
		char big[P11_PIN_MAX + 10];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		setenv("ROMBSR_TEST_PIN", big, 1);
		src = (struct p11_pin_source){ P11_PIN_ENV, "ROMBSR_TEST_PIN" };
		CHECK_ERR(p11_pin_read(&src, &s), RB_E_TOOBIG);
	}
	src = (struct p11_pin_source){ P11_PIN_NONE, NULL };
	CHECK_ERR(p11_pin_read(&src, &s), RB_E_PIN);
}

static void teardown(void)
{
	char cmd[600];

	p11_module_free(mod);
	rb_secret_free(so_pin);
	rb_secret_free(user_pin);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

int main(void)
{
	setup();
	RUN(test_module_errors);
	RUN(test_init_and_open);
	RUN(test_login);
	RUN(test_generate_and_sign);
	RUN(test_key_lookup);
	RUN(test_sessions_bounded);
	RUN(test_pin_sources);
	teardown();
	TEST_MAIN_END();
}
