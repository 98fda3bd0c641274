/*-------------------------------------------------------------------------
 *
 * recall_internal.h
 *	  Private declarations of the cognitive memory layer (src/recall/):
 *	  memory spaces, store, associations, forget, recall with spreading
 *	  activation, decay and confidence.
 *
 * Layout of the subsystem:
 *	  recall_guc.c     every tunable constant of DESIGN section 4 as an
 *	                   engram.* setting (the clock, engram_now() and
 *	                   engram.pinned_now, is src/clock.c's)
 *	  recall_math.c    pure functions (no catalog, no SPI): seeding sigmoid,
 *	                   forgetting curves, noisy-OR, dispersion band,
 *	                   confidence algebra, recency boost
 *	  decay.c          SQL wrappers of the forgetting curves and the seeding sigmoid
 *	  confidence.c     SQL wrappers of the confidence algebra
 *	  spaces.c         the space catalog: create, register, drop, resolve
 *	  space_cache.c    the backend's cache of resolved spaces and its
 *	                   invalidation
 *	  store.c          engram_store, engram_store_batch, engram_associate,
 *	                   engram_forget
 *	  recall.c         engram_recall: cue handling, seeding, ranking, output
 *	  spreading.c      spreading activation over the association table and
 *	                   engram_spread
 *	  access.c         the one place where recall reads and records access
 *	                   statistics and tiers (the table AM's C API)
 *	  memory_reader.c  the state of memory rows by id without SQL (id
 *	                   index + hot tier + heap) where SQL could not see
 *	                   anything else (no row-level security, SELECT held)
 *	  association_cache.c  the backend's cache of the associations
 *	                   memory_reader.c read, exact for every snapshot
 *	                   (internal triggers announce writers in shared memory)
 *	  btree_walk.c     the entries of many bigint keys of a btree in one
 *	                   ordered walk (memory_reader.c's id and association
 *	                   key reads)
 *	  recent_buffers.c pins of index leaves and heap pages met before,
 *	                   without the buffer mapping table (ReadRecentBuffer)
 *	  seed_search.c    the embedding seed query without filters run through
 *	                   its plan's engram_hnsw index and the memory reader
 *	                   where it reads exactly the statement's rows
 *	  spi_plans.c      SPI execution with a cache of saved plans
 *
 * Security contract: nothing here is SECURITY DEFINER and every row is
 * read or written through SPI as the calling user, so table privileges
 * and row-level security of the space and association tables apply --
 * except spreading's reads of the memories and associations it reaches,
 * and recall's embedding seed query without filters (seed_search.c),
 * which memory_reader.c does without SQL only where such a statement could
 * show nothing else: the caller holds SELECT on the whole table and no
 * row-level security applies to them (otherwise spreading runs the
 * statements).  SQL
 * text is built only from catalog names passed through
 * quote_identifier()/quote_qualified_identifier() and fixed fragments;
 * every user value travels as an SPI parameter.  The statements run with
 * the caller's search_path (a trigger of theirs may rely on it), so an
 * operator whose operands have no exact match in pg_catalog (real > 0,
 * text[] && text[], which pg_catalog only has for anyarray) is written
 * OPERATOR(pg_catalog.x): an operator planted in a schema of the caller's
 * search_path would otherwise be the better match and run as the caller.
 * engram_create_space pins search_path while it creates the tables.
 *
 * No locks of its own and no shared memory but association_cache.c's
 * array of writer announcements (a spinlock per slot, held for a copy of
 * it): relation locks are the ones
 * the SPI statements take (plus AccessShareLock on the space table while a
 * call resolves it, and, in memory_reader.c, on the id index, the
 * association table and its index while a depth is read); memory_reader.c
 * reads the hot tier (its shard locks) and share-locks one heap buffer at
 * a time, never both at once.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ENGRAM_RECALL_INTERNAL_H
#define ENGRAM_RECALL_INTERNAL_H

#include "postgres.h"

#include "access/itup.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "storage/block.h"
#include "storage/buf.h"
#include "storage/itemptr.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"
#include "utils/timestamp.h"

#include "engram.h"				/* engram_now(): the clock of decay and recency */
#include "recall/engram_recall.h"	/* what other subsystems may call */

/* ---------------------------------------------------------------------
 * Limits (not tunable: they bound memory use and protect the server)
 * ---------------------------------------------------------------------
 */
#define ENGRAM_RECALL_MAX_K				10000	/* k of recall / spread */
#define ENGRAM_RECALL_MAX_HOPS			10		/* max_hops argument / GUC */
#define ENGRAM_RECALL_MAX_PATHS			32		/* engram.max_paths */
#define ENGRAM_RECALL_MAX_BATCH			100000	/* rows per store_batch */

/* ---------------------------------------------------------------------
 * Settings (recall_guc.c).  Defaults are DESIGN section 4.
 * ---------------------------------------------------------------------
 */
extern double engram_seed_threshold;		/* 0.4 */
extern double engram_seed_temperature;		/* 0.5 */
extern double engram_seed_min_activation;	/* 0.01 */
extern double engram_seed_candidates_factor;	/* 2.0: k' = max(k, 2k) */
extern double engram_text_weight;			/* 0.3: lexical share of similarity */
extern bool engram_spreading_similarity;	/* true: similarity of spread memories */
extern bool engram_space_deferred_insert;	/* false: spaces' engram_hnsw defers inserts */
extern double engram_spreading_decay;		/* 0.7: exp(-0.7 x hop) */
extern int	engram_max_hops;				/* 4 */
extern double engram_spreading_min_contribution;	/* 0.01 */
extern double engram_activation_threshold_seed;	/* 0.01 (depth 0) */
extern double engram_activation_threshold_near;	/* 0.05 (depth 1-2) */
extern double engram_activation_threshold_far;	/* 0.1 (depth 3+) */
extern double engram_confidence_factor_seed;	/* 1.0 */
extern double engram_confidence_factor_near;	/* 0.95 */
extern double engram_confidence_factor_far;	/* 0.9 */
extern double engram_revisit_penalty;		/* 0.93 */
extern double engram_path_confidence_decay;	/* 0.35: exp(-0.35 x hops) */
extern int	engram_max_paths;				/* 8 */
extern int	engram_visit_budget_hot;		/* 3 */
extern int	engram_visit_budget_warm;		/* 2 */
extern int	engram_visit_budget_cold;		/* 1 */
extern double engram_spreading_time_budget;	/* 10 ms, 0 = unlimited */
extern double engram_recency_boost;			/* 1.2 */
extern int	engram_recency_window;			/* 3600 s */
extern double engram_decay_exponential_tau;	/* 1.96 h, in seconds */
extern double engram_decay_power_beta;		/* 0.18 */
extern int	engram_decay_two_component_accesses;	/* 3 */
extern double engram_decay_hybrid_tau;		/* 0.8 h, in seconds */
extern double engram_decay_hybrid_switch;	/* 24 h, in seconds */
extern double engram_decay_hybrid_beta;		/* 0.25 */
extern double engram_decay_floor;			/* 0.1 */
extern double engram_confidence_interval_cap;	/* 0.3 */


/* ---------------------------------------------------------------------
 * Pure math (recall_math.c).  No palloc, no ereport: callers validate.
 * ---------------------------------------------------------------------
 */
typedef enum EngramDecayKind
{
	ENGRAM_DECAY_NONE = 0,		/* only as a space default */
	ENGRAM_DECAY_EXPONENTIAL,
	ENGRAM_DECAY_POWER_LAW,
	ENGRAM_DECAY_TWO_COMPONENT,
	ENGRAM_DECAY_HYBRID
} EngramDecayKind;

/* Parameters of the four forgetting curves, in seconds where a time. */
typedef struct EngramDecayParams
{
	double		exponential_tau;
	double		power_beta;
	int			two_component_accesses;
	double		hybrid_tau;
	double		hybrid_switch;
	double		hybrid_beta;
	double		floor;
} EngramDecayParams;

/* The parameters currently set by the engram.decay_* settings. */
extern void engram_decay_params_current(EngramDecayParams *params);

/*
 * Retention in [floor, 1] after "elapsed_seconds" without access (negative
 * elapsed counts as 0) for a memory accessed "access_count" times.
 */
extern double engram_decay_retention(EngramDecayKind kind, double elapsed_seconds,
									 int64 access_count,
									 const EngramDecayParams *params);

/* sigmoid((similarity - threshold) / temperature); temperature > 0. */
extern double engram_seed_activation(double similarity, double threshold,
									 double temperature);

/* 1 - prod(1 - p[i]) over the n values (each clamped to [0,1]). */
extern double engram_noisy_or(const double *p, int n);

/* Population standard deviation of the n values, capped at "cap"; 0 if n < 2. */
extern double engram_dispersion_halfwidth(const double *values, int n, double cap);

/* Confidence algebra on [0,1]. */
extern double engram_confidence_and(double a, double b);
extern double engram_confidence_or(double a, double b);
extern double engram_confidence_not(double a);

/*
 * Ranking multiplier for a memory last used "elapsed_seconds" ago: rises
 * linearly from 1 (at the window's end or older) to max_boost (just used).
 */
extern double engram_recency_multiplier(double elapsed_seconds, double window_seconds,
										double max_boost);

/* Clamp to [0,1] (NaN becomes 0). */
extern double engram_clamp01(double x);

/* Names <-> EngramDecayKind; the parse returns false on an unknown name. */
extern bool engram_decay_kind_parse(const char *name, bool allow_none,
									EngramDecayKind *kind);
extern const char *engram_decay_kind_name(EngramDecayKind kind);

/* ---------------------------------------------------------------------
 * Memory spaces (spaces.c)
 * ---------------------------------------------------------------------
 */
typedef enum EngramDistance
{
	ENGRAM_DISTANCE_COSINE,
	ENGRAM_DISTANCE_L2,
	ENGRAM_DISTANCE_INNER_PRODUCT
} EngramDistance;

/* A resolved memory space; palloc'd strings live in the caller's context. */
typedef struct EngramSpace
{
	Oid			relid;			/* the memory table */
	Oid			assoc_relid;	/* its association table */
	int			dims;
	EngramDistance distance;
	EngramDecayKind default_decay;
	Oid			embedding_type; /* evector's type OID (from the column) */
	char	   *qualified_name; /* quoted schema.table of the memory table */
	char	   *assoc_qualified_name;	/* quoted schema.table of associations */
	char	   *operator_schema;	/* quoted schema of the evector operators */
	Oid			operator_namespace; /* the same schema's OID */
	char	   *text_config_literal;	/* quoted literal of the text search
										 * configuration's qualified name */
} EngramSpace;

/*
 * Resolve a space argument (a table name taken literally, else parsed as a
 * possibly-qualified SQL name), lock its table with AccessShareLock and
 * read its catalog row.  ERROR when it does not exist or is not an Engram
 * space.  Must be called inside SPI_connect().
 */
extern void engram_space_resolve(text *space_name, Oid extension_namespace,
								 EngramSpace *space);

/*
 * The backend's cache of resolved spaces (space_cache.c), used by
 * engram_space_resolve(): the lookup copies a current entry for "relid"
 * into *space (strings in the current context) and returns true; the store
 * keeps a copy of a space just read from "catalog_relid".
 */
extern bool engram_space_cache_lookup(Oid relid, Oid extension_namespace, EngramSpace *space);
extern void engram_space_cache_store(const EngramSpace *space, Oid catalog_relid);

/* The SQL distance operator and the similarity derived from a distance. */
extern const char *engram_distance_operator(EngramDistance distance);
extern double engram_distance_to_similarity(EngramDistance distance, double d);
extern bool engram_distance_parse(const char *name, EngramDistance *distance);
extern const char *engram_distance_name(EngramDistance distance);

/*
 * The extension's schema: the namespace of the SQL function being called
 * (every Engram object lives in it).
 */
extern Oid	engram_extension_namespace(FunctionCallInfo fcinfo);

/*
 * Run a statement through SPI (spi_plans.c): parameterised statements use
 * a backend-local cache of saved plans.  ERROR (can't happen) unless the
 * result code is "expected_rc".
 */
extern void engram_spi_execute(const char *sql, int nargs, Oid *argtypes, Datum *values,
							   const char *nulls, bool read_only, int expected_rc);

/*
 * The saved plan engram_spi_execute() runs for a parameterised statement
 * (nargs > 0), prepared on first use; it belongs to the cache.
 */
extern struct _SPI_plan *engram_spi_saved_plan(const char *sql, int nargs, Oid *argtypes);

/*
 * Check an evector datum against the space: ERROR (ERRCODE_DATA_EXCEPTION)
 * on a dimension mismatch, a non-finite element, or a zero vector in a
 * cosine space (its cosine similarity is undefined).  Returns it detoasted.
 */
extern Datum engram_space_check_embedding(const EngramSpace *space, Datum value);

/*
 * Convert an embedding argument of type "type" (evector, text, or any type
 * with a cast to evector) to a checked evector datum.
 */
extern Datum engram_space_embedding_argument(const EngramSpace *space, Datum value, Oid type);

/* ---------------------------------------------------------------------
 * Spreading activation (spreading.c)
 * ---------------------------------------------------------------------
 */

/* One simple path from a seed, kept to compute path confidence. */
typedef struct EngramPath
{
	double		strength;		/* seed's effective confidence x prod(weights) */
	double		confidence;		/* its path confidence (without the memory's
								 * own), set when a node keeps it */
	int			hops;
	int64		nodes[ENGRAM_RECALL_MAX_HOPS + 1];	/* seed first, memory last */
} EngramPath;

/* A memory reached by recall or spread (EngramSpreadState's nodes). */
typedef struct EngramNode
{
	int64		id;
	bool		row_pending;	/* first reached at the last depth, row not
								 * read yet: the row fields below and tier
								 * are unset */
	ItemPointerData tid;		/* for access statistics and tier */
	ItemPointerData index_tid;	/* TID its index entry carries (HOT chain
								 * root: the hot tier's key); invalid when
								 * not read by the memory reader */
	double		stored_confidence;
	TimestampTz created_at;		/* the row's, for the access lookup */
	EngramDecayKind decay;		/* its forgetting curve, resolved */
	bool		access_pending; /* the three below not read yet (access.c) */
	TimestampTz last_access;	/* from access.c */
	int64		access_count;	/* from access.c */
	double		effective_confidence;	/* stored x retention */
	bool		has_similarity;
	double		similarity;
	bool		similarity_pending; /* similarity to the cue not read yet */
	double		seed_activation;	/* activation as a seed; 0 if not a seed */
	double		activation;		/* after spreading, clamped to [0,1] */
	int			hop;			/* depth of first activation; 0 = seed */
	bool		activated;		/* passed its depth threshold */
	const char *tier;			/* "hot", "warm" or "cold" (access.c); NULL
								 * until needed for a row read through a
								 * seed query or SQL (node_tier) */
	int			visits;			/* seeding and depths that reached it */
	int			npaths;
	EngramPath *paths;			/* best engram_max_paths simple paths */
	/* set by engram_spread_finish() */
	double		evidence;		/* 1 for a seed, else noisy-OR of its paths */
	double		confidence;
	double		confidence_low;
	double		confidence_high;
	double		score;
} EngramNode;

/*
 * An index of int64 ids to positions in an array, in an open-addressing
 * table (lib/simplehash.h) allocated in a memory context: the nodes of a
 * spreading run, recall's seed candidates, the output rows matched to
 * their nodes.  engram_id_positions_insert() returns the entry of an id
 * (found or new: then its position is for the caller to set), _lookup()
 * the entry or NULL; an entry moves when the table grows, so it is valid
 * until the next insert.  Defined in spreading.c.
 */
typedef struct EngramIdPosition
{
	int64		id;
	int32		position;
	char		status;			/* simplehash's */
} EngramIdPosition;

#define SH_PREFIX		engram_id_positions
#define SH_ELEMENT_TYPE	EngramIdPosition
#define SH_KEY_TYPE		int64
#define SH_SCOPE		extern
#define SH_DECLARE
#include "lib/simplehash.h"

/* Bits of EngramSpreadState's node filter: 2 ^ ENGRAM_NODE_FILTER_LOG2. */
#define ENGRAM_NODE_FILTER_LOG2 13
#define ENGRAM_NODE_FILTER_BITS (1 << ENGRAM_NODE_FILTER_LOG2)

/* Everything a spreading run needs; built by recall or spread. */
typedef struct EngramSpreadState
{
	const EngramSpace *space;
	EngramNode **nodes;			/* every node, in the order entered */
	int			nnodes;
	int			max_nodes;		/* length of the "nodes" array */
	struct engram_id_positions_hash *node_positions;	/* id -> its index in
														 * "nodes" */
	/* one bit per hash of the ids in "nodes": a clear bit means no node */
	uint64		node_filter[ENGRAM_NODE_FILTER_BITS / 64];
	char	   *node_storage;	/* node_room free bytes for new nodes */
	Size		node_room;
	MemoryContext context;		/* nodes and paths live here */
	bool		has_cue_embedding;
	Datum		cue_embedding;	/* evector datum of the embedding cue */
	int			max_hops;
	double		time_budget_ms; /* 0 = unlimited */
	bool		budget_exceeded;	/* set when spreading stopped early */
	int			depth_reached;	/* deepest depth completed */
	int			spread_activated;	/* memories activated beyond the seeds
									 * (some maybe with unread rows) */
	int			unread_rows;	/* nodes with row_pending */
	TimestampTz now;
	EngramDecayParams decay;
	struct EngramMemoryReader *reader;	/* opened on first use, NULL: SQL */
	bool		reader_opened;	/* engram_memory_reader_begin() was called */
	bool		eager_similarity;	/* compute the cue similarity of every
									 * memory reached from the row read
									 * (engram_spread_plan_similarity) */
	int32		tiers_touched;	/* ENGRAM_TIER_BIT() of the tiers nodes were
								 * given (metrics' slow-call details) */
} EngramSpreadState;

/*
 * The working memory of one recall or spread call (spreading.c): a context
 * kept for the backend and reset at the end (its first block survives, so
 * a call does not malloc and free it every time), or a fresh one for a
 * call nested in another.  _end resets or deletes it; when the call raises
 * an error, the kept context is reset by the next call of a later
 * transaction.
 */
extern MemoryContext engram_recall_call_context_begin(void);
extern void engram_recall_call_context_end(MemoryContext context);

/*
 * Create the node table in "context" and read the settings (clock, decay
 * parameters, max_hops and time budget defaults) into "state".
 */
extern void engram_spread_state_init(EngramSpreadState *state, const EngramSpace *space,
									 MemoryContext context);

/*
 * The run's memory reader, opened on first use; NULL when rows must be
 * read through SQL (engram_memory_reader_begin, _usable).
 */
extern struct EngramMemoryReader *engram_spread_memory_reader(EngramSpreadState *state);

/*
 * Close what the run opened (the memory reader); call before SPI_finish()
 * when no error was raised (an error releases it with the transaction).
 */
extern void engram_spread_state_release(EngramSpreadState *state);

/*
 * Enter a seed (hop 0) from its row.  "decay_name" is the row's
 * decay_function (NULL: the space default).  A seed entered twice keeps
 * the higher activation and the known similarity.
 */
extern EngramNode *engram_spread_add_seed(EngramSpreadState *state, int64 id,
										  ItemPointer tid, double stored_confidence,
										  TimestampTz created_at, const char *decay_name,
										  bool has_similarity, double similarity,
										  double activation);

/*
 * Spread from the seeds, depth by depth, up to state->max_hops.  Returns
 * false when the time budget ran out before all depths were done (the
 * completed depths are kept).  Inside SPI_connect().
 */
extern bool engram_spread_run(EngramSpreadState *state);

/*
 * Decide, after seeding with a cue embedding, whether spreading computes
 * the similarity of the memories it reaches as it reads their rows (when
 * nearly all of them will need it) or leaves it to
 * engram_spread_resolve_scores.  Only the amount of work depends on it,
 * never the answer.
 */
extern void engram_spread_plan_similarity(EngramSpreadState *state, int k);

/*
 * Whether spreading activated a memory beyond the seeds that the caller may
 * see: reads rows of memories first reached at the last depth until one
 * is found, when those are all there is.
 */
extern bool engram_spread_activated_any(EngramSpreadState *state);

/*
 * Compute each activated node's path evidence, and the confidence,
 * interval and score of those whose access statistics are known (every
 * seed; a memory reached by spreading has its statistics read only when
 * it can rank or is returned: engram_spread_resolve_scores,
 * engram_spread_emit).  With "seeds_only" (similarity mode, hybrid
 * fallback) every seed is ranked on its own: its seed activation, its own
 * confidence, no paths.
 */
extern void engram_spread_finish(EngramSpreadState *state, bool seeds_only);

/*
 * Complete the scores of the nodes reached by spreading that can still
 * rank among the "k" best: read their rows (memories first reached at the
 * last depth), access statistics and cue similarity, highest upper bound
 * first, until every node left incomplete has an upper bound under the
 * k-th best complete score (the bound takes the highest similarity, stored
 * confidence and retention 1 and the full recency boost).  The
 * nodes left have that bound as their score, so they sort after the k
 * best, which are exactly the k best of a run that read everything.  Call
 * after engram_spread_finish(); inside SPI_connect().
 */
extern void engram_spread_resolve_scores(EngramSpreadState *state, int k);

/*
 * The activated nodes (only seeds when "seeds_only"), sorted by score, or
 * by activation when "by_activation", descending, then by id: the first
 * "limit" of them (all when "limit" is 0), in *count.  palloc'd.
 * Call after engram_spread_finish() with the same "seeds_only" (and, for
 * a ranking by score of a spreading run, engram_spread_resolve_scores()).
 */
extern EngramNode **engram_spread_sorted(EngramSpreadState *state, bool seeds_only,
										 bool by_activation, int limit, int *count);

/*
 * Fetch content, occurred_at and metadata of the given nodes and append
 * one output row per node to the materialized SRF of "fcinfo" through
 * "emit", after completing the confidence of those whose access statistics
 * were not read yet.  Records one access per node (access.c).  Inside
 * SPI_connect().
 */
typedef void (*EngramEmitRow) (FunctionCallInfo fcinfo, EngramNode *node, Datum content,
							   Datum occurred_at, Datum metadata, bool content_null,
							   bool occurred_at_null, bool metadata_null, const char *tier);
extern void engram_spread_emit(EngramSpreadState *state, FunctionCallInfo fcinfo,
							   EngramNode **nodes, int count, EngramEmitRow emit);

/* ---------------------------------------------------------------------
 * Direct reads of memory state (memory_reader.c)
 * ---------------------------------------------------------------------
 */
typedef struct EngramMemoryReader EngramMemoryReader;

/* One memory row as "SELECT id, ctid, confidence, created_at, decay_function" reads it. */
typedef struct EngramMemoryRow
{
	int64		id;
	ItemPointerData tid;		/* the visible version's own TID (ctid) */
	ItemPointerData index_tid;	/* the TID its index entry carries */
	double		confidence;
	TimestampTz created_at;		/* 0 when NULL */
	char	   *decay_name;		/* palloc'd; NULL: the space default */
	const char *tier;			/* "hot", "warm" or "cold" (static) */
	bool		has_distance;	/* distance to the cue was computed */
	double		distance;		/* "embedding OPERATOR(space distance) cue" */
	/* with engram_memory_reader_want_output(): copies in the caller's context */
	Datum		content;
	bool		content_null;
	Datum		occurred_at;
	bool		occurred_at_null;
	Datum		metadata;
	bool		metadata_null;
} EngramMemoryRow;

/*
 * A reader of the space's rows for the active snapshot, or NULL when they
 * must be read through SQL (row-level security, no table-wide SELECT, no
 * unique btree index on id, another table AM, non-canonical column types).
 * Inside SPI_connect(), after engram_space_resolve().
 */
extern EngramMemoryReader *engram_memory_reader_begin(const EngramSpace *space);

/*
 * The rows with the given (distinct) ids whose confidence is above 0, in
 * no particular order, into rows[0 .. n-1]; returns n.  "rows" holds nids.
 */
extern int	engram_memory_reader_fetch(EngramMemoryReader *reader, const int64 *ids, int nids,
									   EngramMemoryRow *rows);

/*
 * The rows that index entries carrying index_tids[0 .. n-1] (distinct TIDs
 * of any index of the table) lead to, as an index scan's fetches read
 * them (the version visible to the snapshot), whose confidence is above 0,
 * in the order of the TIDs, into rows[0 .. nrows-1]; returns nrows.  As
 * the table AM's index fetch does, a row read from the heap is kept in the
 * hot tier (engram_tam_admit_hot), and a cached copy read is made resident.
 */
extern int	engram_memory_reader_fetch_tids(EngramMemoryReader *reader,
											const ItemPointerData *index_tids, int n,
											EngramMemoryRow *rows);
extern void engram_memory_reader_end(EngramMemoryReader *reader);

/*
 * May a reader still be used, later in the same call: same active snapshot,
 * and still no row-level security and SELECT on the table (privileges and
 * policies are checked at every use, never cached)?
 */
extern bool engram_memory_reader_usable(EngramMemoryReader *reader);

/*
 * Make engram_memory_reader_fetch() also compute each row's distance to
 * "cue" (an evector datum of the space, valid while the reader is) where
 * the embedding is stored in the row uncompressed, or the row comes from
 * the hot tier: no further read is needed then.  Rows whose embedding is
 * compressed or out of line get has_distance false.  No-op when the space
 * has no such operator; (Datum) 0 stops computing distances.
 */
extern void engram_memory_reader_set_cue(EngramMemoryReader *reader, Datum cue);

/*
 * Make engram_memory_reader_fetch() also copy content, occurred_at and
 * metadata (what recall and spread return); false, changing nothing, when
 * the table lacks one of them with its canonical type.
 */
extern bool engram_memory_reader_want_output(EngramMemoryReader *reader);

/*
 * "embedding OPERATOR(<space distance>) cue" of the row versions tids[i]
 * (found through index entries carrying index_tids[i]; an invalid one: the
 * version is read on its own), as the SQL expression computes it, into
 * distances[i]; found[i] false when the embedding is NULL or the version
 * is not visible.  Read in batches as engram_memory_reader_fetch() reads
 * rows: hot-tier lookups first, then the heap pages of the others pinned
 * and requested ahead of reading any.
 */
extern void engram_memory_reader_distances(EngramMemoryReader *reader,
										   ItemPointerData *index_tids,
										   ItemPointerData *tids, int n, Datum cue,
										   double *distances, bool *found);

/*
 * Run recall's embedding seed query "sql" (parameters as given to
 * engram_spi_execute; ... ORDER BY embedding <op> $1 LIMIT "limit", no
 * filters) through the index its plan scans and "reader" (seed_search.c):
 * the rows it returns, in its order, into a palloc'd *rows, *nrows of
 * them, each with its distance to "cue" ($1); false, reading nothing that
 * matters, when the plan is not an exact ordered scan of an engram_hnsw
 * index: the caller then runs the statement.
 */
extern bool engram_seed_search_direct(EngramMemoryReader *reader, const EngramSpace *space,
									  const char *sql, int nargs, Oid *argtypes, Datum cue,
									  int64 limit, EngramMemoryRow **rows, int *nrows);

/* One association as "SELECT src, dst, weight" reads it. */
typedef struct EngramEdgeRow
{
	int64		src;
	int64		dst;
	double		weight;
	int			source;			/* position of src in the srcs read */
} EngramEdgeRow;

/*
 * The associations leaving the memories "srcs" (ascending, distinct),
 * sorted by (dst, src), read without SQL into a palloc'd *edges; false
 * (nothing read) when they must be read through SQL (same conditions as
 * the memory reader).
 */
extern bool engram_association_reader_fetch(const EngramSpace *space, const int64 *srcs,
											int nsrcs, EngramEdgeRow **edges, int *nedges);

/* ---------------------------------------------------------------------
 * The backend's cache of associations (association_cache.c)
 * ---------------------------------------------------------------------
 */
extern int	engram_association_cache_size;	/* kB, 0 = off */

/* One cached association of a src. */
typedef struct EngramCachedEdge
{
	int64		dst;
	double		weight;
} EngramCachedEdge;

/* What one read of an association table may take from, and give to, the cache. */
typedef struct EngramAssociationCacheRead
{
	bool		usable;
	bool		lookup;			/* lists may be there: look them up */
	bool		keep;			/* keep what is walked (read often enough) */
	Oid			relid;
	uint64		generation;		/* the shared generation the read is valid for */
	uint64		epoch;			/* the relation's local invalidation epoch */
} EngramAssociationCacheRead;

/*
 * May the associations of "table" read under "snapshot" come from, and go
 * to, the cache (association_cache.c's rules)?  The caller reads it only
 * where engram_association_reader_fetch() would read without SQL.
 */
extern bool engram_association_cache_begin(Relation table, Snapshot snapshot,
										   EngramAssociationCacheRead *read);
/* The cached list of "src" (ascending dst) for this read; false on a miss. */
extern bool engram_association_cache_lookup(EngramAssociationCacheRead *read, int64 src,
											const EngramCachedEdge **edges, int *nedges);
/*
 * After the walk: may what it read be kept (read often enough at this
 * generation, and no writer announced itself since begin)?
 */
extern bool engram_association_cache_may_keep(EngramAssociationCacheRead *read);
/* Keep the list of "src" (rows of that src, in walk order). */
extern void engram_association_cache_store(EngramAssociationCacheRead *read, int64 src,
										   const EngramEdgeRow *rows, int nrows);
/* Give a new association table the triggers the cache relies on. */
extern void engram_association_cache_add_triggers(Oid relid, Oid extension_namespace);
extern void engram_association_cache_init(void);

/* ---------------------------------------------------------------------
 * Ordered reads of a btree on a bigint column (btree_walk.c)
 * ---------------------------------------------------------------------
 */

/*
 * Called for each entry of a walked key: its heap TID and, when the walk
 * was asked for them, the index tuple (both valid during the call only).
 * The leaf it came from is pinned, not locked.
 */
typedef void (*EngramBtreeVisit) (void *arg, int64 key, ItemPointer heap_tid,
								  IndexTuple tuple);

/* Is "index" a btree whose first key column is bigint, ascending? */
extern bool engram_btree_walk_usable(Relation index);

/*
 * Visit every entry whose first key column equals one of "keys" (strictly
 * ascending), in index order, walking the tree once: a page of the current
 * path is left only for a key beyond its range.  The caller holds a lock on
 * the index (AccessShareLock) and decides visibility with "snapshot" (the
 * walk takes the serializable predicate locks of the leaves it reads).
 */
extern void engram_btree_walk(Relation index, Snapshot snapshot, const int64 *keys, int nkeys,
							  bool want_tuples, EngramBtreeVisit visit, void *arg);

/* ---------------------------------------------------------------------
 * Pins without the buffer mapping table (recent_buffers.c)
 * ---------------------------------------------------------------------
 */

/* engram_recall_read_buffer, _prefetch_page, _remembered_page: engram_recall.h */

/* engram_recall_read_buffer() reading a page not in shared buffers with "strategy". */
extern Buffer engram_recall_read_buffer_with(Relation rel, BlockNumber block,
											 BufferAccessStrategy strategy);

/*
 * The strategy the memory reader reads the heap pages of "table" with: for
 * a table of more than a quarter of shared buffers (the size from which a
 * sequential scan uses a ring too), a ring of 32 buffers of this backend
 * (BAS_BULKREAD), so that a page not in shared buffers does not take a
 * buffer from the whole pool; else NULL (the pool).  A recall reads about a
 * hundred such pages at random (the relays spreading reaches), each rarely
 * again soon; taken from the pool, they pushed out the pages of the vector
 * index, which every recall's seed search and every plain ORDER BY query
 * reads (at 100,000 x 768 with 512 MB of shared buffers, index and table do
 * not both fit).
 */
extern BufferAccessStrategy engram_recall_heap_strategy(Relation table);

/* ---------------------------------------------------------------------
 * Access statistics and tiers (access.c): the single integration point
 * with the table AM's per-row statistics and tiers.
 * ---------------------------------------------------------------------
 */
typedef struct EngramRecallAccess
{
	TimestampTz last_access;
	int64		access_count;
} EngramRecallAccess;

extern void engram_recall_access_lookup(Oid relid, ItemPointer tid, TimestampTz created_at,
										EngramRecallAccess *state);
extern void engram_recall_access_record(Oid relid, ItemPointer tids, int ntids);
extern void engram_recall_access_prefetch(Oid relid, const ItemPointerData *tids, int ntids);
/* engram_recall_row_tier() is declared in engram_recall.h */
extern void engram_recall_access_forgotten(Oid relid, ItemPointer tid);

/*
 * A memory's effective confidence (decay.c), with the curve and parameters
 * already resolved; see engram_recall_effective_confidence() for names.
 */
extern double engram_recall_effective_confidence_kind(Oid relid, ItemPointer tid,
													  double stored_confidence,
													  TimestampTz created_at,
													  EngramDecayKind decay, TimestampTz now,
													  const EngramDecayParams *params,
													  EngramRecallAccess *access);

/* Run an entry point's body without counting its index fetches: see access.c. */
extern Datum engram_recall_call_untracked(PGFunction body, FunctionCallInfo fcinfo);

/* ---------------------------------------------------------------------
 * Argument checks shared by the SQL entry points
 * ---------------------------------------------------------------------
 */
/* ERROR (22023) unless 1 <= k <= ENGRAM_RECALL_MAX_K. */
extern void engram_check_k(int32 k);
/* ERROR (22023) unless 0 <= max_hops <= ENGRAM_RECALL_MAX_HOPS. */
extern void engram_check_max_hops(int32 max_hops);
/* ERROR (22003) unless 0 <= value <= 1; "what" names it in the message. */
extern void engram_check_unit_interval(const char *what, double value);

#endif							/* ENGRAM_RECALL_INTERNAL_H */
