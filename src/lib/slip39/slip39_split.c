/* slip39_split: encrypt the master secret, share it among groups, then
 * among each group's members, and encode every member share. */
#include "slip39/slip39-internal.h"

#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "util/secret.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct rb_secret *, rb_secret_free);

struct split_ws {
	uint8_t ems[SLIP39_MAX_SECRET];
	uint8_t groups[SLIP39_MAX_SHARES][SLIP39_MAX_SECRET];
	uint8_t members[SLIP39_MAX_SHARES][SLIP39_MAX_SECRET];
};

void slip39_mnemonics_free(struct rb_secret **mnemonics, size_t n)
{
	size_t i;

	if (!mnemonics)
		return;
	for (i = 0; i < n; i++)
		rb_secret_free(mnemonics[i]);
	free(mnemonics);
}

static int split_check_params(const struct rb_secret *master, uint8_t group_threshold,
			      const struct slip39_group_spec *groups, size_t n_groups,
			      const struct rb_secret *passphrase, uint8_t iteration_exponent)
{
	size_t i;

	if (!master || !groups)
		return rb_err_set(RB_E_INVAL, "slip39_split: NULL argument");
	if (master->len < SLIP39_MIN_SECRET || master->len > SLIP39_MAX_SECRET || master->len % 2)
		return rb_err_set(RB_E_INVAL,
				  "slip39_split: master secret of %zu bytes; use an even length of 16 to 32 bytes",
				  master->len);
	if (n_groups < 1 || n_groups > SLIP39_MAX_SHARES)
		return rb_err_set(RB_E_INVAL, "slip39_split: %zu groups; use 1 to %d", n_groups,
				  SLIP39_MAX_SHARES);
	if (group_threshold < 1 || group_threshold > n_groups)
		return rb_err_set(RB_E_INVAL, "slip39_split: group threshold %u with %zu groups",
				  group_threshold, n_groups);
	for (i = 0; i < n_groups; i++) {
		if (groups[i].count < 1 || groups[i].count > SLIP39_MAX_SHARES)
			return rb_err_set(RB_E_INVAL, "slip39_split: group %zu has %u members; use 1 to %d",
					  i + 1, groups[i].count, SLIP39_MAX_SHARES);
		if (groups[i].threshold < 1 || groups[i].threshold > groups[i].count)
			return rb_err_set(RB_E_INVAL, "slip39_split: group %zu threshold %u of %u members",
					  i + 1, groups[i].threshold, groups[i].count);
		/* a 1-of-n group would hand out n copies of the same share */
		if (groups[i].threshold == 1 && groups[i].count > 1)
			return rb_err_set(RB_E_INVAL,
					  "slip39_split: group %zu is 1-of-%u; use 1-of-1 instead of copies of one share",
					  i + 1, groups[i].count);
	}
	if (iteration_exponent > SLIP39_MAX_ITERATION_EXPONENT)
		return rb_err_set(RB_E_INVAL, "slip39_split: iteration exponent %u over %d",
				  iteration_exponent, SLIP39_MAX_ITERATION_EXPONENT);
	if (passphrase)
		for (i = 0; i < passphrase->len; i++)
			if (passphrase->data[i] < 32 || passphrase->data[i] > 126)
				return rb_err_set(RB_E_INVAL,
						  "slip39_split: the passphrase must be printable ASCII (32..126)");
	return RB_OK;
}

int slip39_split(const struct rb_secret *master, uint8_t group_threshold,
		 const struct slip39_group_spec *groups, size_t n_groups,
		 const struct rb_secret *passphrase, uint8_t iteration_exponent, bool extendable,
		 struct rb_secret ***ret_mnemonics, size_t *ret_n)
{
	_cleanup_(rb_secret_freep) struct rb_secret *ws_mem = NULL;
	struct rb_secret **out = NULL;
	struct split_ws *ws;
	struct slip39_share share = { 0 };
	size_t total = 0, g, m, k = 0, len;
	uint8_t idbytes[2];
	int r;

	if (!ret_mnemonics || !ret_n)
		return rb_err_set(RB_E_INVAL, "slip39_split: NULL argument");
	r = split_check_params(master, group_threshold, groups, n_groups, passphrase,
			       iteration_exponent);
	if (r < 0)
		return r;
	len = master->len;
	for (g = 0; g < n_groups; g++)
		total += groups[g].count;
	r = rb_secret_new(sizeof(*ws), &ws_mem);
	if (r < 0)
		return r;
	ws = (struct split_ws *)ws_mem->data;
	r = rb_random_bytes(idbytes, sizeof(idbytes));
	if (r < 0)
		return r;
	share.identifier = (uint16_t)(((idbytes[0] << 8) | idbytes[1]) & 0x7FFF);
	share.extendable = extendable;
	share.iteration_exponent = iteration_exponent;
	share.group_threshold = group_threshold;
	share.group_count = (uint8_t)n_groups;
	r = slip39_cipher_run(master->data, len, passphrase, iteration_exponent, share.identifier,
			      extendable, true, ws->ems);
	if (r < 0)
		return r;
	r = slip39_sss_split(group_threshold, (uint8_t)n_groups, ws->ems, len, ws->groups);
	if (r < 0)
		return r;
	r = rb_secret_new(len, &share.value);
	if (r < 0)
		return r;
	share.value->len = len;
	out = calloc(total, sizeof(*out));
	if (!out) {
		rb_secret_free(share.value);
		return RB_E_NOMEM;
	}
	for (g = 0; g < n_groups; g++) {
		r = slip39_sss_split(groups[g].threshold, groups[g].count, ws->groups[g], len,
				     ws->members);
		if (r < 0)
			goto fail;
		share.group_index = (uint8_t)g;
		share.member_threshold = groups[g].threshold;
		for (m = 0; m < groups[g].count; m++, k++) {
			share.member_index = (uint8_t)m;
			memcpy(share.value->data, ws->members[m], len);
			r = rb_secret_new(SLIP39_MAX_MNEMONIC_LEN, &out[k]);
			if (r < 0)
				goto fail;
			r = slip39_share_encode(&share, out[k]);
			if (r < 0)
				goto fail;
		}
	}
	rb_secret_free(share.value);
	*ret_mnemonics = out;
	*ret_n = total;
	return RB_OK;
fail:
	rb_secret_free(share.value);
	slip39_mnemonics_free(out, total);
	return r;
}
