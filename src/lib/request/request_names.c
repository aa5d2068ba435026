/* Names in request documents - kinds, nodes, artifact paths - and the id
 * of raw and openpgp requests (docs/formats/request.md). */
#include <string.h>

#include <openssl/evp.h>

#include "request/claim.h"
#include "request/request.h"
#include "util/buf.h"
#include "util/err.h"

const char *request_kind_name(enum request_kind k)
{
	switch (k) {
	case REQUEST_KIND_CAPTURE:
		return "capture";
	case REQUEST_KIND_RAW:
		return "raw";
	case REQUEST_KIND_OPENPGP:
		return "openpgp";
	}
	return NULL;
}

unsigned request_kind_purposes(enum request_kind k)
{
	switch (k) {
	case REQUEST_KIND_CAPTURE:
		return KEY_PURPOSES_CAPTURE;
	case REQUEST_KIND_RAW:
		return KEY_PURPOSE_RAW_DETACHED;
	case REQUEST_KIND_OPENPGP:
		return KEY_PURPOSE_OPENPGP_DETACHED;
	}
	return 0;
}

int request_key_purpose_check(enum request_kind k, const struct manifest_key *key)
{
	char have[KEY_PURPOSES_TEXT_MAX], want[KEY_PURPOSES_TEXT_MAX];

	if (key->purposes & KEY_PURPOSES_SIGN_NODE)
		return rb_err_set(RB_E_PERM, "key \"%s\" (%s) signs only what the sign node itself composes "
				  "(%s); no request may use it. Ask for a key whose purposes include %s",
				  key->name, key_purposes_format(key->purposes, ", ", have),
				  key->purposes & KEY_PURPOSE_QUEUE_RESPONSE ? "response commits" : "audit checkpoints",
				  key_purposes_format(request_kind_purposes(k), " or ", want));
	if (!(key->purposes & request_kind_purposes(k)))
		return rb_err_set(RB_E_PERM, "key \"%s\" has purposes %s and does not sign %s requests, which "
				  "need %s; use a key provisioned for that purpose",
				  key->name, key_purposes_format(key->purposes, ", ", have),
				  request_kind_name(k) ? request_kind_name(k) : "such",
				  key_purposes_format(request_kind_purposes(k), " or ", want));
	return RB_OK;
}

int request_kind_from_name(const char *name, enum request_kind *ret)
{
	static const enum request_kind all[] = { REQUEST_KIND_CAPTURE, REQUEST_KIND_RAW,
						 REQUEST_KIND_OPENPGP };

	for (size_t i = 0; name && i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(name, request_kind_name(all[i])) == 0) {
			*ret = all[i];
			return RB_OK;
		}
	return RB_E_PARSE;
}

static bool is_alnum(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool request_node_valid(const char *name)
{
	size_t n;

	if (!name || !is_alnum(name[0]))
		return false;
	for (n = 1; name[n]; n++)
		if (n >= REQUEST_NODE_MAX ||
		    !(is_alnum(name[n]) || name[n] == '.' || name[n] == '_' || name[n] == '-'))
			return false;
	return true;
}

/* The next component of *s, up to '/' (last: up to the end), into out of
 * size n; false if it is empty, too long, or ends where it must not. */
static bool path_next(const char **s, bool last, char *out, size_t n)
{
	const char *slash = strchr(*s, '/');
	size_t len = slash ? (size_t)(slash - *s) : strlen(*s);

	if (last != !slash || len == 0 || len >= n)
		return false;
	memcpy(out, *s, len);
	out[len] = '\0';
	*s += len + (slash ? 1 : 0);
	return true;
}

/* "<build>.json" -> build. */
static bool path_build_file(const char **s, char build[CAPTURE_BUILD_ID_MAX + 1])
{
	char file[CAPTURE_BUILD_ID_MAX + 6];
	size_t n;

	if (!path_next(s, true, file, sizeof(file)) || (n = strlen(file)) <= 5 ||
	    strcmp(file + n - 5, ".json") != 0)
		return false;
	memcpy(build, file, n - 5);
	build[n - 5] = '\0';
	return capture_build_id_valid(build);
}

bool request_path_parse(const char *path, struct request_path *ret)
{
	static const struct {
		const char *prefix;
		enum request_path_area area;
	} areas[] = {
		{ "requests/", REQUEST_PATH_REQUEST },
		{ "approvals/", REQUEST_PATH_APPROVAL },
		{ "responses/", REQUEST_PATH_RESPONSE },
		{ "claims/", REQUEST_PATH_CLAIM },
	};
	struct request_path p = { 0 };
	const char *s = NULL;
	char gen[16];

	if (!path || !ret)
		return false;
	for (size_t i = 0; i < sizeof(areas) / sizeof(areas[0]); i++)
		if (strncmp(path, areas[i].prefix, strlen(areas[i].prefix)) == 0) {
			p.area = areas[i].area;
			s = path + strlen(areas[i].prefix);
		}
	if (!s)
		return false;
	if (p.area == REQUEST_PATH_APPROVAL &&
	    (!path_next(&s, false, p.approver, sizeof(p.approver)) || !request_node_valid(p.approver)))
		return false;
	if (!path_next(&s, false, p.node, sizeof(p.node)) || !request_node_valid(p.node))
		return false;
	if (p.area == REQUEST_PATH_CLAIM) {
		if (!path_next(&s, false, p.build, sizeof(p.build)) || !capture_build_id_valid(p.build) ||
		    !path_next(&s, true, gen, sizeof(gen)) || !claim_file_generation(gen, &p.generation))
			return false;
	} else if (!path_build_file(&s, p.build)) {
		return false;
	}
	*ret = p;
	return true;
}

/* A whitelist, not a blacklist: only these bytes can appear, so no
 * separator other than '/' (no '\\', no NUL, no control, no ':') exists,
 * and the component checks below rule out "", "." and "..". */
static bool is_name_char(char c)
{
	return is_alnum(c) || c == '.' || c == '_' || c == '+' || c == '-';
}

bool request_artifact_name_valid(const char *name)
{
	size_t i, start = 0, n;

	if (!name)
		return false;
	n = strnlen(name, REQUEST_ARTIFACT_NAME_MAX + 1);
	if (n == 0 || n > REQUEST_ARTIFACT_NAME_MAX)
		return false;
	for (i = 0; i <= n; i++) {
		size_t clen;

		if (i < n && name[i] != '/') {
			if (!is_name_char(name[i]))
				return false;
			continue;
		}
		clen = i - start;
		if (clen == 0 || (clen == 1 && name[start] == '.') ||
		    (clen == 2 && name[start] == '.' && name[start + 1] == '.'))
			return false;
		start = i + 1;
	}
	return true;
}

static int put_lp(struct rb_buf *b, const void *p, size_t n)
{
	int err;

	if (n > UINT32_MAX)
		return RB_E_INVAL;
	if ((err = rb_buf_put_u32be(b, (uint32_t)n)) < 0)
		return err;
	return rb_buf_put(b, p, n);
}

int request_direct_id(const char *build_id, enum request_kind kind,
		      const uint8_t spki_sha256[32], const char *algo, const char *artifact_name,
		      const uint8_t *digest, size_t digest_len, uint8_t ret[REQUEST_ID_LEN])
{
	struct rb_buf b = RB_BUF_INIT;
	const char *kname = request_kind_name(kind);
	unsigned int n = 0;
	int err;

	if (!build_id || !spki_sha256 || !algo || !artifact_name || !digest || !ret ||
	    (kind != REQUEST_KIND_RAW && kind != REQUEST_KIND_OPENPGP))
		return RB_E_INVAL;
	if ((err = put_lp(&b, REQUEST_DIRECT_ID_TAG, strlen(REQUEST_DIRECT_ID_TAG))) < 0 ||
	    (err = put_lp(&b, build_id, strlen(build_id))) < 0 ||
	    (err = put_lp(&b, kname, strlen(kname))) < 0 ||
	    (err = put_lp(&b, spki_sha256, 32)) < 0 ||
	    (err = put_lp(&b, algo, strlen(algo))) < 0 ||
	    (err = put_lp(&b, artifact_name, strlen(artifact_name))) < 0 ||
	    (err = put_lp(&b, digest, digest_len)) < 0)
		goto out;
	if (EVP_Digest(b.data, b.len, ret, &n, EVP_sha256(), NULL) != 1 || n != REQUEST_ID_LEN)
		err = rb_err_set(RB_E_CRYPTO, "request id: SHA-256 failed");
out:
	rb_buf_free(&b);
	return err;
}
