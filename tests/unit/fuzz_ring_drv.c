/* SPDX-License-Identifier: MIT */
/* Replays fuzz/corpus/ring_drv through fuzz/ring_drv.c (see tests/harness/fuzz_replay.h). */
#include "../../fuzz/ring_drv.c"

#define FUZZ_TARGET "ring_drv"
#include "../harness/fuzz_replay.h"
