/* RFC 6962 / RFC 9162 Merkle trees over SHA-256: pure functions, no I/O.
 *
 *   leaf hash  = SHA-256(0x00 || entry)
 *   node hash  = SHA-256(0x01 || left || right)
 *   empty tree = SHA-256("")
 *
 * Proof generation reads the hashes of complete, aligned subtrees through a
 * merkle_source callback, so the same code serves the in-memory log, the
 * tile verifier and the tests. Proof verification needs nothing but the
 * proof: it is what an auditor or a device runs.
 *
 * Verification follows RFC 9162 2.1.3.2 and 2.1.4.2 (and, for subtrees, the
 * Merkle Tree Certificates draft as implemented by transparency-dev/merkle)
 * plus these edge cases: a consistency proof from size 0 fails; size2 <
 * size1 fails; size1 == size2 succeeds only with an empty proof and equal
 * roots; every hash handed in must be exactly 32 bytes. Every failure is
 * RB_E_VERIFY (a proof of the wrong length is a bad proof, not bad input)
 * with a detail saying which check failed.
 *
 * Ownership: struct merkle_proof is a plain value (no heap); nothing here
 * allocates.
 */
#ifndef ROMBSR_AUDIT_MERKLE_H
#define ROMBSR_AUDIT_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define MERKLE_HASH_LEN 32
/* An inclusion proof has at most 64 hashes and a consistency proof at most
 * 2 * 64 for 64-bit tree sizes; 130 leaves room for the subtree seed. */
#define MERKLE_MAX_PROOF 130

struct merkle_proof {
	size_t n;
	uint8_t hash[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
};

/* The hash of the complete subtree of height level whose leftmost leaf is
 * index << level (a "node id" (level, index)). Returns 0 or an rb_err. */
struct merkle_source {
	int (*get)(void *ctx, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_LEN]);
	void *ctx;
};

/* Append one hash of len bytes to p: RB_E_VERIFY unless len is 32 (a
 * proof with a hash of any other length is a bad proof), RB_E_LIMIT past
 * MERKLE_MAX_PROOF. */
int merkle_proof_add(struct merkle_proof *p, const uint8_t *hash, size_t len);

void merkle_hash_leaf(const void *entry, size_t len, uint8_t out[MERKLE_HASH_LEN]);
void merkle_hash_node(const uint8_t left[MERKLE_HASH_LEN], const uint8_t right[MERKLE_HASH_LEN],
		      uint8_t out[MERKLE_HASH_LEN]);
void merkle_hash_empty(uint8_t out[MERKLE_HASH_LEN]);

/* MTH(D[start : start+size]) for any range; size 0 gives the empty hash.
 * Costs O(log size) source lookups for ranges a proof needs. */
int merkle_range_root(const struct merkle_source *src, uint64_t start, uint64_t size,
		      uint8_t ret[MERKLE_HASH_LEN]);

/* PATH(index, D[size]) (RFC 9162 2.1.3.1). RB_E_INVAL unless index < size. */
int merkle_inclusion_prove(const struct merkle_source *src, uint64_t index, uint64_t size,
			   struct merkle_proof *ret);
/* PROOF(old, D[size]) (RFC 9162 2.1.4.1). RB_E_INVAL unless 0 < old <= size;
 * old == size gives the empty proof. */
int merkle_consistency_prove(const struct merkle_source *src, uint64_t old, uint64_t size,
			     struct merkle_proof *ret);

/* 0 if proof shows that the leaf with hash leaf (leaf_len must be 32) is at
 * index in the tree of size whose root is root (root_len must be 32). */
int merkle_inclusion_verify(uint64_t index, uint64_t size, const uint8_t *leaf, size_t leaf_len,
			    const struct merkle_proof *proof, const uint8_t *root, size_t root_len);
/* 0 if proof shows the tree of size1 with root1 is a prefix of the tree of
 * size2 with root2. */
int merkle_consistency_verify(uint64_t size1, uint64_t size2, const uint8_t *root1,
			      size_t root1_len, const uint8_t *root2, size_t root2_len,
			      const struct merkle_proof *proof);

/* Subtrees [start, end) as in the Merkle Tree Certificates draft: valid iff
 * start < end and start is a multiple of the smallest power of two >=
 * end - start. The empty subtree [s, s) with s <= size is consistent with
 * any tree when its hash is the empty-tree hash and the proof is empty. */
int merkle_subtree_valid(uint64_t start, uint64_t end);
int merkle_subtree_inclusion_verify(uint64_t index, uint64_t start, uint64_t end,
				    const uint8_t *leaf, size_t leaf_len,
				    const struct merkle_proof *proof, const uint8_t *root,
				    size_t root_len);
int merkle_subtree_consistency_verify(uint64_t start, uint64_t end, uint64_t size,
				      const uint8_t *sub_root, size_t sub_root_len,
				      const uint8_t *root, size_t root_len,
				      const struct merkle_proof *proof);

#endif
