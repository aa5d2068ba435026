/* The RS1024 checksum of SLIP-0039: a Reed-Solomon code over GF(1024)
 * with the customisation string ("shamir" or "shamir_extendable") mixed in
 * first, so shares of the two kinds never validate as each other. */
#include "slip39/slip39-internal.h"

#include <string.h>

static uint32_t rs1024_step(uint32_t chk, uint32_t v)
{
	static const uint32_t gen[10] = {
		0xE0E040,   0x1C1C080,  0x3838100,  0x7070200,  0xE0E0009,
		0x1C0C2412, 0x38086C24, 0x3090FC48, 0x21B1F890, 0x3F3F120,
	};
	uint32_t b = chk >> 20;
	int i;

	chk = ((chk & 0xFFFFF) << 10) ^ v;
	for (i = 0; i < 10; i++)
		chk ^= gen[i] & (uint32_t)-((b >> i) & 1);
	return chk;
}

static uint32_t rs1024_polymod(const uint16_t *data, size_t n, bool extendable, size_t zeros)
{
	const char *cs = extendable ? "shamir_extendable" : "shamir";
	uint32_t chk = 1;
	size_t i;

	for (i = 0; cs[i]; i++)
		chk = rs1024_step(chk, (uint8_t)cs[i]);
	for (i = 0; i < n; i++)
		chk = rs1024_step(chk, data[i]);
	for (i = 0; i < zeros; i++)
		chk = rs1024_step(chk, 0);
	return chk;
}

void slip39_rs1024_create(const uint16_t *data, size_t n, bool extendable, uint16_t ret[3])
{
	uint32_t p = rs1024_polymod(data, n, extendable, 3) ^ 1;
	int i;

	for (i = 0; i < 3; i++)
		ret[i] = (uint16_t)((p >> (10 * (2 - i))) & 1023);
}

bool slip39_rs1024_verify(const uint16_t *data, size_t n, bool extendable)
{
	return rs1024_polymod(data, n, extendable, 0) == 1;
}
