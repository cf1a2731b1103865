/* SPDX-License-Identifier: MIT */
/* Internals shared by the ring files.  Not installed. */
#ifndef VQ_RING_INTERNAL_H
#define VQ_RING_INTERNAL_H

#include <virtq/ring.h>

#include "ring/ring_wire.h"

#endif
