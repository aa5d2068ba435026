/* sign.conf: read with libgit2's config parser, then every entry is
 * checked against the closed set of keys in docs/formats/sign-config.md. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <git2.h>

#include "keys/keyspec.h"
#include "queue/config.h"
#include "queue/git.h"
#include "util/err.h"
#include "util/fileio.h"

#define MAX_MAX_SESSIONS 1024
#define MAX_QUOTA ((uint64_t)1000000000)
#define MAX_VALUE_LEN 4096

DEFINE_TRIVIAL_CLEANUP_FUNC(git_config *, git_config_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(git_config_iterator *, git_config_iterator_free)

/* Parsing state: which single-valued keys were seen, so a repeated key is
 * an error instead of git's "last one wins". */
struct seen {
	bool version, state_dir, manifest, module, token, pin_file, softhsm_conf, max_sessions,
		wrapped_store, max_resident, batch_requests, batch_documents, batch_node_documents,
		batch_response_bytes;
	bool url, branch, poll, publish, claim, max_request, audit_dir, sign_node;
};

struct parse {
	struct sign_config *c;
	const char *file;
	char *dir; /* directory of the file, absolute */
	struct seen seen;
	/* per-entry flags, parallel to the arrays in c */
	struct node_seen { bool fpr, key, qh, qb; } *node_seen;
	struct approver_seen { bool fpr, key; } *approver_seen;
	struct key_seen { bool approvals; } *key_seen;
};

bool sign_config_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SIGN_CONFIG_MAX_NAME)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');

		if (!alnum && (i == 0 || (ch != '.' && ch != '_' && ch != '-')))
			return false;
	}
	return true;
}

int sign_config_fpr_normalise(const char *s, char out[SIGN_CONFIG_FPR_HEX + 1])
{
	char tmp[SIGN_CONFIG_FPR_HEX + 1];

	if (strlen(s) != SIGN_CONFIG_FPR_HEX)
		return RB_E_PARSE;
	for (size_t i = 0; i < SIGN_CONFIG_FPR_HEX; i++) {
		char ch = s[i];

		if (ch >= 'a' && ch <= 'f')
			ch = (char)(ch - 'a' + 'A');
		if (!((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'F')))
			return RB_E_PARSE;
		tmp[i] = ch;
	}
	tmp[SIGN_CONFIG_FPR_HEX] = '\0';
	memcpy(out, tmp, sizeof(tmp));
	return RB_OK;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void sign_config_free(struct sign_config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->state_dir);
	free(c->sign_node_name);
	free(c->manifest);
	free(c->hsm.module);
	free(c->hsm.token);
	free(c->hsm.pin_file);
	free(c->hsm.softhsm_conf);
	free(c->hsm.wrapped_store);
	free(c->queue.url);
	free(c->queue.branch);
	free(c->audit_dir);
	for (size_t i = 0; i < c->n_nodes; i++) {
		free(c->nodes[i].name);
		free(c->nodes[i].public_key);
		strv_free(c->nodes[i].allow_keys, c->nodes[i].n_allow_keys);
	}
	free(c->nodes);
	for (size_t i = 0; i < c->n_approvers; i++) {
		free(c->approvers[i].name);
		free(c->approvers[i].public_key);
	}
	free(c->approvers);
	for (size_t i = 0; i < c->n_keys; i++) {
		free(c->keys[i].key);
		strv_free(c->keys[i].approvers, c->keys[i].n_approvers);
	}
	free(c->keys);
	free(c);
}

/* ---- values --------------------------------------------------------------- */

static int parse_uint(const struct parse *p, const char *key, const char *v, uint64_t min, uint64_t max,
		      uint64_t *ret)
{
	uint64_t n = 0;

	if (!*v || strlen(v) > 20)
		goto bad;
	for (const char *s = v; *s; s++) {
		if (*s < '0' || *s > '9')
			goto bad;
		if (n > (UINT64_MAX - 9) / 10)
			goto bad;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	if (n < min || n > max)
		goto bad;
	*ret = n;
	return RB_OK;
bad:
	return rb_err_set(RB_E_PARSE, "%s: %s = \"%.64s\" must be a decimal integer in %llu..%llu", p->file, key,
			  v, (unsigned long long)min, (unsigned long long)max);
}

static int set_string(const struct parse *p, const char *key, bool *seen, const char *v, char **dst)
{
	char *s;

	if (*seen)
		return rb_err_set(RB_E_PARSE, "%s: %s is set twice; keep one", p->file, key);
	if (!*v)
		return rb_err_set(RB_E_PARSE, "%s: %s is empty; give a value or remove the line", p->file, key);
	if (!(s = strdup(v)))
		return RB_E_NOMEM;
	*seen = true;
	free(*dst);
	*dst = s;
	return RB_OK;
}

/* Relative paths are relative to the directory of the file. */
static int set_path(const struct parse *p, const char *key, bool *seen, const char *v, char **dst)
{
	int err;

	if ((err = set_string(p, key, seen, v, dst)) < 0)
		return err;
	if ((*dst)[0] != '/') {
		char *abs = NULL;

		if (asprintf(&abs, "%s/%s", p->dir, *dst) < 0)
			return RB_E_NOMEM;
		free(*dst);
		*dst = abs;
	}
	return RB_OK;
}

/* A queue url that names a local path (no scheme, not scp-like
 * "host:path") is resolved like any other path. */
static bool url_is_local_path(const char *v)
{
	const char *colon = strchr(v, ':'), *slash = strchr(v, '/');

	if (strstr(v, "://"))
		return false;
	return !colon || (slash && slash < colon);
}

static int set_uint(const struct parse *p, const char *key, bool *seen, const char *v, uint64_t min,
		    uint64_t max, uint64_t *ret)
{
	int err;

	if (*seen)
		return rb_err_set(RB_E_PARSE, "%s: %s is set twice; keep one", p->file, key);
	if ((err = parse_uint(p, key, v, min, max, ret)) < 0)
		return err;
	*seen = true;
	return RB_OK;
}

/* set_uint() for the many settings held as unsigned (max fits in one). */
static int set_unsigned(const struct parse *p, const char *key, bool *seen, const char *v, uint64_t min,
			uint64_t max, unsigned *ret)
{
	uint64_t n;
	int err;

	if ((err = set_uint(p, key, seen, v, min, max, &n)) < 0)
		return err;
	*ret = (unsigned)n;
	return RB_OK;
}

static int strv_add(char ***v, size_t *n, const char *s)
{
	char **nv, *d;

	if (*n >= SIGN_CONFIG_MAX_ENTRIES)
		return RB_E_LIMIT;
	if (!(d = strdup(s)))
		return RB_E_NOMEM;
	if (!(nv = realloc(*v, (*n + 1) * sizeof(*nv)))) {
		free(d);
		return RB_E_NOMEM;
	}
	nv[(*n)++] = d;
	*v = nv;
	return RB_OK;
}

static bool strv_has(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* ---- sections ------------------------------------------------------------- */

static int grow(void **arr, void **seen, size_t n, size_t elem, size_t seen_elem)
{
	void *a, *s;

	if (n >= SIGN_CONFIG_MAX_ENTRIES)
		return RB_E_LIMIT;
	if (!(a = realloc(*arr, (n + 1) * elem)))
		return RB_E_NOMEM;
	*arr = a;
	memset((char *)a + n * elem, 0, elem);
	if (!(s = realloc(*seen, (n + 1) * seen_elem)))
		return RB_E_NOMEM;
	*seen = s;
	memset((char *)s + n * seen_elem, 0, seen_elem);
	return RB_OK;
}

static int subsection_check(const struct parse *p, const char *section, const char *sub)
{
	if (!sign_config_name_valid(sub))
		return rb_err_set(RB_E_PARSE, "%s: [%s \"%.64s\"]: the name must be 1-64 characters of "
				  "A-Za-z0-9._- starting with a letter or digit", p->file, section, sub);
	return RB_OK;
}

static int node_get(struct parse *p, const char *name, size_t *ret)
{
	struct sign_config *c = p->c;
	int err;

	for (size_t i = 0; i < c->n_nodes; i++)
		if (strcmp(c->nodes[i].name, name) == 0) {
			*ret = i;
			return RB_OK;
		}
	if ((err = subsection_check(p, "node", name)) < 0)
		return err;
	if ((err = grow((void **)&c->nodes, (void **)&p->node_seen, c->n_nodes, sizeof(*c->nodes),
			sizeof(*p->node_seen))) < 0)
		return err == RB_E_LIMIT ? rb_err_set(err, "%s: too many [node] sections", p->file) : err;
	if (!(c->nodes[c->n_nodes].name = strdup(name)))
		return RB_E_NOMEM;
	*ret = c->n_nodes++;
	return RB_OK;
}

static int approver_get(struct parse *p, const char *name, size_t *ret)
{
	struct sign_config *c = p->c;
	int err;

	for (size_t i = 0; i < c->n_approvers; i++)
		if (strcmp(c->approvers[i].name, name) == 0) {
			*ret = i;
			return RB_OK;
		}
	if ((err = subsection_check(p, "approver", name)) < 0)
		return err;
	if ((err = grow((void **)&c->approvers, (void **)&p->approver_seen, c->n_approvers,
			sizeof(*c->approvers), sizeof(*p->approver_seen))) < 0)
		return err == RB_E_LIMIT ? rb_err_set(err, "%s: too many [approver] sections", p->file) : err;
	if (!(c->approvers[c->n_approvers].name = strdup(name)))
		return RB_E_NOMEM;
	*ret = c->n_approvers++;
	return RB_OK;
}

static int key_get(struct parse *p, const char *name, size_t *ret)
{
	struct sign_config *c = p->c;
	int err;

	for (size_t i = 0; i < c->n_keys; i++)
		if (strcmp(c->keys[i].key, name) == 0) {
			*ret = i;
			return RB_OK;
		}
	if (!key_name_valid(name))
		return rb_err_set(RB_E_PARSE, "%s: [key \"%.64s\"]: key names are 1-64 characters of a-z, 0-9, "
				  "'_' or '-', as in the manifest", p->file, name);
	if (strcmp(name, SIGN_NODE_QUEUE_KEY) == 0 || strcmp(name, SIGN_NODE_AUDIT_KEY) == 0)
		return rb_err_set(RB_E_PARSE, "%s: [key \"%s\"]: the '%s' key signs only what the sign node "
				  "composes and takes no requests, so it has no policy; remove this section",
				  p->file, name, name);
	if ((err = grow((void **)&c->keys, (void **)&p->key_seen, c->n_keys, sizeof(*c->keys),
			sizeof(*p->key_seen))) < 0)
		return err == RB_E_LIMIT ? rb_err_set(err, "%s: too many [key] sections", p->file) : err;
	if (!(c->keys[c->n_keys].key = strdup(name)))
		return RB_E_NOMEM;
	*ret = c->n_keys++;
	return RB_OK;
}

static int set_fpr(const struct parse *p, const char *key, bool *seen, const char *v, char *dst)
{
	if (*seen)
		return rb_err_set(RB_E_PARSE, "%s: %s is set twice; keep one", p->file, key);
	if (sign_config_fpr_normalise(v, dst) < 0)
		return rb_err_set(RB_E_PARSE, "%s: %s = \"%.64s\" is not an OpenPGP v4 fingerprint (40 hex "
				  "digits, no spaces); see 'gpg --with-colons --fingerprint'", p->file, key, v);
	*seen = true;
	return RB_OK;
}

static int entry_node(struct parse *p, const char *full, const char *sub, const char *k, const char *v)
{
	struct sign_node *n;
	struct node_seen *s;
	size_t i = 0;
	int err;

	if ((err = node_get(p, sub, &i)) < 0)
		return err;
	n = &p->c->nodes[i];
	s = &p->node_seen[i];
	if (strcmp(k, "fingerprint") == 0)
		return set_fpr(p, full, &s->fpr, v, n->fingerprint);
	if (strcmp(k, "publickey") == 0)
		return set_path(p, full, &s->key, v, &n->public_key);
	if (strcmp(k, "quotaperhour") == 0)
		return set_uint(p, full, &s->qh, v, 0, MAX_QUOTA, &n->quota_per_hour);
	if (strcmp(k, "quotaperbuild") == 0)
		return set_uint(p, full, &s->qb, v, 0, MAX_QUOTA, &n->quota_per_build);
	if (strcmp(k, "allowkey") == 0) {
		if (!key_name_valid(v))
			return rb_err_set(RB_E_PARSE, "%s: %s = \"%.64s\" is not a key name (1-64 characters of "
					  "a-z, 0-9, '_' or '-')", p->file, full, v);
		if (strcmp(v, SIGN_NODE_QUEUE_KEY) == 0 || strcmp(v, SIGN_NODE_AUDIT_KEY) == 0)
			return rb_err_set(RB_E_PARSE, "%s: %s (allowKey = %s): the '%s' key signs only what the "
					  "sign node composes (%s), never a node's request; remove this line and "
					  "allow a signing key instead", p->file, full, v, v,
					  strcmp(v, SIGN_NODE_QUEUE_KEY) == 0 ? "response commits" : "audit checkpoints");
		if (strv_has(n->allow_keys, n->n_allow_keys, v))
			return rb_err_set(RB_E_PARSE, "%s: %s lists \"%s\" twice", p->file, full, v);
		if ((err = strv_add(&n->allow_keys, &n->n_allow_keys, v)) == RB_E_LIMIT)
			return rb_err_set(err, "%s: %s is repeated too often", p->file, full);
		return err;
	}
	return RB_E_NOTFOUND;
}

static int entry_approver(struct parse *p, const char *full, const char *sub, const char *k, const char *v)
{
	struct sign_approver *a;
	struct approver_seen *s;
	size_t i = 0;
	int err;

	if ((err = approver_get(p, sub, &i)) < 0)
		return err;
	a = &p->c->approvers[i];
	s = &p->approver_seen[i];
	if (strcmp(k, "fingerprint") == 0)
		return set_fpr(p, full, &s->fpr, v, a->fingerprint);
	if (strcmp(k, "publickey") == 0)
		return set_path(p, full, &s->key, v, &a->public_key);
	return RB_E_NOTFOUND;
}

static int entry_key(struct parse *p, const char *full, const char *sub, const char *k, const char *v)
{
	struct sign_key_policy *kp;
	uint64_t n;
	size_t i = 0;
	int err;

	if ((err = key_get(p, sub, &i)) < 0)
		return err;
	kp = &p->c->keys[i];
	if (strcmp(k, "approvers") == 0) {
		if ((err = set_uint(p, full, &p->key_seen[i].approvals, v, 1, SIGN_CONFIG_MAX_ENTRIES, &n)) < 0)
			return err;
		kp->approvals = (unsigned)n;
		return RB_OK;
	}
	if (strcmp(k, "approver") == 0) {
		if (!sign_config_name_valid(v))
			return rb_err_set(RB_E_PARSE, "%s: %s = \"%.64s\" is not an approver name", p->file, full, v);
		if (strv_has(kp->approvers, kp->n_approvers, v))
			return rb_err_set(RB_E_PARSE, "%s: %s lists \"%s\" twice", p->file, full, v);
		if ((err = strv_add(&kp->approvers, &kp->n_approvers, v)) == RB_E_LIMIT)
			return rb_err_set(err, "%s: %s is repeated too often", p->file, full);
		return err;
	}
	return RB_E_NOTFOUND;
}

static int entry_plain(struct parse *p, const char *full, const char *section, const char *k, const char *v)
{
	struct sign_config *c = p->c;
	struct seen *s = &p->seen;
	uint64_t n;
	int err;

	if (strcmp(section, "rombsr") == 0) {
		if (strcmp(k, "version") == 0) {
			if (s->version)
				return rb_err_set(RB_E_PARSE, "%s: %s is set twice; keep one", p->file, full);
			if (parse_uint(p, full, v, 0, UINT32_MAX, &n) < 0)
				return RB_E_PARSE;
			if (n != SIGN_CONFIG_VERSION)
				return rb_err_set(RB_E_UNSUPPORTED, "%s: rombsr.version %llu is not supported; this "
						  "rombsr reads version %d", p->file, (unsigned long long)n,
						  SIGN_CONFIG_VERSION);
			s->version = true;
			c->version = (unsigned)n;
			return RB_OK;
		}
		if (strcmp(k, "statedir") == 0)
			return set_path(p, full, &s->state_dir, v, &c->state_dir);
		if (strcmp(k, "signnode") == 0) {
			if (!sign_config_name_valid(v))
				return rb_err_set(RB_E_PARSE, "%s: %s = \"%.64s\" is not a usable sign-node name "
						  "([A-Za-z0-9][A-Za-z0-9._-]{0,63})", p->file, full, v);
			return set_string(p, full, &s->sign_node, v, &c->sign_node_name);
		}
		if (strcmp(k, "manifest") == 0)
			return set_path(p, full, &s->manifest, v, &c->manifest);
	} else if (strcmp(section, "hsm") == 0) {
		if (strcmp(k, "module") == 0)
			return set_path(p, full, &s->module, v, &c->hsm.module);
		if (strcmp(k, "token") == 0)
			return set_string(p, full, &s->token, v, &c->hsm.token);
		if (strcmp(k, "pinfile") == 0)
			return set_path(p, full, &s->pin_file, v, &c->hsm.pin_file);
		if (strcmp(k, "softhsmconf") == 0)
			return set_path(p, full, &s->softhsm_conf, v, &c->hsm.softhsm_conf);
		if (strcmp(k, "maxsessions") == 0) 
			return set_unsigned(p, full, &s->max_sessions, v, 1, MAX_MAX_SESSIONS, &c->hsm.max_sessions);
		if (strcmp(k, "wrappedstore") == 0)
			return set_path(p, full, &s->wrapped_store, v, &c->hsm.wrapped_store);
		if (strcmp(k, "maxresident") == 0) 
			return set_unsigned(p, full, &s->max_resident, v, 1, 1024, &c->hsm.max_resident);
	} else if (strcmp(section, "queue") == 0) {
		if (strcmp(k, "url") == 0)
			return url_is_local_path(v) ? set_path(p, full, &s->url, v, &c->queue.url)
						    : set_string(p, full, &s->url, v, &c->queue.url);
		if (strcmp(k, "branch") == 0) {
			if ((err = set_string(p, full, &s->branch, v, &c->queue.branch)) < 0)
				return err;
			if (!queue_branch_valid(v))
				return rb_err_set(RB_E_PARSE, "%s: %s = \"%.64s\" is not a usable branch name (use "
						  "A-Za-z0-9._-/ as in \"main\")", p->file, full, v);
			return RB_OK;
		}
		if (strcmp(k, "pollseconds") == 0) 
			return set_unsigned(p, full, &s->poll, v, 1, 3600, &c->queue.poll_seconds);
		if (strcmp(k, "publishseconds") == 0)
			return set_unsigned(p, full, &s->publish, v, 1, QUEUE_MAX_PUBLISH_SECONDS,
					    &c->queue.publish_seconds);
		if (strcmp(k, "claimseconds") == 0)
			return set_unsigned(p, full, &s->claim, v, SIGN_CONFIG_MIN_CLAIM_SECONDS,
					    SIGN_CONFIG_MAX_CLAIM_SECONDS, &c->queue.claim_seconds);
		if (strcmp(k, "maxrequestbytes") == 0)
			return set_uint(p, full, &s->max_request, v, 1, SIGN_CONFIG_MAX_REQUEST_BYTES,
					&c->queue.max_request_bytes);
		if (strcmp(k, "batchrequests") == 0) 
			return set_unsigned(p, full, &s->batch_requests, v, 1, 1000000, &c->queue.batch_requests);
		if (strcmp(k, "batchdocuments") == 0) 
			return set_unsigned(p, full, &s->batch_documents, v, 1, QUEUE_MAX_FILES_PER_COMMIT,
					    &c->queue.batch_documents);
		if (strcmp(k, "batchdocumentspernode") == 0) 
			return set_unsigned(p, full, &s->batch_node_documents, v, 1, QUEUE_MAX_FILES_PER_COMMIT,
					    &c->queue.batch_node_documents);
		if (strcmp(k, "batchresponsebytes") == 0)
			return set_uint(p, full, &s->batch_response_bytes, v, SIGN_CONFIG_MIN_BATCH_RESPONSE_BYTES,
					SIGN_CONFIG_MAX_BATCH_RESPONSE_BYTES, &c->queue.batch_response_bytes);
	} else if (strcmp(section, "audit") == 0) {
		if (strcmp(k, "dir") == 0)
			return set_path(p, full, &s->audit_dir, v, &c->audit_dir);
	}
	return RB_E_NOTFOUND;
}

/* libgit2 names entries "section.key" or "section.sub.section.key" with
 * section and key lower-cased and the subsection as written. */
static int entry_dispatch(struct parse *p, const char *name, const char *value)
{
	const char *first = strchr(name, '.'), *last = strrchr(name, '.');
	char section[32], sub[SIGN_CONFIG_MAX_NAME + 2];
	const char *k;
	size_t slen;
	int err;

	if (!first || !last[1])
		return rb_err_set(RB_E_PARSE, "%s: unknown key \"%.128s\"; see docs/formats/sign-config.md", p->file,
				  name);
	if (!value)
		return rb_err_set(RB_E_PARSE, "%s: %.128s has no value; write '%s = VALUE'", p->file, name,
				  last + 1);
	if (strlen(value) > MAX_VALUE_LEN)
		return rb_err_set(RB_E_PARSE, "%s: the value of %.128s is longer than %d bytes", p->file, name,
				  MAX_VALUE_LEN);
	slen = (size_t)(first - name);
	if (slen >= sizeof(section))
		goto unknown;
	memcpy(section, name, slen);
	section[slen] = '\0';
	k = last + 1;
	if (first == last) {
		err = entry_plain(p, name, section, k, value);
	} else {
		size_t sublen = (size_t)(last - first - 1);

		if (sublen >= sizeof(sub))
			return rb_err_set(RB_E_PARSE, "%s: the section name in %.128s is longer than %d characters",
					  p->file, name, SIGN_CONFIG_MAX_NAME);
		memcpy(sub, first + 1, sublen);
		sub[sublen] = '\0';
		if (strcmp(section, "node") == 0)
			err = entry_node(p, name, sub, k, value);
		else if (strcmp(section, "approver") == 0)
			err = entry_approver(p, name, sub, k, value);
		else if (strcmp(section, "key") == 0)
			err = entry_key(p, name, sub, k, value);
		else
			err = RB_E_NOTFOUND;
	}
	if (err != RB_E_NOTFOUND)
		return err;
unknown:
	return rb_err_set(RB_E_PARSE, "%s: unknown key \"%.128s\" (a typo must not disable a policy); the keys "
			  "are listed in docs/formats/sign-config.md", p->file, name);
}

/* ---- whole-file checks ---------------------------------------------------- */

static int check_required(struct parse *p)
{
	struct sign_config *c = p->c;

	if (!p->seen.version)
		return rb_err_set(RB_E_PARSE, "%s: rombsr.version is missing; add 'version = 1' under [rombsr]",
				  p->file);
	if (!c->state_dir)
		return rb_err_set(RB_E_PARSE, "%s: rombsr.stateDir is missing; name the sign node's state "
				  "directory", p->file);
	if (!c->manifest)
		return rb_err_set(RB_E_PARSE, "%s: rombsr.manifest is missing; name the key manifest", p->file);
	if (!c->queue.url)
		return rb_err_set(RB_E_PARSE, "%s: queue.url is missing; name the queue remote", p->file);
	return RB_OK;
}

static int check_fpr_unique(const struct parse *p, const char *fpr, const char *what, const char *name,
			    size_t node_upto, size_t approver_upto)
{
	for (size_t i = 0; i < node_upto; i++)
		if (strcmp(p->c->nodes[i].fingerprint, fpr) == 0)
			goto dup;
	for (size_t i = 0; i < approver_upto; i++)
		if (strcmp(p->c->approvers[i].fingerprint, fpr) == 0)
			goto dup;
	return RB_OK;
dup:
	return rb_err_set(RB_E_PARSE, "%s: %s \"%s\" has fingerprint %s, which is already used; every node and "
			  "approver needs its own key", p->file, what, name, fpr);
}

static int check_entries(struct parse *p)
{
	struct sign_config *c = p->c;
	int err;

	for (size_t i = 0; i < c->n_nodes; i++) {
		const struct sign_node *n = &c->nodes[i];

		if (!p->node_seen[i].fpr || !p->node_seen[i].key)
			return rb_err_set(RB_E_PARSE, "%s: [node \"%s\"] needs both fingerprint and publicKey",
					  p->file, n->name);
		if ((err = check_fpr_unique(p, n->fingerprint, "node", n->name, i, 0)) < 0)
			return err;
	}
	for (size_t i = 0; i < c->n_approvers; i++) {
		const struct sign_approver *a = &c->approvers[i];

		if (!p->approver_seen[i].fpr || !p->approver_seen[i].key)
			return rb_err_set(RB_E_PARSE, "%s: [approver \"%s\"] needs both fingerprint and publicKey",
					  p->file, a->name);
		if ((err = check_fpr_unique(p, a->fingerprint, "approver", a->name, c->n_nodes, i)) < 0)
			return err;
	}
	for (size_t i = 0; i < c->n_keys; i++) {
		const struct sign_key_policy *k = &c->keys[i];

		if (!p->key_seen[i].approvals)
			return rb_err_set(RB_E_PARSE, "%s: [key \"%s\"] lists approvers but not how many are "
					  "required; add 'approvers = N'", p->file, k->key);
		if (k->approvals > k->n_approvers)
			return rb_err_set(RB_E_PARSE, "%s: [key \"%s\"] requires %u approvals but lists %zu "
					  "approver(s); add 'approver = NAME' lines or lower 'approvers'", p->file,
					  k->key, k->approvals, k->n_approvers);
		for (size_t j = 0; j < k->n_approvers; j++)
			if (!sign_config_find_approver(c, k->approvers[j]))
				return rb_err_set(RB_E_PARSE, "%s: [key \"%s\"] names approver \"%s\", which has no "
						  "[approver \"%s\"] section", p->file, k->key, k->approvers[j],
						  k->approvers[j]);
	}
	return RB_OK;
}

static int apply_defaults(struct parse *p)
{
	struct sign_config *c = p->c;

	if (!c->hsm.max_sessions)
		c->hsm.max_sessions = 4;
	if (!c->queue.branch && !(c->queue.branch = strdup(QUEUE_DEFAULT_BRANCH)))
		return RB_E_NOMEM;
	if (!c->queue.poll_seconds)
		c->queue.poll_seconds = 10;
	if (!c->queue.publish_seconds)
		c->queue.publish_seconds = QUEUE_DEFAULT_PUBLISH_SECONDS;
	if (!c->queue.claim_seconds)
		c->queue.claim_seconds = SIGN_CONFIG_DEFAULT_CLAIM_SECONDS;
	if (!c->queue.batch_requests)
		c->queue.batch_requests = SIGN_CONFIG_DEFAULT_BATCH_REQUESTS;
	if (!c->queue.batch_documents)
		c->queue.batch_documents = SIGN_CONFIG_DEFAULT_BATCH_DOCUMENTS;
	if (!c->queue.batch_node_documents)
		c->queue.batch_node_documents = SIGN_CONFIG_DEFAULT_BATCH_NODE_DOCUMENTS;
	if (c->queue.batch_node_documents > c->queue.batch_documents)
		c->queue.batch_node_documents = c->queue.batch_documents;
	if (!c->queue.batch_response_bytes)
		c->queue.batch_response_bytes = SIGN_CONFIG_DEFAULT_BATCH_RESPONSE_BYTES;
	if (!c->queue.max_request_bytes)
		c->queue.max_request_bytes = SIGN_CONFIG_DEFAULT_REQUEST_BYTES;
	if (!c->audit_dir && asprintf(&c->audit_dir, "%s/audit", c->state_dir) < 0) {
		c->audit_dir = NULL;
		return RB_E_NOMEM;
	}
	return RB_OK;
}

/* libgit2 follows [include] and [includeIf] while it parses, before any
 * entry reaches us, and would read (uncapped) whatever file they name.
 * So they are refused here first: any '[' followed by a name starting
 * with "include", wherever it is, in any case. */
static int includes_refuse(const char *file, const uint8_t *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		size_t j = i + 1;

		if (text[i] != '[')
			continue;
		while (j < len && (text[j] == ' ' || text[j] == '\t'))
			j++;
		if (len - j >= 7 && strncasecmp((const char *)text + j, "include", 7) == 0)
			return rb_err_set(RB_E_PARSE, "%s: [include] and [includeIf] are not allowed (include.path); "
					  "sign.conf is one self-contained file", file);
	}
	return RB_OK;
}

static int git_fail(const char *file, const char *what)
{
	const git_error *e = git_error_last();

	return rb_err_set(RB_E_PARSE, "%s: %s: %s; fix the syntax (git-config format)", file, what,
			  e && e->message ? e->message : "libgit2 failed");
}

static int parse_file(struct parse *p)
{
	_cleanup_(git_config_freep) git_config *cfg = NULL;
	_cleanup_(git_config_iterator_freep) git_config_iterator *it = NULL;
	git_config_entry *e;
	int err;

	if (git_config_open_ondisk(&cfg, p->file) < 0)
		return git_fail(p->file, "cannot parse");
	if (git_config_iterator_new(&it, cfg) < 0)
		return git_fail(p->file, "cannot read entries");
	while ((err = git_config_next(&e, it)) == 0)
		if ((err = entry_dispatch(p, e->name, e->value)) < 0)
			return err;
	if (err != GIT_ITEROVER)
		return git_fail(p->file, "cannot read entries");
	return RB_OK;
}

int sign_config_load(const char *path, struct sign_config **ret)
{
	_cleanup_free_ uint8_t *text = NULL;
	_cleanup_free_ char *abs = NULL;
	struct parse p = { 0 };
	size_t len;
	char *slash;
	int err;

	if (!path || !ret)
		return RB_E_INVAL;
	/* The cap is checked here because libgit2 reads whatever it is given. */
	if ((err = rb_file_read(path, SIGN_CONFIG_MAX_BYTES, &text, &len)) < 0)
		return err == RB_E_TOOBIG ? rb_err_set(err, "%s: larger than %zu bytes; this is not a sign.conf",
						       path, SIGN_CONFIG_MAX_BYTES) : err;
	if (memchr(text, '\0', len))
		return rb_err_set(RB_E_PARSE, "%s: contains a NUL byte; sign.conf is a text file", path);
	if ((err = includes_refuse(path, text, len)) < 0 || (err = queue_global_init()) < 0)
		return err;
	if (!(abs = realpath(path, NULL)))
		return rb_err_set(RB_E_IO, "%s: cannot resolve the path: %s", path, strerror(errno));
	if (!(p.c = calloc(1, sizeof(*p.c))) || !(p.dir = strdup(abs))) {
		err = RB_E_NOMEM;
		goto out;
	}
	slash = strrchr(p.dir, '/');
	slash[slash == p.dir ? 1 : 0] = '\0';
	p.file = path;
	if ((err = parse_file(&p)) < 0 || (err = check_required(&p)) < 0 || (err = check_entries(&p)) < 0 ||
	    (err = apply_defaults(&p)) < 0)
		goto out;
	p.c->path = TAKE_PTR(abs);
	*ret = TAKE_PTR(p.c);
out:
	sign_config_free(p.c);
	free(p.dir);
	free(p.node_seen);
	free(p.approver_seen);
	free(p.key_seen);
	return err;
}

/* ---- lookups -------------------------------------------------------------- */

const struct sign_node *sign_config_find_node(const struct sign_config *c, const char *name)
{
	for (size_t i = 0; c && name && i < c->n_nodes; i++)
		if (strcmp(c->nodes[i].name, name) == 0)
			return &c->nodes[i];
	return NULL;
}

const struct sign_approver *sign_config_find_approver(const struct sign_config *c, const char *name)
{
	for (size_t i = 0; c && name && i < c->n_approvers; i++)
		if (strcmp(c->approvers[i].name, name) == 0)
			return &c->approvers[i];
	return NULL;
}

const struct sign_key_policy *sign_config_find_key(const struct sign_config *c, const char *key)
{
	for (size_t i = 0; c && key && i < c->n_keys; i++)
		if (strcmp(c->keys[i].key, key) == 0)
			return &c->keys[i];
	return NULL;
}

bool sign_config_find_fingerprint(const struct sign_config *c, const char *fpr,
				  const struct sign_node **ret_node, const struct sign_approver **ret_approver)
{
	char norm[SIGN_CONFIG_FPR_HEX + 1];

	if (!c || !fpr || sign_config_fpr_normalise(fpr, norm) < 0)
		return false;
	for (size_t i = 0; i < c->n_nodes; i++)
		if (strcmp(c->nodes[i].fingerprint, norm) == 0) {
			if (ret_node)
				*ret_node = &c->nodes[i];
			return true;
		}
	for (size_t i = 0; i < c->n_approvers; i++)
		if (strcmp(c->approvers[i].fingerprint, norm) == 0) {
			if (ret_approver)
				*ret_approver = &c->approvers[i];
			return true;
		}
	return false;
}

bool sign_node_allows_key(const struct sign_node *n, const char *key)
{
	return n && key && strv_has(n->allow_keys, n->n_allow_keys, key);
}
