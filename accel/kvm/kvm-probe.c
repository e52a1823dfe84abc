/* The KVM capability probe (include/accel/kvm-probe.h). */
#include "accel/kvm-probe.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* Child exit codes, each a step that failed. */
enum {
    PROBE_OK = 0,
    PROBE_OPEN = 10,
    PROBE_API,
    PROBE_VM,
    PROBE_MEM,
    PROBE_VCPU,
    PROBE_REGS,
    PROBE_RUN,
    PROBE_EXIT_IO,
    PROBE_EXIT_HLT,
};

static const char *const step_names[] = {
    [PROBE_OPEN - PROBE_OPEN] = "opening the device failed",
    [PROBE_API - PROBE_OPEN] = "unsupported KVM API version",
    [PROBE_VM - PROBE_OPEN] = "KVM_CREATE_VM failed",
    [PROBE_MEM - PROBE_OPEN] = "setting up guest memory failed",
    [PROBE_VCPU - PROBE_OPEN] = "KVM_CREATE_VCPU failed",
    [PROBE_REGS - PROBE_OPEN] = "setting vCPU registers failed",
    [PROBE_RUN - PROBE_OPEN] = "KVM_RUN failed",
    [PROBE_EXIT_IO - PROBE_OPEN] = ("the probe guest did not reach its port write "
                                    "(emulation failure or internal error)"),
    [PROBE_EXIT_HLT - PROBE_OPEN] = "the probe guest did not halt",
};

#define PROBE_MEM_SIZE 0x10000

static void put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

/* Identity-mapped long mode: page tables, GDT, an IDT whose int3 gate returns, and code that
 * runs lock cmpxchg16b and int3 (where broken backends give up) before its port write. */
static void build_guest(uint8_t *mem)
{
    put64(mem + 0x1000, 0x2000 | 3);            /* PML4[0] -> PDPT */
    put64(mem + 0x2000, 0x3000 | 3);            /* PDPT[0] -> PD */
    put64(mem + 0x3000, 0x0 | 0x83);            /* PD[0]: 2 MiB page at 0 */
    put64(mem + 0x4008, 0x00af9a000000ffffull); /* GDT 0x08: 64-bit code */
    put64(mem + 0x4010, 0x00cf92000000ffffull); /* GDT 0x10: data */
    uint64_t handler = 0x6000;
    uint8_t *gate = mem + 0x5000 + 3 * 16; /* IDT vector 3: interrupt gate to handler */
    gate[0] = handler & 0xff;
    gate[1] = (handler >> 8) & 0xff;
    gate[2] = 0x08;
    gate[5] = 0x8e;
    mem[0x6000] = 0x48; /* iretq */
    mem[0x6001] = 0xcf;
    static const uint8_t code[] = {
        0x48, 0xbe, 0x00, 0x80, 0,    0, 0, 0, 0, 0, /* mov rsi, 0x8000 */
        0x31, 0xc0,                                  /* xor eax, eax */
        0x31, 0xd2,                                  /* xor edx, edx */
        0x31, 0xc9,                                  /* xor ecx, ecx */
        0xbb, 0x42, 0,    0,    0,                   /* mov ebx, 0x42 */
        0xf0, 0x48, 0x0f, 0xc7, 0x0e,                /* lock cmpxchg16b [rsi] */
        0xcc,                                        /* int3 */
        0x8a, 0x06,                                  /* mov al, [rsi] */
        0xe6, 0x10,                                  /* out 0x10, al */
        0xf4,                                        /* hlt */
    };
    memcpy(mem + 0x7000, code, sizeof(code));
}

static void flat_segment(struct kvm_segment *seg, uint16_t sel, uint8_t type, bool code)
{
    *seg = (struct kvm_segment){.base = 0,
                                .limit = 0xffffffff,
                                .selector = sel,
                                .type = type,
                                .present = 1,
                                .dpl = 0,
                                .db = !code,
                                .s = 1,
                                .l = code,
                                .g = 1};
}

static int run_probe(const char *dev)
{
    int kvm = open(dev, O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        return PROBE_OPEN;
    }
    if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
        return PROBE_API;
    }
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) {
        return PROBE_VM;
    }
    uint8_t *mem =
        mmap(NULL, PROBE_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        return PROBE_MEM;
    }
    build_guest(mem);
    struct kvm_userspace_memory_region region = {
        .slot = 0,
        .guest_phys_addr = 0,
        .memory_size = PROBE_MEM_SIZE,
        .userspace_addr = (uintptr_t)mem,
    };
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
        return PROBE_MEM;
    }
    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0) {
        return PROBE_VCPU;
    }
    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size <= 0) {
        return PROBE_VCPU;
    }
    struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED) {
        return PROBE_VCPU;
    }
    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) {
        return PROBE_REGS;
    }
    flat_segment(&sregs.cs, 0x08, 11, true);
    flat_segment(&sregs.ds, 0x10, 3, false);
    sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
    sregs.gdt.base = 0x4000;
    sregs.gdt.limit = 0x17;
    sregs.idt.base = 0x5000;
    sregs.idt.limit = 0xff;
    sregs.cr3 = 0x1000;
    sregs.cr4 = 0x20;       /* PAE */
    sregs.cr0 = 0x80050033; /* PG, WP, NE, ET, MP, PE */
    sregs.efer = 0x500;     /* LME, LMA */
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) {
        return PROBE_REGS;
    }
    struct kvm_regs regs = {.rip = 0x7000, .rsp = 0x9000, .rflags = 2};
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) {
        return PROBE_REGS;
    }
    if (ioctl(vcpu, KVM_RUN, 0) < 0) {
        return PROBE_RUN;
    }
    if (run->exit_reason != KVM_EXIT_IO || run->io.direction != KVM_EXIT_IO_OUT ||
        run->io.port != 0x10 || ((uint8_t *)run)[run->io.data_offset] != 0x42) {
        return PROBE_EXIT_IO;
    }
    if (ioctl(vcpu, KVM_RUN, 0) < 0) {
        return PROBE_RUN;
    }
    if (run->exit_reason != KVM_EXIT_HLT) {
        return PROBE_EXIT_HLT;
    }
    return PROBE_OK;
}

bool kvm_probe(const char *dev_path, int timeout_ms, GError **errp)
{
    if (access(dev_path, F_OK) != 0) {
        error_setg(errp, "Could not access KVM kernel module: %s", g_strerror(errno));
        return false;
    }
    pid_t pid = fork();
    if (pid < 0) {
        error_setg_errno(errp, errno, "cannot start the KVM probe");
        return false;
    }
    if (pid == 0) {
        _exit(run_probe(dev_path));
    }
    int status = 0;
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    pid_t r;
    while ((r = waitpid(pid, &status, WNOHANG)) == 0 && g_get_monotonic_time() < deadline) {
        g_usleep(2000);
    }
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        error_setg(errp,
                   "KVM cannot run guests on this host: the probe guest did not finish "
                   "within %d ms",
                   timeout_ms);
        return false;
    }
    if (WIFSIGNALED(status)) {
        error_setg(errp, "KVM cannot run guests on this host: the probe died with signal %d",
                   WTERMSIG(status));
        return false;
    }
    int code = WEXITSTATUS(status);
    if (code == PROBE_OK) {
        return true;
    }
    if (code < PROBE_OPEN || code > PROBE_EXIT_HLT) {
        error_setg(errp, "KVM cannot run guests on this host: probe failed (%d)", code);
        return false;
    }
    error_setg(errp, "KVM cannot run guests on this host: %s", step_names[code - PROBE_OPEN]);
    error_append_hint(errp, "Use -accel tcg (the default) to run guests on the software CPU.\n");
    return false;
}
