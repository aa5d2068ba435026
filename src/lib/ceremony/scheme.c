/* Share schemes: checking one, counting its minimal share sets, and
 * splitting the wrap key into SLIP-0039 mnemonics. */
#include <stdlib.h>
#include <string.h>

#include "ceremony/ceremony.h"
#include "util/cleanup.h"
#include "util/err.h"

static uint64_t binomial(unsigned n, unsigned k)
{
	uint64_t r = 1;

	if (k > n)
		return 0;
	/* Exact at every step: r * (n - i) is divisible by i + 1. */
	for (unsigned i = 0; i < k; i++)
		r = r * (n - i) / (i + 1);
	return r;
}

int ceremony_scheme_check(const struct ceremony_scheme *s, uint64_t *ret_subsets)
{
	unsigned total = 0;
	uint64_t subsets = 0;

	if (!s)
		return rb_err_set(RB_E_INVAL, "no share scheme given");
	if (s->n_groups < 1 || s->n_groups > CEREMONY_MAX_GROUPS)
		return rb_err_set(RB_E_INVAL, "%zu share groups; use 1 to %d", s->n_groups, CEREMONY_MAX_GROUPS);
	if (s->group_threshold < 1 || s->group_threshold > s->n_groups)
		return rb_err_set(RB_E_INVAL, "group threshold %u with %zu groups; use 1 to %zu",
				  s->group_threshold, s->n_groups, s->n_groups);
	if (s->iteration_exponent > SLIP39_MAX_ITERATION_EXPONENT)
		return rb_err_set(RB_E_INVAL, "iteration exponent %u; use 0 to %d", s->iteration_exponent,
				  SLIP39_MAX_ITERATION_EXPONENT);
	for (size_t i = 0; i < s->n_groups; i++) {
		const struct slip39_group_spec *g = &s->groups[i];

		if (g->count < 1 || g->threshold < 1 || g->threshold > g->count)
			return rb_err_set(RB_E_INVAL, "group %zu: threshold %u of %u shares; the threshold must be "
					  "1 to the number of shares", i + 1, g->threshold, g->count);
		/* SLIP-0039 forbids 1-of-n: n copies of one share. */
		if (g->threshold == 1 && g->count > 1)
			return rb_err_set(RB_E_INVAL, "group %zu: 1-of-%u would hand out %u copies of one share; "
					  "use a threshold of at least 2, or 1-of-1", i + 1, g->count, g->count);
		total += g->count;
	}
	if (total > CEREMONY_MAX_SHARES)
		return rb_err_set(RB_E_INVAL, "%u shares in all; a ceremony makes at most %d", total,
				  CEREMONY_MAX_SHARES);
	/* Every choice of group_threshold groups (a bit mask), times the
	 * member subsets inside each chosen group. */
	for (unsigned mask = 1; mask < (1u << s->n_groups); mask++) {
		uint64_t prod = 1;

		if ((unsigned)__builtin_popcount(mask) != s->group_threshold)
			continue;
		for (size_t i = 0; i < s->n_groups; i++)
			if (mask & (1u << i))
				prod *= binomial(s->groups[i].count, s->groups[i].threshold);
		subsets += prod;
		if (subsets > CEREMONY_MAX_SUBSETS)
			return rb_err_set(RB_E_LIMIT, "this scheme has more than %d minimal share sets, too many to "
					  "check each one at the ceremony; use fewer shares or a threshold further "
					  "from half the shares", CEREMONY_MAX_SUBSETS);
	}
	if (ret_subsets)
		*ret_subsets = subsets;
	return RB_OK;
}

void ceremony_split_free(struct ceremony_split *s)
{
	if (!s)
		return;
	slip39_mnemonics_free(s->mnemonics, s->n);
	free(s->group_index);
	free(s->member_index);
	free(s);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct ceremony_split *, ceremony_split_free)

int ceremony_split_key(const struct rb_secret *key, const struct ceremony_scheme *s,
		       const struct rb_secret *passphrase, struct ceremony_split **ret)
{
	_cleanup_(ceremony_split_freep) struct ceremony_split *out = NULL;
	uint8_t group, member;
	int err;

	if (!key || key->len != CEREMONY_KEY_LEN)
		return rb_err_set(RB_E_INVAL, "a wrap key is %d bytes, not %zu", CEREMONY_KEY_LEN,
				  key ? key->len : 0);
	if ((err = ceremony_scheme_check(s, NULL)) < 0)
		return err;
	if (passphrase && passphrase->len > CEREMONY_PASSPHRASE_MAX)
		return rb_err_set(RB_E_TOOBIG, "the passphrase is longer than %d bytes", CEREMONY_PASSPHRASE_MAX);
	if (!(out = calloc(1, sizeof(*out))))
		return RB_E_NOMEM;
	out->scheme = *s;
	if ((err = slip39_split(key, s->group_threshold, s->groups, s->n_groups, passphrase,
				s->iteration_exponent, s->extendable, &out->mnemonics, &out->n)) < 0)
		return err;
	if (!(out->group_index = calloc(out->n, 1)) || !(out->member_index = calloc(out->n, 1)))
		return RB_E_NOMEM;
	for (size_t i = 0; i < out->n; i++) {
		if ((err = ceremony_mnemonic_ids(out->mnemonics[i], &out->identifier, &group, &member)) < 0)
			return err;
		out->group_index[i] = group;
		out->member_index[i] = member;
	}
	*ret = TAKE_PTR(out);
	return RB_OK;
}
