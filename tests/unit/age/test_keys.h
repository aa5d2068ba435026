/* Throwaway test keys made with ssh-keygen -t ed25519 (OpenSSH 9.2) for
 * the age unit tests, and a file the age 1.1.1 CLI encrypted to KEY1 with
 * `age -a -R`, so the ssh-ed25519 stanza is checked against the reference
 * implementation, not only against itself. */
#ifndef ROMBSR_TEST_AGE_KEYS_H
#define ROMBSR_TEST_AGE_KEYS_H

/* ssh-keygen -t ed25519 -N '' -C custodian-test */
static const char test_ssh_key1[] =
	"-----BEGIN OPENSSH PRIVATE KEY-----\n"
	"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
	"QyNTUxOQAAACC96P4vXUn7nN9zk+SsdBaYB4/+uwe6E8ox/xk74St+DwAAAJjlOMHo5TjB\n"
	"6AAAAAtzc2gtZWQyNTUxOQAAACC96P4vXUn7nN9zk+SsdBaYB4/+uwe6E8ox/xk74St+Dw\n"
	"AAAEBAM3yMsOwP6JWF2/ROMOgHmKaoqQKzsD/TA/tuXPOUub3o/i9dSfuc33OT5Kx0FpgH\n"
	"j/67B7oTyjH/GTvhK34PAAAADmN1c3RvZGlhbi10ZXN0AQIDBAUGBw==\n"
	"-----END OPENSSH PRIVATE KEY-----\n";
static const char test_ssh_key1_pub[] = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL3o/i9dSfuc33OT5Kx0FpgHj/67B7oTyjH/GTvhK34P custodian-test";
/* ssh-keygen -t ed25519 -N 'secret pass': must be refused */
static const char test_ssh_key2_encrypted[] =
	"-----BEGIN OPENSSH PRIVATE KEY-----\n"
	"b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABAoCglefL\n"
	"FzRPMMoMPsfQRwAAAAEAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAII7K5Du5Vt+eN7Xu\n"
	"fkRAsqNNEBVyJkwTo0sF+F7e9JVVAAAAkPVN3Cjb3+9chHWHqF4i/erUKEjQHgS6j5MdiU\n"
	"tfDs2M0szdjvDX6kcogVErkiPx54NV8hCVu81EPlSmMkKJ9WNWOhVGRZoLXsczmAtL9P9A\n"
	"zHzHVu24a+QXJR48lN3r8OcDLqXsvIoiSyosna1iyAhdr54YpVoeXp/CesU0fCq7VZeQEA\n"
	"1hwm80m/3wZiLtjg==\n"
	"-----END OPENSSH PRIVATE KEY-----\n";
/* printf 'share file for custodian 1\n' | age -a -R key1.pub */
static const char test_age_cli_to_key1[] =
	"-----BEGIN AGE ENCRYPTED FILE-----\n"
	"YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IHNzaC1lZDI1NTE5IHdGMUk1ZyBkc1U1\n"
	"WXNZRzNGNUJXZGV2cjJwa0p6NlFPcit4YjI5aWprQVRmTElBaW44Cjg3aFZNREJj\n"
	"b1NpV1NOMzFzcVNJQ3dpMmV1eGtwTnMxYTN4NXpBdEtFMmsKLS0tIGg5T0FkMUNT\n"
	"RGZYTDdvZC9FMVpITzlxNlk2WklmZ0NmL3RrazZUNzNJZDAKGZn4YG+pegrysYAN\n"
	"2QRCzYYpw00SdY7GRy519GGtNdcBF2hx4TeJMCQf5kpUVs7Ir8teUloq4gmtr5g=\n"
	"-----END AGE ENCRYPTED FILE-----\n";

#endif
