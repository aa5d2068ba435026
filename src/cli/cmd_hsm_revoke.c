/* rombsr hsm-revoke: mark a key revoked in the manifest, record it in the
 * audit log, and print the incident checklist.
 *
 * The policy change is the manifest alone: the sign node re-reads the
 * manifest at every batch and refuses a revoked key (src/signd/decide.c),
 * and so do sign-file, verify and apply. sign.conf is left as it is - a
 * rewrite of a file the guard and the sign node also read would be one
 * more thing that can go wrong during an incident - and the checklist
 * names the allowKey lines an operator may remove afterwards. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/lifecycle.h"
#include "audit/entry.h"
#include "cli_hsm.h"
#include "json/json.h"
#include "keys/manifest.h"
#include "queue/config.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/timefmt.h"

static const char verb[] = "hsm-revoke";

/* Checklist lines for artifacts; the full list is in the audit log. */
#define CHECKLIST_MAX_ARTIFACTS 200

static void help(void)
{
	printf("usage: rombsr hsm-revoke --key-id KEY --reason TEXT [--sign-config FILE]\n"
	       "                         [--audit-dir DIR] [--actor NAME]\n"
	       "\n"
	       "Revoke a key: it is marked revoked (with the reason) in the key manifest,\n"
	       "which is replaced atomically. The sign node re-reads the manifest at every\n"
	       "batch and refuses a revoked key from its next batch on; sign-file, verify\n"
	       "and apply refuse it too. A revocation is final: a revoked key is never\n"
	       "rotated or revoked again. sign.conf is not changed: the manifest status is\n"
	       "what the sign node obeys; the checklist names the allowKey lines to tidy.\n"
	       "\n"
	       "With an audit log (--audit-dir, else sign.conf's audit.dir, else STATE/audit\n"
	       "if it exists) a 'revoke' entry is appended and a checkpoint is signed with\n"
	       "the token's 'audit' key (needs the operator PIN) before the manifest is\n"
	       "replaced. Stop the sign node (rombsr-sign) while recording into its log:\n"
	       "the log takes one writer at a time. The incident checklist (what was\n"
	       "signed, what to re-sign, whom to notify, next commands) is printed on\n"
	       "standard output.\n"
	       "\n"
	       "  --key-id KEY        key name, or its SPKI SHA-256 fingerprint in hex: all\n"
	       "                      64 digits or a unique prefix of at least 16\n"
	       "  --reason TEXT       why (required): 1-256 printable ASCII characters\n"
	       "  --sign-config FILE  sign.conf: nodes and approvers to notify, audit.dir\n"
	       "  --audit-dir DIR     audit log to record the revocation in\n"
	       "  --actor NAME        who revokes, for the audit entry (default: operator)\n"
	       CLI_COMMON_HELP
	       "\n"
	       "Exit codes: 2 missing or unprintable reason, 3 malformed manifest, 4 unknown\n"
	       "key, 5 key already revoked; on any error the manifest is not changed.\n");
}

struct listing {
	uint64_t shown;
	uint64_t total;
};

static void print_signed(const struct json_value *e, void *userdata)
{
	struct listing *l = userdata;
	const char *t = "?", *build = "?", *artifact = "?", *node = "?";

	l->total++;
	if (l->shown >= CHECKLIST_MAX_ARTIFACTS)
		return;
	l->shown++;
	/* Entries were parsed strictly: these are present and printable. */
	json_get_string(e, "time", &t);
	json_get_string(e, "build_id", &build);
	json_get_string(e, "artifact", &artifact);
	json_get_string(e, "node", &node);
	printf("     %s  build %s  artifact %s  node %s\n", t, build, artifact, node);
}

static void print_notify(const struct sign_config *cfg, const char *key_name)
{
	const struct sign_key_policy *kp;
	size_t n = 0;

	printf("3. Notify:\n");
	if (!cfg) {
		printf("   - the operators of every build node allowed to use '%s' (give --sign-config to\n"
		       "     list them from sign.conf)\n", key_name);
	} else {
		for (size_t i = 0; i < cfg->n_nodes; i++)
			if (sign_node_allows_key(&cfg->nodes[i], key_name)) {
				printf("   - build node '%s' (OpenPGP %s): its operators; its allowKey = %s\n",
				       cfg->nodes[i].name, cfg->nodes[i].fingerprint, key_name);
				n++;
			}
		if (n == 0)
			printf("   - no build node in %s is allowed to use '%s'\n", cfg->path, key_name);
		kp = sign_config_find_key(cfg, key_name);
		for (size_t i = 0; kp && i < kp->n_approvers; i++)
			printf("   - approver '%s' (dual control for '%s')\n", kp->approvers[i], key_name);
	}
	printf("   - the auditors who verify the audit log ('rombsr audit verify')\n"
	       "   - everyone who pinned this key's certificate or OpenPGP fingerprint (device\n"
	       "     vendors, distribution keyrings, app stores)\n");
}

static void print_checklist(const struct manifest *m, const struct manifest_key *k, const char *manifest_path,
			    const struct sign_config *cfg, const char *audit_dir)
{
	_cleanup_free_ char *spki = NULL, *cert = NULL, *pgp = NULL;
	struct listing l = { 0 };
	uint64_t count = 0;
	int err = RB_OK;

	if (rb_hex_encode(k->spki_sha256, 32, &spki) < 0 || rb_hex_encode(k->cert_sha256, 32, &cert) < 0 ||
	    rb_hex_encode(k->openpgp_fpr, 20, &pgp) < 0)
		return;
	printf("Incident checklist: key '%s' is revoked\n"
	       "   reason:             %s\n"
	       "   SPKI SHA-256:       %s\n"
	       "   certificate SHA-256: %s\n", k->name, k->revocation_reason, spki, cert);
	if (k->openpgp)
		printf("   OpenPGP:            %s\n", pgp);
	printf("\n1. Artifacts signed by '%s':\n", k->name);
	if (!audit_dir) {
		printf("   no audit log given, so none are listed: run 'rombsr hsm-revoke' with\n"
		       "   --audit-dir or --sign-config next time, or search the sign node's log with\n"
		       "   'rombsr audit show DIR --key %s'\n", k->name);
	} else if ((err = key_lifecycle_signed_by(audit_dir, m->token_label, k->spki_sha256, print_signed, &l,
						  &count)) < 0) {
		printf("   the audit log %s could not be read (%s); list them from a verified copy\n",
		       audit_dir, rb_err_message(err));
	} else {
		printf("   %llu signature(s) in the audit log %s\n", (unsigned long long)count, audit_dir);
		if (l.total > l.shown)
			printf("     ... %llu more: 'rombsr audit show %s --key %s'\n",
			       (unsigned long long)(l.total - l.shown), audit_dir, k->name);
	}
	printf("\n2. Re-sign every artifact above ");
	if (k->successor)
		printf("with the successor key '%s' (already active), and re-submit the builds.\n", k->successor);
	else
		printf("with a new key: add one to the token and the manifest,\n"
		       "   update the build nodes' signing configuration, and re-submit the builds.\n");
	printf("   Signatures by '%s' no longer verify with 'rombsr verify'.\n\n", k->name);
	print_notify(cfg, k->name);
	printf("\n4. Next commands:\n"
	       "   - publish %s to every build node and verifier\n"
	       "     (the sign node re-reads it at its next batch and refuses '%s' from then on)\n",
	       manifest_path, k->name);
	if (cfg)
		printf("   - optionally remove 'allowKey = %s' from the nodes above in %s\n", k->name, cfg->path);
	if (audit_dir)
		printf("   - rombsr audit verify %s --manifest %s\n", audit_dir, manifest_path);
	printf("   - rombsr keys list --manifest %s    (shows '%s' revoked)\n", manifest_path, k->name);
}

static int record_revocation(struct cli_common *c, struct manifest *m, const struct manifest_key *k,
			     const char *actor, const char *audit_dir)
{
	_cleanup_json_ struct json_value *entry = NULL;
	struct audit_key_info info = {
		.time = (int64_t)time(NULL),
		.actor = actor,
		.key_name = k->name,
		.key_fpr = k->spki_sha256,
		.detail = k->revocation_reason,
	};
	const struct json_value *entries[1];
	struct p11_module *mod = NULL;
	struct p11_token *tok = NULL;
	struct rb_signer audit_key;
	uint64_t index = 0;
	int err;

	if ((err = audit_entry_key(AUDIT_REVOKE, &info, &entry)) < 0)
		return err;
	entries[0] = entry;
	if (!c->token)
		c->token = m->token_uri;
	if ((err = cli_open_token(c, true, &mod, &tok)) == RB_OK) {
		/* Revoking the audit key itself: its last checkpoint covers
		 * its own revocation, so the log says why it stops there. */
		struct manifest_key *ak = manifest_find(m, "audit");
		bool self = ak == k;

		if (self)
			ak->status = KEY_ACTIVE;
		err = key_lifecycle_audit_signer(tok, m, &audit_key);
		if (self)
			ak->status = KEY_REVOKED;
	}
	if (err == RB_OK &&
	    (err = key_lifecycle_audit_record(audit_dir, m->token_label, entries, 1, &audit_key, &index)) == RB_OK)
		fprintf(stderr, "rombsr: recorded the revocation as audit entry %llu in %s\n",
			(unsigned long long)index, audit_dir);
	p11_module_free(mod);
	return err;
}

int cmd_hsm_revoke(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key-id", required_argument, NULL, 'k' },
		{ "reason", required_argument, NULL, 'r' },
		{ "sign-config", required_argument, NULL, 'c' },
		{ "audit-dir", required_argument, NULL, 'a' },
		{ "actor", required_argument, NULL, 'A' },
		CLI_COMMON_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct cli_common c;
	const char *key_id = NULL, *reason = NULL, *config_path = NULL, *audit_opt = NULL, *actor = "operator";
	_cleanup_sign_config_ struct sign_config *cfg = NULL;
	_cleanup_free_ char *audit_dir = NULL;
	struct manifest *m = NULL;
	struct manifest_key *k;
	size_t idx;
	int opt, err, rc;

	cli_common_init(&c);
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (cli_common_opt(&c, opt, optarg))
			continue;
		switch (opt) {
		case 'k': key_id = optarg; break;
		case 'r': reason = optarg; break;
		case 'c': config_path = optarg; break;
		case 'a': audit_opt = optarg; break;
		case 'A': actor = optarg; break;
		case 'h': help(); return EXIT_OK;
		default: return cli_usage_error(verb, "unknown option");
		}
	}
	if (optind != argc)
		return cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);
	if (!key_id)
		return cli_usage_error(verb, "--key-id KEY is required (a key name or SPKI SHA-256 fingerprint)");
	if ((err = key_lifecycle_check_reason(reason)) < 0)
		return cli_usage_error(verb, "%s", rb_err_message(err));
	if (!*actor || strlen(actor) > AUDIT_FIELD_MAX)
		return cli_usage_error(verb, "--actor must be 1-%u bytes", AUDIT_FIELD_MAX);
	if ((err = cli_common_finish(&c)) < 0)
		return cli_fail(verb, err);

	/* Everything that needs no HSM and changes nothing comes first. */
	if ((err = manifest_load(c.manifest, &m)) < 0 ||
	    (config_path && (err = sign_config_load(config_path, &cfg)) < 0) ||
	    (err = key_lifecycle_select(m, key_id, &idx)) < 0 ||
	    (err = key_lifecycle_audit_dir(audit_opt, cfg ? cfg->audit_dir : NULL, c.state_dir, &audit_dir)) < 0 ||
	    (err = key_lifecycle_revoke(m, idx, reason)) < 0)
		goto fail;
	k = &m->keys[idx];
	m->generated = (int64_t)time(NULL);
	/* The audit entry is durable and covered by a signed checkpoint
	 * before the revocation is published; if publishing fails, a retry
	 * records it once more rather than never. */
	if (audit_dir && (err = record_revocation(&c, m, k, actor, audit_dir)) < 0)
		goto fail;
	if ((err = manifest_save(m, c.manifest)) < 0)
		goto fail;
	fprintf(stderr, "rombsr: key '%s' is revoked in %s\n", k->name, c.manifest);
	if (!audit_dir)
		fprintf(stderr, "rombsr: warning: no audit log (no --audit-dir, no sign.conf audit.dir, no %s/audit):"
			" NO audit event was written for this revocation\n", c.state_dir);
	print_checklist(m, k, c.manifest, cfg, audit_dir);
	rc = EXIT_OK;
	goto out;
fail:
	rc = cli_fail(verb, err);
out:
	manifest_free(m);
	cli_common_done(&c);
	return rc;
}
