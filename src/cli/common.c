#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "p11/wrap.h"
#include "util/cleanup.h"
#include "util/err.h"

void cli_common_init(struct cli_common *c)
{
	memset(c, 0, sizeof(*c));
	c->module = ROMBSR_DEFAULT_SOFTHSM_MODULE;
	c->token = NULL; /* --token, else the manifest's token, else "rombsr" */
}

void cli_common_done(struct cli_common *c)
{
	free(c->manifest_buf);
	c->manifest_buf = NULL;
}

int cli_common_opt(struct cli_common *c, int opt, const char *arg)
{
	switch (opt) {
	case 0x100: c->state_dir = arg; return 1;
	case 0x101: c->module = arg; return 1;
	case 0x102: c->token = arg; return 1;
	case 0x103: c->manifest = arg; return 1;
	case 0x104: c->pin = (struct p11_pin_source){ P11_PIN_FILE, arg }; return 1;
	case 0x105: c->pin = (struct p11_pin_source){ P11_PIN_FD, arg }; return 1;
	case 0x106: c->pin = (struct p11_pin_source){ P11_PIN_ENV, arg }; return 1;
	}
	return 0;
}

bool cli_module_is_softhsm(const char *module)
{
	return strstr(module, "softhsm") != NULL;
}

int cli_softhsm_conf_path(const char *state_dir, char **ret)
{
	if (asprintf(ret, "%s/softhsm2.conf", state_dir) < 0)
		return RB_E_NOMEM;
	return RB_OK;
}

int cli_common_finish(struct cli_common *c)
{
	if (!c->state_dir)
		c->state_dir = getenv("ROMBSR_STATE_DIR");
	if (!c->state_dir || !*c->state_dir)
		c->state_dir = "rombsr-state";
	if (!c->manifest) {
		if (asprintf(&c->manifest_buf, "%s/manifest.json", c->state_dir) < 0)
			return RB_E_NOMEM;
		c->manifest = c->manifest_buf;
	}
	/* SoftHSM2 finds its token directory through SOFTHSM2_CONF only; a
	 * state directory made by hsm-provision carries its own config. An
	 * explicit SOFTHSM2_CONF from the caller wins. */
	if (cli_module_is_softhsm(c->module) && !getenv("SOFTHSM2_CONF")) {
		_cleanup_free_ char *conf = NULL;

		if (cli_softhsm_conf_path(c->state_dir, &conf) < 0)
			return RB_E_NOMEM;
		if (access(conf, R_OK) == 0)
			setenv("SOFTHSM2_CONF", conf, 1);
	}
	if (c->pin.kind == P11_PIN_NONE && isatty(STDIN_FILENO))
		c->pin = (struct p11_pin_source){ P11_PIN_PROMPT, "Operator PIN: " };
	return RB_OK;
}

int cli_parse_uint(const char *verb, const char *opt, const char *arg, unsigned max, unsigned *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || !*arg || *arg == '-' || *arg == '+' || *end || v > max)
		return cli_usage_error(verb, "%s takes a number from 0 to %u", opt, max);
	*ret = (unsigned)v;
	return EXIT_OK;
}

/* What the running verb works on, for a failure that comes without a
 * detail of its own. */
static char working_on[256];

void cli_working_on(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(working_on, sizeof(working_on), fmt, ap);
	va_end(ap);
}

void cli_begin(void)
{
	working_on[0] = '\0';
	rb_err_clear();
}

int cli_fail(const char *verb, int err)
{
	if (rb_err_has_detail(err))
		fprintf(stderr, "rombsr %s: %s\n", verb, rb_err_message(err));
	else if (working_on[0])
		fprintf(stderr, "rombsr %s: %s: %s\n", verb, working_on, rb_strerror(err));
	else
		fprintf(stderr, "rombsr %s: %s\n", verb, rb_strerror(err));
	return rb_exit_code(err);
}

int cli_usage_error(const char *verb, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "rombsr %s: ", verb);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "; see 'rombsr %s --help'\n", verb);
	return EXIT_USAGE;
}

int cli_open_token(struct cli_common *c, bool login, struct p11_module **ret_mod,
		   struct p11_token **ret_tok)
{
	struct p11_module *m = NULL;
	struct p11_token *t = NULL;
	struct rb_secret *pin = NULL;
	int err;

	if ((err = p11_module_load(c->module, &m)) < 0)
		return err;
	if ((err = p11_token_open(m, c->token ? c->token : "rombsr", 0, &t)) < 0) {
		p11_module_free(m);
		return err;
	}
	/* Wrapped keys in STATE/wrapped are found like resident ones. */
	if (c->state_dir) {
		_cleanup_free_ char *store = NULL;
		struct stat st;

		if (asprintf(&store, "%s/%s", c->state_dir, WRAP_STORE_DEFAULT_DIR) < 0) {
			p11_module_free(m);
			return RB_E_NOMEM;
		}
		if (stat(store, &st) == 0 && S_ISDIR(st.st_mode) &&
		    (err = p11_token_set_wrapped_store(t, store, 0)) < 0) {
			p11_module_free(m);
			return err;
		}
	}
	if (login) {
		if ((err = p11_pin_read(&c->pin, &pin)) == RB_OK)
			err = p11_token_login(t, CKU_USER, pin);
		rb_secret_free(pin);
		if (err < 0) {
			p11_module_free(m);
			return err;
		}
	}
	*ret_mod = m;
	*ret_tok = t;
	return RB_OK;
}
