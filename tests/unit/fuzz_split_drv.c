/* SPDX-License-Identifier: MIT */
/* Replays fuzz/corpus/split_drv through fuzz/split_drv.c (see tests/harness/fuzz_replay.h). */
#include "../../fuzz/split_drv.c"

#define FUZZ_TARGET "split_drv"
#include "../harness/fuzz_replay.h"
