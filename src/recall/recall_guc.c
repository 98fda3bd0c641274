/*-------------------------------------------------------------------------
 *
 * recall_guc.c
 *	  The engram.* settings of the cognitive layer.
 *
 * Every constant of DESIGN section 4 is a setting here, with the
 * reference implementation's value as default.  All are PGC_USERSET: a
 * session may tune its own recall.  The clock of decay and recency is
 * Engram's (src/clock.c: engram_now() and engram.pinned_now).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <limits.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "engram.h"
#include "recall_internal.h"

#define SECONDS_PER_HOUR 3600.0

/* Defaults (DESIGN section 4) */
#define SEED_THRESHOLD_DEFAULT				0.4
#define SEED_TEMPERATURE_DEFAULT			0.5
#define SEED_MIN_ACTIVATION_DEFAULT			0.01
#define SEED_CANDIDATES_FACTOR_DEFAULT		2.0
#define TEXT_WEIGHT_DEFAULT					0.3
#define SPREADING_DECAY_DEFAULT				0.7
#define MAX_HOPS_DEFAULT					4
#define SPREADING_MIN_CONTRIBUTION_DEFAULT	0.01
#define ACTIVATION_THRESHOLD_SEED_DEFAULT	0.01
#define ACTIVATION_THRESHOLD_NEAR_DEFAULT	0.05
#define ACTIVATION_THRESHOLD_FAR_DEFAULT	0.1
#define CONFIDENCE_FACTOR_SEED_DEFAULT		1.0
#define CONFIDENCE_FACTOR_NEAR_DEFAULT		0.95
#define CONFIDENCE_FACTOR_FAR_DEFAULT		0.9
#define REVISIT_PENALTY_DEFAULT				0.93
#define PATH_CONFIDENCE_DECAY_DEFAULT		0.35
#define MAX_PATHS_DEFAULT					8
#define VISIT_BUDGET_HOT_DEFAULT			3
#define VISIT_BUDGET_WARM_DEFAULT			2
#define VISIT_BUDGET_COLD_DEFAULT			1
#define SPREADING_TIME_BUDGET_DEFAULT		10.0	/* ms */
#define SPREADING_TIME_BUDGET_MAX			60000.0
#define RECENCY_BOOST_DEFAULT				1.2
#define RECENCY_BOOST_MAX					10.0
#define RECENCY_WINDOW_DEFAULT				3600	/* s */
#define DECAY_EXPONENTIAL_TAU_DEFAULT		(1.96 * SECONDS_PER_HOUR)
#define DECAY_POWER_BETA_DEFAULT			0.18
#define DECAY_TWO_COMPONENT_ACCESSES_DEFAULT 3
#define DECAY_HYBRID_TAU_DEFAULT			(0.8 * SECONDS_PER_HOUR)
#define DECAY_HYBRID_SWITCH_DEFAULT			(24.0 * SECONDS_PER_HOUR)
#define DECAY_HYBRID_BETA_DEFAULT			0.25
#define DECAY_FLOOR_DEFAULT					0.1
#define CONFIDENCE_INTERVAL_CAP_DEFAULT		0.3

#define TIME_CONSTANT_MIN					1.0		/* s */
#define TIME_CONSTANT_MAX					(1e6 * SECONDS_PER_HOUR)
#define EXPONENT_MAX						10.0
#define SEED_CANDIDATES_FACTOR_MAX			100.0

double		engram_seed_threshold = SEED_THRESHOLD_DEFAULT;
double		engram_seed_temperature = SEED_TEMPERATURE_DEFAULT;
double		engram_seed_min_activation = SEED_MIN_ACTIVATION_DEFAULT;
double		engram_seed_candidates_factor = SEED_CANDIDATES_FACTOR_DEFAULT;
double		engram_text_weight = TEXT_WEIGHT_DEFAULT;
bool		engram_spreading_similarity = true;
bool		engram_space_deferred_insert = false;
double		engram_spreading_decay = SPREADING_DECAY_DEFAULT;
int			engram_max_hops = MAX_HOPS_DEFAULT;
double		engram_spreading_min_contribution = SPREADING_MIN_CONTRIBUTION_DEFAULT;
double		engram_activation_threshold_seed = ACTIVATION_THRESHOLD_SEED_DEFAULT;
double		engram_activation_threshold_near = ACTIVATION_THRESHOLD_NEAR_DEFAULT;
double		engram_activation_threshold_far = ACTIVATION_THRESHOLD_FAR_DEFAULT;
double		engram_confidence_factor_seed = CONFIDENCE_FACTOR_SEED_DEFAULT;
double		engram_confidence_factor_near = CONFIDENCE_FACTOR_NEAR_DEFAULT;
double		engram_confidence_factor_far = CONFIDENCE_FACTOR_FAR_DEFAULT;
double		engram_revisit_penalty = REVISIT_PENALTY_DEFAULT;
double		engram_path_confidence_decay = PATH_CONFIDENCE_DECAY_DEFAULT;
int			engram_max_paths = MAX_PATHS_DEFAULT;
int			engram_visit_budget_hot = VISIT_BUDGET_HOT_DEFAULT;
int			engram_visit_budget_warm = VISIT_BUDGET_WARM_DEFAULT;
int			engram_visit_budget_cold = VISIT_BUDGET_COLD_DEFAULT;
double		engram_spreading_time_budget = SPREADING_TIME_BUDGET_DEFAULT;
double		engram_recency_boost = RECENCY_BOOST_DEFAULT;
int			engram_recency_window = RECENCY_WINDOW_DEFAULT;
double		engram_decay_exponential_tau = DECAY_EXPONENTIAL_TAU_DEFAULT;
double		engram_decay_power_beta = DECAY_POWER_BETA_DEFAULT;
int			engram_decay_two_component_accesses = DECAY_TWO_COMPONENT_ACCESSES_DEFAULT;
double		engram_decay_hybrid_tau = DECAY_HYBRID_TAU_DEFAULT;
double		engram_decay_hybrid_switch = DECAY_HYBRID_SWITCH_DEFAULT;
double		engram_decay_hybrid_beta = DECAY_HYBRID_BETA_DEFAULT;
double		engram_decay_floor = DECAY_FLOOR_DEFAULT;
double		engram_confidence_interval_cap = CONFIDENCE_INTERVAL_CAP_DEFAULT;

void
engram_decay_params_current(EngramDecayParams *params)
{
	params->exponential_tau = engram_decay_exponential_tau;
	params->power_beta = engram_decay_power_beta;
	params->two_component_accesses = engram_decay_two_component_accesses;
	params->hybrid_tau = engram_decay_hybrid_tau;
	params->hybrid_switch = engram_decay_hybrid_switch;
	params->hybrid_beta = engram_decay_hybrid_beta;
	params->floor = engram_decay_floor;
}

/* Shorthand for the many [0,1] real settings. */
static void
define_unit_setting(const char *name, const char *description, double *variable,
					double default_value)
{
	DefineCustomRealVariable(name, description, NULL, variable, default_value,
							 0.0, 1.0, PGC_USERSET, 0, NULL, NULL, NULL);
}

/* Define the engram.* settings of the cognitive layer (from _PG_init). */
void
engram_recall_init(void)
{
	/* Seeding */
	DefineCustomRealVariable("engram.seed_threshold",
							 "Sets the similarity at which a seed's activation is 0.5.",
							 "Seed activation = sigmoid((similarity - threshold) / temperature).",
							 &engram_seed_threshold, SEED_THRESHOLD_DEFAULT,
							 -1e6, 1e6, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("engram.seed_temperature",
							 "Sets the temperature of the seeding sigmoid.",
							 NULL, &engram_seed_temperature, SEED_TEMPERATURE_DEFAULT,
							 1e-6, 1e6, PGC_USERSET, 0, NULL, NULL, NULL);
	define_unit_setting("engram.seed_min_activation",
						"Sets the activation under which a seed is dropped.",
						&engram_seed_min_activation, SEED_MIN_ACTIVATION_DEFAULT);
	DefineCustomRealVariable("engram.seed_candidates_factor",
							 "Sets how many index candidates recall fetches per requested result (k' = max(k, factor x k)).",
							 NULL, &engram_seed_candidates_factor, SEED_CANDIDATES_FACTOR_DEFAULT,
							 1.0, SEED_CANDIDATES_FACTOR_MAX, PGC_USERSET, 0, NULL, NULL, NULL);
	define_unit_setting("engram.text_weight",
						"Sets the share of the lexical score in the similarity of a seed found by both an embedding and a text cue.",
						&engram_text_weight, TEXT_WEIGHT_DEFAULT);

	/* Spreading */
	DefineCustomRealVariable("engram.spreading_decay",
							 "Sets the rate of the per-hop attenuation exp(-rate x hop) of spreading activation.",
							 NULL, &engram_spreading_decay, SPREADING_DECAY_DEFAULT,
							 0.0, EXPONENT_MAX, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("engram.max_hops",
							"Sets the default number of hops spreading activation follows.",
							NULL, &engram_max_hops, MAX_HOPS_DEFAULT,
							0, ENGRAM_RECALL_MAX_HOPS, PGC_USERSET, 0, NULL, NULL, NULL);
	define_unit_setting("engram.spreading_min_contribution",
						"Sets the contribution under which spreading along an edge stops.",
						&engram_spreading_min_contribution, SPREADING_MIN_CONTRIBUTION_DEFAULT);
	define_unit_setting("engram.activation_threshold_seed",
						"Sets the activation a memory needs at depth 0.",
						&engram_activation_threshold_seed, ACTIVATION_THRESHOLD_SEED_DEFAULT);
	define_unit_setting("engram.activation_threshold_near",
						"Sets the activation a memory needs at depths 1 and 2.",
						&engram_activation_threshold_near, ACTIVATION_THRESHOLD_NEAR_DEFAULT);
	define_unit_setting("engram.activation_threshold_far",
						"Sets the activation a memory needs at depth 3 and beyond.",
						&engram_activation_threshold_far, ACTIVATION_THRESHOLD_FAR_DEFAULT);
	define_unit_setting("engram.confidence_factor_seed",
						"Sets the path-confidence factor at depth 0.",
						&engram_confidence_factor_seed, CONFIDENCE_FACTOR_SEED_DEFAULT);
	define_unit_setting("engram.confidence_factor_near",
						"Sets the path-confidence factor at depths 1 and 2.",
						&engram_confidence_factor_near, CONFIDENCE_FACTOR_NEAR_DEFAULT);
	define_unit_setting("engram.confidence_factor_far",
						"Sets the path-confidence factor at depth 3 and beyond.",
						&engram_confidence_factor_far, CONFIDENCE_FACTOR_FAR_DEFAULT);
	define_unit_setting("engram.revisit_penalty",
						"Sets the factor applied to activation arriving again at an already activated memory.",
						&engram_revisit_penalty, REVISIT_PENALTY_DEFAULT);
	DefineCustomRealVariable("engram.path_confidence_decay",
							 "Sets the rate of the per-hop attenuation exp(-rate x hops) of path confidence.",
							 NULL, &engram_path_confidence_decay, PATH_CONFIDENCE_DECAY_DEFAULT,
							 0.0, EXPONENT_MAX, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("engram.max_paths",
							"Sets how many of the strongest paths to a memory combine into its confidence.",
							NULL, &engram_max_paths, MAX_PATHS_DEFAULT,
							1, ENGRAM_RECALL_MAX_PATHS, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("engram.visit_budget_hot",
							"Sets how many times one recall's spreading may reach a memory of the hot tier.",
							"Seeding counts as one; each depth whose activation reaches it counts as one.",
							&engram_visit_budget_hot, VISIT_BUDGET_HOT_DEFAULT,
							1, INT_MAX, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("engram.visit_budget_warm",
							"Sets how many times one recall's spreading may reach a memory of the warm tier.",
							NULL, &engram_visit_budget_warm, VISIT_BUDGET_WARM_DEFAULT,
							1, INT_MAX, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("engram.visit_budget_cold",
							"Sets how many times one recall's spreading may reach a memory of the cold tier.",
							NULL, &engram_visit_budget_cold, VISIT_BUDGET_COLD_DEFAULT,
							1, INT_MAX, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("engram.spreading_time_budget",
							 "Sets the time spreading activation may take per recall, in milliseconds (0 = unlimited).",
							 "When it runs out, hybrid recall falls back to the seeds and spreading recall keeps the depths completed.",
							 &engram_spreading_time_budget, SPREADING_TIME_BUDGET_DEFAULT,
							 0.0, SPREADING_TIME_BUDGET_MAX, PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);

	DefineCustomBoolVariable("engram.spreading_similarity",
							 "Sets whether recall computes the cue similarity of memories reached by spreading.",
							 "It reads their embeddings (detoasting them); off, their similarity is unknown and their score is activation x confidence.",
							 &engram_spreading_similarity, true, PGC_USERSET, 0, NULL, NULL, NULL);

	/* Spaces */
	DefineCustomBoolVariable("engram.space_deferred_insert",
							 "Sets whether engram_create_space creates its engram_hnsw index with deferred_insert = on.",
							 "New memories then go to the index's pending list (searched exactly, merged into the graph by VACUUM, "
							 "the worker or engram_hnsw_flush_pending) instead of the graph inside the storing transaction.",
							 &engram_space_deferred_insert, false, PGC_USERSET, 0, NULL, NULL, NULL);

	/* Ranking */
	DefineCustomRealVariable("engram.recency_boost",
							 "Sets the ranking multiplier of a memory used just now (falls linearly to 1 over engram.recency_window).",
							 NULL, &engram_recency_boost, RECENCY_BOOST_DEFAULT,
							 1.0, RECENCY_BOOST_MAX, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("engram.recency_window",
							"Sets the time since last use during which a memory gets a recency boost.",
							NULL, &engram_recency_window, RECENCY_WINDOW_DEFAULT,
							0, INT_MAX, PGC_USERSET, GUC_UNIT_S, NULL, NULL, NULL);

	/* Decay */
	DefineCustomRealVariable("engram.decay_exponential_tau",
							 "Sets the time constant of the exponential forgetting curve.",
							 NULL, &engram_decay_exponential_tau, DECAY_EXPONENTIAL_TAU_DEFAULT,
							 TIME_CONSTANT_MIN, TIME_CONSTANT_MAX, PGC_USERSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomRealVariable("engram.decay_power_beta",
							 "Sets the exponent of the power-law forgetting curve.",
							 NULL, &engram_decay_power_beta, DECAY_POWER_BETA_DEFAULT,
							 0.0, EXPONENT_MAX, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("engram.decay_two_component_accesses",
							"Sets the access count from which the two-component curve follows the power law.",
							NULL, &engram_decay_two_component_accesses,
							DECAY_TWO_COMPONENT_ACCESSES_DEFAULT,
							0, INT_MAX, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("engram.decay_hybrid_tau",
							 "Sets the time constant of the hybrid curve's exponential phase.",
							 NULL, &engram_decay_hybrid_tau, DECAY_HYBRID_TAU_DEFAULT,
							 TIME_CONSTANT_MIN, TIME_CONSTANT_MAX, PGC_USERSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomRealVariable("engram.decay_hybrid_switch",
							 "Sets the age at which the hybrid curve switches from exponential to power law.",
							 NULL, &engram_decay_hybrid_switch, DECAY_HYBRID_SWITCH_DEFAULT,
							 0.0, TIME_CONSTANT_MAX, PGC_USERSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomRealVariable("engram.decay_hybrid_beta",
							 "Sets the exponent of the hybrid curve's power-law phase.",
							 NULL, &engram_decay_hybrid_beta, DECAY_HYBRID_BETA_DEFAULT,
							 0.0, EXPONENT_MAX, PGC_USERSET, 0, NULL, NULL, NULL);
	define_unit_setting("engram.decay_floor",
						"Sets the lowest retention a forgetting curve returns.",
						&engram_decay_floor, DECAY_FLOOR_DEFAULT);

	/* Confidence */
	define_unit_setting("engram.confidence_interval_cap",
						"Sets the largest half-width of a recall result's confidence interval.",
						&engram_confidence_interval_cap, CONFIDENCE_INTERVAL_CAP_DEFAULT);

	/* The association cache's setting, shared memory and callbacks */
	engram_association_cache_init();
}
