/* SPDX-License-Identifier: MIT */
/* The byte-echo device of the unit tests: what a trivial device does with a chain. */
#ifndef VQ_TEST_ECHO_H
#define VQ_TEST_ECHO_H

#include <virtq/ring.h>

/* Copy e's readable bytes, in order, into its writable part (as far as it
 * goes; what does not fit is dropped).  Touches only e's iovecs. */
void vq_test_echo(const struct vq_elem *e);

#endif
