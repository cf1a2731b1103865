/* SPDX-License-Identifier: MIT */
/*
 * `virtq-vsock client`: the userspace vsock driver (not written yet).
 */
#include <stdio.h>

#include "vv.h"

int vv_client_main(int argc, char **argv)
{
	(void)argc, (void)argv;
	fprintf(stderr, "virtq-vsock client: not implemented yet\n");
	return 2;
}
