/* SPDX-License-Identifier: MIT */
/*
 * virtq-vsock: the vsock device model (<virtq/vsock.h>) served over
 * vhost-user (vq_vu_serve), one thread: the vhost-user socket, the kick
 * fds and the model's host sockets share one epoll loop (loop.c).
 */
#ifndef VV_H
#define VV_H

#include <stdbool.h>
#include <stdint.h>

#include <virtq/vhost_user.h>

struct vv_loop;

/* An epoll loop with vq_vu_loop_ops for one backend, plus one extra fd
 * (the model's) that only wakes the loop. */
int vv_loop_new(int extra_fd, struct vv_loop **out);
void vv_loop_free(struct vv_loop *l);
const struct vq_vu_loop_ops *vv_loop_ops(void);
/* Wait up to timeout_ms and handle vhost-user events; returns the count
 * of events (the extra fd's included), or -errno. */
int vv_loop_run(struct vv_loop *l, int timeout_ms);

/* `virtq-vsock client`: the userspace driver (client.c). */
int vv_client_main(int argc, char **argv);
/* `virtq-vsock hostile`: a rule-breaking guest (hostile.c). */
int vv_hostile_main(int argc, char **argv);

#endif
