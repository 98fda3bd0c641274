/*-------------------------------------------------------------------------
 *
 * metrics_network.c
 *	  engram_network_bytes_total{direction}: bytes that client backends
 *	  received from and sent to their clients over TCP, from the kernel's
 *	  per-socket counters.
 *
 * Every client backend connected over TCP reads its socket's counters
 * (metrics_tcp.c) at the end of each top-level transaction and when it
 * exits, and adds what they grew since its previous reading to two shared
 * counters.  The totals therefore hold every byte of the protocol
 * (queries, results, COPY data, TLS records) of every client, not only of
 * Engram calls, up to the last finished transaction of each session.  Not
 * counted: connections over Unix-domain sockets (the kernel keeps no byte
 * counters for them), replication connections (walsenders run no
 * transactions of their own), and a session's traffic after its last
 * transaction until it exits.
 *
 * Cost: one getsockopt() per transaction of a TCP client.
 *
 * Locking: the shared counters are atomics; the previous reading is
 * backend-local.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/socket.h>

#include "access/xact.h"
#include "funcapi.h"

/*
 * libpq-be.h includes the GSSAPI headers when the server was built with
 * GSSAPI, and those come from a -dev package the build does not otherwise
 * need.  Only Port's first members (sock, raddr) are read here, and Port's
 * layout does not depend on ENABLE_GSS (its gss member is a pointer either
 * way), so the header is read without it.
 */
#undef ENABLE_GSS
#include "libpq/libpq-be.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/builtins.h"

#include "engram.h"
#include "metrics_internal.h"
#include "metrics_tcp.h"

PG_FUNCTION_INFO_V1(engram_metrics_network);

const char *const engram_network_direction_names[ENGRAM_NET_DIRECTION_COUNT] = {
	[ENGRAM_NET_RECEIVED] = "received",
	[ENGRAM_NET_SENT] = "sent",
};

/* This backend's previous reading of its socket's counters. */
static bool sampling_disabled = false;	/* not a TCP client backend */
static bool exit_hook_registered = false;
static uint64 last_received = 0;
static uint64 last_sent = 0;

static bool
is_tcp_client(void)
{
	if (MyBackendType != B_BACKEND || MyProcPort == NULL ||
		MyProcPort->sock == PGINVALID_SOCKET)
		return false;
	return MyProcPort->raddr.addr.ss_family == AF_INET ||
		MyProcPort->raddr.addr.ss_family == AF_INET6;
}

/* Add this backend's traffic since its previous reading to the totals. */
static void
sample_socket(void)
{
	uint64_t	received;
	uint64_t	sent;

	if (sampling_disabled || engram_metrics == NULL)
		return;
	if (!is_tcp_client() ||
		engram_tcp_byte_counts(MyProcPort->sock, &received, &sent) != 0)
	{
		sampling_disabled = true;
		return;
	}
	/* the counters only grow; a smaller value would be a new socket */
	if (received >= last_received)
		pg_atomic_fetch_add_u64(&engram_metrics->network_bytes[ENGRAM_NET_RECEIVED],
								received - last_received);
	if (sent >= last_sent)
		pg_atomic_fetch_add_u64(&engram_metrics->network_bytes[ENGRAM_NET_SENT],
								sent - last_sent);
	last_received = received;
	last_sent = sent;
}

static void
sample_at_exit(int code, Datum arg)
{
	sample_socket();
}

static void
network_xact_callback(XactEvent event, void *arg)
{
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PREPARE)
		return;
	if (!exit_hook_registered && !sampling_disabled)
	{
		before_shmem_exit(sample_at_exit, (Datum) 0);
		exit_hook_registered = true;
	}
	sample_socket();
}

/*
 * Called from _PG_init while shared_preload_libraries is processed: the
 * callback is then inherited by every backend the postmaster starts.
 */
void
engram_metrics_network_init(void)
{
	RegisterXactCallback(network_xact_callback, NULL);
}

/* engram_metrics_network(): one row per direction, bytes since the reset. */
Datum
engram_metrics_network(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	engram_metrics_require();
	InitMaterializedSRF(fcinfo, 0);
	engram_require_result_columns(fcinfo, 2, "engram_metrics_network()");
	for (int direction = 0; direction < ENGRAM_NET_DIRECTION_COUNT; direction++)
	{
		Datum		values[2];
		bool		nulls[2] = {false};

		values[0] = CStringGetTextDatum(engram_network_direction_names[direction]);
		values[1] = Int64GetDatum((int64) pg_atomic_read_u64(&engram_metrics->network_bytes[direction]));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
