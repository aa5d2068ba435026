/* rombsr ceremony init|restore|verify: the wrap key's key ceremony
 * (docs/CEREMONY.md). The key and every share stay in rb_secret buffers
 * (src/lib/ceremony); this file only gathers inputs, writes outputs and
 * prints. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin/lifecycle.h"
#include "age/age.h"
#include "ceremony/ceremony.h"
#include "cli_hsm.h"
#include "keys/manifest.h"
#include "p11/wrap.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/secret.h"

#define MAX_TOKENS 8
#define MAX_IDENTITIES 8
#define MAX_INPUTS 16
#define SHARE_FILE_MAX (64u * 1024)

DEFINE_TRIVIAL_CLEANUP_FUNC(struct rb_secret *, rb_secret_free)

static const char verb[] = "ceremony";

struct custodian {
	char *name;
	const char *recipient;
};

struct ceremony_opts {
	struct cli_common c;
	struct ceremony_scheme scheme;
	unsigned shares, threshold;
	bool groups_given;
	struct p11_pin_source passphrase;
	const char *mnemonics_out, *out_dir, *transcript, *audit_dir, *actor, *expect_hex;
	bool print_mnemonics;
	struct custodian custodians[CEREMONY_MAX_SHARES];
	size_t n_custodians;
	const char *also_tokens[MAX_TOKENS];
	size_t n_also_tokens;
	const char *mnemonic_files[MAX_INPUTS], *share_files[MAX_INPUTS], *identities[MAX_IDENTITIES];
	size_t n_mnemonic_files, n_share_files, n_identities;
	char *manifest_token; /* the manifest's token URI, when --token is not given */
};

static void help(void)
{
	printf("usage: rombsr ceremony init --shares N --threshold K [--custodian NAME=RECIPIENT]...\n"
	       "                            [--mnemonics-out FILE] [--print-mnemonics] [OPTIONS]\n"
	       "       rombsr ceremony restore (--mnemonic-file FILE | --share-file FILE.age)...\n"
	       "                               [--identity FILE]... [--expect-fingerprint HEX] [OPTIONS]\n"
	       "       rombsr ceremony verify  (--mnemonic-file FILE | --share-file FILE.age)...\n"
	       "                               [--identity FILE]... [--expect-fingerprint HEX]\n"
	       "\n"
	       "init (on an offline machine) generates the wrap key in locked memory, splits it\n"
	       "into SLIP-0039 shares, checks that every minimal share set recombines to the\n"
	       "same key (by fingerprint), imports it into the token(s) as a sensitive,\n"
	       "non-extractable wrap key, and wipes it. restore recombines shares and imports\n"
	       "the key into a fresh token; verify checks shares and imports nothing.\n"
	       "\n"
	       "init:\n"
	       "  --shares N --threshold K   one group: any K of N shares (N <= 16)\n"
	       "  --group K/N                a group of N shares needing K (repeatable)\n"
	       "  --group-threshold G        groups needed (with --group; default 1)\n"
	       "  --iteration-exponent E     SLIP-0039 PBKDF2 work, 2500<<E per round (default 1)\n"
	       "  --extendable               SLIP-0039 extendable share set\n"
	       "  --custodian NAME=RECIPIENT age-encrypt the next share to RECIPIENT ('age1...'\n"
	       "                             or 'ssh-ed25519 AAAA...'); one per share, in order\n"
	       "  --out-dir DIR              where share files go (default .):\n"
	       "                             share-ID-MEMBER.NAME.age, 0600, never replaced\n"
	       "  --mnemonics-out FILE       every mnemonic, one per line (0600, never replaced)\n"
	       "  --print-mnemonics          print them too, only if stdout is a terminal\n"
	       "  --also-token SELECTOR      import into this token as well (same module and PIN)\n"
	       "restore and verify:\n"
	       "  --mnemonic-file FILE       mnemonics, one per line (mode 0600) (repeatable)\n"
	       "  --share-file FILE.age      an age share file (repeatable)\n"
	       "  --identity FILE            age identity or unencrypted OpenSSH ed25519 key\n"
	       "  --expect-fingerprint HEX   refuse unless the shares give this wrap key\n"
	       "all:\n"
	       "  --passphrase-file FILE | --passphrase-fd N | --passphrase-env VAR |\n"
	       "  --passphrase-prompt        the SLIP-0039 passphrase (default: none)\n"
	       "  --transcript FILE          write the transcript (no secrets) to FILE\n"
	       "  --audit-dir DIR            record the ceremony in this audit log\n"
	       "  --actor NAME               who runs the ceremony (default: ceremony)\n"
	       CLI_COMMON_HELP);
}

static void print_hex(FILE *f, const char *what, const uint8_t *p, size_t n)
{
	_cleanup_free_ char *hex = NULL;

	if (rb_hex_encode(p, n, &hex) == RB_OK)
		fprintf(f, "%s%s\n", what, hex);
}

static bool custodian_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > CEREMONY_NAME_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '_' || s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

static int parse_custodian(struct ceremony_opts *o, const char *arg)
{
	const char *eq = strchr(arg, '=');
	int err;

	if (o->n_custodians == CEREMONY_MAX_SHARES)
		return cli_usage_error(verb, "more than %d --custodian options", CEREMONY_MAX_SHARES);
	if (!eq || !custodian_name_ok(arg, (size_t)(eq - arg)))
		return cli_usage_error(verb, "--custodian takes NAME=RECIPIENT with NAME of letters, digits, "
				       "'_', '-', '.'");
	if ((err = age_recipient_check(eq + 1)) < 0)
		return cli_usage_error(verb, "--custodian %.*s: %s", (int)(eq - arg), arg, rb_err_message(err));
	for (size_t i = 0; i < o->n_custodians; i++)
		if (strlen(o->custodians[i].name) == (size_t)(eq - arg) &&
		    strncmp(o->custodians[i].name, arg, (size_t)(eq - arg)) == 0)
			return cli_usage_error(verb, "custodian '%.*s' is given twice", (int)(eq - arg), arg);
	if (!(o->custodians[o->n_custodians].name = strndup(arg, (size_t)(eq - arg))))
		return EXIT_INTERNAL;
	o->custodians[o->n_custodians++].recipient = eq + 1;
	return EXIT_OK;
}

static int parse_group(struct ceremony_opts *o, const char *arg)
{
	unsigned k, n;
	char tail;

	if (o->scheme.n_groups == CEREMONY_MAX_GROUPS)
		return cli_usage_error(verb, "more than %d groups", CEREMONY_MAX_GROUPS);
	if (sscanf(arg, "%u/%u%c", &k, &n, &tail) != 2 || k == 0 || n == 0 || k > 16 || n > 16)
		return cli_usage_error(verb, "--group takes K/N, e.g. 2/3");
	o->scheme.groups[o->scheme.n_groups++] = (struct slip39_group_spec){ (uint8_t)k, (uint8_t)n };
	o->groups_given = true;
	return EXIT_OK;
}

/* The passphrase: none unless a source is given; from a prompt it is
 * asked twice at init, so a typo cannot lock the shares. */
static int read_passphrase(const struct ceremony_opts *o, bool confirm, struct rb_secret **ret)
{
	_cleanup_(rb_secret_freep) struct rb_secret *p = NULL, *again = NULL;
	struct p11_pin_source again_src = { P11_PIN_PROMPT, "Repeat the passphrase: " };
	int err;

	*ret = NULL;
	if (o->passphrase.kind == P11_PIN_NONE)
		return RB_OK;
	if ((err = p11_pin_read(&o->passphrase, &p)) < 0)
		return rb_err_set(err, "passphrase: %s", rb_err_message(err));
	if (confirm && o->passphrase.kind == P11_PIN_PROMPT) {
		if ((err = p11_pin_read(&again_src, &again)) < 0)
			return err;
		if (!rb_ct_equal(p->data, p->len, again->data, again->len))
			return rb_err_set(RB_E_INVAL, "the two passphrases differ; nothing was done");
	}
	*ret = TAKE_PTR(p);
	return RB_OK;
}

/* ---- tokens ---------------------------------------------------------- */

struct token_set {
	struct p11_module *mod;
	struct p11_token *toks[MAX_TOKENS + 1];
	size_t n;
};

static void token_set_close(struct token_set *ts)
{
	p11_module_free(ts->mod);
	memset(ts, 0, sizeof(*ts));
}

/* Open and log in to every target token, and refuse (before anything is
 * generated or recombined) if any already holds a wrap key. */
static int token_set_open(struct ceremony_opts *o, struct token_set *ts)
{
	_cleanup_(rb_secret_freep) struct rb_secret *pin = NULL;
	const char *sel[MAX_TOKENS + 1];
	size_t n = 0;
	int err;

	/* Like every verb: the manifest's token unless --token names one. */
	if (!o->c.token && !o->manifest_token) {
		struct manifest *m = NULL;

		if (manifest_load(o->c.manifest, &m) == RB_OK && !(o->manifest_token = strdup(m->token_uri))) {
			manifest_free(m);
			return RB_E_NOMEM;
		}
		manifest_free(m);
	}
	sel[n++] = o->c.token ? o->c.token : o->manifest_token ? o->manifest_token : "rombsr";
	for (size_t i = 0; i < o->n_also_tokens; i++)
		sel[n++] = o->also_tokens[i];
	if ((err = p11_module_load(o->c.module, &ts->mod)) < 0)
		return err;
	/* Read once: an environment variable is gone after the first read. */
	if ((err = p11_pin_read(&o->c.pin, &pin)) < 0)
		return err;
	for (size_t i = 0; i < n; i++) {
		bool has = false;

		if ((err = p11_token_open(ts->mod, sel[i], 0, &ts->toks[i])) < 0)
			return err;
		ts->n++;
		for (size_t j = 0; j < i; j++)
			if (strcmp(p11_token_serial(ts->toks[j]), p11_token_serial(ts->toks[i])) == 0 &&
			    strcmp(p11_token_label(ts->toks[j]), p11_token_label(ts->toks[i])) == 0)
				return rb_err_set(RB_E_INVAL, "token '%s' is given twice", sel[i]);
		if ((err = p11_token_login(ts->toks[i], CKU_USER, pin)) < 0 ||
		    (err = p11_token_has_wrap_key(ts->toks[i], &has)) < 0)
			return err;
		if (has)
			return rb_err_set(RB_E_EXISTS, "token '%s' already has a wrap key '%s'; nothing was done - a "
					  "deployment has exactly one wrap key, and replacing it would orphan every "
					  "key wrapped under it; use a fresh token", p11_token_label(ts->toks[i]),
					  P11_WRAP_KEY_LABEL);
	}
	return RB_OK;
}

/* ---- share input (restore, verify) ----------------------------------- */

struct share_input {
	struct rb_secret *m[CEREMONY_MAX_SHARES];
	size_t n;
};

static void share_input_free(struct share_input *in)
{
	for (size_t i = 0; i < in->n; i++)
		rb_secret_free(in->m[i]);
	in->n = 0;
}

static int share_input_add(struct share_input *in, const struct rb_secret *text, const char *source)
{
	struct rb_secret **arr = NULL;
	size_t n = 0;
	int err;

	if ((err = ceremony_mnemonics_parse(text, source, &arr, &n)) < 0)
		return err;
	if (in->n + n > CEREMONY_MAX_SHARES) {
		slip39_mnemonics_free(arr, n);
		return rb_err_set(RB_E_TOOBIG, "more than %d shares given", CEREMONY_MAX_SHARES);
	}
	for (size_t i = 0; i < n; i++)
		in->m[in->n++] = TAKE_PTR(arr[i]);
	slip39_mnemonics_free(arr, n);
	return RB_OK;
}

static void free_identities(struct rb_secret **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rb_secret_free(ids[i]);
}

static int share_input_read(const struct ceremony_opts *o, struct share_input *in)
{
	struct rb_secret *ids[MAX_IDENTITIES] = { 0 };
	size_t n_ids = 0;
	int err = RB_OK;

	for (size_t i = 0; i < o->n_mnemonic_files && err == RB_OK; i++) {
		_cleanup_(rb_secret_freep) struct rb_secret *text = NULL;

		if ((err = ceremony_secret_file_read(o->mnemonic_files[i], &text)) == RB_OK)
			err = share_input_add(in, text, o->mnemonic_files[i]);
	}
	if (err == RB_OK && o->n_share_files > 0 && o->n_identities == 0)
		err = rb_err_set(RB_E_INVAL, "--share-file needs the custodian's --identity FILE");
	for (size_t i = 0; i < o->n_identities && err == RB_OK; i++)
		if ((err = ceremony_secret_file_read(o->identities[i], &ids[i])) == RB_OK)
			n_ids++;
	for (size_t i = 0; i < o->n_share_files && err == RB_OK; i++) {
		_cleanup_free_ uint8_t *blob = NULL;
		_cleanup_(rb_secret_freep) struct rb_secret *text = NULL;
		struct age_decrypt_opts ao = {
			.identities = (const struct rb_secret *const *)ids,
			.n_identities = n_ids,
		};
		size_t len = 0;

		if ((err = rb_file_read(o->share_files[i], SHARE_FILE_MAX, &blob, &len)) < 0)
			break;
		err = age_decrypt_secret(blob, len, &ao, &text);
		if (err == RB_E_KEY)
			err = rb_err_set(err, "share file %s: none of the given identities opens it (age: %s); give "
					 "the --identity of the custodian it was made for", o->share_files[i],
					 age_failure_name(age_last_failure()));
		else if (err < 0)
			err = rb_err_set(err, "share file %s: %s", o->share_files[i], rb_err_message(err));
		else
			err = share_input_add(in, text, o->share_files[i]);
	}
	free_identities(ids, n_ids);
	if (err == RB_OK && in->n == 0)
		err = rb_err_set(RB_E_INVAL, "no shares given; use --mnemonic-file or --share-file");
	return err;
}

static int parse_expect(const char *hex, uint8_t ret[P11_WRAP_FPR_LEN])
{
	_cleanup_free_ uint8_t *b = NULL;
	size_t n = 0;

	if (strlen(hex) != 2 * P11_WRAP_FPR_LEN || rb_hex_decode(hex, strlen(hex), &b, &n) < 0 ||
	    n != P11_WRAP_FPR_LEN)
		return rb_err_set(RB_E_INVAL, "--expect-fingerprint takes the %d hex digits 'rombsr keys wrap-key' "
				  "or the transcript shows", 2 * P11_WRAP_FPR_LEN);
	memcpy(ret, b, P11_WRAP_FPR_LEN);
	return RB_OK;
}

/* A wrapped key store next to the state: every blob in it must be under
 * the key the shares give, else the shares (or the passphrase) are wrong
 * and importing would leave every wrapped key unusable. */
static int check_store(const char *state_dir, const uint8_t fpr[P11_WRAP_FPR_LEN], unsigned *ret_checked)
{
	_cleanup_free_ char *dir = NULL;
	DIR *d;
	struct dirent *e;
	unsigned checked = 0;
	int err = RB_OK;

	*ret_checked = 0;
	if (!state_dir || asprintf(&dir, "%s/%s", state_dir, WRAP_STORE_DEFAULT_DIR) < 0)
		return RB_OK;
	if (!(d = opendir(dir)))
		return RB_OK;
	while (err == RB_OK && (e = readdir(d))) {
		size_t l = strlen(e->d_name);
		struct wrap_meta *m = NULL;
		char name[WRAP_NAME_MAX + 1];

		if (l <= 5 || l - 5 > WRAP_NAME_MAX || strcmp(e->d_name + l - 5, ".json") != 0)
			continue;
		memcpy(name, e->d_name, l - 5);
		name[l - 5] = '\0';
		if (!wrap_name_valid(name))
			continue;
		if ((err = wrap_store_load(dir, name, &m)) < 0)
			break;
		if (!rb_ct_equal(m->wrap_fpr, P11_WRAP_FPR_LEN, fpr, P11_WRAP_FPR_LEN))
			err = rb_err_set(RB_E_VERIFY, "the shares give another wrap key than the one wrapped key '%s' "
					 "in %s was made under (wrong shares, or wrong passphrase); nothing was "
					 "imported", name, dir);
		wrap_meta_free(m);
		checked++;
	}
	closedir(d);
	*ret_checked = checked;
	return err;
}

/* ---- transcript and audit -------------------------------------------- */

static int write_record(struct ceremony_opts *o, struct ceremony_transcript *t, struct token_set *ts)
{
	struct rb_buf out = RB_BUF_INIT;
	struct rb_signer audit_key, *signer = NULL;
	struct manifest *m = NULL;
	uint64_t index = 0;
	int err;

	if ((err = ceremony_transcript_emit(t, &out)) < 0)
		goto out;
	if (o->transcript) {
		if ((err = rb_file_write_atomic(o->transcript, out.data, out.len, 0644)) < 0)
			goto out;
		fprintf(stderr, "rombsr: transcript written to %s\n", o->transcript);
	}
	if (!o->audit_dir)
		goto out;
	/* A checkpoint needs the token's audit key, checked against the
	 * manifest; an offline ceremony machine may have neither, and then
	 * the entry waits for the next checkpoint. */
	if (ts && ts->n > 0 && manifest_load(o->c.manifest, &m) == RB_OK &&
	    key_lifecycle_audit_signer(ts->toks[0], m, &audit_key) == RB_OK)
		signer = &audit_key;
	else
		fprintf(stderr, "rombsr: warning: no usable 'audit' key on the token; the audit entry is not "
			"covered by a checkpoint until the next one is signed\n");
	if ((err = ceremony_transcript_audit(o->audit_dir, ts && ts->n ? p11_token_label(ts->toks[0]) :
					     (o->c.token ? o->c.token : "rombsr"),
					     o->actor, t, out.data, out.len, signer, &index)) < 0)
		goto out;
	fprintf(stderr, "rombsr: recorded the ceremony as audit entry %llu in %s\n", (unsigned long long)index,
		o->audit_dir);
out:
	manifest_free(m);
	rb_buf_free(&out);
	return err;
}

static void fill_tokens(struct token_set *ts, struct ceremony_token_record *rec, struct ceremony_transcript *t)
{
	for (size_t i = 0; ts && i < ts->n; i++)
		rec[i] = (struct ceremony_token_record){ p11_token_label(ts->toks[i]),
							 p11_token_serial(ts->toks[i]), p11_token_model(ts->toks[i]) };
	t->tokens = rec;
	t->n_tokens = ts ? ts->n : 0;
}

/* ---- init ------------------------------------------------------------ */

static int init_check_opts(struct ceremony_opts *o, size_t *ret_total)
{
	size_t total = 0;

	if (o->groups_given && (o->shares || o->threshold))
		return rb_err_set(RB_E_INVAL, "use either --shares/--threshold or --group, not both");
	if (!o->groups_given) {
		if (!o->shares || !o->threshold)
			return rb_err_set(RB_E_INVAL, "init needs --shares N and --threshold K");
		o->scheme.n_groups = 1;
		o->scheme.groups[0] = (struct slip39_group_spec){ (uint8_t)o->threshold, (uint8_t)o->shares };
		o->scheme.group_threshold = 1;
	} else if (!o->scheme.group_threshold) {
		o->scheme.group_threshold = 1;
	}
	for (size_t i = 0; i < o->scheme.n_groups; i++)
		total += o->scheme.groups[i].count;
	if (o->n_custodians && o->n_custodians != total)
		return rb_err_set(RB_E_INVAL, "%zu --custodian options for %zu shares; give one per share, in "
				  "share order", o->n_custodians, total);
	if (o->print_mnemonics && !isatty(STDOUT_FILENO))
		return rb_err_set(RB_E_INVAL, "--print-mnemonics prints only to a terminal, and stdout is not one; "
				  "use --mnemonics-out FILE");
	if (!o->n_custodians && !o->mnemonics_out && !o->print_mnemonics)
		return rb_err_set(RB_E_INVAL, "the shares would go nowhere: give --custodian for every share, "
				  "--mnemonics-out FILE or --print-mnemonics");
	if (o->mnemonics_out && access(o->mnemonics_out, F_OK) == 0)
		return rb_err_set(RB_E_EXISTS, "%s exists; shares are never written over a file", o->mnemonics_out);
	*ret_total = total;
	return RB_OK;
}

static int share_file_name(const struct ceremony_opts *o, const struct ceremony_split *sp, size_t i,
			   char **ret)
{
	const char *dir = o->out_dir ? o->out_dir : ".";
	int r = sp->scheme.n_groups > 1
			? asprintf(ret, "%s/share-%u-%u-%u.%s.age", dir, sp->identifier, sp->group_index[i] + 1u,
				   sp->member_index[i] + 1u, o->custodians[i].name)
			: asprintf(ret, "%s/share-%u-%u.%s.age", dir, sp->identifier, sp->member_index[i] + 1u,
				   o->custodians[i].name);
	return r < 0 ? RB_E_NOMEM : RB_OK;
}

/* Every output in memory first (age files hold no secret), so a bad
 * recipient or a full disk is found before anything is imported. */
static int init_write_shares(const struct ceremony_opts *o, const struct ceremony_split *sp, char **files)
{
	_cleanup_(rb_secret_freep) struct rb_secret *all = NULL;
	uint8_t *blobs[CEREMONY_MAX_SHARES] = { 0 };
	size_t lens[CEREMONY_MAX_SHARES] = { 0 };
	int err = RB_OK;

	for (size_t i = 0; i < o->n_custodians && err == RB_OK; i++) {
		const char *rcpt[1] = { o->custodians[i].recipient };
		struct age_encrypt_opts ao = { .recipients = rcpt, .n_recipients = 1, .armor = true };

		if ((err = share_file_name(o, sp, i, &files[i])) == RB_OK &&
		    (err = age_encrypt(sp->mnemonics[i]->data, sp->mnemonics[i]->len, &ao, &blobs[i], &lens[i])) < 0)
			err = rb_err_set(err, "custodian %s: %s", o->custodians[i].name, rb_err_message(err));
	}
	if (err == RB_OK && o->mnemonics_out && (err = rb_secret_new(sp->n * (SLIP39_MAX_MNEMONIC_LEN + 1) + 128, &all)) == RB_OK) {
		int hl = snprintf((char *)all->data, 128, "# rombsr key ceremony %u: %zu SLIP-0039 shares\n",
				  sp->identifier, sp->n);

		all->len = (size_t)hl;
		for (size_t i = 0; i < sp->n; i++) {
			memcpy(all->data + all->len, sp->mnemonics[i]->data, sp->mnemonics[i]->len);
			all->len += sp->mnemonics[i]->len;
			all->data[all->len++] = '\n';
		}
		err = rb_file_create_secret(o->mnemonics_out, all->data, all->len);
	}
	for (size_t i = 0; i < o->n_custodians && err == RB_OK; i++) {
		if ((err = rb_file_create_secret(files[i], blobs[i], lens[i])) == RB_OK)
			fprintf(stderr, "rombsr: share %u.%u for %s: %s\n", sp->group_index[i] + 1u,
				sp->member_index[i] + 1u, o->custodians[i].name, files[i]);
	}
	for (size_t i = 0; i < CEREMONY_MAX_SHARES; i++)
		free(blobs[i]);
	return err;
}

static void init_print_mnemonics(const struct ceremony_split *sp)
{
	printf("\nWrite each share on paper for its custodian. They will not be shown again.\n");
	for (size_t i = 0; i < sp->n; i++) {
		printf("\nshare group %u member %u:\n", sp->group_index[i] + 1u, sp->member_index[i] + 1u);
		fwrite(sp->mnemonics[i]->data, 1, sp->mnemonics[i]->len, stdout);
		printf("\n");
	}
	printf("\n");
	fflush(stdout);
}

static int run_init(struct ceremony_opts *o)
{
	_cleanup_(rb_secret_freep) struct rb_secret *pass = NULL, *key = NULL;
	struct ceremony_split *sp = NULL;
	struct token_set ts = { 0 };
	struct ceremony_share_record rec[CEREMONY_MAX_SHARES];
	struct ceremony_token_record trec[MAX_TOKENS + 1];
	struct ceremony_transcript t = { .operation = CEREMONY_INIT };
	char *files[CEREMONY_MAX_SHARES] = { 0 };
	uint8_t fpr[P11_WRAP_FPR_LEN];
	uint64_t subsets = 0, checked = 0;
	size_t total = 0;
	int err;

	if ((err = init_check_opts(o, &total)) < 0 || (err = ceremony_scheme_check(&o->scheme, &subsets)) < 0 ||
	    (err = read_passphrase(o, true, &pass)) < 0 || (err = token_set_open(o, &ts)) < 0)
		goto out;
	if ((err = ceremony_key_generate(&key)) < 0 || (err = ceremony_key_fingerprint(key, fpr)) < 0 ||
	    (err = ceremony_split_key(key, &o->scheme, pass, &sp)) < 0)
		goto out;
	fprintf(stderr, "rombsr: checking all %llu minimal share sets...\n", (unsigned long long)subsets);
	if ((err = ceremony_check_subsets((const struct rb_secret *const *)sp->mnemonics, sp->n, pass, fpr,
					  &checked)) < 0)
		goto out;
	if ((err = init_write_shares(o, sp, files)) < 0)
		goto out;
	if (o->print_mnemonics)
		init_print_mnemonics(sp);
	for (size_t i = 0; i < ts.n; i++) {
		if ((err = p11_token_import_wrap_key(ts.toks[i], key, fpr)) < 0)
			goto out;
		fprintf(stderr, "rombsr: wrap key imported into token '%s' (serial %s)\n",
			p11_token_label(ts.toks[i]), p11_token_serial(ts.toks[i]));
	}
	rb_secret_free(TAKE_PTR(key));
	for (size_t i = 0; i < sp->n; i++)
		rec[i] = (struct ceremony_share_record){ sp->group_index[i], sp->member_index[i],
							 o->n_custodians ? o->custodians[i].name : NULL,
							 o->n_custodians ? o->custodians[i].recipient : NULL,
							 files[i] ? strrchr(files[i], '/') + 1 : NULL };
	t.time = (int64_t)time(NULL);
	t.identifier = sp->identifier;
	t.scheme = o->scheme;
	t.passphrase = pass != NULL;
	t.shares = rec;
	t.n_shares = sp->n;
	memcpy(t.fingerprint, fpr, sizeof(fpr));
	t.subsets_checked = checked;
	fill_tokens(&ts, trec, &t);
	if ((err = write_record(o, &t, &ts)) < 0)
		goto out;
	printf("ceremony %u: %zu shares, %llu share sets checked\n", sp->identifier, sp->n,
	       (unsigned long long)checked);
	print_hex(stdout, "wrap key fingerprint: ", fpr, sizeof(fpr));
out:
	for (size_t i = 0; i < CEREMONY_MAX_SHARES; i++)
		free(files[i]);
	ceremony_split_free(sp);
	token_set_close(&ts);
	return err;
}

/* ---- restore and verify ---------------------------------------------- */

static int shares_transcript(const struct share_input *in, struct ceremony_share_record *rec,
			     struct ceremony_transcript *t)
{
	struct slip39_share *sh = NULL;
	int err;

	if ((err = slip39_decode((const char *)in->m[0]->data, in->m[0]->len, &sh)) < 0)
		return err;
	t->identifier = sh->identifier;
	t->scheme.iteration_exponent = sh->iteration_exponent;
	t->scheme.extendable = sh->extendable;
	t->scheme.group_threshold = sh->group_threshold;
	t->scheme.n_groups = sh->group_count;
	slip39_share_free(sh);
	for (size_t i = 0; i < in->n; i++) {
		uint16_t id;

		if ((err = slip39_decode((const char *)in->m[i]->data, in->m[i]->len, &sh)) < 0)
			return err;
		/* Only the groups seen are known; the others keep 0/0. */
		t->scheme.groups[sh->group_index] =
			(struct slip39_group_spec){ sh->member_threshold, t->scheme.groups[sh->group_index].count };
		slip39_share_free(sh);
		if ((err = ceremony_mnemonic_ids(in->m[i], &id, &rec[i].group_index, &rec[i].member_index)) < 0)
			return err;
		rec[i].custodian = rec[i].recipient = rec[i].file = NULL;
	}
	t->shares = rec;
	t->n_shares = in->n;
	return RB_OK;
}

static int run_recover(struct ceremony_opts *o, bool import)
{
	_cleanup_(rb_secret_freep) struct rb_secret *pass = NULL, *key = NULL;
	struct share_input in = { 0 };
	struct token_set ts = { 0 };
	struct ceremony_share_record rec[CEREMONY_MAX_SHARES];
	struct ceremony_token_record trec[MAX_TOKENS + 1];
	struct ceremony_transcript t = { .operation = import ? CEREMONY_RESTORE : CEREMONY_VERIFY };
	uint8_t fpr[P11_WRAP_FPR_LEN], expect[P11_WRAP_FPR_LEN];
	uint64_t checked = 0;
	unsigned stored = 0;
	int err;

	if ((o->expect_hex && (err = parse_expect(o->expect_hex, expect)) < 0) ||
	    (err = read_passphrase(o, false, &pass)) < 0 || (err = share_input_read(o, &in)) < 0)
		goto out;
	if ((err = ceremony_recover((const struct rb_secret *const *)in.m, in.n, pass, &key, fpr)) < 0)
		goto out;
	print_hex(stdout, "wrap key fingerprint: ", fpr, sizeof(fpr));
	fflush(stdout);
	if (o->expect_hex && !rb_ct_equal(fpr, sizeof(fpr), expect, sizeof(expect))) {
		_cleanup_free_ char *hex = NULL;

		if ((err = rb_hex_encode(fpr, sizeof(fpr), &hex)) == RB_OK)
			err = rb_err_set(RB_E_VERIFY, "the shares give wrap key %.16s..., not the expected %.16s... "
					 "(wrong passphrase, or shares of another ceremony); nothing was %s", hex,
					 o->expect_hex, import ? "imported" : "changed");
		goto out;
	}
	/* Verify: every minimal subset of what was given must agree. */
	if (!import && (err = ceremony_check_subsets((const struct rb_secret *const *)in.m, in.n, pass, fpr,
						     &checked)) < 0)
		goto out;
	if ((err = check_store(o->c.state_dir, fpr, &stored)) < 0)
		goto out;
	if (stored)
		fprintf(stderr, "rombsr: all %u wrapped keys in the store were made under this wrap key\n", stored);
	if (import) {
		if ((err = token_set_open(o, &ts)) < 0)
			goto out;
		for (size_t i = 0; i < ts.n; i++) {
			if ((err = p11_token_import_wrap_key(ts.toks[i], key, fpr)) < 0)
				goto out;
			fprintf(stderr, "rombsr: wrap key imported into token '%s' (serial %s)\n",
				p11_token_label(ts.toks[i]), p11_token_serial(ts.toks[i]));
		}
	}
	rb_secret_free(TAKE_PTR(key));
	if ((err = shares_transcript(&in, rec, &t)) < 0)
		goto out;
	t.time = (int64_t)time(NULL);
	t.passphrase = pass != NULL;
	memcpy(t.fingerprint, fpr, sizeof(fpr));
	t.subsets_checked = checked;
	fill_tokens(import ? &ts : NULL, trec, &t);
	if ((o->transcript || o->audit_dir) && (err = write_record(o, &t, import ? &ts : NULL)) < 0)
		goto out;
	if (!import)
		printf("%zu shares of ceremony %u recombine to this wrap key (%llu share sets checked)\n", in.n,
		       t.identifier, (unsigned long long)checked);
out:
	share_input_free(&in);
	token_set_close(&ts);
	return err;
}

/* ---- argv ------------------------------------------------------------ */

static int parse_opt(struct ceremony_opts *o, int opt, const char *arg)
{
	unsigned v;
	int rc;

	switch (opt) {
	case 'n': return cli_parse_uint(verb, "--shares", arg, CEREMONY_MAX_SHARES, &o->shares);
	case 'k': return cli_parse_uint(verb, "--threshold", arg, CEREMONY_MAX_SHARES, &o->threshold);
	case 'g': return parse_group(o, arg);
	case 'G':
		if ((rc = cli_parse_uint(verb, "--group-threshold", arg, CEREMONY_MAX_GROUPS, &v)) != EXIT_OK)
			return rc;
		o->scheme.group_threshold = (uint8_t)v;
		return EXIT_OK;
	case 'e':
		if ((rc = cli_parse_uint(verb, "--iteration-exponent", arg, SLIP39_MAX_ITERATION_EXPONENT, &v)) != EXIT_OK)
			return rc;
		o->scheme.iteration_exponent = (uint8_t)v;
		return EXIT_OK;
	case 'x': o->scheme.extendable = true; return EXIT_OK;
	case 'c': return parse_custodian(o, arg);
	case 'o': o->out_dir = arg; return EXIT_OK;
	case 'M': o->mnemonics_out = arg; return EXIT_OK;
	case 'p': o->print_mnemonics = true; return EXIT_OK;
	case 'T':
		if (o->n_also_tokens == MAX_TOKENS)
			return cli_usage_error(verb, "more than %d --also-token options", MAX_TOKENS);
		o->also_tokens[o->n_also_tokens++] = arg;
		return EXIT_OK;
	case 'm':
		if (o->n_mnemonic_files == MAX_INPUTS)
			return cli_usage_error(verb, "more than %d --mnemonic-file options", MAX_INPUTS);
		o->mnemonic_files[o->n_mnemonic_files++] = arg;
		return EXIT_OK;
	case 's':
		if (o->n_share_files == MAX_INPUTS)
			return cli_usage_error(verb, "more than %d --share-file options", MAX_INPUTS);
		o->share_files[o->n_share_files++] = arg;
		return EXIT_OK;
	case 'i':
		if (o->n_identities == MAX_IDENTITIES)
			return cli_usage_error(verb, "more than %d --identity options", MAX_IDENTITIES);
		o->identities[o->n_identities++] = arg;
		return EXIT_OK;
	case 'E': o->expect_hex = arg; return EXIT_OK;
	case 'F': o->passphrase = (struct p11_pin_source){ P11_PIN_FILE, arg }; return EXIT_OK;
	case 'D': o->passphrase = (struct p11_pin_source){ P11_PIN_FD, arg }; return EXIT_OK;
	case 'V': o->passphrase = (struct p11_pin_source){ P11_PIN_ENV, arg }; return EXIT_OK;
	case 'P': o->passphrase = (struct p11_pin_source){ P11_PIN_PROMPT, "SLIP-0039 passphrase: " }; return EXIT_OK;
	case 'R': o->transcript = arg; return EXIT_OK;
	case 'a': o->audit_dir = arg; return EXIT_OK;
	case 'A': o->actor = arg; return EXIT_OK;
	default: return cli_usage_error(verb, "unknown option");
	}
}

int cmd_ceremony(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "shares", required_argument, NULL, 'n' },
		{ "threshold", required_argument, NULL, 'k' },
		{ "group", required_argument, NULL, 'g' },
		{ "group-threshold", required_argument, NULL, 'G' },
		{ "iteration-exponent", required_argument, NULL, 'e' },
		{ "extendable", no_argument, NULL, 'x' },
		{ "custodian", required_argument, NULL, 'c' },
		{ "out-dir", required_argument, NULL, 'o' },
		{ "mnemonics-out", required_argument, NULL, 'M' },
		{ "print-mnemonics", no_argument, NULL, 'p' },
		{ "also-token", required_argument, NULL, 'T' },
		{ "mnemonic-file", required_argument, NULL, 'm' },
		{ "share-file", required_argument, NULL, 's' },
		{ "identity", required_argument, NULL, 'i' },
		{ "expect-fingerprint", required_argument, NULL, 'E' },
		{ "passphrase-file", required_argument, NULL, 'F' },
		{ "passphrase-fd", required_argument, NULL, 'D' },
		{ "passphrase-env", required_argument, NULL, 'V' },
		{ "passphrase-prompt", no_argument, NULL, 'P' },
		{ "transcript", required_argument, NULL, 'R' },
		{ "audit-dir", required_argument, NULL, 'a' },
		{ "actor", required_argument, NULL, 'A' },
		CLI_COMMON_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct ceremony_opts o;
	const char *sub;
	int opt, rc = EXIT_OK, err;

	memset(&o, 0, sizeof(o));
	o.actor = "ceremony";
	o.scheme.iteration_exponent = 1;
	cli_common_init(&o.c);
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (cli_common_opt(&o.c, opt, optarg))
			continue;
		if (opt == 'h') {
			help();
			goto done;
		}
		if ((rc = parse_opt(&o, opt, optarg)) != EXIT_OK)
			goto done;
	}
	if (optind + 1 != argc) {
		rc = cli_usage_error(verb, "give exactly one of 'init', 'restore' or 'verify'");
		goto done;
	}
	sub = argv[optind];
	if ((err = cli_common_finish(&o.c)) < 0) {
		rc = cli_fail(verb, err);
		goto done;
	}
	if (strcmp(sub, "init") == 0)
		err = run_init(&o);
	else if (strcmp(sub, "restore") == 0)
		err = run_recover(&o, true);
	else if (strcmp(sub, "verify") == 0)
		err = run_recover(&o, false);
	else {
		rc = cli_usage_error(verb, "unknown sub-command '%s'; use init, restore or verify", sub);
		goto done;
	}
	rc = err < 0 ? cli_fail(verb, err) : EXIT_OK;
done:
	for (size_t i = 0; i < o.n_custodians; i++)
		free(o.custodians[i].name);
	free(o.manifest_token);
	cli_common_done(&o.c);
	return rc;
}
