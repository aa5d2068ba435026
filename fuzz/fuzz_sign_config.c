/* Fuzz the sign.conf parser (libgit2's config syntax plus rombsr's closed
 * key set). The parser reads a path, so each input goes to a private
 * temporary file first. Whatever it accepts is fully resolved and
 * internally consistent. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void check_abs(const char *p, int required)
{
	if (!p) {
		if (required)
			abort();
		return;
	}
	if (p[0] != '/')
		abort();
}

static void check(const struct sign_config *c)
{
	if (c->version != SIGN_CONFIG_VERSION || !c->queue.url || !c->queue.branch)
		abort();
	check_abs(c->state_dir, 1);
	check_abs(c->manifest, 1);
	check_abs(c->audit_dir, 1);
	check_abs(c->hsm.pin_file, 0);
	if (c->queue.poll_seconds < 1 || c->queue.poll_seconds > 3600 ||
	    c->queue.max_request_bytes > SIGN_CONFIG_MAX_REQUEST_BYTES || c->hsm.max_sessions < 1)
		abort();
	for (size_t i = 0; i < c->n_nodes; i++) {
		const struct sign_node *n = &c->nodes[i];
		const struct sign_node *found = NULL;

		if (!sign_config_name_valid(n->name) || strlen(n->fingerprint) != SIGN_CONFIG_FPR_HEX)
			abort();
		check_abs(n->public_key, 1);
		if (!sign_config_find_fingerprint(c, n->fingerprint, &found, NULL) || found != n)
			abort();
	}
	for (size_t i = 0; i < c->n_approvers; i++)
		check_abs(c->approvers[i].public_key, 1);
	for (size_t i = 0; i < c->n_keys; i++) {
		const struct sign_key_policy *k = &c->keys[i];

		if (k->approvals < 1 || k->approvals > k->n_approvers)
			abort();
		for (size_t j = 0; j < k->n_approvers; j++)
			if (!sign_config_find_approver(c, k->approvers[j]))
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sign_config *c = NULL;
	FILE *f;

	if (!path[0]) {
		char dir[] = "/tmp/rombsr-fuzz-signconf-XXXXXX";

		if (!mkdtemp(dir))
			abort();
		snprintf(path, sizeof(path), "%s/sign.conf", dir);
	}
	if (!(f = fopen(path, "wb")) || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	if (sign_config_load(path, &c) != 0) {
		if (c)
			abort();
		return 0;
	}
	check(c);
	sign_config_free(c);
	return 0;
}
