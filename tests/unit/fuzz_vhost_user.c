/* SPDX-License-Identifier: MIT */
/* Replays fuzz/corpus/vhost_user through fuzz/vhost_user.c (see tests/harness/fuzz_replay.h). */
#include "../../fuzz/vhost_user.c"

#define FUZZ_TARGET "vhost_user"
#include "../harness/fuzz_replay.h"
