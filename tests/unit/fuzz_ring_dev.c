/* SPDX-License-Identifier: MIT */
/* Replays fuzz/corpus/ring_dev through fuzz/ring_dev.c (see tests/harness/fuzz_replay.h). */
#include "../../fuzz/ring_dev.c"

#define FUZZ_TARGET "ring_dev"
#include "../harness/fuzz_replay.h"
