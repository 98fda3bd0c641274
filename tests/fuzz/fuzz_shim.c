/*-------------------------------------------------------------------------
 *
 * fuzz_shim.c
 *	  Stand-ins for palloc, ereport and pqformat used by the fuzzing
 *	  harnesses; see fuzz_shim.h for the contract.  Only the functions the
 *	  harnessed production files call are provided: a call to anything else
 *	  fails at link time, never silently.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/memutils.h"

#include "fuzz_shim.h"

/* The server's printf family is pg_*; here libc's is enough. */
#undef vsnprintf
#undef snprintf
#undef fprintf

jmp_buf    *engram_fuzz_error_target = NULL;
int			engram_fuzz_last_sqlstate = 0;
char		engram_fuzz_last_message[256];

/* ------------------------------------------------------------------------
 * Memory: a doubly linked list of malloc'd blocks
 * ------------------------------------------------------------------------
 */
typedef struct FuzzBlock
{
	struct FuzzBlock *prev;
	struct FuzzBlock *next;
	Size		size;
	/* MAXALIGN'd user data follows */
} FuzzBlock;

#define FUZZ_HEADER MAXALIGN(sizeof(FuzzBlock))

static FuzzBlock *fuzz_blocks = NULL;

static void *
fuzz_alloc(Size size, bool zero)
{
	FuzzBlock  *block;

	if (!AllocSizeIsValid(size))
	{
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("invalid memory alloc request size %zu", size)));
	}
	block = zero ? calloc(1, FUZZ_HEADER + size) : malloc(FUZZ_HEADER + size);
	if (block == NULL)
		abort();
	block->size = size;
	block->prev = NULL;
	block->next = fuzz_blocks;
	if (fuzz_blocks)
		fuzz_blocks->prev = block;
	fuzz_blocks = block;
	return (char *) block + FUZZ_HEADER;
}

static FuzzBlock *
fuzz_block_of(void *pointer)
{
	return (FuzzBlock *) ((char *) pointer - FUZZ_HEADER);
}

static void
fuzz_unlink(FuzzBlock *block)
{
	if (block->prev)
		block->prev->next = block->next;
	else
		fuzz_blocks = block->next;
	if (block->next)
		block->next->prev = block->prev;
}

void *
palloc(Size size)
{
	return fuzz_alloc(size, false);
}

void *
palloc0(Size size)
{
	return fuzz_alloc(size, true);
}

void
pfree(void *pointer)
{
	FuzzBlock  *block = fuzz_block_of(pointer);

	fuzz_unlink(block);
	free(block);
}

void *
repalloc(void *pointer, Size size)
{
	FuzzBlock  *old = fuzz_block_of(pointer);
	void	   *copy = fuzz_alloc(size, false);

	memcpy(copy, pointer, Min(size, old->size));
	pfree(pointer);
	return copy;
}

char *
pstrdup(const char *in)
{
	Size		len = strlen(in);
	char	   *copy = palloc(len + 1);

	memcpy(copy, in, len + 1);
	return copy;
}

char *
psprintf(const char *fmt,...)
{
	va_list		args;
	int			len;
	char	   *result;

	va_start(args, fmt);
	len = vsnprintf(NULL, 0, fmt, args);
	va_end(args);
	result = palloc(len + 1);
	va_start(args, fmt);
	vsnprintf(result, len + 1, fmt, args);
	va_end(args);
	return result;
}

void
engram_fuzz_reset_memory(void)
{
	while (fuzz_blocks)
	{
		FuzzBlock  *next = fuzz_blocks->next;

		free(fuzz_blocks);
		fuzz_blocks = next;
	}
}

/* ------------------------------------------------------------------------
 * Error reporting
 * ------------------------------------------------------------------------
 */
static int	current_elevel;

static const char *sqlstate_text(int sql_state);

bool
errstart(int elevel, const char *domain)
{
	current_elevel = elevel;
	engram_fuzz_last_sqlstate = ERRCODE_INTERNAL_ERROR;
	engram_fuzz_last_message[0] = '\0';
	return true;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

int
errcode(int sqlerrcode)
{
	engram_fuzz_last_sqlstate = sqlerrcode;
	return 0;
}

/* Format like the server would, so that bad format arguments show up. */
static void
fuzz_format(char *buffer, Size size, const char *fmt, va_list args)
{
	vsnprintf(buffer, size, fmt, args);
}

int
errmsg(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	fuzz_format(engram_fuzz_last_message, sizeof(engram_fuzz_last_message), fmt, args);
	va_end(args);
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	fuzz_format(engram_fuzz_last_message, sizeof(engram_fuzz_last_message), fmt, args);
	va_end(args);
	return 0;
}

static int
fuzz_discard(const char *fmt, va_list args)
{
	char		buffer[1024];

	fuzz_format(buffer, sizeof(buffer), fmt, args);
	return 0;
}

/* errdetail, errdetail_internal, errhint: formatted (to catch bad formats), then dropped. */
#define FUZZ_DISCARDED_ERROR_FIELD(name) \
int \
name(const char *fmt,...) \
{ \
	va_list		args; \
\
	va_start(args, fmt); \
	fuzz_discard(fmt, args); \
	va_end(args); \
	return 0; \
}

FUZZ_DISCARDED_ERROR_FIELD(errdetail)
FUZZ_DISCARDED_ERROR_FIELD(errdetail_internal)
FUZZ_DISCARDED_ERROR_FIELD(errhint)

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	if (current_elevel < ERROR)
		return;
	if (engram_fuzz_error_target == NULL)
	{
		fprintf(stderr, "ereport(ERROR) outside ENGRAM_FUZZ_TRY at %s:%d\n", filename, lineno);
		abort();
	}
	longjmp(*engram_fuzz_error_target, 1);
}

void
engram_fuzz_require_sqlstate(const char *what, const int *allowed, int nallowed)
{
	for (int i = 0; i < nallowed; i++)
		if (engram_fuzz_last_sqlstate == allowed[i])
			return;
	fprintf(stderr, "%s: unexpected SQLSTATE %s: %s\n", what,
			sqlstate_text(engram_fuzz_last_sqlstate), engram_fuzz_last_message);
	abort();
}

/* The five-character SQLSTATE of a packed error code. */
static const char *
sqlstate_text(int sql_state)
{
	static char buffer[6];

	for (int i = 0; i < 5; i++)
	{
		buffer[i] = PGUNSIXBIT(sql_state);
		sql_state >>= 6;
	}
	buffer[5] = '\0';
	return buffer;
}

/* ------------------------------------------------------------------------
 * Wire format (pqformat) and encoding
 * ------------------------------------------------------------------------
 */
unsigned int
pq_getmsgint(StringInfo msg, int b)
{
	unsigned int result = 0;

	if (b < 1 || b > 4 || msg->cursor < 0 || b > msg->len - msg->cursor)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("insufficient data left in message")));
	for (int i = 0; i < b; i++)
		result = (result << 8) | (unsigned char) msg->data[msg->cursor + i];
	msg->cursor += b;
	return result;
}

float4
pq_getmsgfloat4(StringInfo msg)
{
	union
	{
		float4		f;
		uint32		i;
	}			swap;

	swap.i = pq_getmsgint(msg, 4);
	return swap.f;
}

void
enlargeStringInfo(StringInfo str, int needed)
{
	int			newlen;

	if (needed < 0 || (Size) needed >= MaxAllocSize - (Size) str->len)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("out of memory")));
	needed += str->len + 1;
	if (needed <= str->maxlen)
		return;
	newlen = 2 * str->maxlen;
	while (needed > newlen)
		newlen *= 2;
	str->data = repalloc(str->data, newlen);
	str->maxlen = newlen;
}

void
pq_begintypsend(StringInfo buf)
{
	buf->maxlen = 1024;
	buf->data = palloc(buf->maxlen);
	buf->len = VARHDRSZ;
	buf->cursor = 0;
	buf->data[buf->len] = '\0';
}

bytea *
pq_endtypsend(StringInfo buf)
{
	bytea	   *result = (bytea *) buf->data;

	SET_VARSIZE(result, buf->len);
	return result;
}

void
pq_sendfloat4(StringInfo buf, float4 f)
{
	union
	{
		float4		f;
		uint32		i;
	}			swap;

	swap.f = f;
	pq_sendint32(buf, swap.i);
}

int
pg_mblen(const char *mbstr)
{
	unsigned char c = (unsigned char) *mbstr;

	/* The harness runs in a UTF8 "database". */
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0)
		return 2;
	if ((c & 0xf0) == 0xe0)
		return 3;
	if ((c & 0xf8) == 0xf0)
		return 4;
	return 1;
}

/* Harness values are never TOASTed or short-headed, so nothing to do. */
struct varlena *
pg_detoast_datum(struct varlena *datum)
{
	if (VARATT_IS_EXTENDED(datum))
	{
		fprintf(stderr, "pg_detoast_datum called on an extended harness value\n");
		abort();
	}
	return datum;
}

int32 *
ArrayGetIntegerTypmods(ArrayType *arr, int *n)
{
	fprintf(stderr, "ArrayGetIntegerTypmods is not fuzzed\n");
	abort();
}
