/* age_encrypt: a fresh file key, one stanza per recipient (or a lone
 * scrypt stanza), the header MAC, the STREAM payload, optional armor. */
#include "age/age-internal.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/secret.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct rb_secret *, rb_secret_free);

static int encrypt_check(const uint8_t *pt, size_t len, const struct age_encrypt_opts *o)
{
	if (!o || (!pt && len))
		return rb_err_set(RB_E_INVAL, "age_encrypt: NULL argument");
	if (len > AGE_MAX_PLAINTEXT)
		return rb_err_set(RB_E_TOOBIG, "age_encrypt: %zu bytes, over the %u-byte cap", len,
				  AGE_MAX_PLAINTEXT);
	if (!!o->passphrase == !!o->n_recipients)
		return rb_err_set(RB_E_INVAL,
				  "age_encrypt: give either recipients or a passphrase (scrypt must be the only recipient)");
	if (o->n_recipients > AGE_MAX_STANZAS || (o->n_recipients && !o->recipients))
		return rb_err_set(RB_E_INVAL, "age_encrypt: 1 to %d recipients", AGE_MAX_STANZAS);
	return RB_OK;
}

int age_encrypt(const uint8_t *plaintext, size_t len, const struct age_encrypt_opts *opts,
		uint8_t **ret, size_t *ret_len)
{
	_cleanup_(rb_secret_freep) struct rb_secret *fk = NULL;
	_cleanup_free_ struct age_recipient *rcpt = NULL;
	_cleanup_free_ char *mac_b64 = NULL;
	struct rb_buf out = RB_BUF_INIT, armored = RB_BUF_INIT;
	uint8_t mac[AGE_MAC_LEN];
	size_t i;
	int e;

	if (!ret || !ret_len)
		return rb_err_set(RB_E_INVAL, "age_encrypt: NULL argument");
	e = encrypt_check(plaintext, len, opts);
	if (e < 0)
		return e;
	/* every recipient is checked before anything is written */
	if (opts->n_recipients) {
		rcpt = calloc(opts->n_recipients, sizeof(*rcpt));
		if (!rcpt)
			return RB_E_NOMEM;
		for (i = 0; i < opts->n_recipients; i++) {
			e = age_recipient_parse(opts->recipients[i], &rcpt[i]);
			if (e < 0)
				return rb_err_set(e, "recipient %zu: %s", i + 1, rb_err_message(e));
		}
	}
	e = rb_secret_new(AGE_FILE_KEY_LEN, &fk);
	if (e == 0)
		e = rb_random_bytes(fk->data, AGE_FILE_KEY_LEN);
	out.cap = AGE_MAX_INPUT;
	if (e == 0)
		e = rb_buf_put_str(&out, "age-encryption.org/v1\n");
	for (i = 0; e == 0 && i < opts->n_recipients; i++)
		e = age_recipient_wrap(&rcpt[i], fk->data, &out);
	if (e == 0 && opts->passphrase)
		e = age_scrypt_wrap(opts->passphrase,
				    opts->scrypt_log_n ? opts->scrypt_log_n : AGE_SCRYPT_DEFAULT_LOG_N,
				    fk->data, &out);
	if (e == 0)
		e = rb_buf_put_str(&out, "---");
	if (e == 0)
		e = age_header_mac(fk->data, out.data, out.len, mac);
	if (e == 0)
		e = rb_base64_encode(mac, sizeof(mac), false, &mac_b64);
	if (e == 0)
		e = rb_buf_printf(&out, " %s\n", mac_b64);
	if (e == 0)
		e = age_stream_seal(fk->data, plaintext, len, &out);
	if (e == 0 && opts->armor) {
		armored.cap = AGE_MAX_INPUT;
		e = age_armor_encode(out.data, out.len, &armored);
		if (e == 0) {
			rb_buf_free(&out);
			out = armored;
			armored = (struct rb_buf)RB_BUF_INIT;
		}
	}
	if (e < 0) {
		rb_buf_free(&out);
		rb_buf_free(&armored);
		return e;
	}
	*ret = rb_buf_steal(&out, ret_len);
	return RB_OK;
}
