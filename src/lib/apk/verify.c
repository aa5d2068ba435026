/* apk_verify_file / apk_verify_buffer: the order of checks is the order
 * of trust. The ZIP layout and the signing block are located first, each
 * signer's signatures are verified before anything it signed is used, and
 * only then are the claimed content digests compared with the file. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "apk/apk-internal.h"
#include "util/cleanup.h"
#include "util/err.h"

struct scheme_signers {
	int scheme;
	struct apk_signer s[APK_MAX_SIGNERS];
	size_t n;
};

static int digests_check(const struct apk_source *src, const struct apk_zip *z, uint64_t block_off,
			 const struct scheme_signers *sets, size_t n_sets)
{
	uint8_t d256[32], d512[64];
	bool want256 = false, want512 = false;
	int rc;

	for (size_t i = 0; i < n_sets; i++)
		for (size_t j = 0; j < sets[i].n; j++)
			for (size_t k = 0; k < sets[i].s[j].n_digests; k++) {
				if (sets[i].s[j].digests[k].alg->sha512)
					want512 = true;
				else
					want256 = true;
			}
	if ((rc = apk_digest_compute(src, z, block_off, want256, want512, d256, d512)) < 0)
		return rc;
	for (size_t i = 0; i < n_sets; i++)
		for (size_t j = 0; j < sets[i].n; j++)
			for (size_t k = 0; k < sets[i].s[j].n_digests; k++) {
				const struct apk_claimed_digest *d = &sets[i].s[j].digests[k];
				const uint8_t *want = d->alg->sha512 ? d512 : d256;

				if (CRYPTO_memcmp(want, d->digest, d->len) != 0)
					return rb_err_set(RB_E_VERIFY, "%s: v%d block, signer #%zu: %s content digest does not match the file; the APK's entries, central directory or EoCD changed after signing",
							  src->name, sets[i].scheme, j, d->alg->name);
			}
	return 0;
}

static void scheme_info_fill(struct apk_scheme_info *info, const struct scheme_signers *set)
{
	memset(info, 0, sizeof(*info));
	info->present = true;
	info->verified = true;
	info->n_signers = set->n;
	for (size_t i = 0; i < set->n; i++)
		info->signers[i] = set->s[i].info;
}

static int verify_source(const struct apk_source *src, struct apk_result *ret_result)
{
	struct apk_zip z;
	struct apk_sig_block b = { 0 };
	struct scheme_signers sets[2];
	struct apk_result res;
	size_t n_sets = 0;
	int rc;

	if (src->size > APK_MAX_FILE_BYTES)
		return rb_err_set(RB_E_TOOBIG, "%s: %llu bytes is over the %llu-byte APK cap", src->name,
				  (unsigned long long)src->size, (unsigned long long)APK_MAX_FILE_BYTES);
	if ((rc = apk_zip_find(src, &z)) < 0)
		return rc;
	if ((rc = apk_sig_block_read(src, &z, &b)) < 0)
		return rc;
	if (!b.v2 && !b.v3) {
		rc = rb_err_set(RB_E_NOTFOUND, "%s: the APK Signing Block at offset %llu has neither a v2 nor a v3 signature; sign the APK with v2 and/or v3",
				src->name, (unsigned long long)b.offset);
		goto out;
	}
	if (b.v2) {
		sets[n_sets].scheme = 2;
		if ((rc = apk_signers_verify(src->name, 2, b.v2, b.v2_len, sets[n_sets].s, &sets[n_sets].n)) < 0)
			goto out;
		/* Without this a v3-signed APK stripped of its v3 block
		 * would still verify, with whatever v2 signer it has. */
		for (size_t i = 0; !b.v3 && i < sets[n_sets].n; i++)
			if (sets[n_sets].s[i].claims_v3) {
				rc = rb_err_set(RB_E_VERIFY, "%s: v2 block, signer #%zu says the APK was also signed with v3, but there is no v3 block; it was stripped",
						src->name, i);
				goto out;
			}
		n_sets++;
	}
	if (b.v3) {
		sets[n_sets].scheme = 3;
		if ((rc = apk_signers_verify(src->name, 3, b.v3, b.v3_len, sets[n_sets].s, &sets[n_sets].n)) < 0)
			goto out;
		n_sets++;
	}
	if ((rc = digests_check(src, &z, b.offset, sets, n_sets)) < 0)
		goto out;

	memset(&res, 0, sizeof(res));
	res.file_size = src->size;
	res.sig_block_offset = b.offset;
	res.cd_offset = z.cd_offset;
	res.cd_size = z.cd_size;
	res.eocd_offset = z.eocd_offset;
	for (size_t i = 0; i < n_sets; i++)
		scheme_info_fill(sets[i].scheme == 2 ? &res.v2 : &res.v3, &sets[i]);
	*ret_result = res;
out:
	apk_sig_block_clear(&b);
	return rc;
}

int apk_verify_buffer(const uint8_t *data, size_t len, const char *source,
		      struct apk_result *ret_result)
{
	struct apk_source src = { source ? source : "APK", len, data, -1 };

	if ((!data && len) || !ret_result)
		return RB_E_INVAL;
	if (!data)
		src.mem = (const uint8_t *)"";
	return verify_source(&src, ret_result);
}

int apk_verify_file(const char *path, struct apk_result *ret_result)
{
	_cleanup_close_ int fd = -1;
	struct apk_source src = { path, 0, NULL, -1 };
	struct stat st;

	if (!path || !ret_result)
		return RB_E_INVAL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return rb_err_set(errno == ENOENT ? RB_E_NOTFOUND : RB_E_IO, "%s: cannot open: %s", path,
				  strerror(errno));
	if (fstat(fd, &st) < 0)
		return rb_err_set(RB_E_IO, "%s: fstat: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return rb_err_set(RB_E_INVAL, "%s: not a regular file", path);
	src.size = (uint64_t)st.st_size;
	src.fd = fd;
	return verify_source(&src, ret_result);
}
