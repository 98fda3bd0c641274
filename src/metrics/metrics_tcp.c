/*-------------------------------------------------------------------------
 *
 * metrics_tcp.c
 *	  The kernel's byte counters of one TCP socket (Linux TCP_INFO).
 *
 * This file includes no PostgreSQL header on purpose: the byte counters
 * (tcpi_bytes_received, tcpi_bytes_acked, Linux 4.1+) are only in the
 * kernel's struct tcp_info (<linux/tcp.h>), which clashes with glibc's
 * older copy that PostgreSQL's libpq-be.h pulls in through <netinet/tcp.h>.
 * The caller (metrics_network.c) passes the socket and gets two numbers.
 *
 *-------------------------------------------------------------------------
 */
#include <stddef.h>
#include <stdint.h>

#include "metrics_tcp.h"

#if defined(__linux__)
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/tcp.h>

int
engram_tcp_byte_counts(int sock, uint64_t *received, uint64_t *sent)
{
	struct tcp_info info;
	socklen_t	length = sizeof(info);

	if (getsockopt(sock, IPPROTO_TCP, TCP_INFO, &info, &length) != 0)
		return -1;
	/* kernels older than 4.1 fill a shorter struct without the counters */
	if (length < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(info.tcpi_bytes_received))
		return -1;
	*received = info.tcpi_bytes_received;
	*sent = info.tcpi_bytes_acked;
	return 0;
}

#else

int
engram_tcp_byte_counts(int sock, uint64_t *received, uint64_t *sent)
{
	(void) sock;
	(void) received;
	(void) sent;
	return -1;
}

#endif
