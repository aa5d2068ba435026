/* A test-only rb_signer backed by an OpenSSL private key in memory.
 * Production code never holds private keys; this exists so the formats
 * (X.509, OpenPGP) can be unit-tested without a token. */
#ifndef ROMBSR_TEST_SOFT_SIGNER_H
#define ROMBSR_TEST_SOFT_SIGNER_H

#include "crypto/signer.h"

/* Generate a fresh key ("rsa2048", "rsa4096", "p256", "ed25519") and fill
 * *s. Free with soft_signer_free(). */
int soft_signer_new(const char *kind, struct rb_signer *s);
void soft_signer_free(struct rb_signer *s);

#endif
