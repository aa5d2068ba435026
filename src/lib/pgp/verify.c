/* Parsing and verification of v4 signature packets.
 *
 * Used to re-verify every signature pgp_sig_finish() produces from the
 * bytes it is about to release, and by the tests. It reads untrusted
 * bytes only through rb_reader and accepts nothing it does not fully
 * understand: unknown critical subpackets, other versions and trailing
 * data are errors. */
#include "pgp/pgp-internal.h"

#include <string.h>

#include "util/err.h"

/* Subpackets that may appear (and are understood well enough to ignore
 * their content when verifying a document or self-signature). */
static bool subpacket_known(uint8_t type)
{
	switch (type) {
	case PGP_SUB_CREATION_TIME:
	case PGP_SUB_ISSUER_KEYID:
	case PGP_SUB_ISSUER_FPR:
	case PGP_SUB_KEY_FLAGS:
	case PGP_SUB_FEATURES:
	case PGP_SUB_PREF_HASH:
	case 9:  /* key expiration time: describes the key, not this signature */
	case 11: /* preferred symmetric algorithms */
	case 22: /* preferred compression algorithms */
	case 23: /* key server preferences */
	case 25: /* primary user ID */
		return true;
	}
	return false;
}

static int sig_parse_subpackets(const uint8_t *p, size_t n, bool hashed, struct pgp_sig_parsed *s,
				bool *seen_time)
{
	struct rb_reader r;

	rb_reader_init(&r, p, n);
	while (r.len > 0) {
		const uint8_t *sp, *data;
		size_t l, dl;
		uint8_t type;
		bool critical;

		if (pgp_get_subpacket_length(&r, &l) < 0 || l == 0 || rb_reader_get_bytes(&r, l, &sp) < 0)
			return rb_err_set(RB_E_PARSE, "OpenPGP signature: malformed subpacket area");
		type = sp[0] & 0x7f;
		critical = sp[0] & PGP_SUB_CRITICAL;
		data = sp + 1;
		dl = l - 1;
		switch (type) {
		case PGP_SUB_CREATION_TIME:
			/* RFC 4880 5.2.3.4: only the hashed one counts. */
			if (!hashed)
				break;
			if (dl != 4 || *seen_time)
				return rb_err_set(RB_E_PARSE, "OpenPGP signature: bad or repeated creation time");
			s->created = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 |
				     (uint32_t)data[2] << 8 | data[3];
			*seen_time = true;
			break;
		case PGP_SUB_ISSUER_FPR:
			if (dl != 1 + PGP_FPR_LEN || data[0] != 4)
				return rb_err_set(RB_E_PARSE, "OpenPGP signature: issuer fingerprint is not v4");
			if (s->has_issuer_fpr && memcmp(s->issuer_fpr, data + 1, PGP_FPR_LEN) != 0)
				return rb_err_set(RB_E_PARSE, "OpenPGP signature: conflicting issuer fingerprints");
			memcpy(s->issuer_fpr, data + 1, PGP_FPR_LEN);
			s->has_issuer_fpr = true;
			break;
		case PGP_SUB_ISSUER_KEYID:
			if (dl != PGP_KEYID_LEN)
				return rb_err_set(RB_E_PARSE, "OpenPGP signature: malformed issuer key ID");
			if (s->has_issuer_keyid && memcmp(s->issuer_keyid, data, PGP_KEYID_LEN) != 0)
				return rb_err_set(RB_E_PARSE, "OpenPGP signature: conflicting issuer key IDs");
			memcpy(s->issuer_keyid, data, PGP_KEYID_LEN);
			s->has_issuer_keyid = true;
			break;
		default:
			/* RFC 4880 5.2.3.1: an unknown critical subpacket makes the
			 * signature invalid. Signature expiration (3) is refused
			 * outright since this code does not evaluate it. */
			if ((critical && !subpacket_known(type)) || type == 3)
				return rb_err_set(RB_E_UNSUPPORTED,
						  "OpenPGP signature: subpacket %u is not supported", type);
			break;
		}
	}
	return RB_OK;
}

int pgp_sig_parse(const uint8_t *pkt, size_t len, struct pgp_sig_parsed *ret)
{
	struct pgp_sig_parsed s = { 0 };
	struct rb_reader r, b;
	const uint8_t *body, *area, *left;
	size_t blen;
	uint16_t alen;
	uint8_t tag, version;
	bool seen_time = false;
	int err;

	if (!pkt || !ret)
		return RB_E_INVAL;
	rb_reader_init(&r, pkt, len);
	if ((err = pgp_get_packet(&r, &tag, &body, &blen)) < 0)
		return rb_err_set(err, "OpenPGP signature: malformed packet header");
	if (tag != PGP_TAG_SIGNATURE)
		return rb_err_set(RB_E_PARSE, "OpenPGP signature: packet tag %u is not a signature", tag);
	if (rb_reader_expect_end(&r) < 0)
		return rb_err_set(RB_E_PARSE, "OpenPGP signature: trailing data after the signature packet");

	rb_reader_init(&b, body, blen);
	if (rb_reader_get_u8(&b, &version) < 0)
		return rb_err_set(RB_E_PARSE, "OpenPGP signature: empty packet");
	if (version != 4)
		return rb_err_set(RB_E_UNSUPPORTED, "OpenPGP signature: version %u (only v4)", version);
	if (rb_reader_get_u8(&b, &s.type) < 0 || rb_reader_get_u8(&b, &s.pk_algo) < 0 ||
	    rb_reader_get_u8(&b, &s.hash_algo) < 0 || rb_reader_get_u16be(&b, &alen) < 0 ||
	    rb_reader_get_bytes(&b, alen, &area) < 0)
		return rb_err_set(RB_E_PARSE, "OpenPGP signature: truncated hashed area");
	s.hashed = body;
	s.hashed_len = 6 + (size_t)alen;
	if ((err = sig_parse_subpackets(area, alen, true, &s, &seen_time)) < 0)
		return err;
	if (rb_reader_get_u16be(&b, &alen) < 0 || rb_reader_get_bytes(&b, alen, &area) < 0)
		return rb_err_set(RB_E_PARSE, "OpenPGP signature: truncated unhashed area");
	if ((err = sig_parse_subpackets(area, alen, false, &s, &seen_time)) < 0)
		return err;
	if (!seen_time)
		return rb_err_set(RB_E_PARSE, "OpenPGP signature: no hashed creation time");
	if (rb_reader_get_bytes(&b, 2, &left) < 0)
		return rb_err_set(RB_E_PARSE, "OpenPGP signature: truncated");
	memcpy(s.left16, left, 2);

	switch (s.pk_algo) {
	case PGP_PK_RSA:
		s.n_mpi = 1;
		break;
	case PGP_PK_EDDSA_LEGACY:
		s.n_mpi = 2;
		break;
	default:
		return rb_err_set(RB_E_UNSUPPORTED, "OpenPGP signature: public-key algorithm %u",
				  s.pk_algo);
	}
	for (unsigned i = 0; i < s.n_mpi; i++)
		if (pgp_get_mpi(&b, &s.mpi[i], &s.mpi_len[i]) < 0)
			return rb_err_set(RB_E_PARSE, "OpenPGP signature: malformed MPI");
	if (rb_reader_expect_end(&b) < 0)
		return rb_err_set(RB_E_PARSE, "OpenPGP signature: trailing data in the packet");
	*ret = s;
	return RB_OK;
}

int pgp_sig_check(const struct pgp_key *key, const struct pgp_sig_parsed *s,
		  const EVP_MD_CTX *state)
{
	_cleanup_md_ctx_ EVP_MD_CTX *md = NULL;
	_cleanup_free_ uint8_t *sig = NULL;
	enum rb_sig_scheme scheme;
	uint8_t digest[EVP_MAX_MD_SIZE];
	size_t dlen = 0, siglen;
	const EVP_MD *want;
	int err;

	if (!key || !s || !state)
		return RB_E_INVAL;
	if (s->pk_algo != (uint8_t)key->algo)
		return rb_err_set(RB_E_VERIFY, "OpenPGP signature: made with algorithm %u, key is %u",
				  s->pk_algo, (unsigned)key->algo);
	if ((err = pgp_key_scheme(key, (enum pgp_hash_algo)s->hash_algo, &scheme)) < 0)
		return err;
	want = pgp_hash_md((enum pgp_hash_algo)s->hash_algo);
	if (!EVP_MD_CTX_get0_md(state) ||
	    EVP_MD_get_type(EVP_MD_CTX_get0_md(state)) != EVP_MD_get_type(want))
		return rb_err_set(RB_E_INVAL, "OpenPGP signature: hash state does not match the signature's hash");
	if (!s->has_issuer_fpr && !s->has_issuer_keyid)
		return rb_err_set(RB_E_VERIFY, "OpenPGP signature: names no issuer");
	if ((s->has_issuer_fpr && memcmp(s->issuer_fpr, key->fpr, PGP_FPR_LEN) != 0) ||
	    (s->has_issuer_keyid && memcmp(s->issuer_keyid, key->keyid, PGP_KEYID_LEN) != 0))
		return rb_err_set(RB_E_VERIFY, "OpenPGP signature: issued by another key");
	if (s->created < key->creation_time)
		return rb_err_set(RB_E_VERIFY, "OpenPGP signature: older than the key");

	md = EVP_MD_CTX_new();
	if (!md)
		return RB_E_NOMEM;
	if (EVP_MD_CTX_copy_ex(md, state) != 1 ||
	    pgp_sig_hash_trailer(md, s->hashed, s->hashed_len, digest, &dlen) < 0)
		return RB_E_CRYPTO;
	if (memcmp(digest, s->left16, 2) != 0)
		return rb_err_set(RB_E_VERIFY, "OpenPGP signature: digest prefix mismatch (wrong data?)");

	/* Undo the MPI stripping: fixed-width big-endian values. */
	if (key->algo == PGP_PK_RSA) {
		siglen = (size_t)EVP_PKEY_get_size(key->signer->pub);
		if (s->n_mpi != 1 || s->mpi_len[0] > siglen)
			return rb_err_set(RB_E_VERIFY, "OpenPGP signature: RSA value larger than the modulus");
		sig = calloc(1, siglen);
		if (!sig)
			return RB_E_NOMEM;
		memcpy(sig + siglen - s->mpi_len[0], s->mpi[0], s->mpi_len[0]);
	} else {
		siglen = 64;
		if (s->n_mpi != 2 || s->mpi_len[0] > 32 || s->mpi_len[1] > 32)
			return rb_err_set(RB_E_VERIFY, "OpenPGP signature: EdDSA r or s longer than 32 bytes");
		sig = calloc(1, siglen);
		if (!sig)
			return RB_E_NOMEM;
		memcpy(sig + 32 - s->mpi_len[0], s->mpi[0], s->mpi_len[0]);
		memcpy(sig + 64 - s->mpi_len[1], s->mpi[1], s->mpi_len[1]);
	}
	if ((err = rb_sig_verify(key->signer->pub, scheme, digest, dlen, sig, siglen)) < 0)
		return rb_err_set(err, "OpenPGP signature: does not verify with key %s",
				  key->signer->name ? key->signer->name : "(unnamed)");
	return RB_OK;
}

int pgp_sig_verify_state(const struct pgp_key *key, const uint8_t *pkt, size_t len,
			 const EVP_MD_CTX *state, enum pgp_sig_type want_type)
{
	struct pgp_sig_parsed s;
	int err;

	if ((err = pgp_sig_parse(pkt, len, &s)) < 0)
		return err;
	if (s.type != (uint8_t)want_type)
		return rb_err_set(RB_E_VERIFY, "OpenPGP signature: type 0x%02x, expected 0x%02x", s.type,
				  (unsigned)want_type);
	return pgp_sig_check(key, &s, state);
}

int pgp_text_update(EVP_MD_CTX *md, bool *cr, const uint8_t *p, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];

		if (*cr) {
			if (c != '\n')
				return rb_err_set(RB_E_INVAL,
						  "canonical text signature: data contains a CR not followed by LF; sign it as binary");
			*cr = false;
			continue;
		}
		if (c == '\r') {
			*cr = true;
		} else if (c == '\n') {
			/* Bare LF: hash what came before, then the CR it lacks;
			 * the LF starts the next run. */
			if (EVP_DigestUpdate(md, p + start, i - start) != 1 ||
			    EVP_DigestUpdate(md, "\r", 1) != 1)
				return RB_E_CRYPTO;
			start = i;
		}
	}
	if (EVP_DigestUpdate(md, p + start, n - start) != 1)
		return RB_E_CRYPTO;
	return RB_OK;
}

int pgp_sig_verify_buffer(const struct pgp_key *key, const uint8_t *sig, size_t siglen,
			  const void *data, size_t len)
{
	_cleanup_md_ctx_ EVP_MD_CTX *md = NULL;
	struct pgp_sig_parsed s;
	const EVP_MD *h;
	bool cr = false;
	int err;

	if (!key || (!data && len))
		return RB_E_INVAL;
	if ((err = pgp_sig_parse(sig, siglen, &s)) < 0)
		return err;
	if (s.type != PGP_SIG_BINARY && s.type != PGP_SIG_TEXT)
		return rb_err_set(RB_E_VERIFY, "OpenPGP signature: type 0x%02x is not a document signature",
				  s.type);
	h = pgp_hash_md((enum pgp_hash_algo)s.hash_algo);
	if (!h)
		return rb_err_set(RB_E_UNSUPPORTED, "OpenPGP signature: hash algorithm %u", s.hash_algo);
	md = EVP_MD_CTX_new();
	if (!md)
		return RB_E_NOMEM;
	if (EVP_DigestInit_ex(md, h, NULL) != 1)
		return RB_E_CRYPTO;
	if (s.type == PGP_SIG_TEXT) {
		if (len && (err = pgp_text_update(md, &cr, data, len)) < 0)
			return err;
		if (cr)
			return rb_err_set(RB_E_INVAL, "canonical text signature: data ends with a bare CR");
	} else if (len && EVP_DigestUpdate(md, data, len) != 1) {
		return RB_E_CRYPTO;
	}
	return pgp_sig_check(key, &s, md);
}
