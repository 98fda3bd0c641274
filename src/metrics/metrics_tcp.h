/*-------------------------------------------------------------------------
 *
 * metrics_tcp.h
 *	  Reading a TCP socket's byte counters from the kernel (metrics_tcp.c).
 *	  Plain C types only: metrics_tcp.c includes no PostgreSQL header.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ENGRAM_METRICS_TCP_H
#define ENGRAM_METRICS_TCP_H

#include <stdint.h>

/*
 * Bytes received on TCP socket "sock" and bytes it sent that the peer
 * acknowledged, since the connection was opened (payload only, so TLS
 * records count, TCP/IP headers and retransmissions do not).  Returns 0,
 * or -1 when the socket is not TCP or the kernel has no such counters.
 */
extern int	engram_tcp_byte_counts(int sock, uint64_t *received, uint64_t *sent);

#endif							/* ENGRAM_METRICS_TCP_H */
