/* Fuzz the capture module's configuration parser. Whatever it accepts has
 * a valid build id and absolute paths (relative ones resolved against the
 * file's directory). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "capture/capture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_path(const char *p, int required)
{
	if (!p) {
		if (required)
			abort();
		return;
	}
	if (p[0] != '/')
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct capture_config *c = NULL;

	if (capture_config_parse((const char *)data, size, "/etc/rombsr/capture.json", &c) != 0) {
		if (c)
			abort();
		return 0;
	}
	if (!capture_build_id_valid(c->build_id) || !c->source)
		abort();
	check_path(c->manifest_path, 1);
	check_path(c->spool_dir, 1);
	check_path(c->log_path, 0);
	check_path(c->pin_file, 0);
	capture_config_free(c);
	return 0;
}
