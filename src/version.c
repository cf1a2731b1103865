/* SPDX-License-Identifier: MIT */
/* The release of the library that is loaded (see <virtq/version.h>). */
#include <virtq/version.h>

const char *vq_version_string(void)
{
	return VQ_VERSION;
}

bool vq_version_is_at_least(int major, int minor)
{
	return major == VQ_VERSION_MAJOR && minor <= VQ_VERSION_MINOR;
}
