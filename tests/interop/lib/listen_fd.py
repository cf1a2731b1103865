#!/usr/bin/env python3
# listen_fd.py PATH CMD ARG... - what libvirt does for a vhost-user backend:
# create a listening unix socket at PATH, then exec CMD with it inherited;
# every "{fd}" in the arguments becomes its number.
import os
import socket
import sys

path, argv = sys.argv[1], sys.argv[2:]
if os.path.lexists(path):
    os.unlink(path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(1)
fd = s.fileno()
os.set_inheritable(fd, True)
os.execv(argv[0], [a.replace("{fd}", str(fd)) for a in argv])
