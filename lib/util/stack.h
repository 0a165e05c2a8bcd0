/*
 * Threads and their stacks: starting a detached thread with a chosen
 * stack, and, for a thread that sleeps long, giving the kernel back the
 * stack pages its deeper calls (database, JSON) touched earlier; they
 * fault back in, zeroed, when next needed.
 */
#ifndef UTIL_STACK_H
#define UTIL_STACK_H

#include <stddef.h>

/* Starts fn(arg) on a detached thread with a stack of stack_size bytes
 * (0: the default). Returns 0, or -1 after logging why. */
int thread_start(void *(*fn)(void *), void *arg, size_t stack_size);

/* Releases the calling thread's stack pages below the caller's frame
 * (keeping a margin for a system call or two): call it right before
 * sleeping. */
void stack_trim(void);

#endif
