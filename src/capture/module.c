/* Module life cycle: the function list, C_Initialize/C_Finalize, the
 * module lock and fork handling. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture-module.h"
#include "config.h"
#include "p11/p11.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/secret.h"
#include "util/encode.h"

#define CM_EXPORT __attribute__((visibility("default")))

struct cm_module *cm_state;
pthread_mutex_t cm_lock = PTHREAD_MUTEX_INITIALIZER;

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* fork(): the child gets a copy of the module state, including sessions
 * and operations that other threads of the parent had in flight. PKCS#11
 * 2.40 says the child must call C_Initialize before using the module, so
 * the child forgets the copy without touching it (not even to free it:
 * another thread's half-done operation may be in it) and starts
 * uninitialised. The prepare handler holds the module lock across fork()
 * so the lock itself is consistent in the child. */
static void atfork_prepare(void)
{
	pthread_mutex_lock(&cm_lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&cm_lock);
}

static void atfork_child(void)
{
	cm_state = NULL;
	pthread_mutex_unlock(&cm_lock);
}

static void atfork_register(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

CK_RV cm_module_lock(void)
{
	pthread_mutex_lock(&cm_lock);
	/* A child created without fork() handlers (raw clone) still must not
	 * use the parent's state. */
	if (cm_state && cm_state->pid != getpid())
		cm_state = NULL;
	if (!cm_state) {
		pthread_mutex_unlock(&cm_lock);
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	}
	return CKR_OK;
}

void cm_module_unlock(void)
{
	pthread_mutex_unlock(&cm_lock);
}

CK_RV cm_ckr_from_err(int err)
{
	switch (err) {
	case RB_OK:
		return CKR_OK;
	case RB_E_NOMEM:
		return CKR_HOST_MEMORY;
	case RB_E_IO:
		return CKR_DEVICE_ERROR;
	default:
		return CKR_GENERAL_ERROR;
	}
}

void cm_pad(CK_UTF8CHAR *dst, size_t n, const char *s)
{
	size_t len = strlen(s);

	if (len > n)
		len = n;
	memset(dst, ' ', n);
	memcpy(dst, s, len);
}

/* Copy at most n bytes of src into out (size bytes), as printable ASCII
 * without spaces. */
static void tool_copy(char *out, size_t size, const char *src, size_t n)
{
	size_t i, j = strlen(out);

	for (i = 0; i < n && src[i] && src[i] != '\n' && j + 1 < size; i++) {
		unsigned char c = (unsigned char)src[i];

		out[j++] = (c > 0x20 && c < 0x7f) ? (char)c : '_';
	}
	out[j] = '\0';
}

/* For a JVM, the jar it runs: "java -jar /usr/lib/.../apksigner.jar" is
 * apksigner. */
static void java_jar_name(char *out, size_t size)
{
	uint8_t *cmd = NULL;
	size_t len, pos = 0;
	const char *jar = NULL, *base;
	size_t blen;

	if (rb_file_read("/proc/self/cmdline", 64 * 1024, &cmd, &len) < 0)
		return;
	while (pos < len) {
		const char *arg = (const char *)cmd + pos;
		size_t alen = strnlen(arg, len - pos);

		if (jar == NULL && strcmp(arg, "-jar") == 0 && pos + alen + 1 < len)
			jar = arg + alen + 1;
		pos += alen + 1;
	}
	if (jar) {
		base = strrchr(jar, '/');
		base = base ? base + 1 : jar;
		blen = strlen(base);
		if (blen > 4 && strcmp(base + blen - 4, ".jar") == 0)
			blen -= 4;
		if (blen > 0) {
			tool_copy(out, size, ":", 1);
			tool_copy(out, size, base, blen);
		}
	}
	free(cmd);
}

/* The calling process's name (/proc/self/comm), reduced to printable
 * ASCII; recorded in requests as information for reviewers. */
static void read_tool_name(char *out, size_t size)
{
	char buf[64];
	ssize_t n = -1;
	int fd;

	out[0] = '\0';
	fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	if (n > 0)
		tool_copy(out, size, buf, (size_t)n);
	if (out[0] == '\0')
		snprintf(out, size, "unknown");
	else if (strcmp(out, "java") == 0)
		java_jar_name(out, size);
}

/* Token serial: 16 hex digits of SHA-256 over the token label and the
 * fingerprints of the keys it shows, so a changed key set shows up as a
 * different token. */
static void derive_serial(struct cm_module *st)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t h[EVP_MAX_MD_SIZE];
	unsigned hl = 0;
	size_t i;

	snprintf(st->token_serial, sizeof(st->token_serial), "0000000000000000");
	if (!md)
		return;
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(md, st->manifest->token_label, strlen(st->manifest->token_label)) == 1) {
		for (i = 0; i < st->manifest->n_keys; i++)
			if (st->manifest->keys[i].status == KEY_ACTIVE)
				EVP_DigestUpdate(md, st->manifest->keys[i].spki_sha256, 32);
		if (EVP_DigestFinal_ex(md, h, &hl) == 1 && hl >= 8)
			rb_hex_format(h, 8, st->token_serial);
	}
	EVP_MD_CTX_free(md);
}

static void module_free(struct cm_module *st)
{
	size_t i;

	if (!st)
		return;
	for (i = 0; i < st->n_token_objects; i++)
		cm_object_free(st->token_objects[i]);
	free(st->token_objects);
	while (st->session_objects) {
		struct cm_object *o = st->session_objects;

		st->session_objects = o->next;
		cm_object_free(o);
	}
	manifest_free(st->manifest);
	capture_config_free(st->config);
	free(st);
}

static const char config_todo[] =
	"see docs/formats/capture-config.md (ROMBSR_CAPTURE_CONFIG, or ROMBSR_CAPTURE_MANIFEST, "
	"ROMBSR_CAPTURE_SPOOL and ROMBSR_BUILD_ID)";

static const char *detail_or(int err)
{
	const char *d = rb_err_message(err);

	return d && *d ? d : rb_strerror(err);
}

/* Load configuration and manifest, check the spool and PIN file. Writes
 * the failure line itself; returns a CKR_ code. */
static CK_RV module_load(struct cm_module **ret)
{
	struct cm_module *st;
	char reason[RB_ERR_DETAIL_MAX + 256];
	struct stat sb;
	size_t i, active = 0;
	int err;

	st = calloc(1, sizeof(*st));
	if (!st)
		return CKR_HOST_MEMORY;
	st->pid = getpid();
	st->next_session = 1;
	st->next_object = CM_SESSION_OBJECT_BASE;
	rb_err_clear();
	if ((err = capture_config_load(&st->config)) < 0) {
		/* The detail names the variable or file and the fix already. */
		snprintf(reason, sizeof(reason), "configuration: %s", detail_or(err));
		cm_log_failure(NULL, reason, config_todo);
		goto fail;
	}
	rb_err_clear();
	if ((err = manifest_load(st->config->manifest_path, &st->manifest)) < 0) {
		snprintf(reason, sizeof(reason), "cannot load key manifest '%s' (%s; configured by %s)",
			 st->config->manifest_path, detail_or(err), st->config->source);
		cm_log_failure(st->config, reason,
			       "copy the manifest written by 'rombsr hsm-provision' to this node and "
			       "name it in the configuration (\"manifest\" or ROMBSR_CAPTURE_MANIFEST)");
		goto fail;
	}
	for (i = 0; i < st->manifest->n_keys; i++)
		if (st->manifest->keys[i].status == KEY_ACTIVE)
			active++;
	if (active == 0) {
		snprintf(reason, sizeof(reason), "key manifest '%s' has no active key",
			 st->config->manifest_path);
		cm_log_failure(st->config, reason,
			       "use the current manifest of the signing token (revoked and retired keys "
			       "cannot sign)");
		err = RB_E_KEY;
		goto fail;
	}
	rb_err_clear();
	if ((err = rb_mkdir_p(st->config->spool_dir, 0755)) < 0 ||
	    stat(st->config->spool_dir, &sb) != 0 || !S_ISDIR(sb.st_mode) ||
	    access(st->config->spool_dir, W_OK | X_OK) != 0) {
		snprintf(reason, sizeof(reason), "spool directory '%s' is not a writable directory (%s)",
			 st->config->spool_dir, err < 0 ? detail_or(err) : strerror(errno));
		cm_log_failure(st->config, reason,
			       "create it writable for the build user, or name another one "
			       "(\"spool\" or ROMBSR_CAPTURE_SPOOL)");
		err = RB_E_IO;
		goto fail;
	}
	if (st->config->pin_file) {
		struct p11_pin_source src = { P11_PIN_FILE, st->config->pin_file };
		struct rb_secret *pin = NULL;

		rb_err_clear();
		if ((err = p11_pin_read(&src, &pin)) < 0) {
			snprintf(reason, sizeof(reason), "cannot read PIN file '%s' (%s)",
				 st->config->pin_file, detail_or(err));
			cm_log_failure(st->config, reason,
				       "make it a regular file readable only by the build user (0600), or "
				       "remove pin_file to accept any PIN");
			goto fail;
		}
		rb_secret_free(pin);
	}
	if ((err = cm_objects_build(st->manifest, &st->token_objects, &st->n_token_objects)) < 0) {
		snprintf(reason, sizeof(reason), "cannot build token objects from '%s' (%s)",
			 st->config->manifest_path, detail_or(err));
		cm_log_failure(st->config, reason, "regenerate the manifest with 'rombsr hsm-provision'");
		goto fail;
	}
	cm_mechs_build(st);
	snprintf(st->token_label, sizeof(st->token_label), "%s", st->manifest->token_label);
	derive_serial(st);
	read_tool_name(st->tool, sizeof(st->tool));
	cm_log(st->config, "initialised: tool %s, manifest %s (%zu active keys), spool %s, build %s",
	       st->tool, st->config->manifest_path, active, st->config->spool_dir,
	       st->config->build_id);
	*ret = st;
	return CKR_OK;
fail:
	module_free(st);
	return err == RB_E_NOMEM ? CKR_HOST_MEMORY : CKR_GENERAL_ERROR;
}

static CK_RV cm_C_Initialize(CK_VOID_PTR init_args)
{
	struct cm_module *st = NULL;
	CK_RV rv;

	if (init_args) {
		const CK_C_INITIALIZE_ARGS *a = init_args;
		int n = !!a->CreateMutex + !!a->DestroyMutex + !!a->LockMutex + !!a->UnlockMutex;

		if (a->pReserved)
			return CKR_ARGUMENTS_BAD;
		if (n != 0 && n != 4)
			return CKR_ARGUMENTS_BAD;
		/* Application-supplied mutexes only: we lock with pthreads. */
		if (n == 4 && !(a->flags & CKF_OS_LOCKING_OK))
			return CKR_CANT_LOCK;
	}
	pthread_once(&atfork_once, atfork_register);

	pthread_mutex_lock(&cm_lock);
	if (cm_state && cm_state->pid != getpid())
		cm_state = NULL;
	if (cm_state) {
		pthread_mutex_unlock(&cm_lock);
		return CKR_CRYPTOKI_ALREADY_INITIALIZED;
	}
	rv = module_load(&st);
	if (rv == CKR_OK)
		cm_state = st;
	pthread_mutex_unlock(&cm_lock);
	return rv;
}

static CK_RV cm_C_Finalize(CK_VOID_PTR reserved)
{
	struct cm_module *st;
	CK_RV rv;

	if (reserved)
		return CKR_ARGUMENTS_BAD;
	if ((rv = cm_module_lock()) != CKR_OK)
		return rv;
	cm_sessions_close_all();
	st = cm_state;
	cm_state = NULL;
	cm_log(st->config, "finalised");
	module_free(st);
	cm_module_unlock();
	return CKR_OK;
}

static CK_RV cm_C_GetInfo(CK_INFO_PTR info)
{
	CK_RV rv;

	if ((rv = cm_module_lock()) != CKR_OK)
		return rv;
	cm_module_unlock();
	if (!info)
		return CKR_ARGUMENTS_BAD;
	memset(info, 0, sizeof(*info));
	info->cryptokiVersion.major = 2;
	info->cryptokiVersion.minor = 40;
	cm_pad(info->manufacturerID, sizeof(info->manufacturerID), CM_MANUFACTURER);
	info->flags = 0;
	cm_pad(info->libraryDescription, sizeof(info->libraryDescription), CM_LIBRARY_DESCRIPTION);
	{
		unsigned major = 0, minor = 0;

		sscanf(ROMBSR_VERSION, "%u.%u", &major, &minor);
		info->libraryVersion.major = (CK_BYTE)major;
		info->libraryVersion.minor = (CK_BYTE)minor;
	}
	return CKR_OK;
}

/* Functions the capture token does not offer. */
#define UNSUPPORTED(name, args) \
	static CK_RV cm_##name args { return CKR_FUNCTION_NOT_SUPPORTED; }

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
UNSUPPORTED(C_InitToken, (CK_SLOT_ID a, CK_UTF8CHAR_PTR b, CK_ULONG c, CK_UTF8CHAR_PTR d))
UNSUPPORTED(C_InitPIN, (CK_SESSION_HANDLE a, CK_UTF8CHAR_PTR b, CK_ULONG c))
UNSUPPORTED(C_SetPIN, (CK_SESSION_HANDLE a, CK_UTF8CHAR_PTR b, CK_ULONG c, CK_UTF8CHAR_PTR d,
		       CK_ULONG e))
UNSUPPORTED(C_GetOperationState, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c))
UNSUPPORTED(C_SetOperationState, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,
				  CK_OBJECT_HANDLE d, CK_OBJECT_HANDLE e))
UNSUPPORTED(C_CopyObject, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c,
			   CK_ULONG d, CK_OBJECT_HANDLE_PTR e))
UNSUPPORTED(C_GetObjectSize, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ULONG_PTR c))
UNSUPPORTED(C_SetAttributeValue, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c,
				  CK_ULONG d))
UNSUPPORTED(C_EncryptInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c))
UNSUPPORTED(C_Encrypt, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d,
			CK_ULONG_PTR e))
UNSUPPORTED(C_EncryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d,
			      CK_ULONG_PTR e))
UNSUPPORTED(C_EncryptFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c))
UNSUPPORTED(C_DecryptInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c))
UNSUPPORTED(C_Decrypt, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d,
			CK_ULONG_PTR e))
UNSUPPORTED(C_DecryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d,
			      CK_ULONG_PTR e))
UNSUPPORTED(C_DecryptFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c))
UNSUPPORTED(C_DigestInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b))
UNSUPPORTED(C_Digest, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d,
		       CK_ULONG_PTR e))
UNSUPPORTED(C_DigestUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c))
UNSUPPORTED(C_DigestKey, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b))
UNSUPPORTED(C_DigestFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c))
UNSUPPORTED(C_SignRecoverInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c))
UNSUPPORTED(C_SignRecover, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d,
			    CK_ULONG_PTR e))
UNSUPPORTED(C_VerifyRecoverInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c))
UNSUPPORTED(C_VerifyRecover, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d,
			      CK_ULONG_PTR e))
UNSUPPORTED(C_DigestEncryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,
				    CK_BYTE_PTR d, CK_ULONG_PTR e))
UNSUPPORTED(C_DecryptDigestUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,
				    CK_BYTE_PTR d, CK_ULONG_PTR e))
UNSUPPORTED(C_SignEncryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d,
				  CK_ULONG_PTR e))
UNSUPPORTED(C_DecryptVerifyUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,
				    CK_BYTE_PTR d, CK_ULONG_PTR e))
UNSUPPORTED(C_GenerateKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_ATTRIBUTE_PTR c,
			    CK_ULONG d, CK_OBJECT_HANDLE_PTR e))
UNSUPPORTED(C_GenerateKeyPair, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_ATTRIBUTE_PTR c,
				CK_ULONG d, CK_ATTRIBUTE_PTR e, CK_ULONG f, CK_OBJECT_HANDLE_PTR g,
				CK_OBJECT_HANDLE_PTR h))
UNSUPPORTED(C_WrapKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c,
			CK_OBJECT_HANDLE d, CK_BYTE_PTR e, CK_ULONG_PTR f))
UNSUPPORTED(C_UnwrapKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c,
			  CK_BYTE_PTR d, CK_ULONG e, CK_ATTRIBUTE_PTR f, CK_ULONG g,
			  CK_OBJECT_HANDLE_PTR h))
UNSUPPORTED(C_DeriveKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c,
			  CK_ATTRIBUTE_PTR d, CK_ULONG e, CK_OBJECT_HANDLE_PTR f))
UNSUPPORTED(C_SeedRandom, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c))
UNSUPPORTED(C_GenerateRandom, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c))
UNSUPPORTED(C_WaitForSlotEvent, (CK_FLAGS a, CK_SLOT_ID_PTR b, CK_VOID_PTR c))

/* Legacy parallel-session functions: PKCS#11 2.40 says they simply
 * return CKR_FUNCTION_NOT_PARALLEL. */
static CK_RV cm_C_GetFunctionStatus(CK_SESSION_HANDLE a)
{
	return CKR_FUNCTION_NOT_PARALLEL;
}

static CK_RV cm_C_CancelFunction(CK_SESSION_HANDLE a)
{
	return CKR_FUNCTION_NOT_PARALLEL;
}
#pragma GCC diagnostic pop

static CK_RV cm_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ret);

static CK_FUNCTION_LIST function_list = {
	.version = { 2, 40 },
	.C_Initialize = cm_C_Initialize,
	.C_Finalize = cm_C_Finalize,
	.C_GetInfo = cm_C_GetInfo,
	.C_GetFunctionList = cm_C_GetFunctionList,
	.C_GetSlotList = cm_C_GetSlotList,
	.C_GetSlotInfo = cm_C_GetSlotInfo,
	.C_GetTokenInfo = cm_C_GetTokenInfo,
	.C_GetMechanismList = cm_C_GetMechanismList,
	.C_GetMechanismInfo = cm_C_GetMechanismInfo,
	.C_InitToken = cm_C_InitToken,
	.C_InitPIN = cm_C_InitPIN,
	.C_SetPIN = cm_C_SetPIN,
	.C_OpenSession = cm_C_OpenSession,
	.C_CloseSession = cm_C_CloseSession,
	.C_CloseAllSessions = cm_C_CloseAllSessions,
	.C_GetSessionInfo = cm_C_GetSessionInfo,
	.C_GetOperationState = cm_C_GetOperationState,
	.C_SetOperationState = cm_C_SetOperationState,
	.C_Login = cm_C_Login,
	.C_Logout = cm_C_Logout,
	.C_CreateObject = cm_C_CreateObject,
	.C_CopyObject = cm_C_CopyObject,
	.C_DestroyObject = cm_C_DestroyObject,
	.C_GetObjectSize = cm_C_GetObjectSize,
	.C_GetAttributeValue = cm_C_GetAttributeValue,
	.C_SetAttributeValue = cm_C_SetAttributeValue,
	.C_FindObjectsInit = cm_C_FindObjectsInit,
	.C_FindObjects = cm_C_FindObjects,
	.C_FindObjectsFinal = cm_C_FindObjectsFinal,
	.C_EncryptInit = cm_C_EncryptInit,
	.C_Encrypt = cm_C_Encrypt,
	.C_EncryptUpdate = cm_C_EncryptUpdate,
	.C_EncryptFinal = cm_C_EncryptFinal,
	.C_DecryptInit = cm_C_DecryptInit,
	.C_Decrypt = cm_C_Decrypt,
	.C_DecryptUpdate = cm_C_DecryptUpdate,
	.C_DecryptFinal = cm_C_DecryptFinal,
	.C_DigestInit = cm_C_DigestInit,
	.C_Digest = cm_C_Digest,
	.C_DigestUpdate = cm_C_DigestUpdate,
	.C_DigestKey = cm_C_DigestKey,
	.C_DigestFinal = cm_C_DigestFinal,
	.C_SignInit = cm_C_SignInit,
	.C_Sign = cm_C_Sign,
	.C_SignUpdate = cm_C_SignUpdate,
	.C_SignFinal = cm_C_SignFinal,
	.C_SignRecoverInit = cm_C_SignRecoverInit,
	.C_SignRecover = cm_C_SignRecover,
	.C_VerifyInit = cm_C_VerifyInit,
	.C_Verify = cm_C_Verify,
	.C_VerifyUpdate = cm_C_VerifyUpdate,
	.C_VerifyFinal = cm_C_VerifyFinal,
	.C_VerifyRecoverInit = cm_C_VerifyRecoverInit,
	.C_VerifyRecover = cm_C_VerifyRecover,
	.C_DigestEncryptUpdate = cm_C_DigestEncryptUpdate,
	.C_DecryptDigestUpdate = cm_C_DecryptDigestUpdate,
	.C_SignEncryptUpdate = cm_C_SignEncryptUpdate,
	.C_DecryptVerifyUpdate = cm_C_DecryptVerifyUpdate,
	.C_GenerateKey = cm_C_GenerateKey,
	.C_GenerateKeyPair = cm_C_GenerateKeyPair,
	.C_WrapKey = cm_C_WrapKey,
	.C_UnwrapKey = cm_C_UnwrapKey,
	.C_DeriveKey = cm_C_DeriveKey,
	.C_SeedRandom = cm_C_SeedRandom,
	.C_GenerateRandom = cm_C_GenerateRandom,
	.C_GetFunctionStatus = cm_C_GetFunctionStatus,
	.C_CancelFunction = cm_C_CancelFunction,
	.C_WaitForSlotEvent = cm_C_WaitForSlotEvent,
};

static CK_RV cm_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ret)
{
	if (!ret)
		return CKR_ARGUMENTS_BAD;
	*ret = &function_list;
	return CKR_OK;
}

/* PKCS#11 3.0 interface discovery: one interface, "PKCS 11", whose
 * function list is the 2.40 one above (its version field says 2.40, which
 * is how 3.0 clients know not to look for 3.0 functions). No
 * CKF_INTERFACE_FORK_SAFE: a forked child must call C_Initialize again. */
static CK_INTERFACE interfaces[] = {
	{ (CK_CHAR *)"PKCS 11", &function_list, 0 },
};

/* Exported; declared here because p11-kit's 2.40 header does not. */
CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ret) CM_EXPORT;
CK_RV C_GetInterfaceList(CK_INTERFACE *list, CK_ULONG_PTR count) CM_EXPORT;
CK_RV C_GetInterface(CK_UTF8CHAR_PTR name, CK_VERSION_PTR version, CK_INTERFACE **ret,
		     CK_FLAGS flags) CM_EXPORT;

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ret)
{
	return cm_C_GetFunctionList(ret);
}

CK_RV C_GetInterfaceList(CK_INTERFACE *list, CK_ULONG_PTR count)
{
	CK_ULONG n = ELEMENTSOF(interfaces);

	if (!count)
		return CKR_ARGUMENTS_BAD;
	if (!list) {
		*count = n;
		return CKR_OK;
	}
	if (*count < n) {
		*count = n;
		return CKR_BUFFER_TOO_SMALL;
	}
	memcpy(list, interfaces, sizeof(interfaces));
	*count = n;
	return CKR_OK;
}

CK_RV C_GetInterface(CK_UTF8CHAR_PTR name, CK_VERSION_PTR version, CK_INTERFACE **ret,
		     CK_FLAGS flags)
{
	CK_INTERFACE *itf = &interfaces[0];

	if (!ret)
		return CKR_ARGUMENTS_BAD;
	if (name && strcmp((const char *)name, (const char *)itf->pInterfaceName) != 0)
		return CKR_ARGUMENTS_BAD;
	if (version && (version->major != function_list.version.major ||
			version->minor != function_list.version.minor))
		return CKR_ARGUMENTS_BAD;
	if ((flags & itf->flags) != flags)
		return CKR_ARGUMENTS_BAD;
	*ret = itf;
	return CKR_OK;
}
