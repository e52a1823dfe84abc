/* HMP commands on the machine; each calls the QMP command's C function. */
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "qapi-commands.h"
#include "system/machine-control.h"

#include <string.h>

void hmp_system_reset(Monitor *mon, const HmpArgs *args)
{
    qmp_system_reset(NULL);
}

void hmp_system_powerdown(Monitor *mon, const HmpArgs *args)
{
    qmp_system_powerdown(NULL);
}

void hmp_info_cpus(Monitor *mon, const HmpArgs *args)
{
    GPtrArray *cpus = qmp_query_cpus_fast(NULL);
    for (guint i = 0; i < cpus->len; i++) {
        CpuInfoFast *cpu = g_ptr_array_index(cpus, i);
        /* The current CPU (always the first: the monitor has no `cpu` command) is starred. */
        monitor_printf(mon, "%c CPU #%" G_GINT64_FORMAT ": thread_id=%" G_GINT64_FORMAT "\n",
                       i == 0 ? '*' : ' ', cpu->cpu_index, cpu->thread_id);
    }
    g_ptr_array_unref(cpus);
}

static void dump_one(Monitor *mon, guint index)
{
    g_autoptr(GString) out = g_string_new(NULL);
    g_string_printf(out, "\nCPU#%u\n", index);
    machine_cpu_dump(index, out);
    monitor_printf(mon, "%s", out->str);
}

void hmp_info_registers(Monitor *mon, const HmpArgs *args)
{
    guint n = machine_cpu_count();
    if (hmp_args_get_bool(args, "cpustate_all", FALSE)) {
        for (guint i = 0; i < n; i++) {
            dump_one(mon, i);
        }
        return;
    }
    int64_t vcpu = hmp_args_get_int(args, "vcpu", -1);
    if (vcpu >= 0 && (guint64)vcpu >= n) {
        monitor_printf(mon, "CPU#%" G_GINT64_FORMAT " not available\n", vcpu);
        return;
    }
    if (n == 0) {
        monitor_printf(mon, "No CPU available\n");
        return;
    }
    dump_one(mon, vcpu >= 0 ? (guint)vcpu : 0);
}

void hmp_info_jit(Monitor *mon, const HmpArgs *args)
{
    g_autoptr(GString) out = g_string_new(NULL);
    if (!machine_jit_info(out)) {
        g_string_append(out, "JIT information is only available with a CPU (-M pc)\n");
    }
    monitor_printf(mon, "%s", out->str);
}

void hmp_info_memory_size_summary(Monitor *mon, const HmpArgs *args)
{
    g_autoptr(MemoryInfo) info = qmp_query_memory_size_summary(NULL);
    monitor_printf(mon, "base memory: %" G_GUINT64_FORMAT "\n", info->base_memory);
    if (info->has_plugged_memory) {
        monitor_printf(mon, "plugged memory: %" G_GUINT64_FORMAT "\n", info->plugged_memory);
    }
}

static void print_pci_device(Monitor *mon, const PciDeviceInfo *dev)
{
    monitor_printf(mon,
                   "  Bus %2" G_GINT64_FORMAT ", device %3" G_GINT64_FORMAT
                   ", function %" G_GINT64_FORMAT ":\n",
                   dev->bus, dev->slot, dev->function);
    if (dev->class_info->desc) {
        monitor_printf(mon, "    %s", dev->class_info->desc);
    } else {
        monitor_printf(mon, "    Class %04" G_GINT64_FORMAT, dev->class_info->class);
    }
    monitor_printf(mon, ": PCI device %04" G_GINT64_MODIFIER "x:%04" G_GINT64_MODIFIER "x\n",
                   dev->id->vendor, dev->id->device);
    if (dev->id->has_subsystem_vendor && dev->id->has_subsystem) {
        monitor_printf(mon,
                       "      PCI subsystem %04" G_GINT64_MODIFIER "x:%04" G_GINT64_MODIFIER "x\n",
                       dev->id->subsystem_vendor, dev->id->subsystem);
    }
    if (dev->has_irq) {
        monitor_printf(mon, "      IRQ %" G_GINT64_FORMAT ", pin %c\n", dev->irq,
                       (char)('A' + dev->irq_pin - 1));
    }
    for (guint i = 0; i < dev->regions->len; i++) {
        const PciMemoryRegion *r = g_ptr_array_index(dev->regions, i);
        /* upstream prints unmapped (-1) BARs with the unsigned arithmetic: the end wraps */
        uint64_t addr = r->address, end = addr + r->size - 1;
        monitor_printf(mon, "      BAR%" G_GINT64_FORMAT ": ", r->bar);
        if (!strcmp(r->type, "io")) {
            monitor_printf(mon,
                           "I/O at 0x%04" G_GINT64_MODIFIER "x [0x%04" G_GINT64_MODIFIER "x].\n",
                           addr, end);
        } else {
            monitor_printf(mon,
                           "%d bit%s memory at 0x%08" G_GINT64_MODIFIER "x [0x%08" G_GINT64_MODIFIER
                           "x].\n",
                           r->mem_type_64 ? 64 : 32, r->prefetch ? " prefetchable" : "", addr, end);
        }
    }
    monitor_printf(mon, "      id \"%s\"\n", dev->qdev_id);
}

void hmp_info_pci(Monitor *mon, const HmpArgs *args)
{
    GPtrArray *buses = qmp_query_pci(NULL);
    for (guint i = 0; i < buses->len; i++) {
        const PciInfo *bus = g_ptr_array_index(buses, i);
        for (guint j = 0; j < bus->devices->len; j++) {
            print_pci_device(mon, g_ptr_array_index(bus->devices, j));
        }
    }
    g_ptr_array_unref(buses);
}
