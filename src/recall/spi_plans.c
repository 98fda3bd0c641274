/*-------------------------------------------------------------------------
 *
 * spi_plans.c
 *	  Run the recall layer's SPI statements, keeping a backend-local cache
 *	  of prepared plans for the parameterised ones.
 *
 * Every statement the recall functions issue is built from quoted catalog
 * names and fixed fragments, so the same call on the same space produces
 * the same SQL text.  The cache maps (SQL text, parameter types) to a
 * saved SPIPlanPtr, which saves the parse and plan of every call.  It is
 * safe because PostgreSQL's plan cache revalidates saved plans: a plan is
 * re-parsed from its text when a table it uses changes or is dropped,
 * when search_path changes, and when the role or row-security environment
 * it was planned for changes (RLS).  The key includes the parameter type
 * OIDs, so a re-created extension (new evector OID) gets new plans.
 * Statements without parameters (DDL) are not cached.
 *
 * The cache lives in TopMemoryContext and holds at most
 * ENGRAM_PLAN_CACHE_MAX plans; when full it is emptied and starts again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "executor/spi.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "recall_internal.h"

#define ENGRAM_PLAN_CACHE_MAX 256

typedef struct CachedPlanBucket
{
	uint32		hash;			/* hash key: must be first */
	struct CachedPlanLink *plans;	/* statements sharing this hash */
} CachedPlanBucket;

typedef struct CachedPlanLink
{
	struct CachedPlanLink *next;
	char	   *sql;
	int			nargs;
	Oid		   *argtypes;
	SPIPlanPtr	plan;
} CachedPlanLink;

static HTAB *plan_cache = NULL;
static int	plan_count = 0;

static uint32
statement_hash(const char *sql, int nargs, const Oid *argtypes)
{
	uint32		hash = hash_bytes((const unsigned char *) sql, strlen(sql));

	return hash_combine(hash, hash_bytes((const unsigned char *) argtypes,
										 sizeof(Oid) * nargs));
}

static void
plan_cache_reset(void)
{
	HASH_SEQ_STATUS scan;
	CachedPlanBucket *bucket;

	if (plan_cache == NULL)
		return;
	hash_seq_init(&scan, plan_cache);
	while ((bucket = hash_seq_search(&scan)) != NULL)
	{
		for (CachedPlanLink *link = bucket->plans; link != NULL;)
		{
			CachedPlanLink *next = link->next;

			SPI_freeplan(link->plan);
			pfree(link->sql);
			pfree(link->argtypes);
			pfree(link);
			link = next;
		}
	}
	hash_destroy(plan_cache);
	plan_cache = NULL;
	plan_count = 0;
}

SPIPlanPtr
engram_spi_saved_plan(const char *sql, int nargs, Oid *argtypes)
{
	uint32		hash = statement_hash(sql, nargs, argtypes);
	CachedPlanBucket *bucket;
	CachedPlanLink *link;
	SPIPlanPtr	plan;
	bool		found;

	if (plan_cache != NULL && plan_count >= ENGRAM_PLAN_CACHE_MAX)
		plan_cache_reset();
	if (plan_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(uint32);
		ctl.entrysize = sizeof(CachedPlanBucket);
		ctl.hcxt = TopMemoryContext;
		plan_cache = hash_create("engram recall plans", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}

	bucket = hash_search(plan_cache, &hash, HASH_ENTER, &found);
	if (!found)
		bucket->plans = NULL;
	for (link = bucket->plans; link != NULL; link = link->next)
		if (link->nargs == nargs && strcmp(link->sql, sql) == 0 &&
			memcmp(link->argtypes, argtypes, sizeof(Oid) * nargs) == 0)
			return link->plan;

	plan = SPI_prepare(sql, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "engram: SPI_prepare failed (%s): %s",
			 SPI_result_code_string(SPI_result), sql);
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "engram: SPI_keepplan failed");

	link = MemoryContextAlloc(TopMemoryContext, sizeof(CachedPlanLink));
	link->sql = MemoryContextStrdup(TopMemoryContext, sql);
	link->nargs = nargs;
	link->argtypes = MemoryContextAlloc(TopMemoryContext, sizeof(Oid) * Max(nargs, 1));
	memcpy(link->argtypes, argtypes, sizeof(Oid) * nargs);
	link->plan = plan;
	link->next = bucket->plans;
	bucket->plans = link;
	plan_count++;
	return plan;
}

void
engram_spi_execute(const char *sql, int nargs, Oid *argtypes, Datum *values,
				   const char *nulls, bool read_only, int expected_rc)
{
	int			rc;

	if (nargs > 0)
		rc = SPI_execute_plan(engram_spi_saved_plan(sql, nargs, argtypes), values, nulls, read_only, 0);
	else
		rc = SPI_execute(sql, read_only, 0);
	if (rc != expected_rc)
		elog(ERROR, "engram: SPI statement failed (%s): %s", SPI_result_code_string(rc), sql);
}
