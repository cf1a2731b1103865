/* SPDX-License-Identifier: MIT */
/* Replays fuzz/corpus/9p through fuzz/9p.c (see tests/harness/fuzz_replay.h). */
#include "../../fuzz/9p.c"

#define FUZZ_TARGET "9p"
#define FUZZ_REPLAY_DONE cleanup /* the scratch export fuzz/9p.c made */
#include "../harness/fuzz_replay.h"
