/* The names of the sign node's audit logs (a checkpoint's first line,
 * docs/formats/audit-log.md): one per token, and one per named sign node
 * on it. The sign node, its key holder (which signs checkpoints of its own
 * log only) and the key-lifecycle commands all derive them here. Callers
 * free the strings. */
#ifndef ROMBSR_AUDIT_ORIGIN_H
#define ROMBSR_AUDIT_ORIGIN_H

#define AUDIT_ORIGIN_PREFIX "rombsr-audit/"

/* "rombsr-audit/" + token_label with every byte outside [A-Za-z0-9._-]
 * as '-'. */
int audit_origin_for_token(const char *token_label, char **ret);
/* The token's origin, and for a node with a name (rombsr.signNode; NULL
 * for none) "/" and the name, so that sign nodes sharing a token grow
 * logs of different names rather than a fork of one. */
int audit_origin_for_node(const char *token_label, const char *sign_node, char **ret);

#endif
