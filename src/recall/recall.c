/*-------------------------------------------------------------------------
 *
 * recall.c
 *	  engram_recall: cue handling, seeding, modes and ranking.
 *
 * A recall call turns its cues into seeds, spreads activation from them
 * (spreading.c) and returns the k best memories by score.
 *
 * Cues:
 *	  embedding   top k' by the space's distance (k' = max(k, factor x k),
 *	              engram.seed_candidates_factor = 2), through the vector
 *	              index when one exists;
 *	  text        full-text search, to_tsvector(space config, content)
 *	              @@ websearch_to_tsquery(...), top k' by ts_rank;
 *	  memory_id   that memory;
 *	  filters     after / before / recent (occurred_at), location
 *	              (equality), tags and participants (overlap): restrict
 *	              every seed query; alone, they seed with the k' most
 *	              recent matching memories.
 *	Seed similarity: vector similarity (embedding cue), lexical score
 *	ts_rank / best ts_rank among the candidates (text cue), or
 *	(1 - engram.text_weight) x vector + engram.text_weight x lexical (both).
 *	Seed activation = sigmoid((similarity - threshold) / temperature), or
 *	1 for a memory_id or filter-only seed; seeds under
 *	engram.seed_min_activation are dropped.
 *
 * Modes: similarity (seeds only), spreading (seeds + spreading, the
 * completed depths when the time budget runs out), hybrid (spreading,
 * falling back to the seeds alone when the budget runs out or spreading
 * activates no memory beyond the seeds).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "hnsw/hnsw.h"			/* engram_hnsw_ef_search */
#include "metrics/engram_metrics.h"
#include "recall_internal.h"

/* Columns of the rows engram_recall() returns (its SQL declaration). */
#define RECALL_RESULT_COLUMNS 12

PG_FUNCTION_INFO_V1(engram_recall);

typedef enum RecallMode
{
	RECALL_SIMILARITY,
	RECALL_SPREADING,
	RECALL_HYBRID
} RecallMode;

/* Argument positions of engram_recall (both overloads). */
enum
{
	ARG_SPACE = 0,
	ARG_CUE,
	ARG_K,
	ARG_MODE,
	ARG_QUERY,
	ARG_AFTER,
	ARG_BEFORE,
	ARG_RECENT,
	ARG_LOCATION,
	ARG_TAGS,
	ARG_PARTICIPANTS,
	ARG_MEMORY_ID,
	ARG_MAX_HOPS
};

/* SPI parameter positions ($n = index + 1) of the seed queries. */
enum
{
	PARAM_EMBEDDING = 0,
	PARAM_QUERY,
	PARAM_AFTER,
	PARAM_BEFORE,
	PARAM_LOCATION,
	PARAM_TAGS,
	PARAM_PARTICIPANTS,
	PARAM_MEMORY_ID,
	PARAM_COUNT
};

/* The index's candidate-list setting, and the most recall raises it to. */
#define ENGRAM_EF_SEARCH_SETTING	"engram.ef_search"
#define ENGRAM_EF_SEARCH_CEILING	1000

/* A seed candidate as read from one of the seed queries. */
typedef struct Candidate
{
	int64		id;
	ItemPointerData tid;
	double		confidence;
	TimestampTz created_at;
	char	   *decay;
	bool		has_distance;
	double		distance;
	double		lexical;		/* ts_rank, 0 when not matched, -1 unknown */
	bool		exact;			/* named by memory_id or found by filters only */
} Candidate;

typedef struct RecallQuery
{
	const EngramSpace *space;
	bool		has_embedding;
	bool		has_text;
	bool		has_memory_id;
	StringInfoData filters;		/* " AND ..." over alias m */
	Oid			argtypes[PARAM_COUNT];
	Datum		values[PARAM_COUNT];
	char		nulls[PARAM_COUNT];
	int64		limit;			/* k', written into the SQL as a literal */
	Candidate  *candidates;
	int			ncandidates;
	int			max_candidates;
	engram_id_positions_hash *candidate_index;	/* id -> position in candidates */
} RecallQuery;

void
engram_check_k(int32 k)
{
	if (k < 1 || k > ENGRAM_RECALL_MAX_K)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be between 1 and %d", ENGRAM_RECALL_MAX_K),
				 errdetail("The value was %d.", k)));
}

void
engram_check_max_hops(int32 max_hops)
{
	if (max_hops < 0 || max_hops > ENGRAM_RECALL_MAX_HOPS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_hops must be between 0 and %d", ENGRAM_RECALL_MAX_HOPS),
				 errdetail("The value was %d.", max_hops)));
}

static RecallMode
parse_mode(const char *mode)
{
	if (strcmp(mode, "similarity") == 0)
		return RECALL_SIMILARITY;
	if (strcmp(mode, "spreading") == 0)
		return RECALL_SPREADING;
	if (strcmp(mode, "hybrid") == 0)
		return RECALL_HYBRID;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown recall mode \"%s\"", mode),
			 errhint("Use similarity, spreading or hybrid.")));
	return RECALL_HYBRID;		/* keep compiler quiet */
}

/*
 * Is a text cue a vector literal?  It is when its first non-blank
 * character is "[" (a full-text query never starts so), and then it must
 * parse as one.
 */
static bool
looks_like_vector(const char *text)
{
	while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')
		text++;
	return *text == '[';
}

static bool
is_blank(const char *text)
{
	for (; *text; text++)
		if (*text != ' ' && *text != '\t' && *text != '\n' && *text != '\r')
			return false;
	return true;
}

/* ---------------------------------------------------------------------
 * Seed queries
 * ---------------------------------------------------------------------
 */

/* The select list shared by every seed query: see read_candidates(). */
static void
append_select_list(StringInfo sql, RecallQuery *query, bool text_rank_needed)
{
	const EngramSpace *space = query->space;

	appendStringInfoString(sql,
						   "SELECT m.id, m.ctid, m.confidence, m.created_at, m.decay_function, ");
	if (query->has_embedding)
		appendStringInfo(sql, "m.embedding OPERATOR(%s.%s) $1, ",
						 space->operator_schema, engram_distance_operator(space->distance));
	else
		appendStringInfoString(sql, "NULL::float8, ");
	if (query->has_text && text_rank_needed)
		appendStringInfo(sql,
						 "CASE WHEN pg_catalog.to_tsvector(%s::pg_catalog.regconfig, m.content) "
						 "@@ pg_catalog.websearch_to_tsquery(%s::pg_catalog.regconfig, $2) "
						 "THEN pg_catalog.ts_rank(pg_catalog.to_tsvector(%s::pg_catalog.regconfig, m.content), "
						 "pg_catalog.websearch_to_tsquery(%s::pg_catalog.regconfig, $2)) ELSE 0 END ",
						 space->text_config_literal, space->text_config_literal,
						 space->text_config_literal, space->text_config_literal);
	else
		appendStringInfoString(sql, "NULL::real ");
	appendStringInfo(sql, "FROM %s m WHERE m.confidence OPERATOR(pg_catalog.>) 0", space->qualified_name);
}

/* The candidate of "id", or a new zeroed one appended for it. */
static Candidate *
candidate_for_id(RecallQuery *query, int64 id, bool *is_new)
{
	EngramIdPosition *entry;
	bool		found;
	Candidate  *candidate;

	entry = engram_id_positions_insert(query->candidate_index, id, &found);
	*is_new = !found;
	if (found)
		return &query->candidates[entry->position];
	if (query->ncandidates == query->max_candidates)
	{
		query->max_candidates *= 2;
		query->candidates = repalloc(query->candidates,
									 sizeof(Candidate) * query->max_candidates);
	}
	entry->position = query->ncandidates++;
	candidate = &query->candidates[entry->position];
	memset(candidate, 0, sizeof(Candidate));
	candidate->id = id;
	return candidate;
}

/* Run a seed query and merge its rows into the candidates. */
static void
read_candidates(RecallQuery *query, const char *sql, bool exact, MemoryContext context)
{
	MemoryContext old;

	engram_spi_execute(sql, PARAM_COUNT, query->argtypes, query->values, query->nulls,
					   true, SPI_OK_SELECT);
	old = MemoryContextSwitchTo(context);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[row];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		bool		is_new;
		Candidate  *candidate = candidate_for_id(query, id, &is_new);
		Datum		value;

		if (is_new)
		{
			candidate->tid = *(ItemPointer) DatumGetPointer(SPI_getbinval(tuple, desc, 2, &isnull));
			candidate->confidence = DatumGetFloat4(SPI_getbinval(tuple, desc, 3, &isnull));
			candidate->created_at = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 4, &isnull));
			value = SPI_getbinval(tuple, desc, 5, &isnull);
			candidate->decay = isnull ? NULL : TextDatumGetCString(value);
			value = SPI_getbinval(tuple, desc, 6, &isnull);
			candidate->has_distance = !isnull;
			candidate->distance = isnull ? 0.0 : DatumGetFloat8(value);
			value = SPI_getbinval(tuple, desc, 7, &isnull);
			candidate->lexical = isnull ? -1.0 : DatumGetFloat4(value);
		}
		candidate->exact |= exact;
	}
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);
}

/*
 * The embedding seed query without filters, "sql", run through its plan's
 * index and the memory reader (seed_search.c) when it can be: its rows
 * merged into the candidates, in "context"; false when it must run as a
 * statement.
 */
static bool
read_candidates_direct(RecallQuery *query, EngramSpreadState *state, const char *sql,
					   MemoryContext context)
{
	EngramMemoryReader *reader;
	EngramMemoryRow *rows;
	int			nrows;
	MemoryContext old;

	if (query->has_text || query->has_memory_id || query->filters.len > 0 ||
		(reader = engram_spread_memory_reader(state)) == NULL)
		return false;
	old = MemoryContextSwitchTo(context);
	if (!engram_seed_search_direct(reader, query->space, sql, PARAM_COUNT, query->argtypes,
								   query->values[PARAM_EMBEDDING], query->limit, &rows, &nrows))
	{
		MemoryContextSwitchTo(old);
		return false;
	}
	for (int i = 0; i < nrows; i++)
	{
		bool		is_new;
		Candidate  *candidate = candidate_for_id(query, rows[i].id, &is_new);

		if (!is_new)
			continue;
		candidate->tid = rows[i].tid;
		candidate->confidence = rows[i].confidence;
		candidate->created_at = rows[i].created_at;
		candidate->decay = rows[i].decay_name;
		candidate->has_distance = true;
		candidate->distance = rows[i].distance;
		candidate->lexical = -1.0;
	}
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * The engram_hnsw index returns at most engram.ef_search rows per scan.
 * When that is below k', raise it for the seed query only: returns the GUC
 * nest level to close with AtEOXact_GUC() afterwards, or 0 when nothing
 * was changed (already large enough).  An error in between unwinds the
 * level with the (sub)transaction.
 */
static int
raise_index_candidates(int64 limit)
{
	int			nest_level;
	char		value[32];

	if (engram_hnsw_ef_search >= limit)
		return 0;
	nest_level = NewGUCNestLevel();
	snprintf(value, sizeof(value), INT64_FORMAT, Min(limit, ENGRAM_EF_SEARCH_CEILING));
	(void) set_config_option(ENGRAM_EF_SEARCH_SETTING, value, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest_level;
}

/*
 * Run the seed queries the cues call for (embedding, text, memory_id, or
 * the filters alone) and merge their rows into query->candidates, in
 * "context"; the embedding's without filters through "state"'s memory
 * reader where it can be.  Inside SPI_connect().
 */
static void
collect_candidates(RecallQuery *query, EngramSpreadState *state, MemoryContext context)
{
	const EngramSpace *space = query->space;
	StringInfoData sql;

	initStringInfo(&sql);
	if (query->has_embedding)
	{
		int			nest_level = raise_index_candidates(query->limit);

		append_select_list(&sql, query, true);
		appendStringInfo(&sql, " AND m.embedding IS NOT NULL%s ORDER BY m.embedding OPERATOR(%s.%s) $1 LIMIT " INT64_FORMAT,
						 query->filters.data, space->operator_schema,
						 engram_distance_operator(space->distance), query->limit);
		if (!read_candidates_direct(query, state, sql.data, context))
			read_candidates(query, sql.data, false, context);
		if (nest_level > 0)
			AtEOXact_GUC(true, nest_level);
	}
	if (query->has_text)
	{
		resetStringInfo(&sql);
		append_select_list(&sql, query, true);
		appendStringInfo(&sql,
						 " AND pg_catalog.to_tsvector(%s::pg_catalog.regconfig, m.content) "
						 "@@ pg_catalog.websearch_to_tsquery(%s::pg_catalog.regconfig, $2)%s "
						 "ORDER BY 7 DESC, m.id LIMIT " INT64_FORMAT,
						 space->text_config_literal, space->text_config_literal,
						 query->filters.data, query->limit);
		read_candidates(query, sql.data, false, context);
	}
	if (query->has_memory_id)
	{
		resetStringInfo(&sql);
		append_select_list(&sql, query, true);
		appendStringInfo(&sql, " AND m.id = $8%s", query->filters.data);
		read_candidates(query, sql.data, true, context);
	}
	if (!query->has_embedding && !query->has_text && !query->has_memory_id)
	{
		resetStringInfo(&sql);
		append_select_list(&sql, query, false);
		appendStringInfo(&sql, "%s ORDER BY m.occurred_at DESC, m.id DESC LIMIT " INT64_FORMAT,
						 query->filters.data, query->limit);
		read_candidates(query, sql.data, true, context);
	}
}

/* Turn candidates into seeds (similarity, activation, drop under the minimum). */
static void
seed_from_candidates(RecallQuery *query, EngramSpreadState *state)
{
	double		best_lexical = 0.0;
	ItemPointerData *tids = palloc(sizeof(ItemPointerData) * Max(query->ncandidates, 1));

	for (int i = 0; i < query->ncandidates; i++)
	{
		if (query->candidates[i].lexical > best_lexical)
			best_lexical = query->candidates[i].lexical;
		tids[i] = query->candidates[i].tid;
	}
	/* a seed's access statistics are read as it is entered */
	engram_recall_access_prefetch(query->space->relid, tids, query->ncandidates);
	pfree(tids);

	for (int i = 0; i < query->ncandidates; i++)
	{
		Candidate  *candidate = &query->candidates[i];
		bool		has_vector = query->has_embedding && candidate->has_distance;
		bool		has_lexical = query->has_text && candidate->lexical >= 0.0;
		double		vector_similarity = 0.0;
		double		lexical_similarity = 0.0;
		bool		has_similarity = has_vector || has_lexical;
		double		similarity = 0.0;
		double		activation = 0.0;

		if (has_vector)
			vector_similarity = engram_distance_to_similarity(query->space->distance,
															  candidate->distance);
		if (has_lexical && best_lexical > 0.0)
			lexical_similarity = candidate->lexical / best_lexical;
		if (has_vector && has_lexical)
			similarity = (1.0 - engram_text_weight) * vector_similarity +
				engram_text_weight * lexical_similarity;
		else if (has_vector)
			similarity = vector_similarity;
		else if (has_lexical)
			similarity = lexical_similarity;

		if (has_similarity)
			activation = engram_seed_activation(similarity, engram_seed_threshold,
												engram_seed_temperature);
		if (candidate->exact)
			activation = 1.0;
		if (activation < engram_seed_min_activation)
			continue;
		engram_spread_add_seed(state, candidate->id, &candidate->tid, candidate->confidence,
							   candidate->created_at, candidate->decay, has_similarity,
							   similarity, activation);
	}
}

/* ---------------------------------------------------------------------
 * engram_recall
 * ---------------------------------------------------------------------
 */

static void
emit_recall_row(FunctionCallInfo fcinfo, EngramNode *node, Datum content, Datum occurred_at,
				Datum metadata, bool content_null, bool occurred_at_null, bool metadata_null,
				const char *tier)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[RECALL_RESULT_COLUMNS];
	bool		nulls[12] = {0};

	values[0] = Int64GetDatum(node->id);
	values[1] = content;
	values[2] = Float8GetDatum(node->score);
	values[3] = Float8GetDatum(node->similarity);
	nulls[3] = !node->has_similarity;
	values[4] = Float8GetDatum(node->activation);
	values[5] = Float8GetDatum(node->confidence);
	values[6] = Float8GetDatum(node->confidence_low);
	values[7] = Float8GetDatum(node->confidence_high);
	values[8] = Int32GetDatum(node->hop);
	nulls[1] = content_null;
	values[9] = CStringGetTextDatum(tier);
	values[10] = occurred_at;
	nulls[10] = occurred_at_null;
	values[11] = metadata;
	nulls[11] = metadata_null;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

static void
add_filter(RecallQuery *query, int param, Datum value, Oid type, const char *predicate)
{
	query->argtypes[param] = type;
	query->values[param] = value;
	query->nulls[param] = ' ';
	appendStringInfo(&query->filters, " AND %s $%d", predicate, param + 1);
}

/*
 * engram_recall(space text, cue evector | text, k int DEFAULT 10,
 *     mode text DEFAULT 'hybrid', query text DEFAULT NULL,
 *     after timestamptz, before timestamptz, recent interval,
 *     location text, tags text[], participants text[], memory_id bigint,
 *     max_hops int  -- all DEFAULT NULL)
 *     RETURNS TABLE (id, content, score, similarity, activation,
 *                    confidence, confidence_low, confidence_high, hops,
 *                    tier, occurred_at, metadata)
 *
 * Overloads take the cue as evector, real[], double precision[],
 * numeric[], integer[] (an embedding) or text: a full-text query, unless
 * it starts with "[": a vector literal ('[0.1, 0.2]'), read as an embedding.
 */
static Datum
recall_call(FunctionCallInfo fcinfo)
{
	Oid			extension_namespace = engram_extension_namespace(fcinfo);
	Oid			cue_type = get_fn_expr_argtype(fcinfo->flinfo, ARG_CUE);
	EngramSpace space;
	EngramSpreadState state;
	RecallQuery query;
	MemoryContext context;
	RecallMode mode;
	int32		k;
	char	   *cue_text = NULL;
	char	   *vector_text = NULL;
	bool		seeds_only;
	EngramNode **sorted;
	int			nsorted;
	TimestampTz after = DT_NOBEGIN;
	bool		has_after = false;
	EngramSlowDetails details;

	engram_metrics_begin(ENGRAM_OP_RECALL);
	if (PG_ARGISNULL(ARG_SPACE))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("space must not be null")));
	if (PG_ARGISNULL(ARG_K))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("k must not be null")));
	k = PG_GETARG_INT32(ARG_K);
	engram_check_k(k);
	if (PG_ARGISNULL(ARG_MODE))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("mode must not be null")));
	mode = parse_mode(text_to_cstring(PG_GETARG_TEXT_PP(ARG_MODE)));
	if (!PG_ARGISNULL(ARG_MAX_HOPS))
		engram_check_max_hops(PG_GETARG_INT32(ARG_MAX_HOPS));

	memset(&query, 0, sizeof(query));
	for (int i = 0; i < PARAM_COUNT; i++)
	{
		query.argtypes[i] = TEXTOID;
		query.nulls[i] = 'n';
	}
	initStringInfo(&query.filters);

	/* The cue proper: embedding, text, or a vector literal given as text. */
	if (!PG_ARGISNULL(ARG_CUE))
	{
		if (cue_type == TEXTOID)
		{
			cue_text = text_to_cstring(PG_GETARG_TEXT_PP(ARG_CUE));
			if (looks_like_vector(cue_text))
			{
				vector_text = cue_text;
				cue_text = NULL;
			}
		}
		else
			query.has_embedding = true;
	}
	if (!PG_ARGISNULL(ARG_QUERY))
	{
		if (cue_text != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the text cue is given twice"),
					 errhint("Pass the text either as the cue or as query, not both.")));
		cue_text = text_to_cstring(PG_GETARG_TEXT_PP(ARG_QUERY));
	}
	if (cue_text != NULL)
	{
		if (is_blank(cue_text))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the text cue must not be empty")));
		query.has_text = true;
		query.argtypes[PARAM_QUERY] = TEXTOID;
		query.values[PARAM_QUERY] = CStringGetTextDatum(cue_text);
		query.nulls[PARAM_QUERY] = ' ';
	}

	/* Time window: after / before / recent, checked before any reading. */
	if (!PG_ARGISNULL(ARG_AFTER))
	{
		after = PG_GETARG_TIMESTAMPTZ(ARG_AFTER);
		has_after = true;
	}
	if (!PG_ARGISNULL(ARG_RECENT))
	{
		Interval   *recent = PG_GETARG_INTERVAL_P(ARG_RECENT);
		TimestampTz since;

		if (recent->month < 0 || recent->day < 0 || recent->time < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("recent must be a positive interval")));
		since = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
														TimestampTzGetDatum(engram_now()),
														PointerGetDatum(recent)));
		if (!has_after || since > after)
			after = since;
		has_after = true;
	}
	if (has_after && !PG_ARGISNULL(ARG_BEFORE) && after > PG_GETARG_TIMESTAMPTZ(ARG_BEFORE))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the time window is empty: after is later than before")));
	if (has_after)
		add_filter(&query, PARAM_AFTER, TimestampTzGetDatum(after), TIMESTAMPTZOID,
				   "m.occurred_at OPERATOR(pg_catalog.>=)");
	if (!PG_ARGISNULL(ARG_BEFORE))
		add_filter(&query, PARAM_BEFORE, PG_GETARG_DATUM(ARG_BEFORE), TIMESTAMPTZOID,
				   "m.occurred_at OPERATOR(pg_catalog.<=)");
	if (!PG_ARGISNULL(ARG_LOCATION))
		add_filter(&query, PARAM_LOCATION, PG_GETARG_DATUM(ARG_LOCATION), TEXTOID,
				   "m.location OPERATOR(pg_catalog.=)");
	if (!PG_ARGISNULL(ARG_TAGS))
		add_filter(&query, PARAM_TAGS, PG_GETARG_DATUM(ARG_TAGS), TEXTARRAYOID, "m.tags OPERATOR(pg_catalog.&&)");
	if (!PG_ARGISNULL(ARG_PARTICIPANTS))
		add_filter(&query, PARAM_PARTICIPANTS, PG_GETARG_DATUM(ARG_PARTICIPANTS), TEXTARRAYOID,
				   "m.participants OPERATOR(pg_catalog.&&)");
	if (!PG_ARGISNULL(ARG_MEMORY_ID))
	{
		query.has_memory_id = true;
		query.argtypes[PARAM_MEMORY_ID] = INT8OID;
		query.values[PARAM_MEMORY_ID] = PG_GETARG_DATUM(ARG_MEMORY_ID);
		query.nulls[PARAM_MEMORY_ID] = ' ';
	}
	if (!query.has_embedding && vector_text == NULL && !query.has_text &&
		!query.has_memory_id && query.filters.len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recall needs a cue"),
				 errhint("Pass an embedding or a text as the cue, or one of query, after, before, recent, location, tags, participants, memory_id.")));

	/*
	 * k' is a number we computed, so it goes into the SQL text: a cached
	 * generic plan then knows the LIMIT (with a parameter the planner
	 * assumes a tenth of the table and may prefer a sort to the index).
	 */
	query.limit = (int64) ceil(Max((double) k, engram_seed_candidates_factor * k));

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	engram_require_result_columns(fcinfo, RECALL_RESULT_COLUMNS, "engram_recall()");
	context = engram_recall_call_context_begin();

	SPI_connect();
	engram_space_resolve(PG_GETARG_TEXT_PP(ARG_SPACE), extension_namespace, &space);
	query.space = &space;

	query.argtypes[PARAM_EMBEDDING] = space.embedding_type;
	if (vector_text != NULL)
	{
		query.values[PARAM_EMBEDDING] =
			engram_space_embedding_argument(&space, CStringGetTextDatum(vector_text), TEXTOID);
		query.has_embedding = true;
	}
	else if (query.has_embedding)
		query.values[PARAM_EMBEDDING] =
			engram_space_embedding_argument(&space, PG_GETARG_DATUM(ARG_CUE), cue_type);
	if (query.has_embedding)
		query.nulls[PARAM_EMBEDDING] = ' ';

	query.max_candidates = 64;
	query.candidates = MemoryContextAlloc(context, sizeof(Candidate) * query.max_candidates);
	query.candidate_index = engram_id_positions_create(context, query.max_candidates, NULL);
	engram_spread_state_init(&state, &space, context);
	collect_candidates(&query, &state, context);

	if (!PG_ARGISNULL(ARG_MAX_HOPS))
		state.max_hops = PG_GETARG_INT32(ARG_MAX_HOPS);
	if (query.has_embedding && engram_spreading_similarity)
	{
		state.has_cue_embedding = true;
		state.cue_embedding = query.values[PARAM_EMBEDDING];
	}
	seed_from_candidates(&query, &state);
	engram_spread_plan_similarity(&state, k);

	seeds_only = true;
	if (mode != RECALL_SIMILARITY)
	{
		bool		completed = engram_spread_run(&state);

		/*
		 * Hybrid falls back to the similarity answer when spreading runs
		 * out of time or finds nothing beyond the seeds.
		 */
		seeds_only = (mode == RECALL_HYBRID &&
					  (!completed || !engram_spread_activated_any(&state)));
		if (!completed)
			ereport(DEBUG1,
					(errmsg("engram_recall: spreading exceeded its time budget of %g ms after %d hops%s",
							state.time_budget_ms, state.depth_reached,
							seeds_only ? ", falling back to the seeds" : "")));
	}
	engram_spread_finish(&state, seeds_only);
	if (!seeds_only)
		engram_spread_resolve_scores(&state, k);
	sorted = engram_spread_sorted(&state, seeds_only, false, k, &nsorted);
	engram_spread_emit(&state, fcinfo, sorted, nsorted, emit_recall_row);
	engram_spread_state_release(&state);

	SPI_finish();

	engram_slow_details_init(&details);
	details.space = space.relid;
	details.k = k;
	details.nodes_visited = state.nnodes;
	details.hops = state.depth_reached;
	details.tiers_touched = state.tiers_touched;
	details.rows = nsorted;
	engram_metrics_end(ENGRAM_OP_RECALL, &details);
	engram_recall_call_context_end(context);
	return (Datum) 0;
}

/*
 * engram_recall: recall_call, with index fetches not counted as accesses
 * meanwhile (access.c); the setting is restored also on error.
 */
Datum
engram_recall(PG_FUNCTION_ARGS)
{
	return engram_recall_call_untracked(recall_call, fcinfo);
}
