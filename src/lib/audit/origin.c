/* Audit-log origins (origin.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/origin.h"
#include "util/cleanup.h"
#include "util/err.h"

int audit_origin_for_token(const char *token_label, char **ret)
{
	char *origin;

	if (asprintf(&origin, "%s%s", AUDIT_ORIGIN_PREFIX, token_label) < 0)
		return RB_E_NOMEM;
	/* A label may hold anything; an origin line must not. */
	for (char *p = origin + strlen(AUDIT_ORIGIN_PREFIX); *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '.' || *p == '_'))
			*p = '-';
	*ret = origin;
	return RB_OK;
}

int audit_origin_for_node(const char *token_label, const char *sign_node, char **ret)
{
	_cleanup_free_ char *base = NULL;
	int err;

	if ((err = audit_origin_for_token(token_label, &base)) < 0)
		return err;
	if (!sign_node) {
		*ret = TAKE_PTR(base);
		return RB_OK;
	}
	if (asprintf(ret, "%s/%s", base, sign_node) < 0)
		return RB_E_NOMEM;
	return RB_OK;
}
