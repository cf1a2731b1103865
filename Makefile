# virtq - plain GNU Make.  `make`, `make check`, `make check SAN=1` (ASan+UBSan),
# `make check TSAN=1` (ThreadSanitizer, threaded suites), `make demo`.
# V=1 shows the command lines.  Sources are found by wildcard:
#   src/**/*.c          -> build/libvirtq.a, build/libvirtq.so
#   tools/common/*.c    -> build/libvq-tools.a (clock, parse, log, options, sockets;
#                          linked into every tool)
#   tools/NAME/*.c      -> build/bin/NAME
#   tests/harness/*.c   -> build/libvq-harness.a (test runner, vhost-user test peer;
#                          linked into every test program and virtq-hostile)
#   tests/unit/*.c      -> build/tests/NAME (one program per feature)
#   tests/interop/*.sh  -> run by `make check` after the unit tests

CC      ?= gcc
SAN     ?= 0
TSAN    ?= 0
O       ?= $(if $(filter 1,$(SAN)),build-san,$(if $(filter 1,$(TSAN)),build-tsan,build))

ifeq ($(V),1)
Q :=
else
Q := @
endif

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wpointer-arith -Wformat=2 -Wno-unused-parameter
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 $(WARN) -fPIC -pthread -Iinclude -Isrc -D_GNU_SOURCE
LDLIBS  += -pthread
# liburing (Debian liburing-dev): virtq-blk's io_uring engine and the 9p
# server's file I/O.  Found with pkg-config; without it (or with LIBURING=0)
# virtq-blk uses its thread pool and 9p preadv/pwritev.  `make check` and
# `make bench` install it first (tests/interop/lib/deps.sh need_liburing;
# VIRTQ_NO_INSTALL=1 stops that), as the tests install QEMU.
ifneq ($(filter check bench,$(MAKECMDGOALS)),)
_ := $(shell bash -c '. tests/interop/lib/deps.sh && need_liburing' >&2)
endif
LIBURING ?= $(if $(shell pkg-config --exists liburing 2>/dev/null && echo y),1,0)
ifeq ($(LIBURING),1)
CFLAGS  += -DVQ_HAVE_LIBURING $(shell pkg-config --cflags liburing)
LDLIBS  += $(shell pkg-config --libs liburing)
VQ_PC_REQUIRES := liburing
else
$(warning building without liburing (Debian: liburing-dev): virtq-blk uses its thread pool, the 9p server preadv/pwritev)
endif
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(TSAN),1)
CFLAGS  += -fsanitize=thread -fno-omit-frame-pointer -Wno-tsan
LDFLAGS += -fsanitize=thread
endif


LIB_SRCS   := $(sort $(shell find src -name '*.c' 2>/dev/null))
LIB_OBJS   := $(LIB_SRCS:%.c=$(O)/obj/%.o)
TOOL_DIRS  := $(filter-out tools/common/,$(sort $(dir $(wildcard tools/*/*.c))))
TOOLS      := $(patsubst tools/%/,$(O)/bin/%,$(TOOL_DIRS))
TOOLS_LIB  := $(O)/libvq-tools.a
TOOLS_OBJS := $(patsubst %.c,$(O)/obj/%.o,$(sort $(wildcard tools/common/*.c)))
TEST_SRCS  := $(sort $(wildcard tests/unit/*.c))
TESTS      := $(patsubst tests/unit/%.c,$(O)/tests/%,$(TEST_SRCS))
HARNESS    := $(O)/libvq-harness.a
HARNESS_OBJS := $(patsubst %.c,$(O)/obj/%.o,$(sort $(wildcard tests/harness/*.c)))

all: $(O)/libvirtq.a $(O)/libvirtq.so $(TOOLS)

$(O)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(O)/libvirtq.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

# libvirtq.so.MAJOR.MINOR.PATCH (soname libvirtq.so.MAJOR), and the two links
# a linker (-lvirtq) and the loader look for.  Version: include/virtq/version.h.
VQ_VER   := $(shell sed -n 's/^\#define VQ_VERSION *"\(.*\)"/\1/p' include/virtq/version.h)
VQ_SOMAJ := $(firstword $(subst ., ,$(VQ_VER)))
SONAME   := libvirtq.so.$(VQ_SOMAJ)

$(O)/libvirtq.so.$(VQ_VER): $(LIB_OBJS) src/libvirtq.map
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared $(LDFLAGS) -Wl,--version-script=src/libvirtq.map -Wl,-soname,$(SONAME) \
		-o $@ $(LIB_OBJS) $(LDLIBS)

$(O)/libvirtq.so: $(O)/libvirtq.so.$(VQ_VER)
	$(Q)ln -sf libvirtq.so.$(VQ_VER) $(O)/$(SONAME) && ln -sf $(SONAME) $@

$(TOOLS_LIB): $(TOOLS_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(HARNESS): $(HARNESS_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

# virtq-hostile plays a vhost-user peer with the tests' wire helpers.
$(O)/bin/virtq-hostile: TOOL_EXTRA := $(HARNESS)
$(O)/bin/virtq-hostile: $(HARNESS)

.SECONDEXPANSION:
$(O)/bin/%: $$(addprefix $(O)/obj/,$$(addsuffix .o,$$(basename $$(wildcard tools/$$*/*.c)))) $(TOOLS_LIB) $(O)/libvirtq.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(TOOL_EXTRA) $(TOOLS_LIB) $(O)/libvirtq.a $(LDLIBS)

$(O)/tests/%: $(O)/obj/tests/unit/%.o $(HARNESS) $(TOOLS_LIB) $(O)/libvirtq.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(HARNESS) $(TOOLS_LIB) $(O)/libvirtq.a $(LDLIBS)

tests: $(TESTS)

# Every test: unit programs, then the interop scripts.  Last line:
# "N passed, N failed, N skipped"; non-zero exit on any failure.
check: all tests
	$(Q)O=$(O) SAN=$(SAN) TSAN=$(TSAN) bash tests/run.sh $(T)

demo: all
	$(Q)O=$(O) bash tools/demo.sh

bench: all
	$(Q)O=$(O) bash bench/run.sh

clean:
	rm -rf build build-san build-tsan build-fuzz

.PHONY: all tests check demo bench clean

# ---- make install [PREFIX=/usr/local] [LIBDIR=...] [DESTDIR=...] -------------
# Headers, libvirtq.a, libvirtq.so.X.Y.Z with its soname and dev links,
# virtq.pc (pkg-config), the tools, and the vhost-user JSON descriptors that
# libvirt reads (share/qemu/vhost-user/*.json[.in], when the tree has them;
# @BINDIR@ becomes the installed tool directory).
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR    ?= $(PREFIX)/share
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
VU_JSON    := $(wildcard share/qemu/vhost-user/*.json share/qemu/vhost-user/*.json.in)

# virtq.pc is written at install time: its paths are this install's.
VQ_PC_SED  := -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VQ_VER)|' \
	-e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|' \
	-e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|' \
	-e 's|@REQUIRES_PRIVATE@|$(VQ_PC_REQUIRES)|'

install: all
	install -d $(DESTDIR)$(INCLUDEDIR)/virtq $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(BINDIR)
	install -m 644 include/virtq/*.h $(DESTDIR)$(INCLUDEDIR)/virtq/
	install -m 644 $(O)/libvirtq.a $(DESTDIR)$(LIBDIR)/
	install -m 755 $(O)/libvirtq.so.$(VQ_VER) $(DESTDIR)$(LIBDIR)/
	ln -sf libvirtq.so.$(VQ_VER) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libvirtq.so
	sed $(VQ_PC_SED) src/virtq.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/virtq.pc
	install -m 755 $(TOOLS) $(DESTDIR)$(BINDIR)/
ifneq ($(VU_JSON),)
	install -d $(DESTDIR)$(DATADIR)/qemu/vhost-user
	for f in $(VU_JSON); do \
		sed 's|@BINDIR@|$(BINDIR)|g' $$f \
			>$(DESTDIR)$(DATADIR)/qemu/vhost-user/$$(basename $$f .in) || exit 1; \
	done
endif

uninstall:
	rm -rf $(DESTDIR)$(INCLUDEDIR)/virtq
	rm -f $(DESTDIR)$(LIBDIR)/libvirtq.a $(DESTDIR)$(LIBDIR)/libvirtq.so* \
		$(DESTDIR)$(PKGCONFIGDIR)/virtq.pc \
		$(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(TOOLS))) \
		$(addprefix $(DESTDIR)$(DATADIR)/qemu/vhost-user/,$(notdir $(VU_JSON:.in=)))

.PHONY: install uninstall
.SECONDARY:
-include $(shell find $(O) -name '*.d' 2>/dev/null)

# The library alone, cross-built for aarch64 into build-aarch64/ (Debian
# gcc-aarch64-linux-gnu and its C library headers, libc6-dev-arm64-cross,
# installed when the compiler or the headers are missing: apt-get without
# recommends brings the compiler alone): nothing in src/ may be x86-only.
# Skips loudly when they cannot be had.
CROSS_AARCH64 ?= aarch64-linux-gnu-
cross-aarch64:
	$(Q)if ! { command -v $(CROSS_AARCH64)gcc >/dev/null && \
		   echo '#include <errno.h>' | $(CROSS_AARCH64)gcc -E -x c - >/dev/null 2>&1; } && \
	    ! bash -c '. tests/interop/lib/deps.sh && \
		       need_pkgs gcc-aarch64-linux-gnu libc6-dev-arm64-cross'; then \
		echo "SKIP cross-aarch64: $(CROSS_AARCH64)gcc or its C library not available" \
		     "(Debian gcc-aarch64-linux-gnu, libc6-dev-arm64-cross)"; \
	else \
		$(MAKE) --no-print-directory O=build-aarch64 CC=$(CROSS_AARCH64)gcc \
			AR=$(CROSS_AARCH64)ar LIBURING=0 build-aarch64/libvirtq.a build-aarch64/libvirtq.so && \
		echo "cross-aarch64: $$(file -bL build-aarch64/libvirtq.so | cut -d, -f1-2)"; \
	fi

# libFuzzer targets (clang): fuzz/NAME.c -> build-fuzz/NAME.  See docs/RELIABILITY.md.
fuzz:
	$(Q)V=$(V) bash fuzz/build.sh

fuzz-smoke:
	$(Q)V=$(V) bash fuzz/smoke.sh $(FUZZ_SECONDS)

# A long run over a corpus kept in build-fuzz/long (not in CI):
# make fuzz-long FUZZ_LONG_SECONDS=1800 FUZZ_JOBS=2
FUZZ_LONG_SECONDS ?= 600
FUZZ_JOBS ?= 1
fuzz-long:
	$(Q)V=$(V) bash fuzz/campaign.sh $(FUZZ_LONG_SECONDS) $(FUZZ_JOBS)

.PHONY: fuzz fuzz-smoke fuzz-long cross-aarch64
