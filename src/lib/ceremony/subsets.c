/* Recombining shares: one set into the wrap key (restore, verify), and
 * every minimal subset of a set into the same key (init), compared by
 * fingerprint only. */
#include <stdio.h>
#include <string.h>

#include "ceremony/ceremony.h"
#include "util/cleanup.h"
#include "util/err.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct rb_secret *, rb_secret_free)

struct subset_walk {
	const struct rb_secret *const *mnemonics;
	const struct rb_secret *passphrase;
	const uint8_t *expect;
	uint8_t group_threshold;
	uint8_t member_threshold[CEREMONY_MAX_GROUPS];
	size_t in_group[CEREMONY_MAX_GROUPS];          /* shares given per group */
	size_t by_group[CEREMONY_MAX_GROUPS][CEREMONY_MAX_SHARES];
	uint8_t member_of[CEREMONY_MAX_SHARES];
	uint8_t group_of[CEREMONY_MAX_SHARES];
	size_t pick[CEREMONY_MAX_SHARES];
	size_t n_pick;
	bool count_only;
	bool first_only;                               /* stop at the first subset, keep pick */
	uint64_t count;
};

static int walk_check_one(struct subset_walk *w)
{
	_cleanup_(rb_secret_freep) struct rb_secret *key = NULL;
	const struct rb_secret *set[CEREMONY_MAX_SHARES];
	uint8_t fpr[P11_WRAP_FPR_LEN];
	char names[CEREMONY_MAX_SHARES * 12] = "";
	int err;

	w->count++;
	if (w->first_only)
		return 1; /* not an error: unwinds the walk with pick intact */
	if (w->count_only)
		return RB_OK;
	for (size_t i = 0; i < w->n_pick; i++)
		set[i] = w->mnemonics[w->pick[i]];
	err = slip39_combine(set, w->n_pick, w->passphrase, &key);
	if (err == RB_OK)
		err = ceremony_key_fingerprint(key, fpr);
	/* Wipe before anything else: at most one recombined key exists. */
	rb_secret_free(TAKE_PTR(key));
	if (err == RB_OK && rb_ct_equal(fpr, sizeof(fpr), w->expect, P11_WRAP_FPR_LEN))
		return RB_OK;
	for (size_t i = 0; i < w->n_pick; i++) {
		size_t l = strlen(names);

		snprintf(names + l, sizeof(names) - l, "%s%u.%u", i ? ", " : "", w->group_of[w->pick[i]] + 1u,
			 w->member_of[w->pick[i]] + 1u);
	}
	return rb_err_set(RB_E_VERIFY, "the shares (group.member) %s do not recombine to the wrap key%s%s; this "
			  "share set is unusable - do not hand it out", names, err < 0 ? ": " : "",
			  err < 0 ? rb_err_message(err) : "");
}

static int walk_groups(struct subset_walk *w, size_t from, unsigned groups_left);

static int walk_members(struct subset_walk *w, size_t g, size_t from, unsigned left, unsigned groups_left)
{
	int err;

	if (left == 0)
		return walk_groups(w, g + 1, groups_left - 1);
	for (size_t i = from; i + left <= w->in_group[g]; i++) {
		w->pick[w->n_pick++] = w->by_group[g][i];
		err = walk_members(w, g, i + 1, left - 1, groups_left);
		if (err != 0)
			return err;
		w->n_pick--;
		if (w->count > CEREMONY_MAX_SUBSETS)
			return rb_err_set(RB_E_LIMIT, "these shares have more than %d minimal subsets; check a "
					  "smaller set", CEREMONY_MAX_SUBSETS);
	}
	return RB_OK;
}

static int walk_groups(struct subset_walk *w, size_t from, unsigned groups_left)
{
	int err;

	if (groups_left == 0)
		return walk_check_one(w);
	for (size_t g = from; g < CEREMONY_MAX_GROUPS; g++) {
		if (w->in_group[g] == 0 || w->in_group[g] < w->member_threshold[g])
			continue;
		if ((err = walk_members(w, g, 0, w->member_threshold[g], groups_left)) != 0)
			return err;
	}
	return RB_OK;
}

/* Decode every share's public fields and check that they form one share
 * set of one ceremony. */
static int walk_init(struct subset_walk *w, const struct rb_secret *const *mnemonics, size_t n)
{
	uint16_t id0 = 0;
	uint8_t gt0 = 0, gc0 = 0, e0 = 0;
	bool x0 = false;

	for (size_t i = 0; i < n; i++) {
		struct slip39_share *sh = NULL;
		uint8_t g, m;
		int err;

		if ((err = slip39_decode((const char *)mnemonics[i]->data, mnemonics[i]->len, &sh)) < 0)
			return rb_err_set(err, "share %zu: %s", i + 1, rb_err_message(err));
		g = sh->group_index;
		m = sh->member_index;
		if (i == 0) {
			id0 = sh->identifier;
			gt0 = sh->group_threshold;
			gc0 = sh->group_count;
			e0 = sh->iteration_exponent;
			x0 = sh->extendable;
		}
		if (sh->identifier != id0 || sh->group_threshold != gt0 || sh->group_count != gc0 ||
		    sh->iteration_exponent != e0 || sh->extendable != x0) {
			unsigned id = sh->identifier;

			slip39_share_free(sh);
			return rb_err_set(RB_E_INVAL, "share %zu is from another ceremony (identifier %u, share 1 has "
					  "%u); use the shares of one ceremony only", i + 1, id, (unsigned)id0);
		}
		if (w->in_group[g] && w->member_threshold[g] != sh->member_threshold) {
			slip39_share_free(sh);
			return rb_err_set(RB_E_INVAL, "share %zu disagrees with another share of group %u about the "
					  "group's threshold; the set is corrupt or mixed", i + 1, g + 1u);
		}
		w->member_threshold[g] = sh->member_threshold;
		slip39_share_free(sh);
		for (size_t j = 0; j < w->in_group[g]; j++)
			if (w->member_of[w->by_group[g][j]] == m)
				return rb_err_set(RB_E_INVAL, "shares %zu and %zu are the same share (group %u, member "
						  "%u); give each share once", w->by_group[g][j] + 1, i + 1, g + 1u,
						  m + 1u);
		w->by_group[g][w->in_group[g]++] = i;
		w->member_of[i] = m;
		w->group_of[i] = g;
	}
	w->group_threshold = gt0;
	return RB_OK;
}

int ceremony_check_subsets(const struct rb_secret *const *mnemonics, size_t n,
			   const struct rb_secret *passphrase, const uint8_t expect[P11_WRAP_FPR_LEN],
			   uint64_t *ret_checked)
{
	struct subset_walk w;
	int err;

	if (n == 0)
		return rb_err_set(RB_E_INVAL, "no shares given");
	if (n > CEREMONY_MAX_SHARES)
		return rb_err_set(RB_E_INVAL, "%zu shares given; a ceremony has at most %d", n, CEREMONY_MAX_SHARES);
	memset(&w, 0, sizeof(w));
	w.mnemonics = mnemonics;
	w.passphrase = passphrase;
	w.expect = expect;
	if ((err = walk_init(&w, mnemonics, n)) < 0)
		return err;
	/* Count first, so an oversized set is refused before any work. */
	w.count_only = true;
	if ((err = walk_groups(&w, 0, w.group_threshold)) < 0)
		return err;
	if (w.count == 0)
		return rb_err_set(RB_E_INVAL, "%zu shares are not enough to recombine the key (%u of the groups "
				  "need their threshold of shares)", n, w.group_threshold);
	w.count_only = false;
	w.count = 0;
	if ((err = walk_groups(&w, 0, w.group_threshold)) < 0)
		return err;
	if (ret_checked)
		*ret_checked = w.count;
	return RB_OK;
}

int ceremony_recover(const struct rb_secret *const *mnemonics, size_t n,
		     const struct rb_secret *passphrase, struct rb_secret **ret_key,
		     uint8_t ret_fpr[P11_WRAP_FPR_LEN])
{
	_cleanup_(rb_secret_freep) struct rb_secret *key = NULL;
	uint8_t fpr[P11_WRAP_FPR_LEN];
	int err;

	if (n == 0)
		return rb_err_set(RB_E_INVAL, "no shares given");
	if (n > CEREMONY_MAX_SHARES)
		return rb_err_set(RB_E_INVAL, "%zu shares given; a ceremony has at most %d", n, CEREMONY_MAX_SHARES);
	/* slip39_combine takes exactly the threshold: use the first minimal
	 * subset of what was given (verify checks all of them). */
	{
		struct subset_walk w;
		const struct rb_secret *set[CEREMONY_MAX_SHARES];

		memset(&w, 0, sizeof(w));
		if ((err = walk_init(&w, mnemonics, n)) < 0)
			return err;
		w.first_only = true;
		if ((err = walk_groups(&w, 0, w.group_threshold)) < 0)
			return err;
		if (err == 0)
			/* Not enough for any subset: let slip39_combine say
			 * which group lacks shares. */
			err = slip39_combine(mnemonics, n, passphrase, &key);
		else {
			for (size_t i = 0; i < w.n_pick; i++)
				set[i] = mnemonics[w.pick[i]];
			err = slip39_combine(set, w.n_pick, passphrase, &key);
		}
		if (err < 0)
			return err;
	}
	if (key->len != CEREMONY_KEY_LEN)
		return rb_err_set(RB_E_INVAL, "the shares hold a %zu-byte secret, not a %d-byte wrap key; they are "
				  "not from a rombsr key ceremony", key->len, CEREMONY_KEY_LEN);
	if ((err = ceremony_key_fingerprint(key, fpr)) < 0)
		return err;
	memcpy(ret_fpr, fpr, P11_WRAP_FPR_LEN);
	*ret_key = TAKE_PTR(key);
	return RB_OK;
}
