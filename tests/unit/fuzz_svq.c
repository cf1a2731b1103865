/* SPDX-License-Identifier: MIT */
/* Replays fuzz/corpus/svq through fuzz/svq.c (see tests/harness/fuzz_replay.h). */
#include "../../fuzz/svq.c"

#define FUZZ_TARGET "svq"
#include "../harness/fuzz_replay.h"
