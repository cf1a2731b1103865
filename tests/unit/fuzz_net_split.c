/* SPDX-License-Identifier: MIT */
/* Replays fuzz/corpus/net_split through fuzz/net_split.c (see tests/harness/fuzz_replay.h). */
#include "../../fuzz/net_split.c"

#define FUZZ_TARGET "net_split"
#include "../harness/fuzz_replay.h"
