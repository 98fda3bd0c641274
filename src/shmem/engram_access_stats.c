/*-------------------------------------------------------------------------
 *
 * engram_access_stats.c
 *	  Per-row access statistics in shared memory, their file and their SQL
 *	  functions (contract in engram_access_stats.h).
 *
 * Region layout ("engram access stats"):
 *	EngramAccessControl		partitions' geometry and counters
 *	EngramAccessEntry slots[ENGRAM_ACCESS_PARTITIONS][slots_per_partition]
 * A key hashes to a partition (hash % partitions) and, inside it, to a home
 * slot; linear probing, load kept at or under one half, backward-shift
 * deletion.  Each partition has one LWLock of the "engram_access_stats"
 * tranche, and an upper bound of its accessed entries' rate_key (raised by
 * every merge, never lowered), so that engram_access_visit skips the
 * partitions where no entry's decayed count can reach its floor.
 *
 * File format ($PGDATA/engram_access_stats.dat): uint32 magic, uint32
 * version, int64 count, then count × EngramAccessRecord.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <unistd.h>

#include "access/table.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "metrics/engram_metrics.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "port/atomics.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "engram.h"
#include "shmem/engram_access_stats.h"
#include "tam/engram_tam.h"

#define ENGRAM_ACCESS_TRANCHE		"engram_access_stats"
#define ENGRAM_ACCESS_FILE_MAGIC	0x45414353	/* "EACS" */
#define ENGRAM_ACCESS_FILE_VERSION	2

int			engram_access_stats_max_rows = ENGRAM_ACCESS_STATS_MAX_ROWS_DEFAULT;

typedef struct EngramAccessKey
{
	Oid			dbid;
	Oid			relid;
	ItemPointerData tid;
	uint16		pad;			/* always 0: keys are compared with memcmp */
} EngramAccessKey;

/* One row's statistics, as stored in the file. */
typedef struct EngramAccessRecord
{
	EngramAccessKey key;
	int64		count;
	double		recent;			/* decayed count as of last_access */
	TimestampTz first_access;	/* 0 when never accessed */
	TimestampTz last_access;
	TimestampTz written;		/* 0 when unknown */
} EngramAccessRecord;

typedef struct EngramAccessEntry
{
	EngramAccessRecord rec;
	uint32		hash;
	bool		used;
} EngramAccessEntry;

typedef struct EngramAccessPartition
{
	LWLock	   *lock;
	uint32		nentries;
	double		max_rate_key;	/* at least the rate_key of every accessed
								 * entry (-inf: none); never lowered */
} EngramAccessPartition;

typedef struct EngramAccessControl
{
	uint32		slots_per_partition;	/* power of two */
	pg_atomic_uint64 dropped;
	EngramAccessPartition partitions[ENGRAM_ACCESS_PARTITIONS];
} EngramAccessControl;

static EngramAccessControl *access_control = NULL;

/*
 * LWLockAcquire that reports the time spent waiting, when there was a wait,
 * to the lock-wait metric.
 */
static void
acquire_timed(LWLock *lock, LWLockMode mode)
{
	instr_time	start;
	instr_time	end;

	if (LWLockConditionalAcquire(lock, mode))
		return;
	INSTR_TIME_SET_CURRENT(start);
	LWLockAcquire(lock, mode);
	INSTR_TIME_SET_CURRENT(end);
	INSTR_TIME_SUBTRACT(end, start);
	engram_metrics_lock_wait(ENGRAM_LOCK_ACCESS_STATS, INSTR_TIME_GET_DOUBLE(end));
}

static uint32
slots_per_partition(void)
{
	uint32		wanted = (uint32) (2 * ((int64) engram_access_stats_max_rows / ENGRAM_ACCESS_PARTITIONS + 1));
	uint32		n = 64;

	while (n < wanted)
		n <<= 1;
	return n;
}

static Size
access_region_size(void)
{
	return add_size(MAXALIGN(sizeof(EngramAccessControl)),
					mul_size(sizeof(EngramAccessEntry),
							 mul_size(slots_per_partition(), ENGRAM_ACCESS_PARTITIONS)));
}

static int
access_lwlock_count(void)
{
	return ENGRAM_ACCESS_PARTITIONS;
}

static inline EngramAccessEntry *
partition_slots(int p)
{
	return (EngramAccessEntry *) ((char *) access_control + MAXALIGN(sizeof(EngramAccessControl))) +
		(Size) p * access_control->slots_per_partition;
}

static void
make_key(EngramAccessKey *key, Oid dbid, Oid relid, ItemPointer tid)
{
	memset(key, 0, sizeof(*key));
	key->dbid = dbid;
	key->relid = relid;
	key->tid = *tid;
}

static inline uint32
key_hash(const EngramAccessKey *key)
{
	return hash_bytes((const unsigned char *) key, sizeof(*key));
}

/* The home slot of a key of hash "hash" in its partition: where its probe run starts. */
static inline uint32
home_slot(uint32 hash)
{
	return (hash >> 5) & (access_control->slots_per_partition - 1);
}

/* Slot of "key" in partition p, or -1 (caller holds the partition lock). */
static int64
partition_find(int p, const EngramAccessKey *key, uint32 hash)
{
	EngramAccessEntry *slots = partition_slots(p);
	uint32		mask = access_control->slots_per_partition - 1;
	uint32		i = home_slot(hash);

	while (slots[i].used)
	{
		if (slots[i].hash == hash && memcmp(&slots[i].rec.key, key, sizeof(*key)) == 0)
			return i;
		i = (i + 1) & mask;
	}
	return -1;
}

/* Empty slot i of partition p, shifting its probe run back. */
static void
partition_remove(int p, uint32 i)
{
	EngramAccessEntry *slots = partition_slots(p);
	uint32		mask = access_control->slots_per_partition - 1;
	uint32		j = i;

	slots[i].used = false;
	access_control->partitions[p].nentries--;
	for (;;)
	{
		uint32		home;

		j = (j + 1) & mask;
		if (!slots[j].used)
			break;
		home = home_slot(slots[j].hash);
		if ((i <= j) ? (home <= i || home > j) : (home <= i && home > j))
		{
			slots[i] = slots[j];
			slots[j].used = false;
			i = j;
		}
	}
}

/*
 * The entry for "key", created empty (*fresh) if absent.  When the
 * partition is full, a row that was never accessed (count 0: only its
 * written time is known) in the key's probe run gives its slot up, the
 * one written longest ago first; accessed rows are never evicted.  NULL
 * (and "dropped" counted) when there is no such row.
 */
static EngramAccessEntry *
partition_enter(int p, const EngramAccessKey *key, uint32 hash, bool *fresh)
{
	EngramAccessEntry *slots = partition_slots(p);
	uint32		mask = access_control->slots_per_partition - 1;
	uint32		i = home_slot(hash);
	EngramAccessEntry *victim = NULL;

	while (slots[i].used)
	{
		if (slots[i].hash == hash && memcmp(&slots[i].rec.key, key, sizeof(*key)) == 0)
		{
			*fresh = false;
			return &slots[i];
		}
		if (slots[i].rec.count == 0 &&
			(victim == NULL || slots[i].rec.written < victim->rec.written))
			victim = &slots[i];
		i = (i + 1) & mask;
	}
	*fresh = true;
	if (access_control->partitions[p].nentries + 1 > access_control->slots_per_partition / 2 &&
		victim != NULL)
	{
		/*
		 * Over half full: reuse the victim's slot.  It lies on the key's
		 * probe run, so a lookup of the key from its home slot reaches it;
		 * the run itself is unchanged.
		 */
		memset(victim, 0, sizeof(EngramAccessEntry));
		victim->used = true;
		victim->hash = hash;
		victim->rec.key = *key;
		return victim;
	}
	if (access_control->partitions[p].nentries + 1 > access_control->slots_per_partition / 4 * 3)
	{
		pg_atomic_fetch_add_u64(&access_control->dropped, 1);
		return NULL;
	}
	memset(&slots[i], 0, sizeof(EngramAccessEntry));
	slots[i].used = true;
	slots[i].hash = hash;
	slots[i].rec.key = *key;
	access_control->partitions[p].nentries++;
	return &slots[i];
}

static double
decayed(double recent, TimestampTz since, TimestampTz now)
{
	double		seconds = (double) (now - since) / USECS_PER_SEC;

	if (seconds <= 0)
		return recent;
	return recent * exp(-seconds / ENGRAM_ACCESS_RECENT_TAU_SECONDS);
}

/*
 * ln(recent) + last_access / tau: an entry's decayed count at any time t
 * at or after last_access is exp(rate_key - t / tau), so entries rank by
 * it the same at every t, and it changes only when the entry is accessed.
 */
static double
rate_key(double recent, TimestampTz last_access)
{
	return log(recent) + (double) last_access / USECS_PER_SEC / ENGRAM_ACCESS_RECENT_TAU_SECONDS;
}

/*
 * More than rounding in rate_key's terms (about 2.4e5 now: ulps of 3e-11).
 * Since decay stops at the last access (see decayed()), an entry whose
 * count decayed to t is at least m has rate_key >= rate_key(m, t): a
 * partition whose max_rate_key is under rate_key(m, t) - slack has none.
 */
#define RATE_KEY_SLACK	1e-6

/*
 * Merge "rec" (counts, times) into the entry for its key; a record with
 * count 0 only carries its "written" time.
 */
static void
merge_record(const EngramAccessRecord *rec, bool lock)
{
	uint32		hash = key_hash(&rec->key);
	int			p = hash % ENGRAM_ACCESS_PARTITIONS;
	EngramAccessEntry *entry;
	bool		fresh;

	if (lock)
		acquire_timed(access_control->partitions[p].lock, LW_EXCLUSIVE);
	entry = partition_enter(p, &rec->key, hash, &fresh);
	if (entry != NULL)
	{
		if (fresh)
			entry->rec = *rec;
		else
		{
			if (rec->count > 0)
			{
				TimestampTz last = Max(entry->rec.last_access, rec->last_access);

				entry->rec.recent = decayed(entry->rec.recent, entry->rec.last_access, last) +
					decayed(rec->recent, rec->last_access, last);
				if (entry->rec.count == 0 || rec->first_access < entry->rec.first_access)
					entry->rec.first_access = rec->first_access;
				entry->rec.count += rec->count;
				entry->rec.last_access = last;
			}
			entry->rec.written = Max(entry->rec.written, rec->written);
		}
		if (entry->rec.count > 0)
			access_control->partitions[p].max_rate_key =
				Max(access_control->partitions[p].max_rate_key,
					rate_key(entry->rec.recent, entry->rec.last_access));
	}
	if (lock)
		LWLockRelease(access_control->partitions[p].lock);
}

/* ------------------------------------------------------------------------
 * File
 * ------------------------------------------------------------------------
 */

/*
 * Write every entry to the statistics file.  "lock": take partition locks
 * (false only in the postmaster at shutdown, when nobody else runs).
 */
static int64
save_stats_file(bool lock)
{
	char		tmppath[MAXPGPATH];
	FILE	   *file;
	uint32		header[2] = {ENGRAM_ACCESS_FILE_MAGIC, ENGRAM_ACCESS_FILE_VERSION};
	int64		count = 0;
	long		count_pos;

	snprintf(tmppath, sizeof(tmppath), "%s.tmp", ENGRAM_ACCESS_STATS_FILE);
	file = AllocateFile(tmppath, PG_BINARY_W);
	if (file == NULL)
		goto error;
	if (fwrite(header, sizeof(header), 1, file) != 1)
		goto error;
	count_pos = ftell(file);
	if (fwrite(&count, sizeof(count), 1, file) != 1)
		goto error;
	for (int p = 0; p < ENGRAM_ACCESS_PARTITIONS; p++)
	{
		EngramAccessEntry *slots = partition_slots(p);
		bool		failed = false;

		if (lock)
			acquire_timed(access_control->partitions[p].lock, LW_SHARED);
		for (uint32 i = 0; i < access_control->slots_per_partition && !failed; i++)
		{
			if (!slots[i].used)
				continue;
			if (fwrite(&slots[i].rec, sizeof(EngramAccessRecord), 1, file) != 1)
				failed = true;
			count++;
		}
		if (lock)
			LWLockRelease(access_control->partitions[p].lock);
		if (failed)
			goto error;
	}
	if (fseek(file, count_pos, SEEK_SET) != 0 ||
		fwrite(&count, sizeof(count), 1, file) != 1 ||
		fflush(file) != 0 || pg_fsync(fileno(file)) != 0)
		goto error;
	if (FreeFile(file) != 0)
	{
		file = NULL;
		goto error;
	}
	(void) durable_rename(tmppath, ENGRAM_ACCESS_STATS_FILE, LOG);
	return count;

error:
	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("could not write engram access statistics file \"%s\": %m", tmppath)));
	if (file)
		FreeFile(file);
	unlink(tmppath);
	return -1;
}

/* Load the statistics file, if any (postmaster, region just created). */
static void
load_stats_file(void)
{
	FILE	   *file = AllocateFile(ENGRAM_ACCESS_STATS_FILE, PG_BINARY_R);
	uint32		header[2];
	int64		count;
	EngramAccessRecord rec;

	if (file == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read engram access statistics file \"%s\": %m",
							ENGRAM_ACCESS_STATS_FILE)));
		return;
	}
	if (fread(header, sizeof(header), 1, file) != 1 ||
		header[0] != ENGRAM_ACCESS_FILE_MAGIC || header[1] != ENGRAM_ACCESS_FILE_VERSION ||
		fread(&count, sizeof(count), 1, file) != 1 || count < 0)
	{
		ereport(LOG,
				(errmsg("ignoring engram access statistics file \"%s\": bad header",
						ENGRAM_ACCESS_STATS_FILE)));
		FreeFile(file);
		return;
	}
	for (int64 i = 0; i < count; i++)
	{
		if (fread(&rec, sizeof(rec), 1, file) != 1)
		{
			ereport(LOG,
					(errmsg("engram access statistics file \"%s\" is truncated",
							ENGRAM_ACCESS_STATS_FILE)));
			break;
		}
		rec.key.pad = 0;
		merge_record(&rec, false);
	}
	FreeFile(file);
}

static void
save_at_postmaster_exit(int code, Datum arg)
{
	/* After a crash the contents are not to be trusted: keep the last file. */
	if (code != 0 || access_control == NULL)
		return;
	save_stats_file(false);
}

static void
access_region_init(void *ptr, bool found)
{
	LWLockPadded *locks;

	access_control = (EngramAccessControl *) ptr;
	if (found)
		return;
	memset(ptr, 0, access_region_size());
	access_control->slots_per_partition = slots_per_partition();
	pg_atomic_init_u64(&access_control->dropped, 0);
	locks = GetNamedLWLockTranche(ENGRAM_ACCESS_TRANCHE);
	for (int p = 0; p < ENGRAM_ACCESS_PARTITIONS; p++)
	{
		access_control->partitions[p].lock = &locks[p].lock;
		access_control->partitions[p].max_rate_key = -INFINITY;
	}
	if (!IsUnderPostmaster)
	{
		load_stats_file();
		on_shmem_exit(save_at_postmaster_exit, (Datum) 0);
	}
}

static const EngramShmemRegion access_region = {
	.name = "engram access stats",
	.size = access_region_size,
	.init = access_region_init,
	.lwlock_tranche = ENGRAM_ACCESS_TRANCHE,
	.lwlock_count = access_lwlock_count,
};

void
engram_access_stats_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomIntVariable("engram.access_stats_max_rows",
							"Sets the number of rows whose access statistics are kept in shared memory.",
							NULL, &engram_access_stats_max_rows,
							ENGRAM_ACCESS_STATS_MAX_ROWS_DEFAULT,
							ENGRAM_ACCESS_STATS_MAX_ROWS_MIN,
							ENGRAM_ACCESS_STATS_MAX_ROWS_MAX,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	engram_shmem_register(&access_region);
}

/* ------------------------------------------------------------------------
 * C API
 * ------------------------------------------------------------------------
 */

bool
engram_access_stats_available(void)
{
	return access_control != NULL;
}

void
engram_access_record(Oid relid, ItemPointer tid)
{
	engram_access_record_at(relid, tid, GetCurrentTimestamp());
}

void
engram_access_record_at(Oid relid, ItemPointer tid, TimestampTz when)
{
	EngramAccessRecord rec;

	if (access_control == NULL)
		return;
	make_key(&rec.key, MyDatabaseId, relid, tid);
	rec.count = 1;
	rec.recent = 1.0;
	rec.first_access = rec.last_access = when;
	rec.written = 0;
	merge_record(&rec, true);
}

/* Whether index fetches count accesses in this backend (see the header). */
static bool fetch_tracking = true;

bool
engram_access_fetch_tracking(void)
{
	return fetch_tracking;
}

bool
engram_access_set_fetch_tracking(bool on)
{
	bool		previous = fetch_tracking;

	fetch_tracking = on;
	return previous;
}

/* The statistics of "rec", "recent" decayed to "now". */
static void
record_info(const EngramAccessRecord *rec, TimestampTz now, EngramAccessInfo *info)
{
	info->count = rec->count;
	info->recent = decayed(rec->recent, rec->last_access, now);
	info->first_access = rec->first_access;
	info->last_access = rec->last_access;
	info->written = rec->written;
}

bool
engram_access_lookup_at(Oid relid, ItemPointer tid, TimestampTz now, EngramAccessInfo *info)
{
	EngramAccessKey key;
	uint32		hash;
	int			p;
	int64		slot;

	if (access_control == NULL)
		return false;
	make_key(&key, MyDatabaseId, relid, tid);
	hash = key_hash(&key);
	p = hash % ENGRAM_ACCESS_PARTITIONS;
	acquire_timed(access_control->partitions[p].lock, LW_SHARED);
	slot = partition_find(p, &key, hash);
	if (slot >= 0)
		record_info(&partition_slots(p)[slot].rec, now, info);
	LWLockRelease(access_control->partitions[p].lock);
	return slot >= 0;
}

bool
engram_access_lookup(Oid relid, ItemPointer tid, EngramAccessInfo *info)
{
	return engram_access_lookup_at(relid, tid, GetCurrentTimestamp(), info);
}

void
engram_access_prefetch(Oid relid, const ItemPointerData *tids, int n)
{
#ifdef __GNUC__
	if (access_control == NULL)
		return;
	for (int i = 0; i < n; i++)
	{
		EngramAccessKey key;
		uint32		hash;
		int			p;

		make_key(&key, MyDatabaseId, relid, (ItemPointer) &tids[i]);
		hash = key_hash(&key);
		p = hash % ENGRAM_ACCESS_PARTITIONS;
		__builtin_prefetch(&partition_slots(p)[home_slot(hash)]);
	}
#endif
}

/* Remove the entry for "key" and return it in *rec; false when absent. */
static bool
take_record(const EngramAccessKey *key, EngramAccessRecord *rec)
{
	uint32		hash = key_hash(key);
	int			p = hash % ENGRAM_ACCESS_PARTITIONS;
	int64		slot;

	acquire_timed(access_control->partitions[p].lock, LW_EXCLUSIVE);
	slot = partition_find(p, key, hash);
	if (slot >= 0)
	{
		*rec = partition_slots(p)[slot].rec;
		partition_remove(p, (uint32) slot);
	}
	LWLockRelease(access_control->partitions[p].lock);
	return slot >= 0;
}

void
engram_access_move(Oid relid, ItemPointer from, ItemPointer to)
{
	EngramAccessKey key;
	EngramAccessRecord rec;

	if (access_control == NULL || ItemPointerEquals(from, to))
		return;
	make_key(&key, MyDatabaseId, relid, from);
	if (!take_record(&key, &rec))
		memset(&rec, 0, sizeof(rec));
	make_key(&rec.key, MyDatabaseId, relid, to);
	rec.written = GetCurrentTimestamp();
	merge_record(&rec, true);
}

void
engram_access_mark_written(Oid relid, ItemPointer tid)
{
	EngramAccessRecord rec;

	if (access_control == NULL)
		return;
	memset(&rec, 0, sizeof(rec));
	make_key(&rec.key, MyDatabaseId, relid, tid);
	rec.written = GetCurrentTimestamp();
	merge_record(&rec, true);
}

void
engram_access_visit(Oid relid, TimestampTz now, double min_recent, EngramAccessVisitor visit,
					void *arg)
{
	double		least_key = min_recent > 0 ? rate_key(min_recent, now) - RATE_KEY_SLACK : -INFINITY;

	if (access_control == NULL)
		return;
	for (int p = 0; p < ENGRAM_ACCESS_PARTITIONS; p++)
	{
		EngramAccessEntry *slots = partition_slots(p);

		acquire_timed(access_control->partitions[p].lock, LW_SHARED);
		/* a partition none of whose entries can reach min_recent is not read */
		for (uint32 i = 0; i < access_control->slots_per_partition &&
			 access_control->partitions[p].max_rate_key >= least_key; i++)
		{
			EngramAccessRecord *rec = &slots[i].rec;
			EngramAccessRow row;

			if (!slots[i].used || rec->key.relid != relid || rec->key.dbid != MyDatabaseId ||
				rec->recent < min_recent)
				continue;
			row.tid = rec->key.tid;
			record_info(rec, now, &row.info);
			visit(&row, arg);
		}
		LWLockRelease(access_control->partitions[p].lock);
	}
}

/* The rows engram_access_collect gathers. */
typedef struct CollectedRows
{
	EngramAccessRow *rows;
	int			count;
	int			max;
} CollectedRows;

static void
collect_row(const EngramAccessRow *row, void *arg)
{
	CollectedRows *collected = (CollectedRows *) arg;

	if (collected->count >= collected->max)
	{
		collected->max *= 2;
		collected->rows = repalloc(collected->rows, sizeof(EngramAccessRow) * collected->max);
	}
	collected->rows[collected->count++] = *row;
}

EngramAccessRow *
engram_access_collect(Oid relid, int *nrows)
{
	CollectedRows collected;

	collected.max = 64;
	collected.count = 0;
	collected.rows = palloc(sizeof(EngramAccessRow) * collected.max);
	/* (every count is >= 0) */
	engram_access_visit(relid, GetCurrentTimestamp(), 0.0, collect_row, &collected);
	*nrows = collected.count;
	return collected.rows;
}

void
engram_access_forget(Oid relid, ItemPointer tid)
{
	EngramAccessKey key;
	EngramAccessRecord rec;

	if (access_control == NULL)
		return;
	make_key(&key, MyDatabaseId, relid, tid);
	take_record(&key, &rec);
}

void
engram_access_forget_relation(Oid relid)
{
	if (access_control == NULL)
		return;
	for (int p = 0; p < ENGRAM_ACCESS_PARTITIONS; p++)
	{
		EngramAccessEntry *slots = partition_slots(p);

		acquire_timed(access_control->partitions[p].lock, LW_EXCLUSIVE);
		for (uint32 i = 0; i < access_control->slots_per_partition; i++)
		{
			/* a removal may shift another entry into slot i: re-check it */
			while (slots[i].used && slots[i].rec.key.relid == relid &&
				   slots[i].rec.key.dbid == MyDatabaseId)
				partition_remove(p, i);
		}
		LWLockRelease(access_control->partitions[p].lock);
	}
}

int64
engram_access_stats_save(void)
{
	if (access_control == NULL)
		return -1;
	return save_stats_file(true);
}

/* ------------------------------------------------------------------------
 * SQL
 * ------------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(engram_row_access_stats);
PG_FUNCTION_INFO_V1(engram_access_record_sql);
PG_FUNCTION_INFO_V1(engram_access_stats_save_sql);

/*
 * engram_row_access_stats(regclass) RETURNS TABLE (ctid tid, access_count
 * bigint, recent_accesses float8, first_access timestamptz, last_access
 * timestamptz, written_at timestamptz): every tracked row of the table
 * (rows written since tracking began, and rows accessed).  Needs SELECT on
 * the table: the statistics tell which rows exist and how they are used.
 */
Datum
engram_row_access_stats(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz now = GetCurrentTimestamp();

	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, get_rel_name(relid));
	engram_require_preload("access statistics");
	InitMaterializedSRF(fcinfo, 0);
	engram_require_result_columns(fcinfo, 6, "engram_row_access_stats()");
	for (int p = 0; p < ENGRAM_ACCESS_PARTITIONS; p++)
	{
		EngramAccessEntry *slots = partition_slots(p);

		acquire_timed(access_control->partitions[p].lock, LW_SHARED);
		for (uint32 i = 0; i < access_control->slots_per_partition; i++)
		{
			EngramAccessRecord *rec = &slots[i].rec;
			Datum		values[6];
			bool		nulls[6] = {0};
			ItemPointer tid;

			if (!slots[i].used || rec->key.relid != relid || rec->key.dbid != MyDatabaseId)
				continue;
			tid = palloc(sizeof(ItemPointerData));
			*tid = rec->key.tid;
			values[0] = PointerGetDatum(tid);
			values[1] = Int64GetDatum(rec->count);
			values[2] = Float8GetDatum(decayed(rec->recent, rec->last_access, now));
			values[3] = TimestampTzGetDatum(rec->first_access);
			values[4] = TimestampTzGetDatum(rec->last_access);
			nulls[3] = nulls[4] = rec->count == 0;
			values[5] = TimestampTzGetDatum(rec->written);
			nulls[5] = rec->written == 0;
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
		LWLockRelease(access_control->partitions[p].lock);
	}
	return (Datum) 0;
}

/*
 * engram_access_record(regclass, tid): record one explicit access.  Only
 * for engram tables the caller may read: otherwise anyone could fill the
 * shared statistics table with entries for arbitrary relations and evict
 * the real ones, or steer the tier placement of other users' rows.
 */
Datum
engram_access_record_sql(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel;

	engram_require_preload("access statistics");
	rel = engram_tam_open_for_move(relid, AccessShareLock, ACL_SELECT);
	table_close(rel, AccessShareLock);
	engram_access_record(relid, (ItemPointer) PG_GETARG_POINTER(1));
	PG_RETURN_VOID();
}

/* engram_access_stats_save(): write the file now; rows written. */
Datum
engram_access_stats_save_sql(PG_FUNCTION_ARGS)
{
	int64		count;

	engram_require_preload("access statistics");
	count = engram_access_stats_save();
	if (count < 0)
		ereport(ERROR,
				(errcode(ERRCODE_IO_ERROR),
				 errmsg("could not write engram access statistics file"),
				 errhint("See the server log for the cause.")));
	PG_RETURN_INT64(count);
}
