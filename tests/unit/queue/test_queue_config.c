/* sign.conf: a full valid file, then every rejection in
 * docs/formats/sign-config.md - each with the error code and a word of
 * the detail that tells the operator what is wrong. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "queue/config.h"
#include "util/err.h"
#include "util/fileio.h"

HARNESS_GLOBALS;

static char tmpdir[] = "/tmp/rombsr-qconf-XXXXXX";

#define FPR_A "0123456789abcdef0123456789abcdef01234567"
#define FPR_B "89ABCDEF0123456789ABCDEF0123456789ABCDEF"
#define FPR_C "FEDCBA9876543210FEDCBA9876543210FEDCBA98"

static const char head[] = "[rombsr]\n\tversion = 1\n\tstateDir = state\n\tmanifest = /etc/rombsr/manifest.json\n"
			   "[queue]\n\turl = queue.git\n";

static const char full[] =
	"# a full configuration\n"
	"[rombsr]\n"
	"\tversion = 1\n"
	"\tSTATEDIR = /var/lib/rombsr-sign\n"
	"\tmanifest = manifest.json\n"
	"[hsm]\n"
	"\tmodule = /usr/lib/softhsm/libsofthsm2.so\n"
	"\ttoken = rombsr\n"
	"\tpinFile = operator.pin\n"
	"\tsofthsmConf = /var/lib/rombsr/softhsm2.conf\n"
	"\tmaxSessions = 8\n"
	"[queue]\n"
	"\turl = ssh://git@example.org/queue.git\n"
	"\tbranch = signing\n"
	"\tpollSeconds = 30\n"
	"\tmaxRequestBytes = 1048576\n"
	"[audit]\n"
	"\tdir = /var/log/rombsr-audit\n"
	"[node \"builder1\"]\n"
	"\tfingerprint = " FPR_A "\n"
	"\tpublicKey = nodes/builder1.asc\n"
	"\tallowKey = platform\n"
	"\tallowKey = media\n"
	"\tquotaPerHour = 5000\n"
	"\tquotaPerBuild = 2000\n"
	"[node \"Builder.2\"]\n"
	"\tfingerprint = " FPR_B "\n"
	"\tpublicKey = /srv/keys/b2.asc\n"
	"[approver \"alice\"]\n"
	"\tfingerprint = " FPR_C "\n"
	"\tpublicKey = approvers/alice.asc\n"
	"[key \"avb_root\"]\n"
	"\tapprovers = 1\n"
	"\tapprover = alice\n";

static char *conf_write(const char *name, const char *text)
{
	char *path = NULL;

	if (asprintf(&path, "%s/%s", tmpdir, name) < 0)
		abort();
	unlink(path);
	if (rb_file_write_atomic(path, text, strlen(text), 0644) < 0)
		abort();
	return path;
}

static void test_full(void)
{
	_cleanup_free_ char *path = conf_write("full.conf", full), *want = NULL;
	_cleanup_sign_config_ struct sign_config *c = NULL;
	const struct sign_node *n = NULL;
	const struct sign_approver *a = NULL;

	CHECK_OK(sign_config_load(path, &c));
	if (!c)
		return;
	CHECK(c->version == 1);
	CHECK(strcmp(c->state_dir, "/var/lib/rombsr-sign") == 0);
	CHECK(asprintf(&want, "%s/manifest.json", tmpdir) > 0 && strcmp(c->manifest, want) == 0);
	CHECK(strcmp(c->hsm.module, "/usr/lib/softhsm/libsofthsm2.so") == 0);
	CHECK(strcmp(c->hsm.token, "rombsr") == 0);
	CHECK(c->hsm.max_sessions == 8);
	CHECK(strcmp(c->queue.url, "ssh://git@example.org/queue.git") == 0);
	CHECK(strcmp(c->queue.branch, "signing") == 0);
	CHECK(c->queue.poll_seconds == 30);
	CHECK(c->queue.max_request_bytes == 1048576);
	CHECK(strcmp(c->audit_dir, "/var/log/rombsr-audit") == 0);
	CHECK(c->n_nodes == 2 && c->n_approvers == 1 && c->n_keys == 1);
	n = sign_config_find_node(c, "builder1");
	CHECK(n && strcmp(n->fingerprint, "0123456789ABCDEF0123456789ABCDEF01234567") == 0);
	CHECK(n && n->n_allow_keys == 2 && sign_node_allows_key(n, "media") && !sign_node_allows_key(n, "ota"));
	CHECK(n && n->quota_per_hour == 5000 && n->quota_per_build == 2000);
	CHECK(n && strstr(n->public_key, tmpdir) == n->public_key && strstr(n->public_key, "/nodes/builder1.asc"));
	/* subsection names are case-sensitive */
	CHECK(sign_config_find_node(c, "Builder.2") && !sign_config_find_node(c, "builder.2"));
	CHECK(!sign_config_find_node(c, "nobody"));
	n = NULL;
	CHECK(sign_config_find_fingerprint(c, FPR_A, &n, &a) && n && !a && strcmp(n->name, "builder1") == 0);
	n = NULL;
	a = NULL;
	CHECK(sign_config_find_fingerprint(c, "fedcba9876543210fedcba9876543210fedcba98", &n, &a) && a && !n);
	CHECK(!sign_config_find_fingerprint(c, "0000000000000000000000000000000000000000", &n, &a));
	CHECK(sign_config_find_key(c, "avb_root") && sign_config_find_key(c, "avb_root")->approvals == 1);
	CHECK(sign_config_find_approver(c, "alice"));
}

static void test_defaults(void)
{
	_cleanup_free_ char *path = conf_write("min.conf", head), *want = NULL;
	_cleanup_sign_config_ struct sign_config *c = NULL;

	CHECK_OK(sign_config_load(path, &c));
	if (!c)
		return;
	CHECK(asprintf(&want, "%s/state", tmpdir) > 0 && strcmp(c->state_dir, want) == 0);
	free(want);
	CHECK(asprintf(&want, "%s/queue.git", tmpdir) > 0 && strcmp(c->queue.url, want) == 0);
	free(want);
	CHECK(asprintf(&want, "%s/state/audit", tmpdir) > 0 && strcmp(c->audit_dir, want) == 0);
	CHECK(strcmp(c->queue.branch, "main") == 0);
	CHECK(c->queue.poll_seconds == 10 && c->hsm.max_sessions == 4);
	CHECK(c->queue.max_request_bytes == 16u * 1024 * 1024);
	CHECK(!c->hsm.module && !c->hsm.pin_file && c->n_nodes == 0);
}

/* Load head + extra and require err with word in the detail. */
static void reject(const char *what, const char *text, int want, const char *word)
{
	_cleanup_free_ char *path = conf_write("bad.conf", text);
	struct sign_config *c = NULL;
	int err = sign_config_load(path, &c);

	if (err != want || c) {
		fprintf(stderr, "%s: got %d (%s), want %d\n", what, err, rb_err_detail(), want);
		t_failed_checks++;
	} else if (word && !strstr(rb_err_detail(), word)) {
		fprintf(stderr, "%s: detail \"%s\" lacks \"%s\"\n", what, rb_err_detail(), word);
		t_failed_checks++;
	}
	sign_config_free(c);
}

static void reject_extra(const char *what, const char *extra, int want, const char *word)
{
	_cleanup_free_ char *text = NULL;

	if (asprintf(&text, "%s%s", head, extra) < 0)
		abort();
	reject(what, text, want, word);
}

#define NODE(name, fpr) "[node \"" name "\"]\n\tfingerprint = " fpr "\n\tpublicKey = k.asc\n"
#define APPROVER(name, fpr) "[approver \"" name "\"]\n\tfingerprint = " fpr "\n\tpublicKey = k.asc\n"

static void test_rejections(void)
{
	/* the closed key set */
	reject_extra("unknown section", "[foo]\n\tbar = 1\n", RB_E_PARSE, "foo.bar");
	reject_extra("typo in a key", "[queue]\n\tbrnch = main\n", RB_E_PARSE, "queue.brnch");
	reject_extra("unknown node key", NODE("b1", FPR_A) "\tallowkeys = platform\n", RB_E_PARSE,
		     "node.b1.allowkeys");
	reject_extra("unknown subsection of rombsr", "[rombsr \"x\"]\n\tversion = 1\n", RB_E_PARSE, "unknown key");
	reject_extra("include", "[include]\n\tpath = /etc/passwd\n", RB_E_PARSE, "include.path");
	reject_extra("includeIf, odd case", "[ IncludeIf \"gitdir:/\"]\n\tpath = /etc/passwd\n", RB_E_PARSE,
		     "include");
	reject_extra("include after a key", "[hsm] token = t [include] path = /etc/passwd\n", RB_E_PARSE, "include");
	reject_extra("node without subsection", "[node]\n\tfingerprint = " FPR_A "\n", RB_E_PARSE, "node.fingerprint");
	reject_extra("key without value", "[hsm]\n\ttoken\n", RB_E_PARSE, "no value");
	reject_extra("repeated single key", "[queue]\n\tbranch = a\n\tbranch = b\n", RB_E_PARSE, "twice");
	reject_extra("repeated url across sections", "[queue]\n\turl = /other\n", RB_E_PARSE, "twice");
	reject_extra("empty value", "[hsm]\n\ttoken = \"\"\n", RB_E_PARSE, "empty");
	/* required keys and the version */
	reject("no version", "[rombsr]\n\tstateDir = s\n\tmanifest = m\n[queue]\n\turl = q\n", RB_E_PARSE, "version");
	reject("version 2", "[rombsr]\n\tversion = 2\n\tstateDir = s\n\tmanifest = m\n[queue]\n\turl = q\n",
	       RB_E_UNSUPPORTED, "version 2");
	reject("version not a number", "[rombsr]\n\tversion = one\n", RB_E_PARSE, "decimal");
	reject("no stateDir", "[rombsr]\n\tversion = 1\n\tmanifest = m\n[queue]\n\turl = q\n", RB_E_PARSE, "stateDir");
	reject("no manifest", "[rombsr]\n\tversion = 1\n\tstateDir = s\n[queue]\n\turl = q\n", RB_E_PARSE, "manifest");
	reject("no queue url", "[rombsr]\n\tversion = 1\n\tstateDir = s\n\tmanifest = m\n", RB_E_PARSE, "queue.url");
	/* ranges */
	reject_extra("poll 0", "[queue]\n\tpollSeconds = 0\n", RB_E_PARSE, "1..3600");
	reject_extra("poll 3601", "[queue]\n\tpollSeconds = 3601\n", RB_E_PARSE, "1..3600");
	reject_extra("poll with suffix", "[queue]\n\tpollSeconds = 1k\n", RB_E_PARSE, "decimal");
	reject_extra("poll negative", "[queue]\n\tpollSeconds = -5\n", RB_E_PARSE, "decimal");
	reject_extra("request cap over 64 MiB", "[queue]\n\tmaxRequestBytes = 67108865\n", RB_E_PARSE, "67108864");
	reject_extra("request cap 0", "[queue]\n\tmaxRequestBytes = 0\n", RB_E_PARSE, "maxrequestbytes");
	reject_extra("huge number", "[queue]\n\tmaxRequestBytes = 99999999999999999999999\n", RB_E_PARSE, "decimal");
	reject_extra("sessions 0", "[hsm]\n\tmaxSessions = 0\n", RB_E_PARSE, "maxsessions");
	reject_extra("quota", NODE("b1", FPR_A) "\tquotaPerHour = lots\n", RB_E_PARSE, "quotaperhour");
	reject_extra("bad branch", "[queue]\n\tbranch = a..b\n", RB_E_PARSE, "branch");
	/* names and fingerprints */
	reject_extra("node name starts with a dash", NODE("-b1", FPR_A), RB_E_PARSE, "-b1");
	reject_extra("node name with a space", NODE("b 1", FPR_A), RB_E_PARSE, "b 1");
	reject_extra("node name too long",
		     NODE("a1234567890123456789012345678901234567890123456789012345678901234", FPR_A), RB_E_PARSE,
		     "1-64");
	reject_extra("short fingerprint", NODE("b1", "0123456789ABCDEF0123456789ABCDEF0123456"), RB_E_PARSE,
		     "fingerprint");
	reject_extra("fingerprint with spaces", NODE("b1", "0123 4567 89AB CDEF 0123 4567 89AB CDEF 0123 4567"),
		     RB_E_PARSE, "fingerprint");
	reject_extra("non-hex fingerprint", NODE("b1", "0123456789ABCDEF0123456789ABCDEF0123456G"), RB_E_PARSE,
		     "fingerprint");
	reject_extra("node without publicKey", "[node \"b1\"]\n\tfingerprint = " FPR_A "\n", RB_E_PARSE, "publicKey");
	reject_extra("node without fingerprint", "[node \"b1\"]\n\tpublicKey = k.asc\n", RB_E_PARSE, "fingerprint");
	reject_extra("approver without publicKey", "[approver \"a\"]\n\tfingerprint = " FPR_A "\n", RB_E_PARSE,
		     "publicKey");
	reject_extra("same fingerprint on two nodes", NODE("b1", FPR_A) NODE("b2", FPR_A), RB_E_PARSE, "already used");
	reject_extra("same fingerprint, other case", NODE("b1", FPR_B) NODE("b2", "89abcdef0123456789abcdef0123456789abcdef"),
		     RB_E_PARSE, "already used");
	reject_extra("node and approver share a key", NODE("b1", FPR_A) APPROVER("alice", FPR_A), RB_E_PARSE,
		     "already used");
	reject_extra("allowKey not a key name", NODE("b1", FPR_A) "\tallowKey = Platform\n", RB_E_PARSE, "Platform");
	reject_extra("allowKey twice", NODE("b1", FPR_A) "\tallowKey = media\n\tallowKey = media\n", RB_E_PARSE, "twice");
	/* the sign node's own keys take no requests */
	reject_extra("allowKey = queue", NODE("b1", FPR_A) "\tallowKey = queue\n", RB_E_PARSE, "allowKey = queue");
	reject_extra("allowKey = audit", NODE("b1", FPR_A) "\tallowKey = audit\n", RB_E_PARSE, "audit checkpoints");
	reject_extra("policy for the queue key", APPROVER("alice", FPR_A) "[key \"queue\"]\n\tapprovers = 1\n"
		     "\tapprover = alice\n", RB_E_PARSE, "takes no requests");
	reject_extra("policy for the audit key", "[key \"audit\"]\n\tapprovers = 1\n", RB_E_PARSE, "audit");
	/* key policies */
	reject_extra("approvals without approvers", APPROVER("alice", FPR_A) "[key \"avb\"]\n\tapprovers = 2\n"
		     "\tapprover = alice\n", RB_E_PARSE, "requires 2");
	reject_extra("approver without a count", APPROVER("alice", FPR_A) "[key \"avb\"]\n\tapprover = alice\n",
		     RB_E_PARSE, "how many");
	reject_extra("dangling approver", APPROVER("alice", FPR_A) "[key \"avb\"]\n\tapprovers = 1\n"
		     "\tapprover = mallory\n", RB_E_PARSE, "mallory");
	reject_extra("approver listed twice", APPROVER("alice", FPR_A) "[key \"avb\"]\n\tapprovers = 1\n"
		     "\tapprover = alice\n\tapprover = alice\n", RB_E_PARSE, "twice");
	reject_extra("zero approvals", APPROVER("alice", FPR_A) "[key \"avb\"]\n\tapprovers = 0\n\tapprover = alice\n",
		     RB_E_PARSE, "approvers");
	reject_extra("bad key name", "[key \"AVB\"]\n\tapprovers = 1\n", RB_E_PARSE, "AVB");
	/* syntax */
	reject_extra("unterminated section", "[node \"b1\n", RB_E_PARSE, "syntax");
}

static void test_files(void)
{
	_cleanup_free_ char *big = malloc(SIGN_CONFIG_MAX_BYTES + 2), *path = NULL;
	struct sign_config *c = NULL;
	char nul[] = "[rombsr]\n\tversion = 1\n#\0\n";

	CHECK_ERR(sign_config_load("/nonexistent/sign.conf", &c), RB_E_NOTFOUND);
	memset(big, '#', SIGN_CONFIG_MAX_BYTES + 1);
	big[SIGN_CONFIG_MAX_BYTES + 1] = '\0';
	path = conf_write("big.conf", big);
	CHECK_ERR(sign_config_load(path, &c), RB_E_TOOBIG);
	free(path);
	if (asprintf(&path, "%s/nul.conf", tmpdir) < 0)
		abort();
	unlink(path);
	CHECK_OK(rb_file_write_atomic(path, nul, sizeof(nul) - 1, 0644));
	CHECK_ERR(sign_config_load(path, &c), RB_E_PARSE);
	CHECK(strstr(rb_err_detail(), "NUL"));
	CHECK(c == NULL);
	sign_config_free(NULL);
}

static void test_helpers(void)
{
	char out[SIGN_CONFIG_FPR_HEX + 1];

	CHECK(sign_config_name_valid("a"));
	CHECK(sign_config_name_valid("builder-1.example_2"));
	CHECK(!sign_config_name_valid(""));
	CHECK(!sign_config_name_valid(".hidden"));
	CHECK(!sign_config_name_valid("a/b"));
	CHECK_OK(sign_config_fpr_normalise("abcdef0123456789abcdef0123456789abcdef01", out));
	CHECK(strcmp(out, "ABCDEF0123456789ABCDEF0123456789ABCDEF01") == 0);
	CHECK_ERR(sign_config_fpr_normalise("abcdef0123456789abcdef0123456789abcdef0", out), RB_E_PARSE);
}

int main(void)
{
	if (!mkdtemp(tmpdir))
		return 1;
	RUN(test_full);
	RUN(test_defaults);
	RUN(test_rejections);
	RUN(test_files);
	RUN(test_helpers);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		if (system(cmd) != 0)
			return 1;
	}
	TEST_MAIN_END();
}
