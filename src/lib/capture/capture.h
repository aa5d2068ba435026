/* The capture PKCS#11 module's configuration
 * (docs/formats/capture-config.md). The request format the module writes
 * is request/capture_request.h.
 *
 * The configuration is untrusted: its parser is strict, capped and fuzzed
 * (fuzz/fuzz_capture_config.c).
 *
 * Ownership: capture_config_parse and capture_config_load return an object
 * the caller frees with capture_config_free (which accepts NULL).
 */
#ifndef ROMBSR_CAPTURE_CAPTURE_H
#define ROMBSR_CAPTURE_CAPTURE_H

#include <stddef.h>

#include "request/capture_request.h"

#define CAPTURE_CONFIG_FORMAT "rombsr-capture-config"
#define CAPTURE_CONFIG_VERSION 1

/* ---- configuration -----------------------------------------------------
 *
 * Sources, first match wins:
 *   1. ROMBSR_CAPTURE_CONFIG=<file>: a rombsr-capture-config JSON file;
 *   2. ROMBSR_CAPTURE_MANIFEST, ROMBSR_CAPTURE_SPOOL, ROMBSR_BUILD_ID
 *      (and optional ROMBSR_CAPTURE_LOG, ROMBSR_CAPTURE_PIN_FILE).
 * Relative paths in a config file are relative to the file's directory;
 * capture_config_load() makes every path absolute (against the current
 * directory for a relative ROMBSR_CAPTURE_CONFIG or variable), since tools
 * change directory after loading the module. Variables are read with
 * secure_getenv(). Errors name the variable or file and the fix:
 * RB_E_NOTFOUND a required variable unset or the file missing; RB_E_INVAL
 * a variable empty or ROMBSR_BUILD_ID invalid; RB_E_PARSE, RB_E_TOOBIG
 * (over 64 KiB) or RB_E_UNSUPPORTED (version) for the file. */
struct capture_config {
	char *manifest_path;
	char *spool_dir;
	char *build_id;
	char *log_path;        /* NULL: SPOOL/capture.log */
	char *pin_file;        /* NULL: any PIN is accepted */
	char *source;          /* "ROMBSR_CAPTURE_CONFIG=/path" or "environment" */
};
int capture_config_parse(const char *text, size_t len, const char *path,
			 struct capture_config **ret);
int capture_config_load(struct capture_config **ret);
void capture_config_free(struct capture_config *c);

#endif
