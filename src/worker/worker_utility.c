/*-------------------------------------------------------------------------
 *
 * worker_utility.c
 *	  Get the database worker out of the way of commands that need a
 *	  database without connections.
 *
 * DROP DATABASE, ALTER DATABASE ... RENAME / SET TABLESPACE and CREATE
 * DATABASE ... TEMPLATE fail while any session is connected to the
 * database concerned, and the worker is connected to every database it
 * serves.  A ProcessUtility hook stops that database's worker first (when
 * the current user owns the database, so that nobody can bounce another
 * owner's worker) and frees its status slot, so that the launcher waits
 * ENGRAM_LAUNCHER_RETRY_CYCLES scans before starting it again.  PostgreSQL
 * itself waits up to five seconds for the worker to be gone.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/acl.h"

#include "engram.h"
#include "worker/engram_worker.h"

static ProcessUtility_hook_type prev_process_utility = NULL;

/* Stop the worker of database "name" if the current user owns it. */
static void
stop_worker_of(const char *name)
{
	Oid			database = get_database_oid(name, true);

	if (!OidIsValid(database) || engram_worker_shared == NULL)
		return;
	if (!pg_database_ownercheck(database, GetUserId()))
		return;

	LWLockAcquire(engram_worker_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < ENGRAM_WORKER_MAX_DATABASES; i++)
	{
		EngramWorkerSlot *slot = &engram_worker_shared->slots[i];

		if (slot->database != database)
			continue;
		if (slot->pid != 0)
			(void) kill(slot->pid, SIGTERM);
		slot->database = InvalidOid;
		slot->pid = 0;
		slot->consolidating = false;
	}
	LWLockRelease(engram_worker_shared->lock);
}

static bool
has_option(List *options, const char *name)
{
	ListCell   *cell;

	foreach(cell, options)
		if (strcmp(((DefElem *) lfirst(cell))->defname, name) == 0)
			return true;
	return false;
}

static char *
option_string(List *options, const char *name)
{
	ListCell   *cell;

	foreach(cell, options)
	{
		DefElem    *option = (DefElem *) lfirst(cell);

		if (strcmp(option->defname, name) == 0 && option->arg != NULL)
			return defGetString(option);
	}
	return NULL;
}

static void
engram_worker_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
							  ProcessUtilityContext context, ParamListInfo params,
							  QueryEnvironment *queryEnv, DestReceiver *dest,
							  QueryCompletion *qc)
{
	Node	   *statement = pstmt->utilityStmt;

	switch (nodeTag(statement))
	{
		case T_DropdbStmt:
			stop_worker_of(((DropdbStmt *) statement)->dbname);
			break;
		case T_CreatedbStmt:
			{
				char	   *template = option_string(((CreatedbStmt *) statement)->options,
													 "template");

				if (template != NULL)
					stop_worker_of(template);
				break;
			}
		case T_RenameStmt:
			if (((RenameStmt *) statement)->renameType == OBJECT_DATABASE)
				stop_worker_of(((RenameStmt *) statement)->subname);
			break;
		case T_AlterDatabaseStmt:
			if (has_option(((AlterDatabaseStmt *) statement)->options, "tablespace"))
				stop_worker_of(((AlterDatabaseStmt *) statement)->dbname);
			break;
		default:
			break;
	}

	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv,
							 dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv,
								dest, qc);
}

void
engram_worker_install_utility_hook(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = engram_worker_process_utility;
}
