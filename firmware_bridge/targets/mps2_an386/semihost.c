#include "semihost.h"

#include <stdint.h>

#define SYS_WRITE0 0x04u
#define SYS_GET_CMDLINE 0x15u
#define SYS_EXIT 0x18u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u
#define ADP_STOPPED_RUNTIME_ERROR 0x20023u

static uint32_t semihost_call(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ __volatile__("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

int semihost_cmdline(char *buf, size_t cap)
{
    uint32_t block[2];
    block[0] = (uint32_t)(uintptr_t)buf;
    block[1] = (uint32_t)cap;
    if (cap == 0 || semihost_call(SYS_GET_CMDLINE, block) != 0) {
        return -1;
    }
    return (int)block[1];
}

void semihost_puts(const char *s)
{
    semihost_call(SYS_WRITE0, s);
}

void semihost_exit(int status)
{
    /* AArch32 SYS_EXIT takes a reason, not a code: QEMU exits 0 for
     * ApplicationExit, 1 otherwise. */
    semihost_call(SYS_EXIT, (const void *)(uintptr_t)(status == 0 ? ADP_STOPPED_APPLICATION_EXIT
                                                                   : ADP_STOPPED_RUNTIME_ERROR));
    for (;;) {
    }
}
