/*-------------------------------------------------------------------------
 *
 * recall_math.c
 *	  The pure mathematics of recall: seeding sigmoid, forgetting curves,
 *	  noisy-OR, dispersion band, confidence algebra, recency boost.
 *
 * Nothing here touches the catalog, memory contexts or errors: every
 * function is total on its documented domain, so the SQL wrappers
 * (decay.c, confidence.c) and the regression tests can check each formula
 * against a hand computation.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "recall_internal.h"

#define SECONDS_PER_HOUR 3600.0

double
engram_clamp01(double x)
{
	if (isnan(x) || x < 0.0)
		return 0.0;
	if (x > 1.0)
		return 1.0;
	return x;
}

/*
 * Seed activation: the logistic function of the similarity's distance to
 * the threshold, scaled by the temperature.
 */
double
engram_seed_activation(double similarity, double threshold, double temperature)
{
	return 1.0 / (1.0 + exp(-(similarity - threshold) / temperature));
}

/*
 * Retention after "elapsed_seconds" without access.
 *
 *	exponential    R = exp(-t / tau)
 *	power_law      R = (1 + t_hours) ^ -beta
 *	two_component  exponential while accessed fewer than N times, then
 *	               power law
 *	hybrid         exp(-t / tau_h) before the switch time, then
 *	               (1 + t_hours) ^ -beta_h  (the reference curve: it is not
 *	               continuous at the switch; see docs/recall.md)
 *	none           R = 1
 *
 * The result is never below params->floor (nor above 1).
 */
double
engram_decay_retention(EngramDecayKind kind, double elapsed_seconds,
					   int64 access_count, const EngramDecayParams *params)
{
	double		t = elapsed_seconds > 0.0 ? elapsed_seconds : 0.0;
	double		hours = t / SECONDS_PER_HOUR;
	double		retention;

	switch (kind)
	{
		case ENGRAM_DECAY_EXPONENTIAL:
			retention = exp(-t / params->exponential_tau);
			break;
		case ENGRAM_DECAY_POWER_LAW:
			retention = pow(1.0 + hours, -params->power_beta);
			break;
		case ENGRAM_DECAY_TWO_COMPONENT:
			if (access_count < params->two_component_accesses)
				retention = exp(-t / params->exponential_tau);
			else
				retention = pow(1.0 + hours, -params->power_beta);
			break;
		case ENGRAM_DECAY_HYBRID:
			if (t < params->hybrid_switch)
				retention = exp(-t / params->hybrid_tau);
			else
				retention = pow(1.0 + hours, -params->hybrid_beta);
			break;
		case ENGRAM_DECAY_NONE:
		default:
			retention = 1.0;
			break;
	}
	if (retention < params->floor)
		retention = params->floor;
	return engram_clamp01(retention);
}

double
engram_noisy_or(const double *p, int n)
{
	double		none = 1.0;

	for (int i = 0; i < n; i++)
		none *= 1.0 - engram_clamp01(p[i]);
	return 1.0 - none;
}

double
engram_dispersion_halfwidth(const double *values, int n, double cap)
{
	double		mean = 0.0;
	double		variance = 0.0;
	double		sd;

	if (n < 2)
		return 0.0;
	for (int i = 0; i < n; i++)
		mean += values[i];
	mean /= n;
	for (int i = 0; i < n; i++)
		variance += (values[i] - mean) * (values[i] - mean);
	variance /= n;
	sd = sqrt(variance);
	return sd < cap ? sd : cap;
}

double
engram_confidence_and(double a, double b)
{
	return engram_clamp01(a) * engram_clamp01(b);
}

double
engram_confidence_or(double a, double b)
{
	a = engram_clamp01(a);
	b = engram_clamp01(b);
	return a + b - a * b;
}

double
engram_confidence_not(double a)
{
	return 1.0 - engram_clamp01(a);
}

double
engram_recency_multiplier(double elapsed_seconds, double window_seconds, double max_boost)
{
	double		t = elapsed_seconds > 0.0 ? elapsed_seconds : 0.0;

	if (window_seconds <= 0.0 || t >= window_seconds)
		return 1.0;
	return 1.0 + (max_boost - 1.0) * (1.0 - t / window_seconds);
}

static const char *const decay_kind_names[] = {
	[ENGRAM_DECAY_NONE] = "none",
	[ENGRAM_DECAY_EXPONENTIAL] = "exponential",
	[ENGRAM_DECAY_POWER_LAW] = "power_law",
	[ENGRAM_DECAY_TWO_COMPONENT] = "two_component",
	[ENGRAM_DECAY_HYBRID] = "hybrid",
};

bool
engram_decay_kind_parse(const char *name, bool allow_none, EngramDecayKind *kind)
{
	for (int i = 0; i < lengthof(decay_kind_names); i++)
	{
		if (strcmp(name, decay_kind_names[i]) == 0)
		{
			if (i == ENGRAM_DECAY_NONE && !allow_none)
				return false;
			*kind = (EngramDecayKind) i;
			return true;
		}
	}
	return false;
}

const char *
engram_decay_kind_name(EngramDecayKind kind)
{
	return decay_kind_names[kind];
}
