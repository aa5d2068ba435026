/* RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification.
 *
 * The low-level SHA-256 calls are deprecated in OpenSSL 3 but they hash a
 * 65-byte node without the per-call provider fetch and context allocation
 * of EVP_Digest; a million-entry log hashes two million such messages on
 * every open and every verification. */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <string.h>

#include <openssl/sha.h>

#include "audit/merkle.h"
#include "util/err.h"

void merkle_hash_leaf(const void *entry, size_t len, uint8_t out[MERKLE_HASH_LEN])
{
	static const uint8_t prefix = 0x00;
	SHA256_CTX c;

	SHA256_Init(&c);
	SHA256_Update(&c, &prefix, 1);
	SHA256_Update(&c, entry, len);
	SHA256_Final(out, &c);
}

void merkle_hash_node(const uint8_t left[MERKLE_HASH_LEN], const uint8_t right[MERKLE_HASH_LEN],
		      uint8_t out[MERKLE_HASH_LEN])
{
	uint8_t buf[1 + 2 * MERKLE_HASH_LEN];
	SHA256_CTX c;

	/* Copy first: out may alias left or right. */
	buf[0] = 0x01;
	memcpy(buf + 1, left, MERKLE_HASH_LEN);
	memcpy(buf + 1 + MERKLE_HASH_LEN, right, MERKLE_HASH_LEN);
	SHA256_Init(&c);
	SHA256_Update(&c, buf, sizeof(buf));
	SHA256_Final(out, &c);
}

void merkle_hash_empty(uint8_t out[MERKLE_HASH_LEN])
{
	SHA256_CTX c;

	SHA256_Init(&c);
	SHA256_Final(out, &c);
}

/* Largest power of two strictly smaller than n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
	uint64_t k = (uint64_t)1 << (63 - __builtin_clzll(n - 1));

	return k;
}

static int is_pow2(uint64_t n)
{
	return n && !(n & (n - 1));
}

int merkle_range_root(const struct merkle_source *src, uint64_t start, uint64_t size,
		      uint8_t ret[MERKLE_HASH_LEN])
{
	uint8_t left[MERKLE_HASH_LEN], right[MERKLE_HASH_LEN];
	uint64_t k;
	int err;

	if (size == 0) {
		merkle_hash_empty(ret);
		return RB_OK;
	}
	if (is_pow2(size) && start % size == 0) {
		unsigned level = (unsigned)__builtin_ctzll(size);

		return src->get(src->ctx, level, start >> level, ret);
	}
	k = split_point(size);
	if ((err = merkle_range_root(src, start, k, left)) < 0 ||
	    (err = merkle_range_root(src, start + k, size - k, right)) < 0)
		return err;
	merkle_hash_node(left, right, ret);
	return RB_OK;
}

static int proof_push(struct merkle_proof *p, const uint8_t h[MERKLE_HASH_LEN])
{
	if (p->n >= MERKLE_MAX_PROOF)
		return rb_err_set(RB_E_LIMIT, "Merkle proof longer than %d hashes", MERKLE_MAX_PROOF);
	memcpy(p->hash[p->n++], h, MERKLE_HASH_LEN);
	return RB_OK;
}

int merkle_proof_add(struct merkle_proof *p, const uint8_t *hash, size_t len)
{
	if (len != MERKLE_HASH_LEN)
		return rb_err_set(RB_E_VERIFY, "proof hash %zu is %zu bytes, not %d", p->n, len,
				  MERKLE_HASH_LEN);
	return proof_push(p, hash);
}

/* PATH(m, D[start : start+n]), deepest hash first. */
static int path(const struct merkle_source *src, uint64_t m, uint64_t start, uint64_t n,
		struct merkle_proof *p)
{
	uint8_t h[MERKLE_HASH_LEN];
	uint64_t k;
	int err;

	if (n <= 1)
		return RB_OK;
	k = split_point(n);
	if (m < k) {
		if ((err = path(src, m, start, k, p)) < 0 ||
		    (err = merkle_range_root(src, start + k, n - k, h)) < 0)
			return err;
	} else {
		if ((err = path(src, m - k, start + k, n - k, p)) < 0 ||
		    (err = merkle_range_root(src, start, k, h)) < 0)
			return err;
	}
	return proof_push(p, h);
}

int merkle_inclusion_prove(const struct merkle_source *src, uint64_t index, uint64_t size,
			   struct merkle_proof *ret)
{
	struct merkle_proof p = { 0 };
	int err;

	if (index >= size)
		return rb_err_set(RB_E_INVAL, "inclusion proof for leaf %llu in a tree of size %llu: "
				  "the leaf must be below the size", (unsigned long long)index,
				  (unsigned long long)size);
	if ((err = path(src, index, 0, size, &p)) < 0)
		return err;
	*ret = p;
	return RB_OK;
}

/* SUBPROOF(m, D[start : start+n], b) of RFC 9162 2.1.4.1. */
static int subproof(const struct merkle_source *src, uint64_t m, uint64_t start, uint64_t n,
		    int b, struct merkle_proof *p)
{
	uint8_t h[MERKLE_HASH_LEN];
	uint64_t k;
	int err;

	if (m == n) {
		if (b)
			return RB_OK;
		if ((err = merkle_range_root(src, start, n, h)) < 0)
			return err;
		return proof_push(p, h);
	}
	k = split_point(n);
	if (m <= k) {
		if ((err = subproof(src, m, start, k, b, p)) < 0 ||
		    (err = merkle_range_root(src, start + k, n - k, h)) < 0)
			return err;
	} else {
		if ((err = subproof(src, m - k, start + k, n - k, 0, p)) < 0 ||
		    (err = merkle_range_root(src, start, k, h)) < 0)
			return err;
	}
	return proof_push(p, h);
}

int merkle_consistency_prove(const struct merkle_source *src, uint64_t old, uint64_t size,
			     struct merkle_proof *ret)
{
	struct merkle_proof p = { 0 };
	int err;

	if (old == 0 || old > size)
		return rb_err_set(RB_E_INVAL, "consistency proof from size %llu to %llu: need "
				  "0 < old <= new", (unsigned long long)old, (unsigned long long)size);
	if (old < size && (err = subproof(src, old, 0, size, 1, &p)) < 0)
		return err;
	*ret = p;
	return RB_OK;
}

/* --- verification -------------------------------------------------------- */

static int hash_len_ok(size_t len, const char *what)
{
	if (len != MERKLE_HASH_LEN)
		return rb_err_set(RB_E_VERIFY, "%s is %zu bytes, not %d", what, len, MERKLE_HASH_LEN);
	return RB_OK;
}

static int hash_match(const uint8_t *got, const uint8_t *want, const char *what)
{
	/* Public data: no need for constant time. */
	if (memcmp(got, want, MERKLE_HASH_LEN) != 0)
		return rb_err_set(RB_E_VERIFY, "%s does not match the proof", what);
	return RB_OK;
}

/* The root the proof leads to from leaf at index in a tree of size
 * (RFC 9162 2.1.3.2); RB_E_VERIFY if the proof has the wrong shape. */
static int inclusion_root(uint64_t index, uint64_t size, const uint8_t leaf[MERKLE_HASH_LEN],
			  const struct merkle_proof *proof, uint8_t r[MERKLE_HASH_LEN])
{
	uint64_t fn = index, sn = size - 1;

	memcpy(r, leaf, MERKLE_HASH_LEN);
	for (size_t i = 0; i < proof->n; i++) {
		if (sn == 0)
			return rb_err_set(RB_E_VERIFY, "inclusion proof has %zu hashes, too many for "
					  "leaf %llu of %llu", proof->n, (unsigned long long)index,
					  (unsigned long long)size);
		if ((fn & 1) || fn == sn) {
			merkle_hash_node(proof->hash[i], r, r);
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			merkle_hash_node(r, proof->hash[i], r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return rb_err_set(RB_E_VERIFY, "inclusion proof has %zu hashes, too few for leaf "
				  "%llu of %llu", proof->n, (unsigned long long)index,
				  (unsigned long long)size);
	return RB_OK;
}

int merkle_inclusion_verify(uint64_t index, uint64_t size, const uint8_t *leaf, size_t leaf_len,
			    const struct merkle_proof *proof, const uint8_t *root, size_t root_len)
{
	uint8_t r[MERKLE_HASH_LEN];
	int err;

	if (index >= size)
		return rb_err_set(RB_E_VERIFY, "leaf index %llu is not below the tree size %llu",
				  (unsigned long long)index, (unsigned long long)size);
	if ((err = hash_len_ok(leaf_len, "leaf hash")) < 0 ||
	    (err = hash_len_ok(root_len, "root hash")) < 0)
		return err;
	if ((err = inclusion_root(index, size, leaf, proof, r)) < 0)
		return err;
	return hash_match(r, root, "root hash");
}

int merkle_subtree_valid(uint64_t start, uint64_t end)
{
	uint64_t n, p;

	if (start >= end)
		return 0;
	n = end - start;
	if (n > ((uint64_t)1 << 63))
		return 0;
	p = is_pow2(n) ? n : (uint64_t)1 << (64 - __builtin_clzll(n));
	return start % p == 0;
}

int merkle_subtree_inclusion_verify(uint64_t index, uint64_t start, uint64_t end,
				    const uint8_t *leaf, size_t leaf_len,
				    const struct merkle_proof *proof, const uint8_t *root,
				    size_t root_len)
{
	if (!merkle_subtree_valid(start, end))
		return rb_err_set(RB_E_VERIFY, "[%llu, %llu) is not a valid subtree",
				  (unsigned long long)start, (unsigned long long)end);
	if (index < start || index >= end)
		return rb_err_set(RB_E_VERIFY, "leaf %llu is outside the subtree [%llu, %llu)",
				  (unsigned long long)index, (unsigned long long)start,
				  (unsigned long long)end);
	return merkle_inclusion_verify(index - start, end - start, leaf, leaf_len, proof, root,
				       root_len);
}

/* Subtree consistency (Merkle Tree Certificates draft, "Verifying a Subtree
 * Consistency Proof"); with start 0 it is RFC 9162 2.1.4.2. */
static int subtree_consistency(uint64_t start, uint64_t end, uint64_t size,
			       const uint8_t *node, const uint8_t *root,
			       const struct merkle_proof *proof)
{
	uint64_t fn = start, sn = end - 1, tn = size - 1;
	uint8_t fr[MERKLE_HASH_LEN], sr[MERKLE_HASH_LEN];
	size_t i = 0;

	if (sn == tn) {
		while (fn != sn) {
			fn >>= 1;
			sn >>= 1;
			tn >>= 1;
		}
	} else {
		while (fn != sn && (sn & 1)) {
			fn >>= 1;
			sn >>= 1;
			tn >>= 1;
		}
	}
	if (fn == sn) {
		memcpy(fr, node, MERKLE_HASH_LEN);
	} else {
		if (proof->n == 0)
			return rb_err_set(RB_E_VERIFY, "consistency proof is empty");
		memcpy(fr, proof->hash[0], MERKLE_HASH_LEN);
		i = 1;
	}
	memcpy(sr, fr, MERKLE_HASH_LEN);
	for (; i < proof->n; i++) {
		const uint8_t *c = proof->hash[i];

		if (tn == 0)
			return rb_err_set(RB_E_VERIFY, "consistency proof has too many hashes (%zu)",
					  proof->n);
		if ((sn & 1) || sn == tn) {
			if (fn < sn)
				merkle_hash_node(c, fr, fr);
			merkle_hash_node(c, sr, sr);
			while (!(sn & 1)) {
				fn >>= 1;
				sn >>= 1;
				tn >>= 1;
			}
		} else {
			merkle_hash_node(sr, c, sr);
		}
		fn >>= 1;
		sn >>= 1;
		tn >>= 1;
	}
	if (tn != 0)
		return rb_err_set(RB_E_VERIFY, "consistency proof has too few hashes (%zu)", proof->n);
	if (memcmp(fr, node, MERKLE_HASH_LEN) != 0)
		return rb_err_set(RB_E_VERIFY, "consistency proof does not lead to the old root");
	return hash_match(sr, root, "new root hash");
}

int merkle_subtree_consistency_verify(uint64_t start, uint64_t end, uint64_t size,
				      const uint8_t *sub_root, size_t sub_root_len,
				      const uint8_t *root, size_t root_len,
				      const struct merkle_proof *proof)
{
	uint8_t empty[MERKLE_HASH_LEN];
	int err;

	/* The empty subtree [s, s) is in every tree of size >= s; its hash is
	 * the empty-tree hash and it needs no proof (transparency-dev/merkle
	 * semantics; nothing about the tree root follows from it). */
	if (start == end && end <= size) {
		merkle_hash_empty(empty);
		if (sub_root_len != MERKLE_HASH_LEN || memcmp(sub_root, empty, MERKLE_HASH_LEN) != 0)
			return rb_err_set(RB_E_VERIFY, "the hash of an empty subtree must be the "
					  "empty-tree hash");
		if (proof->n != 0)
			return rb_err_set(RB_E_VERIFY, "an empty subtree needs an empty proof, got %zu "
					  "hashes", proof->n);
		return RB_OK;
	}
	if (!merkle_subtree_valid(start, end) || end > size)
		return rb_err_set(RB_E_VERIFY, "[%llu, %llu) is not a valid subtree of a tree of "
				  "size %llu", (unsigned long long)start, (unsigned long long)end,
				  (unsigned long long)size);
	if (start == 0 && end == size) {
		if (proof->n != 0)
			return rb_err_set(RB_E_VERIFY, "the whole tree needs an empty consistency proof, "
					  "got %zu hashes", proof->n);
		if (sub_root_len != root_len || memcmp(sub_root, root, root_len) != 0)
			return rb_err_set(RB_E_VERIFY, "equal sizes but different roots");
		return RB_OK;
	}
	if ((err = hash_len_ok(sub_root_len, "subtree hash")) < 0 ||
	    (err = hash_len_ok(root_len, "root hash")) < 0)
		return err;
	return subtree_consistency(start, end, size, sub_root, root, proof);
}

int merkle_consistency_verify(uint64_t size1, uint64_t size2, const uint8_t *root1,
			      size_t root1_len, const uint8_t *root2, size_t root2_len,
			      const struct merkle_proof *proof)
{
	int err;

	if (size2 < size1)
		return rb_err_set(RB_E_VERIFY, "new size %llu is smaller than old size %llu: the log "
				  "shrank", (unsigned long long)size2, (unsigned long long)size1);
	if (size1 == 0)
		return rb_err_set(RB_E_VERIFY, "a consistency proof from the empty tree proves nothing");
	if (size1 == size2) {
		if (proof->n != 0)
			return rb_err_set(RB_E_VERIFY, "equal sizes need an empty consistency proof, "
					  "got %zu hashes", proof->n);
		/* Byte-identical roots, whatever their length: nothing is hashed. */
		if (root1_len != root2_len || memcmp(root1, root2, root1_len) != 0)
			return rb_err_set(RB_E_VERIFY, "equal sizes but different roots: the log forked");
		return RB_OK;
	}
	if ((err = hash_len_ok(root1_len, "old root hash")) < 0 ||
	    (err = hash_len_ok(root2_len, "new root hash")) < 0)
		return err;
	return subtree_consistency(0, size1, size2, root1, root2, proof);
}
