/* SPDX-License-Identifier: MIT */
/* The byte-echo device of the unit tests (echo.h). */
#include <stddef.h>
#include <stdint.h>

#include "echo.h"

void vq_test_echo(const struct vq_elem *e)
{
	unsigned j = e->out_num, end = e->out_num + e->in_num;
	size_t pos = 0;

	for (unsigned i = 0; i < e->out_num; i++)
		for (size_t k = 0; k < e->iov[i].iov_len; k++) {
			while (j < end && pos >= e->iov[j].iov_len) {
				j++;
				pos = 0;
			}
			if (j == end)
				return;
			((uint8_t *)e->iov[j].iov_base)[pos++] = ((const uint8_t *)e->iov[i].iov_base)[k];
		}
}
