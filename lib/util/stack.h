/*
 * Thread stacks of waiting requests: a thread that parks for a long wait
 * gives the kernel back the stack pages its deeper calls (database,
 * JSON) touched earlier; they fault back in, zeroed, when next needed.
 */
#ifndef UTIL_STACK_H
#define UTIL_STACK_H

/* Releases the calling thread's stack pages below the caller's frame
 * (keeping a margin for a system call or two): call it right before
 * sleeping. */
void stack_trim(void);

#endif
