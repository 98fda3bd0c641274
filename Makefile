# Makefile for the Engram PostgreSQL extension (PGXS).
#
# Sources are found by wildcard so that each subsystem (src/<subsystem>/,
# simd/) can add files without touching this file.  The install script is
# assembled from the ordered fragments in sql/install/.

EXTENSION    = engram
EXTVERSION   = 0.1.0
MODULE_big   = engram

SRCS         = $(sort $(wildcard src/*.c src/*/*.c simd/*.c))
OBJS         = $(SRCS:.c=.o)
ENGRAM_HEADERS  = $(sort $(wildcard src/*.h src/*/*.h simd/*.h))

INSTALL_SQL  = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA_built   = $(INSTALL_SQL)

# Regression tests: every sql/<name>.sql with an expected/<name>.out.
REGRESS      = $(sort $(basename $(notdir $(wildcard expected/*.out))))
REGRESS_OPTS = --inputdir=. --load-extension=$(EXTENSION)
ISOLATION    = $(sort $(basename $(notdir $(wildcard tests/isolation/specs/*.spec))))
ISOLATION_OPTS = --inputdir=tests/isolation --load-extension=$(EXTENSION)
TAP_TESTS    = 1
PROVE_TESTS  = tests/t/*.pl

PG_CPPFLAGS  = -I$(srcdir)/src -I$(srcdir)/simd -Wall -Wextra -Wno-unused-parameter \
               -Wno-missing-field-initializers -Wno-sign-compare
ifdef ENGRAM_WERROR
PG_CPPFLAGS += -Werror
endif
SHLIB_LINK   = -lzstd -lnuma -lm

EXTRA_CLEAN  = $(INSTALL_SQL) tests/simd/test_simd bench/simd_bench results regression.* tmp_check output_iso

PG_CONFIG   ?= pg_config
PGXS        := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(INSTALL_SQL): $(sort $(wildcard sql/install/*.sql))
	cat $^ > $@

# Every object depends on every header: the tree is small, and a stale
# object after a struct change is worse than a slower rebuild.
$(OBJS): $(ENGRAM_HEADERS)

# Standalone programs over the pure-C SIMD kernels (no server needed).
SIMD_SRCS = $(sort $(wildcard simd/*.c))
SIMD_PROG_CFLAGS = -O2 -g -Wall -Wextra -Werror -Isimd

tests/simd/test_simd: tests/simd/test_simd.c $(SIMD_SRCS) $(wildcard simd/*.h)
	$(CC) $(SIMD_PROG_CFLAGS) -o $@ tests/simd/test_simd.c $(SIMD_SRCS) -lm

bench/simd_bench: bench/simd_bench.c $(SIMD_SRCS) $(wildcard simd/*.h)
	$(CC) $(SIMD_PROG_CFLAGS) -o $@ bench/simd_bench.c $(SIMD_SRCS) -lm

.PHONY: simd-test simd-bench test quickstart stop-cluster
simd-test: tests/simd/test_simd
	./tests/simd/test_simd

simd-bench: bench/simd_bench
	./bench/simd_bench

# The two README commands, and the clean-up of the quickstart cluster.
test:
	bash scripts/test.sh
quickstart:
	bash scripts/quickstart.sh
stop-cluster:
	bash scripts/stop_cluster.sh
