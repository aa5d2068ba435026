/* Shamir sharing of one secret at one level (groups or members), with
 * the SLIP-0039 digest share at x = 254 and the secret at x = 255. */
#include "slip39/slip39-internal.h"

#include <string.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "util/secret.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct rb_secret *, rb_secret_free);

struct sss_ws {
	uint8_t digest_share[SLIP39_MAX_SECRET];
	uint8_t check[SLIP39_MAX_SECRET];
};

int slip39_sss_split(uint8_t threshold, uint8_t count, const uint8_t *secret, size_t len,
		     uint8_t out[][SLIP39_MAX_SECRET])
{
	_cleanup_(rb_secret_freep) struct rb_secret *ws_mem = NULL;
	struct slip39_point pts[SLIP39_MAX_SHARES];
	struct sss_ws *ws;
	size_t i, nbase;
	int r;

	if (threshold == 1) {
		/* 1-of-n: every share is the secret and no digest is used */
		for (i = 0; i < count; i++)
			memcpy(out[i], secret, len);
		return RB_OK;
	}
	r = rb_secret_new(sizeof(*ws), &ws_mem);
	if (r < 0)
		return r;
	ws = (struct sss_ws *)ws_mem->data;
	for (i = 0; i + 2 < threshold; i++) {
		r = rb_random_bytes(out[i], len);
		if (r < 0)
			return r;
		pts[i].x = (uint8_t)i;
		pts[i].y = out[i];
	}
	r = rb_random_bytes(ws->digest_share + SLIP39_DIGEST_LEN, len - SLIP39_DIGEST_LEN);
	if (r < 0)
		return r;
	r = slip39_digest(ws->digest_share + SLIP39_DIGEST_LEN, len - SLIP39_DIGEST_LEN, secret, len,
			  ws->digest_share);
	if (r < 0)
		return r;
	nbase = threshold - 2;
	pts[nbase].x = SLIP39_DIGEST_INDEX;
	pts[nbase].y = ws->digest_share;
	pts[nbase + 1].x = SLIP39_SECRET_INDEX;
	pts[nbase + 1].y = secret;
	for (i = nbase; i < count; i++)
		slip39_interpolate(pts, threshold, len, (uint8_t)i, out[i]);
	return RB_OK;
}

int slip39_sss_recover(uint8_t threshold, const struct slip39_point *pts, size_t n, size_t len,
		       uint8_t *out)
{
	_cleanup_(rb_secret_freep) struct rb_secret *ws_mem = NULL;
	struct sss_ws *ws;
	uint8_t digest[SLIP39_DIGEST_LEN];
	bool ok;
	int r;

	if (threshold == 1) {
		memcpy(out, pts[0].y, len);
		return RB_OK;
	}
	r = rb_secret_new(sizeof(*ws), &ws_mem);
	if (r < 0)
		return r;
	ws = (struct sss_ws *)ws_mem->data;
	slip39_interpolate(pts, n, len, SLIP39_SECRET_INDEX, ws->check);
	slip39_interpolate(pts, n, len, SLIP39_DIGEST_INDEX, ws->digest_share);
	r = slip39_digest(ws->digest_share + SLIP39_DIGEST_LEN, len - SLIP39_DIGEST_LEN, ws->check,
			  len, digest);
	if (r < 0)
		return r;
	ok = rb_ct_equal(digest, sizeof(digest), ws->digest_share, SLIP39_DIGEST_LEN);
	rb_wipe(digest, sizeof(digest));
	if (!ok)
		return rb_err_set(RB_E_VERIFY,
				  "slip39: the shares do not combine (digest mismatch): one of them is wrong or from another set");
	memcpy(out, ws->check, len);
	return RB_OK;
}
