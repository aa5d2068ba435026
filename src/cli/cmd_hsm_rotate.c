/* rombsr hsm-rotate-keys: give active keys successors on the token, retire
 * the old keys, link both in the manifest, optionally write a rotation
 * statement signed by both keys (rombsr verify-rotation checks one:
 * cmd_verify_rotation.c).
 *
 * Order, so that a failure never publishes half a rotation: everything
 * that needs no token is checked first; successors are generated; the
 * statement is built, verified and written; the audit entries are made
 * durable under a signed checkpoint; the manifest is replaced last, in one
 * atomic rename. A successor generated before a later failure stays on the
 * token unused (PKCS#11 keys are not deleted here) and is named on stderr. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin/lifecycle.h"
#include "admin/provision.h"
#include "audit/entry.h"
#include "cli_hsm.h"
#include "json/json.h"
#include "keys/manifest.h"
#include "keys/rotation.h"
#include "queue/config.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/timefmt.h"

static const char verb[] = "hsm-rotate-keys";

static void help(void)
{
	printf("usage: rombsr hsm-rotate-keys [--key KEY [--successor NAME] [--statement FILE]]\n"
	       "                              [--sign-config FILE] [--audit-dir DIR] [--actor NAME]\n"
	       "\n"
	       "Rotate KEY (without --key: every active key except 'queue' and 'audit', which\n"
	       "the sign node finds by name): generate a successor on the token with the same\n"
	       "algorithm, size and purpose and a fresh CKA_ID, with an X.509 certificate of\n"
	       "the same subject and validity period signed by the successor through the HSM,\n"
	       "and an OpenPGP certificate (same user ID) if the old key had one. A wrapped\n"
	       "key (STATE/wrapped/NAME.json) gets a wrapped successor. In the manifest, which is\n"
	       "replaced atomically, the old key becomes 'retired' (it still verifies, never\n"
	       "signs) with a successor link, and the successor is 'active' with a\n"
	       "predecessor link. Revoked and retired keys are not rotated.\n"
	       "\n"
	       "  --key KEY           key name, or its SPKI SHA-256 fingerprint in hex: all\n"
	       "                      64 digits or a unique prefix of at least 16 (--key-id\n"
	       "                      is the same option)\n"
	       "  --successor NAME    name (CKA_LABEL) of the successor; default: the lineage's\n"
	       "                      first name plus -2, -3, ... (media -> media-2 -> media-3)\n"
	       "  --statement FILE    write a rotation statement signed by both keys (each\n"
	       "                      over the other's SPKI); check it with 'rombsr\n"
	       "                      verify-rotation FILE'. FILE must not exist\n"
	       "  --sign-config FILE  sign.conf: which nodes need allowKey for the successor\n"
	       "  --audit-dir DIR     audit log for the 'rotate' entries (default: sign.conf's\n"
	       "                      audit.dir, else STATE/audit if it exists); the entries\n"
	       "                      get a checkpoint signed by the 'audit' key. Stop the\n"
	       "                      sign node while writing to its log (one writer at a time)\n"
	       "  --actor NAME        who rotates, for the audit entry (default: operator)\n"
	       CLI_COMMON_HELP
	       "\n"
	       "Exit codes: 3 malformed manifest, 4 unknown key, 5 key revoked, retired,\n"
	       "'queue' or 'audit', 10 successor name or statement file exists; on any error\n"
	       "the manifest is not changed.\n");
}

struct rotation {
	size_t old_index;
	char *new_name;
	struct json_value *entry; /* the audit entry */
};

struct plan {
	struct rotation *r;
	size_t n;
	struct rb_buf statement;
};

static void plan_clear(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->r[i].new_name);
		json_free(p->r[i].entry);
	}
	free(p->r);
	rb_buf_free(&p->statement);
}

/* The token key behind a manifest key, checked to be that key. */
static int token_key(struct p11_token *tok, const struct manifest_key *mk, struct p11_key **ret)
{
	struct p11_key *key;
	int err;

	if ((err = p11_token_find_key(tok, mk->uri, &key)) < 0)
		return err;
	if (EVP_PKEY_eq(p11_key_public(key), mk->pub) != 1)
		return rb_err_set(RB_E_VERIFY, "key '%s' on token '%s' is not the key in the manifest; refusing "
				  "to rotate it (was the token replaced?)", mk->name, p11_token_label(tok));
	*ret = key;
	return RB_OK;
}

/* Generate the successor of m->keys[r->old_index] and link it in. */
static int rotate_one(struct p11_token *tok, struct manifest *m, struct rotation *r, const char *actor,
		      const char *wrapped_dir, bool want_statement, struct rb_buf *statement, int64_t now)
{
	struct keyspec *spec = NULL;
	struct manifest_key nk = { 0 };
	struct p11_key *old_key, *new_key;
	struct rb_signer os, ns;
	struct audit_key_info info;
	int err;

	if ((err = key_lifecycle_successor_spec(&m->keys[r->old_index], r->new_name, &spec)) < 0 ||
	    (err = token_key(tok, &m->keys[r->old_index], &old_key)) < 0)
		goto out;
	if (strcmp(key_lifecycle_storage(&m->keys[r->old_index], wrapped_dir), "wrapped") != 0)
		wrapped_dir = NULL;
	fprintf(stderr, "rombsr: generating %s key '%s', successor of '%s'\n", wrapped_dir ? "wrapped" : "resident",
		r->new_name, m->keys[r->old_index].name);
	if ((err = key_lifecycle_generate_successor(tok, &spec->keys[0], wrapped_dir, now, &nk)) < 0) {
		if (err == RB_E_EXISTS)
			err = rb_err_set(err, "the token%s already has a key named '%s'; choose another "
					 "--successor NAME", wrapped_dir ? "'s wrapped key store" : "", r->new_name);
		goto out;
	}
	if (want_statement) {
		if ((err = token_key(tok, &nk, &new_key)) < 0)
			goto orphan;
		p11_key_signer(old_key, &os);
		p11_key_signer(new_key, &ns);
		if ((err = rotation_statement_sign(&m->keys[r->old_index], &os, &nk, &ns, now, statement)) < 0)
			goto orphan;
	}
	info = (struct audit_key_info){
		.time = now,
		.actor = actor,
		.key_name = m->keys[r->old_index].name,
		.key_fpr = m->keys[r->old_index].spki_sha256,
		.new_key_name = nk.name,
		.new_key_fpr = nk.spki_sha256,
		.detail = "retired; successor generated on the token",
	};
	if ((err = audit_entry_key(AUDIT_ROTATE, &info, &r->entry)) < 0 ||
	    (err = key_lifecycle_link_successor(m, r->old_index, &nk)) < 0)
		goto orphan;
	goto out;
orphan:
	{
		char detail[RB_ERR_DETAIL_MAX];

		rb_err_save(err, detail);
		err = rb_err_set(err, "%s (the token keeps the unused key '%s'; rotate with another --successor "
				 "NAME)", detail, r->new_name);
	}
out:
	manifest_key_clear(&nk);
	keyspec_free(spec);
	return err;
}

/* Choose what to rotate and the successor names; no token needed. */
static int plan_rotations(const struct manifest *m, const char *key_sel, const char *successor, struct plan *p)
{
	size_t idx;
	int err;

	p->r = calloc(m->n_keys ? m->n_keys : 1, sizeof(*p->r));
	if (!p->r)
		return RB_E_NOMEM;
	if (key_sel) {
		if ((err = key_lifecycle_select(m, key_sel, &idx)) < 0 ||
		    (err = key_lifecycle_check_rotatable(m, idx)) < 0)
			return err;
		p->r[0].old_index = idx;
		p->n = 1;
		if (successor) {
			if (!key_name_valid(successor))
				return rb_err_set(RB_E_INVAL, "--successor '%.64s' must be 1-%d characters of a-z, 0-9, "
						  "'_' or '-'", successor, KEY_NAME_MAX);
			if (manifest_find(m, successor))
				return rb_err_set(RB_E_EXISTS, "the manifest already has a key named '%s'; choose "
						  "another --successor NAME", successor);
			if (!(p->r[0].new_name = strdup(successor)))
				return RB_E_NOMEM;
		} else if ((err = key_lifecycle_successor_name(m, idx, &p->r[0].new_name)) < 0) {
			return err;
		}
		/* Subject and user ID must be reproducible before any key exists. */
		{
			struct keyspec *spec = NULL;

			err = key_lifecycle_successor_spec(&m->keys[idx], p->r[0].new_name, &spec);
			keyspec_free(spec);
			return err;
		}
	}
	for (size_t i = 0; i < m->n_keys; i++) {
		if (key_lifecycle_check_rotatable(m, i) < 0)
			continue;
		p->r[p->n++].old_index = i;
	}
	rb_err_clear();
	if (p->n == 0)
		return rb_err_set(RB_E_KEY, "no key in the manifest can be rotated (every key is retired, "
				  "revoked, 'queue' or 'audit')");
	return RB_OK;
}

static int audit_rotations(struct p11_token *tok, const struct manifest *m,
			   const struct plan *p, const char *audit_dir)
{
	_cleanup_free_ const struct json_value **entries = calloc(p->n, sizeof(*entries));
	struct rb_signer audit_key;
	uint64_t first = 0;
	int err;

	if (!entries)
		return RB_E_NOMEM;
	for (size_t i = 0; i < p->n; i++)
		entries[i] = p->r[i].entry;
	if ((err = key_lifecycle_audit_signer(tok, m, &audit_key)) < 0 ||
	    (err = key_lifecycle_audit_record(audit_dir, m->token_label, entries, p->n, &audit_key, &first)) < 0)
		return err;
	fprintf(stderr, "rombsr: recorded %zu rotation(s) as audit entries from %llu in %s\n", p->n,
		(unsigned long long)first, audit_dir);
	return RB_OK;
}

static void print_summary(const struct manifest *m, const struct plan *p, const struct sign_config *cfg,
			  const char *manifest_path, const char *statement_path)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct manifest_key *o = &m->keys[p->r[i].old_index];
		const struct manifest_key *n = manifest_find(m, p->r[i].new_name);
		_cleanup_free_ char *spki = NULL, *cert = NULL;

		if (!n || rb_hex_encode(n->spki_sha256, 32, &spki) < 0 || rb_hex_encode(n->cert_sha256, 32, &cert) < 0)
			continue;
		printf("rotated '%s' -> '%s'\n"
		       "   '%s' is retired: it verifies what it signed, and signs nothing more\n"
		       "   '%s' SPKI SHA-256 %s\n"
		       "   '%s' certificate SHA-256 %s\n", o->name, n->name, o->name, n->name, spki, n->name, cert);
		for (size_t j = 0; cfg && j < cfg->n_nodes; j++)
			if (sign_node_allows_key(&cfg->nodes[j], o->name) && !sign_node_allows_key(&cfg->nodes[j], n->name))
				printf("   next: add 'allowKey = %s' to [node \"%s\"] in %s\n", n->name,
				       cfg->nodes[j].name, cfg->path);
		if (cfg && sign_config_find_key(cfg, o->name) && !sign_config_find_key(cfg, n->name))
			printf("   next: copy [key \"%s\"] (approvals) to [key \"%s\"] in %s\n", o->name, n->name,
			       cfg->path);
		printf("   next: rombsr keys export %s --manifest %s   (publish the new certificate)\n", n->name,
		       manifest_path);
	}
	if (statement_path)
		printf("rotation statement: %s (check: rombsr verify-rotation %s --manifest %s)\n", statement_path,
		       statement_path, manifest_path);
	printf("publish %s to every build node and verifier; the sign node uses it from its next batch\n",
	       manifest_path);
}

/* Parse the statement just built and check it against the new manifest:
 * what is written is what a verifier will accept. */
static int statement_check(const struct rb_buf *b, const struct manifest *m)
{
	_cleanup_(rotation_statement_freep) struct rotation_statement *st = NULL;
	int err;

	if ((err = rotation_statement_parse(b->data, b->len, "new statement", &st)) < 0 ||
	    (err = rotation_statement_verify(st)) < 0)
		return err;
	return rotation_statement_check_manifest(st, m);
}

int cmd_hsm_rotate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "key-id", required_argument, NULL, 'k' },
		{ "successor", required_argument, NULL, 's' },
		{ "statement", required_argument, NULL, 'S' },
		{ "sign-config", required_argument, NULL, 'c' },
		{ "audit-dir", required_argument, NULL, 'a' },
		{ "actor", required_argument, NULL, 'A' },
		CLI_COMMON_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct cli_common c;
	const char *key_sel = NULL, *successor = NULL, *statement = NULL, *config_path = NULL;
	const char *audit_opt = NULL, *actor = "operator";
	_cleanup_sign_config_ struct sign_config *cfg = NULL;
	_cleanup_free_ char *audit_dir = NULL, *wrapped_dir = NULL;
	struct plan plan = { .statement = RB_BUF_INIT };
	struct manifest *m = NULL;
	struct p11_module *mod = NULL;
	struct p11_token *tok = NULL;
	bool wrote_statement = false;
	int64_t now = (int64_t)time(NULL);
	int opt, err, rc;

	cli_common_init(&c);
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (cli_common_opt(&c, opt, optarg))
			continue;
		switch (opt) {
		case 'k': key_sel = optarg; break;
		case 's': successor = optarg; break;
		case 'S': statement = optarg; break;
		case 'c': config_path = optarg; break;
		case 'a': audit_opt = optarg; break;
		case 'A': actor = optarg; break;
		case 'h': help(); return EXIT_OK;
		default: return cli_usage_error(verb, "unknown option");
		}
	}
	if (optind != argc)
		return cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);
	if ((successor || statement) && !key_sel)
		return cli_usage_error(verb, "--successor and --statement need --key KEY (one rotation)");
	if (!*actor || strlen(actor) > AUDIT_FIELD_MAX)
		return cli_usage_error(verb, "--actor must be 1-%u bytes", AUDIT_FIELD_MAX);
	if ((err = cli_common_finish(&c)) < 0)
		return cli_fail(verb, err);

	if ((err = manifest_load(c.manifest, &m)) < 0 ||
	    (config_path && (err = sign_config_load(config_path, &cfg)) < 0) ||
	    (err = key_lifecycle_audit_dir(audit_opt, cfg ? cfg->audit_dir : NULL, c.state_dir, &audit_dir)) < 0 ||
	    (err = plan_rotations(m, key_sel, successor, &plan)) < 0)
		goto fail;
	if (statement && access(statement, F_OK) == 0) {
		err = rb_err_set(RB_E_EXISTS, "%s exists; a rotation statement is never overwritten - choose a "
				 "new --statement FILE", statement);
		goto fail;
	}
	/* cli_open_token attaches this store when it exists; a wrapped
	 * key's successor goes into it. */
	if (asprintf(&wrapped_dir, "%s/wrapped", c.state_dir) < 0) {
		wrapped_dir = NULL;
		err = RB_E_NOMEM;
		goto fail;
	}
	if (!c.token)
		c.token = m->token_uri;
	if ((err = cli_open_token(&c, true, &mod, &tok)) < 0)
		goto fail;
	for (size_t i = 0; i < plan.n; i++) {
		if (!plan.r[i].new_name && (err = key_lifecycle_successor_name(m, plan.r[i].old_index,
									      &plan.r[i].new_name)) < 0)
			goto fail;
		if ((err = rotate_one(tok, m, &plan.r[i], actor, wrapped_dir, statement != NULL, &plan.statement,
				      now)) < 0)
			goto fail;
	}
	if (statement) {
		if ((err = statement_check(&plan.statement, m)) < 0 ||
		    (err = rb_file_write_atomic(statement, plan.statement.data, plan.statement.len, 0644)) < 0)
			goto fail;
		wrote_statement = true;
	}
	if (audit_dir && (err = audit_rotations(tok, m, &plan, audit_dir)) < 0)
		goto fail;
	m->generated = now;
	if ((err = manifest_save(m, c.manifest)) < 0)
		goto fail;
	fprintf(stderr, "rombsr: wrote the rotated manifest to %s\n", c.manifest);
	if (!audit_dir)
		fprintf(stderr, "rombsr: warning: no audit log (no --audit-dir, no sign.conf audit.dir, no %s/audit):"
			" NO audit event was written for this rotation\n", c.state_dir);
	print_summary(m, &plan, cfg, c.manifest, statement);
	rc = EXIT_OK;
	goto out;
fail:
	rc = cli_fail(verb, err);
	/* A statement for a rotation that was not published would only
	 * mislead. */
	if (wrote_statement)
		unlink(statement);
out:
	p11_module_free(mod);
	plan_clear(&plan);
	manifest_free(m);
	cli_common_done(&c);
	return rc;
}
