/*-------------------------------------------------------------------------
 *
 * space_cache.c
 *	  A backend-local cache of resolved memory spaces: what
 *	  engram_space_resolve() reads from the space catalog and the system
 *	  catalogs, and what the direct readers (memory_reader.c) need to know
 *	  about the structure of the two tables, keyed by the space table's OID.
 *
 * Without it every call of every Engram function ran an SPI statement on
 * engram_space_catalog and a dozen syscache lookups, and every depth of
 * spreading searched the tables' index lists again.  An entry holds
 * nothing that depends on the caller: privileges and row-level security
 * are checked on every call by the statements and readers that use it.
 *
 * Invalidation (so that an entry is never used after what it was built
 * from changed):
 *	- relcache invalidation of the space table or of its association table
 *	  (ALTER TABLE, DROP, RENAME, CREATE or DROP INDEX, a new inheritance
 *	  child: each of these invalidates the table's relcache entry) drops the
 *	  entry; invalidation of every relation (InvalidOid) drops them all;
 *	- relcache invalidation of engram_space_catalog drops them all: its
 *	  rows change only through statements that fire the trigger
 *	  engram_space_catalog_changed (40_recall.sql), which registers that
 *	  invalidation, sent to every backend at commit and applied in the
 *	  writing backend at its next command (and on abort);
 *	- syscache invalidation of pg_namespace (a schema renamed: the quoted
 *	  qualified names) drops them all.
 * A backend applies invalidations when it locks a relation it did not hold
 * yet; engram_space_resolve() locks the space table before looking here.
 * A missing entry is built with a snapshot taken after that lock, so that
 * a catalog change whose invalidation was already applied is seen (the
 * catalog is read like PostgreSQL's own catalogs: latest committed state,
 * not the transaction's snapshot).
 *
 * Memory: entries live in a child of CacheMemoryContext; callers get
 * copies in their own context (an invalidation during a call may drop
 * the entry).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "utils/catcache.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "recall_internal.h"

PG_FUNCTION_INFO_V1(engram_space_catalog_changed);

typedef struct SpaceCacheEntry
{
	Oid			relid;			/* hash key: must be first */
	Oid			catalog_relid;	/* engram_space_catalog it was read from */
	EngramSpace space;			/* strings in space_cache_context */
} SpaceCacheEntry;

static HTAB *space_cache = NULL;
static MemoryContext space_cache_context = NULL;
static bool callbacks_registered = false;

static void
space_cache_flush(void)
{
	if (space_cache == NULL)
		return;
	hash_destroy(space_cache);
	space_cache = NULL;
	MemoryContextReset(space_cache_context);
}

static void
space_cache_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS scan;
	SpaceCacheEntry *entry;
	bool		flush_all = !OidIsValid(relid);

	if (space_cache == NULL)
		return;
	if (!flush_all)
	{
		hash_seq_init(&scan, space_cache);
		while ((entry = hash_seq_search(&scan)) != NULL)
		{
			if (entry->catalog_relid == relid)
				flush_all = true;
			else if (entry->relid == relid || entry->space.assoc_relid == relid)
				(void) hash_search(space_cache, &entry->relid, HASH_REMOVE, NULL);
		}
	}
	/* Strings of removed entries stay until the next flush: a few bytes. */
	if (flush_all)
		space_cache_flush();
}

static void
space_cache_syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	space_cache_flush();
}

static void
space_cache_register_callbacks(void)
{
	if (callbacks_registered)
		return;
	CacheRegisterRelcacheCallback(space_cache_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, space_cache_syscache_callback, (Datum) 0);
	callbacks_registered = true;
}

static char *
copy_string(const char *value)
{
	return value != NULL ? pstrdup(value) : NULL;
}

/* Copy "from" into "to", strings palloc'd in the current memory context. */
static void
space_copy(EngramSpace *to, const EngramSpace *from)
{
	*to = *from;
	to->qualified_name = copy_string(from->qualified_name);
	to->assoc_qualified_name = copy_string(from->assoc_qualified_name);
	to->operator_schema = copy_string(from->operator_schema);
	to->text_config_literal = copy_string(from->text_config_literal);
}

bool
engram_space_cache_lookup(Oid relid, Oid extension_namespace, EngramSpace *space)
{
	SpaceCacheEntry *entry;

	if (space_cache == NULL)
		return false;
	entry = hash_search(space_cache, &relid, HASH_FIND, NULL);
	if (entry == NULL || entry->space.operator_namespace != extension_namespace)
		return false;
	space_copy(space, &entry->space);
	return true;
}

void
engram_space_cache_store(const EngramSpace *space, Oid catalog_relid)
{
	SpaceCacheEntry *entry;
	MemoryContext old;

	space_cache_register_callbacks();
	if (space_cache_context == NULL)
		space_cache_context = AllocSetContextCreate(CacheMemoryContext,
													"engram space cache",
													ALLOCSET_SMALL_SIZES);
	if (space_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(SpaceCacheEntry);
		ctl.hcxt = space_cache_context;
		space_cache = hash_create("engram space cache", 16, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	old = MemoryContextSwitchTo(space_cache_context);
	entry = hash_search(space_cache, &space->relid, HASH_ENTER, NULL);
	entry->catalog_relid = catalog_relid;
	space_copy(&entry->space, space);
	MemoryContextSwitchTo(old);
}

/*
 * engram_space_catalog_changed() RETURNS trigger: statement-level trigger
 * of engram_space_catalog (every INSERT, UPDATE, DELETE and TRUNCATE) that
 * makes every backend drop its cached spaces (see the header).
 */
Datum
engram_space_catalog_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("engram_space_catalog_changed() must be called as a trigger")));
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}
