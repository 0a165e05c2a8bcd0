/* A memcached of a unit test's own, on a private unix socket: started
 * and stopped the same way by every test that needs a real one. */
#ifndef TEST_MEMCACHED_H
#define TEST_MEMCACHED_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Starts memcached on sock (pid file pidf) and waits for the socket.
 * 0, or -1. */
static int test_memcached_start(const char *sock, const char *pidf)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "memcached -s %s -a 0700 -m 8 -d -P %s %s", sock, pidf,
		geteuid() == 0 ? "-u root" : "");
	if (system(cmd) != 0)
		return -1;
	struct stat st;
	for (int i = 0; i < 50 && stat(sock, &st) != 0; i++)
		usleep(20000);
	return stat(sock, &st) == 0 ? 0 : -1;
}

/* Stops the memcached whose pid file is pidf, waits for it to end and
 * removes its socket. Returns its pid (0 when the file held none). */
static long test_memcached_stop(const char *sock, const char *pidf)
{
	FILE *f = fopen(pidf, "r");
	long pid = 0;
	if (f != NULL) {
		if (fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	if (pid > 0)
		kill((pid_t)pid, SIGTERM);
	for (int i = 0; i < 50 && pid > 0 && kill((pid_t)pid, 0) == 0; i++)
		usleep(20000);
	unlink(sock);
	return pid;
}

#endif
