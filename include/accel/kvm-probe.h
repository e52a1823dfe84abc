/*
 * Whether the host's KVM can really run a guest, tested rather than assumed: /dev/kvm may be
 * served by a backend (such as a paravirtual nested one) that opens, creates VMs and vCPUs,
 * and then fails or hangs on the first instructions.
 *
 * The probe runs in a child process (so a hang or a signal cannot hurt the monitor), which
 * builds a small VM already in 64-bit long mode (identity page tables, GDT, IDT) whose code
 * runs `lock cmpxchg16b` and `int3` (instructions a stock kernel needs and where broken
 * backends fail), writes 0x42 to port 0x10 and halts; it expects exactly that I/O exit, then a
 * HLT exit, within a time limit.
 */
#ifndef ACCEL_KVM_PROBE_H
#define ACCEL_KVM_PROBE_H

#include <glib.h>
#include <stdbool.h>

/* true if KVM ran the probe guest; else false with a message saying why (no trailing period). */
bool kvm_probe(const char *dev_path, int timeout_ms, GError **errp);

#endif
