/*-------------------------------------------------------------------------
 *
 * clock.c
 *	  Engram's clock: engram_now() and the engram.pinned_now setting.
 *
 * Everything in Engram that depends on the time of day (decay and
 * retention, recency, the worker's job schedule, soft forgetting) asks
 * engram_now() instead of the system clock, so that tests can pin time with
 * engram.pinned_now and get the same answer on every run.
 *
 * engram.pinned_now is PGC_SUSET: an ordinary user must not be able to make
 * old memories look fresh to other code running in the session.  The
 * background worker reads it from the configuration files (ALTER SYSTEM +
 * pg_reload_conf() moves the worker's clock).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "engram.h"

static char *engram_pinned_now_setting = NULL;
static bool engram_clock_is_pinned = false;
static TimestampTz engram_clock_pinned_value = 0;

/*
 * Check hook: accept "" (follow the real clock) or a finite timestamp with
 * time zone.  A check hook must report failure rather than throw (it also
 * runs while the configuration file is read), so the value is decoded with
 * the datetime parser directly; the parsed value travels to the assign hook
 * in a malloc'd "extra".
 */
static bool
engram_check_pinned_now(char **newval, void **extra, GucSource source)
{
	char		workbuf[MAXDATELEN + MAXDATEFIELDS];
	char	   *fields[MAXDATEFIELDS];
	int			field_types[MAXDATEFIELDS];
	int			field_count;
	int			value_type;
	struct pg_tm tm;
	fsec_t		fractional_seconds;
	int			timezone;
	TimestampTz value;
	TimestampTz *parsed;

	if (*newval == NULL || (*newval)[0] == '\0')
	{
		*extra = NULL;
		return true;
	}

	if (strlen(*newval) >= MAXDATELEN ||
		ParseDateTime(*newval, workbuf, sizeof(workbuf), fields, field_types,
					  MAXDATEFIELDS, &field_count) != 0 ||
		DecodeDateTime(fields, field_types, field_count, &value_type, &tm,
					   &fractional_seconds, &timezone) != 0 ||
		value_type != DTK_DATE ||
		tm2timestamp(&tm, fractional_seconds, &timezone, &value) != 0)
	{
		GUC_check_errdetail("engram.pinned_now must be a finite timestamp with time zone, or empty to follow the real clock.");
		return false;
	}

	parsed = (TimestampTz *) malloc(sizeof(TimestampTz));
	if (parsed == NULL)
		return false;
	*parsed = value;
	*extra = parsed;
	return true;
}

static void
engram_assign_pinned_now(const char *newval, void *extra)
{
	engram_clock_is_pinned = (extra != NULL);
	if (extra != NULL)
		engram_clock_pinned_value = *(TimestampTz *) extra;
}

/*
 * engram_now: the pinned time when engram.pinned_now is set; otherwise the
 * start time of the current transaction (so one statement sees one "now"),
 * or the current time outside a transaction (the worker's scheduler).
 */
TimestampTz
engram_now(void)
{
	if (engram_clock_is_pinned)
		return engram_clock_pinned_value;
	if (IsTransactionState())
		return GetCurrentTransactionStartTimestamp();
	return GetCurrentTimestamp();
}

PG_FUNCTION_INFO_V1(engram_now_sql);

/* engram_now() RETURNS timestamptz: the clock as Engram sees it. */
Datum
engram_now_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIMESTAMPTZ(engram_now());
}

bool
engram_clock_pinned(void)
{
	return engram_clock_is_pinned;
}

void
engram_clock_init(void)
{
	DefineCustomStringVariable("engram.pinned_now",
							   "Sets the time Engram's clock reports (empty: the real clock).",
							   "Pins decay, recency, soft forgetting and the worker's schedule for deterministic tests; superuser only.",
							   &engram_pinned_now_setting,
							   "",
							   PGC_SUSET,
							   0,
							   engram_check_pinned_now,
							   engram_assign_pinned_now,
							   NULL);
}
