# Builds and installs kvm-s390-shim as a C library:
#   make                      # cargo build --release, with the soname set
#   make install PREFIX=/usr/local [DESTDIR=...]
#   make uninstall PREFIX=/usr/local
# Installs $(LIBDIR)/libkvm_s390_shim.so.$(VERSION) (soname libkvm_s390_shim.so.$(MAJOR)) with
# the .so.$(MAJOR) and .so links, libkvm_s390_shim.a, $(INCLUDEDIR)/kvm_s390_shim.h,
# $(LIBDIR)/pkgconfig/kvm-s390-shim.pc and the command $(BINDIR)/kvm-s390-shim.
# NO_BUILD=1 BUILD_DIR=<dir> installs already built files from <dir> (used by the tests).

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
MAJOR := $(firstword $(subst ., ,$(VERSION)))
SONAME := libkvm_s390_shim.so.$(MAJOR)

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR ?=
CARGO ?= cargo
BUILD_DIR ?= $(or $(CARGO_TARGET_DIR),target)/release
# The system libraries the static library needs (rustc --print native-static-libs).
STATIC_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc

INSTALL ?= install

.PHONY: all build install uninstall

all: build

build:
ifeq ($(NO_BUILD),)
	$(CARGO) build --release --bin kvm-s390-shim
	# Last: this relinks the library with the soname (the command needs only the rlib).
	$(CARGO) rustc --release --lib -- -C link-arg=-Wl,-soname,$(SONAME)
endif

install: build
	$(INSTALL) -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	$(INSTALL) -m 755 $(BUILD_DIR)/libkvm_s390_shim.so $(DESTDIR)$(LIBDIR)/libkvm_s390_shim.so.$(VERSION)
	ln -sf libkvm_s390_shim.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libkvm_s390_shim.so
	$(INSTALL) -m 644 $(BUILD_DIR)/libkvm_s390_shim.a $(DESTDIR)$(LIBDIR)/libkvm_s390_shim.a
	$(INSTALL) -m 644 include/kvm_s390_shim.h $(DESTDIR)$(INCLUDEDIR)/kvm_s390_shim.h
	printf '%s\n' \
		'prefix=$(PREFIX)' \
		'libdir=$(LIBDIR)' \
		'includedir=$(INCLUDEDIR)' \
		'' \
		'Name: kvm-s390-shim' \
		'Description: KVM for s390x guests in userspace (the Linux KVM ioctl interface as a C library)' \
		'Version: $(VERSION)' \
		'Libs: -L$${libdir} -lkvm_s390_shim' \
		'Libs.private: $(STATIC_LIBS)' \
		'Cflags: -I$${includedir}' \
		> $(DESTDIR)$(PKGCONFIGDIR)/kvm-s390-shim.pc
	if [ -f $(BUILD_DIR)/kvm-s390-shim ]; then \
		$(INSTALL) -d $(DESTDIR)$(BINDIR) && \
		$(INSTALL) -m 755 $(BUILD_DIR)/kvm-s390-shim $(DESTDIR)$(BINDIR)/kvm-s390-shim; \
	fi

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libkvm_s390_shim.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME) \
		$(DESTDIR)$(LIBDIR)/libkvm_s390_shim.so $(DESTDIR)$(LIBDIR)/libkvm_s390_shim.a \
		$(DESTDIR)$(INCLUDEDIR)/kvm_s390_shim.h $(DESTDIR)$(PKGCONFIGDIR)/kvm-s390-shim.pc \
		$(DESTDIR)$(BINDIR)/kvm-s390-shim
