/* Signing through the key holder (rombsr-signer). Every signature
 * released is verified against the public key first: the key holder and
 * this side verify what the token made, the OpenPGP writer re-parses its
 * packet, signd_cache_take verifies a cached one, and hsm_verify_release
 * one recovered from the audit log.
 * Identical (key, scheme, input) requests in a batch are signed once. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "signd/signd-internal.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"

/* A signature that did not come from the token just now - one recovered
 * from the audit log after a crash - is verified against the manifest key
 * over this request, as the token's and the OpenPGP writer's signatures
 * are, before it is released. */
static int hsm_verify_release(const struct request_entry *e, const struct manifest_key *mk,
			      const uint8_t *sig, size_t len)
{
	if (e->kind == REQUEST_KIND_OPENPGP) {
		_cleanup_(pgp_key_freep) struct pgp_key *pk = NULL;
		struct rb_signer signer = { .name = mk->name, .alg = mk->alg, .pub = mk->pub };
		EVP_MD_CTX *state = NULL;
		int err;

		if ((err = pgp_key_new(&signer, mk->created, &pk)) < 0 ||
		    (err = hash_state_md_ctx(e->state, &state)) < 0)
			return err;
		err = pgp_sig_verify_state(pk, sig, len, state, PGP_SIG_BINARY);
		EVP_MD_CTX_free(state);
		return err;
	}
	return rb_sig_verify(mk->pub, e->scheme, e->input, e->input_len, sig, len);
}

/* The OpenPGP view of mk for this batch, signing for node's request. */
static int hsm_pgp_key(struct signd *s, const struct manifest_key *mk, const char *node, struct pgp_key **ret)
{
	struct signd_cache *c = s->hsm.cache;
	int err;

	for (size_t i = 0; i < c->n_pgp; i++)
		if (c->pgp[i].mk == mk) {
			c->pgp[i].ref.node = node;
			*ret = c->pgp[i].pgp;
			return RB_OK;
		}
	if (c->n_pgp == ELEMENTSOF(c->pgp))
		return rb_err_set(RB_E_LIMIT, "more than %zu OpenPGP keys in one batch", ELEMENTSOF(c->pgp));
	/* pgp_key borrows its signer, the signer its ref: keep them beside
	 * the key, in the cache. */
	c->pgp[c->n_pgp].ref = (struct keyholder_key){ .kh = s->hsm.kh, .purpose = SIGNER_FOR_OPENPGP,
						       .key = mk->name, .node = node };
	keyholder_key_signer(&c->pgp[c->n_pgp].ref, mk, &c->pgp[c->n_pgp].signer);
	c->pgp[c->n_pgp].mk = mk;
	if ((err = pgp_key_new(&c->pgp[c->n_pgp].signer, mk->created, &c->pgp[c->n_pgp].pgp)) < 0)
		return err;
	*ret = c->pgp[c->n_pgp++].pgp;
	return RB_OK;
}

int signd_recover_entry(struct signd *s, struct signd_item *it, size_t i, struct signd_stats *st)
{
	const struct request_entry *e = &it->doc->entries[i];
	const struct manifest_key *mk = manifest_find(s->m, e->key_name);
	_cleanup_json_ struct json_value *logged = NULL;
	uint64_t leaf;
	int err;

	/* What the HSM computes: the request's scheme, or for OpenPGP the
	 * key's PKCS#1/Ed25519 scheme over the OpenPGP hash. */
	if (e->kind == REQUEST_KIND_OPENPGP)
		it->scheme[i] = mk->alg == RB_KEY_RSA ? (e->hash == HASH_STATE_SHA256 ? RB_SIG_RSA_PKCS1_SHA256
									      : RB_SIG_RSA_PKCS1_SHA512)
						      : RB_SIG_ED25519;
	else
		it->scheme[i] = e->scheme;

	/* Crash recovery: a signature the audit log already holds was made
	 * by an earlier run that stopped before publishing it. Publish that
	 * one; signing again would put two signatures in the world. */
	err = audit_log_find(s->aw.audit, e->id_hex, &leaf, &logged);
	if (err == RB_OK) {
		const char *b64;
		_cleanup_free_ uint8_t *sig = NULL;
		size_t sl;

		if ((err = json_get_string(logged, "signature", &b64)) < 0 ||
		    (err = rb_base64_decode(b64, strlen(b64), true, &sig, &sl)) < 0)
			return rb_err_set(err, "audit log entry %llu for request %.16s has no readable signature",
					  (unsigned long long)leaf, e->id_hex);
		if (hsm_verify_release(e, mk, sig, sl) != RB_OK)
			return rb_err_set(RB_E_VERIFY, "the signature recovered from audit log entry %llu "
					  "does not verify with key '%s' over request %.16s; it is not "
					  "released (check the log with 'rombsr audit verify')",
					  (unsigned long long)leaf, mk->name, e->id_hex);
		it->sig[i] = TAKE_PTR(sig);
		it->sig_len[i] = sl;
		it->leaf[i] = leaf;
		it->have_leaf[i] = true;
		st->recovered++;
		return 1;
	}
	if (err != RB_E_NOTFOUND)
		return err;
	rb_err_clear();
	return 0;
}

int signd_sign_entry(struct signd *s, struct signd_item *it, size_t i, struct signd_stats *st)
{
	const struct request_entry *e = &it->doc->entries[i];
	const struct manifest_key *mk = manifest_find(s->m, e->key_name);
	uint8_t ck[32];
	int err;

	/* decide.c refused this already; checked again here, and by the key
	 * holder on its side of the socket, so no path reaches the HSM with
	 * a key outside its purposes, or with what an APK key must not sign. */
	if ((err = request_key_purpose_check(e->kind, mk)) < 0 ||
	    (e->kind == REQUEST_KIND_CAPTURE && (err = request_capture_structure_check(e->capture, mk)) < 0))
		return err;
	if (e->kind == REQUEST_KIND_CAPTURE && memcmp(e->capture->key_spki_sha256, mk->spki_sha256, 32) != 0)
		return rb_err_set(RB_E_KEY, "request %.16s is for key \"%s\" with another fingerprint than the "
				  "manifest's; rebuild against the current manifest", e->id_hex, mk->name);

	if (e->kind == REQUEST_KIND_OPENPGP) {
		_cleanup_(pgp_sig_ctx_clear) struct pgp_sig_ctx ctx = { 0 };
		struct rb_buf out = RB_BUF_INIT;
		struct pgp_key *pk = NULL;
		EVP_MD_CTX *state = NULL;

		if ((err = hsm_pgp_key(s, mk, it->node->name, &pk)) < 0 ||
		    (err = hash_state_md_ctx(e->state, &state)) < 0)
			return err;
		err = pgp_sig_init_from_state(&ctx, pk, state, (int64_t)time(NULL));
		EVP_MD_CTX_free(state);
		if (err == RB_OK)
			err = pgp_sig_finish(&ctx, &out);
		if (err < 0) {
			rb_buf_free(&out);
			return err;
		}
		st->hsm_ops++;
		it->sig[i] = rb_buf_steal(&out, &it->sig_len[i]);
		return RB_OK;
	}

	if ((err = signd_cache_key(mk->name, e->scheme, e->input, e->input_len, ck)) < 0)
		return err;
	/* A hit is verified over this request before it is released. */
	err = signd_cache_take(s->hsm.cache, ck, mk->pub, e->scheme, e->input, e->input_len, &it->sig[i],
			       &it->sig_len[i]);
	if (err != RB_E_NOTFOUND)
		return err;
	/* The key holder honours a capture placeholder's shape (ECDSA: a DER
	 * length that fits the hole the tool left) and verifies what the
	 * token made; a raw signature is verified here as well. */
	if (e->kind == REQUEST_KIND_CAPTURE)
		err = keyholder_sign(s->hsm.kh, SIGNER_FOR_CAPTURE, mk->name, it->node->name, e->capture->scheme,
				     e->capture->input, e->capture->input_len, (uint32_t)e->capture->placeholder_len,
				     &it->sig[i], &it->sig_len[i]);
	else
		err = keyholder_sign(s->hsm.kh, SIGNER_FOR_RAW, mk->name, it->node->name, e->scheme, e->input,
				     e->input_len, 0, &it->sig[i], &it->sig_len[i]);
	if (err == RB_OK && e->kind != REQUEST_KIND_CAPTURE &&
	    rb_sig_verify(mk->pub, e->scheme, e->input, e->input_len, it->sig[i], it->sig_len[i]) < 0)
		err = rb_err_set(RB_E_VERIFY, "the key holder's signature with key '%s' does not verify over "
				 "request %.16s", mk->name, e->id_hex);
	if (err < 0) {
		free(it->sig[i]);
		it->sig[i] = NULL;
		return err;
	}
	st->hsm_ops++;
	/* A raw ECDSA signature may be reused for a capture request only if
	 * it also fits the placeholder; cache capture results only. */
	if (e->kind == REQUEST_KIND_CAPTURE || mk->alg != RB_KEY_EC_P256)
		return signd_cache_put(s->hsm.cache, ck, it->sig[i], it->sig_len[i]);
	return RB_OK;
}

int signd_sign_commit(void *ctx, const uint8_t *data, size_t len, char **ret_armored)
{
	struct signd *s = ctx;
	struct rb_buf bin = RB_BUF_INIT, arm = RB_BUF_INIT;
	int err;

	if ((err = pgp_sign_buffer(s->hsm.queue_pgp, PGP_SIG_BINARY, PGP_HASH_SHA512, (int64_t)time(NULL), data,
				   len, &bin)) == RB_OK &&
	    (err = pgp_armor(PGP_ARMOR_SIGNATURE, bin.data, bin.len, &arm)) == RB_OK &&
	    (err = rb_buf_terminate(&arm)) == RB_OK)
		*ret_armored = (char *)rb_buf_steal(&arm, NULL);
	rb_buf_free(&bin);
	rb_buf_free(&arm);
	return err;
}
