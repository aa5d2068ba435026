/* Fuzz the request-document parser: what an untrusted build node commits
 * to the queue and the sign node and queue guard read. Each input is
 * parsed without a manifest (the guard's mode) and against a small fixed
 * one (an Ed25519 key from a fixed seed, active as "ed-key", retired as
 * "old-key"; the corpus holds documents for it). Whatever is accepted
 * must keep the parser's promises: names are safe paths, every entry
 * points at a listed artifact, every openpgp state finalizes to its
 * artifact's digest and loads into an EVP_MD_CTX, and the document
 * re-emits canonically to a fixed point. Hash-state import is reached
 * through the openpgp entries. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "request/request.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* RFC 8032 test 1 secret key. */
static const uint8_t ed_seed[32] = {
	0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
	0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
};

static struct manifest man;
static struct manifest_key keys[2];

static void init_manifest(void)
{
	EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, ed_seed, sizeof(ed_seed));
	unsigned char *der = NULL;
	int n;

	if (!pk || (n = i2d_PUBKEY(pk, &der)) <= 0)
		abort();
	for (int i = 0; i < 2; i++) {
		keys[i].name = strdup(i == 0 ? "ed-key" : "old-key");
		keys[i].alg = RB_KEY_ED25519;
		keys[i].bits = 255;
		keys[i].status = i == 0 ? KEY_ACTIVE : KEY_RETIRED;
		keys[i].spki = malloc((size_t)n);
		memcpy(keys[i].spki, der, (size_t)n);
		keys[i].spki_len = (size_t)n;
		if (manifest_key_derive(&keys[i]) != 0)
			abort();
	}
	OPENSSL_free(der);
	EVP_PKEY_free(pk);
	man.keys = keys;
	man.n_keys = 2;
}

static void check_invariants(const struct request_doc *doc)
{
	for (size_t i = 0; i < doc->n_artifacts; i++)
		if (!request_artifact_name_valid(doc->artifacts[i].name) ||
		    request_doc_find_artifact(doc, doc->artifacts[i].name) != &doc->artifacts[i])
			abort();
	for (size_t i = 0; i < doc->n_entries; i++) {
		const struct request_entry *e = &doc->entries[i];
		const struct request_artifact *a;
		uint8_t fin[64];
		size_t n;
		EVP_MD_CTX *md = NULL;

		if (e->artifact >= doc->n_artifacts || request_doc_find(doc, e->id) != e)
			abort();
		a = &doc->artifacts[e->artifact];
		if (e->kind == REQUEST_KIND_OPENPGP) {
			if (!e->state || hash_state_final(e->state, fin, &n) != 0 ||
			    hash_state_get_length(e->state) != a->size ||
			    memcmp(fin, e->hash == HASH_STATE_SHA512 ? a->sha512 : a->sha256, n) != 0)
				abort();
			if (hash_state_md_ctx(e->state, &md) != 0)
				abort();
			EVP_MD_CTX_free(md);
		} else if (!e->input || !e->input_len) {
			abort();
		}
		if (e->kind == REQUEST_KIND_CAPTURE &&
		    (!e->capture || strcmp(e->capture->build_id, doc->build_id) != 0))
			abort();
	}
}

static void check(const uint8_t *data, size_t size, const struct manifest *m)
{
	struct request_doc *doc = NULL, *again = NULL;
	struct rb_buf out = RB_BUF_INIT, out2 = RB_BUF_INIT;

	if (request_doc_parse((const char *)data, size, "fuzz", m, 0, &doc) != 0) {
		if (doc)
			abort();
		return;
	}
	check_invariants(doc);
	if (request_doc_emit(doc, &out) != 0)
		abort();
	if (request_doc_parse((const char *)out.data, out.len, "fuzz-again", m, 0, &again) != 0)
		abort();
	if (request_doc_emit(again, &out2) != 0 || out.len != out2.len ||
	    memcmp(out.data, out2.data, out.len) != 0 || again->n_entries != doc->n_entries)
		abort();
	rb_buf_free(&out);
	rb_buf_free(&out2);
	request_doc_free(doc);
	request_doc_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!man.keys)
		init_manifest();
	check(data, size, NULL);
	check(data, size, &man);
	return 0;
}
