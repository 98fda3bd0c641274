/*-------------------------------------------------------------------------
 *
 * worker_priority.c
 *	  The CPU priority (nice value) of the Engram launcher and database
 *	  workers: engram.worker_nice.
 *
 * Each worker process calls engram_worker_apply_nice() when it starts and
 * after every configuration reload.  A higher nice value makes the kernel's
 * scheduler give the worker a smaller share of a busy CPU, so that on a
 * small machine its work yields to client backends; on an idle CPU it
 * changes nothing.  The setting's range starts at 0: a worker never runs
 * at a higher priority than the backends.
 *
 * An unprivileged process may raise its nice value but not lower it
 * (Linux: without CAP_SYS_NICE or a matching RLIMIT_NICE), so lowering
 * the setting takes effect in workers started afterwards (the postmaster
 * forks them at its own value).  Failures are warnings; the process goes
 * on at the value it has.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>
#include <sys/resource.h>

#include "miscadmin.h"
#include "postmaster/bgworker.h"

#include "worker/engram_worker.h"

/* This process's nice value; "fallback" when it cannot be read. */
static int
current_nice(int fallback)
{
	int			nice_value;

	errno = 0;
	nice_value = getpriority(PRIO_PROCESS, 0);
	if (nice_value == -1 && errno != 0)
	{
		ereport(WARNING,
				(errmsg("could not read the nice value of the %s: %m",
						MyBgworkerEntry ? MyBgworkerEntry->bgw_type : "engram worker")));
		return fallback;
	}
	return nice_value;
}

/* The value this process last tried to take and could not; -1: none. */
static int	refused_nice = -1;

/*
 * Set this process's nice value to engram.worker_nice, unless it has it
 * already.  Returns the nice value the process runs with afterwards.  A
 * refusal (EACCES or EPERM when lowering it) is a WARNING, never an error,
 * given once per value (a reload that leaves the setting as it was does
 * not repeat it).
 */
int
engram_worker_apply_nice(void)
{
	int			before = current_nice(engram_worker_nice);
	const char *process = MyBgworkerEntry ? MyBgworkerEntry->bgw_type : "engram worker";

	if (before == engram_worker_nice || refused_nice == engram_worker_nice)
		return before;
	refused_nice = -1;
	if (setpriority(PRIO_PROCESS, 0, engram_worker_nice) != 0)
	{
		int			refusal = errno;	/* %m reads errno itself */

		refused_nice = engram_worker_nice;
		ereport(WARNING,
				(errmsg("could not set the nice value of the %s from %d to %d: %m",
						process, before, engram_worker_nice),
				 errdetail("The process keeps nice value %d.", before),
				 (refusal == EACCES || refusal == EPERM) ?
				 errhint("Lowering a nice value needs the CAP_SYS_NICE capability; a worker started afterwards begins at the postmaster's value (stop it with pg_terminate_backend and the launcher starts it again).") : 0));
		return before;
	}
	return current_nice(engram_worker_nice);
}
