/*-------------------------------------------------------------------------
 *
 * hnswvalidate.c
 *	  amvalidate for engram_hnsw: an operator class must name its metric
 *	  through support procedure 1 and offer only ORDER BY operators that
 *	  return float8.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/amvalidate.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_amproc.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_type.h"
#include "utils/syscache.h"

#include "hnsw/hnsw.h"

bool
engram_hnsw_validate(Oid opclassoid)
{
	HeapTuple	classtup;
	Form_pg_opclass classform;
	CatCList   *proclist;
	CatCList   *oprlist;
	bool		result = true;
	bool		has_metric = false;

	classtup = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclassoid));
	if (!HeapTupleIsValid(classtup))
		elog(ERROR, "cache lookup failed for operator class %u", opclassoid);
	classform = (Form_pg_opclass) GETSTRUCT(classtup);

	proclist = SearchSysCacheList1(AMPROCNUM, ObjectIdGetDatum(classform->opcfamily));
	for (int i = 0; i < proclist->n_members; i++)
	{
		Form_pg_amproc proc = (Form_pg_amproc) GETSTRUCT(&proclist->members[i]->tuple);

		if (proc->amprocnum == ENGRAM_HNSW_METRIC_PROC &&
			check_amproc_signature(proc->amproc, INT4OID, true, 1, 1, INTERNALOID))
			has_metric = true;
		else
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("engram_hnsw operator family contains invalid support procedure %d",
							proc->amprocnum)));
			result = false;
		}
	}
	if (!has_metric)
	{
		ereport(INFO,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("engram_hnsw operator class is missing support procedure %d",
						ENGRAM_HNSW_METRIC_PROC)));
		result = false;
	}

	oprlist = SearchSysCacheList1(AMOPSTRATEGY, ObjectIdGetDatum(classform->opcfamily));
	for (int i = 0; i < oprlist->n_members; i++)
	{
		Form_pg_amop op = (Form_pg_amop) GETSTRUCT(&oprlist->members[i]->tuple);

		if (op->amoppurpose != AMOP_ORDER ||
			!check_amop_signature(op->amopopr, FLOAT8OID, op->amoplefttype,
								  op->amoprighttype))
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("engram_hnsw operator family contains operator %u that is not an ORDER BY operator returning double precision",
							op->amopopr)));
			result = false;
		}
	}

	ReleaseCatCacheList(oprlist);
	ReleaseCatCacheList(proclist);
	ReleaseSysCache(classtup);
	return result;
}
