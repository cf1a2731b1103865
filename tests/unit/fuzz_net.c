/* SPDX-License-Identifier: MIT */
/* Replays fuzz/corpus/net through fuzz/net.c (see tests/harness/fuzz_replay.h). */
#include "../../fuzz/net.c"

#define FUZZ_TARGET "net"
#include "../harness/fuzz_replay.h"
