/* GF(256) arithmetic for SLIP-0039 without secret-indexed tables: share
 * bytes are secret, and a log/exp table lookup indexed by them would leak
 * through the cache. */
#include "slip39/slip39-internal.h"

#include "util/secret.h"

uint8_t slip39_gf_mul(uint8_t a, uint8_t b)
{
	uint8_t r = 0;
	int i;

	for (i = 0; i < 8; i++) {
		/* mask is 0xFF when the low bit of b is set, without a branch */
		uint8_t mask = (uint8_t)-(b & 1);
		uint8_t carry = (uint8_t)-(a >> 7);

		r ^= a & mask;
		a = (uint8_t)((a << 1) ^ (0x1B & carry));
		b >>= 1;
	}
	return r;
}

/* a^254 = a^-1 (and 0 for 0), by square-and-multiply with a fixed chain. */
uint8_t slip39_gf_inv(uint8_t a)
{
	uint8_t a2 = slip39_gf_mul(a, a);
	uint8_t a4 = slip39_gf_mul(a2, a2);
	uint8_t a8 = slip39_gf_mul(a4, a4);
	uint8_t a16 = slip39_gf_mul(a8, a8);
	uint8_t a32 = slip39_gf_mul(a16, a16);
	uint8_t a64 = slip39_gf_mul(a32, a32);
	uint8_t a128 = slip39_gf_mul(a64, a64);
	uint8_t r = slip39_gf_mul(a128, a64);

	r = slip39_gf_mul(r, a32);
	r = slip39_gf_mul(r, a16);
	r = slip39_gf_mul(r, a8);
	r = slip39_gf_mul(r, a4);
	return slip39_gf_mul(r, a2);
}

void slip39_interpolate(const struct slip39_point *pts, size_t n, size_t len, uint8_t x,
			uint8_t *out)
{
	size_t i, j, k;

	for (k = 0; k < len; k++)
		out[k] = 0;
	for (i = 0; i < n; i++) {
		/* Lagrange basis l_i(x) = prod (x - x_j) / (x_i - x_j); the x
		 * values are public, but computing it the same constant-time
		 * way costs nothing at these sizes. */
		uint8_t num = 1, den = 1, basis;

		for (j = 0; j < n; j++) {
			if (j == i)
				continue;
			num = slip39_gf_mul(num, (uint8_t)(x ^ pts[j].x));
			den = slip39_gf_mul(den, (uint8_t)(pts[i].x ^ pts[j].x));
		}
		basis = slip39_gf_mul(num, slip39_gf_inv(den));
		for (k = 0; k < len; k++)
			out[k] ^= slip39_gf_mul(pts[i].y[k], basis);
	}
}
