/* Helpers shared by the request area's files; not installed. */
#ifndef ROMBSR_REQUEST_INTERNAL_H
#define ROMBSR_REQUEST_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json/json.h"
#include "request/request.h"

/* Latest time a document may carry (9999-12-31T23:59:59Z), so it always
 * formats as RFC 3339 in 20 characters. */
#define REQUEST_TIME_MAX INT64_C(253402300799)

/* obj[key] must be exactly 2*n lowercase hex digits; decoded into out. */
int rq_get_hex(const struct json_value *obj, const char *key, uint8_t *out, size_t n);
/* obj's "node" and "build_id", validated (request_node_valid,
 * capture_build_id_valid) and copied into *ret_node and *ret_build
 * (malloc()ed; the caller frees them, also when the second fails). */
int rq_get_node_build(const struct json_value *obj, char **ret_node, char **ret_build);
/* obj[key] must be padded base64 of min..max bytes; *ret is malloc()ed
 * (caller frees). */
int rq_get_b64(const struct json_value *obj, const char *key, size_t min, size_t max,
	       uint8_t **ret, size_t *ret_len);
/* obj[key] must be an RFC 3339 UTC time within 0..REQUEST_TIME_MAX. */
int rq_get_time(const struct json_value *obj, const char *key, int64_t *ret);
/* Validate the {"format","version","required","optional"} envelope of a
 * document and return its "required" object (borrowed). */
int rq_check_envelope(const struct json_value *root, const char *format, int64_t version,
		      const struct json_value **ret_required);
/* The same for a format of which versions min..version are read; the
 * document's version goes to *ret_version (may be NULL). */
int rq_check_envelope_range(const struct json_value *root, const char *format, int64_t min,
			    int64_t version, int64_t *ret_version, const struct json_value **ret_required);
/* Parse text into a tree with limits fit for a queue document. */
int rq_json_parse(const char *text, size_t len, size_t max_bytes, const char *source,
		  struct json_value **ret);

/* Put "source: " in front of the current rb_err detail; returns err. */
int rq_err_prefix(int err, const char *source);

int rq_set_hex(struct json_value *obj, const char *key, const uint8_t *p, size_t n);
int rq_set_b64(struct json_value *obj, const char *key, const uint8_t *p, size_t n);
int rq_set_time(struct json_value *obj, const char *key, int64_t t);
/* Wrap required and optional (both taken; optional may be NULL for {})
 * in the envelope and append canonical JSON plus one newline to out; out
 * is unchanged on failure. */
int rq_emit_envelope(const char *format, int64_t version, struct json_value *required,
		     struct json_value *optional, struct rb_buf *out);

/* 1..max bytes of UTF-8 without control characters (C0, DEL); with
 * multiline, tab and newline are allowed too. */
bool rq_text_valid(const char *s, size_t max, bool multiline);

/* Make room for one more element in an array of n elements of size el,
 * growing it in powers of two (so every array in a document, parsed or
 * built, follows the same rule). New memory is zeroed. */
int rq_array_grow(void *array_ptr, size_t n, size_t el);

/* Append-time index maintenance for builders: insert entry / artifact i
 * (already stored at doc->entries[i] / doc->artifacts[i], i == n - 1)
 * into the sorted index. RB_E_EXISTS if its id / name is already there
 * (the index is then unchanged). */
int rq_index_add_entry(struct request_doc *doc, size_t i);
int rq_index_add_artifact(struct request_doc *doc, size_t i);
/* Build both indices from scratch (parser). On a duplicate, RB_E_EXISTS
 * with *ret_dup set to the index of one of the two entries / artifacts
 * and *ret_is_entry saying which array. */
int rq_index_build(struct request_doc *doc, size_t *ret_dup, bool *ret_is_entry);
/* Artifact index by name, or -1. */
long rq_find_artifact(const struct request_doc *doc, const char *name);

/* Free the contents of one entry / artifact (not the struct itself). */
void rq_entry_clear(struct request_entry *e);
void rq_artifact_clear(struct request_artifact *a);

#endif
