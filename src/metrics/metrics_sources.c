/*-------------------------------------------------------------------------
 *
 * metrics_sources.c
 *	  Metrics that come from PostgreSQL rather than from Engram's own code
 *	  paths and need C to be read honestly: the WAL flush duration
 *	  histogram (folded from pg_stat_wal) and the bytes of shared buffers
 *	  that hold given relations.
 *
 * WAL flush histogram: pg_stat_wal keeps the number of WAL fsyncs
 * (wal_sync) and their total time (wal_sync_time, only while
 * track_wal_io_timing is on), not each fsync.  Each call of
 * engram_wal_flush_sample() takes the fsyncs since the previous call and
 * counts them all in the bucket of their mean duration.  _sum and _count
 * are therefore exact; the bucket placement is as fine as the sampling
 * interval (the Prometheus scrape interval).  Intervals during which
 * track_wal_io_timing is off are skipped, never counted as zero-length.
 *
 * Locking: the sampler state is guarded by
 * locks[ENGRAM_METRICS_LOCK_WAL]; the buffer scan takes each buffer
 * header's spinlock in turn, like pg_buffercache, and no LWLock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/buf_internals.h"
#include "storage/bufmgr.h"
#include "utils/array.h"
#include "utils/rel.h"

#include "engram.h"
#include "metrics_internal.h"

PG_FUNCTION_INFO_V1(engram_wal_flush_sample);
PG_FUNCTION_INFO_V1(engram_shared_buffers_bytes);

/* Fold the fsyncs since the last sample into the histogram (lock held). */
static void
fold_wal_syncs(EngramWalFlushSampler *sampler, const PgStat_WalStats *wal)
{
	int64		syncs = wal->wal_sync - sampler->last_sync_count;
	int64		sync_time_us = wal->wal_sync_time - sampler->last_sync_time_us;

	if (sampler->primed && track_wal_io_timing &&
		wal->stat_reset_timestamp == sampler->last_stats_reset &&
		syncs > 0 && sync_time_us >= 0)
	{
		double		mean_seconds = (double) sync_time_us / syncs / 1e6;

		engram_histogram_observe(&sampler->flushes, mean_seconds, (uint64) syncs,
								 (uint64) sync_time_us * 1000);
	}
	sampler->primed = true;
	sampler->last_sync_count = wal->wal_sync;
	sampler->last_sync_time_us = wal->wal_sync_time;
	sampler->last_stats_reset = wal->stat_reset_timestamp;
}

/*
 * engram_wal_flush_sample() RETURNS TABLE (bounds float8[],
 * cumulative_counts int8[], sum_seconds float8, count int8)
 *
 * Folds pg_stat_wal into the histogram and returns it in the shape
 * postgres_exporter expects for a histogram; no row while
 * track_wal_io_timing is off (there is nothing honest to report then).
 */
Datum
engram_wal_flush_sample(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	EngramWalFlushSampler *sampler;
	PgStat_WalStats *wal;
	Datum		bounds[ENGRAM_LATENCY_BOUND_COUNT];
	Datum		cumulative[ENGRAM_LATENCY_BOUND_COUNT];
	Datum		values[4];
	bool		nulls[4] = {false};
	uint64		running_total = 0;

	engram_metrics_require();
	InitMaterializedSRF(fcinfo, 0);
	engram_require_result_columns(fcinfo, lengthof(values), "engram_wal_flush_sample()");

	wal = pgstat_fetch_stat_wal();
	sampler = &engram_metrics->wal;
	LWLockAcquire(&engram_metrics->locks[ENGRAM_METRICS_LOCK_WAL], LW_EXCLUSIVE);
	fold_wal_syncs(sampler, wal);
	LWLockRelease(&engram_metrics->locks[ENGRAM_METRICS_LOCK_WAL]);

	if (!track_wal_io_timing)
		return (Datum) 0;

	for (int i = 0; i < ENGRAM_LATENCY_BOUND_COUNT; i++)
	{
		running_total += pg_atomic_read_u64(&sampler->flushes.bucket[i]);
		bounds[i] = Float8GetDatum(engram_latency_bounds[i]);
		cumulative[i] = Int64GetDatum((int64) running_total);
	}
	values[0] = PointerGetDatum(construct_array(bounds, ENGRAM_LATENCY_BOUND_COUNT,
												FLOAT8OID, sizeof(float8),
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = PointerGetDatum(construct_array_builtin(cumulative, ENGRAM_LATENCY_BOUND_COUNT,
														INT8OID));
	values[2] = Float8GetDatum((double) pg_atomic_read_u64(&sampler->flushes.sum_ns) / 1e9);
	values[3] = Int64GetDatum((int64) pg_atomic_read_u64(&sampler->flushes.count));
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

static int
compare_oids(const void *a, const void *b)
{
	Oid			x = *(const Oid *) a;
	Oid			y = *(const Oid *) b;

	return (x > y) - (x < y);
}

/*
 * engram_shared_buffers_bytes(regclass[]) RETURNS bigint
 *
 * Bytes of shared buffers currently holding a valid page of any of the given
 * relations (all forks) of the current database, matched by relfilenode
 * (tablespace not compared: two relations of one database share a
 * relfilenode number only across tablespaces, which Engram never does on its
 * own).  Relations that no longer exist are ignored.  The result is a
 * snapshot: buffers change while it is counted.
 */
Datum
engram_shared_buffers_bytes(PG_FUNCTION_ARGS)
{
	Datum	   *relids;
	bool	   *relid_nulls;
	int			nrelids;
	Oid		   *filenodes;
	int			nfilenodes = 0;
	int64		buffers = 0;

	if (PG_ARGISNULL(0))
		PG_RETURN_INT64(0);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(0), REGCLASSOID, sizeof(Oid), true,
					  TYPALIGN_INT, &relids, &relid_nulls, &nrelids);
	filenodes = palloc(sizeof(Oid) * Max(nrelids, 1));
	for (int i = 0; i < nrelids; i++)
	{
		Relation	rel;

		if (relid_nulls[i])
			continue;
		rel = try_relation_open(DatumGetObjectId(relids[i]), AccessShareLock);
		if (rel == NULL)
			continue;
		filenodes[nfilenodes++] = rel->rd_node.relNode;
		relation_close(rel, AccessShareLock);
	}
	if (nfilenodes == 0)
		PG_RETURN_INT64(0);
	qsort(filenodes, nfilenodes, sizeof(Oid), compare_oids);

	for (int b = 0; b < NBuffers; b++)
	{
		BufferDesc *header = GetBufferDescriptor(b);
		uint32		state = LockBufHdr(header);
		BufferTag	tag = header->tag;

		UnlockBufHdr(header, state);
		if ((state & BM_VALID) && tag.rnode.dbNode == MyDatabaseId &&
			bsearch(&tag.rnode.relNode, filenodes, nfilenodes,
					sizeof(Oid), compare_oids) != NULL)
			buffers++;
		if ((b & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_INT64(buffers * BLCKSZ);
}
