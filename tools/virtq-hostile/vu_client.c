/* SPDX-License-Identifier: MIT */
/* The shared test-peer wire helpers (tests/harness/vu_client.c), compiled
 * into this tool: the Makefile builds a tool from tools/NAME/ only. */
#include "../../tests/harness/vu_client.c"
