/*
 * Device models users can create with -device TYPE,id=ID,prop=value (QemuOpts grammar), with
 * upstream's checks and messages in upstream's order:
 *
 *   driver missing        Parameter 'driver' is missing
 *   unknown type          'foo' is not a valid device model name
 *   bad id                Parameter 'id' expects an identifier (+ hint)
 *   duplicate id          Duplicate ID 'net0' for device
 *   unknown property      Property 'virtio-net-pci.bogus' not found
 *   bad value             Property 'virtio-net-device.mac' doesn't take value 'zz'
 *                         Parameter 'iobase' expects integer / expects uint32_t
 *   bad -global           can't apply global isa-debug-exit.iobase=zz: Parameter 'iobase'
 *                         expects uint64 (the global's value goes through another parser)
 *
 * A property names the type that owns it in messages (virtio-net-pci's mac and netdev belong
 * to its inner virtio-net-device upstream). Values are checked here by kind before the type's
 * create function sees them; references (netdev, chardev) are resolved by the creator, which
 * reports "can't find value".
 */
#ifndef HW_CORE_QDEV_H
#define HW_CORE_QDEV_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/keyval.h"

typedef enum {
    DEV_PROP_STR,
    DEV_PROP_BOOL,
    DEV_PROP_UINT32,
    DEV_PROP_MACADDR,
    DEV_PROP_PCI_DEVFN, /* "06.0" or "06" or a number */
    DEV_PROP_LINK,      /* the id of another object (netdev, chardev): resolved by create */
    DEV_PROP_INT_U32,   /* a QOM uint32 ("Parameter 'x' expects integer" / "uint32_t") */
    DEV_PROP_INT32,     /* a QOM int32 (bootindex): "expects integer" / "int32_t" */
} DevicePropKind;

typedef struct DevicePropInfo {
    const char *name;
    DevicePropKind kind;
    const char *owner;       /* type named in errors; NULL: the device type itself */
    const char *help;        /* the text after the type in -device T,help */
    const char *default_str; /* shown as (default: ...) or NULL */
} DevicePropInfo;

typedef struct DeviceTypeInfo {
    const char *name;
    const char *bus; /* "PCI", "ISA", or NULL */
    const char *desc;
    const char *category;        /* -device help section: "Network devices", ... */
    const DevicePropInfo *props; /* terminated by a NULL name */
    /* props: property name -> value string (already validated by kind). */
    bool (*create)(void *machine, const char *id, GHashTable *props, GError **errp);
} DeviceTypeInfo;

void device_type_register(const DeviceTypeInfo *info);
const DeviceTypeInfo *device_type_find(const char *name);
void device_types_clear(void);

/* -device help / -device TYPE,help text; caller frees. NULL + error for an unknown type. */
char *device_help_text(const char *type, GError **errp);

/* -device: validates and creates; help requests print and return TRUE with *help_printed. */
bool device_create_from_opts(void *machine, KeyvalList *opts, bool *help_printed, GError **errp);
/* The ids of devices created so far (for duplicates); cleared with device_types_clear(). */
bool device_id_in_use(const char *id);

/*
 * -global DRIVER.PROP=VALUE and -global driver=D,property=P,value=V: defaults for devices of
 * type DRIVER created later (before their -device properties, which win). A global that does
 * not fit the device fails that -device: "can't apply global D.P=V: <why>".
 */
bool qdev_global_add(const char *arg, GError **errp);
/* After the machine is built: upstream's warning for globals naming no device type. */
void qdev_globals_check(void);
void qdev_globals_clear(void);
/* The globals for t, checked, into props (in command-line order: a later one wins); for
 * devices made without -device (-nic), which upstream creates as devices too. */
bool device_apply_globals(const DeviceTypeInfo *t, GHashTable *props, GError **errp);

/* A DEV_PROP_INT_U32 value, already checked. */
uint32_t qdev_parse_u32(const char *str);
/* A DEV_PROP_BOOL property of props (already checked), or def when it is not given. */
bool qdev_prop_bool(GHashTable *props, const char *name, bool def);
/* Parses "52:54:00:12:34:56". */
bool qdev_parse_mac(const char *str, uint8_t mac[6]);
/* Parses a PCI address "SS[.F]" (hex) into a devfn. */
bool qdev_parse_devfn(const char *str, int *devfn);

#endif
