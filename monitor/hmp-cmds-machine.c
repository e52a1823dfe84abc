/* HMP commands on the machine; each calls the QMP command's C function. */
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "qapi-commands.h"
#include "system/machine-control.h"

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
