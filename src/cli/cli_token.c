/* Opening the configured token for the admin verbs (cli_hsm.h). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cli_hsm.h"
#include "p11/wrap.h"
#include "util/cleanup.h"
#include "util/err.h"

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
