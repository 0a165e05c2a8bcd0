# Messenger: one Makefile for the whole tree.
#   make            build everything (release: -O2 -g, warnings are errors)
#   make run        install what is missing, build, start the local stack, print the URL
#   make stop       stop what `make run` started
#   make check      C unit tests only (fast edit loop)
#   make test       everything: unit, API, browser, and the API suite again under ASan/UBSan
#   make bench      benchmarks (not part of make test)
#   make deps       install missing Debian packages (as root; quiet when all present)

CC      ?= gcc
PKGS    := libmariadb libmemcached json-c libjwt libsodium libcrypto libcurl
CFLAGS_BASE := -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
	-Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral -Ilib -pthread
CFLAGS  ?= -O2 -g
# Expanded when used, not when read: on a new machine `make run` installs
# pkg-config and the -dev packages (deps) after this file was read.
LDLIBS   = -lfcgi -lunistring $(shell pkg-config --libs $(PKGS) 2>/dev/null) -pthread -lm
CPPFLAGS += $(shell pkg-config --cflags $(PKGS) 2>/dev/null)

# BUILD=asan gives the sanitizer build in build/asan with the same layout.
BUILD   ?= release
ifeq ($(BUILD),asan)
CFLAGS  := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
OUT     := build/$(BUILD)

LIB_SRC := $(sort $(wildcard lib/*/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(OUT)/%.o)
BINS    := $(OUT)/cgi-bin/api.fcgi $(OUT)/cgi-bin/events.fcgi $(OUT)/cron/sweeper
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:%.c=$(OUT)/%)

.PHONY: all deps run stop check test test-api bench bench-bin clean asan
.SECONDARY:
all: $(BINS)
	@mkdir -p cgi-bin cron
	@for b in $(BINS); do ln -sf ../$$b $${b#$(OUT)/}; done

asan:
	@$(MAKE) --no-print-directory BUILD=asan build/asan/cgi-bin/api.fcgi \
		build/asan/cgi-bin/events.fcgi build/asan/cron/sweeper

$(OUT)/lib/libmessenger.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	@$(AR) rcs $@ $^

$(OUT)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS_BASE) $(CFLAGS) -MMD -MP -c $< -o $@

$(OUT)/cgi-bin/%.fcgi: $(OUT)/cgi-bin/%.o $(OUT)/lib/libmessenger.a
	@echo "  LD $@"
	@$(CC) $(LDFLAGS) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(OUT)/cron/%: $(OUT)/cron/%.o $(OUT)/lib/libmessenger.a
	@echo "  LD $@"
	@$(CC) $(LDFLAGS) $(CFLAGS) $^ -o $@ $(LDLIBS)

# A unit test may #include the .c it tests to reach its statics; the archive then
# supplies only the objects the test does not define itself.
$(OUT)/tests/unit/%: tests/unit/%.c $(OUT)/lib/libmessenger.a tests/check.h
	@mkdir -p $(@D)
	@echo "  LD $@"
	@$(CC) $(CPPFLAGS) $(CFLAGS_BASE) $(CFLAGS) -Wno-missing-prototypes -Itests -MMD -MP -MF $@.d $< -o $@ $(OUT)/lib/libmessenger.a $(LDLIBS)

# Benchmark programs (make bench): the load client and the floors.
BENCH_DIR := $(OUT)/tests/bench
BENCH_BIN := $(BENCH_DIR)/load $(BENCH_DIR)/floor_fcgi $(BENCH_DIR)/floor_insert $(BENCH_DIR)/floor_disk
BENCH_CFLAGS = $(CPPFLAGS) $(CFLAGS_BASE) $(CFLAGS) -Itests/bench

bench-bin: $(BENCH_BIN)

$(BENCH_DIR)/load: tests/bench/load.c tests/bench/client.c tests/bench/host.c tests/bench/bench.h
	@mkdir -p $(@D)
	@echo "  LD $@"
	@$(CC) $(BENCH_CFLAGS) $(filter %.c,$^) -o $@ $(shell pkg-config --libs json-c) -pthread

$(BENCH_DIR)/floor_fcgi: tests/bench/floor_fcgi.c
	@mkdir -p $(@D)
	@echo "  LD $@"
	@$(CC) $(BENCH_CFLAGS) $< -o $@ -lfcgi -pthread

$(BENCH_DIR)/floor_insert: tests/bench/floor_insert.c tests/bench/client.c tests/bench/bench.h
	@mkdir -p $(@D)
	@echo "  LD $@"
	@$(CC) $(BENCH_CFLAGS) $(filter %.c,$^) -o $@ $(shell pkg-config --libs libmariadb) -pthread

$(BENCH_DIR)/floor_disk: tests/bench/floor_disk.c tests/bench/client.c tests/bench/host.c tests/bench/bench.h
	@mkdir -p $(@D)
	@echo "  LD $@"
	@$(CC) $(BENCH_CFLAGS) $(filter %.c,$^) -o $@ -pthread

check: $(UNIT_BIN)
	@pass=0; fail=0; for t in $(UNIT_BIN); do \
		if $$t; then pass=$$((pass+1)); else fail=$$((fail+1)); echo "FAILED: $$t"; fi; done; \
		echo "unit: $$pass passed, $$fail failed"; test $$fail -eq 0

deps:
	@scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@scripts/stack.sh start

stop:
	@scripts/stack.sh stop

test:
	@scripts/deps.sh --test
	@scripts/test.sh

bench: deps all bench-bin
	@scripts/bench.sh

clean:
	rm -rf build cgi-bin/*.fcgi cron/sweeper

-include $(LIB_OBJ:.o=.d) $(wildcard $(OUT)/cgi-bin/*.d $(OUT)/cron/*.d $(OUT)/tests/unit/*.d)
