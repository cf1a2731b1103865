/* SPDX-License-Identifier: MIT */
/* Replays fuzz/corpus/blk through fuzz/blk.c (see tests/harness/fuzz_replay.h). */
#include "../../fuzz/blk.c"

#define FUZZ_TARGET "blk"
#include "../harness/fuzz_replay.h"
