/* Request documents in memory: freeing, lookups, and the sorted indices
 * that make id and name uniqueness checks O(n log n) for documents of up
 * to REQUEST_MAX_ENTRIES requests. */
#include <string.h>

#include "request/request-internal.h"
#include "util/err.h"

int rq_array_grow(void *array_ptr, size_t n, size_t el)
{
	void **pp = array_ptr;
	size_t cap;
	uint8_t *p;

	/* Capacity is the next power of two >= n (at least 4): only grow
	 * when n reaches it. */
	if (n >= 4 && (n & (n - 1)) != 0)
		return RB_OK;
	if (n != 0 && n < 4)
		return RB_OK;
	cap = n < 4 ? 4 : 2 * n;
	if (cap > SIZE_MAX / el)
		return RB_E_NOMEM;
	p = realloc(*pp, cap * el);
	if (!p)
		return RB_E_NOMEM;
	memset(p + n * el, 0, (cap - n) * el);
	*pp = p;
	return RB_OK;
}

static int cmp_entry(const void *a, const void *b, void *ctx)
{
	const struct request_doc *doc = ctx;

	return memcmp(doc->entries[*(const size_t *)a].id, doc->entries[*(const size_t *)b].id,
		      REQUEST_ID_LEN);
}

static int cmp_artifact(const void *a, const void *b, void *ctx)
{
	const struct request_doc *doc = ctx;

	return strcmp(doc->artifacts[*(const size_t *)a].name,
		      doc->artifacts[*(const size_t *)b].name);
}

/* Position of the first indexed element not less than key, by binary
 * search; *ret_found says whether it is equal. */
static size_t index_lower_bound(const size_t *idx, size_t n, const void *key,
				int (*cmp_key)(const struct request_doc *, size_t, const void *),
				const struct request_doc *doc, bool *ret_found)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cmp_key(doc, idx[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*ret_found = lo < n && cmp_key(doc, idx[lo], key) == 0;
	return lo;
}

static int key_entry(const struct request_doc *doc, size_t i, const void *id)
{
	return memcmp(doc->entries[i].id, id, REQUEST_ID_LEN);
}

static int key_artifact(const struct request_doc *doc, size_t i, const void *name)
{
	return strcmp(doc->artifacts[i].name, name);
}

static int index_insert(size_t **idx, size_t n, size_t pos, size_t value)
{
	int err;

	if ((err = rq_array_grow(idx, n, sizeof(**idx))) < 0)
		return err;
	memmove(*idx + pos + 1, *idx + pos, (n - pos) * sizeof(**idx));
	(*idx)[pos] = value;
	return RB_OK;
}

int rq_index_add_entry(struct request_doc *doc, size_t i)
{
	bool found;
	size_t pos = index_lower_bound(doc->by_id, i, doc->entries[i].id, key_entry, doc, &found);

	if (found)
		return RB_E_EXISTS;
	return index_insert(&doc->by_id, i, pos, i);
}

int rq_index_add_artifact(struct request_doc *doc, size_t i)
{
	bool found;
	size_t pos = index_lower_bound(doc->by_name, i, doc->artifacts[i].name, key_artifact, doc,
				       &found);

	if (found)
		return RB_E_EXISTS;
	return index_insert(&doc->by_name, i, pos, i);
}

static int index_sorted(size_t **idx, size_t n)
{
	free(*idx);
	*idx = NULL;
	for (size_t i = 0; i < n; i++) {
		int err = rq_array_grow(idx, i, sizeof(**idx));

		if (err < 0)
			return err;
		(*idx)[i] = i;
	}
	return RB_OK;
}

int rq_index_build(struct request_doc *doc, size_t *ret_dup, bool *ret_is_entry)
{
	int err;

	if ((err = index_sorted(&doc->by_name, doc->n_artifacts)) < 0 ||
	    (err = index_sorted(&doc->by_id, doc->n_entries)) < 0)
		return err;
	if (doc->n_artifacts)
		qsort_r(doc->by_name, doc->n_artifacts, sizeof(size_t), cmp_artifact, doc);
	for (size_t k = 1; k < doc->n_artifacts; k++)
		if (cmp_artifact(&doc->by_name[k - 1], &doc->by_name[k], doc) == 0) {
			*ret_dup = doc->by_name[k];
			*ret_is_entry = false;
			return RB_E_EXISTS;
		}
	if (doc->n_entries)
		qsort_r(doc->by_id, doc->n_entries, sizeof(size_t), cmp_entry, doc);
	for (size_t k = 1; k < doc->n_entries; k++)
		if (cmp_entry(&doc->by_id[k - 1], &doc->by_id[k], doc) == 0) {
			*ret_dup = doc->by_id[k];
			*ret_is_entry = true;
			return RB_E_EXISTS;
		}
	return RB_OK;
}

long rq_find_artifact(const struct request_doc *doc, const char *name)
{
	bool found;
	size_t pos;

	if (!doc || !name || !doc->by_name)
		return -1;
	pos = index_lower_bound(doc->by_name, doc->n_artifacts, name, key_artifact, doc, &found);
	return found ? (long)doc->by_name[pos] : -1;
}

const struct request_artifact *request_doc_find_artifact(const struct request_doc *doc,
							 const char *name)
{
	long i = rq_find_artifact(doc, name);

	return i < 0 ? NULL : &doc->artifacts[i];
}

const struct request_entry *request_doc_find(const struct request_doc *doc,
					     const uint8_t id[REQUEST_ID_LEN])
{
	bool found;
	size_t pos;

	if (!doc || !id || !doc->by_id)
		return NULL;
	pos = index_lower_bound(doc->by_id, doc->n_entries, id, key_entry, doc, &found);
	return found ? &doc->entries[doc->by_id[pos]] : NULL;
}

void rq_entry_clear(struct request_entry *e)
{
	if (!e)
		return;
	free(e->key_name);
	free(e->input);
	hash_state_free(e->state);
	capture_request_free(e->capture);
	memset(e, 0, sizeof(*e));
}

void rq_artifact_clear(struct request_artifact *a)
{
	if (!a)
		return;
	free(a->name);
	hash_state_free(a->state256);
	hash_state_free(a->state512);
	memset(a, 0, sizeof(*a));
}

void request_doc_free(struct request_doc *doc)
{
	if (!doc)
		return;
	for (size_t i = 0; i < doc->n_entries; i++)
		rq_entry_clear(&doc->entries[i]);
	for (size_t i = 0; i < doc->n_artifacts; i++)
		rq_artifact_clear(&doc->artifacts[i]);
	free(doc->entries);
	free(doc->artifacts);
	free(doc->by_id);
	free(doc->by_name);
	free(doc->node);
	free(doc->build_id);
	free(doc->comment);
	free(doc);
}
