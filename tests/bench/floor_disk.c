/*
 * floor_disk: floor C, the disk alone. What a durable commit asks of the
 * disk: a 4 KiB O_DIRECT write (as InnoDB writes its redo log) followed by
 * fdatasync, at RATE writes a second, paced open-loop (a write that comes
 * due during a slow one goes out as soon as that one ends, and its latency
 * counts from when it was due), into a file in DIR, on the filesystem that
 * holds the database.
 *
 *   floor_disk -D DIR -r RATE -d SECONDS [-w WARMUP_SECONDS]
 *
 * Prints "RESULT writes_per_s=... p50_ms=... p99_ms=... max_ms=..." and what
 * the host did over the window, as the delivery runs report it (host.c):
 * the device's stalls (spans of 5 ms or more in which it completed nothing)
 * and the CPUs' pauses (5 ms or more in which one ran nothing of ours).
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define AREA (16 << 20)
#define BLOCK 4096

static void die(const char *what)
{
	fprintf(stderr, "floor_disk: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void sleep_until(uint64_t t)
{
	uint64_t now = now_ns();
	if (t <= now)
		return;
	struct timespec ts = {(time_t)((t - now) / 1000000000u), (long)((t - now) % 1000000000u)};
	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	const char *dir = NULL;
	double rate = 500, duration = 5, warmup = 1;
	int ch;
	while ((ch = getopt(argc, argv, "D:r:d:w:")) != -1) {
		switch (ch) {
		case 'D': dir = optarg; break;
		case 'r': rate = atof(optarg); break;
		case 'd': duration = atof(optarg); break;
		case 'w': warmup = atof(optarg); break;
		default: return 2;
		}
	}
	if (dir == NULL || rate <= 0 || duration <= 0 || warmup < 0) {
		fprintf(stderr, "usage: floor_disk -D DIR -r RATE -d SECONDS [-w WARMUP_SECONDS]\n");
		return 2;
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/floor_disk.dat", dir);
	int direct = 1;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EINVAL) {	/* tmpfs and the like */
		direct = 0;
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	}
	if (fd < 0)
		die(path);
	unlink(path);
	void *buf;
	if (posix_memalign(&buf, BLOCK, 1 << 20) != 0)
		die("posix_memalign");
	memset(buf, 'x', 1 << 20);
	/* The area is written once first, so later writes overwrite blocks
	 * already allocated, as a redo log's are. */
	for (off_t o = 0; o < AREA; o += 1 << 20)
		if (pwrite(fd, buf, 1 << 20, o) != 1 << 20)
			die("write");
	if (fdatasync(fd) < 0)
		die("fdatasync");

	struct hist *h = xcalloc_or_die(1, sizeof(*h));
	hist_init(h);
	uint64_t t0 = now_ns();
	uint64_t t_start = t0 + (uint64_t)(warmup * 1e9), t_end = t_start + (uint64_t)(duration * 1e9);
	struct host_watch *hw = host_watch_start(dir, 5000000u);
	double interval = 1e9 / rate;
	unsigned long long n = 0, counted = 0;
	off_t off = 0;
	for (;;) {
		uint64_t due = t0 + (uint64_t)((double)n * interval);
		if (due >= t_end)
			break;
		sleep_until(due);
		if (pwrite(fd, buf, BLOCK, off) != BLOCK)
			die("write");
		if (fdatasync(fd) < 0)
			die("fdatasync");
		uint64_t now = now_ns();
		if (due >= t_start) {
			hist_add(h, now - due);
			counted++;
		}
		off = (off + BLOCK) % AREA;
		n++;
	}
	struct host_report hr;
	host_watch_stop(hw, &hr);
	close(fd);
	printf("RESULT writes_per_s=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f o_direct=%d",
		(double)counted / duration, ns_to_ms(hist_quantile(h, 0.5)),
		ns_to_ms(hist_quantile(h, 0.99)), ns_to_ms(h->max), direct);
	host_print(&hr, t_start, t_end);
	printf("\n");
	host_report_free(&hr);
	free(h);
	free(buf);
	return 0;
}
