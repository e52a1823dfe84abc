/*
 * QMP commands on the machine: system_reset, system_powerdown, query-cpus-fast,
 * query-memory-size-summary, query-pci.
 */
#include "qapi-commands.h"
#include "system/machine-control.h"

void qmp_system_reset(GError **errp)
{
    qemu_system_reset_request(SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET);
}

void qmp_system_powerdown(GError **errp)
{
    qemu_system_powerdown_request();
}

GPtrArray *qmp_query_cpus_fast(GError **errp)
{
    GPtrArray *list = qapi_list_new_CpuInfoFast();
    for (guint i = 0; i < machine_cpu_count(); i++) {
        CpuInfoFast *info = g_new0(CpuInfoFast, 1);
        info->cpu_index = i;
        /* Upstream's pc creates its CPUs as the first unattached devices. */
        info->qom_path = g_strdup_printf("/machine/unattached/device[%u]", i);
        info->thread_id = machine_cpu_thread_id(i);
        info->props = g_new0(CpuInstanceProperties, 1);
        info->props->has_socket_id = true;
        info->props->socket_id = i;
        info->props->has_core_id = true;
        info->props->core_id = 0;
        info->props->has_thread_id = true;
        info->props->thread_id = 0;
        info->target = SYS_EMU_TARGET_X86_64;
        g_ptr_array_add(list, info);
    }
    return list;
}

MemoryInfo *qmp_query_memory_size_summary(GError **errp)
{
    MemoryInfo *info = g_new0(MemoryInfo, 1);
    info->base_memory = machine_ram_size();
    /* upstream's x86_64 build has memory devices, so it always reports the (empty) sum */
    info->has_plugged_memory = true;
    info->plugged_memory = 0;
    return info;
}

GPtrArray *qmp_query_pci(GError **errp)
{
    return machine_query_pci();
}
