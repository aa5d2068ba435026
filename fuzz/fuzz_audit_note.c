/* libFuzzer target for the signed-note, checkpoint and verifier-key
 * parsers. Properties checked beyond memory safety: a parsed note's text
 * ends in a newline and every signature carries a key id; a parsed
 * checkpoint formats back to the same text when it has no extensions; no
 * note verifies against a fixed key (the fuzzer cannot forge Ed25519). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/note.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The C2SP example verifier key. */
static const char vkey[] = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct note_verifier *v;
	struct note *n = NULL;
	struct checkpoint *c = NULL;
	struct note_verifier *pv = NULL;
	char *s;

	if (!v && note_verifier_parse(vkey, &v) < 0)
		abort();
	if (note_parse(data, size, &n) == 0) {
		if (n->text_len == 0 || n->text[n->text_len - 1] != '\n' || n->n_sigs == 0)
			abort();
		if (checkpoint_parse(n->text, n->text_len, &c) == 0) {
			char *again = NULL;

			if (c->n_ext == 0) {
				if (checkpoint_format(c->origin, c->size, c->root, &again) < 0 ||
				    strlen(again) != n->text_len || memcmp(again, n->text, n->text_len) != 0)
					abort();
			}
			free(again);
			checkpoint_free(c);
		}
		note_free(n);
	}
	/* Only the real C2SP example note verifies (its seed is in the corpus). */
	if (note_verify(data, size, &v, 1, NULL) == 0) {
		static const char text[] = "This is an example message.\n";

		if (size < sizeof(text) - 1 || memcmp(data, text, sizeof(text) - 1) != 0)
			abort();
	}
	if (size < 1024 && (s = strndup((const char *)data, size))) {
		if (note_verifier_parse(s, &pv) == 0)
			note_verifier_free(pv);
		free(s);
	}
	return 0;
}
