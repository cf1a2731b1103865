/* SPDX-License-Identifier: MIT */
/*
 * virtq-vsock: the vsock device model (<virtq/vsock.h>) served over
 * vhost-user (vq_vu_serve), one thread: the vhost-user socket, the kick
 * fds and the model's epoll fd share the library's loop (vq_vu_loop_add_fd).
 */
#ifndef VV_H
#define VV_H

#include <stdbool.h>
#include <stdint.h>

#include <virtq/vhost_user.h>

/* `virtq-vsock client`: the userspace driver (client.c). */
int vv_client_main(int argc, char **argv);

#endif
