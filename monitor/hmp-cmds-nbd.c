/*
 * HMP's nbd_server_start, nbd_server_add, nbd_server_remove and nbd_server_stop, as QEMU 7.2
 * spells them: thin wrappers over the QMP commands' server calls.
 */
#include "block/nbd-server.h"
#include "monitor/hmp.h"
#include "util/error.h"

void hmp_nbd_server_start(Monitor *mon, const HmpArgs *args);
void hmp_nbd_server_add(Monitor *mon, const HmpArgs *args);
void hmp_nbd_server_remove(Monitor *mon, const HmpArgs *args);
void hmp_nbd_server_stop(Monitor *mon, const HmpArgs *args);

void hmp_nbd_server_start(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    bool writable = hmp_args_get_bool(args, "writable", FALSE);
    g_autoptr(SocketAddr) addr = socket_addr_parse(hmp_args_get_str(args, "uri"), &err);

    if (!addr || !nbd_server_start(addr, NULL, NULL, 0, &err)) {
        hmp_handle_error(mon, err);
        return;
    }
    if (!hmp_args_get_bool(args, "all", FALSE)) {
        return;
    }
    /* -a: every device that has a medium, under its own name (upstream stops at an error). */
    g_autoptr(GPtrArray) devices = nbd_server_list_devices();
    for (guint i = 0; i < devices->len; i++) {
        if (!nbd_server_add(g_ptr_array_index(devices, i), NULL, NULL, writable, &err)) {
            nbd_server_stop(NULL);
            hmp_handle_error(mon, err);
            return;
        }
    }
}

void hmp_nbd_server_add(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    nbd_server_add(hmp_args_get_str(args, "device"), hmp_args_get_str(args, "name"), NULL,
                   hmp_args_get_bool(args, "writable", FALSE), &err);
    hmp_handle_error(mon, err);
}

void hmp_nbd_server_remove(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    nbd_server_remove(hmp_args_get_str(args, "name"), hmp_args_get_bool(args, "force", FALSE),
                      &err);
    hmp_handle_error(mon, err);
}

void hmp_nbd_server_stop(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    nbd_server_stop(&err);
    hmp_handle_error(mon, err);
}
