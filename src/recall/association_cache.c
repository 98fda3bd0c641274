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
 *	  a slot only invalidate each other more often) holds a generation and
 *	  the top-level transaction ids of the last RING writers (older ones
 *	  folded into "forgotten", the largest of them).  At
 *	  XACT_EVENT_PRE_COMMIT or XACT_EVENT_PRE_PREPARE -- after every
 *	  trigger fired, before the commit can become visible -- a writer with
 *	  a transaction id bumps the generation and enters its id into the
 *	  ring.  Nothing happens at its commit or abort.
 *	- A reader takes the slot's state once per read, under the active
 *	  snapshot S.  Entries tagged with that generation are used, and the
 *	  lists it walks are kept with that tag if the generation has not moved
 *	  when the walk is over, only if: S sees every writer of the ring as
 *	  ended (XidInMVCCSnapshot false) and every forgotten one and every id
 *	  before the shared horizon (the next id when the first reader after
 *	  recovery looked: older writers, prepared transactions recovered at
 *	  startup among them, never announced themselves here) as below S's
 *	  xmin; this transaction has not written the table (the trigger's
 *	  note, or a RowExclusiveLock or stronger held on it: a statement's own
 *	  rows are visible to later commands of it before its trigger fires);
 *	  the table's triggers are present and enabled as above (pending
 *	  invalidations are applied first); the relation
 *	  has not been invalidated since (relcache callback); S is a plain MVCC
 *	  snapshot; the transaction is not SERIALIZABLE (the walk takes
 *	  predicate locks); the server is not in recovery (replay fires no
 *	  triggers).
 *
 * Why that is exact.  Say the build read the slot at t0 (its snapshot
 * taken before), the use at t2 (its snapshot taken before), with the same
 * generation, so no writer announced itself in between.  A writer that
 * announced itself before t0 is in the ring (or forgotten, or before the
 * horizon) and ended before either snapshot was taken: both see its
 * commit, or neither sees anything of an abort.  A writer that announces
 * itself after t2 commits later still, after both snapshots were taken:
 * neither sees it.  A writer that has not announced itself is in progress
 * for every snapshot but its own transaction's, which never uses the
 * cache.  A prepared transaction is announced at prepare and stays in
 * progress for every snapshot until COMMIT PREPARED, so no list is built
 * or used meanwhile.  (PostgreSQL 15's snapXactCompletionCount cannot
 * serve here: CopySnapshot() zeroes it, and active snapshots are copies.)
 *
 * Lists are kept only from a table's READS_BEFORE_KEEPING-th read at one
 * generation on, and looked up only once some were kept at it: a table
 * written between every recall costs the checks above and nothing else.
 *
 * Memory: engram.association_cache_size (kB) per backend; when a list
 * would pass it, the whole cache is dropped.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/dependency.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
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
/*
 * Reads of a table at one generation before its lists are kept: a table
 * written between every recall (a recall reads 2-3 times) never pays for
 * lists it would not use again.
 */
#define READS_BEFORE_KEEPING	3
/* bytes a list costs besides its entry and edges (hash bucket, chunk headers) */
#define LIST_OVERHEAD	32

int			engram_association_cache_size = 8192;	/* kB; 0 = off */

/* The writers of the tables hashed to one slot. */
typedef struct CacheSlot
{
	slock_t		mutex;
	uint64		generation;		/* bumped by every writer's announcement */
	int			ring_next;		/* where the next writer goes */
	FullTransactionId ring[RING];	/* last writers' top-level ids */
	FullTransactionId forgotten;	/* the largest id pushed out of the ring */
} CacheSlot;

/*
 * The shared region: the slots, and the first transaction id this shared
 * memory could have seen announced (set once after recovery; transactions
 * before it, prepared ones among them, never announced themselves).
 */
typedef struct CacheShared
{
	slock_t		mutex;
	FullTransactionId horizon;
	CacheSlot	slots[CACHE_SLOTS];
} CacheShared;

static CacheShared *cache_shared = NULL;

/* Key of a cached list: a src of an association table. */
typedef struct EdgeListKey
{
	Oid			relid;
	int64		src;
} EdgeListKey;

typedef struct EdgeList
{
	EdgeListKey key;
	char		status;			/* simplehash's */
	int			nedges;
	uint64		generation;		/* the slot's generation it was read at */
	uint64		epoch;			/* the relation's local epoch then */
	EngramCachedEdge *edges;	/* ascending dst, as the walk meets them */
} EdgeList;

/*
 * The hash of a list's key: the 64-bit finalizer of splitmix64 over src and
 * relid, whose low bits (the ones simplehash's buckets use) depend on all
 * of theirs.
 */
static inline uint32
edge_list_hash(const EdgeListKey *key)
{
	uint64		h = (uint64) key->src ^ ((uint64) key->relid << 32);

	h = (h ^ (h >> 30)) * UINT64CONST(0xbf58476d1ce4e5b9);
	h = (h ^ (h >> 27)) * UINT64CONST(0x94d049bb133111eb);
	return (uint32) (h ^ (h >> 31));
}

/*
 * The lists, in an open-addressing table (lib/simplehash.h): a recall looks
 * up about 120 lists, and a probe of its array costs less than dynahash's
 * bucket chains.
 */
#define SH_PREFIX		edge_lists
#define SH_ELEMENT_TYPE	EdgeList
#define SH_KEY_TYPE		EdgeListKey
#define SH_KEY			key
#define SH_HASH_KEY(tb, k)	edge_list_hash(&(k))
#define SH_EQUAL(tb, a, b)	((a).relid == (b).relid && (a).src == (b).src)
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* What the backend knows of one association table. */
typedef struct RelationState
{
	Oid			relid;			/* hash key */
	uint64		epoch;			/* renewed by every relcache invalidation */
	bool		triggers_checked;
	bool		triggers_ok;
	/* reads since the generation or epoch last changed, and lists kept since */
	uint64		generation;
	uint64		lists_epoch;
	int			reads;
	bool		has_lists;
} RelationState;

static edge_lists_hash *edge_lists = NULL;
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

static CacheSlot *
slot_of(Oid relid)
{
	return &cache_shared->slots[murmurhash32((uint32) relid) % CACHE_SLOTS];
}

static Size
cache_shmem_size(void)
{
	return sizeof(CacheShared);
}

static void
cache_shmem_init(void *ptr, bool found)
{
	cache_shared = (CacheShared *) ptr;
	if (found)
		return;
	memset(ptr, 0, cache_shmem_size());
	SpinLockInit(&cache_shared->mutex);
	for (int i = 0; i < CACHE_SLOTS; i++)
		SpinLockInit(&cache_shared->slots[i].mutex);
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

/* The events of the statement trigger ("row" false) or of the row trigger. */
static int16
trigger_events(bool row)
{
	return TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE | TRIGGER_TYPE_DELETE |
		(row ? 0 : TRIGGER_TYPE_TRUNCATE);
}

static bool
written_by_me(Oid relid)
{
	for (int i = 0; i < nwritten; i++)
		if (written[i] == relid)
			return true;
	return false;
}

/*
 * Announce this transaction (top-level id "xid") as a writer of every
 * table it wrote: called before its commit or prepare can become visible.
 */
static void
announce_writer(FullTransactionId xid)
{
	for (int i = 0; i < nwritten; i++)
	{
		CacheSlot  *slot = slot_of(written[i]);
		FullTransactionId *place;

		SpinLockAcquire(&slot->mutex);
		slot->generation++;
		place = &slot->ring[slot->ring_next];
		if (FullTransactionIdIsValid(*place) &&
			(!FullTransactionIdIsValid(slot->forgotten) ||
			 FullTransactionIdFollows(*place, slot->forgotten)))
			slot->forgotten = *place;
		*place = xid;
		slot->ring_next = (slot->ring_next + 1) % RING;
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
		case XACT_EVENT_PRE_PREPARE:
			/* without a transaction id nothing was written */
			xid = GetTopFullTransactionIdIfAny();
			if (cache_shared != NULL && FullTransactionIdIsValid(xid))
				announce_writer(xid);
			return;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			nwritten = 0;
			return;
		default:
			return;
	}
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
		stmt->events = trigger_events(row);
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

/* The key of the list of "src" in association table "relid". */
static inline EdgeListKey
list_key(Oid relid, int64 src)
{
	EdgeListKey key;

	key.relid = relid;
	key.src = src;
	return key;
}

/* What a list of "nedges" edges counts against engram.association_cache_size. */
static Size
list_bytes(int nedges)
{
	return sizeof(EdgeList) + LIST_OVERHEAD + sizeof(EngramCachedEdge) * nedges;
}

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
	if (cache_context == NULL)
		cache_context = AllocSetContextCreate(TopMemoryContext, "engram association cache",
											  ALLOCSET_DEFAULT_SIZES);
	edge_lists = edge_lists_create(cache_context, 1024, NULL);
}

/* What the backend knew of the table is stale: lists and trigger check. */
static void
renew_epoch(RelationState *state)
{
	state->epoch = ++epoch_counter;
	state->triggers_checked = false;
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
			renew_epoch(state);
		return;
	}
	hash_seq_init(&scan, relation_states);
	while ((state = hash_seq_search(&scan)) != NULL)
		renew_epoch(state);
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
	int16		events = trigger_events(row);

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
		renew_epoch(state);
		state->lists_epoch = 0;	/* no lists yet */
		state->has_lists = false;
	}
	if (!state->triggers_checked)
	{
		state->triggers_ok = triggers_present(table);
		state->triggers_checked = true;
	}
	return state;
}

/*
 * The shared horizon, set at the first call after recovery: the next
 * transaction id then.
 */
static FullTransactionId
announcement_horizon(void)
{
	FullTransactionId horizon;

	SpinLockAcquire(&cache_shared->mutex);
	horizon = cache_shared->horizon;
	SpinLockRelease(&cache_shared->mutex);
	if (FullTransactionIdIsValid(horizon))
		return horizon;
	horizon = ReadNextFullTransactionId();
	SpinLockAcquire(&cache_shared->mutex);
	if (!FullTransactionIdIsValid(cache_shared->horizon))
		cache_shared->horizon = horizon;
	horizon = cache_shared->horizon;
	SpinLockRelease(&cache_shared->mutex);
	return horizon;
}

/*
 * Has every writer that may have written the slot's tables without
 * announcing itself to this shared memory, every writer of the ring and
 * every forgotten one, ended before "snapshot" was taken?  (Ids before
 * the snapshot's xmin have; the others are asked of the snapshot.)
 */
static bool
snapshot_sees_writers(Snapshot snapshot, const CacheSlot *copy)
{
	FullTransactionId next = ReadNextFullTransactionId();
	uint64		xmin;

	/* xmin is at most 2^31 behind the next id */
	xmin = U64FromFullTransactionId(next) -
		(uint32) (XidFromFullTransactionId(next) - snapshot->xmin);
	if (U64FromFullTransactionId(announcement_horizon()) > xmin)
		return false;
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
	if (cache_shared == NULL || RecoveryInProgress() ||
		IsolationIsSerializable() || snapshot->snapshot_type != SNAPSHOT_MVCC ||
		written_by_me(RelationGetRelid(table)) ||
		CheckRelationLockedByMe(table, RowExclusiveLock, true))
		return false;
	/*
	 * Triggers disabled by a committed transaction: learn it before relying
	 * on them (a lock this transaction already holds would not make us).
	 */
	AcceptInvalidationMessages();
	state = relation_state(table);
	if (!state->triggers_ok)
		return false;
	slot = slot_of(RelationGetRelid(table));
	SpinLockAcquire(&slot->mutex);
	copy = *slot;
	SpinLockRelease(&slot->mutex);
	if (!snapshot_sees_writers(snapshot, &copy))
		return false;

	if (state->generation != copy.generation || state->lists_epoch != state->epoch)
	{
		state->generation = copy.generation;
		state->lists_epoch = state->epoch;
		state->reads = 0;
		state->has_lists = false;
	}
	state->reads++;
	read->lookup = state->has_lists;
	read->keep = state->reads >= READS_BEFORE_KEEPING;
	if (!read->lookup && !read->keep)
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
	EdgeList   *list = edge_lists_lookup(edge_lists, list_key(read->relid, src));

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
engram_association_cache_may_keep(EngramAssociationCacheRead *read)
{
	CacheSlot  *slot = slot_of(read->relid);
	uint64		generation;
	RelationState *state;

	if (!read->keep)
		return false;
	SpinLockAcquire(&slot->mutex);
	generation = slot->generation;
	SpinLockRelease(&slot->mutex);
	state = hash_search(relation_states, &read->relid, HASH_FIND, NULL);
	if (generation != read->generation || state == NULL || state->epoch != read->epoch)
		return false;
	state->has_lists = true;
	return true;
}

void
engram_association_cache_store(EngramAssociationCacheRead *read, int64 src,
							   const EngramEdgeRow *rows, int nrows)
{
	EdgeList   *list;
	bool		found;
	Size		bytes = list_bytes(nrows);

	if (cache_bytes + bytes > (Size) engram_association_cache_size * 1024)
	{
		cache_flush();
		if (bytes > (Size) engram_association_cache_size * 1024)
			return;
		create_edge_lists();
	}
	list = edge_lists_insert(edge_lists, list_key(read->relid, src), &found);
	if (found)
	{
		/* replaced: its old size no longer counts */
		cache_bytes -= list_bytes(list->nedges);
		if (list->edges != NULL)
			pfree(list->edges);
	}
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
	values[2] = Int64GetDatum(edge_lists == NULL ? 0 : edge_lists->members);
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
