/* The capture module's configuration: a small JSON file named by
 * ROMBSR_CAPTURE_CONFIG, or environment variables
 * (docs/formats/capture-config.md). The module runs inside arbitrary build
 * tools, so every error says which variable or file is wrong and how to
 * fix it. Paths are made absolute when loaded, because tools change
 * directory after loading the module. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture/capture.h"
#include "json/json.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fileio.h"

#define CONFIG_MAX_BYTES (64 * 1024)

#define ENV_CONFIG "ROMBSR_CAPTURE_CONFIG"
#define ENV_MANIFEST "ROMBSR_CAPTURE_MANIFEST"
#define ENV_SPOOL "ROMBSR_CAPTURE_SPOOL"
#define ENV_BUILD_ID "ROMBSR_BUILD_ID"
#define ENV_LOG "ROMBSR_CAPTURE_LOG"
#define ENV_PIN_FILE "ROMBSR_CAPTURE_PIN_FILE"

void capture_config_free(struct capture_config *c)
{
	if (!c)
		return;
	free(c->manifest_path);
	free(c->spool_dir);
	free(c->build_id);
	free(c->log_path);
	free(c->pin_file);
	free(c->source);
	free(c);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct capture_config *, capture_config_free)

/* base/p for a relative p (base NULL: p as is). */
static int path_join(const char *base, const char *p, char **ret)
{
	size_t bl;

	if (p[0] == '/' || !base) {
		*ret = strdup(p);
		return *ret ? RB_OK : RB_E_NOMEM;
	}
	bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	if (asprintf(ret, "%.*s/%s", (int)bl, base, p) < 0) {
		*ret = NULL;
		return RB_E_NOMEM;
	}
	return RB_OK;
}

/* The directory part of path ("." if none, "/" for "/x"). */
static int dir_of(const char *path, char **ret)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		*ret = strdup(".");
	else if (slash == path)
		*ret = strdup("/");
	else
		*ret = strndup(path, (size_t)(slash - path));
	return *ret ? RB_OK : RB_E_NOMEM;
}

/* p made absolute against the current directory. */
static int make_absolute(const char *p, char **ret)
{
	char cwd[PATH_MAX];

	if (p[0] == '/') {
		*ret = strdup(p);
		return *ret ? RB_OK : RB_E_NOMEM;
	}
	if (!getcwd(cwd, sizeof(cwd)))
		return rb_err_set(RB_E_IO, "cannot resolve relative path \"%.200s\": current "
				  "directory unknown: %s; use an absolute path", p, strerror(errno));
	return path_join(cwd, p, ret);
}

static bool path_ok(const char *p)
{
	size_t n = strlen(p);

	return n > 0 && n < PATH_MAX;
}

static int get_path(const struct json_value *root, const char *key, bool required,
		    const char *base, char **ret)
{
	const char *s;
	int err = required ? json_get_string(root, key, &s) : json_get_string_opt(root, key, &s);

	if (err == RB_E_NOTFOUND) {
		*ret = NULL;
		return RB_OK;
	}
	if (err < 0)
		return err;
	if (!path_ok(s))
		return json_err_set(json_object_get(root, key), RB_E_PARSE,
				    "%s must be a non-empty path shorter than %d bytes", key, PATH_MAX);
	return path_join(base, s, ret);
}

static int parse_tree(const struct json_value *root, const char *base, struct capture_config *c)
{
	static const char *const required[] = { "format", "version", "manifest", "spool",
						"build_id", NULL };
	static const char *const optional[] = { "log", "pin_file", NULL };
	const char *s;
	int64_t version;
	int err;

	if ((err = json_expect_type(root, JSON_OBJECT)) < 0 ||
	    (err = json_object_check_keys(root, required, optional)) < 0 ||
	    (err = json_get_string(root, "format", &s)) < 0)
		return err;
	if (strcmp(s, CAPTURE_CONFIG_FORMAT) != 0)
		return json_err_set(json_object_get(root, "format"), RB_E_PARSE,
				    "format is \"%.40s\", expected \"" CAPTURE_CONFIG_FORMAT "\"", s);
	if ((err = json_get_int(root, "version", &version)) < 0)
		return err;
	if (version != CAPTURE_CONFIG_VERSION)
		return json_err_set(json_object_get(root, "version"), RB_E_UNSUPPORTED,
				    "version %lld is not supported (this rombsr reads version %d)",
				    (long long)version, CAPTURE_CONFIG_VERSION);
	if ((err = json_get_string(root, "build_id", &s)) < 0)
		return err;
	if (!capture_build_id_valid(s))
		return json_err_set(json_object_get(root, "build_id"), RB_E_PARSE,
				    "build_id must be 1-%d characters of [A-Za-z0-9._-], not starting "
				    "with '.' or '-'", CAPTURE_BUILD_ID_MAX);
	if (!(c->build_id = strdup(s)))
		return RB_E_NOMEM;
	if ((err = get_path(root, "manifest", true, base, &c->manifest_path)) < 0 ||
	    (err = get_path(root, "spool", true, base, &c->spool_dir)) < 0 ||
	    (err = get_path(root, "log", false, base, &c->log_path)) < 0 ||
	    (err = get_path(root, "pin_file", false, base, &c->pin_file)) < 0)
		return err;
	return RB_OK;
}

int capture_config_parse(const char *text, size_t len, const char *path,
			 struct capture_config **ret)
{
	const struct json_limits lim = {
		.max_input = CONFIG_MAX_BYTES,
		.max_string = PATH_MAX,
		.max_items = 16,
		.max_values = 32,
		.max_depth = 2,
	};
	_cleanup_(capture_config_freep) struct capture_config *c = NULL;
	_cleanup_json_ struct json_value *root = NULL;
	_cleanup_free_ char *base = NULL;
	char detail[RB_ERR_DETAIL_MAX];
	const char *name = path ? path : "(unnamed)";
	int err;

	if (!ret || (!text && len > 0))
		return rb_err_set(RB_E_INVAL, "capture config %s: missing argument", name);
	if (path && (err = dir_of(path, &base)) < 0)
		return err;
	if (len > CONFIG_MAX_BYTES) {
		err = rb_err_set(RB_E_TOOBIG, "%zu bytes exceeds the limit of %d bytes", len,
				 CONFIG_MAX_BYTES);
		goto bad;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return RB_E_NOMEM;
	if ((err = json_parse(text ? text : "", len, &lim, &root)) < 0 ||
	    (err = parse_tree(root, base, c)) < 0)
		goto bad;
	if (asprintf(&c->source, ENV_CONFIG "=%s", name) < 0) {
		c->source = NULL;
		return RB_E_NOMEM;
	}
	*ret = TAKE_PTR(c);
	return RB_OK;
bad:
	if (err == RB_E_NOMEM)
		return err;
	rb_err_save(err, detail);
	return rb_err_set(err, "capture config %s: %s; see docs/formats/capture-config.md", name,
			  detail);
}

static int load_file(const char *path, struct capture_config **ret)
{
	_cleanup_free_ uint8_t *text = NULL;
	_cleanup_free_ char *abs = NULL;
	char detail[RB_ERR_DETAIL_MAX];
	size_t len;
	int err;

	if (!path_ok(path))
		return rb_err_set(RB_E_INVAL, ENV_CONFIG " is empty or too long: set it to the path of "
				  "a " CAPTURE_CONFIG_FORMAT " file, or unset it to configure "
				  "through " ENV_MANIFEST ", " ENV_SPOOL " and " ENV_BUILD_ID);
	if ((err = make_absolute(path, &abs)) < 0)
		return err;
	if ((err = rb_file_read(abs, CONFIG_MAX_BYTES, &text, &len)) < 0) {
		rb_err_save(err, detail);
		return rb_err_set(err, ENV_CONFIG "=%s: %s; point it at a readable "
				  CAPTURE_CONFIG_FORMAT " file", path, detail);
	}
	return capture_config_parse((const char *)text, len, abs, ret);
}

static int env_path(const char *var, bool required, char **ret)
{
	const char *v = secure_getenv(var);

	*ret = NULL;
	if (!v) {
		if (!required)
			return RB_OK;
		if (strcmp(var, ENV_MANIFEST) == 0)
			return rb_err_set(RB_E_NOTFOUND, ENV_MANIFEST " is not set: point it at the key "
					  "manifest (rombsr keys export ...) or set " ENV_CONFIG);
		return rb_err_set(RB_E_NOTFOUND, ENV_SPOOL " is not set: point it at the directory "
				  "where signing requests are collected, or set " ENV_CONFIG);
	}
	if (!path_ok(v))
		return rb_err_set(RB_E_INVAL, "%s is empty or too long: set it to a path, or unset "
				  "it%s", var, required ? " and set " ENV_CONFIG : "");
	return make_absolute(v, ret);
}

/* Up to 64 bytes of untrusted s for an error detail, non-printables as '?'. */
static void printable(const char *s, char out[65])
{
	size_t i;

	for (i = 0; i < 64 && s[i]; i++)
		out[i] = s[i] >= 0x20 && s[i] <= 0x7e ? s[i] : '?';
	out[i] = '\0';
}

static int load_env(struct capture_config **ret)
{
	char shown[65];
	_cleanup_(capture_config_freep) struct capture_config *c = NULL;
	const char *build_id;
	int err;

	c = calloc(1, sizeof(*c));
	if (!c)
		return RB_E_NOMEM;
	if ((err = env_path(ENV_MANIFEST, true, &c->manifest_path)) < 0 ||
	    (err = env_path(ENV_SPOOL, true, &c->spool_dir)) < 0)
		return err;
	build_id = secure_getenv(ENV_BUILD_ID);
	if (!build_id)
		return rb_err_set(RB_E_NOTFOUND, ENV_BUILD_ID " is not set: give every build a unique "
				  "id of [A-Za-z0-9._-] (for example the CI job id), or set "
				  ENV_CONFIG);
	if (!capture_build_id_valid(build_id)) {
		printable(build_id, shown);
		return rb_err_set(RB_E_INVAL, ENV_BUILD_ID "=\"%s\" is invalid: use 1-%d characters "
				  "of [A-Za-z0-9._-], not starting with '.' or '-'", shown,
				  CAPTURE_BUILD_ID_MAX);
	}
	if (!(c->build_id = strdup(build_id)) || !(c->source = strdup("environment")))
		return RB_E_NOMEM;
	if ((err = env_path(ENV_LOG, false, &c->log_path)) < 0 ||
	    (err = env_path(ENV_PIN_FILE, false, &c->pin_file)) < 0)
		return err;
	*ret = TAKE_PTR(c);
	return RB_OK;
}

int capture_config_load(struct capture_config **ret)
{
	const char *file;

	if (!ret)
		return rb_err_set(RB_E_INVAL, "capture config: missing result");
	file = secure_getenv(ENV_CONFIG);
	if (file)
		return load_file(file, ret);
	return load_env(ret);
}
