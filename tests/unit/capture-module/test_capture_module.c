/* Strictness tests of the capture PKCS#11 module: dlopen()ed like any
 * client, against the manifest of a real SoftHSM2 token provisioned by
 * run.sh (tests/vectors/keyspec-test.json: platform rsa-4096, media
 * rsa-2048, device ec-p256, release rsa-2048, release-ed, fw, queue and
 * audit ed25519).
 *
 *   test_capture_module MODULE
 *
 * Environment (from run.sh): ROMBSR_CAPTURE_MANIFEST, ROMBSR_CAPTURE_SPOOL,
 * ROMBSR_BUILD_ID for the module; TEST_REVOKED_MANIFEST (the same manifest
 * with "media" revoked), TEST_TOKEN_LABEL, TEST_OPERATOR_PIN_FILE and
 * SOFTHSM2_CONF for real signatures from the token. */
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>

#include "capture/capture.h"
#include "config.h"
#include "harness.h"
#include "keys/manifest.h"
#include "p11/p11.h"
#include "soft_signer.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fileio.h"

HARNESS_GLOBALS;

typedef struct {
	CK_CHAR *pInterfaceName;
	CK_VOID_PTR pFunctionList;
	CK_FLAGS flags;
} TEST_INTERFACE;

typedef CK_RV (*get_interface_list_fn)(TEST_INTERFACE *, CK_ULONG *);
typedef CK_RV (*get_interface_fn)(CK_UTF8CHAR *, CK_VERSION *, TEST_INTERFACE **, CK_FLAGS);

static void *dl;
static CK_FUNCTION_LIST *F;
static struct manifest *M;
static const char *spool, *build_id, *manifest_path;
static char work[] = "/tmp/rombsr-capmod-XXXXXX";

#define RV(expr, want)                                                                  \
	do {                                                                            \
		CK_RV _rv = (expr), _want = (want);                                     \
		if (_rv != _want) {                                                     \
			fprintf(stderr, "%s:%d: %s: %s = %s, want %s\n", __FILE__, __LINE__, \
				t_current, #expr, p11_ckr_name(_rv), p11_ckr_name(_want)); \
			t_failed_checks++;                                              \
		}                                                                       \
	} while (0)

static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

/* ---- helpers ------------------------------------------------------------- */

static void init(void)
{
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };

	RV(F->C_Initialize(&args), CKR_OK);
}

static void fini(void)
{
	RV(F->C_Finalize(NULL), CKR_OK);
}

static CK_SESSION_HANDLE open_session(CK_FLAGS extra)
{
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;

	RV(F->C_OpenSession(0, CKF_SERIAL_SESSION | extra, NULL, NULL, &s), CKR_OK);
	return s;
}

static void login(CK_SESSION_HANDLE s)
{
	RV(F->C_Login(s, CKU_USER, (CK_UTF8CHAR *)"any-pin", 7), CKR_OK);
}

/* init + RW session + login. */
static CK_SESSION_HANDLE ready(void)
{
	CK_SESSION_HANDLE s;

	init();
	s = open_session(CKF_RW_SESSION);
	login(s);
	return s;
}

static size_t find_all(CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *out,
		       size_t max)
{
	CK_ULONG got = 0;

	RV(F->C_FindObjectsInit(s, tmpl, n), CKR_OK);
	RV(F->C_FindObjects(s, out, max, &got), CKR_OK);
	RV(F->C_FindObjectsFinal(s), CKR_OK);
	return got;
}

static CK_OBJECT_HANDLE find_obj(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const char *label)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE h[4];
	size_t n = find_all(s, t, 2, h, 4);

	if (n != 1) {
		fprintf(stderr, "%s: %zu objects of class %lu labelled %s\n", t_current, n,
			(unsigned long)cls, label);
		t_failed_checks++;
		return CK_INVALID_HANDLE;
	}
	return h[0];
}

/* Read one attribute with the two-call protocol; caller frees. */
static uint8_t *get_attr(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
			 CK_ULONG *ret_len)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	uint8_t *p;

	RV(F->C_GetAttributeValue(s, o, &a, 1), CKR_OK);
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return NULL;
	p = malloc(a.ulValueLen + 1);
	a.pValue = p;
	RV(F->C_GetAttributeValue(s, o, &a, 1), CKR_OK);
	*ret_len = a.ulValueLen;
	return p;
}

static CK_ULONG get_ulong(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type)
{
	CK_ULONG v = 0xdeadbeef;
	CK_ATTRIBUTE a = { type, &v, sizeof(v) };

	RV(F->C_GetAttributeValue(s, o, &a, 1), CKR_OK);
	CHECK(a.ulValueLen == sizeof(v));
	return v;
}

static int get_bool(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL v = 0x55;
	CK_ATTRIBUTE a = { type, &v, sizeof(v) };

	RV(F->C_GetAttributeValue(s, o, &a, 1), CKR_OK);
	CHECK(a.ulValueLen == 1);
	return v == CK_TRUE ? 1 : v == CK_FALSE ? 0 : -1;
}

static size_t spool_count(void)
{
	DIR *d = opendir(spool);
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);

		if (e->d_name[0] != '.' && l > 5 && strcmp(e->d_name + l - 5, ".json") == 0)
			n++;
	}
	closedir(d);
	return n;
}

static const struct manifest_key *key(const char *name)
{
	const struct manifest_key *k = manifest_find(M, name);

	if (!k) {
		fprintf(stderr, "no key %s in the manifest\n", name);
		exit(1);
	}
	return k;
}

/* The request the module must have recorded for this signature: same
 * placeholder as an independent capture_request_new_data() with the data
 * the module must have kept (NULL: none), and its file in the spool,
 * parsing against the manifest. Returns the parsed request. */
static struct capture_request *expect_recorded_data(const char *name, enum capture_mech mech,
						    enum rb_sig_scheme scheme, const uint8_t *in, size_t in_len,
						    const uint8_t *data, size_t data_len, const uint8_t *sig,
						    size_t sig_len)
{
	struct capture_request *want = NULL, *got = NULL;
	uint8_t *text = NULL;
	size_t len;
	char path[1024];

	CHECK_OK(capture_request_new_data(build_id, key(name), mech, scheme, in, in_len, data, data_len, NULL, 0,
					  &want));
	if (!want)
		return NULL;
	CHECK(want->placeholder_len == sig_len);
	CHECK(sig_len == want->placeholder_len && memcmp(want->placeholder, sig, sig_len) == 0);
	snprintf(path, sizeof(path), "%s/%s.json", spool, want->id_hex);
	CHECK_OK(rb_file_read(path, CAPTURE_REQUEST_MAX_BYTES, &text, &len));
	if (text) {
		CHECK_OK(capture_request_parse((char *)text, len, path, M, &got));
		if (got) {
			CHECK(strcmp(got->key_name, name) == 0);
			CHECK(got->mechanism == mech && got->scheme == scheme);
			CHECK(got->input_len == in_len && memcmp(got->input, in, in_len) == 0);
			CHECK(got->version == 2 && !got->data == !data && got->data_len == data_len &&
			      (!data || memcmp(got->data, data, data_len) == 0));
			CHECK(strcmp(got->build_id, build_id) == 0);
			CHECK(got->tool && strncmp(got->tool, "test_capture", 12) == 0);
		}
	}
	free(text);
	capture_request_free(want);
	return got;
}

static struct capture_request *expect_recorded(const char *name, enum capture_mech mech,
					       enum rb_sig_scheme scheme, const uint8_t *in,
					       size_t in_len, const uint8_t *sig, size_t sig_len)
{
	return expect_recorded_data(name, mech, scheme, in, in_len, NULL, 0, sig, sig_len);
}

static void sha(const EVP_MD *md, const void *p, size_t n, uint8_t *out)
{
	size_t l;

	CHECK_OK(rb_digest(md, p, n, out, &l));
}

/* DigestInfo for a SHA-256 or SHA-512 digest. */
static size_t digestinfo(enum rb_sig_scheme s, const uint8_t *digest, uint8_t *out)
{
	const uint8_t *prefix;
	size_t plen, dlen = rb_sig_scheme_digest_len(s);

	CHECK_OK(rb_digestinfo_prefix(s, &prefix, &plen));
	memcpy(out, prefix, plen);
	memcpy(out + plen, digest, dlen);
	return plen + dlen;
}

/* Sign in one call, with the length query first; returns the length. */
static CK_ULONG sign1(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE k, const void *data,
		      size_t len, uint8_t *sig)
{
	CK_ULONG sl = 0;

	RV(F->C_SignInit(s, m, k), CKR_OK);
	RV(F->C_Sign(s, (CK_BYTE *)data, len, NULL, &sl), CKR_OK);
	RV(F->C_Sign(s, (CK_BYTE *)data, len, sig, &sl), CKR_OK);
	return sl;
}

static char *initialize_capturing(CK_RV want);

/* Remove a spool directory holding only the module's log. */
static bool unlink_log_and_rmdir(const char *dir)
{
	char log[1200];

	snprintf(log, sizeof(log), "%s/capture.log", dir);
	unlink(log);
	return rmdir(dir) == 0;
}

/* ---- the function list and interfaces ------------------------------------ */

static void test_function_list(void)
{
	CK_FUNCTION_LIST *f = NULL;
	get_interface_list_fn gil = (get_interface_list_fn)dlsym(dl, "C_GetInterfaceList");
	get_interface_fn gi = (get_interface_fn)dlsym(dl, "C_GetInterface");
	CK_RV (*gfl)(CK_FUNCTION_LIST **) = (CK_RV (*)(CK_FUNCTION_LIST **))dlsym(dl, "C_GetFunctionList");
	TEST_INTERFACE list[2], *itf = NULL;
	CK_VERSION v240 = { 2, 40 }, v30 = { 3, 0 };
	CK_ULONG n = 0;
	void **fp;
	size_t i;

	RV(gfl(NULL), CKR_ARGUMENTS_BAD);
	RV(gfl(&f), CKR_OK);
	CHECK(f == F);
	CHECK(F->version.major == 2 && F->version.minor == 40);
	/* Every slot is filled: unsupported functions say so instead of being
	 * NULL pointers a client would call. */
	fp = (void **)&F->C_Initialize;
	for (i = 0; i < (sizeof(*F) - sizeof(F->version)) / sizeof(void *); i++)
		CHECK(fp[i] != NULL);

	CHECK(gil && gi);
	if (!gil || !gi)
		return;
	RV(gil(NULL, NULL), CKR_ARGUMENTS_BAD);
	RV(gil(NULL, &n), CKR_OK);
	CHECK(n == 1);
	n = 0;
	RV(gil(list, &n), CKR_BUFFER_TOO_SMALL);
	CHECK(n == 1);
	n = 2;
	RV(gil(list, &n), CKR_OK);
	CHECK(n == 1);
	CHECK(strcmp((char *)list[0].pInterfaceName, "PKCS 11") == 0);
	CHECK(list[0].pFunctionList == F);
	CHECK(list[0].flags == 0);

	RV(gi(NULL, NULL, NULL, 0), CKR_ARGUMENTS_BAD);
	RV(gi(NULL, NULL, &itf, 0), CKR_OK);
	CHECK(itf && itf->pFunctionList == F);
	RV(gi((CK_UTF8CHAR *)"PKCS 11", &v240, &itf, 0), CKR_OK);
	RV(gi((CK_UTF8CHAR *)"Vendor XYZ", NULL, &itf, 0), CKR_ARGUMENTS_BAD);
	RV(gi((CK_UTF8CHAR *)"PKCS 11", &v30, &itf, 0), CKR_ARGUMENTS_BAD);
	/* CKF_INTERFACE_FORK_SAFE is not offered. */
	RV(gi(NULL, NULL, &itf, 1), CKR_ARGUMENTS_BAD);
}

static void test_not_initialized(void)
{
	CK_INFO info;
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	CK_SESSION_INFO ssi;
	CK_MECHANISM_INFO mi;
	CK_MECHANISM m = { CKM_ECDSA, NULL, 0 };
	CK_ULONG n = 4, cnt;
	CK_SLOT_ID slots[4];
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE o;
	CK_ATTRIBUTE a = { CKA_LABEL, NULL, 0 };
	uint8_t buf[64];
	CK_ULONG bl = sizeof(buf);
	const CK_RV NI = CKR_CRYPTOKI_NOT_INITIALIZED;

	RV(F->C_Finalize(NULL), NI);
	RV(F->C_GetInfo(&info), NI);
	RV(F->C_GetSlotList(CK_TRUE, slots, &n), NI);
	RV(F->C_GetSlotInfo(0, &si), NI);
	RV(F->C_GetTokenInfo(0, &ti), NI);
	RV(F->C_GetMechanismList(0, NULL, &n), NI);
	RV(F->C_GetMechanismInfo(0, CKM_ECDSA, &mi), NI);
	RV(F->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), NI);
	RV(F->C_CloseSession(1), NI);
	RV(F->C_CloseAllSessions(0), NI);
	RV(F->C_GetSessionInfo(1, &ssi), NI);
	RV(F->C_Login(1, CKU_USER, (CK_UTF8CHAR *)"1", 1), NI);
	RV(F->C_Logout(1), NI);
	RV(F->C_CreateObject(1, &a, 1, &o), NI);
	RV(F->C_DestroyObject(1, 1), NI);
	RV(F->C_GetAttributeValue(1, 1, &a, 1), NI);
	RV(F->C_FindObjectsInit(1, NULL, 0), NI);
	RV(F->C_FindObjects(1, &o, 1, &cnt), NI);
	RV(F->C_FindObjectsFinal(1), NI);
	RV(F->C_SignInit(1, &m, 1), NI);
	RV(F->C_Sign(1, buf, 32, buf, &bl), NI);
	RV(F->C_SignUpdate(1, buf, 1), NI);
	RV(F->C_SignFinal(1, buf, &bl), NI);
	RV(F->C_VerifyInit(1, &m, 1), NI);
	RV(F->C_Verify(1, buf, 32, buf, 64), NI);
	RV(F->C_VerifyUpdate(1, buf, 1), NI);
	RV(F->C_VerifyFinal(1, buf, 64), NI);
}

static CK_RV create_mutex(CK_VOID_PTR_PTR m)
{
	*m = malloc(1);
	return CKR_OK;
}

static CK_RV destroy_mutex(CK_VOID_PTR m)
{
	free(m);
	return CKR_OK;
}

static CK_RV lock_mutex(CK_VOID_PTR m)
{
	(void)m;
	return CKR_OK;
}

static void test_initialize_args(void)
{
	CK_C_INITIALIZE_ARGS a;
	int reserved;

	memset(&a, 0, sizeof(a));
	a.pReserved = &reserved;
	RV(F->C_Initialize(&a), CKR_ARGUMENTS_BAD);
	memset(&a, 0, sizeof(a));
	a.CreateMutex = create_mutex; /* some callbacks but not all */
	RV(F->C_Initialize(&a), CKR_ARGUMENTS_BAD);
	a.DestroyMutex = destroy_mutex;
	a.LockMutex = lock_mutex;
	a.UnlockMutex = lock_mutex;
	/* Application locking only: the module cannot use it. */
	RV(F->C_Initialize(&a), CKR_CANT_LOCK);
	RV(F->C_GetInfo(&(CK_INFO){ 0 }), CKR_CRYPTOKI_NOT_INITIALIZED);
	a.flags = CKF_OS_LOCKING_OK;
	RV(F->C_Initialize(&a), CKR_OK);
	RV(F->C_Initialize(&a), CKR_CRYPTOKI_ALREADY_INITIALIZED);
	RV(F->C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED);
	RV(F->C_Finalize(&reserved), CKR_ARGUMENTS_BAD);
	RV(F->C_Finalize(NULL), CKR_OK);
	RV(F->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
	RV(F->C_Initialize(NULL), CKR_OK);
	RV(F->C_Finalize(NULL), CKR_OK);
}

static void test_unsupported(void)
{
	CK_SESSION_HANDLE s = ready();
	CK_MECHANISM m = { CKM_SHA256, NULL, 0 };
	CK_ATTRIBUTE a = { CKA_LABEL, NULL, 0 };
	CK_OBJECT_HANDLE o, o2;
	CK_SLOT_ID slot;
	uint8_t b[64];
	CK_ULONG l = sizeof(b);
	const CK_RV NS = CKR_FUNCTION_NOT_SUPPORTED;

	RV(F->C_InitToken(0, (CK_UTF8CHAR *)"1", 1, (CK_UTF8CHAR *)"label"), NS);
	RV(F->C_InitPIN(s, (CK_UTF8CHAR *)"1", 1), NS);
	RV(F->C_SetPIN(s, (CK_UTF8CHAR *)"1", 1, (CK_UTF8CHAR *)"2", 1), NS);
	RV(F->C_GetOperationState(s, b, &l), NS);
	RV(F->C_SetOperationState(s, b, 4, 0, 0), NS);
	RV(F->C_CopyObject(s, 1, &a, 1, &o), NS);
	RV(F->C_GetObjectSize(s, 1, &l), NS);
	RV(F->C_SetAttributeValue(s, 1, &a, 1), NS);
	RV(F->C_EncryptInit(s, &m, 1), NS);
	RV(F->C_Encrypt(s, b, 1, b, &l), NS);
	RV(F->C_EncryptUpdate(s, b, 1, b, &l), NS);
	RV(F->C_EncryptFinal(s, b, &l), NS);
	RV(F->C_DecryptInit(s, &m, 1), NS);
	RV(F->C_Decrypt(s, b, 1, b, &l), NS);
	RV(F->C_DecryptUpdate(s, b, 1, b, &l), NS);
	RV(F->C_DecryptFinal(s, b, &l), NS);
	RV(F->C_DigestInit(s, &m), NS);
	RV(F->C_Digest(s, b, 1, b, &l), NS);
	RV(F->C_DigestUpdate(s, b, 1), NS);
	RV(F->C_DigestKey(s, 1), NS);
	RV(F->C_DigestFinal(s, b, &l), NS);
	RV(F->C_SignRecoverInit(s, &m, 1), NS);
	RV(F->C_SignRecover(s, b, 1, b, &l), NS);
	RV(F->C_VerifyRecoverInit(s, &m, 1), NS);
	RV(F->C_VerifyRecover(s, b, 1, b, &l), NS);
	RV(F->C_DigestEncryptUpdate(s, b, 1, b, &l), NS);
	RV(F->C_DecryptDigestUpdate(s, b, 1, b, &l), NS);
	RV(F->C_SignEncryptUpdate(s, b, 1, b, &l), NS);
	RV(F->C_DecryptVerifyUpdate(s, b, 1, b, &l), NS);
	RV(F->C_GenerateKey(s, &m, &a, 1, &o), NS);
	RV(F->C_GenerateKeyPair(s, &m, &a, 1, &a, 1, &o, &o2), NS);
	RV(F->C_WrapKey(s, &m, 1, 2, b, &l), NS);
	RV(F->C_UnwrapKey(s, &m, 1, b, 1, &a, 1, &o), NS);
	RV(F->C_DeriveKey(s, &m, 1, &a, 1, &o), NS);
	RV(F->C_SeedRandom(s, b, 1), NS);
	RV(F->C_GenerateRandom(s, b, 16), NS);
	RV(F->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, NULL), NS);
	/* Legacy functions with their own fixed answer (PKCS#11 2.40). */
	RV(F->C_GetFunctionStatus(s), CKR_FUNCTION_NOT_PARALLEL);
	RV(F->C_CancelFunction(s), CKR_FUNCTION_NOT_PARALLEL);
	fini();
}

/* ---- slot, token, mechanisms --------------------------------------------- */

static bool padded_equal(const CK_UTF8CHAR *field, size_t n, const char *s)
{
	size_t l = strlen(s), i;

	if (l > n || memcmp(field, s, l) != 0)
		return false;
	for (i = l; i < n; i++)
		if (field[i] != ' ')
			return false;
	return true;
}

static void test_slot_token(void)
{
	CK_INFO info;
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	CK_SLOT_ID slots[2] = { 99, 99 };
	CK_ULONG n;
	CK_SESSION_HANDLE s1, s2;
	size_t i;

	init();
	RV(F->C_GetInfo(NULL), CKR_ARGUMENTS_BAD);
	RV(F->C_GetInfo(&info), CKR_OK);
	CHECK(info.cryptokiVersion.major == 2 && info.cryptokiVersion.minor == 40);
	CHECK(padded_equal(info.manufacturerID, 32, "rombsr"));
	CHECK(info.flags == 0);

	RV(F->C_GetSlotList(CK_FALSE, NULL, NULL), CKR_ARGUMENTS_BAD);
	RV(F->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
	CHECK(n == 1);
	n = 0;
	RV(F->C_GetSlotList(CK_TRUE, slots, &n), CKR_BUFFER_TOO_SMALL);
	CHECK(n == 1 && slots[0] == 99);
	n = 2;
	RV(F->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
	CHECK(n == 1 && slots[0] == 0 && slots[1] == 99);

	RV(F->C_GetSlotInfo(1, &si), CKR_SLOT_ID_INVALID);
	RV(F->C_GetSlotInfo(0, NULL), CKR_ARGUMENTS_BAD);
	RV(F->C_GetSlotInfo(0, &si), CKR_OK);
	CHECK(si.flags == CKF_TOKEN_PRESENT);

	RV(F->C_GetTokenInfo(7, &ti), CKR_SLOT_ID_INVALID);
	RV(F->C_GetTokenInfo(0, NULL), CKR_ARGUMENTS_BAD);
	RV(F->C_GetTokenInfo(0, &ti), CKR_OK);
	CHECK(padded_equal(ti.label, 32, M->token_label));
	CHECK(padded_equal(ti.manufacturerID, 32, "rombsr"));
	CHECK(padded_equal(ti.model, 16, "capture"));
	for (i = 0; i < 16; i++)
		CHECK(strchr("0123456789abcdef", ti.serialNumber[i]) != NULL);
	CHECK((ti.flags & (CKF_TOKEN_INITIALIZED | CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED |
			   CKF_WRITE_PROTECTED)) ==
	      (CKF_TOKEN_INITIALIZED | CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED | CKF_WRITE_PROTECTED));
	CHECK(!(ti.flags & (CKF_RNG | CKF_PROTECTED_AUTHENTICATION_PATH | CKF_CLOCK_ON_TOKEN)));
	CHECK(ti.ulSessionCount == 0 && ti.ulRwSessionCount == 0);

	s1 = open_session(0);
	s2 = open_session(CKF_RW_SESSION);
	RV(F->C_GetTokenInfo(0, &ti), CKR_OK);
	CHECK(ti.ulSessionCount == 2 && ti.ulRwSessionCount == 1);
	RV(F->C_CloseSession(s2), CKR_OK);
	RV(F->C_GetTokenInfo(0, &ti), CKR_OK);
	CHECK(ti.ulSessionCount == 1 && ti.ulRwSessionCount == 0);
	(void)s1;
	fini();
}

static void test_mechanisms(void)
{
	static const CK_MECHANISM_TYPE want[] = { CKM_RSA_PKCS, CKM_SHA256_RSA_PKCS, CKM_SHA512_RSA_PKCS,
						  CKM_RSA_PKCS_PSS, CKM_ECDSA, CKM_ECDSA_SHA256, CKM_EDDSA };
	CK_MECHANISM_TYPE list[16];
	CK_MECHANISM_INFO mi;
	CK_ULONG n;
	size_t i, j;

	init();
	RV(F->C_GetMechanismList(0, NULL, NULL), CKR_ARGUMENTS_BAD);
	RV(F->C_GetMechanismList(3, NULL, &n), CKR_SLOT_ID_INVALID);
	RV(F->C_GetMechanismList(0, NULL, &n), CKR_OK);
	CHECK(n == ELEMENTSOF(want));
	n = 2;
	RV(F->C_GetMechanismList(0, list, &n), CKR_BUFFER_TOO_SMALL);
	CHECK(n == ELEMENTSOF(want));
	n = ELEMENTSOF(list);
	RV(F->C_GetMechanismList(0, list, &n), CKR_OK);
	CHECK(n == ELEMENTSOF(want));
	for (i = 0; i < ELEMENTSOF(want); i++) {
		bool found = false;

		for (j = 0; j < n; j++)
			found |= list[j] == want[i];
		CHECK(found);
		RV(F->C_GetMechanismInfo(0, want[i], &mi), CKR_OK);
		/* Truthful: sign and verify; nothing else. */
		CHECK((mi.flags & (CKF_SIGN | CKF_VERIFY)) == (CKF_SIGN | CKF_VERIFY));
		CHECK(!(mi.flags & (CKF_ENCRYPT | CKF_DECRYPT | CKF_DIGEST | CKF_HW | CKF_WRAP |
				    CKF_UNWRAP | CKF_GENERATE_KEY_PAIR | CKF_DERIVE)));
		if (want[i] == CKM_ECDSA || want[i] == CKM_ECDSA_SHA256) {
			CHECK(mi.ulMinKeySize == 256 && mi.ulMaxKeySize == 256);
			CHECK((mi.flags & (CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS)) ==
			      (CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS));
		} else if (want[i] != CKM_EDDSA) {
			CHECK(mi.ulMinKeySize == 2048 && mi.ulMaxKeySize == 4096);
		}
	}
	RV(F->C_GetMechanismInfo(0, CKM_SHA256, &mi), CKR_MECHANISM_INVALID);
	RV(F->C_GetMechanismInfo(0, CKM_RSA_X_509, &mi), CKR_MECHANISM_INVALID);
	RV(F->C_GetMechanismInfo(0, CKM_ECDSA_SHA384, &mi), CKR_MECHANISM_INVALID);
	RV(F->C_GetMechanismInfo(1, CKM_ECDSA, &mi), CKR_SLOT_ID_INVALID);
	RV(F->C_GetMechanismInfo(0, CKM_ECDSA, NULL), CKR_ARGUMENTS_BAD);
	fini();
}

/* ---- sessions and login --------------------------------------------------- */

static void test_sessions(void)
{
	CK_SESSION_HANDLE ro, rw, s3;
	CK_SESSION_INFO si;

	init();
	RV(F->C_OpenSession(0, 0, NULL, NULL, &ro), CKR_SESSION_PARALLEL_NOT_SUPPORTED);
	RV(F->C_OpenSession(0, CKF_RW_SESSION, NULL, NULL, &ro), CKR_SESSION_PARALLEL_NOT_SUPPORTED);
	RV(F->C_OpenSession(5, CKF_SERIAL_SESSION, NULL, NULL, &ro), CKR_SLOT_ID_INVALID);
	RV(F->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, NULL), CKR_ARGUMENTS_BAD);
	ro = open_session(0);
	rw = open_session(CKF_RW_SESSION);
	CHECK(ro != CK_INVALID_HANDLE && rw != CK_INVALID_HANDLE && ro != rw);

	RV(F->C_GetSessionInfo(ro, NULL), CKR_ARGUMENTS_BAD);
	RV(F->C_GetSessionInfo(ro, &si), CKR_OK);
	CHECK(si.slotID == 0 && si.state == CKS_RO_PUBLIC_SESSION && si.flags == CKF_SERIAL_SESSION);
	RV(F->C_GetSessionInfo(rw, &si), CKR_OK);
	CHECK(si.state == CKS_RW_PUBLIC_SESSION && si.flags == (CKF_SERIAL_SESSION | CKF_RW_SESSION));
	RV(F->C_GetSessionInfo(0, &si), CKR_SESSION_HANDLE_INVALID);
	RV(F->C_GetSessionInfo(rw + 1000, &si), CKR_SESSION_HANDLE_INVALID);

	/* Login. */
	RV(F->C_Logout(ro), CKR_USER_NOT_LOGGED_IN);
	RV(F->C_Login(ro, CKU_SO, (CK_UTF8CHAR *)"1234", 4), CKR_USER_TYPE_INVALID);
	RV(F->C_Login(ro, 42, (CK_UTF8CHAR *)"1234", 4), CKR_USER_TYPE_INVALID);
	RV(F->C_Login(ro, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR *)"1234", 4), CKR_OPERATION_NOT_INITIALIZED);
	RV(F->C_Login(ro, CKU_USER, NULL, 4), CKR_ARGUMENTS_BAD);
	RV(F->C_Login(ro, CKU_USER, NULL, 0), CKR_ARGUMENTS_BAD);
	RV(F->C_Login(999, CKU_USER, (CK_UTF8CHAR *)"1234", 4), CKR_SESSION_HANDLE_INVALID);
	RV(F->C_Login(ro, CKU_USER, (CK_UTF8CHAR *)"1234", 4), CKR_OK);
	RV(F->C_Login(rw, CKU_USER, (CK_UTF8CHAR *)"1234", 4), CKR_USER_ALREADY_LOGGED_IN);
	/* Login state belongs to the application: every session sees it. */
	RV(F->C_GetSessionInfo(ro, &si), CKR_OK);
	CHECK(si.state == CKS_RO_USER_FUNCTIONS);
	RV(F->C_GetSessionInfo(rw, &si), CKR_OK);
	CHECK(si.state == CKS_RW_USER_FUNCTIONS);
	RV(F->C_Logout(999), CKR_SESSION_HANDLE_INVALID);
	RV(F->C_Logout(rw), CKR_OK);
	RV(F->C_Logout(rw), CKR_USER_NOT_LOGGED_IN);
	RV(F->C_GetSessionInfo(ro, &si), CKR_OK);
	CHECK(si.state == CKS_RO_PUBLIC_SESSION);

	/* Closing the last session logs out (PKCS#11 2.40, C_CloseSession). */
	login(ro);
	RV(F->C_CloseSession(999), CKR_SESSION_HANDLE_INVALID);
	RV(F->C_CloseSession(ro), CKR_OK);
	RV(F->C_CloseSession(ro), CKR_SESSION_HANDLE_INVALID);
	RV(F->C_GetSessionInfo(ro, &si), CKR_SESSION_HANDLE_INVALID);
	RV(F->C_GetSessionInfo(rw, &si), CKR_OK);
	CHECK(si.state == CKS_RW_USER_FUNCTIONS); /* rw still open: still logged in */
	RV(F->C_CloseSession(rw), CKR_OK);
	s3 = open_session(0);
	CHECK(s3 != ro && s3 != rw); /* handles are not reused */
	RV(F->C_GetSessionInfo(s3, &si), CKR_OK);
	CHECK(si.state == CKS_RO_PUBLIC_SESSION);

	/* C_CloseAllSessions. */
	login(s3);
	rw = open_session(CKF_RW_SESSION);
	RV(F->C_CloseAllSessions(1), CKR_SLOT_ID_INVALID);
	RV(F->C_CloseAllSessions(0), CKR_OK);
	RV(F->C_GetSessionInfo(s3, &si), CKR_SESSION_HANDLE_INVALID);
	RV(F->C_GetSessionInfo(rw, &si), CKR_SESSION_HANDLE_INVALID);
	rw = open_session(CKF_RW_SESSION);
	RV(F->C_GetSessionInfo(rw, &si), CKR_OK);
	CHECK(si.state == CKS_RW_PUBLIC_SESSION);
	fini();
	/* C_Finalize closed everything. */
	init();
	RV(F->C_GetSessionInfo(rw, &si), CKR_SESSION_HANDLE_INVALID);
	fini();
}

/* Every session function on a closed session handle. */
static void test_closed_session(void)
{
	CK_SESSION_HANDLE live, dead;
	CK_SESSION_INFO si;
	CK_MECHANISM m = { CKM_ECDSA, NULL, 0 };
	CK_ATTRIBUTE a = { CKA_LABEL, NULL, 0 };
	CK_OBJECT_HANDLE o;
	CK_ULONG cnt, l = 64;
	uint8_t b[64] = { 0 };
	const CK_RV BAD = CKR_SESSION_HANDLE_INVALID;

	init();
	live = open_session(0);
	dead = open_session(0);
	RV(F->C_CloseSession(dead), CKR_OK);
	RV(F->C_CloseSession(dead), BAD);
	RV(F->C_GetSessionInfo(dead, &si), BAD);
	RV(F->C_Login(dead, CKU_USER, (CK_UTF8CHAR *)"1", 1), BAD);
	RV(F->C_Logout(dead), BAD);
	RV(F->C_CreateObject(dead, &a, 1, &o), BAD);
	RV(F->C_DestroyObject(dead, 1), BAD);
	RV(F->C_GetAttributeValue(dead, 1, &a, 1), BAD);
	RV(F->C_FindObjectsInit(dead, NULL, 0), BAD);
	RV(F->C_FindObjects(dead, &o, 1, &cnt), BAD);
	RV(F->C_FindObjectsFinal(dead), BAD);
	RV(F->C_SignInit(dead, &m, 1), BAD);
	RV(F->C_Sign(dead, b, 32, b, &l), BAD);
	RV(F->C_SignUpdate(dead, b, 1), BAD);
	RV(F->C_SignFinal(dead, b, &l), BAD);
	RV(F->C_VerifyInit(dead, &m, 1), BAD);
	RV(F->C_Verify(dead, b, 32, b, 64), BAD);
	RV(F->C_VerifyUpdate(dead, b, 1), BAD);
	RV(F->C_VerifyFinal(dead, b, 64), BAD);
	/* The other session is untouched. */
	RV(F->C_GetSessionInfo(live, &si), CKR_OK);
	fini();
}

/* ---- objects --------------------------------------------------------------- */

static void test_find(void)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE h[64], one;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = CKK_EC_EDWARDS;
	CK_ATTRIBUTE t_priv = { CKA_CLASS, &cls, sizeof(cls) };
	CK_ATTRIBUTE t_ed[] = { { CKA_CLASS, &cls, sizeof(cls) }, { CKA_KEY_TYPE, &kt, sizeof(kt) } };
	CK_ATTRIBUTE t_tok = { CKA_TOKEN, (void *)&yes, 1 };
	CK_ATTRIBUTE t_id = { CKA_ID, key("device")->id, key("device")->id_len };
	CK_ATTRIBUTE t_sens = { CKA_PRIVATE_EXPONENT, "x", 1 };
	CK_ATTRIBUTE t_bad = { CKA_LABEL, NULL, 5 };
	CK_ULONG got, total = 0;

	init();
	s = open_session(0);
	/* Not logged in: the private keys are simply not there. */
	CHECK(find_all(s, NULL, 0, h, 64) == 16);
	CHECK(find_all(s, &t_priv, 1, h, 64) == 0);
	login(s);
	CHECK(find_all(s, NULL, 0, h, 64) == 24);
	CHECK(find_all(s, &t_tok, 1, h, 64) == 24);
	CHECK(find_all(s, &t_priv, 1, h, 64) == 8);
	CHECK(find_all(s, t_ed, 2, h, 64) == 4);
	CHECK(find_all(s, &t_id, 1, h, 64) == 3);
	/* A sensitive attribute never matches. */
	CHECK(find_all(s, &t_sens, 1, h, 64) == 0);

	/* State machine. */
	RV(F->C_FindObjects(s, h, 1, &got), CKR_OPERATION_NOT_INITIALIZED);
	RV(F->C_FindObjectsFinal(s), CKR_OPERATION_NOT_INITIALIZED);
	RV(F->C_FindObjectsInit(s, NULL, 2), CKR_ARGUMENTS_BAD);
	RV(F->C_FindObjectsInit(s, &t_bad, 1), CKR_ARGUMENTS_BAD);
	RV(F->C_FindObjectsInit(999, NULL, 0), CKR_SESSION_HANDLE_INVALID);
	RV(F->C_FindObjectsInit(s, NULL, 0), CKR_OK);
	RV(F->C_FindObjectsInit(s, NULL, 0), CKR_OPERATION_ACTIVE);
	RV(F->C_FindObjects(s, NULL, 1, &got), CKR_ARGUMENTS_BAD);
	RV(F->C_FindObjects(s, h, 1, NULL), CKR_ARGUMENTS_BAD);
	RV(F->C_FindObjects(s, h, 0, &got), CKR_OK);
	CHECK(got == 0);
	do {
		RV(F->C_FindObjects(s, &one, 1, &got), CKR_OK);
		total += got;
	} while (got == 1 && total < 100);
	CHECK(total == 24);
	RV(F->C_FindObjects(s, h, 64, &got), CKR_OK);
	CHECK(got == 0);
	RV(F->C_FindObjectsFinal(s), CKR_OK);
	RV(F->C_FindObjectsFinal(s), CKR_OPERATION_NOT_INITIALIZED);

	/* Logging out mid-search hides the private keys found so far. */
	RV(F->C_FindObjectsInit(s, &t_priv, 1), CKR_OK);
	RV(F->C_Logout(s), CKR_OK);
	RV(F->C_FindObjects(s, h, 64, &got), CKR_OK);
	CHECK(got == 0);
	RV(F->C_FindObjectsFinal(s), CKR_OK);
	fini();
}

static void test_attributes_private(void)
{
	CK_SESSION_HANDLE s = ready();
	CK_OBJECT_HANDLE k = find_obj(s, CKO_PRIVATE_KEY, "platform");
	const struct manifest_key *mk = key("platform");
	BIGNUM *n = NULL;
	uint8_t nbuf[1024], small[4], *v;
	CK_ULONG vl = 0;
	CK_KEY_TYPE kt = 0;
	CK_ATTRIBUTE mixed[4];
	CK_ATTRIBUTE a;

	CHECK(get_bool(s, k, CKA_SIGN) == 1);
	CHECK(get_bool(s, k, CKA_SENSITIVE) == 1);
	CHECK(get_bool(s, k, CKA_EXTRACTABLE) == 0);
	CHECK(get_bool(s, k, CKA_PRIVATE) == 1);
	CHECK(get_bool(s, k, CKA_TOKEN) == 1);
	CHECK(get_bool(s, k, CKA_ALWAYS_AUTHENTICATE) == 0);
	CHECK(get_bool(s, k, CKA_DECRYPT) == 0);
	CHECK(get_bool(s, k, CKA_UNWRAP) == 0);
	CHECK(get_bool(s, k, CKA_DERIVE) == 0);
	CHECK(get_bool(s, k, CKA_MODIFIABLE) == 0);
	CHECK(get_ulong(s, k, CKA_CLASS) == CKO_PRIVATE_KEY);
	CHECK(get_ulong(s, k, CKA_KEY_TYPE) == CKK_RSA);
	v = get_attr(s, k, CKA_ID, &vl);
	CHECK(v && vl == mk->id_len && memcmp(v, mk->id, vl) == 0);
	free(v);
	v = get_attr(s, k, CKA_LABEL, &vl);
	CHECK(v && vl == strlen("platform") && memcmp(v, "platform", vl) == 0);
	free(v);
	v = get_attr(s, k, CKA_MODULUS, &vl);
	CHECK(EVP_PKEY_get_bn_param(mk->pub, OSSL_PKEY_PARAM_RSA_N, &n) == 1);
	CHECK(v && n && vl == (CK_ULONG)BN_num_bytes(n) && vl == 512);
	if (v && n && vl == 512) {
		BN_bn2bin(n, nbuf);
		CHECK(memcmp(v, nbuf, vl) == 0);
	}
	free(v);
	BN_free(n);
	v = get_attr(s, k, CKA_PUBLIC_EXPONENT, &vl);
	CHECK(v && vl == 3 && memcmp(v, "\x01\x00\x01", 3) == 0);
	free(v);
	v = get_attr(s, k, CKA_PUBLIC_KEY_INFO, &vl);
	CHECK(v && vl == mk->spki_len && memcmp(v, mk->spki, vl) == 0);
	free(v);

	/* Sensitive: exists, but no value; length says unavailable. */
	a = (CK_ATTRIBUTE){ CKA_PRIVATE_EXPONENT, NULL, 0 };
	RV(F->C_GetAttributeValue(s, k, &a, 1), CKR_ATTRIBUTE_SENSITIVE);
	CHECK(a.ulValueLen == CK_UNAVAILABLE_INFORMATION);
	a = (CK_ATTRIBUTE){ CKA_PRIME_1, nbuf, sizeof(nbuf) };
	RV(F->C_GetAttributeValue(s, k, &a, 1), CKR_ATTRIBUTE_SENSITIVE);
	CHECK(a.ulValueLen == CK_UNAVAILABLE_INFORMATION);
	/* Not an attribute of this object. */
	a = (CK_ATTRIBUTE){ CKA_EC_POINT, NULL, 0 };
	RV(F->C_GetAttributeValue(s, k, &a, 1), CKR_ATTRIBUTE_TYPE_INVALID);
	CHECK(a.ulValueLen == CK_UNAVAILABLE_INFORMATION);

	/* Mixed template: the bad ones are marked, the good ones still filled. */
	mixed[0] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &kt, sizeof(kt) };
	mixed[1] = (CK_ATTRIBUTE){ 0x80001234UL, small, sizeof(small) };
	mixed[2] = (CK_ATTRIBUTE){ CKA_COEFFICIENT, NULL, 0 };
	mixed[3] = (CK_ATTRIBUTE){ CKA_MODULUS, NULL, 0 };
	{
		CK_RV rv = F->C_GetAttributeValue(s, k, mixed, 4);

		CHECK(rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE);
	}
	CHECK(kt == CKK_RSA && mixed[0].ulValueLen == sizeof(kt));
	CHECK(mixed[1].ulValueLen == CK_UNAVAILABLE_INFORMATION);
	CHECK(mixed[2].ulValueLen == CK_UNAVAILABLE_INFORMATION);
	CHECK(mixed[3].ulValueLen == 512);

	/* Two-call protocol: a short buffer is CKR_BUFFER_TOO_SMALL. */
	a = (CK_ATTRIBUTE){ CKA_MODULUS, small, sizeof(small) };
	RV(F->C_GetAttributeValue(s, k, &a, 1), CKR_BUFFER_TOO_SMALL);
	CHECK(a.ulValueLen == CK_UNAVAILABLE_INFORMATION);
	a = (CK_ATTRIBUTE){ CKA_MODULUS, nbuf, 512 };
	RV(F->C_GetAttributeValue(s, k, &a, 1), CKR_OK);
	CHECK(a.ulValueLen == 512);

	/* Bad arguments and handles. */
	RV(F->C_GetAttributeValue(s, k, NULL, 1), CKR_ARGUMENTS_BAD);
	RV(F->C_GetAttributeValue(s, k, NULL, 0), CKR_OK);
	RV(F->C_GetAttributeValue(s, 0, &a, 1), CKR_OBJECT_HANDLE_INVALID);
	RV(F->C_GetAttributeValue(s, 0x7fffffff, &a, 1), CKR_OBJECT_HANDLE_INVALID);
	RV(F->C_GetAttributeValue(s + 100, k, &a, 1), CKR_SESSION_HANDLE_INVALID);
	/* Private objects vanish on logout. */
	RV(F->C_Logout(s), CKR_OK);
	RV(F->C_GetAttributeValue(s, k, &a, 1), CKR_OBJECT_HANDLE_INVALID);
	fini();
}

static void test_attributes_public_cert(void)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE pub, cert, ed;
	const struct manifest_key *dev = key("device"), *q = key("queue");
	uint8_t pt[65], *v;
	size_t ptl = 0;
	CK_ULONG vl = 0;
	const unsigned char *p;
	unsigned char *der = NULL;
	X509 *x;
	int dl_;

	init();
	s = open_session(0); /* public objects need no login */
	pub = find_obj(s, CKO_PUBLIC_KEY, "device");
	CHECK(get_bool(s, pub, CKA_VERIFY) == 1);
	CHECK(get_bool(s, pub, CKA_PRIVATE) == 0);
	CHECK(get_bool(s, pub, CKA_TOKEN) == 1);
	CHECK(get_ulong(s, pub, CKA_KEY_TYPE) == CKK_EC);
	v = get_attr(s, pub, CKA_EC_PARAMS, &vl);
	CHECK(v && vl == 10 && memcmp(v, "\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07", 10) == 0);
	free(v);
	CHECK(EVP_PKEY_get_octet_string_param(dev->pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt,
					      sizeof(pt), &ptl) == 1 && ptl == 65);
	v = get_attr(s, pub, CKA_EC_POINT, &vl);
	/* A DER OCTET STRING around the uncompressed point. */
	CHECK(v && vl == 67 && v[0] == 0x04 && v[1] == 65 && memcmp(v + 2, pt, 65) == 0);
	free(v);

	ed = find_obj(s, CKO_PUBLIC_KEY, "queue");
	CHECK(get_ulong(s, ed, CKA_KEY_TYPE) == CKK_EC_EDWARDS);
	v = get_attr(s, ed, CKA_EC_PARAMS, &vl);
	CHECK(v && vl == 5 && memcmp(v, "\x06\x03\x2b\x65\x70", 5) == 0);
	free(v);
	v = get_attr(s, ed, CKA_EC_POINT, &vl);
	{
		uint8_t raw[32];
		size_t rl = 32;

		CHECK(EVP_PKEY_get_raw_public_key(q->pub, raw, &rl) == 1);
		CHECK(v && vl == 34 && v[0] == 0x04 && v[1] == 32 && memcmp(v + 2, raw, 32) == 0);
	}
	free(v);

	cert = find_obj(s, CKO_CERTIFICATE, "device");
	CHECK(get_ulong(s, cert, CKA_CERTIFICATE_TYPE) == CKC_X_509);
	CHECK(get_bool(s, cert, CKA_TRUSTED) == 0);
	v = get_attr(s, cert, CKA_VALUE, &vl);
	CHECK(v && vl == dev->cert_len && memcmp(v, dev->cert, vl) == 0);
	free(v);
	v = get_attr(s, cert, CKA_ID, &vl);
	CHECK(v && vl == dev->id_len && memcmp(v, dev->id, vl) == 0);
	free(v);
	p = dev->cert;
	x = d2i_X509(NULL, &p, (long)dev->cert_len);
	CHECK(x != NULL);
	if (x) {
		dl_ = i2d_X509_NAME(X509_get_subject_name(x), &der);
		v = get_attr(s, cert, CKA_SUBJECT, &vl);
		CHECK(v && (int)vl == dl_ && memcmp(v, der, vl) == 0);
		free(v);
		OPENSSL_free(der);
		der = NULL;
		dl_ = i2d_X509_NAME(X509_get_issuer_name(x), &der);
		v = get_attr(s, cert, CKA_ISSUER, &vl);
		CHECK(v && (int)vl == dl_ && memcmp(v, der, vl) == 0);
		free(v);
		OPENSSL_free(der);
		der = NULL;
		dl_ = i2d_ASN1_INTEGER((ASN1_INTEGER *)X509_get0_serialNumber(x), &der);
		v = get_attr(s, cert, CKA_SERIAL_NUMBER, &vl);
		CHECK(v && (int)vl == dl_ && v[0] == 0x02 && memcmp(v, der, vl) == 0);
		free(v);
		OPENSSL_free(der);
		X509_free(x);
	}
	fini();
}

/* ---- C_CreateObject / C_DestroyObject ------------------------------------- */

static void rsa_parts(EVP_PKEY *pk, uint8_t *n, size_t *nl, uint8_t *e, size_t *el)
{
	BIGNUM *bn = NULL, *be = NULL;

	CHECK(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &bn) == 1);
	CHECK(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &be) == 1);
	*nl = (size_t)BN_bn2bin(bn, n);
	*el = (size_t)BN_bn2bin(be, e);
	BN_free(bn);
	BN_free(be);
}

/* Import pk as a session public key the way SunPKCS11 does. */
static CK_RV import_pub(CK_SESSION_HANDLE s, EVP_PKEY *pk, CK_OBJECT_HANDLE *ret)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt;
	uint8_t a[1100], b[70];
	size_t al = 0, bl = 0;
	CK_ATTRIBUTE t[4] = { { CKA_CLASS, &cls, sizeof(cls) }, { CKA_KEY_TYPE, &kt, sizeof(kt) } };

	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA) {
		kt = CKK_RSA;
		rsa_parts(pk, a + 1, &al, b, &bl);
		a[0] = 0; /* a sign byte, as Java's BigInteger may leave */
		t[2] = (CK_ATTRIBUTE){ CKA_MODULUS, a, al + 1 };
		t[3] = (CK_ATTRIBUTE){ CKA_PUBLIC_EXPONENT, b, bl };
	} else if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC) {
		kt = CKK_EC;
		memcpy(a, "\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07", 10);
		t[2] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, a, 10 };
		b[0] = 0x04;
		b[1] = 65;
		CHECK(EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, b + 2, 65,
						      &bl) == 1);
		t[3] = (CK_ATTRIBUTE){ CKA_EC_POINT, b, bl + 2 };
	} else {
		kt = CKK_EC_EDWARDS;
		memcpy(a, "\x06\x03\x2b\x65\x70", 5);
		t[2] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, a, 5 };
		b[0] = 0x04;
		b[1] = 32;
		bl = 32;
		CHECK(EVP_PKEY_get_raw_public_key(pk, b + 2, &bl) == 1);
		t[3] = (CK_ATTRIBUTE){ CKA_EC_POINT, b, 34 };
	}
	return F->C_CreateObject(s, t, 4, ret);
}

static void test_create_object(void)
{
	CK_SESSION_HANDLE s = ready(), s2;
	CK_OBJECT_CLASS pubc = CKO_PUBLIC_KEY, certc = CKO_CERTIFICATE, bogus = 0x7777;
	CK_KEY_TYPE rsa = CKK_RSA, ec = CKK_EC, dsa = CKK_DSA;
	CK_ULONG bits = 2048;
	uint8_t n[600], e[8], pt[67];
	size_t nl, el, ptl;
	CK_OBJECT_HANDLE o = 0, o2 = 0, h[64];
	CK_ATTRIBUTE t[8];
	CK_BBOOL badbool = 7;
	uint8_t *v;
	CK_ULONG vl;
	CK_ATTRIBUTE t_session = { CKA_TOKEN, (void *)&no, 1 };

	rsa_parts(key("media")->pub, n, &nl, e, &el);
	pt[0] = 0x04;
	pt[1] = 65;
	CHECK(EVP_PKEY_get_octet_string_param(key("device")->pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
					      pt + 2, 65, &ptl) == 1);

#define T(i, ty, p, l) t[i] = (CK_ATTRIBUTE){ ty, (void *)(p), l }
	T(0, CKA_CLASS, &pubc, sizeof(pubc));
	T(1, CKA_KEY_TYPE, &rsa, sizeof(rsa));
	T(2, CKA_MODULUS, n, nl);
	T(3, CKA_PUBLIC_EXPONENT, e, el);
	RV(F->C_CreateObject(s, NULL, 4, &o), CKR_ARGUMENTS_BAD);
	RV(F->C_CreateObject(s, t, 4, NULL), CKR_ARGUMENTS_BAD);
	RV(F->C_CreateObject(999, t, 4, &o), CKR_SESSION_HANDLE_INVALID);
	RV(F->C_CreateObject(s, t + 1, 3, &o), CKR_TEMPLATE_INCOMPLETE);  /* no class */
	RV(F->C_CreateObject(s, t, 3, &o), CKR_TEMPLATE_INCOMPLETE);      /* no exponent */
	T(4, CKA_TOKEN, &yes, 1);
	RV(F->C_CreateObject(s, t, 5, &o), CKR_TOKEN_WRITE_PROTECTED);
	T(4, CKA_TOKEN, &badbool, 1);
	RV(F->C_CreateObject(s, t, 5, &o), CKR_ATTRIBUTE_VALUE_INVALID);
	T(4, CKA_TOKEN, &no, 4);
	RV(F->C_CreateObject(s, t, 5, &o), CKR_ATTRIBUTE_VALUE_INVALID);
	T(4, 0x80004321UL, "x", 1);
	RV(F->C_CreateObject(s, t, 5, &o), CKR_ATTRIBUTE_TYPE_INVALID);
	T(4, CKA_SIGN, &yes, 1);
	RV(F->C_CreateObject(s, t, 5, &o), CKR_TEMPLATE_INCONSISTENT);
	T(4, CKA_PRIVATE_EXPONENT, e, el);
	RV(F->C_CreateObject(s, t, 5, &o), CKR_TEMPLATE_INCONSISTENT);
	T(4, CKA_MODULUS_BITS, &bits, sizeof(bits));
	RV(F->C_CreateObject(s, t, 5, &o), CKR_ATTRIBUTE_READ_ONLY);
	T(4, CKA_MODULUS, n, nl); /* duplicate */
	RV(F->C_CreateObject(s, t, 5, &o), CKR_TEMPLATE_INCONSISTENT);
	T(4, CKA_EC_POINT, pt, 67); /* EC attribute on an RSA key */
	RV(F->C_CreateObject(s, t, 5, &o), CKR_TEMPLATE_INCONSISTENT);
	T(4, CKA_TRUSTED, &yes, 1);
	RV(F->C_CreateObject(s, t, 5, &o), CKR_ATTRIBUTE_READ_ONLY);
	T(4, CKA_PRIVATE, &yes, 1);
	RV(F->C_CreateObject(s, t, 5, &o), CKR_ATTRIBUTE_VALUE_INVALID);
	T(4, CKA_LABEL, NULL, 3);
	RV(F->C_CreateObject(s, t, 5, &o), CKR_ARGUMENTS_BAD);
	T(1, CKA_KEY_TYPE, &dsa, sizeof(dsa));
	RV(F->C_CreateObject(s, t, 4, &o), CKR_ATTRIBUTE_VALUE_INVALID);
	T(1, CKA_KEY_TYPE, &rsa, sizeof(rsa));
	T(0, CKA_CLASS, &certc, sizeof(certc));
	RV(F->C_CreateObject(s, t, 4, &o), CKR_TEMPLATE_INCONSISTENT);
	T(0, CKA_CLASS, &bogus, sizeof(bogus));
	RV(F->C_CreateObject(s, t, 4, &o), CKR_ATTRIBUTE_VALUE_INVALID);
	T(0, CKA_CLASS, &pubc, sizeof(pubc));
	/* Key values. */
	n[nl - 1] &= 0xfe; /* even modulus */
	RV(F->C_CreateObject(s, t, 4, &o), CKR_ATTRIBUTE_VALUE_INVALID);
	n[nl - 1] |= 1;
	T(2, CKA_MODULUS, n, 64); /* 512-bit */
	RV(F->C_CreateObject(s, t, 4, &o), CKR_ATTRIBUTE_VALUE_INVALID);
	T(2, CKA_MODULUS, n, nl);
	T(3, CKA_PUBLIC_EXPONENT, "\x01", 1);
	RV(F->C_CreateObject(s, t, 4, &o), CKR_ATTRIBUTE_VALUE_INVALID);
	T(3, CKA_PUBLIC_EXPONENT, e, el);
	T(4, CKA_LABEL, "imported", 8);
	T(5, CKA_ID, "\x01\x02", 2);
	RV(F->C_CreateObject(s, t, 6, &o), CKR_OK);
	CHECK(o != CK_INVALID_HANDLE);
	CHECK(get_bool(s, o, CKA_TOKEN) == 0);
	CHECK(get_bool(s, o, CKA_VERIFY) == 1);
	CHECK(get_ulong(s, o, CKA_CLASS) == CKO_PUBLIC_KEY);
	CHECK(get_ulong(s, o, CKA_MODULUS_BITS) == 2048);
	v = get_attr(s, o, CKA_MODULUS, &vl);
	CHECK(v && vl == nl && memcmp(v, n, nl) == 0);
	free(v);
	v = get_attr(s, o, CKA_LABEL, &vl);
	CHECK(v && vl == 8 && memcmp(v, "imported", 8) == 0);
	free(v);
	CHECK(find_all(s, &t_session, 1, h, 64) == 1 && h[0] == o);

	/* EC. */
	T(1, CKA_KEY_TYPE, &ec, sizeof(ec));
	T(2, CKA_EC_PARAMS, "\x06\x05\x2b\x81\x04\x00\x22", 7); /* P-384 */
	T(3, CKA_EC_POINT, pt, 67);
	RV(F->C_CreateObject(s, t, 4, &o2), CKR_ATTRIBUTE_VALUE_INVALID);
	T(2, CKA_EC_PARAMS, "\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07", 10);
	T(4, CKA_MODULUS, n, nl);
	RV(F->C_CreateObject(s, t, 5, &o2), CKR_TEMPLATE_INCONSISTENT);
	pt[40] ^= 1; /* off the curve */
	RV(F->C_CreateObject(s, t, 4, &o2), CKR_ATTRIBUTE_VALUE_INVALID);
	pt[40] ^= 1;
	T(3, CKA_EC_POINT, pt, 66); /* truncated */
	RV(F->C_CreateObject(s, t, 4, &o2), CKR_ATTRIBUTE_VALUE_INVALID);
	T(3, CKA_EC_POINT, pt + 2, 65); /* bare point: accepted */
	RV(F->C_CreateObject(s, t, 4, &o2), CKR_OK);
	v = get_attr(s, o2, CKA_EC_POINT, &vl);
	CHECK(v && vl == 67 && memcmp(v, pt, 67) == 0); /* normalised to DER */
	free(v);
#undef T

	/* Destroy. */
	RV(F->C_DestroyObject(s, find_obj(s, CKO_PUBLIC_KEY, "media")), CKR_TOKEN_WRITE_PROTECTED);
	RV(F->C_DestroyObject(s, 0), CKR_OBJECT_HANDLE_INVALID);
	RV(F->C_DestroyObject(999, o2), CKR_SESSION_HANDLE_INVALID);
	RV(F->C_DestroyObject(s, o2), CKR_OK);
	RV(F->C_DestroyObject(s, o2), CKR_OBJECT_HANDLE_INVALID);
	RV(F->C_GetAttributeValue(s, o2, t, 1), CKR_OBJECT_HANDLE_INVALID);

	/* Session objects are visible to all sessions and die with their
	 * session. */
	s2 = open_session(0);
	CHECK(get_bool(s2, o, CKA_VERIFY) == 1);
	RV(import_pub(s2, key("device")->pub, &o2), CKR_OK);
	RV(F->C_CloseSession(s2), CKR_OK);
	RV(F->C_GetAttributeValue(s, o2, t, 1), CKR_OBJECT_HANDLE_INVALID);
	CHECK(get_bool(s, o, CKA_VERIFY) == 1);
	fini();
}

/* ---- signing ---------------------------------------------------------------- */

static void test_sign_state(void)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE priv, pub, cert, ecpriv, edpriv;
	CK_MECHANISM m_sha = { CKM_SHA256_RSA_PKCS, NULL, 0 };
	CK_MECHANISM m_raw = { CKM_RSA_PKCS, NULL, 0 };
	CK_MECHANISM m_ec = { CKM_ECDSA, NULL, 0 };
	CK_MECHANISM m_bad = { CKM_SHA256, NULL, 0 };
	CK_MECHANISM m_x509 = { CKM_RSA_X_509, NULL, 0 };
	CK_RSA_PKCS_PSS_PARAMS pss = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
	CK_MECHANISM m_pss = { CKM_RSA_PKCS_PSS, &pss, sizeof(pss) };
	struct {
		CK_BBOOL ph;
		CK_ULONG ctxlen;
		CK_BYTE_PTR ctx;
	} edp = { CK_TRUE, 0, NULL };
	CK_MECHANISM m_ed = { CKM_EDDSA, &edp, sizeof(edp) };
	uint8_t sig[600], d[32] = { 1 };
	CK_ULONG sl = sizeof(sig);
	size_t before;

	init();
	s = open_session(0);
	login(s);
	priv = find_obj(s, CKO_PRIVATE_KEY, "platform");
	pub = find_obj(s, CKO_PUBLIC_KEY, "platform");
	cert = find_obj(s, CKO_CERTIFICATE, "platform");
	ecpriv = find_obj(s, CKO_PRIVATE_KEY, "device");
	edpriv = find_obj(s, CKO_PRIVATE_KEY, "queue");
	RV(F->C_Logout(s), CKR_OK);
	before = spool_count();

	RV(F->C_Sign(s, d, 32, sig, &sl), CKR_OPERATION_NOT_INITIALIZED);
	RV(F->C_SignUpdate(s, d, 32), CKR_OPERATION_NOT_INITIALIZED);
	RV(F->C_SignFinal(s, sig, &sl), CKR_OPERATION_NOT_INITIALIZED);
	RV(F->C_SignInit(s, &m_sha, priv), CKR_USER_NOT_LOGGED_IN);
	login(s);
	RV(F->C_SignInit(999, &m_sha, priv), CKR_SESSION_HANDLE_INVALID);
	RV(F->C_SignInit(s, NULL, priv), CKR_ARGUMENTS_BAD);
	RV(F->C_SignInit(s, &m_sha, 0), CKR_KEY_HANDLE_INVALID);
	RV(F->C_SignInit(s, &m_sha, 0x5555555), CKR_KEY_HANDLE_INVALID);
	RV(F->C_SignInit(s, &m_sha, cert), CKR_KEY_HANDLE_INVALID);
	RV(F->C_SignInit(s, &m_sha, pub), CKR_KEY_FUNCTION_NOT_PERMITTED);
	RV(F->C_SignInit(s, &m_bad, priv), CKR_MECHANISM_INVALID);
	RV(F->C_SignInit(s, &m_x509, priv), CKR_MECHANISM_INVALID);
	RV(F->C_SignInit(s, &m_ec, priv), CKR_KEY_TYPE_INCONSISTENT);
	RV(F->C_SignInit(s, &m_sha, ecpriv), CKR_KEY_TYPE_INCONSISTENT);
	RV(F->C_SignInit(s, &m_sha, edpriv), CKR_KEY_TYPE_INCONSISTENT);
	m_raw.pParameter = d;
	m_raw.ulParameterLen = 4;
	RV(F->C_SignInit(s, &m_raw, priv), CKR_MECHANISM_PARAM_INVALID);
	m_raw.pParameter = NULL;
	m_raw.ulParameterLen = 0;
	m_pss.pParameter = NULL;
	RV(F->C_SignInit(s, &m_pss, priv), CKR_MECHANISM_PARAM_INVALID);
	m_pss.pParameter = &pss;
	pss.sLen = 20;
	RV(F->C_SignInit(s, &m_pss, priv), CKR_MECHANISM_PARAM_INVALID);
	pss = (CK_RSA_PKCS_PSS_PARAMS){ CKM_SHA256, CKG_MGF1_SHA512, 32 };
	RV(F->C_SignInit(s, &m_pss, priv), CKR_MECHANISM_PARAM_INVALID);
	pss = (CK_RSA_PKCS_PSS_PARAMS){ CKM_SHA_1, CKG_MGF1_SHA1, 20 };
	RV(F->C_SignInit(s, &m_pss, priv), CKR_MECHANISM_PARAM_INVALID);
	m_pss.ulParameterLen = sizeof(pss) - 1;
	pss = (CK_RSA_PKCS_PSS_PARAMS){ CKM_SHA256, CKG_MGF1_SHA256, 32 };
	RV(F->C_SignInit(s, &m_pss, priv), CKR_MECHANISM_PARAM_INVALID);
	RV(F->C_SignInit(s, &m_ed, edpriv), CKR_MECHANISM_PARAM_INVALID); /* Ed25519ph */
	edp.ph = CK_FALSE;
	edp.ctxlen = 3;
	edp.ctx = d;
	RV(F->C_SignInit(s, &m_ed, edpriv), CKR_MECHANISM_PARAM_INVALID); /* Ed25519ctx */

	/* One operation at a time. */
	RV(F->C_SignInit(s, &m_ec, ecpriv), CKR_OK);
	RV(F->C_SignInit(s, &m_ec, ecpriv), CKR_OPERATION_ACTIVE);
	RV(F->C_VerifyInit(s, &m_ec, find_obj(s, CKO_PUBLIC_KEY, "device")), CKR_OPERATION_ACTIVE);
	/* Single-part mechanism: no C_SignUpdate, and the error ends it. */
	RV(F->C_SignUpdate(s, d, 16), CKR_FUNCTION_NOT_SUPPORTED);
	RV(F->C_Sign(s, d, 32, sig, &sl), CKR_OPERATION_NOT_INITIALIZED);
	RV(F->C_SignInit(s, &m_ec, ecpriv), CKR_OK);
	RV(F->C_SignFinal(s, sig, &sl), CKR_FUNCTION_NOT_SUPPORTED);
	RV(F->C_Sign(s, d, 32, sig, &sl), CKR_OPERATION_NOT_INITIALIZED);
	/* NULL arguments end the operation. */
	RV(F->C_SignInit(s, &m_ec, ecpriv), CKR_OK);
	RV(F->C_Sign(s, d, 32, sig, NULL), CKR_ARGUMENTS_BAD);
	RV(F->C_Sign(s, d, 32, sig, &sl), CKR_OPERATION_NOT_INITIALIZED);
	RV(F->C_SignInit(s, &m_ec, ecpriv), CKR_OK);
	RV(F->C_Sign(s, NULL, 32, sig, &sl), CKR_ARGUMENTS_BAD);
	RV(F->C_SignInit(s, &m_sha, priv), CKR_OK);
	RV(F->C_SignUpdate(s, NULL, 3), CKR_ARGUMENTS_BAD);
	RV(F->C_SignFinal(s, sig, &sl), CKR_OPERATION_NOT_INITIALIZED);
	RV(F->C_SignInit(s, &m_sha, priv), CKR_OK);
	RV(F->C_SignFinal(s, sig, NULL), CKR_ARGUMENTS_BAD);
	RV(F->C_SignFinal(s, sig, &sl), CKR_OPERATION_NOT_INITIALIZED);
	/* C_Sign cannot finish a multi-part operation. */
	RV(F->C_SignInit(s, &m_sha, priv), CKR_OK);
	RV(F->C_SignUpdate(s, d, 16), CKR_OK);
	RV(F->C_Sign(s, d, 16, sig, &sl), CKR_OPERATION_ACTIVE);
	RV(F->C_SignFinal(s, sig, &sl), CKR_OPERATION_NOT_INITIALIZED);
	/* After a completed C_Sign there is no operation. */
	sl = sizeof(sig);
	RV(F->C_SignInit(s, &m_ec, ecpriv), CKR_OK);
	RV(F->C_Sign(s, d, 32, sig, &sl), CKR_OK);
	RV(F->C_SignUpdate(s, d, 32), CKR_OPERATION_NOT_INITIALIZED);
	RV(F->C_Sign(s, d, 32, sig, &sl), CKR_OPERATION_NOT_INITIALIZED);
	CHECK(spool_count() == before + 1);
	/* C_Logout ends signing operations; C_CloseSession ends everything. */
	RV(F->C_SignInit(s, &m_ec, ecpriv), CKR_OK);
	RV(F->C_Logout(s), CKR_OK);
	login(s);
	RV(F->C_Sign(s, d, 32, sig, &sl), CKR_OPERATION_NOT_INITIALIZED);
	RV(F->C_SignInit(s, &m_ec, ecpriv), CKR_OK);
	RV(F->C_CloseSession(s), CKR_OK);
	RV(F->C_Sign(s, d, 32, sig, &sl), CKR_SESSION_HANDLE_INVALID);
	CHECK(spool_count() == before + 1);
	fini();
}

/* Length protocol for one single-part mechanism: a NULL buffer and a
 * short buffer both answer the length, keep the operation and record
 * nothing; the real call records exactly one request. */
static void check_lengths(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE k, const uint8_t *in,
			  size_t in_len, size_t want_len, uint8_t *sig)
{
	size_t before = spool_count();
	CK_ULONG sl = 0;

	RV(F->C_SignInit(s, m, k), CKR_OK);
	RV(F->C_Sign(s, (CK_BYTE *)in, in_len, NULL, &sl), CKR_OK);
	CHECK(sl == want_len);
	RV(F->C_Sign(s, (CK_BYTE *)in, in_len, NULL, &sl), CKR_OK);
	sl = want_len - 1;
	RV(F->C_Sign(s, (CK_BYTE *)in, in_len, sig, &sl), CKR_BUFFER_TOO_SMALL);
	CHECK(sl == want_len);
	CHECK(spool_count() == before);
	sl = want_len + 100;
	RV(F->C_Sign(s, (CK_BYTE *)in, in_len, sig, &sl), CKR_OK);
	CHECK(sl == want_len);
	CHECK(spool_count() == before + 1);
	RV(F->C_Sign(s, (CK_BYTE *)in, in_len, sig, &sl), CKR_OPERATION_NOT_INITIALIZED);
}

static void test_sign_mechanisms(void)
{
	CK_SESSION_HANDLE s = ready();
	CK_OBJECT_HANDLE plat = find_obj(s, CKO_PRIVATE_KEY, "platform");
	CK_OBJECT_HANDLE dev = find_obj(s, CKO_PRIVATE_KEY, "device");
	CK_OBJECT_HANDLE q = find_obj(s, CKO_PRIVATE_KEY, "queue");
	CK_MECHANISM m;
	CK_RSA_PKCS_PSS_PARAMS pss;
	static const char part1[] = "first part of the data, ", part2[] = "and the second";
	uint8_t sig[600], sig2[600], d256[32], d512[64], di[100], msg[200];
	uint8_t *big;
	size_t dil;
	CK_ULONG sl;
	struct capture_request *r;
	size_t before;

	sha(EVP_sha256(), "apk signed data", 15, d256);
	sha(EVP_sha512(), "apk signed data", 15, d512);

	/* CKM_RSA_PKCS with a SHA-256 and a SHA-512 DigestInfo. */
	m = (CK_MECHANISM){ CKM_RSA_PKCS, NULL, 0 };
	dil = digestinfo(RB_SIG_RSA_PKCS1_SHA256, d256, di);
	check_lengths(s, &m, plat, di, dil, 512, sig);
	capture_request_free(expect_recorded("platform", CAPTURE_MECH_RSA_PKCS, RB_SIG_RSA_PKCS1_SHA256,
					     d256, 32, sig, 512));
	CHECK(sig[0] < 0x40);
	dil = digestinfo(RB_SIG_RSA_PKCS1_SHA512, d512, di);
	sl = sign1(s, &m, plat, di, dil, sig);
	capture_request_free(expect_recorded("platform", CAPTURE_MECH_RSA_PKCS, RB_SIG_RSA_PKCS1_SHA512,
					     d512, 64, sig, sl));
	/* Anything but a SHA-256/512 DigestInfo is refused, and recorded never. */
	before = spool_count();
	RV(F->C_SignInit(s, &m, plat), CKR_OK);
	sl = sizeof(sig);
	RV(F->C_Sign(s, d256, 32, sig, &sl), CKR_DATA_INVALID); /* bare digest */
	RV(F->C_Sign(s, d256, 32, sig, &sl), CKR_OPERATION_NOT_INITIALIZED);
	dil = digestinfo(RB_SIG_RSA_PKCS1_SHA256, d256, di);
	di[5] ^= 0x01; /* SHA-256 OID changed */
	RV(F->C_SignInit(s, &m, plat), CKR_OK);
	RV(F->C_Sign(s, di, dil, sig, &sl), CKR_DATA_INVALID);
	RV(F->C_SignInit(s, &m, plat), CKR_OK);
	RV(F->C_Sign(s, di, dil - 1, NULL, &sl), CKR_DATA_INVALID); /* also on a length query */
	RV(F->C_SignInit(s, &m, plat), CKR_OK);
	memset(big = malloc(600), 0x30, 600);
	RV(F->C_Sign(s, big, 600, sig, &sl), CKR_DATA_LEN_RANGE);
	CHECK(spool_count() == before);

	/* CKM_SHA256_RSA_PKCS single- and multi-part: the module hashes. */
	m = (CK_MECHANISM){ CKM_SHA256_RSA_PKCS, NULL, 0 };
	memcpy(msg, part1, strlen(part1));
	memcpy(msg + strlen(part1), part2, strlen(part2));
	sha(EVP_sha256(), msg, strlen(part1) + strlen(part2), d256);
	check_lengths(s, &m, plat, msg, strlen(part1) + strlen(part2), 512, sig);
	capture_request_free(expect_recorded_data("platform", CAPTURE_MECH_SHA256_RSA_PKCS, RB_SIG_RSA_PKCS1_SHA256,
						  d256, 32, msg, strlen(part1) + strlen(part2), sig, 512));
	before = spool_count();
	RV(F->C_SignInit(s, &m, plat), CKR_OK);
	RV(F->C_SignUpdate(s, (CK_BYTE *)part1, strlen(part1)), CKR_OK);
	RV(F->C_SignUpdate(s, NULL, 0), CKR_OK);
	RV(F->C_SignUpdate(s, (CK_BYTE *)part2, strlen(part2)), CKR_OK);
	RV(F->C_SignFinal(s, NULL, &sl), CKR_OK);
	CHECK(sl == 512);
	sl = 10;
	RV(F->C_SignFinal(s, sig2, &sl), CKR_BUFFER_TOO_SMALL);
	CHECK(sl == 512);
	CHECK(spool_count() == before);
	RV(F->C_SignFinal(s, sig2, &sl), CKR_OK);
	CHECK(sl == 512);
	/* Same key, mechanism and data: same request, same placeholder. */
	CHECK(memcmp(sig, sig2, 512) == 0);
	CHECK(spool_count() == before);
	RV(F->C_SignFinal(s, sig2, &sl), CKR_OPERATION_NOT_INITIALIZED);

	m = (CK_MECHANISM){ CKM_SHA512_RSA_PKCS, NULL, 0 };
	sha(EVP_sha512(), msg, strlen(part1) + strlen(part2), d512);
	RV(F->C_SignInit(s, &m, find_obj(s, CKO_PRIVATE_KEY, "media")), CKR_OK);
	RV(F->C_SignUpdate(s, (CK_BYTE *)part1, strlen(part1)), CKR_OK);
	RV(F->C_SignUpdate(s, (CK_BYTE *)part2, strlen(part2)), CKR_OK);
	sl = sizeof(sig);
	RV(F->C_SignFinal(s, sig, &sl), CKR_OK);
	CHECK(sl == 256);
	capture_request_free(expect_recorded_data("media", CAPTURE_MECH_SHA512_RSA_PKCS, RB_SIG_RSA_PKCS1_SHA512,
						  d512, 64, msg, strlen(part1) + strlen(part2), sig, 256));

	/* CKM_RSA_PKCS_PSS, both profiles; the input is the digest. */
	pss = (CK_RSA_PKCS_PSS_PARAMS){ CKM_SHA256, CKG_MGF1_SHA256, 32 };
	m = (CK_MECHANISM){ CKM_RSA_PKCS_PSS, &pss, sizeof(pss) };
	check_lengths(s, &m, plat, d256, 32, 512, sig);
	capture_request_free(expect_recorded("platform", CAPTURE_MECH_RSA_PKCS_PSS, RB_SIG_RSA_PSS_SHA256,
					     d256, 32, sig, 512));
	RV(F->C_SignInit(s, &m, plat), CKR_OK);
	sl = sizeof(sig);
	RV(F->C_Sign(s, d512, 64, sig, &sl), CKR_DATA_LEN_RANGE);
	pss = (CK_RSA_PKCS_PSS_PARAMS){ CKM_SHA512, CKG_MGF1_SHA512, 64 };
	sl = sign1(s, &m, plat, d512, 64, sig);
	capture_request_free(expect_recorded("platform", CAPTURE_MECH_RSA_PKCS_PSS, RB_SIG_RSA_PSS_SHA512,
					     d512, 64, sig, sl));

	/* CKM_ECDSA: 32-byte digests only; raw r||s that DER-encodes to 70. */
	m = (CK_MECHANISM){ CKM_ECDSA, NULL, 0 };
	check_lengths(s, &m, dev, d256, 32, 64, sig);
	r = expect_recorded("device", CAPTURE_MECH_ECDSA, RB_SIG_ECDSA_SHA256, d256, 32, sig, 64);
	CHECK(capture_ecdsa_sig_fits(sig));
	capture_request_free(r);
	RV(F->C_SignInit(s, &m, dev), CKR_OK);
	sl = sizeof(sig);
	RV(F->C_Sign(s, d512, 48, sig, &sl), CKR_DATA_LEN_RANGE);
	RV(F->C_SignInit(s, &m, dev), CKR_OK);
	RV(F->C_Sign(s, d512, 64, sig, &sl), CKR_DATA_LEN_RANGE);

	/* CKM_ECDSA_SHA256: the module hashes and keeps the data, single-
	 * and multi-part, as SunPKCS11 signs for apksigner. */
	m = (CK_MECHANISM){ CKM_ECDSA_SHA256, NULL, 0 };
	sha(EVP_sha256(), msg, strlen(part1) + strlen(part2), d256);
	check_lengths(s, &m, dev, msg, strlen(part1) + strlen(part2), 64, sig);
	capture_request_free(expect_recorded_data("device", CAPTURE_MECH_ECDSA_SHA256, RB_SIG_ECDSA_SHA256, d256,
						  32, msg, strlen(part1) + strlen(part2), sig, 64));
	RV(F->C_SignInit(s, &m, dev), CKR_OK);
	RV(F->C_SignUpdate(s, (CK_BYTE *)part1, strlen(part1)), CKR_OK);
	RV(F->C_SignUpdate(s, (CK_BYTE *)part2, strlen(part2)), CKR_OK);
	sl = sizeof(sig2);
	RV(F->C_SignFinal(s, sig2, &sl), CKR_OK);
	CHECK(sl == 64 && memcmp(sig, sig2, 64) == 0);
	RV(F->C_SignInit(s, &m, plat), CKR_KEY_TYPE_INCONSISTENT);
	/* Data over CAPTURE_DATA_MAX is hashed, and not kept: a digest-only
	 * request, in one part or several. */
	free(big);
	big = calloc(1, CAPTURE_DATA_MAX + 1);
	sha(EVP_sha256(), big, CAPTURE_DATA_MAX + 1, d256);
	sl = sign1(s, &m, dev, big, CAPTURE_DATA_MAX + 1, sig);
	capture_request_free(expect_recorded("device", CAPTURE_MECH_ECDSA_SHA256, RB_SIG_ECDSA_SHA256, d256, 32,
					     sig, sl));
	RV(F->C_SignInit(s, &m, dev), CKR_OK);
	RV(F->C_SignUpdate(s, big, CAPTURE_DATA_MAX), CKR_OK);
	RV(F->C_SignUpdate(s, big, 1), CKR_OK);
	sl = sizeof(sig2);
	RV(F->C_SignFinal(s, sig2, &sl), CKR_OK);
	CHECK(sl == 64 && memcmp(sig, sig2, 64) == 0);
	sha(EVP_sha256(), big, CAPTURE_DATA_MAX, d256);
	sl = sign1(s, &m, dev, big, CAPTURE_DATA_MAX, sig);
	capture_request_free(expect_recorded_data("device", CAPTURE_MECH_ECDSA_SHA256, RB_SIG_ECDSA_SHA256, d256,
						  32, big, CAPTURE_DATA_MAX, sig, sl));

	/* CKM_EDDSA: the whole message, 1..CAPTURE_EDDSA_MAX_MESSAGE bytes. */
	m = (CK_MECHANISM){ CKM_EDDSA, NULL, 0 };
	check_lengths(s, &m, q, msg, 39, 64, sig);
	capture_request_free(expect_recorded("queue", CAPTURE_MECH_EDDSA, RB_SIG_ED25519, msg, 39, sig, 64));
	{
		struct {
			CK_BBOOL ph;
			CK_ULONG ctxlen;
			CK_BYTE_PTR ctx;
		} edp = { CK_FALSE, 0, NULL };
		CK_MECHANISM m2 = { CKM_EDDSA, &edp, sizeof(edp) };

		sl = sign1(s, &m2, q, msg, 40, sig);
		capture_request_free(expect_recorded("queue", CAPTURE_MECH_EDDSA, RB_SIG_ED25519, msg, 40,
						     sig, sl));
	}
	before = spool_count();
	RV(F->C_SignInit(s, &m, q), CKR_OK);
	RV(F->C_Sign(s, msg, 0, sig, &sl), CKR_DATA_LEN_RANGE);
	free(big);
	big = calloc(1, CAPTURE_EDDSA_MAX_MESSAGE + 1);
	RV(F->C_SignInit(s, &m, q), CKR_OK);
	RV(F->C_Sign(s, big, CAPTURE_EDDSA_MAX_MESSAGE + 1, sig, &sl), CKR_DATA_LEN_RANGE);
	CHECK(spool_count() == before);
	sl = sizeof(sig);
	RV(F->C_SignInit(s, &m, q), CKR_OK);
	RV(F->C_Sign(s, big, CAPTURE_EDDSA_MAX_MESSAGE, sig, &sl), CKR_OK);
	CHECK(spool_count() == before + 1);
	free(big);
	fini();
}

/* A spool the module cannot write: no signature comes back. */
static void test_sign_spool_failure(void)
{
	char bad[1100];
	CK_SESSION_HANDLE s;
	CK_MECHANISM m = { CKM_ECDSA, NULL, 0 };
	uint8_t sig[64], d[32] = { 9, 9, 9 };
	CK_ULONG sl = sizeof(sig);
	char *err;

	/* C_Initialize checks the spool: a file in its place fails it. */
	snprintf(bad, sizeof(bad), "%s/spool-is-a-file", work);
	rb_file_write_atomic(bad, "x", 1, 0644);
	setenv("ROMBSR_CAPTURE_SPOOL", bad, 1);
	err = initialize_capturing(CKR_GENERAL_ERROR);
	CHECK(strstr(err, "rombsr-capture: ") == err && strstr(err, bad) != NULL);
	free(err);

	/* The spool disappears after C_Initialize: C_Sign fails, returns no
	 * signature, and ends the operation. */
	snprintf(bad, sizeof(bad), "%s/spool-gone", work);
	setenv("ROMBSR_CAPTURE_SPOOL", bad, 1);
	s = ready();
	CHECK(rmdir(bad) == 0 || unlink_log_and_rmdir(bad));
	rb_file_write_atomic(bad, "x", 1, 0644);
	RV(F->C_SignInit(s, &m, find_obj(s, CKO_PRIVATE_KEY, "device")), CKR_OK);
	RV(F->C_Sign(s, d, 32, NULL, &sl), CKR_OK); /* a length query needs no spool */
	memset(sig, 0, sizeof(sig));
	RV(F->C_Sign(s, d, 32, sig, &sl), CKR_DEVICE_ERROR);
	CHECK(sig[0] == 0 && sig[63] == 0);
	RV(F->C_Sign(s, d, 32, sig, &sl), CKR_OPERATION_NOT_INITIALIZED);
	fini();
	setenv("ROMBSR_CAPTURE_SPOOL", spool, 1);
}

/* ---- verifying ---------------------------------------------------------------- */

static CK_RV verify1(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE k, const void *data,
		     size_t len, const uint8_t *sig, size_t sig_len)
{
	CK_RV rv = F->C_VerifyInit(s, m, k);

	if (rv != CKR_OK)
		return rv;
	return F->C_Verify(s, (CK_BYTE *)data, len, (CK_BYTE *)sig, sig_len);
}

struct real_signer {
	struct p11_module *mod;
	struct p11_token *tok;
};

static bool real_open(struct real_signer *r)
{
	struct p11_pin_source src = { P11_PIN_FILE, getenv("TEST_OPERATOR_PIN_FILE") };
	struct rb_secret *pin = NULL;

	memset(r, 0, sizeof(*r));
	if (!src.value || !getenv("TEST_TOKEN_LABEL"))
		return false;
	CHECK_OK(p11_module_load(ROMBSR_DEFAULT_SOFTHSM_MODULE, &r->mod));
	if (!r->mod)
		return false;
	CHECK_OK(p11_token_open(r->mod, getenv("TEST_TOKEN_LABEL"), 2, &r->tok));
	CHECK_OK(p11_pin_read(&src, &pin));
	if (!r->tok || !pin)
		return false;
	CHECK_OK(p11_token_login(r->tok, CKU_USER, pin));
	rb_secret_free(pin);
	return true;
}

static void real_close(struct real_signer *r)
{
	p11_token_free(r->tok);
	p11_module_free(r->mod);
}

static void real_sign(struct real_signer *r, const char *name, enum rb_sig_scheme scheme,
		      const uint8_t *in, size_t len, uint8_t *sig, size_t *sig_len)
{
	struct p11_key *k = NULL;
	uint8_t *out = NULL;
	size_t ol = 0;

	*sig_len = 0;
	CHECK_OK(p11_token_find_key(r->tok, name, &k));
	if (!k)
		return;
	CHECK_OK(p11_key_sign(k, scheme, in, len, &out, &ol));
	if (out)
		memcpy(sig, out, ol);
	*sig_len = ol;
	free(out);
}

static void test_verify_placeholders(void)
{
	CK_SESSION_HANDLE s = ready();
	CK_OBJECT_HANDLE plat = find_obj(s, CKO_PRIVATE_KEY, "platform");
	CK_OBJECT_HANDLE plat_pub = find_obj(s, CKO_PUBLIC_KEY, "platform");
	CK_OBJECT_HANDLE dev = find_obj(s, CKO_PRIVATE_KEY, "device");
	CK_OBJECT_HANDLE dev_pub = find_obj(s, CKO_PUBLIC_KEY, "device");
	CK_OBJECT_HANDLE q = find_obj(s, CKO_PRIVATE_KEY, "queue");
	CK_OBJECT_HANDLE q_pub = find_obj(s, CKO_PUBLIC_KEY, "queue");
	CK_OBJECT_HANDLE audit_pub = find_obj(s, CKO_PUBLIC_KEY, "audit");
	CK_MECHANISM m_sha = { CKM_SHA256_RSA_PKCS, NULL, 0 }, m_raw = { CKM_RSA_PKCS, NULL, 0 };
	CK_MECHANISM m_ec = { CKM_ECDSA, NULL, 0 }, m_ed = { CKM_EDDSA, NULL, 0 };
	static const char data[] = "an APK signed-data block", other[] = "another signed-data block";
	uint8_t ph[600], ec_ph[64], ed_ph[64], d[32], di[64], bad[600];
	struct capture_request *r = NULL;
	CK_OBJECT_HANDLE imported = 0, imported_ec = 0;
	char path[1100];
	size_t dil;
	CK_ULONG sl;

	sl = sign1(s, &m_sha, plat, data, strlen(data), ph);
	CHECK(sl == 512);
	sha(EVP_sha256(), data, strlen(data), d);
	CHECK(sign1(s, &m_ec, dev, d, 32, ec_ph) == 64);
	CHECK(sign1(s, &m_ed, q, data, strlen(data), ed_ph) == 64);

	/* The recorded placeholder passes, single- and multi-part. */
	RV(verify1(s, &m_sha, plat_pub, data, strlen(data), ph, 512), CKR_OK);
	RV(F->C_VerifyInit(s, &m_sha, plat_pub), CKR_OK);
	RV(F->C_VerifyUpdate(s, (CK_BYTE *)data, 5), CKR_OK);
	RV(F->C_VerifyUpdate(s, (CK_BYTE *)data + 5, strlen(data) - 5), CKR_OK);
	RV(F->C_VerifyFinal(s, ph, 512), CKR_OK);
	RV(verify1(s, &m_ec, dev_pub, d, 32, ec_ph, 64), CKR_OK);
	RV(verify1(s, &m_ed, q_pub, data, strlen(data), ed_ph, 64), CKR_OK);

	/* Tampered placeholder, other data, other key, other mechanism. */
	memcpy(bad, ph, 512);
	bad[300] ^= 0x01;
	RV(verify1(s, &m_sha, plat_pub, data, strlen(data), bad, 512), CKR_SIGNATURE_INVALID);
	RV(verify1(s, &m_sha, plat_pub, other, strlen(other), ph, 512), CKR_SIGNATURE_INVALID);
	RV(verify1(s, &m_sha, plat_pub, data, strlen(data), ph, 511), CKR_SIGNATURE_LEN_RANGE);
	RV(verify1(s, &m_sha, find_obj(s, CKO_PUBLIC_KEY, "media"), data, strlen(data), ph, 256),
	   CKR_SIGNATURE_INVALID);
	RV(verify1(s, &m_ed, audit_pub, data, strlen(data), ed_ph, 64), CKR_SIGNATURE_INVALID);
	memcpy(bad, ec_ph, 64);
	bad[63] ^= 0x80;
	RV(verify1(s, &m_ec, dev_pub, d, 32, bad, 64), CKR_SIGNATURE_INVALID);
	/* Same digest under CKM_RSA_PKCS is another request, never recorded. */
	dil = digestinfo(RB_SIG_RSA_PKCS1_SHA256, d, di);
	RV(verify1(s, &m_raw, plat_pub, di, dil, ph, 512), CKR_SIGNATURE_INVALID);

	/* A placeholder this module would issue, but never did: refused. */
	CHECK_OK(capture_request_new(build_id, key("platform"), CAPTURE_MECH_SHA256_RSA_PKCS,
				     RB_SIG_RSA_PKCS1_SHA256, (const uint8_t *)"\x11\x22\x33\x44\x55\x66\x77\x88"
				     "\x11\x22\x33\x44\x55\x66\x77\x88\x11\x22\x33\x44\x55\x66\x77\x88"
				     "\x11\x22\x33\x44\x55\x66\x77\x88", 32, NULL, 0, &r));
	if (r) {
		CK_MECHANISM m_pss_none = { CKM_RSA_PKCS, NULL, 0 };

		dil = digestinfo(RB_SIG_RSA_PKCS1_SHA256, r->input, di);
		RV(verify1(s, &m_pss_none, plat_pub, di, dil, r->placeholder, r->placeholder_len),
		   CKR_SIGNATURE_INVALID);
		capture_request_free(r);
		r = NULL;
	}
	/* A recorded request whose file is gone is no longer pending. */
	CHECK_OK(capture_request_new(build_id, key("device"), CAPTURE_MECH_ECDSA, RB_SIG_ECDSA_SHA256, d,
				     32, NULL, 0, &r));
	if (r) {
		snprintf(path, sizeof(path), "%s/%s.json", spool, r->id_hex);
		CHECK(unlink(path) == 0);
		RV(verify1(s, &m_ec, dev_pub, d, 32, ec_ph, 64), CKR_SIGNATURE_INVALID);
		/* ... and a forged file in its place does not parse. */
		rb_file_write_atomic(path, "{}", 2, 0644);
		RV(verify1(s, &m_ec, dev_pub, d, 32, ec_ph, 64), CKR_SIGNATURE_INVALID);
		unlink(path);
		capture_request_free(r);
	}
	CHECK(sign1(s, &m_ec, dev, d, 32, ec_ph) == 64); /* recorded again */
	RV(verify1(s, &m_ec, dev_pub, d, 32, ec_ph, 64), CKR_OK);

	/* SunPKCS11's path: import the certificate's key, verify with it. */
	RV(import_pub(s, key("platform")->pub, &imported), CKR_OK);
	RV(verify1(s, &m_sha, imported, data, strlen(data), ph, 512), CKR_OK);
	RV(verify1(s, &m_sha, imported, data, strlen(data), bad, 512), CKR_SIGNATURE_INVALID);
	RV(import_pub(s, key("device")->pub, &imported_ec), CKR_OK);
	RV(verify1(s, &m_ec, imported_ec, d, 32, ec_ph, 64), CKR_OK);

	/* State machine and arguments. */
	RV(F->C_Verify(s, d, 32, ec_ph, 64), CKR_OPERATION_NOT_INITIALIZED);
	RV(F->C_VerifyUpdate(s, d, 32), CKR_OPERATION_NOT_INITIALIZED);
	RV(F->C_VerifyFinal(s, ec_ph, 64), CKR_OPERATION_NOT_INITIALIZED);
	RV(F->C_VerifyInit(s, NULL, dev_pub), CKR_ARGUMENTS_BAD);
	RV(F->C_VerifyInit(s, &m_ec, dev), CKR_KEY_FUNCTION_NOT_PERMITTED);
	RV(F->C_VerifyInit(s, &m_ec, find_obj(s, CKO_CERTIFICATE, "device")), CKR_KEY_HANDLE_INVALID);
	RV(F->C_VerifyInit(s, &m_ec, 0), CKR_KEY_HANDLE_INVALID);
	RV(F->C_VerifyInit(s, &m_sha, dev_pub), CKR_KEY_TYPE_INCONSISTENT);
	RV(F->C_VerifyInit(s, &(CK_MECHANISM){ CKM_SHA256, NULL, 0 }, dev_pub), CKR_MECHANISM_INVALID);
	RV(F->C_VerifyInit(s, &m_ec, dev_pub), CKR_OK);
	RV(F->C_VerifyInit(s, &m_ec, dev_pub), CKR_OPERATION_ACTIVE);
	RV(F->C_SignInit(s, &m_ec, dev), CKR_OPERATION_ACTIVE);
	RV(F->C_VerifyUpdate(s, d, 32), CKR_FUNCTION_NOT_SUPPORTED);
	RV(F->C_Verify(s, d, 32, ec_ph, 64), CKR_OPERATION_NOT_INITIALIZED);
	RV(F->C_VerifyInit(s, &m_ec, dev_pub), CKR_OK);
	RV(F->C_Verify(s, d, 32, NULL, 64), CKR_ARGUMENTS_BAD);
	RV(F->C_Verify(s, d, 32, ec_ph, 64), CKR_OPERATION_NOT_INITIALIZED);
	RV(F->C_VerifyInit(s, &m_ec, dev_pub), CKR_OK);
	RV(F->C_Verify(s, NULL, 32, ec_ph, 64), CKR_ARGUMENTS_BAD);
	RV(F->C_VerifyInit(s, &m_sha, plat_pub), CKR_OK);
	RV(F->C_VerifyUpdate(s, NULL, 3), CKR_ARGUMENTS_BAD);
	RV(F->C_VerifyFinal(s, ph, 512), CKR_OPERATION_NOT_INITIALIZED);
	RV(F->C_VerifyInit(s, &m_sha, plat_pub), CKR_OK);
	RV(F->C_VerifyFinal(s, NULL, 512), CKR_ARGUMENTS_BAD);
	RV(F->C_VerifyFinal(s, ph, 512), CKR_OPERATION_NOT_INITIALIZED);
	RV(F->C_VerifyInit(s, &m_ec, dev_pub), CKR_OK);
	RV(F->C_Verify(s, d, 31, ec_ph, 64), CKR_DATA_LEN_RANGE);
	RV(F->C_VerifyInit(s, &m_sha, plat_pub), CKR_OK);
	RV(F->C_VerifyUpdate(s, d, 3), CKR_OK);
	RV(F->C_Verify(s, d, 3, ph, 512), CKR_OPERATION_ACTIVE);
	RV(F->C_VerifyFinal(s, ph, 512), CKR_OPERATION_NOT_INITIALIZED);
	/* The verify key may be a session object that is destroyed mid-way. */
	RV(F->C_VerifyInit(s, &m_ec, imported_ec), CKR_OK);
	RV(F->C_DestroyObject(s, imported_ec), CKR_OK);
	RV(F->C_Verify(s, d, 32, ec_ph, 64), CKR_OK);
	fini();

	/* Another build does not accept this build's placeholders. */
	setenv("ROMBSR_BUILD_ID", "some-other-build", 1);
	s = ready();
	plat_pub = find_obj(s, CKO_PUBLIC_KEY, "platform");
	RV(verify1(s, &m_sha, plat_pub, data, strlen(data), ph, 512), CKR_SIGNATURE_INVALID);
	fini();
	setenv("ROMBSR_BUILD_ID", build_id, 1);
}

static void test_verify_real(void)
{
	struct real_signer rs;
	struct rb_signer soft = { 0 };
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE plat_pub, dev_pub, q_pub, foreign = 0;
	CK_MECHANISM m_sha = { CKM_SHA256_RSA_PKCS, NULL, 0 }, m_raw = { CKM_RSA_PKCS, NULL, 0 };
	CK_MECHANISM m_ec = { CKM_ECDSA, NULL, 0 }, m_ed = { CKM_EDDSA, NULL, 0 };
	CK_RSA_PKCS_PSS_PARAMS pss = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
	CK_MECHANISM m_pss = { CKM_RSA_PKCS_PSS, &pss, sizeof(pss) };
	static const char data[] = "really signed by the token";
	uint8_t d[32], di[64], sig[600], *ssig = NULL;
	size_t sl, dil, ssl = 0;

	if (!real_open(&rs)) {
		printf("# no SoftHSM2 token (TEST_TOKEN_LABEL/TEST_OPERATOR_PIN_FILE): skipped\n");
		real_close(&rs);
		return;
	}
	s = ready();
	plat_pub = find_obj(s, CKO_PUBLIC_KEY, "platform");
	dev_pub = find_obj(s, CKO_PUBLIC_KEY, "device");
	q_pub = find_obj(s, CKO_PUBLIC_KEY, "queue");
	sha(EVP_sha256(), data, strlen(data), d);

	real_sign(&rs, "platform", RB_SIG_RSA_PKCS1_SHA256, d, 32, sig, &sl);
	RV(verify1(s, &m_sha, plat_pub, data, strlen(data), sig, sl), CKR_OK);
	dil = digestinfo(RB_SIG_RSA_PKCS1_SHA256, d, di);
	RV(verify1(s, &m_raw, plat_pub, di, dil, sig, sl), CKR_OK);
	sig[7] ^= 0x20;
	RV(verify1(s, &m_sha, plat_pub, data, strlen(data), sig, sl), CKR_SIGNATURE_INVALID);
	real_sign(&rs, "platform", RB_SIG_RSA_PSS_SHA256, d, 32, sig, &sl);
	RV(verify1(s, &m_pss, plat_pub, d, 32, sig, sl), CKR_OK);
	real_sign(&rs, "device", RB_SIG_ECDSA_SHA256, d, 32, sig, &sl);
	RV(verify1(s, &m_ec, dev_pub, d, 32, sig, sl), CKR_OK);
	sig[40] ^= 1;
	RV(verify1(s, &m_ec, dev_pub, d, 32, sig, sl), CKR_SIGNATURE_INVALID);
	real_sign(&rs, "queue", RB_SIG_ED25519, (const uint8_t *)data, strlen(data), sig, &sl);
	RV(verify1(s, &m_ed, q_pub, data, strlen(data), sig, sl), CKR_OK);
	RV(verify1(s, &m_ed, q_pub, data, strlen(data) - 1, sig, sl), CKR_SIGNATURE_INVALID);

	/* A key that is not in the manifest: real signatures only. */
	CHECK_OK(soft_signer_new("p256", &soft));
	if (soft.pub) {
		RV(import_pub(s, soft.pub, &foreign), CKR_OK);
		CHECK_OK(rb_signer_sign(&soft, RB_SIG_ECDSA_SHA256, d, 32, &ssig, &ssl));
		RV(verify1(s, &m_ec, foreign, d, 32, ssig, ssl), CKR_OK);
		ssig[3] ^= 4;
		RV(verify1(s, &m_ec, foreign, d, 32, ssig, ssl), CKR_SIGNATURE_INVALID);
		free(ssig);
		soft_signer_free(&soft);
	}
	fini();
	real_close(&rs);
}

/* ---- key status, configuration, PIN ----------------------------------------- */

static void test_revoked_hidden(void)
{
	const char *revoked = getenv("TEST_REVOKED_MANIFEST");
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE h[64];
	CK_ATTRIBUTE t = { CKA_LABEL, "media", 5 };
	CK_ATTRIBUTE tid = { CKA_ID, key("media")->id, key("media")->id_len };

	if (!revoked) {
		printf("# TEST_REVOKED_MANIFEST not set: skipped\n");
		return;
	}
	setenv("ROMBSR_CAPTURE_MANIFEST", revoked, 1);
	s = ready();
	CHECK(find_all(s, NULL, 0, h, 64) == 21);
	CHECK(find_all(s, &t, 1, h, 64) == 0);
	CHECK(find_all(s, &tid, 1, h, 64) == 0);
	{
		CK_MECHANISM_INFO mi;

		/* platform (RSA-4096) and release (RSA-2048) are still
		 * active: their sizes remain. */
		RV(F->C_GetMechanismInfo(0, CKM_RSA_PKCS, &mi), CKR_OK);
		CHECK(mi.ulMinKeySize == 2048 && mi.ulMaxKeySize == 4096);
	}
	fini();
	setenv("ROMBSR_CAPTURE_MANIFEST", manifest_path, 1);
}

/* Run C_Initialize with stderr captured; returns what was written. */
static char *initialize_capturing(CK_RV want)
{
	char path[1100];
	uint8_t *text = NULL;
	size_t len;
	int fd, saved;

	snprintf(path, sizeof(path), "%s/stderr.txt", work);
	fflush(stderr);
	saved = dup(2);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	dup2(fd, 2);
	close(fd);
	RV(F->C_Initialize(NULL), want);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	if (rb_file_read(path, 65536, &text, &len) < 0)
		return strdup("");
	return (char *)text;
}

static bool file_contains(const char *path, const char *needle)
{
	uint8_t *text = NULL;
	size_t len;
	bool found;

	if (rb_file_read(path, 1 << 22, &text, &len) < 0)
		return false;
	found = strstr((char *)text, needle) != NULL;
	free(text);
	return found;
}

static void test_bad_config(void)
{
	char *err, log[1100], bogus[1100], cfg[1100];

	unsetenv("ROMBSR_CAPTURE_MANIFEST");
	unsetenv("ROMBSR_CAPTURE_SPOOL");
	unsetenv("ROMBSR_BUILD_ID");
	snprintf(log, sizeof(log), "%s/noconfig.log", work);
	setenv("ROMBSR_CAPTURE_LOG", log, 1);
	err = initialize_capturing(CKR_GENERAL_ERROR);
	/* One line: "rombsr-capture: <reason>: <what to do>", naming the variable. */
	CHECK(strncmp(err, "rombsr-capture: ", 16) == 0);
	CHECK(strstr(err, "ROMBSR_CAPTURE_CONFIG") != NULL);
	CHECK(strchr(err, '\n') == err + strlen(err) - 1);
	CHECK(file_contains(log, "ROMBSR_CAPTURE_CONFIG"));
	free(err);
	RV(F->C_GetInfo(&(CK_INFO){ 0 }), CKR_CRYPTOKI_NOT_INITIALIZED);
	unsetenv("ROMBSR_CAPTURE_LOG");

	/* Only some variables. */
	setenv("ROMBSR_CAPTURE_MANIFEST", manifest_path, 1);
	err = initialize_capturing(CKR_GENERAL_ERROR);
	CHECK(strstr(err, "ROMBSR_CAPTURE_SPOOL") != NULL || strstr(err, "ROMBSR_BUILD_ID") != NULL);
	free(err);

	/* A manifest that does not exist: the log in the spool says so. */
	snprintf(bogus, sizeof(bogus), "%s/no-such-manifest.json", work);
	setenv("ROMBSR_CAPTURE_MANIFEST", bogus, 1);
	setenv("ROMBSR_CAPTURE_SPOOL", spool, 1);
	setenv("ROMBSR_BUILD_ID", build_id, 1);
	err = initialize_capturing(CKR_GENERAL_ERROR);
	CHECK(strstr(err, "rombsr-capture: ") == err && strstr(err, bogus) != NULL);
	free(err);
	snprintf(log, sizeof(log), "%s/capture.log", spool);
	CHECK(file_contains(log, bogus));

	/* A bad build id. */
	setenv("ROMBSR_CAPTURE_MANIFEST", manifest_path, 1);
	setenv("ROMBSR_BUILD_ID", "../escape", 1);
	err = initialize_capturing(CKR_GENERAL_ERROR);
	CHECK(strstr(err, "rombsr-capture: ") == err);
	free(err);
	setenv("ROMBSR_BUILD_ID", build_id, 1);

	/* ROMBSR_CAPTURE_CONFIG naming a missing file. */
	snprintf(cfg, sizeof(cfg), "%s/missing-config.json", work);
	setenv("ROMBSR_CAPTURE_CONFIG", cfg, 1);
	err = initialize_capturing(CKR_GENERAL_ERROR);
	CHECK(strstr(err, cfg) != NULL);
	free(err);
	unsetenv("ROMBSR_CAPTURE_CONFIG");

	/* Fixed: works again. */
	init();
	fini();
}

static void test_pin_file(void)
{
	char pin[1100], pin_open[1100], log[1100];
	CK_SESSION_HANDLE s;

	snprintf(pin, sizeof(pin), "%s/capture.pin", work);
	CHECK_OK(rb_file_create_secret(pin, "s3cret-Pin\n", 11));
	setenv("ROMBSR_CAPTURE_PIN_FILE", pin, 1);
	init();
	s = open_session(0);
	RV(F->C_Login(s, CKU_USER, (CK_UTF8CHAR *)"s3cret-pin", 10), CKR_PIN_INCORRECT);
	RV(F->C_Login(s, CKU_USER, (CK_UTF8CHAR *)"s3cret-Pi", 9), CKR_PIN_INCORRECT);
	RV(F->C_Login(s, CKU_USER, (CK_UTF8CHAR *)"s3cret-Pin\n", 11), CKR_PIN_INCORRECT);
	RV(F->C_Login(s, CKU_USER, (CK_UTF8CHAR *)"", 0), CKR_PIN_INCORRECT);
	RV(F->C_Login(s, CKU_USER, (CK_UTF8CHAR *)"s3cret-Pin", 10), CKR_OK);
	fini();
	snprintf(log, sizeof(log), "%s/capture.log", spool);
	CHECK(!file_contains(log, "s3cret"));

	/* A PIN file others can read is refused at C_Initialize. */
	snprintf(pin_open, sizeof(pin_open), "%s/open.pin", work);
	rb_file_write_atomic(pin_open, "1234\n", 5, 0644);
	setenv("ROMBSR_CAPTURE_PIN_FILE", pin_open, 1);
	{
		char *err = initialize_capturing(CKR_GENERAL_ERROR);

		CHECK(strstr(err, pin_open) != NULL);
		free(err);
	}
	unsetenv("ROMBSR_CAPTURE_PIN_FILE");
}

/* ---- fork and threads --------------------------------------------------------- */

static int child_checks(CK_SESSION_HANDLE parent_session)
{
	CK_SESSION_INFO si;
	CK_SESSION_HANDLE s;
	CK_MECHANISM m = { CKM_ECDSA, NULL, 0 };
	uint8_t d[32] = { 0xc4, 0x11, 0xd0 }, sig[64];
	CK_ULONG sl = sizeof(sig);
	int before = t_failed_checks;

	RV(F->C_GetInfo(&(CK_INFO){ 0 }), CKR_CRYPTOKI_NOT_INITIALIZED);
	RV(F->C_GetSessionInfo(parent_session, &si), CKR_CRYPTOKI_NOT_INITIALIZED);
	RV(F->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_CRYPTOKI_NOT_INITIALIZED);
	RV(F->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
	init();
	RV(F->C_GetSessionInfo(parent_session, &si), CKR_SESSION_HANDLE_INVALID);
	s = open_session(0);
	login(s);
	RV(F->C_SignInit(s, &m, find_obj(s, CKO_PRIVATE_KEY, "device")), CKR_OK);
	RV(F->C_Sign(s, d, 32, sig, &sl), CKR_OK);
	fini();
	return t_failed_checks == before ? 0 : 1;
}

static void test_fork(void)
{
	CK_SESSION_HANDLE s = ready();
	CK_SESSION_INFO si;
	CK_MECHANISM m = { CKM_ECDSA, NULL, 0 };
	uint8_t d[32] = { 0xc4, 0x11, 0xd0 };
	size_t before = spool_count();
	int status = -1;
	pid_t pid;

	/* An operation in flight in the parent stays the parent's. */
	RV(F->C_SignInit(s, &m, find_obj(s, CKO_PRIVATE_KEY, "device")), CKR_OK);
	fflush(NULL);
	pid = fork();
	if (pid == 0)
		_exit(child_checks(s));
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(spool_count() == before + 1);
	RV(F->C_GetSessionInfo(s, &si), CKR_OK);
	CHECK(si.state == CKS_RO_USER_FUNCTIONS || si.state == CKS_RW_USER_FUNCTIONS);
	{
		uint8_t sig[64];
		CK_ULONG sl = sizeof(sig);

		/* Same request the child recorded. */
		RV(F->C_Sign(s, d, 32, sig, &sl), CKR_OK);
		CHECK(spool_count() == before + 1);
	}
	fini();
}

#define THREADS 8
#define PER_THREAD 12

struct worker {
	pthread_t t;
	int idx;
	CK_OBJECT_HANDLE ec, rsa;
	uint8_t ph[PER_THREAD][2][512];
	int failures;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	CK_SESSION_HANDLE s;
	CK_MECHANISM m_ec = { CKM_ECDSA, NULL, 0 }, m_sha = { CKM_SHA256_RSA_PKCS, NULL, 0 };
	char msg[64];
	uint8_t d[32];
	size_t dlen;
	int i;

	if (F->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK) {
		w->failures++;
		return NULL;
	}
	for (i = 0; i < PER_THREAD; i++) {
		CK_ULONG sl = 64;

		snprintf(msg, sizeof(msg), "thread %d message %d", w->idx, i);
		if (rb_digest(EVP_sha256(), msg, strlen(msg), d, &dlen) < 0 ||
		    F->C_SignInit(s, &m_ec, w->ec) != CKR_OK ||
		    F->C_Sign(s, d, 32, w->ph[i][0], &sl) != CKR_OK || sl != 64)
			w->failures++;
		sl = 512;
		if (F->C_SignInit(s, &m_sha, w->rsa) != CKR_OK ||
		    F->C_SignUpdate(s, (CK_BYTE *)msg, strlen(msg)) != CKR_OK ||
		    F->C_SignFinal(s, w->ph[i][1], &sl) != CKR_OK || sl != 512)
			w->failures++;
	}
	if (F->C_CloseSession(s) != CKR_OK)
		w->failures++;
	return NULL;
}

static void test_threads(void)
{
	static struct worker w[THREADS];
	struct capture_request_set *set = NULL;
	CK_SESSION_HANDLE s = ready();
	size_t before = spool_count(), i, found = 0;
	int t, j;

	for (t = 0; t < THREADS; t++) {
		memset(&w[t], 0, sizeof(w[t]));
		w[t].idx = t;
		w[t].ec = find_obj(s, CKO_PRIVATE_KEY, "device");
		w[t].rsa = find_obj(s, CKO_PRIVATE_KEY, "platform");
	}
	for (t = 0; t < THREADS; t++)
		CHECK(pthread_create(&w[t].t, NULL, worker_main, &w[t]) == 0);
	for (t = 0; t < THREADS; t++) {
		pthread_join(w[t].t, NULL);
		CHECK(w[t].failures == 0);
	}
	/* Every request on disk, distinct, and each placeholder is its own. */
	CHECK(spool_count() == before + THREADS * PER_THREAD * 2);
	CHECK_OK(capture_spool_load(spool, M, &set));
	if (set) {
		for (t = 0; t < THREADS; t++)
			for (j = 0; j < PER_THREAD; j++)
				for (i = 0; i < set->n; i++) {
					const struct capture_request *r = set->items[i];

					if (r->placeholder_len == 64 && memcmp(r->placeholder, w[t].ph[j][0], 64) == 0)
						found++;
					if (r->placeholder_len == 512 &&
					    memcmp(r->placeholder, w[t].ph[j][1], 512) == 0)
						found++;
				}
		CHECK(found == THREADS * PER_THREAD * 2);
		capture_request_set_free(set);
	}
	/* The main thread's session and login survived the workers' closes. */
	{
		CK_SESSION_INFO si;

		RV(F->C_GetSessionInfo(s, &si), CKR_OK);
		CHECK(si.state == CKS_RW_USER_FUNCTIONS);
	}
	fini();
}

int main(int argc, char **argv)
{
	CK_RV (*gfl)(CK_FUNCTION_LIST **);

	if (argc != 2) {
		fprintf(stderr, "usage: %s MODULE\n", argv[0]);
		return 2;
	}
	manifest_path = getenv("ROMBSR_CAPTURE_MANIFEST");
	spool = getenv("ROMBSR_CAPTURE_SPOOL");
	build_id = getenv("ROMBSR_BUILD_ID");
	if (!manifest_path || !spool || !build_id) {
		fprintf(stderr, "run through run.sh (ROMBSR_CAPTURE_MANIFEST, _SPOOL, ROMBSR_BUILD_ID)\n");
		return 2;
	}
	manifest_path = strdup(manifest_path);
	spool = strdup(spool);
	build_id = strdup(build_id);
	if (!mkdtemp(work) || manifest_load(manifest_path, &M) < 0) {
		fprintf(stderr, "setup: %s\n", rb_err_detail());
		return 2;
	}
	dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		fprintf(stderr, "dlopen %s: %s\n", argv[1], dlerror());
		return 2;
	}
	gfl = (CK_RV (*)(CK_FUNCTION_LIST **))dlsym(dl, "C_GetFunctionList");
	if (!gfl || gfl(&F) != CKR_OK) {
		fprintf(stderr, "%s: no C_GetFunctionList\n", argv[1]);
		return 2;
	}

	RUN(test_function_list);
	RUN(test_not_initialized);
	RUN(test_initialize_args);
	RUN(test_unsupported);
	RUN(test_slot_token);
	RUN(test_mechanisms);
	RUN(test_sessions);
	RUN(test_closed_session);
	RUN(test_find);
	RUN(test_attributes_private);
	RUN(test_attributes_public_cert);
	RUN(test_create_object);
	RUN(test_sign_state);
	RUN(test_sign_mechanisms);
	RUN(test_sign_spool_failure);
	RUN(test_verify_placeholders);
	RUN(test_verify_real);
	RUN(test_revoked_hidden);
	RUN(test_bad_config);
	RUN(test_pin_file);
	RUN(test_fork);
	RUN(test_threads);

	manifest_free(M);
	free((char *)manifest_path);
	free((char *)spool);
	free((char *)build_id);
	/* The module stays loaded: unloading it is the client's business, and
	 * keeping it avoids false leak reports for OpenSSL's per-thread state. */
	TEST_MAIN_END();
}
