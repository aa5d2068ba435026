/* Shared between the files of src/lib/x509; not installed. */
#ifndef ROMBSR_X509_INTERNAL_H
#define ROMBSR_X509_INTERNAL_H

#include "x509/der.h"

/* Append the DER Name for a one-line subject (syntax in x509.h) to w.
 * On a syntax error the detail names the offset; w may then hold a partial
 * element, so the caller discards the writer. */
int x509_name_put(struct der_writer *w, const char *subject);

#endif
