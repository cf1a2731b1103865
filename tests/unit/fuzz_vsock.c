/* SPDX-License-Identifier: MIT */
/* Replays fuzz/corpus/vsock through fuzz/vsock.c (see tests/harness/fuzz_replay.h). */
#include "../../fuzz/vsock.c"

#define FUZZ_TARGET "vsock"
#include "../harness/fuzz_replay.h"
