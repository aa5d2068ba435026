#include "keys/keyspec.h"

/* The default key set: ten Android keys (APK, AVB, OTA), one OpenPGP
 * release key for packages, the queue and audit keys. Android keys follow AOSP's make_key subjects; the
 * validity matches AOSP's default of 10,000 days or more because platform
 * certificates cannot be replaced on shipped devices. They have the one
 * purpose apk: the sign node then signs with them only apksigner's
 * structures naming their certificate (request_capture_structure_check);
 * with raw-detached as well they would sign node-chosen digests, capture
 * requests included (docs/formats/request.md, "What the sign node
 * checks"). */
#define ANDROID_SUBJECT "/C=US/ST=California/L=Mountain View/O=Android/OU=Android/CN=Android/emailAddress=android@android.com"
#define ANDROID_KEY(n, p, pp)                                                          \
	"    {\"name\": \"" n "\", \"algorithm\": \"rsa-4096\", \"purpose\": \"" p "\",\n" \
	"     \"purposes\": [" pp "],\n"                                                     \
	"     \"subject\": \"" ANDROID_SUBJECT "\", \"validity_days\": 10950},\n"

static const char default_text[] =
	"{\n"
	"  \"format\": \"rombsr-keyspec\",\n"
	"  \"version\": 2,\n"
	"  \"keys\": [\n"
	ANDROID_KEY("platform", "android", "\"apk\"")
	ANDROID_KEY("media", "android", "\"apk\"")
	ANDROID_KEY("shared", "android", "\"apk\"")
	ANDROID_KEY("networkstack", "android", "\"apk\"")
	ANDROID_KEY("sdk_sandbox", "android", "\"apk\"")
	ANDROID_KEY("bluetooth", "android", "\"apk\"")
	ANDROID_KEY("testkey", "android", "\"apk\"")
	ANDROID_KEY("avb_root", "avb", "\"avb\"")
	ANDROID_KEY("avb_intermediate", "avb", "\"avb\"")
	/* An OTA payload is signed as a digest (payload and metadata hashes,
	 * delta_generator's raw signatures), so the OTA key also signs raw
	 * requests; it has no OpenPGP identity such a digest could touch. */
	ANDROID_KEY("ota_key", "ota", "\"ota\", \"raw-detached\"")
	/* Packages and repository databases: OpenPGP only, so that no digest a
	 * build node chooses is ever signed by it (keys/purpose.h). */
	"    {\"name\": \"release\", \"algorithm\": \"rsa-4096\", \"purpose\": \"packages\",\n"
	"     \"purposes\": [\"openpgp-detached\"],\n"
	"     \"subject\": \"/O=rombsr/CN=rombsr release key\", \"validity_days\": 3650,\n"
	"     \"openpgp_uid\": \"rombsr release key <release@rombsr.invalid>\"},\n"
	"    {\"name\": \"queue\", \"algorithm\": \"ed25519\", \"purpose\": \"queue\",\n"
	"     \"purposes\": [\"queue-response\"],\n"
	"     \"subject\": \"/O=rombsr/CN=rombsr signing queue\", \"validity_days\": 3650,\n"
	"     \"openpgp_uid\": \"rombsr signing queue <queue@rombsr.invalid>\"},\n"
	"    {\"name\": \"audit\", \"algorithm\": \"ed25519\", \"purpose\": \"audit\",\n"
	"     \"purposes\": [\"audit-checkpoint\"],\n"
	"     \"subject\": \"/O=rombsr/CN=rombsr audit log\", \"validity_days\": 3650}\n"
	"  ]\n"
	"}\n";

const char *keyspec_default_text(void)
{
	return default_text;
}

int keyspec_default(struct keyspec **ret)
{
	return keyspec_parse(default_text, sizeof(default_text) - 1, "built-in key spec", ret);
}
