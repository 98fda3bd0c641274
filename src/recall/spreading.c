/*-------------------------------------------------------------------------
 *
 * spreading.c
 *	  Spreading activation over a space's associations, path confidence,
 *	  ranking, and the SQL function engram_spread.
 *
 * The algorithm (DESIGN section 4; docs/recall.md has worked examples):
 *
 *	Seeds enter at depth 0 with their seed activation.  For depth
 *	h = 1 .. max_hops, every memory first activated at depth h-1 (the
 *	frontier) sends along each association u -> v of weight w the
 *	contribution (a(u) as it stood when the depth began)
 *		c = a(u) x w x exp(-engram.spreading_decay x h)
 *	contributions under engram.spreading_min_contribution are dropped.
 *	The contributions arriving at v in one depth are sorted, largest
 *	first.  If v was not yet activated, the largest counts in full and the
 *	others are revisits (x engram.revisit_penalty); v is activated at depth
 *	h when the sum reaches the threshold of that depth (0.01 / 0.05 / 0.1
 *	for depth 0 / 1-2 / 3+).  If v was already activated, every
 *	contribution is a revisit and adds to a(v).  Activation is clamped to
 *	[0,1]; a memory expands only once, at the depth after its first
 *	activation, so the walk terminates.  A memory is reached at most
 *	engram.visit_budget_<tier> times (seeding and each depth whose
 *	contributions reach it count one): further arrivals are ignored.
 *
 *	Each memory keeps its best engram.max_paths simple paths from a seed.
 *	A path from seed s over weights w1..wh has confidence
 *		p = conf(s) x w1 x .. x wh x factor(h) x exp(-engram.path_confidence_decay x h)
 *	(factor 1.0 / 0.95 / 0.9 for depth 0 / 1-2 / 3+; conf = effective
 *	confidence).  A memory's result confidence is
 *		conf(v) x E(v),  E(v) = 1 for a seed, else noisy-OR of its paths' p;
 *	its interval is that value +- the population standard deviation of
 *	the per-path confidences conf(v) x p (the seed's own path counting
 *	p = 1), capped at engram.confidence_interval_cap: a dispersion band,
 *	not a statistical guarantee.
 *
 *	score = (a x C + similarity) / 2 x recency   (similarity known)
 *	        a x C x recency                      (otherwise)
 *
 * Two reads per depth: the associations leaving the frontier, then the
 * state of the new memories that reach the threshold (never their
 * embeddings).  Where the caller holds SELECT on the tables and no
 * row-level security applies to them, memory_reader.c does each with one
 * ordered walk of the index (btree_walk.c; rows from the hot tier or the
 * heap); otherwise each is one SQL statement as the caller, so a memory
 * the caller cannot SELECT neither appears nor relays activation.  Soft-forgotten memories
 * (confidence 0) are skipped the same way.
 *
 * What only the ranking needs is read after the walk, and only for the
 * memories that can still be returned: a reached memory's cue similarity
 * (its embedding) and its access statistics (last access for the recency
 * boost and the forgetting curve, access count), and the whole row of a
 * memory first reached at the last depth (it relays nothing, and its first
 * visit is within every tier's budget, so spreading needs nothing of it;
 * reading it tells whether it exists for the caller).  Recall completes the
 * scores highest upper bound first and stops when every memory left has an
 * upper bound under the k-th best complete score
 * (engram_spread_resolve_scores); engram_spread, which ranks by
 * activation, reads the statistics of the memories it returns.  Both give
 * the answer of a run that reads everything for every memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/binaryheap.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "engram_kept_context.h"
#include "metrics/engram_metrics.h"
#include "recall_internal.h"

/* Columns of the rows engram_spread() returns (its SQL declaration). */
#define SPREAD_RESULT_COLUMNS 10

PG_FUNCTION_INFO_V1(engram_spread);

/* Rows read at once to find whether a memory with an unread row exists. */
#define UNREAD_CHECK_BATCH 8

/* One association read for the current depth, with its contribution. */
typedef struct SpreadEdge
{
	int64		src;
	int64		dst;
	double		weight;
	EngramNode *source;			/* the frontier node of src */
	double		value;			/* contribution; 0 when under the minimum */
	/* set on the first edge of each dst (fetch_edges) */
	EngramNode *target;			/* the node of dst when it had one, else NULL */
	bool		wanted;			/* dst's row was read for a new node */
} SpreadEdge;

/* A contribution arriving at a memory in the current depth. */
typedef struct Contribution
{
	double		value;
	EngramNode *source;
	double		weight;
} Contribution;

static double
depth_threshold(int depth)
{
	if (depth == 0)
		return engram_activation_threshold_seed;
	if (depth <= 2)
		return engram_activation_threshold_near;
	return engram_activation_threshold_far;
}

static double
depth_confidence_factor(int depth)
{
	if (depth == 0)
		return engram_confidence_factor_seed;
	if (depth <= 2)
		return engram_confidence_factor_near;
	return engram_confidence_factor_far;
}

/* Confidence of a path (without the memory's own confidence). */
static double
path_confidence(const EngramPath *path)
{
	if (path->hops == 0)
		return 1.0;
	return engram_clamp01(path->strength * depth_confidence_factor(path->hops) *
						  exp(-engram_path_confidence_decay * path->hops));
}

/*
 * The id index (recall_internal.h).  The hash mixes both halves of the id
 * into the low bits the buckets use.
 */
#define SH_PREFIX		engram_id_positions
#define SH_ELEMENT_TYPE	EngramIdPosition
#define SH_KEY_TYPE		int64
#define SH_KEY			id
#define SH_HASH_KEY(tb, key)	murmurhash32((uint32) (key) ^ (uint32) ((uint64) (key) >> 32))
#define SH_EQUAL(tb, a, b)	((a) == (b))
#define SH_SCOPE		extern
#define SH_DEFINE
#include "lib/simplehash.h"

/*
 * A run's nodes are an array in the order they were entered, with an id
 * index; the scans below go through the array.  No answer depends on that
 * order: the rankings and selections sort by total orders (ties by id),
 * kth_largest() returns a value, and the rows engram_spread_activated_any()
 * reads early are read under the same snapshot as later, with the same
 * results.
 *
 * Initial sizes of the node array and the id index (both grow).
 */
#define INITIAL_NODES	256

/* Bytes of node storage (nodes with their paths) allocated at once. */
#define NODE_BLOCK_BYTES	8192

/*
 * The node filter's bit for "id": the top bits of a multiplicative hash.
 * Nodes are entered (enter_node) and never removed, so a clear bit proves
 * that "id" has no node: most memories an association reaches have none,
 * and find_node then skips the index's lookup (a hash of the key and a
 * probe of buckets in memory not yet in cache).
 */
static inline uint32
node_filter_bit(int64 id)
{
	return (uint32) (((uint64) id * UINT64CONST(0x9E3779B97F4A7C15)) >>
					 (64 - ENGRAM_NODE_FILTER_LOG2));
}

/* The node of "id", or NULL. */
static inline EngramNode *
find_node(EngramSpreadState *state, int64 id)
{
	uint32		bit = node_filter_bit(id);
	EngramIdPosition *entry;

	if ((state->node_filter[bit / 64] & (UINT64CONST(1) << (bit % 64))) == 0)
		return NULL;
	entry = engram_id_positions_lookup(state->node_positions, id);
	return entry != NULL ? state->nodes[entry->position] : NULL;
}

/*
 * A new node for "id", all zero but its id and its room for
 * engram_max_paths paths, taken from a block of node storage: one
 * allocation serves several nodes.
 */
static EngramNode *
new_node(EngramSpreadState *state, int64 id)
{
	Size		node_size = MAXALIGN(sizeof(EngramNode));
	Size		slot_size = node_size + MAXALIGN(sizeof(EngramPath) * engram_max_paths);
	EngramNode *node;

	if (state->node_room < slot_size)
	{
		state->node_room = Max(NODE_BLOCK_BYTES, slot_size);
		state->node_storage = MemoryContextAlloc(state->context, state->node_room);
	}
	node = (EngramNode *) state->node_storage;
	state->node_storage += slot_size;
	state->node_room -= slot_size;
	memset(node, 0, sizeof(EngramNode));
	node->id = id;
	node->paths = (EngramPath *) ((char *) node + node_size);
	return node;
}

/*
 * The node of "id"; when there is none (*found false), a new one (new_node)
 * appended to the nodes.
 */
static inline EngramNode *
enter_node(EngramSpreadState *state, int64 id, bool *found)
{
	uint32		bit = node_filter_bit(id);
	EngramIdPosition *entry;

	state->node_filter[bit / 64] |= UINT64CONST(1) << (bit % 64);
	entry = engram_id_positions_insert(state->node_positions, id, found);
	if (*found)
		return state->nodes[entry->position];
	if (state->nnodes == state->max_nodes)
	{
		state->max_nodes *= 2;
		state->nodes = repalloc(state->nodes, sizeof(EngramNode *) * state->max_nodes);
	}
	entry->position = state->nnodes;
	state->nodes[state->nnodes] = new_node(state, id);
	return state->nodes[state->nnodes++];
}

void
engram_spread_state_init(EngramSpreadState *state, const EngramSpace *space,
						 MemoryContext context)
{
	memset(state, 0, sizeof(*state));
	state->space = space;
	state->context = context;
	state->max_nodes = INITIAL_NODES;
	state->nodes = MemoryContextAlloc(context, sizeof(EngramNode *) * state->max_nodes);
	state->node_positions = engram_id_positions_create(context, INITIAL_NODES, NULL);
	state->max_hops = engram_max_hops;
	state->time_budget_ms = engram_spreading_time_budget;
	state->now = engram_now();
	engram_decay_params_current(&state->decay);
}

/*
 * The working memory of recall and spread calls: a context kept for the
 * backend (engram_kept_context.h), whose first block (more than a recall
 * of k = 10 over 2 hops uses) survives the reset at the end of each call.
 * A call nested in another (a policy or trigger calling recall) gets a
 * fresh context.
 */
static EngramKeptContext call_memory =
	ENGRAM_KEPT_CONTEXT_INIT("engram recall calls", 512 * 1024);

MemoryContext
engram_recall_call_context_begin(void)
{
	return engram_kept_context_begin(&call_memory);
}

void
engram_recall_call_context_end(MemoryContext context)
{
	engram_kept_context_end(&call_memory, context);
}

/*
 * The memory reader of this call (memory_reader.c), opened on its first use
 * and kept for the call's later reads (every depth, the similarities, the
 * output rows); NULL when the rows must be read through SQL.  Privileges
 * and row-level security are checked again at every use.
 */
static EngramMemoryReader *
memory_reader(EngramSpreadState *state)
{
	if (!state->reader_opened)
	{
		state->reader = engram_memory_reader_begin(state->space);
		state->reader_opened = true;
	}
	if (state->reader != NULL && !engram_memory_reader_usable(state->reader))
		return NULL;
	return state->reader;
}

EngramMemoryReader *
engram_spread_memory_reader(EngramSpreadState *state)
{
	return memory_reader(state);
}

void
engram_spread_state_release(EngramSpreadState *state)
{
	if (state->reader != NULL)
		engram_memory_reader_end(state->reader);
	state->reader = NULL;
}

/*
 * Read the access statistics of "node" (access.c) and its effective
 * confidence from them.
 */
static void
node_read_access(EngramSpreadState *state, EngramNode *node)
{
	EngramRecallAccess access;

	node->effective_confidence =
		engram_recall_effective_confidence_kind(state->space->relid, &node->tid,
												node->stored_confidence, node->created_at,
												node->decay, state->now, &state->decay,
												&access);
	node->last_access = access.last_access;
	node->access_count = access.access_count;
	node->access_pending = false;
}

/*
 * Give "node" its tier (NULL: not known), noting it among the tiers the
 * call touched.  A node's tier is set once: it is NULL before.
 */
static void
set_node_tier(EngramSpreadState *state, EngramNode *node, const char *tier)
{
	node->tier = tier;
	if (tier != NULL)
		state->tiers_touched |= ENGRAM_TIER_BIT(strcmp(tier, "hot") == 0 ? ENGRAM_TIER_HOT :
												strcmp(tier, "cold") == 0 ? ENGRAM_TIER_COLD :
												ENGRAM_TIER_WARM);
}

/*
 * The tier of a node whose row was read.  A row read by the memory reader
 * comes with its tier; for one read through SQL (the seed queries, the
 * statements used under row-level security) it is probed here, at its
 * first use: the visit budget of a memory reached again, or the output
 * (engram_spread_emit, which takes it from the output row when the reader
 * reads those).  Most seeds are neither, and a probe reads the row's heap
 * page.
 */
static const char *
node_tier(EngramSpreadState *state, EngramNode *node)
{
	Assert(!node->row_pending);
	if (node->tier == NULL)
		set_node_tier(state, node, engram_recall_row_tier(state->space->relid, &node->tid));
	return node->tier;
}

/*
 * Find or create the node of "id", filling its row state when new (or not
 * read yet: row_pending).  "tier" is the row's tier when the caller knows
 * it, else NULL (node_tier probes it when needed).  With
 * "defer_access" the access statistics (last access, access count,
 * effective confidence) are left to be read when the node's score or
 * confidence is needed: spreading itself never reads them for a memory
 * it reaches (a path's confidence starts from its seed's).
 */
static EngramNode *
node_for_row(EngramSpreadState *state, int64 id, ItemPointer tid, double stored_confidence,
			 TimestampTz created_at, const char *decay_name, const char *tier,
			 bool defer_access)
{
	EngramNode *node;
	bool		found;

	node = enter_node(state, id, &found);
	if (found && !node->row_pending)
		return node;

	if (found)
	{
		/* a memory first reached at the last depth, now read */
		node->row_pending = false;
		state->unread_rows--;
	}
	node->tid = *tid;
	ItemPointerSetInvalid(&node->index_tid);
	node->stored_confidence = stored_confidence;
	node->created_at = created_at;

	if (decay_name == NULL || !engram_decay_kind_parse(decay_name, false, &node->decay))
		node->decay = state->space->default_decay;
	set_node_tier(state, node, tier);
	node->access_pending = true;
	if (!defer_access)
		node_read_access(state, node);
	return node;
}

/*
 * Add a path to a node with its confidence, keeping the engram_max_paths
 * with the highest path confidence (an earlier path wins a tie).
 */
static void
node_add_path(EngramNode *node, const EngramPath *path)
{
	double		confidence = path_confidence(path);
	int			weakest = -1;
	double		weakest_confidence = confidence;

	if (node->npaths < engram_max_paths)
		weakest = node->npaths++;
	else
	{
		for (int i = 0; i < node->npaths; i++)
		{
			if (node->paths[i].confidence < weakest_confidence)
			{
				weakest_confidence = node->paths[i].confidence;
				weakest = i;
			}
		}
	}
	if (weakest >= 0)
	{
		node->paths[weakest] = *path;
		node->paths[weakest].confidence = confidence;
	}
}

EngramNode *
engram_spread_add_seed(EngramSpreadState *state, int64 id, ItemPointer tid,
					   double stored_confidence, TimestampTz created_at,
					   const char *decay_name, bool has_similarity, double similarity,
					   double activation)
{
	EngramNode *node = node_for_row(state, id, tid, stored_confidence, created_at, decay_name,
									 NULL, false);

	/* a seed's effective confidence starts its paths' strength */
	if (node->access_pending)
		node_read_access(state, node);
	activation = engram_clamp01(activation);
	if (has_similarity && !node->has_similarity)
	{
		node->has_similarity = true;
		node->similarity = similarity;
	}
	if (node->activated)
	{
		if (activation > node->seed_activation)
			node->seed_activation = node->activation = activation;
		return node;
	}
	node->activated = true;
	node->hop = 0;
	node->visits = 1;
	node->seed_activation = node->activation = activation;
	{
		EngramPath	own;

		own.strength = node->effective_confidence;
		own.hops = 0;
		own.nodes[0] = id;
		node_add_path(node, &own);
	}
	return node;
}

/* ---------------------------------------------------------------------
 * The depth loop
 * ---------------------------------------------------------------------
 */

static Datum
node_ids_array(EngramNode **nodes, int n)
{
	Datum	   *ids = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		ids[i] = Int64GetDatum(nodes[i]->id);
	return PointerGetDatum(construct_array(ids, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
										   TYPALIGN_DOUBLE));
}

static int
compare_node_ids(const void *a, const void *b)
{
	int64		ia = (*(EngramNode *const *) a)->id;
	int64		ib = (*(EngramNode *const *) b)->id;

	return ia < ib ? -1 : (ia > ib ? 1 : 0);
}

/* The frontier node of "id" (frontier sorted by id), or NULL. */
static EngramNode *
frontier_node(EngramNode **frontier, int nfrontier, int64 id)
{
	EngramNode	key_holder;
	EngramNode *key = &key_holder;
	EngramNode **found;

	key_holder.id = id;
	found = bsearch(&key, frontier, nfrontier, sizeof(EngramNode *), compare_node_ids);
	return found ? *found : NULL;
}

/*
 * Enter the rows of the given memories as (not yet activated) nodes.  A
 * memory the caller cannot SELECT, or whose confidence is 0, gets no node.
 * Only what spreading needs is read here (the row's visibility, TID, tier,
 * confidence, created_at and forgetting curve): the access statistics,
 * which only the ranking uses, are read later and only for the nodes that
 * can still rank (engram_spread_resolve_scores) or are returned
 * (engram_spread_emit), and so is the similarity to the cue (the
 * embedding, 3 kB at 768 dimensions), unless "with_similarity": then it is
 * computed from the row read when the embedding is in it (the reader's
 * rows only).  The rows come from the memory reader (id index, hot tier,
 * heap) when it may be used, else from SQL.
 */
static void
fetch_target_rows(EngramSpreadState *state, Datum *ids, int nids, bool with_similarity)
{
	const EngramSpace *space = state->space;
	EngramMemoryReader *reader = memory_reader(state);
	StringInfoData sql;
	Oid			argtypes[1] = {INT8ARRAYOID};
	Datum		values[1];

	if (reader != NULL)
	{
		int64	   *id_values = palloc(sizeof(int64) * nids);
		EngramMemoryRow *rows = palloc(sizeof(EngramMemoryRow) * nids);
		int			nrows;

		for (int i = 0; i < nids; i++)
			id_values[i] = DatumGetInt64(ids[i]);
		engram_memory_reader_set_cue(reader, state->has_cue_embedding && with_similarity ?
									 state->cue_embedding : (Datum) 0);
		nrows = engram_memory_reader_fetch(reader, id_values, nids, rows);
		for (int i = 0; i < nrows; i++)
		{
			EngramNode *node = node_for_row(state, rows[i].id, &rows[i].tid, rows[i].confidence,
											rows[i].created_at, rows[i].decay_name,
											rows[i].tier, true);

			node->index_tid = rows[i].index_tid;
			if (state->has_cue_embedding && !node->has_similarity && rows[i].has_distance)
			{
				node->has_similarity = true;
				node->similarity = engram_distance_to_similarity(space->distance,
																 rows[i].distance);
			}
			node->similarity_pending = state->has_cue_embedding && !node->has_similarity;
		}
		pfree(id_values);
		pfree(rows);
		return;
	}

	values[0] = PointerGetDatum(construct_array(ids, nids, INT8OID, sizeof(int64),
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT id, ctid, confidence, created_at, decay_function FROM %s "
					 "WHERE id = ANY ($1) AND confidence OPERATOR(pg_catalog.>) 0",
					 space->qualified_name);
	engram_spi_execute(sql.data, 1, argtypes, values, NULL, true, SPI_OK_SELECT);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[row];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		ItemPointerData tid = *(ItemPointer) DatumGetPointer(SPI_getbinval(tuple, desc, 2, &isnull));
		double		confidence = DatumGetFloat4(SPI_getbinval(tuple, desc, 3, &isnull));
		TimestampTz created_at = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 4, &isnull));
		char	   *decay = SPI_getvalue(tuple, desc, 5);
		EngramNode *node = node_for_row(state, id, &tid, confidence, created_at, decay, NULL,
										 true);

		node->similarity_pending = state->has_cue_embedding && !node->has_similarity;
	}
	SPI_freetuptable(SPI_tuptable);
}

/*
 * Enter the memories first reached at the last depth as nodes whose row is
 * not read yet (row_pending).  Spreading does not need it: such a memory
 * relays nothing (there is no next depth), its activation and paths come
 * from the contributions alone, and on its first visit every tier's visit
 * budget (at least 1) lets it in.  Its row is read when it can still rank
 * or is returned (read_unread_rows); if the caller cannot see it or its
 * confidence is 0, it then loses its activation, as if it had never been
 * reached, which is what reading it here would have done.
 */
static void
enter_unread_targets(EngramSpreadState *state, Datum *ids, int nids)
{
	for (int i = 0; i < nids; i++)
	{
		int64		id = DatumGetInt64(ids[i]);
		bool		found;
		EngramNode *node = enter_node(state, id, &found);

		if (found)
			continue;
		ItemPointerSetInvalid(&node->tid);
		ItemPointerSetInvalid(&node->index_tid);
		node->row_pending = true;
		node->access_pending = true;
		node->similarity_pending = state->has_cue_embedding;
		state->unread_rows++;
	}
}

/*
 * Read the rows of those of "nodes" not read yet (fetch_target_rows: same
 * statement or reader, same snapshot); one that is not found loses its
 * activation.  Returns how many lost it.
 */
static int
read_unread_rows(EngramSpreadState *state, EngramNode **nodes, int count, bool with_similarity)
{
	Datum	   *ids = palloc(sizeof(Datum) * Max(count, 1));
	int			nids = 0;
	int			lost = 0;

	for (int i = 0; i < count; i++)
		if (nodes[i]->row_pending)
			ids[nids++] = Int64GetDatum(nodes[i]->id);
	if (nids > 0)
		fetch_target_rows(state, ids, nids, with_similarity);
	for (int i = 0; i < count; i++)
	{
		EngramNode *node = nodes[i];

		if (!node->row_pending)
			continue;
		node->row_pending = false;
		state->unread_rows--;
		if (node->activated)
		{
			node->activated = false;
			state->spread_activated--;
			lost++;
		}
	}
	pfree(ids);
	return lost;
}

bool
engram_spread_activated_any(EngramSpreadState *state)
{
	EngramNode **unread;
	int			nunread = 0;
	bool		any = false;

	if (state->spread_activated == 0)
		return false;
	unread = palloc(sizeof(EngramNode *) * Max(state->nnodes, 1));
	for (int i = 0; i < state->nnodes && !any; i++)
	{
		EngramNode *node = state->nodes[i];

		if (!node->activated || node->hop == 0)
			continue;
		if (!node->row_pending)
			any = true;
		else
			unread[nunread++] = node;
	}

	/* only memories whose rows are not read yet: read until one is found */
	for (int start = 0; !any && start < nunread; start += UNREAD_CHECK_BATCH)
	{
		int			n = Min(UNREAD_CHECK_BATCH, nunread - start);

		any = read_unread_rows(state, &unread[start], n, state->eager_similarity) < n;
	}
	pfree(unread);
	return any;
}

/*
 * Read the associations leaving the frontier (sorted by frontier id),
 * sorted by (dst, src), each with its contribution at this depth.  Then
 * read the rows of the targets that are new and whose activation would
 * reach the depth's threshold (activation depends only on the
 * contributions, not on the target's row, so the others are never read).
 * Edges and target rows are two simple statements rather than one join,
 * so that both stay index lookups whatever the planner knows about the
 * tables (a join on a freshly loaded, unanalysed space was planned as a
 * hash join over the whole table).
 */
static SpreadEdge *
fetch_edges(EngramSpreadState *state, EngramNode **frontier, int nfrontier, int depth,
			int *nedges)
{
	const EngramSpace *space = state->space;
	StringInfoData sql;
	Oid			argtypes[1] = {INT8ARRAYOID};
	Datum		values[1];
	SpreadEdge *edges;
	Datum	   *wanted;
	int			nwanted = 0;
	int			n;
	double		attenuation = exp(-engram_spreading_decay * depth);
	MemoryContext old;
	int64	   *frontier_ids = palloc(sizeof(int64) * Max(nfrontier, 1));
	EngramEdgeRow *rows;

	old = MemoryContextSwitchTo(state->context);
	for (int i = 0; i < nfrontier; i++)
		frontier_ids[i] = frontier[i]->id;
	if (engram_association_reader_fetch(space, frontier_ids, nfrontier, &rows, &n))
	{
		edges = palloc(sizeof(SpreadEdge) * Max(n, 1));
		for (int row = 0; row < n; row++)
		{
			edges[row].src = rows[row].src;
			edges[row].dst = rows[row].dst;
			edges[row].weight = rows[row].weight;
			edges[row].source = frontier[rows[row].source];
		}
		pfree(rows);
	}
	else
	{
		values[0] = node_ids_array(frontier, nfrontier);
		initStringInfo(&sql);
		appendStringInfo(&sql,
						 "SELECT src, dst, weight FROM %s WHERE src = ANY ($1) ORDER BY dst, src",
						 space->assoc_qualified_name);
		engram_spi_execute(sql.data, 1, argtypes, values, NULL, true, SPI_OK_SELECT);
		n = (int) SPI_processed;
		edges = palloc(sizeof(SpreadEdge) * Max(n, 1));
		for (int row = 0; row < n; row++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[row];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;

			edges[row].src = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
			edges[row].dst = DatumGetInt64(SPI_getbinval(tuple, desc, 2, &isnull));
			edges[row].weight = DatumGetFloat4(SPI_getbinval(tuple, desc, 3, &isnull));
			edges[row].source = frontier_node(frontier, nfrontier, edges[row].src);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	wanted = palloc(sizeof(Datum) * Max(n, 1));
	for (int row = 0; row < n; row++)
	{
		SpreadEdge *edge = &edges[row];

		edge->value = 0.0;
		if (edge->source != NULL)
		{
			double		value = edge->source->activation * edge->weight * attenuation;

			if (value >= engram_spreading_min_contribution)
				edge->value = value;
		}
	}
	MemoryContextSwitchTo(old);

	/* Which new targets would be activated?  (largest in full, rest revisits) */
	for (int first = 0; first < n;)
	{
		int			last = first;
		double		largest = 0.0;
		double		sum = 0.0;

		while (last + 1 < n && edges[last + 1].dst == edges[first].dst)
			last++;
		for (int i = first; i <= last; i++)
		{
			sum += edges[i].value;
			largest = Max(largest, edges[i].value);
		}
		edges[first].target = NULL;
		edges[first].wanted = false;
		if (largest > 0.0)
			edges[first].target = find_node(state, edges[first].dst);
		if (largest > 0.0 && edges[first].target == NULL &&
			engram_clamp01(largest + engram_revisit_penalty * (sum - largest)) >=
			depth_threshold(depth))
		{
			edges[first].wanted = true;
			wanted[nwanted++] = Int64GetDatum(edges[first].dst);
		}
		first = last + 1;
	}
	if (nwanted > 0 && depth == state->max_hops)
		enter_unread_targets(state, wanted, nwanted);
	else if (nwanted > 0)
		fetch_target_rows(state, wanted, nwanted, state->eager_similarity);

	*nedges = n;
	return edges;
}

static int
compare_contributions(const void *a, const void *b)
{
	const Contribution *ca = (const Contribution *) a;
	const Contribution *cb = (const Contribution *) b;

	if (ca->value > cb->value)
		return -1;
	if (ca->value < cb->value)
		return 1;
	/* equal: lower source id first, for determinism */
	if (ca->source->id < cb->source->id)
		return -1;
	if (ca->source->id > cb->source->id)
		return 1;
	return 0;
}

/* Extend each path by which "source" was first activated to "target". */
static void
extend_paths(EngramNode *source, EngramNode *target, double weight)
{
	for (int i = 0; i < source->npaths; i++)
	{
		const EngramPath *path = &source->paths[i];
		EngramPath	extended;
		bool		cycle = false;

		if (path->hops != source->hop || path->hops >= ENGRAM_RECALL_MAX_HOPS)
			continue;
		for (int j = 0; j <= path->hops; j++)
			if (path->nodes[j] == target->id)
				cycle = true;
		if (cycle)
			continue;
		extended = *path;
		extended.strength = path->strength * weight;
		extended.hops = path->hops + 1;
		extended.nodes[extended.hops] = target->id;
		node_add_path(target, &extended);
	}
}

/* How many times spreading may reach a memory of this tier. */
static int
visit_budget(const char *tier)
{
	if (strcmp(tier, "hot") == 0)
		return engram_visit_budget_hot;
	if (strcmp(tier, "cold") == 0)
		return engram_visit_budget_cold;
	return engram_visit_budget_warm;
}

/*
 * Has a memory reached before ("visits" > 0) used up its tier's visit
 * budget?  Its tier is needed only when the visits reach the smallest
 * budget of any tier.
 */
static bool
visit_budget_spent(EngramSpreadState *state, EngramNode *target)
{
	int			smallest = Min(engram_visit_budget_hot,
							   Min(engram_visit_budget_warm, engram_visit_budget_cold));

	if (target->visits < smallest)
		return false;
	return target->visits >= visit_budget(node_tier(state, target));
}

/*
 * Apply the contributions of one depth to one target.  Returns true when
 * the target is newly activated (it joins the next frontier).
 */
static bool
apply_contributions(EngramSpreadState *state, EngramNode *target, Contribution *in, int n,
					int depth)
{
	double		sum = 0.0;
	bool		first_visit = !target->activated;

	/* a first visit is always within budget (every budget is at least 1) */
	if (target->visits > 0 && visit_budget_spent(state, target))
		return false;
	target->visits++;
	qsort(in, n, sizeof(Contribution), compare_contributions);
	for (int i = 0; i < n; i++)
	{
		if (first_visit && i == 0)
			sum += in[i].value;
		else
			sum += in[i].value * engram_revisit_penalty;
	}

	if (first_visit)
	{
		double		activation = engram_clamp01(sum);

		if (activation < depth_threshold(depth))
			return false;
		target->activated = true;
		target->hop = depth;
		target->activation = activation;
		state->spread_activated++;
	}
	else
		target->activation = engram_clamp01(target->activation + sum);

	for (int i = 0; i < n; i++)
		extend_paths(in[i].source, target, in[i].weight);
	return first_visit;
}

static double
elapsed_ms(instr_time start)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	return INSTR_TIME_GET_MILLISEC(now);
}

bool
engram_spread_run(EngramSpreadState *state)
{
	instr_time	start;
	EngramNode **frontier;
	int			nfrontier = 0;
	MemoryContext old;

	engram_metrics_begin(ENGRAM_OP_SPREAD);
	INSTR_TIME_SET_CURRENT(start);
	old = MemoryContextSwitchTo(state->context);

	frontier = palloc(sizeof(EngramNode *) * Max(state->nnodes, 1));
	for (int i = 0; i < state->nnodes; i++)
		if (state->nodes[i]->activated && state->nodes[i]->hop == 0)
			frontier[nfrontier++] = state->nodes[i];

	for (int depth = 1; depth <= state->max_hops && nfrontier > 0; depth++)
	{
		SpreadEdge *edges;
		int			nedges;
		EngramNode **next;
		int			nnext = 0;
		Contribution *in;

		CHECK_FOR_INTERRUPTS();
		if (state->time_budget_ms > 0 && elapsed_ms(start) >= state->time_budget_ms)
		{
			state->budget_exceeded = true;
			break;
		}

		/* Frontier nodes by id, to look sources up by binary search. */
		qsort(frontier, nfrontier, sizeof(EngramNode *), compare_node_ids);
		MemoryContextSwitchTo(old);
		edges = fetch_edges(state, frontier, nfrontier, depth, &nedges);
		MemoryContextSwitchTo(state->context);

		next = palloc(sizeof(EngramNode *) * Max(nedges, 1));
		in = palloc(sizeof(Contribution) * Max(nedges, 1));

		/* Edges arrive grouped by dst: handle one target at a time. */
		for (int first = 0; first < nedges;)
		{
			int			last = first;
			int			n = 0;
			EngramNode *target;

			while (last + 1 < nedges && edges[last + 1].dst == edges[first].dst)
				last++;
			for (int i = first; i <= last; i++)
			{
				if (edges[i].value <= 0.0)
					continue;
				in[n].value = edges[i].value;
				in[n].source = edges[i].source;
				in[n].weight = edges[i].weight;
				n++;
			}
			/* a node made for dst after fetch_edges looked: a wanted one */
			target = edges[first].target;
			if (target == NULL && edges[first].wanted)
				target = find_node(state, edges[first].dst);
			if (n > 0 && target != NULL &&
				apply_contributions(state, target, in, n, depth))
				next[nnext++] = target;
			first = last + 1;
		}

		frontier = next;
		nfrontier = nnext;
		state->depth_reached = depth;
	}

	MemoryContextSwitchTo(old);

	{
		EngramSlowDetails details;

		engram_slow_details_init(&details);
		details.space = state->space->relid;
		details.nodes_visited = state->nnodes;
		details.hops = state->depth_reached;
		engram_metrics_end(ENGRAM_OP_SPREAD, &details);
	}
	return !state->budget_exceeded;
}

/* ---------------------------------------------------------------------
 * Confidence, interval, score
 * ---------------------------------------------------------------------
 */

/*
 * The recency multiplier of a node whose access statistics are known.
 */
static double
node_recency(EngramSpreadState *state, const EngramNode *node)
{
	return engram_recency_multiplier((double) (state->now - node->last_access) / USECS_PER_SEC,
									 (double) engram_recency_window, engram_recency_boost);
}

/*
 * A node's ranking score with the given similarity (DESIGN section 4):
 * activation x confidence, averaged with the similarity when known, times
 * the recency multiplier.  The node's confidence is known.
 */
static double
node_score(EngramSpreadState *state, const EngramNode *node, bool has_similarity,
		   double similarity)
{
	double		recency = node_recency(state, node);

	if (has_similarity)
		return (node->activation * node->confidence + similarity) / 2.0 * recency;
	return node->activation * node->confidence * recency;
}

/*
 * Confidence and interval of a node whose effective confidence is known
 * and whose evidence engram_spread_finish() computed, and its score when
 * its similarity is known too.
 */
static void
node_complete(EngramSpreadState *state, EngramNode *node, bool seeds_only)
{
	double		per_path[ENGRAM_RECALL_MAX_PATHS];
	double		half_width;
	int			n = 0;

	node->confidence = engram_clamp01(node->effective_confidence * node->evidence);
	for (int i = 0; i < node->npaths; i++)
	{
		if (seeds_only && node->paths[i].hops != 0)
			continue;
		per_path[n++] = node->effective_confidence * node->paths[i].confidence;
	}
	half_width = engram_dispersion_halfwidth(per_path, n, engram_confidence_interval_cap);
	node->confidence_low = engram_clamp01(node->confidence - half_width);
	node->confidence_high = engram_clamp01(node->confidence + half_width);
	if (!node->similarity_pending)
		node->score = node_score(state, node, node->has_similarity, node->similarity);
}

void
engram_spread_finish(EngramSpreadState *state, bool seeds_only)
{
	for (int i = 0; i < state->nnodes; i++)
	{
		EngramNode *node = state->nodes[i];

		if (!node->activated || (seeds_only && node->hop != 0))
			continue;

		if (node->hop == 0)
			node->evidence = 1.0;
		else
		{
			double		p[ENGRAM_RECALL_MAX_PATHS];

			for (int i = 0; i < node->npaths; i++)
				p[i] = node->paths[i].confidence;
			node->evidence = engram_noisy_or(p, node->npaths);
		}
		if (seeds_only)
			node->activation = node->seed_activation;
		if (!node->access_pending)
			node_complete(state, node, seeds_only);
	}
}

/*
 * The highest similarity a node's cue similarity can have in this space
 * (cosine distance is clamped to [0, 2], L2 distance is >= 0), or
 * infinity when unbounded (negative inner product).
 */
static double
similarity_bound(EngramDistance distance)
{
	switch (distance)
	{
		case ENGRAM_DISTANCE_COSINE:
		case ENGRAM_DISTANCE_L2:
			return 1.0;
		case ENGRAM_DISTANCE_INNER_PRODUCT:
			break;
	}
	return get_float8_infinity();
}

/*
 * An upper bound of the score of an activated node whose score is not
 * complete: what is not read yet is taken at its highest, so the bound is
 * never under the score (each step of node_score is monotone in each
 * operand, in floating point too):
 *	- similarity pending: "similarity_bound" (a similarity found missing
 *	  scores a x C x recency, which is not above (a x C + 1) / 2 x recency
 *	  since a x C <= 1);
 *	- access statistics pending: retention 1 (the forgetting curves are at
 *	  most 1: the effective confidence is clamp01(stored) x retention) and
 *	  the recency multiplier of a memory used just now ("recency_bound");
 *	- row not read yet: its stored confidence 1 too.
 */
static double
node_score_bound(EngramSpreadState *state, const EngramNode *node, double similarity_bound,
				 double recency_bound)
{
	double		confidence;
	double		recency;
	double		product;

	if (node->row_pending)
	{
		/* stored confidence at most 1 */
		confidence = engram_clamp01(node->evidence);
		recency = recency_bound;
	}
	else if (node->access_pending)
	{
		confidence = engram_clamp01(engram_clamp01(node->stored_confidence) * node->evidence);
		recency = recency_bound;
	}
	else
	{
		confidence = node->confidence;
		recency = node_recency(state, node);
	}
	product = node->activation * confidence;
	if (node->similarity_pending)
		return (product + similarity_bound) / 2.0 * recency;
	if (node->has_similarity)
		return (product + node->similarity) / 2.0 * recency;
	return product * recency;
}

/*
 * The k-th largest of values[0 .. n-1] (1 <= k <= n), found by
 * partitioning around a middle pivot (quickselect); reorders the values.
 */
static double
kth_largest(double *values, int n, int k)
{
	int			low = 0;
	int			high = n - 1;
	int			target = k - 1;

	while (low < high)
	{
		double		pivot = values[low + (high - low) / 2];
		int			i = low;
		int			j = high;

		while (i <= j)
		{
			while (values[i] > pivot)
				i++;
			while (values[j] < pivot)
				j--;
			if (i <= j)
			{
				double		swap = values[i];

				values[i++] = values[j];
				values[j--] = swap;
			}
		}
		/* now values[low .. j] >= pivot >= values[i .. high], pivot between */
		if (target <= j)
			high = j;
		else if (target >= i)
			low = i;
		else
			break;
	}
	return values[target];
}

static int
compare_bound_descending(const void *a, const void *b)
{
	const EngramNode *na = *(EngramNode *const *) a;
	const EngramNode *nb = *(EngramNode *const *) b;

	if (na->score > nb->score)
		return -1;
	if (na->score < nb->score)
		return 1;
	return na->id < nb->id ? -1 : (na->id > nb->id ? 1 : 0);
}

/*
 * Read the cue similarity of "nodes" (their access statistics known) and
 * complete their scores: through the memory reader (hot tier or heap, the
 * operator's own function, in batches) when it may be used, else with one
 * statement as the caller.
 */
static void
read_similarities(EngramSpreadState *state, EngramNode **nodes, int count)
{
	const EngramSpace *space = state->space;
	EngramMemoryReader *reader = memory_reader(state);
	StringInfoData sql;
	Oid			argtypes[2] = {INT8ARRAYOID, space->embedding_type};
	Datum		values[2];

	if (reader != NULL)
	{
		ItemPointerData *index_tids = palloc(sizeof(ItemPointerData) * count);
		ItemPointerData *tids = palloc(sizeof(ItemPointerData) * count);
		double	   *distances = palloc(sizeof(double) * count);
		bool	   *found = palloc(sizeof(bool) * count);

		for (int i = 0; i < count; i++)
		{
			index_tids[i] = nodes[i]->index_tid;
			tids[i] = nodes[i]->tid;
		}
		engram_memory_reader_distances(reader, index_tids, tids, count, state->cue_embedding,
									   distances, found);
		for (int i = 0; i < count; i++)
		{
			if (!found[i])
				continue;
			nodes[i]->has_similarity = true;
			nodes[i]->similarity = engram_distance_to_similarity(space->distance, distances[i]);
		}
		pfree(index_tids);
		pfree(tids);
		pfree(distances);
		pfree(found);
	}
	else
	{
		values[0] = node_ids_array(nodes, count);
		values[1] = state->cue_embedding;
		initStringInfo(&sql);
		appendStringInfo(&sql, "SELECT id, embedding OPERATOR(%s.%s) $2 FROM %s WHERE id = ANY ($1)",
						 space->operator_schema, engram_distance_operator(space->distance),
						 space->qualified_name);
		engram_spi_execute(sql.data, 2, argtypes, values, NULL, true, SPI_OK_SELECT);
		for (uint64 row = 0; row < SPI_processed; row++)
		{
			bool		isnull;
			int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[row],
														 SPI_tuptable->tupdesc, 1, &isnull));
			Datum		distance = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
												 2, &isnull);
			EngramNode *node = find_node(state, id);

			if (node == NULL || isnull)
				continue;
			node->has_similarity = true;
			node->similarity = engram_distance_to_similarity(space->distance,
															 DatumGetFloat8(distance));
		}
		SPI_freetuptable(SPI_tuptable);
	}
	for (int i = 0; i < count; i++)
	{
		nodes[i]->similarity_pending = false;
		nodes[i]->score = node_score(state, nodes[i], nodes[i]->has_similarity,
									 nodes[i]->similarity);
	}
}

/*
 * Every memory whose score is not complete has an upper bound of at least
 * best similarity / 2 (its other terms are not negative, recency at least
 * 1), so when the k-th best seed score is already under that, the k-th
 * best score is likely to stay there and every memory reached to need its
 * similarity (uniformly spread vectors: seeds of low similarity): then it
 * is computed from the rows spreading reads, saving a second visit of each.
 * Otherwise (clustered data: seeds of high similarity, spread memories far
 * under them) it is left to engram_spread_resolve_scores, which reads it
 * only for the memories that can still rank.
 */
void
engram_spread_plan_similarity(EngramSpreadState *state, int k)
{
	double	   *scores;
	int			n = 0;

	state->eager_similarity = false;
	if (!state->has_cue_embedding)
		return;
	scores = palloc(sizeof(double) * Max(state->nnodes, 1));
	/* the seeds' scores as they stand (a seed's confidence is its own) */
	for (int i = 0; i < state->nnodes; i++)
	{
		EngramNode *node = state->nodes[i];

		if (node->activated && node->hop == 0 && node->has_similarity)
			scores[n++] = (node->activation * engram_clamp01(node->effective_confidence) +
						   node->similarity) / 2.0 * node_recency(state, node);
	}
	if (n < k)
		state->eager_similarity = true;
	else
		state->eager_similarity = kth_largest(scores, n, k) <
			similarity_bound(state->space->distance) / 2.0;
	pfree(scores);
}

void
engram_spread_resolve_scores(EngramSpreadState *state, int k)
{
	double		best_similarity = similarity_bound(state->space->distance);
	double		best_recency = Max(1.0, engram_recency_multiplier(0.0,
																  (double) engram_recency_window,
																  engram_recency_boost));
	int			capacity = Max(state->nnodes, 1);
	double	   *known = palloc(sizeof(double) * capacity);
	EngramNode **incomplete = palloc(sizeof(EngramNode *) * capacity);
	EngramNode **unread = palloc(sizeof(EngramNode *) * capacity);
	EngramNode **to_read = palloc(sizeof(EngramNode *) * capacity);
	int			round_size = k;
	int			total_rows = 0;
	int			total_access = 0;
	int			total_similarity = 0;
	int			total_incomplete = -1;

	for (;;)
	{
		EngramNode *node;
		int			nknown = 0;
		int			nincomplete = 0;
		int			nselected = 0;
		int			nunread = 0;
		int			nread = 0;
		double		kth = -get_float8_infinity();

		/*
		 * An incomplete node can rank among the k best only if its bound
		 * reaches the k-th best complete score (scores only rise as nodes
		 * are completed, so the k-th best complete never falls).
		 */
		for (int i = 0; i < state->nnodes; i++)
		{
			node = state->nodes[i];
			if (!node->activated)
				continue;
			if (node->row_pending || node->access_pending || node->similarity_pending)
			{
				node->score = node_score_bound(state, node, best_similarity, best_recency);
				incomplete[nincomplete++] = node;
			}
			else
				known[nknown++] = node->score;
		}
		if (total_incomplete < 0)
			total_incomplete = nincomplete;
		if (nincomplete == 0)
			break;
		if (nknown >= k)
			kth = kth_largest(known, nknown, k);

		/*
		 * The candidates, bound at or above kth, sorted by bound (then id:
		 * a total order), the first round_size of them selected: the nodes
		 * under kth are left out before the sort, not after it.
		 */
		for (int i = 0; i < nincomplete; i++)
			if (incomplete[i]->score >= kth)
				incomplete[nselected++] = incomplete[i];
		qsort(incomplete, nselected, sizeof(EngramNode *), compare_bound_descending);
		nselected = Min(nselected, round_size);

		/*
		 * None can rank: they keep their bound as their score, which sorts
		 * them after the k best (their confidence is never shown).
		 */
		if (nselected == 0)
			break;

		/*
		 * Rows not read yet are read first (the next round bounds them with
		 * their stored confidence, unless they are gone).  Then the access
		 * statistics (a probe of shared memory): the bound with the real
		 * recency and confidence may already rule the similarity read out.
		 */
		for (int i = 0; i < nselected; i++)
			if (incomplete[i]->row_pending)
				unread[nunread++] = incomplete[i];
		if (nunread > 0)
			read_unread_rows(state, unread, nunread, true);
		total_rows += nunread;
		for (int i = 0; i < nselected && nunread == 0; i++)
		{
			node = incomplete[i];
			if (node->access_pending)
			{
				node_read_access(state, node);
				node_complete(state, node, false);
				total_access++;
				if (node->similarity_pending &&
					node_score_bound(state, node, best_similarity, best_recency) < kth)
					continue;
			}
			if (node->similarity_pending)
				to_read[nread++] = node;
		}
		if (nread > 0)
			read_similarities(state, to_read, nread);
		total_similarity += nread;
		/* later rounds read more at once: fewer passes when most must be read */
		round_size = Min(round_size * 2, ENGRAM_RECALL_MAX_K);
	}
	ereport(DEBUG1,
			(errmsg_internal("engram_recall: similarities %s; after spreading, %d of %d incomplete memories completed (%d rows, %d similarities read)",
							 state->eager_similarity ? "read with the rows" : "deferred",
							 total_access, Max(total_incomplete, 0), total_rows,
							 total_similarity)));
	pfree(known);
	pfree(incomplete);
	pfree(unread);
	pfree(to_read);
}

static bool sort_by_activation;

static int
compare_ranked(const void *a, const void *b)
{
	const EngramNode *na = *(EngramNode *const *) a;
	const EngramNode *nb = *(EngramNode *const *) b;
	double		va;
	double		vb;

	if (sort_by_activation)
	{
		va = na->activation;
		vb = nb->activation;
	}
	else
	{
		va = na->score;
		vb = nb->score;
	}
	if (va > vb)
		return -1;
	if (va < vb)
		return 1;
	return na->id < nb->id ? -1 : (na->id > nb->id ? 1 : 0);
}

/* binaryheap order: the node that ranks last is on top. */
static int
compare_ranked_heap(Datum a, Datum b, void *arg)
{
	EngramNode *na = (EngramNode *) DatumGetPointer(a);
	EngramNode *nb = (EngramNode *) DatumGetPointer(b);

	return compare_ranked(&na, &nb);
}

EngramNode **
engram_spread_sorted(EngramSpreadState *state, bool seeds_only, bool by_activation, int limit,
					 int *count)
{
	int			nnodes = state->nnodes;
	EngramNode **sorted;
	binaryheap *best = NULL;
	int			n = 0;

	if (limit <= 0 || limit > nnodes)
		limit = nnodes;
	sorted = palloc(sizeof(EngramNode *) * Max(limit, 1));
	sort_by_activation = by_activation;
	if (limit < nnodes)
		best = binaryheap_allocate(limit, compare_ranked_heap, NULL);

	for (int i = 0; i < nnodes; i++)
	{
		EngramNode *node = state->nodes[i];

		if (!node->activated || (seeds_only && node->hop != 0))
			continue;
		if (best == NULL)
			sorted[n++] = node;
		else if (best->bh_size < limit)
			binaryheap_add(best, PointerGetDatum(node));
		else
		{
			EngramNode *last = (EngramNode *) DatumGetPointer(binaryheap_first(best));

			if (compare_ranked(&node, &last) < 0)
				binaryheap_replace_first(best, PointerGetDatum(node));
		}
	}
	if (best == NULL)
		qsort(sorted, n, sizeof(EngramNode *), compare_ranked);
	else
	{
		/*
		 * compare_ranked is a total order (ties by id): the heap holds the
		 * first "limit" of the full sort; taken out last first.
		 */
		n = best->bh_size;
		for (int i = n - 1; i >= 0; i--)
			sorted[i] = (EngramNode *) DatumGetPointer(binaryheap_remove_first(best));
		binaryheap_free(best);
	}
	*count = n;
	return sorted;
}

/* ---------------------------------------------------------------------
 * Output
 * ---------------------------------------------------------------------
 */

/*
 * Emit "nodes" in their order with the output columns of "rows" (in any
 * order, matched by id), and record the accesses of the memories emitted.
 * A node without a row is left out: every statement of a call reads with
 * the same snapshot, so a row seen before is seen here, but a row-security
 * policy that is not stable could hide it now.
 */
static void
emit_matched_rows(EngramSpreadState *state, FunctionCallInfo fcinfo, EngramNode **nodes,
				  int count, const EngramMemoryRow *rows, int nrows, EngramEmitRow emit)
{
	ItemPointerData *tids = palloc(sizeof(ItemPointerData) * count);
	int			ntids = 0;
	engram_id_positions_hash *by_id = engram_id_positions_create(CurrentMemoryContext,
																 Max(nrows, 1), NULL);

	for (int row = 0; row < nrows; row++)
	{
		bool		found;

		engram_id_positions_insert(by_id, rows[row].id, &found)->position = row;
	}

	for (int i = 0; i < count; i++)
	{
		EngramIdPosition *entry = engram_id_positions_lookup(by_id, nodes[i]->id);
		const EngramMemoryRow *row;

		if (entry == NULL)
			continue;
		row = &rows[entry->position];
		tids[ntids++] = nodes[i]->tid;
		/* a tier not known yet: the output row's (the reader's), or probed */
		if (nodes[i]->tier == NULL && row->tier != NULL)
			set_node_tier(state, nodes[i], row->tier);
		emit(fcinfo, nodes[i], row->content, row->occurred_at, row->metadata,
			 row->content_null, row->occurred_at_null, row->metadata_null,
			 node_tier(state, nodes[i]));
	}
	engram_recall_access_record(state->space->relid, tids, ntids);
}

/*
 * The output rows through the memory reader (one scan of the id index,
 * rows from the hot tier or the heap), when it may be used: returns false,
 * emitting nothing, otherwise.  The reader returns only rows whose
 * confidence is above 0, which every node was when it was read under the
 * same snapshot.
 */
static bool
emit_through_reader(EngramSpreadState *state, FunctionCallInfo fcinfo, EngramNode **nodes,
					int count, EngramEmitRow emit)
{
	EngramMemoryReader *reader = memory_reader(state);
	int64	   *ids;
	EngramMemoryRow *rows;
	int			nrows;

	if (reader == NULL || !engram_memory_reader_want_output(reader))
		return false;
	engram_memory_reader_set_cue(reader, (Datum) 0);
	ids = palloc(sizeof(int64) * count);
	rows = palloc(sizeof(EngramMemoryRow) * count);
	for (int i = 0; i < count; i++)
		ids[i] = nodes[i]->id;
	nrows = engram_memory_reader_fetch(reader, ids, count, rows);
	emit_matched_rows(state, fcinfo, nodes, count, rows, nrows, emit);
	return true;
}

void
engram_spread_emit(EngramSpreadState *state, FunctionCallInfo fcinfo, EngramNode **nodes,
				   int count, EngramEmitRow emit)
{
	StringInfoData sql;
	Oid			argtypes[1] = {INT8ARRAYOID};
	Datum		values[1];
	EngramMemoryRow *rows;
	int			nrows;

	if (count == 0)
		return;

	/* engram_spread returns memories whose statistics were not needed yet */
	for (int i = 0; i < count; i++)
	{
		if (nodes[i]->row_pending)
			elog(ERROR, "engram: memory " INT64_FORMAT " returned before its row was read",
				 nodes[i]->id);
		if (nodes[i]->access_pending)
		{
			node_read_access(state, nodes[i]);
			node_complete(state, nodes[i], false);
		}
	}

	if (emit_through_reader(state, fcinfo, nodes, count, emit))
		return;

	/* Through SQL, as the caller: the policies apply. */
	values[0] = node_ids_array(nodes, count);
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT id, content, occurred_at, metadata FROM %s WHERE id = ANY ($1)",
					 state->space->qualified_name);
	engram_spi_execute(sql.data, 1, argtypes, values, NULL, true, SPI_OK_SELECT);

	nrows = (int) SPI_processed;
	rows = palloc0(sizeof(EngramMemoryRow) * Max(nrows, 1));
	for (int row = 0; row < nrows; row++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[row];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		rows[row].id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		rows[row].content = SPI_getbinval(tuple, desc, 2, &rows[row].content_null);
		rows[row].occurred_at = SPI_getbinval(tuple, desc, 3, &rows[row].occurred_at_null);
		rows[row].metadata = SPI_getbinval(tuple, desc, 4, &rows[row].metadata_null);
	}
	emit_matched_rows(state, fcinfo, nodes, count, rows, nrows, emit);
}

/* ---------------------------------------------------------------------
 * engram_spread
 * ---------------------------------------------------------------------
 */

static void
emit_spread_row(FunctionCallInfo fcinfo, EngramNode *node, Datum content, Datum occurred_at,
				Datum metadata, bool content_null, bool occurred_at_null, bool metadata_null,
				const char *tier)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[SPREAD_RESULT_COLUMNS];
	bool		nulls[10] = {0};

	values[0] = Int64GetDatum(node->id);
	values[1] = content;
	values[2] = Float8GetDatum(node->activation);
	values[3] = Float8GetDatum(node->confidence);
	values[4] = Float8GetDatum(node->confidence_low);
	values[5] = Float8GetDatum(node->confidence_high);
	values[6] = Int32GetDatum(node->hop);
	nulls[1] = content_null;
	values[7] = CStringGetTextDatum(tier);
	values[8] = occurred_at;
	nulls[8] = occurred_at_null;
	values[9] = metadata;
	nulls[9] = metadata_null;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * engram_spread(space text, from_id bigint, max_hops int DEFAULT NULL,
 *     k int DEFAULT 10, activation double precision DEFAULT 1.0)
 *     RETURNS TABLE (id, content, activation, confidence, confidence_low,
 *                    confidence_high, hops, tier, occurred_at, metadata)
 *
 * Spread from one memory (a seed of the given activation) and return the
 * k most activated memories it reaches, itself excluded, by activation.
 * max_hops NULL means engram.max_hops.  The time budget does not apply.
 */
static Datum
spread_call(FunctionCallInfo fcinfo)
{
	Oid			extension_namespace = engram_extension_namespace(fcinfo);
	EngramSpace space;
	EngramSpreadState state;
	MemoryContext context;
	int64		from_id;
	int32		k;
	double		activation;
	StringInfoData sql;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	EngramNode **sorted;
	EngramNode **results;
	int			nsorted;
	int			nresults = 0;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("space and from_id must not be null")));
	from_id = PG_GETARG_INT64(1);
	if (!PG_ARGISNULL(2))
		engram_check_max_hops(PG_GETARG_INT32(2));
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("k must not be null")));
	k = PG_GETARG_INT32(3);
	engram_check_k(k);
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("activation must not be null")));
	activation = PG_GETARG_FLOAT8(4);
	engram_check_unit_interval("activation", activation);

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	engram_require_result_columns(fcinfo, SPREAD_RESULT_COLUMNS, "engram_spread()");
	context = engram_recall_call_context_begin();

	SPI_connect();
	engram_space_resolve(PG_GETARG_TEXT_PP(0), extension_namespace, &space);
	engram_spread_state_init(&state, &space, context);
	if (!PG_ARGISNULL(2))
		state.max_hops = PG_GETARG_INT32(2);
	state.time_budget_ms = 0;

	values[0] = Int64GetDatum(from_id);
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT ctid, confidence, created_at, decay_function FROM %s "
					 "WHERE id = $1 AND confidence OPERATOR(pg_catalog.>) 0",
					 space.qualified_name);
	engram_spi_execute(sql.data, 1, argtypes, values, NULL, true, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		HeapTuple	tuple = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		ItemPointerData tid = *(ItemPointer) DatumGetPointer(SPI_getbinval(tuple, desc, 1, &isnull));
		double		confidence = DatumGetFloat4(SPI_getbinval(tuple, desc, 2, &isnull));
		TimestampTz created_at = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 3, &isnull));
		char	   *decay = SPI_getvalue(tuple, desc, 4);

		engram_spread_add_seed(&state, from_id, &tid, confidence, created_at, decay,
							   false, 0.0, activation);
		engram_spread_run(&state);
		engram_spread_finish(&state, false);
		sorted = engram_spread_sorted(&state, false, true, 0, &nsorted);
		results = palloc(sizeof(EngramNode *) * Max(nsorted, 1));

		/*
		 * The k most activated, their rows read where not yet (memories
		 * first reached at the last depth); one found gone leaves its
		 * place to the next.
		 */
		do
		{
			nresults = 0;
			for (int i = 0; i < nsorted && nresults < k; i++)
				if (sorted[i]->activated && sorted[i]->id != from_id)
					results[nresults++] = sorted[i];
		} while (read_unread_rows(&state, results, nresults, false) > 0);
		engram_spread_emit(&state, fcinfo, results, nresults, emit_spread_row);
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("memory " INT64_FORMAT " does not exist in the memory space", from_id),
				 errhint("It may have been forgotten, or row-level security may hide it.")));
	engram_spread_state_release(&state);
	SPI_finish();
	engram_recall_call_context_end(context);
	return (Datum) 0;
}

/*
 * engram_spread: spread_call, with index fetches not counted as accesses
 * meanwhile (access.c); the setting is restored also on error.
 */
Datum
engram_spread(PG_FUNCTION_ARGS)
{
	return engram_recall_call_untracked(spread_call, fcinfo);
}
