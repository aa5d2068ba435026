/* Unit tests for src/lib/pgp: framing and MPI known answers, CRC-24,
 * armor, v4 fingerprints against published vectors, and signatures that
 * must fail to verify once the data, the signature or the signer is bad. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include "harness.h"
#include "pgp/pgp-internal.h"
#include "pgp/pgp.h"
#include "soft_signer.h"
#include "util/buf.h"
#include "util/encode.h"
#include "util/err.h"

HARNESS_GLOBALS;

/* A fixed, plausible time after every key's creation time below. */
#define T_KEY 1700000000
#define T_SIG 1700000100

static struct rb_signer ed_signer, rsa_signer;

static bool bytes_eq_hex(const uint8_t *p, size_t n, const char *hex)
{
	uint8_t *want = NULL;
	size_t wn = 0;
	bool ok;

	if (rb_hex_decode(hex, strlen(hex), &want, &wn) < 0)
		return false;
	ok = wn == n && memcmp(p, want, n) == 0;
	free(want);
	return ok;
}

static void test_packet_length(void)
{
	static const struct {
		size_t len;
		const char *hex;
	} kat[] = {
		/* RFC 4880 4.2.2 boundaries, and its own examples (100,
		 * 1723, 100000). */
		{ 0, "00" },           { 100, "64" },           { 191, "bf" },
		{ 192, "c000" },       { 1723, "c5fb" },        { 8383, "dfff" },
		{ 8384, "ff000020c0" }, { 100000, "ff000186a0" },
	};

	for (size_t i = 0; i < ELEMENTSOF(kat); i++) {
		struct rb_buf b = RB_BUF_INIT;

		CHECK_OK(pgp_put_length(&b, kat[i].len));
		CHECK(bytes_eq_hex(b.data, b.len, kat[i].hex));
		rb_buf_free(&b);
	}
}

static void test_packet_roundtrip(void)
{
	static const size_t sizes[] = { 0, 191, 192, 8383, 8384, 70000 };

	for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
		struct rb_buf b = RB_BUF_INIT;
		uint8_t *body = malloc(sizes[i] + 1);
		const uint8_t *got;
		struct rb_reader r;
		size_t glen, hdr;
		uint8_t tag;

		memset(body, 0x5a, sizes[i]);
		CHECK_OK(pgp_put_packet(&b, PGP_TAG_SIGNATURE, body, sizes[i]));
		hdr = sizes[i] < 192 ? 2 : sizes[i] < 8384 ? 3 : 6;
		CHECK(b.len == hdr + sizes[i]);
		CHECK(b.data[0] == 0xc2);
		rb_reader_init(&r, b.data, b.len);
		CHECK_OK(pgp_get_packet(&r, &tag, &got, &glen));
		CHECK(tag == 2 && glen == sizes[i] && r.len == 0);
		/* One byte short must not parse, and leaves the reader alone. */
		rb_reader_init(&r, b.data, b.len - 1);
		if (sizes[i] > 0) {
			CHECK_ERR(pgp_get_packet(&r, &tag, &got, &glen), RB_E_PARSE);
			CHECK(r.len == b.len - 1);
		}
		free(body);
		rb_buf_free(&b);
	}
}

static void test_packet_parse_formats(void)
{
	/* Old format: tag 2, one-octet length; tag 6, two-octet length. */
	static const uint8_t old1[] = { 0x88, 0x02, 0xaa, 0xbb };
	static const uint8_t old2[] = { 0x99, 0x00, 0x01, 0xcc };
	/* Partial body length and indeterminate old length are refused. */
	static const uint8_t partial[] = { 0xc2, 0xe1, 0x00, 0x00 };
	static const uint8_t indet[] = { 0x8b, 0x00 };
	static const uint8_t notpkt[] = { 0x42, 0x00 };
	/* Subpacket lengths: first octet 192..254 is two octets (unlike
	 * packets, where 224..254 means a partial length). */
	static const uint8_t sublen[] = { 0xfe, 0xff };
	const uint8_t *body;
	struct rb_reader r;
	size_t len;
	uint8_t tag;

	rb_reader_init(&r, old1, sizeof(old1));
	CHECK_OK(pgp_get_packet(&r, &tag, &body, &len));
	CHECK(tag == 2 && len == 2 && body[1] == 0xbb);
	rb_reader_init(&r, old2, sizeof(old2));
	CHECK_OK(pgp_get_packet(&r, &tag, &body, &len));
	CHECK(tag == 6 && len == 1);
	rb_reader_init(&r, partial, sizeof(partial));
	CHECK_ERR(pgp_get_packet(&r, &tag, &body, &len), RB_E_UNSUPPORTED);
	rb_reader_init(&r, indet, sizeof(indet));
	CHECK_ERR(pgp_get_packet(&r, &tag, &body, &len), RB_E_UNSUPPORTED);
	rb_reader_init(&r, notpkt, sizeof(notpkt));
	CHECK_ERR(pgp_get_packet(&r, &tag, &body, &len), RB_E_PARSE);
	rb_reader_init(&r, sublen, sizeof(sublen));
	CHECK_OK(pgp_get_subpacket_length(&r, &len));
	CHECK(len == ((0xfeu - 192) << 8) + 0xff + 192);
}

static void test_mpi(void)
{
	static const struct {
		const char *in, *out;
	} kat[] = {
		{ "01", "000101" },              /* RFC 4880 3.2: [00 01 01] is 1 */
		{ "01ff", "000901ff" },          /* RFC 4880 3.2: [00 09 01 FF] is 511 */
		{ "80", "000880" },
		{ "7f", "00077f" },
		{ "000001", "000101" },          /* leading zero bytes dropped */
		{ "007fff", "000f7fff" },        /* ... and leading zero bits counted */
		{ "0000", "0000" },              /* zero */
		{ "", "0000" },
		{ "40" "0102030405060708091011121314151617181920212223242526272829303132",
		  "0107" "40" "0102030405060708091011121314151617181920212223242526272829303132" },
	};

	for (size_t i = 0; i < ELEMENTSOF(kat); i++) {
		struct rb_buf b = RB_BUF_INIT;
		uint8_t *in = NULL;
		size_t n = 0;

		CHECK_OK(rb_hex_decode(kat[i].in, strlen(kat[i].in), &in, &n));
		CHECK_OK(pgp_put_mpi(&b, in, n));
		CHECK(bytes_eq_hex(b.data, b.len, kat[i].out));
		free(in);
		rb_buf_free(&b);
	}
}

static void test_mpi_parse_strict(void)
{
	static const uint8_t good[] = { 0x00, 0x09, 0x01, 0xff };
	static const uint8_t lead_zero[] = { 0x00, 0x09, 0x00, 0xff };   /* top byte 0 */
	static const uint8_t wrong_bits[] = { 0x00, 0x10, 0x01, 0xff };  /* says 16 bits, is 9 */
	static const uint8_t short_data[] = { 0x00, 0x10, 0x80 };
	static const uint8_t too_big[] = { 0x40, 0x01 };                 /* 16385 bits */
	const uint8_t *p;
	struct rb_reader r;
	size_t n;

	rb_reader_init(&r, good, sizeof(good));
	CHECK_OK(pgp_get_mpi(&r, &p, &n));
	CHECK(n == 2 && p[0] == 1 && r.len == 0);
	rb_reader_init(&r, lead_zero, sizeof(lead_zero));
	CHECK_ERR(pgp_get_mpi(&r, &p, &n), RB_E_PARSE);
	CHECK(r.len == sizeof(lead_zero));
	rb_reader_init(&r, wrong_bits, sizeof(wrong_bits));
	CHECK_ERR(pgp_get_mpi(&r, &p, &n), RB_E_PARSE);
	rb_reader_init(&r, short_data, sizeof(short_data));
	CHECK_ERR(pgp_get_mpi(&r, &p, &n), RB_E_PARSE);
	rb_reader_init(&r, too_big, sizeof(too_big));
	CHECK_ERR(pgp_get_mpi(&r, &p, &n), RB_E_PARSE);
}

static void test_crc24(void)
{
	/* CRC-24/OPENPGP check value (catalogue of CRC algorithms, and
	 * RFC 4880 6.1's init value for the empty input). */
	CHECK(pgp_crc24((const uint8_t *)"123456789", 9) == 0x21cf02);
	CHECK(pgp_crc24((const uint8_t *)"", 0) == 0xb704ce);
}

static void test_armor_kat(void)
{
	static const char want[] = "-----BEGIN PGP SIGNATURE-----\n"
				   "\n"
				   "MTIzNDU2Nzg5\n"
				   "=Ic8C\n"
				   "-----END PGP SIGNATURE-----\n";
	struct rb_buf b = RB_BUF_INIT;

	CHECK_OK(pgp_armor(PGP_ARMOR_SIGNATURE, (const uint8_t *)"123456789", 9, &b));
	CHECK(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0);
	CHECK_ERR(pgp_armor("PGP SIGNATURE-----\nX", (const uint8_t *)"1", 1, &b), RB_E_INVAL);
	rb_buf_free(&b);
}

static void test_armor_roundtrip(void)
{
	struct rb_buf a = RB_BUF_INIT, d = RB_BUF_INIT;
	uint8_t data[1000];
	char *s, *nl;
	size_t lines = 0;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	CHECK_OK(pgp_armor(PGP_ARMOR_PUBLIC_KEY, data, sizeof(data), &a));
	CHECK_OK(rb_buf_terminate(&a));
	/* Every body line is 64 columns except the last one. */
	s = strstr((char *)a.data, "\n\n") + 2;
	while ((nl = strchr(s, '\n')) && *s != '=') {
		size_t l = (size_t)(nl - s);

		CHECK(l == 64 || nl[1] == '=');
		s = nl + 1;
		lines++;
	}
	CHECK(lines == (sizeof(data) + 2) / 3 * 4 / 64 + 1);
	CHECK(strstr((char *)a.data, "Version") == NULL);

	CHECK_OK(pgp_dearmor(PGP_ARMOR_PUBLIC_KEY, (char *)a.data, a.len, &d));
	CHECK(d.len == sizeof(data) && memcmp(d.data, data, sizeof(data)) == 0);
	d.len = 0;
	/* Wrong type, one flipped body character (caught by the CRC), a
	 * bad CRC, trailing junk. */
	CHECK_ERR(pgp_dearmor(PGP_ARMOR_SIGNATURE, (char *)a.data, a.len, &d), RB_E_PARSE);
	s = strstr((char *)a.data, "\n\n") + 2;
	s[10] = s[10] == 'A' ? 'B' : 'A';
	CHECK_ERR(pgp_dearmor(PGP_ARMOR_PUBLIC_KEY, (char *)a.data, a.len, &d), RB_E_VERIFY);
	s[10] = s[10] == 'A' ? 'B' : 'A';
	s = strstr((char *)a.data, "\n=") + 2;
	s[0] = s[0] == 'A' ? 'B' : 'A';
	CHECK_ERR(pgp_dearmor(PGP_ARMOR_PUBLIC_KEY, (char *)a.data, a.len, &d), RB_E_VERIFY);
	s[0] = s[0] == 'A' ? 'B' : 'A';
	CHECK_OK(rb_buf_put_str(&a, "junk\n"));
	CHECK_ERR(pgp_dearmor(PGP_ARMOR_PUBLIC_KEY, (char *)a.data, a.len, &d), RB_E_PARSE);
	CHECK(d.len == 0);
	rb_buf_free(&a);
	rb_buf_free(&d);
}

static void test_dearmor_foreign(void)
{
	/* Headers, CRLF line ends and no CRC line are all legal input. */
	static const char in[] = "-----BEGIN PGP SIGNATURE-----\r\n"
				 "Comment: made elsewhere\r\n"
				 "\r\n"
				 "MTIz\r\n"
				 "NDU2Nzg5\r\n"
				 "-----END PGP SIGNATURE-----\r\n";
	static const char bad_header[] = "-----BEGIN PGP SIGNATURE-----\n"
					 "no colon here\n\nMTIz\n-----END PGP SIGNATURE-----\n";
	struct rb_buf d = RB_BUF_INIT;

	CHECK_OK(pgp_dearmor(PGP_ARMOR_SIGNATURE, in, strlen(in), &d));
	CHECK(d.len == 9 && memcmp(d.data, "123456789", 9) == 0);
	CHECK_ERR(pgp_dearmor(PGP_ARMOR_SIGNATURE, bad_header, strlen(bad_header), &d), RB_E_PARSE);
	rb_buf_free(&d);
}

/* ---- keys ------------------------------------------------------------- */

static int refuse_sign(void *ctx, enum rb_sig_scheme scheme, const uint8_t *in, size_t inlen,
		       uint8_t **ret_sig, size_t *ret_len)
{
	(void)ctx, (void)scheme, (void)in, (void)inlen, (void)ret_sig, (void)ret_len;
	return RB_E_UNSUPPORTED;
}

static EVP_PKEY *ed25519_from_hex(const char *hex)
{
	uint8_t *raw = NULL;
	size_t n = 0;
	EVP_PKEY *pk = NULL;

	if (rb_hex_decode(hex, strlen(hex), &raw, &n) == 0 && n == 32)
		pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, n);
	free(raw);
	return pk;
}

static EVP_PKEY *rsa_from_hex(const char *n_hex, unsigned long e)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *pk = NULL;
	BIGNUM *n = NULL, *be = BN_new();

	if (!bld || !be || !BN_hex2bn(&n, n_hex) || !BN_set_word(be, e) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) ||
	    !(params = OSSL_PARAM_BLD_to_param(bld)) ||
	    !(pctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) ||
	    EVP_PKEY_fromdata_init(pctx) != 1 ||
	    EVP_PKEY_fromdata(pctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pk = NULL;
	EVP_PKEY_CTX_free(pctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(be);
	return pk;
}

/* Published vectors from draft-bre-openpgp-samples-01 ("OpenPGP Example
 * Keys and Certificates"): Alice (Ed25519, EdDSALegacy) and Bob
 * (RSA-3072). Fingerprints are the ones printed in the draft, and were
 * re-checked on Debian 12 with `gpg --show-keys --with-colons` (GnuPG
 * 2.2.40) and `sq inspect` (sq 0.27) on the draft's armored certificates:
 * an implementation independent of this code. The expected packet bodies
 * are the draft's public-key packets, byte for byte. */
static void test_fingerprint_alice_ed25519(void)
{
	struct rb_signer s = { "alice", RB_KEY_ED25519, NULL, refuse_sign, NULL };
	struct pgp_key *key = NULL;
	char *fpr = NULL;

	s.pub = ed25519_from_hex("ae35b0937140ab28856c504a4f84f35dc541a8f4c1de09b3942fd46fb3b5bb5d");
	CHECK(s.pub != NULL);
	CHECK_OK(pgp_key_new(&s, 0x5c4704e9, &key));
	if (!key)
		goto out;
	CHECK(bytes_eq_hex(key->body, key->body_len,
			   "045c4704e916092b06010401da470f01010740"
			   "ae35b0937140ab28856c504a4f84f35dc541a8f4c1de09b3942fd46fb3b5bb5d"));
	CHECK_OK(pgp_key_fingerprint_hex(key, &fpr));
	CHECK(fpr && strcmp(fpr, "EB85BB5FA33A75E15E944E63F231550C4F47E38E") == 0);
	CHECK(bytes_eq_hex(key->keyid, PGP_KEYID_LEN, "f231550c4f47e38e"));
	CHECK(key->algo == PGP_PK_EDDSA_LEGACY);
out:
	free(fpr);
	pgp_key_free(key);
	EVP_PKEY_free(s.pub);
}

static void test_fingerprint_bob_rsa(void)
{
	static const char n_hex[] =
		"b970bf4f42840b4ccba18db62f6f835cbaea346df9a03d1172c17e778cf86815"
		"fe1983a9affec78e5e981e71374e715b6d7f30bcc9c20aaeddda4138b0386fdc"
		"b5a478064fede9ac8d15f7543711d69385822b3773ff9e9f5b63b4176dea2117"
		"7c514269e482253784437510ad761550200bb3be9da8572fcb692da4c50a0abe"
		"987fe6943fe7086ab32ae81160c9a12574c8e6f6e41fe2c24fe92d4168ca10c6"
		"f5b8f4908cc3c6b12a5beec16bc9e871095e70c1775f928c379929db3ada2eff"
		"5d941069596e375e4b63702660332db44a8bab69599af097bf102c1459852201"
		"9c4b22532ff42bab10eb71530e8ddd174eb4b998652f6e1279f9cb552417cf28"
		"f0d92ef3dd2e93a06b7b01732722c0c79c11678174a95ff2ab7e94590d0907f0"
		"141a11d53dd15fea997a79ac41c13e465ef6c15226ed7fc608da883946c8135a"
		"d5df53b79b4865eb97964ca5b03a99b7e177447c68fc567e60d68883a106e7e1"
		"302bd41e1d6c02930a5599ef21f7fdff40dc6b7c1bbcb2306b74f80b2b217d3d";
	struct rb_signer s = { "bob", RB_KEY_RSA, NULL, refuse_sign, NULL };
	struct pgp_key *key = NULL;
	char *fpr = NULL;
	char *body_hex = NULL;

	s.pub = rsa_from_hex(n_hex, 65537);
	CHECK(s.pub != NULL);
	CHECK_OK(pgp_key_new(&s, 0x5da59cf2, &key));
	if (!key)
		goto out;
	CHECK(key->body_len == 397);
	CHECK_OK(rb_hex_encode(key->body, key->body_len, &body_hex));
	CHECK(body_hex && strncmp(body_hex, "045da59cf2010c00", 16) == 0 &&
	      strncmp(body_hex + 16, n_hex, sizeof(n_hex) - 1) == 0 &&
	      strcmp(body_hex + 16 + sizeof(n_hex) - 1, "0011010001") == 0);
	CHECK_OK(pgp_key_fingerprint_hex(key, &fpr));
	CHECK(fpr && strcmp(fpr, "D1A66E1A23B182C9980F788CFBFCC82A015E7330") == 0);
	CHECK(bytes_eq_hex(key->keyid, PGP_KEYID_LEN, "fbfcc82a015e7330"));
	/* The creation time is part of the fingerprint. */
	pgp_key_free(key);
	key = NULL;
	CHECK_OK(pgp_key_new(&s, 0x5da59cf3, &key));
	CHECK(key && !bytes_eq_hex(key->fpr, PGP_FPR_LEN, "d1a66e1a23b182c9980f788cfbfcc82a015e7330"));
out:
	free(body_hex);
	free(fpr);
	pgp_key_free(key);
	EVP_PKEY_free(s.pub);
}

static void test_key_rejects(void)
{
	struct rb_signer p256;
	struct pgp_key *key = NULL;

	CHECK_ERR(pgp_key_new(&ed_signer, -1, &key), RB_E_INVAL);
	CHECK_ERR(pgp_key_new(&ed_signer, (int64_t)UINT32_MAX + 1, &key), RB_E_INVAL);
	CHECK(key == NULL);
	if (soft_signer_new("p256", &p256) == 0) {
		CHECK_ERR(pgp_key_new(&p256, T_KEY, &key), RB_E_UNSUPPORTED);
		soft_signer_free(&p256);
	}
	/* The signer's declared algorithm must match its public key. */
	{
		struct rb_signer lie = ed_signer;

		lie.alg = RB_KEY_RSA;
		CHECK_ERR(pgp_key_new(&lie, T_KEY, &key), RB_E_UNSUPPORTED);
	}
	CHECK(key == NULL);
}

/* ---- certificates ----------------------------------------------------- */

static void check_cert(const struct rb_signer *signer)
{
	static const char uid[] = "rombsr test <release@example.org>";
	struct rb_buf cert = RB_BUF_INIT;
	struct pgp_key *key = NULL;
	struct pgp_sig_parsed ps;
	const uint8_t *body[3];
	size_t blen[3];
	uint8_t tag[3];
	struct rb_reader r;
	EVP_MD_CTX *md = NULL;
	uint8_t khdr[3], uhdr[5];

	CHECK_OK(pgp_cert_write(signer, T_KEY, uid, T_SIG, &cert));
	CHECK_OK(pgp_key_new(signer, T_KEY, &key));
	if (!key || !cert.len)
		goto out;
	rb_reader_init(&r, cert.data, cert.len);
	for (int i = 0; i < 3; i++)
		CHECK_OK(pgp_get_packet(&r, &tag[i], &body[i], &blen[i]));
	CHECK_OK(rb_reader_expect_end(&r));
	CHECK(tag[0] == PGP_TAG_PUBLIC_KEY && tag[1] == PGP_TAG_USER_ID &&
	      tag[2] == PGP_TAG_SIGNATURE);
	CHECK(blen[0] == key->body_len && memcmp(body[0], key->body, blen[0]) == 0);
	CHECK(blen[1] == strlen(uid) && memcmp(body[1], uid, blen[1]) == 0);

	/* Self-signature: 0x13, SHA-512, every subpacket we promise. */
	CHECK_OK(pgp_sig_parse(body[2] - (blen[2] < 192 ? 2 : 3), blen[2] + (blen[2] < 192 ? 2 : 3),
			       &ps));
	CHECK(ps.type == 0x13 && ps.hash_algo == PGP_HASH_SHA512 && ps.created == T_SIG);
	CHECK(ps.has_issuer_fpr && memcmp(ps.issuer_fpr, key->fpr, PGP_FPR_LEN) == 0);
	CHECK(ps.has_issuer_keyid && memcmp(ps.issuer_keyid, key->keyid, PGP_KEYID_LEN) == 0);
	/* hashed area: ctime(crit) fpr flags(03) features(01) prefs(0a 08) */
	CHECK(ps.hashed_len == 6 + 6 + 23 + 3 + 3 + 4);
	CHECK(memmem(ps.hashed, ps.hashed_len, "\x02\x1b\x03", 3) != NULL);
	CHECK(memmem(ps.hashed, ps.hashed_len, "\x02\x1e\x01", 3) != NULL);
	CHECK(memmem(ps.hashed, ps.hashed_len, "\x03\x15\x0a\x08", 4) != NULL);
	CHECK(memmem(ps.hashed, ps.hashed_len, "\x05\x82", 2) != NULL);

	/* Verify it independently of pgp_cert_write, then tamper. */
	khdr[0] = 0x99;
	khdr[1] = (uint8_t)(key->body_len >> 8);
	khdr[2] = (uint8_t)key->body_len;
	uhdr[0] = 0xb4;
	uhdr[1] = uhdr[2] = uhdr[3] = 0;
	uhdr[4] = (uint8_t)strlen(uid);
	md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(md, EVP_sha512(), NULL);
	EVP_DigestUpdate(md, khdr, 3);
	EVP_DigestUpdate(md, key->body, key->body_len);
	EVP_DigestUpdate(md, uhdr, 5);
	EVP_DigestUpdate(md, uid, strlen(uid));
	CHECK_OK(pgp_sig_check(key, &ps, md));
	EVP_DigestUpdate(md, "x", 1); /* a different user ID */
	CHECK_ERR(pgp_sig_check(key, &ps, md), RB_E_VERIFY);
out:
	EVP_MD_CTX_free(md);
	pgp_key_free(key);
	rb_buf_free(&cert);
}

static void test_cert_ed25519(void)
{
	check_cert(&ed_signer);
}

static void test_cert_rsa(void)
{
	check_cert(&rsa_signer);
}

static void test_cert_rejects(void)
{
	struct rb_buf out = RB_BUF_INIT;
	char big[PGP_USER_ID_MAX + 2];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_ERR(pgp_cert_write(&ed_signer, T_KEY, "", T_SIG, &out), RB_E_INVAL);
	CHECK_ERR(pgp_cert_write(&ed_signer, T_KEY, "a\nb", T_SIG, &out), RB_E_INVAL);
	CHECK_ERR(pgp_cert_write(&ed_signer, T_KEY, "bad \xc3\x28", T_SIG, &out), RB_E_INVAL);
	CHECK_ERR(pgp_cert_write(&ed_signer, T_KEY, "overlong \xc0\xaf", T_SIG, &out), RB_E_INVAL);
	CHECK_ERR(pgp_cert_write(&ed_signer, T_KEY, big, T_SIG, &out), RB_E_INVAL);
	/* A self-signature older than the key would be rejected by gpg. */
	CHECK_ERR(pgp_cert_write(&ed_signer, T_KEY, "x <x@example.org>", T_KEY - 1, &out),
		  RB_E_INVAL);
	CHECK(out.len == 0);
	CHECK_OK(pgp_cert_write(&ed_signer, T_KEY, "J\xc3\xbcrgen <j@example.org>", T_KEY, &out));
	rb_buf_free(&out);
}

/* ---- detached signatures ---------------------------------------------- */

static void check_detached(const struct rb_signer *signer, enum pgp_hash_algo hash)
{
	static const char data[] = "release 1.2.3\nsha256 ...\n";
	struct rb_buf sig = RB_BUF_INIT;
	struct pgp_key *key = NULL, *other = NULL;
	struct pgp_sig_parsed ps;
	char tampered[sizeof(data)];

	CHECK_OK(pgp_key_new(signer, T_KEY, &key));
	if (!key)
		return;
	CHECK_OK(pgp_sign_buffer(key, PGP_SIG_BINARY, hash, T_SIG, data, strlen(data), &sig));
	CHECK_OK(pgp_sig_verify_buffer(key, sig.data, sig.len, data, strlen(data)));
	CHECK_OK(pgp_sig_parse(sig.data, sig.len, &ps));
	CHECK(ps.type == 0 && ps.hash_algo == hash && ps.created == T_SIG);

	/* The attacks must fail: modified data, one more byte, a modified
	 * signature, a truncated one, another key. */
	memcpy(tampered, data, sizeof(data));
	tampered[8] ^= 1;
	CHECK_ERR(pgp_sig_verify_buffer(key, sig.data, sig.len, tampered, strlen(data)), RB_E_VERIFY);
	CHECK_ERR(pgp_sig_verify_buffer(key, sig.data, sig.len, data, strlen(data) + 1), RB_E_VERIFY);
	CHECK_ERR(pgp_sig_verify_buffer(key, sig.data, sig.len, data, 0), RB_E_VERIFY);
	sig.data[sig.len - 5] ^= 0x10;
	CHECK_ERR(pgp_sig_verify_buffer(key, sig.data, sig.len, data, strlen(data)), RB_E_VERIFY);
	sig.data[sig.len - 5] ^= 0x10;
	CHECK_ERR(pgp_sig_verify_buffer(key, sig.data, sig.len - 1, data, strlen(data)), RB_E_PARSE);
	CHECK_OK(pgp_key_new(signer, T_KEY - 1, &other)); /* same key material, other fingerprint */
	if (other)
		CHECK_ERR(pgp_sig_verify_buffer(other, sig.data, sig.len, data, strlen(data)),
			  RB_E_VERIFY);
	pgp_key_free(other);
	pgp_key_free(key);
	rb_buf_free(&sig);
}

static void test_detached_ed25519(void)
{
	check_detached(&ed_signer, PGP_HASH_SHA512);
	check_detached(&ed_signer, PGP_HASH_SHA256);
}

static void test_detached_rsa(void)
{
	check_detached(&rsa_signer, PGP_HASH_SHA512);
	check_detached(&rsa_signer, PGP_HASH_SHA256);
}

static void test_detached_wrong_key(void)
{
	struct pgp_key *ed = NULL, *rsa = NULL;
	struct rb_buf sig = RB_BUF_INIT;

	CHECK_OK(pgp_key_new(&ed_signer, T_KEY, &ed));
	CHECK_OK(pgp_key_new(&rsa_signer, T_KEY, &rsa));
	if (ed && rsa) {
		CHECK_OK(pgp_sign_buffer(ed, PGP_SIG_BINARY, PGP_HASH_SHA512, T_SIG, "x", 1, &sig));
		CHECK_ERR(pgp_sig_verify_buffer(rsa, sig.data, sig.len, "x", 1), RB_E_VERIFY);
	}
	pgp_key_free(ed);
	pgp_key_free(rsa);
	rb_buf_free(&sig);
}

static void test_text_mode(void)
{
	struct pgp_key *key = NULL;
	struct rb_buf sig = RB_BUF_INIT, out = RB_BUF_INIT;
	struct pgp_sig_ctx ctx = { 0 };

	CHECK_OK(pgp_key_new(&ed_signer, T_KEY, &key));
	if (!key)
		return;
	CHECK_OK(pgp_sign_buffer(key, PGP_SIG_TEXT, PGP_HASH_SHA512, T_SIG, "a\nb\n", 4, &sig));
	/* LF and CRLF are the same canonical text. */
	CHECK_OK(pgp_sig_verify_buffer(key, sig.data, sig.len, "a\nb\n", 4));
	CHECK_OK(pgp_sig_verify_buffer(key, sig.data, sig.len, "a\r\nb\r\n", 6));
	CHECK_ERR(pgp_sig_verify_buffer(key, sig.data, sig.len, "a\nb", 3), RB_E_VERIFY);
	/* A CRLF split across two updates is still one line end. */
	CHECK_OK(pgp_sig_init(&ctx, key, PGP_SIG_TEXT, PGP_HASH_SHA512, T_SIG));
	CHECK_OK(pgp_sig_update(&ctx, "a\r", 2));
	CHECK_OK(pgp_sig_update(&ctx, "\nb\n", 3));
	CHECK(pgp_sig_md(&ctx) == NULL); /* raw hash access would bypass CRLF */
	CHECK_OK(pgp_sig_finish(&ctx, &out));
	CHECK_OK(pgp_sig_verify_buffer(key, out.data, out.len, "a\nb\n", 4));
	pgp_sig_ctx_clear(&ctx);
	/* Lone CRs are refused, in the middle and at the end. */
	out.len = 0;
	CHECK_ERR(pgp_sign_buffer(key, PGP_SIG_TEXT, PGP_HASH_SHA512, T_SIG, "a\rb", 3, &out),
		  RB_E_INVAL);
	CHECK_ERR(pgp_sign_buffer(key, PGP_SIG_TEXT, PGP_HASH_SHA512, T_SIG, "a\r", 2, &out),
		  RB_E_INVAL);
	CHECK(out.len == 0);
	rb_buf_free(&sig);
	rb_buf_free(&out);
	pgp_key_free(key);
}

static void test_from_state(void)
{
	static const char part1[] = "first half of a file hashed by a remote client, ";
	static const char part2[] = "second half.";
	char whole[sizeof(part1) + sizeof(part2)];
	struct pgp_key *key = NULL;
	struct pgp_sig_ctx ctx = { 0 };
	struct rb_buf sig = RB_BUF_INIT;
	EVP_MD_CTX *state = EVP_MD_CTX_new();
	struct pgp_sig_parsed ps;

	snprintf(whole, sizeof(whole), "%s%s", part1, part2);
	CHECK_OK(pgp_key_new(&rsa_signer, T_KEY, &key));
	if (!key || !state)
		goto out;
	EVP_DigestInit_ex(state, EVP_sha256(), NULL);
	EVP_DigestUpdate(state, part1, strlen(part1));
	CHECK_OK(pgp_sig_init_from_state(&ctx, key, state, T_SIG));
	/* The caller's state is copied, not taken. */
	EVP_DigestUpdate(state, "unrelated", 9);
	CHECK(pgp_sig_md(&ctx) != NULL);
	EVP_DigestUpdate(pgp_sig_md(&ctx), part2, strlen(part2));
	CHECK_OK(pgp_sig_finish(&ctx, &sig));
	CHECK_OK(pgp_sig_parse(sig.data, sig.len, &ps));
	CHECK(ps.hash_algo == PGP_HASH_SHA256 && ps.type == 0);
	CHECK_OK(pgp_sig_verify_buffer(key, sig.data, sig.len, whole, strlen(whole)));
	CHECK_ERR(pgp_sig_verify_buffer(key, sig.data, sig.len, part1, strlen(part1)), RB_E_VERIFY);
	/* A spent ctx refuses more work. */
	CHECK_ERR(pgp_sig_update(&ctx, "x", 1), RB_E_STATE);
	CHECK_ERR(pgp_sig_finish(&ctx, &sig), RB_E_STATE);
	CHECK(pgp_sig_md(&ctx) == NULL);
	pgp_sig_ctx_clear(&ctx);
	/* SHA-1 (or anything else) is refused. */
	EVP_DigestInit_ex(state, EVP_sha1(), NULL);
	CHECK_ERR(pgp_sig_init_from_state(&ctx, key, state, T_SIG), RB_E_UNSUPPORTED);
	pgp_sig_ctx_clear(&ctx);
out:
	EVP_MD_CTX_free(state);
	rb_buf_free(&sig);
	pgp_key_free(key);
}

static void test_sign_fd(void)
{
	char path[] = "/tmp/rombsr-pgp-XXXXXX";
	struct pgp_key *key = NULL;
	struct rb_buf sig = RB_BUF_INIT;
	size_t n = 300 * 1024 + 17;
	uint8_t *data = malloc(n);
	int fd = mkstemp(path);

	CHECK(fd >= 0 && data);
	if (fd < 0 || !data)
		goto out;
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i ^ (i >> 8));
	CHECK(write(fd, data, n) == (ssize_t)n);
	lseek(fd, 0, SEEK_SET);
	CHECK_OK(pgp_key_new(&ed_signer, T_KEY, &key));
	if (!key)
		goto out;
	CHECK_OK(pgp_sign_fd(key, PGP_SIG_BINARY, PGP_HASH_SHA512, T_SIG, fd, &sig));
	CHECK_OK(pgp_sig_verify_buffer(key, sig.data, sig.len, data, n));
	data[n - 1] ^= 0x80;
	CHECK_ERR(pgp_sig_verify_buffer(key, sig.data, sig.len, data, n), RB_E_VERIFY);
	CHECK_ERR(pgp_sign_fd(key, PGP_SIG_BINARY, PGP_HASH_SHA512, T_SIG, -1, &sig), RB_E_INVAL);
out:
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	free(data);
	rb_buf_free(&sig);
	pgp_key_free(key);
}

static void test_sig_rejects(void)
{
	struct pgp_key *key = NULL;
	struct pgp_sig_ctx ctx = { 0 };
	struct rb_buf out = RB_BUF_INIT;

	CHECK_OK(pgp_key_new(&ed_signer, T_KEY, &key));
	if (!key)
		return;
	CHECK_ERR(pgp_sig_init(&ctx, key, PGP_SIG_POSITIVE_CERT, PGP_HASH_SHA512, T_SIG), RB_E_INVAL);
	CHECK_ERR(pgp_sig_init(&ctx, key, PGP_SIG_BINARY, (enum pgp_hash_algo)2, T_SIG),
		  RB_E_UNSUPPORTED); /* SHA-1 */
	CHECK_ERR(pgp_sig_init(&ctx, key, PGP_SIG_BINARY, PGP_HASH_SHA512, T_KEY - 1), RB_E_INVAL);
	CHECK_ERR(pgp_sig_init(&ctx, key, PGP_SIG_BINARY, PGP_HASH_SHA512, -5), RB_E_INVAL);
	CHECK_ERR(pgp_sig_update(&ctx, "x", 1), RB_E_STATE);
	CHECK_ERR(pgp_sig_finish(&ctx, &out), RB_E_STATE);
	pgp_sig_ctx_clear(&ctx);
	pgp_sig_ctx_clear(NULL);
	pgp_key_free(NULL);
	CHECK(out.len == 0);
	pgp_key_free(key);
}

/* A signer that misbehaves: the self-check in pgp_sig_finish must catch
 * it and release nothing. */
struct evil {
	const struct rb_signer *inner;
	int mode; /* 0: flip a bit of the signature; 1: sign another digest */
};

static int evil_sign(void *ctx, enum rb_sig_scheme scheme, const uint8_t *in, size_t inlen,
		     uint8_t **ret_sig, size_t *ret_len)
{
	struct evil *e = ctx;
	uint8_t other[64];
	int err;

	if (e->mode == 1) {
		memcpy(other, in, inlen < 64 ? inlen : 64);
		other[0] ^= 1;
		return rb_signer_sign(e->inner, scheme, other, inlen, ret_sig, ret_len);
	}
	if ((err = rb_signer_sign(e->inner, scheme, in, inlen, ret_sig, ret_len)) < 0)
		return err;
	(*ret_sig)[*ret_len / 2] ^= 0x04;
	return RB_OK;
}

static void test_evil_signer(void)
{
	const struct rb_signer *inners[] = { &ed_signer, &rsa_signer };

	for (size_t i = 0; i < ELEMENTSOF(inners); i++) {
		for (int mode = 0; mode < 2; mode++) {
			struct evil e = { inners[i], mode };
			struct rb_signer s = *inners[i];
			struct pgp_key *key = NULL;
			struct rb_buf out = RB_BUF_INIT;

			s.sign = evil_sign;
			s.ctx = &e;
			CHECK_OK(pgp_key_new(&s, T_KEY, &key));
			if (!key)
				continue;
			CHECK_ERR(pgp_sign_buffer(key, PGP_SIG_BINARY, PGP_HASH_SHA512, T_SIG, "d", 1, &out),
				  RB_E_VERIFY);
			CHECK_ERR(pgp_cert_write(&s, T_KEY, "x <x@example.org>", T_SIG, &out), RB_E_VERIFY);
			CHECK(out.len == 0);
			pgp_key_free(key);
			rb_buf_free(&out);
		}
	}
}

/* Signatures whose MPIs start with zero bits or a zero octet must round
 * trip: find one by signing varying data (about 1 in 128 Ed25519 and 1
 * in 256 RSA signatures has a leading zero octet). */
static void check_leading_zero(const struct rb_signer *signer, unsigned want_bits, unsigned max)
{
	struct pgp_key *key = NULL;
	bool found = false;

	CHECK_OK(pgp_key_new(signer, T_KEY, &key));
	for (unsigned i = 0; key && i < max && !found; i++) {
		struct rb_buf sig = RB_BUF_INIT;
		struct pgp_sig_parsed ps;
		char data[32];
		int n = snprintf(data, sizeof(data), "attempt %u", i);

		CHECK_OK(pgp_sign_buffer(key, PGP_SIG_BINARY, PGP_HASH_SHA512, T_SIG, data, (size_t)n,
					 &sig));
		if (pgp_sig_parse(sig.data, sig.len, &ps) == 0) {
			for (unsigned m = 0; m < ps.n_mpi; m++)
				if (ps.mpi_len[m] < want_bits / 8)
					found = true;
			if (found)
				CHECK_OK(pgp_sig_verify_buffer(key, sig.data, sig.len, data, (size_t)n));
		}
		rb_buf_free(&sig);
	}
	CHECK(found);
	pgp_key_free(key);
}

static void test_leading_zero_ed25519(void)
{
	check_leading_zero(&ed_signer, 256, 5000);
}

static void test_leading_zero_rsa(void)
{
	check_leading_zero(&rsa_signer, 2048, 5000);
}

int main(void)
{
	if (soft_signer_new("ed25519", &ed_signer) < 0 || soft_signer_new("rsa2048", &rsa_signer) < 0) {
		fprintf(stderr, "cannot create soft signers\n");
		return 1;
	}
	RUN(test_packet_length);
	RUN(test_packet_roundtrip);
	RUN(test_packet_parse_formats);
	RUN(test_mpi);
	RUN(test_mpi_parse_strict);
	RUN(test_crc24);
	RUN(test_armor_kat);
	RUN(test_armor_roundtrip);
	RUN(test_dearmor_foreign);
	RUN(test_fingerprint_alice_ed25519);
	RUN(test_fingerprint_bob_rsa);
	RUN(test_key_rejects);
	RUN(test_cert_ed25519);
	RUN(test_cert_rsa);
	RUN(test_cert_rejects);
	RUN(test_detached_ed25519);
	RUN(test_detached_rsa);
	RUN(test_detached_wrong_key);
	RUN(test_text_mode);
	RUN(test_from_state);
	RUN(test_sign_fd);
	RUN(test_sig_rejects);
	RUN(test_evil_signer);
	RUN(test_leading_zero_ed25519);
	RUN(test_leading_zero_rsa);
	soft_signer_free(&ed_signer);
	soft_signer_free(&rsa_signer);
	TEST_MAIN_END();
}
