/* The options of the verbs that touch the HSM or read its state (cli_hsm.h):
 * no PKCS#11 call here, so the auditor's program can use them too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_hsm.h"
#include "config.h"
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

