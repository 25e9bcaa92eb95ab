/* ARM semihosting (bkpt 0xAB): the test harness's side channel. QEMU needs
 * -semihosting-config enable=on,target=native; arg=... become the command line. */
#ifndef SEMIHOST_H
#define SEMIHOST_H
#include <stddef.h>

/* Copy the command line (NUL-terminated) into buf; returns its length or -1. */
int semihost_cmdline(char *buf, size_t cap);
/* Text to the debugger console (QEMU: its stderr). */
void semihost_puts(const char *s);
/* End the program: status 0 makes QEMU exit 0, anything else exit 1. */
void semihost_exit(int status) __attribute__((noreturn));

#endif
