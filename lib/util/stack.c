#include "util/stack.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/log.h"

int thread_start(void *(*fn)(void *), void *arg, size_t stack_size)
{
	pthread_attr_t attr;
	pthread_t t;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (stack_size > 0)
		pthread_attr_setstacksize(&attr, stack_size);
	int rc = pthread_create(&t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	if (rc != 0)
		log_error("cannot start a thread: %s", strerror(rc));
	return rc == 0 ? 0 : -1;
}

/* Kept below this function's frame: what runs below it before the caller
 * sleeps (the madvise and syscall wrappers) uses a few words. */
#define STACK_TRIM_MARGIN 512

static __thread uintptr_t stack_lo; /* lowest usable address; 0 unknown */

void stack_trim(void)
{
	if (stack_lo == 0) {
		pthread_attr_t attr;
		void *addr;
		size_t size;
		if (pthread_getattr_np(pthread_self(), &attr) != 0)
			return;
		int ok = pthread_attr_getstack(&attr, &addr, &size) == 0;
		pthread_attr_destroy(&attr);
		if (!ok)
			return;
		stack_lo = (uintptr_t)addr;
	}
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t here = (uintptr_t)__builtin_frame_address(0);
	uintptr_t lo = (stack_lo + page - 1) & ~(page - 1);
	uintptr_t hi = (here - STACK_TRIM_MARGIN) & ~(page - 1);
	if (here > STACK_TRIM_MARGIN && hi > lo)
		madvise((void *)lo, hi - lo, MADV_DONTNEED);
}
