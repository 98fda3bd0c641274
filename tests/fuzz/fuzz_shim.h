/*-------------------------------------------------------------------------
 *
 * fuzz_shim.h
 *	  Test-only stand-ins for the few server facilities that the evector
 *	  I/O functions call (palloc family, ereport, pqformat, pg_mblen), so
 *	  that src/vector/vector_io.c can be compiled unchanged into a libFuzzer
 *	  harness.  Not part of the extension.
 *
 * Contract:
 *	- every palloc'd block is a separate malloc (AddressSanitizer sees its
 *	  exact bounds) and is freed by engram_fuzz_reset_memory();
 *	- an ereport(ERROR) longjmps to the target set with ENGRAM_FUZZ_TRY,
 *	  after recording its SQLSTATE in engram_fuzz_last_sqlstate (XX000 when
 *	  the report set no errcode, as in the server);
 *	- elog/ereport below ERROR are swallowed.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ENGRAM_FUZZ_SHIM_H
#define ENGRAM_FUZZ_SHIM_H

#include <setjmp.h>

extern jmp_buf *engram_fuzz_error_target;
extern int	engram_fuzz_last_sqlstate;
extern char engram_fuzz_last_message[256];

/* Free every block allocated through the palloc stand-ins. */
extern void engram_fuzz_reset_memory(void);

/* Abort (a fuzzer finding) unless sqlstate is one of the "allowed" list. */
extern void engram_fuzz_require_sqlstate(const char *what, const int *allowed, int nallowed);

#endif							/* ENGRAM_FUZZ_SHIM_H */
