/* rombsr sign-file: admin-local signing of one file with an HSM key. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_hsm.h"
#include "keys/manifest.h"
#include "pgp/pgp.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fileio.h"

static const char verb[] = "sign-file";

/* Ed25519 signs the message itself, which passes through the module in one
 * C_Sign; larger files go through OpenPGP, which hashes first. */
#define ED25519_RAW_MAX (64u * 1024 * 1024)

static void help(void)
{
	printf("usage: rombsr sign-file --key NAME [--format raw|openpgp] [--armor]\n"
	       "                        [--hash sha256|sha512] [--pss] [--output FILE] FILE\n"
	       "\n"
	       "Sign FILE with an HSM key, for admin-local use. The key must be active in the\n"
	       "manifest, have the format's purpose (raw: raw-detached, openpgp:\n"
	       "openpgp-detached), and the token's key must match the manifest. The queue and\n"
	       "audit keys never sign files. The signature is verified before it is written;\n"
	       "the output appears atomically.\n"
	       "\n"
	       "  --key NAME        key from the manifest\n"
	       "  --format raw      (default) RSA PKCS#1 v1.5 or PSS, ECDSA as DER, Ed25519 over\n"
	       "                    the whole file (at most 64 MiB); as 'openssl dgst -verify' or\n"
	       "                    'openssl pkeyutl -verify -rawin' expect. Output FILE.sig\n"
	       "  --format openpgp  detached OpenPGP v4 signature (FILE.sig, or FILE.asc with --armor)\n"
	       "  --hash ALG        sha256 (default for raw) or sha512 (default for openpgp)\n"
	       "  --pss             RSA-PSS instead of PKCS#1 v1.5 (raw only)\n"
	       "  --output FILE     where to write the signature\n"
	       CLI_COMMON_HELP);
}

static int open_input(const char *path, int *ret)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return rb_err_set(errno == ENOENT ? RB_E_NOTFOUND : RB_E_IO,
				  "%s: cannot read: %s; check the path and permissions", path, strerror(errno));
	*ret = fd;
	return RB_OK;
}

static int digest_fd(int fd, const char *path, const EVP_MD *md, uint8_t *out, size_t *ret_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t buf[65536];
	unsigned int n = 0;
	int err = RB_E_CRYPTO;

	if (!ctx || EVP_DigestInit_ex(ctx, md, NULL) != 1)
		goto out;
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = rb_err_set(RB_E_IO, "%s: read failed: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		if (EVP_DigestUpdate(ctx, buf, (size_t)r) != 1)
			goto out;
	}
	if (EVP_DigestFinal_ex(ctx, out, &n) != 1)
		goto out;
	*ret_len = n;
	err = RB_OK;
out:
	EVP_MD_CTX_free(ctx);
	return err;
}

static int sign_raw(struct p11_key *key, int fd, const char *path, bool sha512, bool pss,
		    struct rb_buf *out)
{
	enum rb_sig_scheme scheme;
	uint8_t digest[64], *sig = NULL, *der = NULL;
	size_t dlen, siglen, derlen;
	int err;

	switch (p11_key_alg(key)) {
	case RB_KEY_RSA:
		scheme = pss ? (sha512 ? RB_SIG_RSA_PSS_SHA512 : RB_SIG_RSA_PSS_SHA256)
			     : (sha512 ? RB_SIG_RSA_PKCS1_SHA512 : RB_SIG_RSA_PKCS1_SHA256);
		break;
	case RB_KEY_EC_P256:
		if (sha512 || pss)
			return rb_err_set(RB_E_UNSUPPORTED, "key '%s' is P-256: only ECDSA with SHA-256; drop "
					  "--hash sha512/--pss", p11_key_name(key));
		scheme = RB_SIG_ECDSA_SHA256;
		break;
	case RB_KEY_ED25519: {
		_cleanup_free_ uint8_t *msg = NULL;
		size_t len;

		if (sha512 || pss)
			return rb_err_set(RB_E_UNSUPPORTED, "key '%s' is Ed25519, which hashes internally; "
					  "drop --hash/--pss", p11_key_name(key));
		err = rb_fd_read_all(fd, ED25519_RAW_MAX, &msg, &len);
		if (err == RB_E_TOOBIG)
			return rb_err_set(err, "%s: larger than %u MiB; raw Ed25519 signs the whole file in "
					  "the HSM - use --format openpgp for large files", path,
					  ED25519_RAW_MAX >> 20);
		if (err < 0)
			return rb_err_set(err, "%s: read failed", path);
		if ((err = p11_key_sign(key, RB_SIG_ED25519, msg, len, &sig, &siglen)) < 0)
			return err;
		err = rb_buf_put(out, sig, siglen);
		free(sig);
		return err;
	}
	default:
		return RB_E_UNSUPPORTED;
	}
	if ((err = digest_fd(fd, path, rb_sig_scheme_md(scheme), digest, &dlen)) < 0)
		return err;
	if ((err = p11_key_sign(key, scheme, digest, dlen, &sig, &siglen)) < 0)
		return err;
	if (scheme == RB_SIG_ECDSA_SHA256) {
		/* OpenSSL, Java and most verifiers want DER, not r||s. */
		err = rb_ecdsa_raw_to_der(sig, siglen, &der, &derlen);
		if (err == RB_OK)
			err = rb_buf_put(out, der, derlen);
		free(der);
	} else {
		err = rb_buf_put(out, sig, siglen);
	}
	free(sig);
	return err;
}

static int sign_openpgp(struct p11_key *key, const struct manifest_key *mk, int fd, bool sha256,
			bool armor, struct rb_buf *out)
{
	_cleanup_(pgp_key_freep) struct pgp_key *pk = NULL;
	struct rb_signer signer;
	struct rb_buf bin = RB_BUF_INIT;
	int err;

	p11_key_signer(key, &signer);
	if ((err = pgp_key_new(&signer, mk->created, &pk)) < 0)
		return err;
	err = pgp_sign_fd(pk, PGP_SIG_BINARY, sha256 ? PGP_HASH_SHA256 : PGP_HASH_SHA512,
			  (int64_t)time(NULL), fd, &bin);
	if (err == RB_OK)
		err = armor ? pgp_armor(PGP_ARMOR_SIGNATURE, bin.data, bin.len, out)
			    : rb_buf_put(out, bin.data, bin.len);
	rb_buf_free(&bin);
	return err;
}

/* A key signs only in its own domains (keys/purpose.h), checked before
 * the token is opened: --format raw needs raw-detached, --format openpgp
 * openpgp-detached. The queue and audit keys sign only what the sign node
 * composes; a file signed by them would pass as a response commit or an
 * audit checkpoint. */
static int check_purpose(const struct manifest_key *mk, bool openpgp)
{
	enum key_purpose want = openpgp ? KEY_PURPOSE_OPENPGP_DETACHED : KEY_PURPOSE_RAW_DETACHED;
	char have[KEY_PURPOSES_TEXT_MAX];

	if (mk->purposes & KEY_PURPOSES_SIGN_NODE)
		return rb_err_set(RB_E_PERM, "--key %s: this key signs only %s, which the sign node composes "
				  "itself; sign-file never uses it. Sign with a key whose purposes include %s",
				  mk->name, mk->purposes & KEY_PURPOSE_QUEUE_RESPONSE ? "the queue's response commits"
										      : "the audit log's checkpoints",
				  key_purpose_name(want));
	if (!(mk->purposes & want))
		return rb_err_set(RB_E_PERM, "--key %s --format %s: the key's purposes are %s, without %s; "
				  "use a key provisioned for %s signatures ('rombsr keys list' shows purposes)",
				  mk->name, openpgp ? "openpgp" : "raw", key_purposes_format(mk->purposes, ", ", have),
				  key_purpose_name(want), openpgp ? "OpenPGP" : "raw detached");
	return RB_OK;
}

int cmd_sign_file(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "format", required_argument, NULL, 'f' },
		{ "armor", no_argument, NULL, 'a' },
		{ "hash", required_argument, NULL, 'H' },
		{ "pss", no_argument, NULL, 'p' },
		{ "output", required_argument, NULL, 'o' },
		CLI_COMMON_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct cli_common c;
	const char *key_name = NULL, *format = "raw", *hash = NULL, *output = NULL, *input;
	_cleanup_free_ char *default_output = NULL;
	struct manifest *m = NULL;
	struct manifest_key *mk;
	struct p11_module *mod = NULL;
	struct p11_token *tok = NULL;
	struct p11_key *key = NULL;
	struct rb_buf sig = RB_BUF_INIT;
	_cleanup_close_ int fd = -1;
	bool armor = false, pss = false, openpgp;
	int opt, err = RB_OK, rc;

	cli_common_init(&c);
	while ((opt = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		if (cli_common_opt(&c, opt, optarg))
			continue;
		switch (opt) {
		case 'k': key_name = optarg; break;
		case 'f': format = optarg; break;
		case 'a': armor = true; break;
		case 'H': hash = optarg; break;
		case 'p': pss = true; break;
		case 'o': output = optarg; break;
		case 'h': help(); return EXIT_OK;
		default: return cli_usage_error(verb, "unknown option");
		}
	}
	if (!key_name)
		return cli_usage_error(verb, "--key NAME is required");
	if (optind + 1 != argc)
		return cli_usage_error(verb, "give exactly one FILE to sign");
	input = argv[optind];
	cli_working_on("%s", input);
	if (strcmp(format, "raw") != 0 && strcmp(format, "openpgp") != 0)
		return cli_usage_error(verb, "--format must be raw or openpgp, not '%s'", format);
	openpgp = strcmp(format, "openpgp") == 0;
	if (hash && strcmp(hash, "sha256") != 0 && strcmp(hash, "sha512") != 0)
		return cli_usage_error(verb, "--hash must be sha256 or sha512, not '%s'", hash);
	if (armor && !openpgp)
		return cli_usage_error(verb, "--armor applies to --format openpgp only");
	if (pss && openpgp)
		return cli_usage_error(verb, "--pss applies to --format raw only");
	if (!output) {
		if (asprintf(&default_output, "%s.%s", input, armor ? "asc" : "sig") < 0)
			return cli_fail(verb, RB_E_NOMEM);
		output = default_output;
	}
	if ((err = cli_common_finish(&c)) < 0)
		return cli_fail(verb, err);

	/* Check everything that needs no HSM first: bad input costs nothing. */
	if ((err = manifest_load(c.manifest, &m)) < 0)
		goto fail;
	mk = manifest_find(m, key_name);
	if (!mk) {
		err = rb_err_set(RB_E_KEY, "no key '%s' in %s; 'rombsr keys list' shows the keys", key_name,
				 c.manifest);
		goto fail;
	}
	if (mk->status != KEY_ACTIVE) {
		err = rb_err_set(RB_E_PERM, "key '%s' is %s%s%s and must not sign; use its successor", key_name,
				 key_status_name(mk->status), mk->revocation_reason ? ": " : "",
				 mk->revocation_reason ? mk->revocation_reason : "");
		goto fail;
	}
	if ((err = check_purpose(mk, openpgp)) < 0)
		goto fail;
	if ((err = open_input(input, &fd)) < 0)
		goto fail;
	if (!c.token)
		c.token = m->token_uri;
	if ((err = cli_open_token(&c, true, &mod, &tok)) < 0 ||
	    (err = p11_token_find_key(tok, mk->uri, &key)) < 0)
		goto fail;
	if (EVP_PKEY_eq(p11_key_public(key), mk->pub) != 1) {
		err = rb_err_set(RB_E_VERIFY, "key '%s' on token '%s' is not the key in the manifest; refusing "
				 "to sign (was the token replaced?)", key_name, p11_token_label(tok));
		goto fail;
	}
	err = openpgp ? sign_openpgp(key, mk, fd, hash && strcmp(hash, "sha256") == 0, armor, &sig)
		      : sign_raw(key, fd, input, hash && strcmp(hash, "sha512") == 0, pss, &sig);
	if (err < 0 || (err = rb_file_write_atomic(output, sig.data, sig.len, 0644)) < 0)
		goto fail;
	fprintf(stderr, "rombsr: signed %s with '%s' -> %s\n", input, key_name, output);
	rc = EXIT_OK;
	goto out;
fail:
	rc = cli_fail(verb, err);
out:
	rb_buf_free(&sig);
	p11_module_free(mod);
	manifest_free(m);
	cli_common_done(&c);
	return rc;
}
