/* rombsr backup / rombsr restore: the names users look for, for the key
 * ceremony's `init` and `restore` (src/cli/cmd_ceremony.c). */
#include <stdlib.h>

#include "cli.h"

static int ceremony_as(const char *sub, int argc, char **argv)
{
	char **args = calloc((size_t)argc + 2, sizeof(*args));
	int rc;

	if (!args)
		return EXIT_INTERNAL;
	args[0] = (char *)"ceremony";
	args[1] = (char *)sub;
	for (int i = 1; i < argc; i++)
		args[i + 1] = argv[i];
	rc = cmd_ceremony(argc + 1, args);
	free(args);
	return rc;
}

int cmd_backup(int argc, char **argv)
{
	return ceremony_as("init", argc, argv);
}

int cmd_restore(int argc, char **argv)
{
	return ceremony_as("restore", argc, argv);
}
