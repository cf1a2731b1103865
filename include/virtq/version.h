/* SPDX-License-Identifier: MIT */
/*
 * virtq version: the release this header belongs to, at compile time, and
 * the release of the library actually loaded, at run time.
 *
 * The shared library's soname is libvirtq.so.VQ_VERSION_MAJOR; symbols are
 * versioned by src/libvirtq.map.  Compare the two when a program must not
 * run against an older library than the one it was built with:
 *
 *	if (!vq_version_is_at_least(VQ_VERSION_MAJOR, VQ_VERSION_MINOR))
 *		fail("built against virtq %s, running %s", VQ_VERSION,
 *		     vq_version_string());
 */
#ifndef VIRTQ_VERSION_H
#define VIRTQ_VERSION_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VQ_VERSION_MAJOR 0
#define VQ_VERSION_MINOR 1
#define VQ_VERSION_PATCH 0
#define VQ_VERSION       "0.1.0"

/* One number that orders releases: VQ_VERSION_NUM(0, 1, 0) == 0x000100. */
#define VQ_VERSION_NUM(maj, min, pat) (((maj) << 16) | ((min) << 8) | (pat))
#define VQ_VERSION_CODE \
	VQ_VERSION_NUM(VQ_VERSION_MAJOR, VQ_VERSION_MINOR, VQ_VERSION_PATCH)

/* "MAJOR.MINOR.PATCH" of the library linked at run time.  Static storage. */
const char *vq_version_string(void);

/* True when the library linked at run time is release major.minor or later
 * (same major: a different major is a different ABI). */
bool vq_version_is_at_least(int major, int minor);

#ifdef __cplusplus
}
#endif

#endif
