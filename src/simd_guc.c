/*-------------------------------------------------------------------------
 *
 * simd_guc.c
 *	  The engram.simd setting and the SQL view of the kernels:
 *	  engram_simd_active() and engram_simd_info().
 *
 * engram.simd (PGC_USERSET) names the kernel level every distance in this
 * backend uses: "auto" (the default) picks the best this CPU runs.  The
 * check hook refuses a level this build lacks (neon on x86-64, avx2 and
 * avx512 on AArch64) or this CPU cannot run, so the assign hook, which
 * only switches the engram_simd pointer, cannot fail.  A refused value in
 * postgresql.conf is reported as a warning and the previous value (at
 * startup: auto) stays in force.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "engram.h"
#include "engram_simd.h"

#define ENGRAM_SIMD_DEFAULT ENGRAM_SIMD_AUTO

static const struct config_enum_entry engram_simd_options[] = {
	{"auto", ENGRAM_SIMD_AUTO, false},
	{"avx512", ENGRAM_SIMD_AVX512, false},
	{"avx2", ENGRAM_SIMD_AVX2, false},
	{"neon", ENGRAM_SIMD_NEON, false},
	{"scalar", ENGRAM_SIMD_SCALAR, false},
	{NULL, 0, false}
};

/* Levels in the order engram_simd_info() lists them: best first. */
static const EngramSimdLevel engram_simd_listed_levels[] = {
	ENGRAM_SIMD_AVX512, ENGRAM_SIMD_AVX2, ENGRAM_SIMD_NEON, ENGRAM_SIMD_SCALAR
};

static int	engram_simd_setting = ENGRAM_SIMD_DEFAULT;

/* What the level needs, for the refusal's detail message. */
static const char *
engram_simd_requirement(EngramSimdLevel level)
{
	switch (level)
	{
		case ENGRAM_SIMD_AVX512:
			return "AVX-512F and AVX-512BW, enabled by the operating system";
		case ENGRAM_SIMD_AVX2:
			return "AVX2 and FMA, enabled by the operating system";
		case ENGRAM_SIMD_NEON:
			return "an AArch64 CPU";
		default:
			return "nothing special";
	}
}

static bool
engram_simd_check_hook(int *newval, void **extra, GucSource source)
{
	EngramSimdLevel level = (EngramSimdLevel) *newval;

	if (engram_simd_supported(level))
		return true;
	if (!engram_simd_compiled(level))
		GUC_check_errdetail("This build of engram has no %s kernels: they are compiled only for %s.",
							engram_simd_level_name(level), engram_simd_requirement(level));
	else
		GUC_check_errdetail("The %s kernels need %s, which this CPU lacks.",
							engram_simd_level_name(level), engram_simd_requirement(level));
	GUC_check_errhint("Use \"auto\" to pick the best kernels this CPU runs; engram_simd_info() lists which are supported.");
	return false;
}

static void
engram_simd_assign_hook(int newval, void *extra)
{
	/* Cannot fail: the check hook accepted only supported levels. */
	(void) engram_simd_select((EngramSimdLevel) newval);
}

void
engram_simd_init(void)
{
	DefineCustomEnumVariable("engram.simd",
							 "Sets the SIMD kernels used for vector distances.",
							 "auto picks the best this CPU supports (avx512, then avx2 or neon, then scalar); "
							 "a level the CPU or this build lacks is refused.",
							 &engram_simd_setting,
							 ENGRAM_SIMD_DEFAULT,
							 engram_simd_options,
							 PGC_USERSET,
							 0,
							 engram_simd_check_hook,
							 engram_simd_assign_hook,
							 NULL);
}

PG_FUNCTION_INFO_V1(engram_simd_active);

/* engram_simd_active() -> text: the level of the kernels in use now. */
Datum
engram_simd_active(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(engram_simd->name));
}

PG_FUNCTION_INFO_V1(engram_simd_info);

/*
 * engram_simd_info() -> setof (level, compiled, supported, active, kernels):
 * one row per level, best first.  "kernels" describes the table the level
 * would use on this CPU (NULL when unsupported).
 */
Datum
engram_simd_info(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	engram_require_result_columns(fcinfo, 5, "engram_simd_info()");
	for (int i = 0; i < lengthof(engram_simd_listed_levels); i++)
	{
		EngramSimdLevel level = engram_simd_listed_levels[i];
		const EngramSimdKernels *kernels = engram_simd_kernels_for(level);
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = CStringGetTextDatum(engram_simd_level_name(level));
		values[1] = BoolGetDatum(engram_simd_compiled(level));
		values[2] = BoolGetDatum(kernels != NULL);
		values[3] = BoolGetDatum(engram_simd->level == level);
		if (kernels != NULL)
			values[4] = CStringGetTextDatum(kernels->description);
		else
			nulls[4] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
