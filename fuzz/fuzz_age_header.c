/* libFuzzer target for src/lib/age decryption: armor, header and stanza
 * parsing, unwrapping with a fixed X25519 identity and passphrase, the MAC
 * and the STREAM payload - everything an untrusted age file reaches.
 * Checks beyond memory safety: a failure always has a CCTV class and
 * never returns output; a header that parses re-parses to the same length.
 * The scrypt cap is set low so a fuzzed work factor cannot stall a run. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "age/age-internal.h"
#include "age/age.h"
#include "util/err.h"
#include "util/secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* the identity of the CCTV vectors (fuzz/corpus/age_header is from them) */
static const char identity[] = "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0\n";

static struct rb_secret *secret_of(const char *s)
{
	struct rb_secret *x = NULL;

	if (rb_secret_new(strlen(s), &x) < 0)
		abort();
	memcpy(x->data, s, strlen(s));
	x->len = strlen(s);
	return x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rb_secret *id, *pass;
	struct age_header *h = NULL;
	const struct rb_secret *ids[1];
	struct age_decrypt_opts o = { 0 };
	uint8_t *out = NULL;
	size_t olen = 0;
	int r;

	if (!id) {
		id = secret_of(identity);
		pass = secret_of("password");
	}
	if (age_header_parse(data, size, &h) == 0) {
		struct age_header *again = NULL;
		size_t len = h->len;

		if (len > size || age_header_parse(data, len, &again) < 0 || again->len != len)
			abort();
		age_header_free(again);
		age_header_free(h);
	}
	ids[0] = id;
	o.identities = ids;
	o.n_identities = 1;
	o.passphrase = pass;
	o.scrypt_max_log_n = 4;
	rb_err_clear();
	r = age_decrypt(data, size, &o, &out, &olen);
	if (r < 0 && (out || age_last_failure() == AGE_FAIL_NONE))
		abort();
	if (r == 0 && age_last_failure() != AGE_FAIL_NONE)
		abort();
	free(out);
	return 0;
}
