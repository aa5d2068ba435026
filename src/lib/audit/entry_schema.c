/* The audit entry format as one table (audit-internal.h): what the tree
 * checker and the fast scanner both check against. */
#include <string.h>

#include "audit/audit-internal.h"

const struct audit_key_def audit_keys[AUDIT_KEY_COUNT] = {
#define KEY(n, k) { n, sizeof(n) - 1, k }
	[AUDIT_K_ACTOR] = KEY("actor", AUDIT_S_STR),
	[AUDIT_K_APPROVALS] = KEY("approvals", AUDIT_S_LIST),
	[AUDIT_K_ARTIFACT] = KEY("artifact", AUDIT_S_STR),
	[AUDIT_K_ARTIFACT_SHA256] = KEY("artifact_sha256", AUDIT_S_FPR),
	[AUDIT_K_BUILD_ID] = KEY("build_id", AUDIT_S_STR),
	[AUDIT_K_CONFIG_SHA256] = KEY("config_sha256", AUDIT_S_FPR),
	[AUDIT_K_DETAIL] = KEY("detail", AUDIT_S_STR),
	[AUDIT_K_DIGEST] = KEY("digest", AUDIT_S_DIGEST),
	[AUDIT_K_FORMAT] = KEY("format", AUDIT_S_FORMAT),
	[AUDIT_K_KEY] = KEY("key", AUDIT_S_STR),
	[AUDIT_K_KEY_FINGERPRINT] = KEY("key_fingerprint", AUDIT_S_FPR),
	[AUDIT_K_MANIFEST_SHA256] = KEY("manifest_sha256", AUDIT_S_FPR),
	[AUDIT_K_NEW_KEY] = KEY("new_key", AUDIT_S_STR),
	[AUDIT_K_NEW_KEY_FINGERPRINT] = KEY("new_key_fingerprint", AUDIT_S_FPR),
	[AUDIT_K_NODE] = KEY("node", AUDIT_S_NODE),
	[AUDIT_K_REASON] = KEY("reason", AUDIT_S_STR),
	[AUDIT_K_REQUEST_ID] = KEY("request_id", AUDIT_S_ID),
	[AUDIT_K_REQUEST_IDS] = KEY("request_ids", AUDIT_S_IDLIST),
	[AUDIT_K_ROLE] = KEY("role", AUDIT_S_STR),
	[AUDIT_K_SCHEME] = KEY("scheme", AUDIT_S_SCHEME),
	[AUDIT_K_SIGNATURE] = KEY("signature", AUDIT_S_SIG),
	[AUDIT_K_TIME] = KEY("time", AUDIT_S_TIME),
	[AUDIT_K_TOKEN] = KEY("token", AUDIT_S_STR),
	[AUDIT_K_TYPE] = KEY("type", AUDIT_S_TYPE),
	[AUDIT_K_VERSION] = KEY("version", AUDIT_S_VERSION),
#undef KEY
};

#define B(k) AUDIT_KEY_BIT(k)
#define COMMON (B(AUDIT_K_FORMAT) | B(AUDIT_K_TIME) | B(AUDIT_K_TYPE) | B(AUDIT_K_VERSION))

/* Per type: the allowed keys, then the required ones among them. */
static const struct audit_key_mask masks[] = {
	[AUDIT_SIGN] = {
		COMMON | B(AUDIT_K_APPROVALS) | B(AUDIT_K_ARTIFACT) | B(AUDIT_K_ARTIFACT_SHA256) | B(AUDIT_K_BUILD_ID) |
		B(AUDIT_K_DIGEST) | B(AUDIT_K_KEY) | B(AUDIT_K_KEY_FINGERPRINT) | B(AUDIT_K_NODE) | B(AUDIT_K_REQUEST_ID) |
		B(AUDIT_K_SCHEME) | B(AUDIT_K_SIGNATURE),
		COMMON | B(AUDIT_K_APPROVALS) | B(AUDIT_K_ARTIFACT) | B(AUDIT_K_ARTIFACT_SHA256) | B(AUDIT_K_BUILD_ID) |
		B(AUDIT_K_DIGEST) | B(AUDIT_K_KEY) | B(AUDIT_K_KEY_FINGERPRINT) | B(AUDIT_K_NODE) | B(AUDIT_K_REQUEST_ID) |
		B(AUDIT_K_SCHEME) | B(AUDIT_K_SIGNATURE),
	},
	[AUDIT_REJECT] = {
		COMMON | B(AUDIT_K_ARTIFACT) | B(AUDIT_K_BUILD_ID) | B(AUDIT_K_KEY) | B(AUDIT_K_NODE) | B(AUDIT_K_REASON) |
		B(AUDIT_K_REQUEST_ID),
		COMMON | B(AUDIT_K_REASON) | B(AUDIT_K_REQUEST_ID),
	},
#define KEY_EVENT { COMMON | B(AUDIT_K_ACTOR) | B(AUDIT_K_DETAIL) | B(AUDIT_K_KEY) | B(AUDIT_K_KEY_FINGERPRINT), \
		    COMMON | B(AUDIT_K_ACTOR) | B(AUDIT_K_KEY) | B(AUDIT_K_KEY_FINGERPRINT) }
	[AUDIT_KEYGEN] = KEY_EVENT,
	[AUDIT_IMPORT] = KEY_EVENT,
	[AUDIT_UNWRAP] = KEY_EVENT,
	[AUDIT_REVOKE] = KEY_EVENT,
#undef KEY_EVENT
	[AUDIT_ROTATE] = {
		COMMON | B(AUDIT_K_ACTOR) | B(AUDIT_K_DETAIL) | B(AUDIT_K_KEY) | B(AUDIT_K_KEY_FINGERPRINT) | B(AUDIT_K_NEW_KEY) |
		B(AUDIT_K_NEW_KEY_FINGERPRINT),
		COMMON | B(AUDIT_K_ACTOR) | B(AUDIT_K_KEY) | B(AUDIT_K_KEY_FINGERPRINT) | B(AUDIT_K_NEW_KEY) |
		B(AUDIT_K_NEW_KEY_FINGERPRINT),
	},
	[AUDIT_PROVISION] = {
		COMMON | B(AUDIT_K_ACTOR) | B(AUDIT_K_MANIFEST_SHA256) | B(AUDIT_K_TOKEN),
		COMMON | B(AUDIT_K_ACTOR) | B(AUDIT_K_MANIFEST_SHA256) | B(AUDIT_K_TOKEN),
	},
	[AUDIT_POLICY_CHANGE] = {
		COMMON | B(AUDIT_K_ACTOR) | B(AUDIT_K_CONFIG_SHA256),
		COMMON | B(AUDIT_K_ACTOR) | B(AUDIT_K_CONFIG_SHA256),
	},
	[AUDIT_LOGIN_FAILURE] = {
		COMMON | B(AUDIT_K_REASON) | B(AUDIT_K_ROLE) | B(AUDIT_K_TOKEN),
		COMMON | B(AUDIT_K_REASON) | B(AUDIT_K_ROLE) | B(AUDIT_K_TOKEN),
	},
	[AUDIT_INTENT] = {
		COMMON | B(AUDIT_K_KEY) | B(AUDIT_K_KEY_FINGERPRINT) | B(AUDIT_K_REQUEST_IDS),
		COMMON | B(AUDIT_K_KEY) | B(AUDIT_K_KEY_FINGERPRINT) | B(AUDIT_K_REQUEST_IDS),
	},
	[AUDIT_HSM_OUTAGE] = {
		COMMON | B(AUDIT_K_REASON) | B(AUDIT_K_TOKEN),
		COMMON | B(AUDIT_K_REASON) | B(AUDIT_K_TOKEN),
	},
};


int audit_key_lookup(const uint8_t *p, size_t n)
{
	int lo = 0, hi = AUDIT_KEY_COUNT;

	while (lo < hi) {
		int mid = (lo + hi) / 2;
		size_t kl = audit_keys[mid].len;
		int c = memcmp(p, audit_keys[mid].name, n < kl ? n : kl);

		if (c == 0)
			c = n < kl ? -1 : n > kl ? 1 : 0;
		if (c == 0)
			return mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}


int audit_key_rank(const char *key, size_t len)
{
	return audit_key_lookup((const uint8_t *)key, len);
}

struct audit_key_mask audit_key_masks_of(enum audit_event e)
{
	if ((size_t)e >= sizeof(masks) / sizeof(masks[0]))
		return (struct audit_key_mask){ 0, 0 };
	return masks[e];
}
