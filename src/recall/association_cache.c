/*-------------------------------------------------------------------------
 *
 * association_cache.c
 *	  The backend's cache of the associations leaving a memory, as
 *	  engram_association_reader_fetch() reads them, with the answers of the
 *	  walk it replaces for every snapshot it is used with.
 *
 * An entry, keyed by (association table, src), holds the (dst, weight)
 * list the reader's walk returned for src.  Whether a list read under one
 * snapshot is the list another snapshot would read depends on the
 * transactions that changed the table in between; they are tracked per
 * table without reading anything:
 *
 *	- Writers announce themselves.  engram_create_space gives its association
 *	  table two internal triggers calling engram_association_changed(): an
 *	  AFTER ... FOR EACH STATEMENT one on INSERT, UPDATE, DELETE and
 *	  TRUNCATE, firing always (origin and replica sessions), and an AFTER
 *	  ... FOR EACH ROW one on INSERT, UPDATE and DELETE firing on replica
 *	  sessions only (the logical replication apply worker fires row
 *	  triggers, not statement ones).  Internal triggers: the table's owner
 *	  can neither drop nor disable them (superusers can disable them; see
 *	  docs/recall.md).  The trigger notes the table in the writing
 *	  backend.
 *	- A shared slot per table (a fixed array hashed by OID; tables sharing
 *	  a slot only invalidate each other more often) holds a generation, the
 *	  count of writers between their pre-commit and commit, and the
 *	  top-level transaction ids of the last RING writers (older ones folded
 *	  into "forgotten", the largest of them).  At XACT_EVENT_PRE_COMMIT
 *	  (after every trigger fired, before the commit becomes visible) a
 *	  writer with a transaction id bumps the generation, counts itself in
 *	  "committing" and enters its id into the ring; at XACT_EVENT_COMMIT
 *	  (after ProcArrayEndTransaction) or on abort it bumps the generation
 *	  again and counts itself out.
 *	- A reader takes the slot's state once per read, under the active
 *	  snapshot S.  Entries tagged with that generation are used, and the
 *	  lists it walks are kept with that tag if the generation has not moved
 *	  when the walk is over, only if: no writer is committing, S sees every
 *	  writer of the ring (XidInMVCCSnapshot) and every forgotten one (below
 *	  S's xmin), this transaction has not written the table (the trigger's
 *	  note, or a RowExclusiveLock or stronger held on it: a statement's own
 *	  rows are visible to later commands of it before its trigger fires),
 *	  the table's triggers are present and enabled as above, the relation
 *	  has not been invalidated since (relcache callback), S is a plain MVCC
 *	  snapshot, the transaction is not SERIALIZABLE (the walk takes
 *	  predicate locks), the server is not in recovery (replay fires no
 *	  triggers) and max_prepared_transactions is 0 (a prepared writer
 *	  commits in another session, without its notes).
 *
 * Why that is exact: a writer that pre-committed before the build's read
 * had finished committing (committing was 0) and is visible to the build's
 * snapshot and to the use's (both checked against the ring); a writer that
 * pre-commits after it changes the generation before its commit becomes
 * visible, so an entry is only used by snapshots taken before that commit,
 * to which the writer is invisible, as it was to the build's snapshot
 * (taken before the build read the slot).  In-progress writers are
 * invisible to every snapshot but their own transaction's, which never
 * uses the cache.  (PostgreSQL 15's snapXactCompletionCount cannot serve
 * here: CopySnapshot() zeroes it, and active snapshots are copies.)
 *
 * Memory: engram.association_cache_size (kB) per backend; when an entry
 * would pass it, the whole cache is dropped.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/twophase.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/dependency.h"
#include "common/hashfn.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "storage/lmgr.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "recall_internal.h"

PG_FUNCTION_INFO_V1(engram_association_changed);
PG_FUNCTION_INFO_V1(engram_association_cache_stats);

#define ASSOCIATION_TRIGGER_SYMBOL	"engram_association_changed"
#define ASSOCIATION_TRIGGER_NAME	"engram_association_changed"
#define CACHE_SLOTS		512		/* shared slots, hashed by relation OID */
#define RING			8		/* writers remembered per slot */

int			engram_association_cache_size = 8192;	/* kB; 0 = off */

/* The writers of the tables hashed to one slot. */
typedef struct CacheSlot
{
	slock_t		mutex;
	uint64		generation;		/* bumped at pre-commit, commit and abort */
	uint32		committing;		/* writers between pre-commit and commit */
	int			ring_next;		/* where the next writer goes */
	FullTransactionId ring[RING];	/* last writers' top-level ids */
	FullTransactionId forgotten;	/* the largest id pushed out of the ring */
} CacheSlot;

static CacheSlot *cache_slots = NULL;

/* Key of a cached list: a src of an association table. */
typedef struct EdgeListKey
{
	Oid			relid;
	int64		src;
} EdgeListKey;

typedef struct EdgeList
{
	EdgeListKey key;			/* hash key: must be first */
	uint64		generation;		/* the slot's generation it was read at */
	uint64		epoch;			/* the relation's local epoch then */
	int			nedges;
	EngramCachedEdge *edges;	/* ascending dst, as the walk meets them */
} EdgeList;

/* What the backend knows of one association table. */
typedef struct RelationState
{
	Oid			relid;			/* hash key */
	uint64		epoch;			/* renewed by every relcache invalidation */
	bool		triggers_checked;
	bool		triggers_ok;
} RelationState;

static HTAB *edge_lists = NULL;
static HTAB *relation_states = NULL;
static MemoryContext cache_context = NULL;
static Size cache_bytes = 0;
static uint64 epoch_counter = 0;
static int64 cache_hits = 0;
static int64 cache_misses = 0;

/* Tables this transaction wrote (trigger notes), and the slots it pre-committed in. */
static Oid *written = NULL;
static int	nwritten = 0;
static int	written_capacity = 0;
static bool pre_committed = false;

static CacheSlot *
slot_of(Oid relid)
{
	return &cache_slots[murmurhash32((uint32) relid) % CACHE_SLOTS];
}

static Size
cache_shmem_size(void)
{
	return sizeof(CacheSlot) * CACHE_SLOTS;
}

static void
cache_shmem_init(void *ptr, bool found)
{
	cache_slots = (CacheSlot *) ptr;
	if (found)
		return;
	memset(ptr, 0, cache_shmem_size());
	for (int i = 0; i < CACHE_SLOTS; i++)
		SpinLockInit(&cache_slots[i].mutex);
}

static const EngramShmemRegion cache_region = {
	.name = "engram association cache generations",
	.size = cache_shmem_size,
	.init = cache_shmem_init,
};

/* ---------------------------------------------------------------------
 * Writers
 * ---------------------------------------------------------------------
 */

static bool
written_by_me(Oid relid)
{
	for (int i = 0; i < nwritten; i++)
		if (written[i] == relid)
			return true;
	return false;
}

/* Bump the generation of every written table's slot; "entering" a commit or leaving it. */
static void
announce_writers(bool entering, FullTransactionId xid)
{
	for (int i = 0; i < nwritten; i++)
	{
		CacheSlot  *slot = slot_of(written[i]);

		SpinLockAcquire(&slot->mutex);
		slot->generation++;
		if (entering)
		{
			FullTransactionId *place = &slot->ring[slot->ring_next];

			slot->committing++;
			if (FullTransactionIdIsValid(*place) &&
				(!FullTransactionIdIsValid(slot->forgotten) ||
				 FullTransactionIdFollows(*place, slot->forgotten)))
				slot->forgotten = *place;
			*place = xid;
			slot->ring_next = (slot->ring_next + 1) % RING;
		}
		else
			slot->committing--;
		SpinLockRelease(&slot->mutex);
	}
}

static void
cache_xact_callback(XactEvent event, void *arg)
{
	FullTransactionId xid;

	if (nwritten == 0)
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			/* without a transaction id nothing was written */
			xid = GetTopFullTransactionIdIfAny();
			if (cache_slots != NULL && FullTransactionIdIsValid(xid))
			{
				announce_writers(true, xid);
				pre_committed = true;
			}
			return;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
			if (pre_committed)
				announce_writers(false, InvalidFullTransactionId);
			break;
		case XACT_EVENT_PREPARE:
			/* readers refuse the cache while prepared transactions are enabled */
			break;
		default:
			return;
	}
	pre_committed = false;
	nwritten = 0;
}

/*
 * engram_association_changed() RETURNS trigger: notes, in the writing
 * backend, that this transaction wrote the trigger's table.
 */
Datum
engram_association_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigger = (TriggerData *) fcinfo->context;
	Oid			relid;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigger->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("engram_association_changed() must be called as an AFTER trigger")));
	relid = RelationGetRelid(trigger->tg_relation);
	if (!written_by_me(relid))
	{
		if (nwritten == written_capacity)
		{
			written_capacity = Max(8, written_capacity * 2);
			written = written == NULL ?
				MemoryContextAlloc(TopMemoryContext, sizeof(Oid) * written_capacity) :
				repalloc(written, sizeof(Oid) * written_capacity);
		}
		written[nwritten++] = relid;
	}
	return PointerGetDatum(NULL);
}

/* Add the two triggers of the module comment to association table "relid". */
void
engram_association_cache_add_triggers(Oid relid, Oid extension_namespace)
{
	Oid			function;
	ObjectAddress table_address;

	function = LookupFuncName(list_make2(makeString(get_namespace_name(extension_namespace)),
										 makeString(ASSOCIATION_TRIGGER_NAME)),
							  0, NULL, false);
	ObjectAddressSet(table_address, RelationRelationId, relid);
	for (int row = 0; row <= 1; row++)
	{
		CreateTrigStmt *stmt = makeNode(CreateTrigStmt);
		ObjectAddress trigger;

		stmt->trigname = ASSOCIATION_TRIGGER_NAME;
		stmt->row = row == 1;
		stmt->timing = TRIGGER_TYPE_AFTER;
		stmt->events = TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE | TRIGGER_TYPE_DELETE |
			(row ? 0 : TRIGGER_TYPE_TRUNCATE);
		trigger = CreateTriggerFiringOn(stmt, NULL, relid, InvalidOid, InvalidOid, InvalidOid,
										function, InvalidOid, NULL, true, false,
										row ? TRIGGER_FIRES_ON_REPLICA : TRIGGER_FIRES_ALWAYS);
		/* part of the table: DROP TRIGGER refuses, DROP TABLE takes it along */
		recordDependencyOn(&trigger, &table_address, DEPENDENCY_INTERNAL);
	}
	CommandCounterIncrement();
}

/* ---------------------------------------------------------------------
 * Readers
 * ---------------------------------------------------------------------
 */

/* Drop every list (the hash table lives in cache_context too). */
static void
cache_flush(void)
{
	edge_lists = NULL;
	if (cache_context != NULL)
		MemoryContextReset(cache_context);
	cache_bytes = 0;
}

static void
create_edge_lists(void)
{
	HASHCTL		ctl;

	if (cache_context == NULL)
		cache_context = AllocSetContextCreate(TopMemoryContext, "engram association cache",
											  ALLOCSET_DEFAULT_SIZES);
	ctl.keysize = sizeof(EdgeListKey);
	ctl.entrysize = sizeof(EdgeList);
	ctl.hcxt = cache_context;
	edge_lists = hash_create("engram association cache", 1024, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static void
cache_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS scan;
	RelationState *state;

	if (relation_states == NULL)
		return;
	if (OidIsValid(relid))
	{
		state = hash_search(relation_states, &relid, HASH_FIND, NULL);
		if (state != NULL)
		{
			state->epoch = ++epoch_counter;
			state->triggers_checked = false;
		}
		return;
	}
	hash_seq_init(&scan, relation_states);
	while ((state = hash_seq_search(&scan)) != NULL)
	{
		state->epoch = ++epoch_counter;
		state->triggers_checked = false;
	}
}

/* Is "trigger" ours (the C function of this library), internal, firing as "enabled"? */
static bool
our_trigger(const Trigger *trigger, bool row, char enabled)
{
	HeapTuple	tuple;
	Form_pg_proc proc;
	bool		ours;
	bool		isnull;
	Datum		datum;
	int16		events = TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE | TRIGGER_TYPE_DELETE |
		(row ? 0 : TRIGGER_TYPE_TRUNCATE);

	if (!trigger->tgisinternal || trigger->tgenabled != enabled ||
		TRIGGER_FOR_ROW(trigger->tgtype) != row || !TRIGGER_FOR_AFTER(trigger->tgtype) ||
		(trigger->tgtype & events) != events || trigger->tgqual != NULL ||
		trigger->tgnattr != 0)
		return false;
	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(trigger->tgfoid));
	if (!HeapTupleIsValid(tuple))
		return false;
	proc = (Form_pg_proc) GETSTRUCT(tuple);
	ours = proc->prolang == ClanguageId;
	if (ours)
	{
		datum = SysCacheGetAttr(PROCOID, tuple, Anum_pg_proc_prosrc, &isnull);
		ours = !isnull && strcmp(TextDatumGetCString(datum), ASSOCIATION_TRIGGER_SYMBOL) == 0;
	}
	if (ours)
	{
		datum = SysCacheGetAttr(PROCOID, tuple, Anum_pg_proc_probin, &isnull);
		ours = !isnull && strcmp(TextDatumGetCString(datum), "$libdir/engram") == 0;
	}
	ReleaseSysCache(tuple);
	return ours;
}

/* Does "table" have both triggers of the module comment, enabled as created? */
static bool
triggers_present(Relation table)
{
	TriggerDesc *desc = table->trigdesc;
	bool		statement = false;
	bool		row = false;

	if (desc == NULL)
		return false;
	for (int i = 0; i < desc->numtriggers; i++)
	{
		statement |= our_trigger(&desc->triggers[i], false, TRIGGER_FIRES_ALWAYS);
		row |= our_trigger(&desc->triggers[i], true, TRIGGER_FIRES_ON_REPLICA);
	}
	return statement && row;
}

static RelationState *
relation_state(Relation table)
{
	Oid			relid = RelationGetRelid(table);
	RelationState *state;
	bool		found;

	if (relation_states == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(RelationState);
		relation_states = hash_create("engram association cache relations", 16, &ctl,
									  HASH_ELEM | HASH_BLOBS);
		CacheRegisterRelcacheCallback(cache_relcache_callback, (Datum) 0);
	}
	state = hash_search(relation_states, &relid, HASH_ENTER, &found);
	if (!found)
	{
		state->epoch = ++epoch_counter;
		state->triggers_checked = false;
	}
	if (!state->triggers_checked)
	{
		state->triggers_ok = triggers_present(table);
		state->triggers_checked = true;
	}
	return state;
}

/*
 * Does "snapshot" see every writer of the ring copied from a slot and
 * every forgotten one?  Ids more than 2^31 behind the next one are older
 * than any snapshot's xmin.
 */
static bool
snapshot_sees_writers(Snapshot snapshot, const CacheSlot *copy)
{
	FullTransactionId next;
	uint64		xmin;

	if (!FullTransactionIdIsValid(copy->forgotten) &&
		!FullTransactionIdIsValid(copy->ring[(copy->ring_next + RING - 1) % RING]))
		return true;
	next = ReadNextFullTransactionId();
	xmin = U64FromFullTransactionId(next) -
		(uint32) (XidFromFullTransactionId(next) - snapshot->xmin);
	if (FullTransactionIdIsValid(copy->forgotten) &&
		U64FromFullTransactionId(copy->forgotten) >= xmin)
		return false;
	for (int i = 0; i < RING; i++)
		if (FullTransactionIdIsValid(copy->ring[i]) &&
			U64FromFullTransactionId(copy->ring[i]) >= xmin &&
			XidInMVCCSnapshot(XidFromFullTransactionId(copy->ring[i]), snapshot))
			return false;
	return true;
}

bool
engram_association_cache_begin(Relation table, Snapshot snapshot, EngramAssociationCacheRead *read)
{
	RelationState *state;
	CacheSlot	copy;
	CacheSlot  *slot;

	read->usable = false;
	if (engram_association_cache_size == 0)
	{
		if (edge_lists != NULL)
			cache_flush();
		return false;
	}
	if (cache_slots == NULL || max_prepared_xacts > 0 || RecoveryInProgress() ||
		IsolationIsSerializable() || snapshot->snapshot_type != SNAPSHOT_MVCC ||
		written_by_me(RelationGetRelid(table)) ||
		CheckRelationLockedByMe(table, RowExclusiveLock, true))
		return false;
	state = relation_state(table);
	if (!state->triggers_ok)
		return false;
	slot = slot_of(RelationGetRelid(table));
	SpinLockAcquire(&slot->mutex);
	copy = *slot;
	SpinLockRelease(&slot->mutex);
	if (copy.committing != 0 || !snapshot_sees_writers(snapshot, &copy))
		return false;

	if (edge_lists == NULL)
		create_edge_lists();
	read->usable = true;
	read->relid = RelationGetRelid(table);
	read->generation = copy.generation;
	read->epoch = state->epoch;
	return true;
}

bool
engram_association_cache_lookup(EngramAssociationCacheRead *read, int64 src,
								const EngramCachedEdge **edges, int *nedges)
{
	EdgeListKey key;
	EdgeList   *list;

	memset(&key, 0, sizeof(key));
	key.relid = read->relid;
	key.src = src;
	list = hash_search(edge_lists, &key, HASH_FIND, NULL);
	if (list == NULL || list->generation != read->generation || list->epoch != read->epoch)
	{
		cache_misses++;
		return false;
	}
	cache_hits++;
	*edges = list->edges;
	*nedges = list->nedges;
	return true;
}

bool
engram_association_cache_still_valid(EngramAssociationCacheRead *read)
{
	CacheSlot  *slot = slot_of(read->relid);
	uint64		generation;
	RelationState *state;

	SpinLockAcquire(&slot->mutex);
	generation = slot->generation;
	SpinLockRelease(&slot->mutex);
	state = hash_search(relation_states, &read->relid, HASH_FIND, NULL);
	return generation == read->generation && state != NULL && state->epoch == read->epoch;
}

void
engram_association_cache_store(EngramAssociationCacheRead *read, int64 src,
							   const EngramEdgeRow *rows, int nrows)
{
	EdgeListKey key;
	EdgeList   *list;
	bool		found;
	Size		bytes = sizeof(EdgeList) + 32 + sizeof(EngramCachedEdge) * nrows;

	if (cache_bytes + bytes > (Size) engram_association_cache_size * 1024)
	{
		cache_flush();
		if (bytes > (Size) engram_association_cache_size * 1024)
			return;
		create_edge_lists();
	}
	memset(&key, 0, sizeof(key));
	key.relid = read->relid;
	key.src = src;
	list = hash_search(edge_lists, &key, HASH_ENTER, &found);
	if (found && list->edges != NULL)
		pfree(list->edges);
	list->generation = read->generation;
	list->epoch = read->epoch;
	list->nedges = nrows;
	list->edges = NULL;
	if (nrows > 0)
	{
		list->edges = MemoryContextAlloc(cache_context, sizeof(EngramCachedEdge) * nrows);
		for (int i = 0; i < nrows; i++)
		{
			list->edges[i].dst = rows[i].dst;
			list->edges[i].weight = rows[i].weight;
		}
	}
	if (!found)
		cache_bytes += bytes;
}

/*
 * engram_association_cache_stats(OUT hits bigint, OUT misses bigint,
 *     OUT lists bigint, OUT bytes bigint): this backend's counts of lists
 *     found and not found since it started, the lists held and their size.
 */
Datum
engram_association_cache_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	engram_require_row_columns(desc, 4, "engram_association_cache_stats");
	values[0] = Int64GetDatum(cache_hits);
	values[1] = Int64GetDatum(cache_misses);
	values[2] = Int64GetDatum(edge_lists == NULL ? 0 : hash_get_num_entries(edge_lists));
	values[3] = Int64GetDatum((int64) cache_bytes);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

void
engram_association_cache_init(void)
{
	DefineCustomIntVariable("engram.association_cache_size",
							"Sets the memory each backend may use to cache the associations spreading reads (0 = off).",
							"When full, the cache is emptied.",
							&engram_association_cache_size, 8192, 0, MAX_KILOBYTES,
							PGC_USERSET, GUC_UNIT_KB, NULL, NULL, NULL);
	if (process_shared_preload_libraries_in_progress)
	{
		engram_shmem_register(&cache_region);
		RegisterXactCallback(cache_xact_callback, NULL);
	}
}
