/* What apksigner asks an APK signing key to sign, besides the v2/v3
 * signed data (signed_data.c): the v4 signing data behind a .idsig file
 * and the v1 JAR signature file. apk_signer_input_check() tells the four
 * apart and checks the certificate each names, for the sign node. */
#include <string.h>

#include <openssl/evp.h>

#include "apk/apk-internal.h"
#include "crypto/signer.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/utf8.h"

#define V4_HASH_SHA256 1
#define V4_LOG2_BLOCK 12
#define SF_FIRST_LINE "Signature-Version: 1.0\r\n"
#define SF_LINE_MAX 72 /* bytes, without CR LF (JAR specification) */

const char *apk_signed_kind_name(enum apk_signed_kind k)
{
	switch (k) {
	case APK_SIGNED_V1_SF:
		return "v1 signature file";
	case APK_SIGNED_V2:
		return "v2 signed data";
	case APK_SIGNED_V3:
		return "v3 signed data";
	case APK_SIGNED_V4:
		return "v4 signing data";
	}
	return NULL;
}

int apk_v4_signing_data_parse(const char *where, const uint8_t *data, size_t len,
			      struct apk_v4_signing_data *ret)
{
	struct rb_reader r, salt, root, digest, cert, extra;
	uint32_t size, hash;
	uint64_t file_size;
	uint8_t log2;

	rb_reader_init(&r, data, len);
	if (rb_reader_get_u32le(&r, &size) < 0 || size != len)
		return rb_err_set(RB_E_PARSE, "%s: v4 signing data does not start with its own length (%zu bytes)",
				  where, len);
	if (rb_reader_get_u64le(&r, &file_size) < 0 || rb_reader_get_u32le(&r, &hash) < 0 ||
	    rb_reader_get_u8(&r, &log2) < 0 || apk_get_lp(&r, &salt) < 0 || apk_get_lp(&r, &root) < 0 ||
	    apk_get_lp(&r, &digest) < 0 || apk_get_lp(&r, &cert) < 0 || apk_get_lp(&r, &extra) < 0 ||
	    rb_reader_expect_end(&r) < 0)
		return rb_err_set(RB_E_PARSE, "%s: v4 signing data is malformed (file size, hash algorithm, block size, "
				  "salt, root hash, APK digest, certificate, additional data)", where);
	if (file_size > APK_MAX_FILE_BYTES)
		return rb_err_set(RB_E_PARSE, "%s: v4 signing data is for a file of %llu bytes, over %llu", where,
				  (unsigned long long)file_size, (unsigned long long)APK_MAX_FILE_BYTES);
	if (hash != V4_HASH_SHA256 || log2 != V4_LOG2_BLOCK || salt.len != 0 || root.len != 32)
		return rb_err_set(RB_E_PARSE, "%s: v4 hashing is algorithm %u, 2^%u-byte blocks, %zu-byte salt, "
				  "%zu-byte root; apksigner writes SHA-256 (1), 4096-byte blocks, no salt, a 32-byte root",
				  where, hash, log2, salt.len, root.len);
	if ((digest.len != 32 && digest.len != 64) || cert.len == 0 || extra.len != 0)
		return rb_err_set(RB_E_PARSE, "%s: v4 signing data has a %zu-byte APK digest, a %zu-byte certificate "
				  "and %zu bytes of additional data; apksigner writes 32 or 64, at least 1, and 0",
				  where, digest.len, cert.len, extra.len);
	*ret = (struct apk_v4_signing_data){ file_size, root.p, digest.p, digest.len, cert.p, cert.len };
	return 0;
}

static bool sf_name_char(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '-';
}

/* The end of the line at i (the index of its CR), or 0 with an error. */
static int sf_line_end(const char *where, const uint8_t *p, size_t len, size_t i, size_t line, size_t *ret)
{
	size_t j = i;

	while (j < len && p[j] != '\r') {
		uint32_t cp;
		const char *why = "";
		size_t n;

		if (p[j] < 0x20 || p[j] == 0x7f)
			return rb_err_set(RB_E_PARSE, "%s: v1 signature file line %zu holds control byte 0x%02x",
					  where, line, p[j]);
		if (p[j] < 0x80) {
			j++;
			continue;
		}
		if (!(n = rb_utf8_decode(p + j, len - j, &cp, &why)))
			return rb_err_set(RB_E_PARSE, "%s: v1 signature file line %zu is not UTF-8: %s", where,
					  line, why);
		j += n;
	}
	if (j + 1 >= len || p[j + 1] != '\n')
		return rb_err_set(RB_E_PARSE, "%s: v1 signature file line %zu does not end in CR LF", where, line);
	if (j - i > SF_LINE_MAX)
		return rb_err_set(RB_E_PARSE, "%s: v1 signature file line %zu is %zu bytes, over %d", where, line,
				  j - i, SF_LINE_MAX);
	*ret = j;
	return 0;
}

int apk_jar_sf_check(const char *where, const uint8_t *p, size_t len)
{
	const size_t first = strlen(SF_FIRST_LINE);
	bool blank = false, header = false;
	size_t i = 0, line = 1, end = 0;
	int rc;

	if (len < first || memcmp(p, SF_FIRST_LINE, first) != 0)
		return rb_err_set(RB_E_PARSE, "%s: a v1 signature file starts with \"Signature-Version: 1.0\" "
				  "and CR LF", where);
	for (; i < len; i = end + 2, line++) {
		size_t k = 0;

		if ((rc = sf_line_end(where, p, len, i, line, &end)) < 0)
			return rc;
		if (end == i) {
			/* The empty line ends a section; sections are never empty. */
			if (blank)
				return rb_err_set(RB_E_PARSE, "%s: v1 signature file has an empty section at line %zu",
						  where, line);
			blank = true;
			header = false;
			continue;
		}
		blank = false;
		if (p[i] == ' ') {
			if (!header)
				return rb_err_set(RB_E_PARSE, "%s: v1 signature file line %zu continues no header",
						  where, line);
			continue;
		}
		while (i + k < end && sf_name_char(p[i + k]))
			k++;
		if (k == 0 || p[i] == '_' || p[i] == '-' || end - i - k < 2 || p[i + k] != ':' || p[i + k + 1] != ' ')
			return rb_err_set(RB_E_PARSE, "%s: v1 signature file line %zu is not \"Name: value\"", where,
					  line);
		header = true;
	}
	if (!blank)
		return rb_err_set(RB_E_PARSE, "%s: v1 signature file does not end with an empty line", where);
	return 0;
}

/* The first 8 bytes of SHA-256 of a certificate, as hex, for details. */
static void cert_tag(const uint8_t *cert, size_t len, char out[17])
{
	_cleanup_free_ char *hex = NULL;
	uint8_t d[32];
	size_t n;

	strcpy(out, "?");
	if (rb_digest(EVP_sha256(), cert, len, d, &n) == 0 && rb_hex_encode(d, 8, &hex) == 0)
		memcpy(out, hex, 17);
}

static int signed_data_either(const char *where, const uint8_t *data, size_t len,
			      struct apk_signed_data *sd, enum apk_signed_kind *kind)
{
	char v2[RB_ERR_DETAIL_MAX];
	int err;

	if ((err = apk_signed_data_parse("v2", 2, data, len, sd)) == 0) {
		*kind = APK_SIGNED_V2;
		return 0;
	}
	rb_err_save(err, v2);
	if ((err = apk_signed_data_parse("v3", 3, data, len, sd)) == 0) {
		*kind = APK_SIGNED_V3;
		return 0;
	}
	return rb_err_set(RB_E_PARSE, "%s: %zu bytes that are no structure an APK key signs (v2/v3 signed data, "
			  "v4 signing data, v1 signature file): as signed data, %s; %s", where, len, v2,
			  rb_err_message(err));
}

int apk_signer_input_check(const char *where, const uint8_t *data, size_t len,
			   const uint8_t *cert, size_t cert_len, enum apk_signed_kind *ret_kind)
{
	static const char sf[] = "Signature-Version:";
	enum apk_signed_kind kind = APK_SIGNED_V2;
	const uint8_t *named;
	size_t named_len;
	char want[17], got[17];
	int rc;

	if (!data && len > 0)
		return rb_err_set(RB_E_INVAL, "%s: no data", where);
	if (len >= sizeof(sf) - 1 && memcmp(data, sf, sizeof(sf) - 1) == 0) {
		if ((rc = apk_jar_sf_check(where, data, len)) < 0)
			return rc;
		kind = APK_SIGNED_V1_SF;
		named = NULL;
		named_len = 0;
	} else if (len >= 4 && (data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 |
				(size_t)data[3] << 24) == len) {
		/* v2/v3 signed data starts with the length of its digests,
		 * which is always less than the whole. */
		struct apk_v4_signing_data v4;

		if ((rc = apk_v4_signing_data_parse(where, data, len, &v4)) < 0)
			return rc;
		kind = APK_SIGNED_V4;
		named = v4.cert;
		named_len = v4.cert_len;
	} else {
		struct apk_signed_data sd;

		if ((rc = signed_data_either(where, data, len, &sd, &kind)) < 0)
			return rc;
		named = sd.cert;
		named_len = sd.cert_len;
	}
	if (named && (named_len != cert_len || memcmp(named, cert, cert_len) != 0)) {
		cert_tag(named, named_len, got);
		cert_tag(cert, cert_len, want);
		return rb_err_set(RB_E_VERIFY, "%s: the %s names the certificate with SHA-256 %s..., not the key's "
				  "own certificate %s...: a key signs only for its own identity", where,
				  apk_signed_kind_name(kind), got, want);
	}
	if (ret_kind)
		*ret_kind = kind;
	return 0;
}
