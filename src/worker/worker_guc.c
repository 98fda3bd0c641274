/*-------------------------------------------------------------------------
 *
 * worker_guc.c
 *	  The engram.* settings of the background worker, consolidation, soft
 *	  forgetting and tier migration (DESIGN section 5).
 *
 * The seed's "[storage.migration]" knobs are engram.migration_<rule>_...,
 * with one dot: postgresql.conf's parser accepts only one dot in a name
 * (engram.migration.x could be SET but never written to a file).
 *
 * Settings that shape the worker processes (naptime, databases, how many
 * workers) are PGC_SIGHUP: they live in postgresql.conf and the worker
 * picks them up on reload.  Settings of the algorithms are PGC_USERSET so
 * that engram_run_maintenance() in a session may use its own values; the
 * worker uses the configuration file's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>

#include "utils/guc.h"
#include "utils/memutils.h"

#include "engram.h"
#include "worker/engram_worker.h"

int			engram_worker_naptime = ENGRAM_WORKER_NAPTIME_DEFAULT;
char	   *engram_worker_databases = NULL;
int			engram_consolidation_interval = ENGRAM_CONSOLIDATION_INTERVAL_DEFAULT;
int			engram_consolidation_batch_size = ENGRAM_CONSOLIDATION_BATCH_DEFAULT;
double		engram_min_confidence_threshold = ENGRAM_MIN_CONFIDENCE_DEFAULT;
int			engram_migration_batch = ENGRAM_MIGRATION_BATCH_DEFAULT;
int			engram_consolidation_workers = ENGRAM_CONSOLIDATION_WORKERS_DEFAULT;
int			engram_background_workers = ENGRAM_BACKGROUND_WORKERS_DEFAULT;
int			engram_pending_flush_batch = ENGRAM_PENDING_FLUSH_BATCH_DEFAULT;
int			engram_forgetting_scan_batch = ENGRAM_FORGETTING_SCAN_BATCH_DEFAULT;
int			engram_migration_scan_pages = ENGRAM_MIGRATION_SCAN_PAGES_DEFAULT;
int			engram_worker_nice = ENGRAM_WORKER_NICE_DEFAULT;

static double hot_to_warm_accesses = ENGRAM_HOT_TO_WARM_ACCESSES_DEFAULT;
static int	hot_to_warm_window = ENGRAM_HOT_TO_WARM_WINDOW_DEFAULT;
static double warm_to_cold_accesses = ENGRAM_WARM_TO_COLD_ACCESSES_DEFAULT;
static int	warm_to_cold_window = ENGRAM_WARM_TO_COLD_WINDOW_DEFAULT;
static double cold_to_warm_accesses = ENGRAM_COLD_TO_WARM_ACCESSES_DEFAULT;
static int	cold_to_warm_window = ENGRAM_COLD_TO_WARM_WINDOW_DEFAULT;
static double warm_to_hot_accesses = ENGRAM_WARM_TO_HOT_ACCESSES_DEFAULT;
static int	warm_to_hot_window = ENGRAM_WARM_TO_HOT_WINDOW_DEFAULT;

void
engram_migration_thresholds_current(EngramMigrationThresholds *thresholds)
{
	thresholds->hot_to_warm_accesses = hot_to_warm_accesses;
	thresholds->hot_to_warm_window = hot_to_warm_window;
	thresholds->warm_to_cold_accesses = warm_to_cold_accesses;
	thresholds->warm_to_cold_window = warm_to_cold_window;
	thresholds->cold_to_warm_accesses = cold_to_warm_accesses;
	thresholds->cold_to_warm_window = cold_to_warm_window;
	thresholds->warm_to_hot_accesses = warm_to_hot_accesses;
	thresholds->warm_to_hot_window = warm_to_hot_window;
}

static void
define_migration_rule(const char *rule, const char *from, const char *to, bool below,
					  double *accesses, double accesses_default,
					  int *window, int window_default)
{
	char		name[128];
	char		description[256];

	snprintf(name, sizeof(name), "engram.migration_%s_accesses", rule);
	snprintf(description, sizeof(description),
			 "Sets the accesses per window %s which a %s row moves to the %s tier.",
			 below ? "below" : "at or above", from, to);
	DefineCustomRealVariable(MemoryContextStrdup(TopMemoryContext, name),
							 MemoryContextStrdup(TopMemoryContext, description),
							 NULL, accesses, accesses_default,
							 ENGRAM_MIGRATION_ACCESSES_MIN, ENGRAM_MIGRATION_ACCESSES_MAX,
							 PGC_USERSET, 0, NULL, NULL, NULL);

	snprintf(name, sizeof(name), "engram.migration_%s_window_seconds", rule);
	snprintf(description, sizeof(description),
			 "Sets the window over which accesses are counted for %s -> %s moves.", from, to);
	DefineCustomIntVariable(MemoryContextStrdup(TopMemoryContext, name),
							MemoryContextStrdup(TopMemoryContext, description),
							NULL, window, window_default,
							ENGRAM_MIGRATION_WINDOW_MIN, ENGRAM_MIGRATION_WINDOW_MAX,
							PGC_USERSET, GUC_UNIT_S, NULL, NULL, NULL);
}

void
engram_worker_define_settings(void)
{
	DefineCustomIntVariable("engram.worker_naptime",
							"Sets the time the background worker sleeps between cycles.",
							"Tier migration runs every cycle; the launcher also looks for new databases this often.",
							&engram_worker_naptime,
							ENGRAM_WORKER_NAPTIME_DEFAULT,
							ENGRAM_WORKER_NAPTIME_MIN, ENGRAM_WORKER_NAPTIME_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);

	DefineCustomStringVariable("engram.worker_databases",
							   "Sets the databases the background worker serves (comma-separated; empty: every database where engram is installed).",
							   NULL,
							   &engram_worker_databases, "",
							   PGC_SIGHUP, GUC_LIST_INPUT, NULL, NULL, NULL);

	DefineCustomIntVariable("engram.background_workers",
							"Sets the maximum number of database workers the launcher runs at once (0 disables the worker).",
							"Each also takes a slot of max_worker_processes.",
							&engram_background_workers,
							ENGRAM_BACKGROUND_WORKERS_DEFAULT,
							ENGRAM_BACKGROUND_WORKERS_MIN, ENGRAM_BACKGROUND_WORKERS_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("engram.consolidation_workers",
							"Sets the maximum number of consolidation runs at once in the whole cluster.",
							"A worker whose consolidation is due while the limit is reached defers it to its next cycle.",
							&engram_consolidation_workers,
							ENGRAM_CONSOLIDATION_WORKERS_DEFAULT,
							ENGRAM_CONSOLIDATION_WORKERS_MIN, ENGRAM_CONSOLIDATION_WORKERS_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("engram.consolidation_interval",
							"Sets the time between consolidation runs of the background worker.",
							NULL,
							&engram_consolidation_interval,
							ENGRAM_CONSOLIDATION_INTERVAL_DEFAULT,
							ENGRAM_CONSOLIDATION_INTERVAL_MIN, ENGRAM_CONSOLIDATION_INTERVAL_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);

	DefineCustomIntVariable("engram.consolidation_batch_size",
							"Sets the maximum number of episodes one consolidation run clusters per space.",
							NULL,
							&engram_consolidation_batch_size,
							ENGRAM_CONSOLIDATION_BATCH_DEFAULT,
							ENGRAM_CONSOLIDATION_BATCH_MIN, ENGRAM_CONSOLIDATION_BATCH_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);

	DefineCustomRealVariable("engram.min_confidence_threshold",
							 "Sets the effective confidence under which episodes are softly forgotten (sent to the cold tier, never deleted).",
							 NULL,
							 &engram_min_confidence_threshold,
							 ENGRAM_MIN_CONFIDENCE_DEFAULT,
							 ENGRAM_MIN_CONFIDENCE_MIN, ENGRAM_MIN_CONFIDENCE_MAX,
							 PGC_USERSET, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("engram.migration_batch",
							"Sets the maximum number of tier moves (and soft-forgetting selections) per space per cycle.",
							NULL,
							&engram_migration_batch,
							ENGRAM_MIGRATION_BATCH_DEFAULT,
							ENGRAM_MIGRATION_BATCH_MIN, ENGRAM_MIGRATION_BATCH_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("engram.pending_flush_batch",
							"Sets the maximum number of pending-list entries of engram_hnsw indexes the worker merges into their graphs per cycle (0: the worker never flushes).",
							"Bounded work per cycle over all spaces of a database; inserters over the list's limit, VACUUM and engram_hnsw_flush_pending() flush too.",
							&engram_pending_flush_batch,
							ENGRAM_PENDING_FLUSH_BATCH_DEFAULT,
							ENGRAM_PENDING_FLUSH_BATCH_MIN, ENGRAM_PENDING_FLUSH_BATCH_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("engram.forgetting_scan_batch",
							"Sets the maximum number of rows of a space one soft-forgetting run of the background worker examines (0: the whole space every run).",
							"Each run goes on where the previous one stopped and wraps around at the end of the space; engram_run_maintenance always examines the whole space.",
							&engram_forgetting_scan_batch,
							ENGRAM_FORGETTING_SCAN_BATCH_DEFAULT,
							ENGRAM_FORGETTING_SCAN_BATCH_MIN, ENGRAM_FORGETTING_SCAN_BATCH_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("engram.migration_scan_pages",
							"Sets how many heap pages of a space one tier-migration cycle of the background worker reads besides its candidates (0: every row every cycle).",
							"Candidates are the rows the access statistics would promote and the hot tier's rows that would be demoted; the window of pages goes on where the previous cycle stopped and wraps around, so demotions to cold are found within a sweep of the space. engram_run_maintenance always reads every row.",
							&engram_migration_scan_pages,
							ENGRAM_MIGRATION_SCAN_PAGES_DEFAULT,
							ENGRAM_MIGRATION_SCAN_PAGES_MIN, ENGRAM_MIGRATION_SCAN_PAGES_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("engram.worker_nice",
							"Sets the nice value (CPU scheduling priority) of the Engram launcher and database workers.",
							"0 runs them like any backend; higher values, up to 19, make them yield the CPU to client sessions. Raising it applies on reload; lowering it applies to workers started afterwards unless the server may lower nice values (CAP_SYS_NICE).",
							&engram_worker_nice,
							ENGRAM_WORKER_NICE_DEFAULT,
							ENGRAM_WORKER_NICE_MIN, ENGRAM_WORKER_NICE_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("engram.worker_cost_delay",
							"Sets the time the background worker sleeps each time its jobs used up engram.worker_cost_limit (0 disables throttling).",
							"Like vacuum_cost_delay: spreads the worker's work out so that it does not take a CPU from queries in bursts.",
							&engram_worker_cost_delay,
							ENGRAM_WORKER_COST_DELAY_DEFAULT,
							ENGRAM_WORKER_COST_DELAY_MIN, ENGRAM_WORKER_COST_DELAY_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);

	DefineCustomIntVariable("engram.worker_cost_limit",
							"Sets the cost the background worker's jobs may accumulate before it sleeps engram.worker_cost_delay.",
							"A row scanned costs 1, a row moved between tiers 20, a semantic memory written 20, a pending-list entry merged into a graph 20.",
							&engram_worker_cost_limit,
							ENGRAM_WORKER_COST_LIMIT_DEFAULT,
							ENGRAM_WORKER_COST_LIMIT_MIN, ENGRAM_WORKER_COST_LIMIT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);

	define_migration_rule("hot_to_warm", "hot", "warm", true,
						  &hot_to_warm_accesses, ENGRAM_HOT_TO_WARM_ACCESSES_DEFAULT,
						  &hot_to_warm_window, ENGRAM_HOT_TO_WARM_WINDOW_DEFAULT);
	define_migration_rule("warm_to_cold", "warm", "cold", true,
						  &warm_to_cold_accesses, ENGRAM_WARM_TO_COLD_ACCESSES_DEFAULT,
						  &warm_to_cold_window, ENGRAM_WARM_TO_COLD_WINDOW_DEFAULT);
	define_migration_rule("cold_to_warm", "cold", "warm", false,
						  &cold_to_warm_accesses, ENGRAM_COLD_TO_WARM_ACCESSES_DEFAULT,
						  &cold_to_warm_window, ENGRAM_COLD_TO_WARM_WINDOW_DEFAULT);
	define_migration_rule("warm_to_hot", "warm", "hot", false,
						  &warm_to_hot_accesses, ENGRAM_WARM_TO_HOT_ACCESSES_DEFAULT,
						  &warm_to_hot_window, ENGRAM_WARM_TO_HOT_WINDOW_DEFAULT);
}
