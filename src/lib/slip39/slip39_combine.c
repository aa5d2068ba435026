/* slip39_combine: decode every mnemonic (checksums first), check that
 * they form one consistent set, recover each group's share, then the
 * encrypted master secret, then decrypt it with the passphrase. */
#include "slip39/slip39-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "util/secret.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct rb_secret *, rb_secret_free);

#define MAX_MNEMONICS (SLIP39_MAX_SHARES * SLIP39_MAX_SHARES)

struct combine_ws {
	uint8_t groups[SLIP39_MAX_SHARES][SLIP39_MAX_SECRET];
	uint8_t ems[SLIP39_MAX_SECRET];
};

static void shares_free(struct slip39_share **s, size_t n)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < n; i++)
		slip39_share_free(s[i]);
	free(s);
}

/* Re-set the detail of a failed decode with the mnemonic's number. */
static int combine_decode_err(int r, size_t i)
{
	char detail[RB_ERR_DETAIL_MAX];
	const char *d = rb_err_message(r);

	if (strncmp(d, "mnemonic: ", 10) == 0)
		d += 10;
	snprintf(detail, sizeof(detail), "%s", d);
	return rb_err_set(r, "mnemonic %zu: %s", i + 1, detail);
}

static int combine_check_set(struct slip39_share *const *s, size_t n)
{
	size_t i, j;

	for (i = 1; i < n; i++) {
		if (s[i]->identifier != s[0]->identifier || s[i]->extendable != s[0]->extendable ||
		    s[i]->iteration_exponent != s[0]->iteration_exponent)
			return rb_err_set(RB_E_INVAL,
					  "mnemonic %zu belongs to another share set than mnemonic 1 (its first words differ); use shares of one set only",
					  i + 1);
		if (s[i]->group_threshold != s[0]->group_threshold ||
		    s[i]->group_count != s[0]->group_count)
			return rb_err_set(RB_E_INVAL,
					  "mnemonic %zu has other group parameters than mnemonic 1; use shares of one set only",
					  i + 1);
		if (s[i]->value->len != s[0]->value->len)
			return rb_err_set(RB_E_INVAL,
					  "mnemonic %zu has another length than mnemonic 1; use shares of one set only",
					  i + 1);
	}
	for (i = 0; i < n; i++)
		for (j = 0; j < i; j++) {
			if (s[i]->group_index != s[j]->group_index)
				continue;
			if (s[i]->member_threshold != s[j]->member_threshold)
				return rb_err_set(RB_E_INVAL,
						  "mnemonics %zu and %zu are in group %u but disagree on its threshold",
						  j + 1, i + 1, s[i]->group_index + 1);
			if (s[i]->member_index == s[j]->member_index)
				return rb_err_set(RB_E_INVAL,
						  "mnemonics %zu and %zu are the same share (member %u of group %u); give each share once",
						  j + 1, i + 1, s[i]->member_index + 1,
						  s[i]->group_index + 1);
		}
	return RB_OK;
}

int slip39_combine(const struct rb_secret *const *mnemonics, size_t n,
		   const struct rb_secret *passphrase, struct rb_secret **ret)
{
	_cleanup_(rb_secret_freep) struct rb_secret *ws_mem = NULL, *master = NULL;
	struct slip39_point gpts[SLIP39_MAX_SHARES], mpts[SLIP39_MAX_SHARES];
	struct slip39_share **s = NULL;
	struct combine_ws *ws;
	size_t i, len, ngroups = 0, nm;
	unsigned g;
	int r;

	if (!mnemonics || !ret)
		return rb_err_set(RB_E_INVAL, "slip39_combine: NULL argument");
	if (n == 0)
		return rb_err_set(RB_E_INVAL, "slip39_combine: no mnemonics given");
	if (n > MAX_MNEMONICS)
		return rb_err_set(RB_E_TOOBIG, "slip39_combine: %zu mnemonics, over %d", n,
				  MAX_MNEMONICS);
	s = calloc(n, sizeof(*s));
	if (!s)
		return RB_E_NOMEM;
	/* every checksum is checked before anything is combined */
	for (i = 0; i < n; i++) {
		if (!mnemonics[i]) {
			r = rb_err_set(RB_E_INVAL, "slip39_combine: mnemonic %zu is NULL", i + 1);
			goto out;
		}
		r = slip39_decode((const char *)mnemonics[i]->data, mnemonics[i]->len, &s[i]);
		if (r < 0) {
			r = combine_decode_err(r, i);
			goto out;
		}
	}
	r = combine_check_set(s, n);
	if (r < 0)
		goto out;
	len = s[0]->value->len;
	r = rb_secret_new(sizeof(*ws), &ws_mem);
	if (r < 0)
		goto out;
	ws = (struct combine_ws *)ws_mem->data;

	for (g = 0; g < s[0]->group_count; g++) {
		uint8_t mt = 0;

		nm = 0;
		for (i = 0; i < n; i++)
			if (s[i]->group_index == g) {
				mpts[nm].x = s[i]->member_index;
				mpts[nm].y = s[i]->value->data;
				mt = s[i]->member_threshold;
				nm++;
			}
		if (nm == 0)
			continue;
		if (nm != mt) {
			r = rb_err_set(RB_E_INVAL,
				       "group %u: %zu shares given, %u needed; give exactly %u shares of this group",
				       g + 1, nm, mt, mt);
			goto out;
		}
		r = slip39_sss_recover(mt, mpts, nm, len, ws->groups[ngroups]);
		if (r < 0) {
			r = rb_err_set(r, "group %u: %s", g + 1, "the member shares do not combine (digest mismatch): one is wrong or from another set");
			goto out;
		}
		gpts[ngroups].x = (uint8_t)g;
		gpts[ngroups].y = ws->groups[ngroups];
		ngroups++;
	}
	if (ngroups != s[0]->group_threshold) {
		r = rb_err_set(RB_E_INVAL, "shares of %zu groups given, %u needed; give shares of exactly %u groups",
			       ngroups, s[0]->group_threshold, s[0]->group_threshold);
		goto out;
	}
	r = slip39_sss_recover(s[0]->group_threshold, gpts, ngroups, len, ws->ems);
	if (r < 0)
		goto out;
	r = rb_secret_new(len, &master);
	if (r < 0)
		goto out;
	r = slip39_cipher_run(ws->ems, len, passphrase, s[0]->iteration_exponent, s[0]->identifier,
			      s[0]->extendable, false, master->data);
	if (r < 0)
		goto out;
	master->len = len;
	*ret = TAKE_PTR(master);
	r = RB_OK;
out:
	shares_free(s, n);
	return r;
}
