/* The command line, the order in which it builds things, and the main loop. */
#include "config-host.h"
#include "system/vl.h"
#include "accel/kvm-probe.h"
#include "block/block.h"
#include "block/blockdev.h"
#include "chardev/char.h"
#include "chardev/mux.h"
#include "hw/core/biglock.h"
#include "hw/core/qdev.h"
#include "hw/i386/pc-system.h"
#include "hw/pci/pci-info.h"
#include "block/nbd-driver.h"
#include "block/nbd-export-block.h"
#include "migration/colo.h"
#include "migration/migration.h"
#include "migration/vmstate.h"
#include "monitor/colo.h"
#include "monitor/job.h"
#include "monitor/media.h"
#include "monitor/nbd.h"
#include "monitor/quorum.h"
#include "monitor/monitor.h"
#include "system/machine-control.h"
#include "system/runstate.h"
#include "net/colo-compare.h"
#include "qom/iothread.h"
#include "net/filter.h"
#include "net/net.h"
#include "qom/object.h"
#include "util/error.h"
#include "util/keyval.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

typedef enum {
    OPT_HELP,
    OPT_VERSION,
    OPT_MACHINE,
    OPT_OBJECT,
    OPT_NODEFAULTS,
    OPT_DISPLAY,
    OPT_NOGRAPHIC,
    OPT_NAME,
    OPT_PIDFILE,
    OPT_S,
    OPT_LOGFILE,
    OPT_LOGITEMS,
    OPT_TRACE,
    OPT_DAEMONIZE,
    OPT_NETDEV,
    OPT_NET,
    OPT_NIC,
    OPT_CHARDEV,
    OPT_QMP,
    OPT_QMP_PRETTY,
    OPT_MONITOR,
    OPT_MON,
    OPT_MEMORY,
    OPT_SMP,
    OPT_ACCEL,
    OPT_ENABLE_KVM,
    OPT_KERNEL,
    OPT_BIOS,
    OPT_BOOT,
    OPT_VGA,
    OPT_VNC,
    OPT_INITRD,
    OPT_APPEND,
    OPT_DEVICE,
    OPT_GLOBAL,
    OPT_SERIAL,
    OPT_NO_REBOOT,
    OPT_NO_HPET,
    OPT_NO_SHUTDOWN,
    OPT_ECHR,
    OPT_INCOMING,
    OPT_DRIVE,
    OPT_CDROM,
    OPT_FDA,
    OPT_FDB,
    OPT_SD,
    OPT_BLOCKDEV,
} OptionId;

typedef struct {
    const char *name;
    gboolean has_arg;
    OptionId id;
    const char *arg_help;
    const char *help;
} OptionDef;

static const OptionDef options[] = {
    {"h", FALSE, OPT_HELP, NULL, "display this help and exit"},
    {"help", FALSE, OPT_HELP, NULL, "display this help and exit"},
    {"version", FALSE, OPT_VERSION, NULL, "display version information and exit"},
    {"machine", TRUE, OPT_MACHINE, "[type=]name[,prop=value...]",
     "selects emulated machine ('-machine help' for list)"},
    {"M", TRUE, OPT_MACHINE, "name", "same as -machine"},
    {"accel", TRUE, OPT_ACCEL, "[accel=]accelerator[,prop[=value][,...]]",
     "select accelerator (kvm, tcg); kvm only where the host's KVM runs a test guest"},
    {"enable-kvm", FALSE, OPT_ENABLE_KVM, NULL, "enable KVM full virtualization support"},
    {"smp", TRUE, OPT_SMP, "[[cpus=]n][,maxcpus=n][,sockets=n][,dies=n][,cores=n][,threads=n]",
     "set the number of CPUs (1 for now)"},
    {"m", TRUE, OPT_MEMORY, "[size=]megs", "configure guest RAM (suffixes k, M, G, T)"},
    {"kernel", TRUE, OPT_KERNEL, "bzImage", "use 'bzImage' as kernel image"},
    {"bios", TRUE, OPT_BIOS, "file", "set the filename for the BIOS"},
    {"boot", TRUE, OPT_BOOT,
     "[order=drives][,once=drives][,menu=on|off][,splash=sp_name][,splash-time=sp_time]"
     "[,reboot-timeout=rb_timeout][,strict=on|off]",
     "'drives': floppy (a), hard disk (c), CD-ROM (d), network (n)"},
    {"append", TRUE, OPT_APPEND, "cmdline", "use 'cmdline' as kernel command line"},
    {"initrd", TRUE, OPT_INITRD, "file", "use 'file' as initial ram disk"},
    {"device", TRUE, OPT_DEVICE, "driver[,prop[=value][,...]]",
     "add device (based on driver); '-device help' lists them"},
    {"global", TRUE, OPT_GLOBAL, "driver.property=value",
     "set a global default for a item property ('driver=,property=,value=' form too)"},
    {"drive", TRUE, OPT_DRIVE,
     "[file=file][,if=type][,index=i][,media=d][,snapshot=on|off][,cache=writethrough|writeback|"
     "none|directsync|unsafe][,format=f][,readonly=on|off][,id=name]",
     "use 'file' as a drive image"},
    {"cdrom", TRUE, OPT_CDROM, "file", "use 'file' as IDE cdrom image (cdrom is ide1 master)"},
    {"fda", TRUE, OPT_FDA, "file",
     "use 'file' as floppy disk 0 image (refused: no floppy controller)"},
    {"fdb", TRUE, OPT_FDB, "file",
     "use 'file' as floppy disk 1 image (refused: no floppy controller)"},
    {"sd", TRUE, OPT_SD, "file", "use 'file' as SecureDigital card image"},
    {"blockdev", TRUE, OPT_BLOCKDEV, "[driver=]driver[,node-name=N][,read-only=on|off]...",
     "configure a block backend"},
    {"serial", TRUE, OPT_SERIAL, "dev", "redirect the serial port to char device 'dev'"},
    {"no-hpet", FALSE, OPT_NO_HPET, NULL, "disable HPET"},
    {"no-reboot", FALSE, OPT_NO_REBOOT, NULL, "exit instead of rebooting"},
    {"no-shutdown", FALSE, OPT_NO_SHUTDOWN, NULL, "stop before shutdown"},
    {"object", TRUE, OPT_OBJECT, "TYPENAME[,PROP1=VALUE1,...]",
     "create a new object of type TYPENAME setting properties; '-object help' lists types"},
    {"nodefaults", FALSE, OPT_NODEFAULTS, NULL, "don't create default devices"},
    {"display", TRUE, OPT_DISPLAY, "none", "select display backend type (only 'none')"},
    {"vga", TRUE, OPT_VGA, "none", "select video card type (only 'none': no display yet)"},
    {"vnc", TRUE, OPT_VNC, "display", "VNC server (not available: no display yet)"},
    {"nographic", FALSE, OPT_NOGRAPHIC, NULL,
     "no display; serial console and monitor on stdio (escape Ctrl-a; Ctrl-a h for help)"},
    {"echr", TRUE, OPT_ECHR, "chr", "set terminal escape character instead of ctrl-a"},
    {"name", TRUE, OPT_NAME, "string1[,debug-threads=on|off]", "set the name of the guest"},
    {"pidfile", TRUE, OPT_PIDFILE, "file", "write PID to 'file'"},
    {"S", FALSE, OPT_S, NULL, "freeze CPU at startup (use 'c' to start execution)"},
    {"D", TRUE, OPT_LOGFILE, "logfile", "output log to logfile (default stderr)"},
    {"d", TRUE, OPT_LOGITEMS, "item1,...", "enable logging of specified items (use '-d help')"},
    {"trace", TRUE, OPT_TRACE, "[[enable=]<pattern>][,events=<file>][,file=<file>]",
     "specify tracing options ('-trace help' lists trace points)"},
    {"daemonize", FALSE, OPT_DAEMONIZE, NULL, "daemonize QEMU after initializing"},
    {"chardev", TRUE, OPT_CHARDEV, "backend,id=id[,prop=value][,...]",
     "create a character device ('-chardev help' lists backends)"},
    {"qmp", TRUE, OPT_QMP, "dev", "like -monitor but opens in 'control' mode"},
    {"qmp-pretty", TRUE, OPT_QMP_PRETTY, "dev", "like -qmp but uses pretty JSON formatting"},
    {"monitor", TRUE, OPT_MONITOR, "dev", "redirect the monitor to char device 'dev'"},
    {"mon", TRUE, OPT_MON, "[chardev=]name[,mode=readline|control][,pretty[=on|off]]",
     "create a monitor on chardev 'name'"},
    {"netdev", TRUE, OPT_NETDEV, "type,id=str[,prop=value][,...]",
     "configure a network backend ('-netdev help' lists types)"},
    {"net", TRUE, OPT_NET, "nic[,prop=value][,...]|none|type[,prop=value][,...]",
     "legacy: a NIC or a network backend on hub 0, or none"},
    {"incoming", TRUE, OPT_INCOMING, "uri",
     "wait for an incoming migration on tcp:HOST:PORT, unix:PATH, exec:CMD or defer"},
    {"nic", TRUE, OPT_NIC, "[type],[id=str][,prop=value][,...]",
     "initialize an on-board / default host NIC and its network backend"},
};

typedef struct {
    const OptionDef *def;
    char *arg;
    char *spelling;    /* "-object colo-compare,id=c0" for error locations */
    BlockBackend *blk; /* -drive: what it made */
} CmdOption;

static gboolean start_paused;
static const char *incoming; /* -incoming, the last one wins as upstream */
static const char *incoming_spelling;
static GMainLoop *main_loop;
static volatile gint quit_requested;

void qemu_main_loop_quit(void)
{
    g_atomic_int_set(&quit_requested, 1);
    if (main_loop) {
        g_main_loop_quit(main_loop); /* thread-safe */
    }
}

static void print_version(void)
{
    printf("QEMU emulator version %s %s\n"
           "Copyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n",
           QEMU_VERSION, QEMU_PKGVERSION);
}

static void print_help(void)
{
    print_version();
    printf("usage: %s [options]\n\nOptions:\n", error_get_progname());
    for (guint i = 0; i < G_N_ELEMENTS(options); i++) {
        const OptionDef *o = &options[i];
        g_autofree char *left = o->has_arg ? g_strdup_printf("-%s %s", o->name, o->arg_help)
                                           : g_strdup_printf("-%s", o->name);
        printf("%-32s %s\n", left, o->help);
    }
}

static const OptionDef *find_option(const char *name)
{
    for (guint i = 0; i < G_N_ELEMENTS(options); i++) {
        if (strcmp(options[i].name, name) == 0) {
            return &options[i];
        }
    }
    return NULL;
}

static void cmd_option_free(gpointer p)
{
    CmdOption *o = p;
    g_free(o->arg);
    g_free(o->spelling);
    g_free(o);
}

/* Splits argv into options; exits with QEMU's message on an unknown or incomplete option. */
static GPtrArray *parse_argv(int argc, char **argv)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(cmd_option_free);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0') {
            error_report("%s: Could not open '%s': disk images are not supported", a, a);
            exit(1);
        }
        const char *name = a + 1;
        if (name[0] == '-') {
            name++;
        }
        const OptionDef *def = find_option(name);
        if (!def) {
            error_report("%s: invalid option", a);
            exit(1);
        }
        CmdOption *o = g_new0(CmdOption, 1);
        o->def = def;
        if (def->has_arg) {
            if (i + 1 >= argc) {
                error_report("%s: requires an argument", a);
                exit(1);
            }
            o->arg = g_strdup(argv[++i]);
            o->spelling = g_strdup_printf("%s %s", a, o->arg);
        } else {
            o->spelling = g_strdup(a);
        }
        g_ptr_array_add(out, o);
    }
    return out;
}

static void die_with(GError *err)
{
    error_report_err(err);
    exit(1);
}

/* What the command line says about the machine, gathered in pass 1. */
typedef struct {
    KeyvalList *machine; /* the last -machine, or NULL: none */
    const char *machine_spelling;
    PcMachineOptions pc;
    gboolean is_pc;
    gboolean nographic, nodefaults, no_reboot, no_shutdown;
    const char *accel; /* "tcg", "kvm" or NULL */
} MachineConfig;

/* Without -M, upstream's qemu-system-x86_64 runs its default machine, pc. */
static MachineConfig mc = {
    .pc = {.ram_size = PC_DEFAULT_RAM_SIZE, .acpi = true, .splash_time = -1, .reboot_timeout = -1},
    .is_pc = TRUE};

static void print_machine_help(void)
{
    printf("Supported machines are:\n%s%-20s empty machine\n", PC_MACHINE_HELP, "none");
}

/* -machine: the type is checked at once (and help printed); properties once all is parsed. */
static void handle_machine(const char *arg)
{
    GError *err = NULL;
    KeyvalList *kv = keyval_parse(arg, "type", KEYVAL_OPTS, &err);
    if (!kv) {
        die_with(err);
    }
    const char *type = keyval_get(kv, "type");
    if (kv->help || (type && strcmp(type, "help") == 0)) {
        print_machine_help();
        exit(0);
    }
    if (!type) {
        /* "-machine accel=tcg" and the like: the default machine. */
        keyval_set(kv, "type", "pc");
        type = keyval_get(kv, "type");
    }
    if (strcmp(type, "none") != 0 && !pc_machine_type_is_pc(type)) {
        error_location_clear();
        error_report("unsupported machine type\x1eUse -machine help to list supported machines");
        exit(1);
    }
    if (mc.machine) {
        keyval_list_free(mc.machine);
    }
    mc.machine = kv;
    mc.is_pc = pc_machine_type_is_pc(type);
    drive_set_machine_default_if(mc.is_pc ? BLK_IF_IDE : BLK_IF_NONE);
}

/* -machine properties, reported without a location as upstream does (it applies them late). */
static void apply_machine_props(void)
{
    GError *err = NULL;
    if (!mc.machine) {
        return;
    }
    if (mc.is_pc) {
        if (!pc_machine_parse_props(mc.machine, &mc.pc, &err)) {
            die_with(err);
        }
    } else {
        for (guint i = 0; i < mc.machine->pairs->len; i++) {
            KeyvalPair *p = g_ptr_array_index(mc.machine->pairs, i);
            if (strcmp(p->key, "type") != 0 && strcmp(p->key, "accel") != 0) {
                error_setg(&err, "Property 'none-machine.%s' not found", p->key);
                die_with(err);
            }
        }
    }
    const char *accel = keyval_get(mc.machine, "accel");
    if (accel) {
        if (mc.accel) {
            error_report("The -accel and \"-machine accel=\" options are incompatible");
            exit(1);
        }
        mc.accel = accel;
    }
}

static void handle_accel(const char *arg)
{
    GError *err = NULL;
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "accel", KEYVAL_OPTS, &err);
    if (!kv) {
        die_with(err);
    }
    const char *name = keyval_get(kv, "accel");
    if (kv->help || g_strcmp0(name, "help") == 0) {
        printf("Accelerators supported in QEMU binary:\ntcg\nkvm\n");
        exit(0);
    }
    if (!name) {
        error_setg(&err, "Parameter 'accel' is missing");
        die_with(err);
    }
    if (strcmp(name, "tcg") != 0 && strcmp(name, "kvm") != 0) {
        error_report("invalid accelerator %s", name);
        exit(1);
    }
    gboolean jit = !mc.pc.no_jit;
    for (guint i = 0; i < kv->pairs->len; i++) {
        KeyvalPair *p = g_ptr_array_index(kv->pairs, i);
        if (strcmp(p->key, "accel") == 0) {
            continue;
        }
        /* jit=on|off (on by default): ours, tcg only (kvm names it not found, as upstream names
         * unknown ones) */
        if (strcmp(p->key, "jit") == 0 && strcmp(name, "tcg") == 0) {
            if (!keyval_parse_bool("jit", p->value, &jit, &err)) {
                die_with(err);
            }
            continue;
        }
        error_setg(&err, "Property '%s-accel.%s' not found", name, p->key);
        die_with(err);
    }
    mc.pc.no_jit = !jit;
    mc.accel = strcmp(name, "kvm") == 0 ? "kvm" : "tcg";
}

/* -smp: the topology must come to one CPU for now. */
static void handle_smp(const char *arg)
{
    GError *err = NULL;
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "cpus", KEYVAL_OPTS, &err);
    if (!kv) {
        die_with(err);
    }
    static const char *const keys[] = {"cpus",     "maxcpus", "sockets", "dies",
                                       "clusters", "cores",   "threads"};
    guint64 product = 1, cpus = 0;
    bool zero = false;
    for (guint i = 0; i < kv->pairs->len; i++) {
        KeyvalPair *p = g_ptr_array_index(kv->pairs, i);
        gboolean known = FALSE;
        for (guint k = 0; k < G_N_ELEMENTS(keys); k++) {
            known |= strcmp(p->key, keys[k]) == 0;
        }
        if (!known) {
            error_location_clear();
            error_setg(&err, "Parameter 'smp.%s' is unexpected", p->key);
            die_with(err);
        }
        char *end = NULL;
        guint64 v = g_ascii_strtoull(p->value, &end, 10);
        if (!*p->value || *end || p->value[0] == '-') {
            error_location_clear();
            error_setg(&err, "Parameter 'smp.%s' expects integer", p->key);
            die_with(err);
        }
        if (strcmp(p->key, "cpus") == 0) {
            cpus = v;
        } else if (strcmp(p->key, "maxcpus") != 0) {
            product *= v;
        }
        if (v > 1) {
            cpus = MAX(cpus, v);
        }
        zero |= v == 0;
    }
    if (zero) {
        error_location_clear(); /* upstream checks the topology late, without a location */
        warn_report("Deprecated CPU topology (considered invalid): CPU topology parameters must "
                    "be greater than zero");
    }
    cpus = MAX(cpus, product);
    if (cpus > 1) {
        error_location_clear();
        error_report("Invalid SMP CPUs %" G_GUINT64_FORMAT ". The max CPUs supported by "
                     "machine 'pc-i440fx-7.2' is 1 in qemu-colo",
                     cpus);
        exit(1);
    }
}

static void handle_display(const char *arg)
{
    GError *err = NULL;
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "type", KEYVAL_OPTS, &err);
    if (!kv) {
        die_with(err);
    }
    const char *type = keyval_get(kv, "type");
    if (kv->help || (type && strcmp(type, "help") == 0)) {
        printf("Available display backend types:\nnone\n");
        exit(0);
    }
    static const char *const later[] = {"gtk",  "sdl",       "curses", "egl-headless",
                                        "dbus", "spice-app", "cocoa"};
    for (guint i = 0; type && i < G_N_ELEMENTS(later); i++) {
        if (!strcmp(type, later[i])) {
            error_setg(&err, "Display '%s' is not available (qemu-colo has no display yet)", type);
            die_with(err);
        }
    }
    if (!type || strcmp(type, "none") != 0) {
        error_setg(&err, "Parameter 'type' does not accept value '%s'", type ? type : "");
        die_with(err);
    }
}

/* -vga: upstream's card names; none works, the others say there is no display behind them. */
static void handle_vga(const char *arg)
{
    static const struct {
        const char *name, *desc;
    } cards[] = {
        {"none", "no graphic card"}, {"std", "standard VGA"}, {"cirrus", "Cirrus VGA"},
        {"vmware", "VMWare SVGA"},   {"qxl", "QXL VGA"},      {"virtio", "Virtio VGA"},
    };
    GError *err = NULL;
    if (!strcmp(arg, "help")) {
        printf("%-20s %s\n", cards[0].name, cards[0].desc);
        exit(0);
    }
    for (guint i = 0; i < G_N_ELEMENTS(cards); i++) {
        if (!strcmp(arg, cards[i].name)) {
            if (i == 0) {
                return;
            }
            error_setg(&err, "%s not available (qemu-colo has no display yet)", cards[i].desc);
            die_with(err);
        }
    }
    error_location_clear();
    error_setg(&err, "unknown vga type: %s", arg);
    die_with(err);
}

/* -boot's drive letters as upstream's generic check has them: a-p, each once. */
static bool check_boot_letters(const char *devs, GError **errp)
{
    guint seen = 0;
    for (const char *p = devs; *p; p++) {
        if (*p < 'a' || *p > 'p') {
            error_setg(errp, "Invalid boot device '%c'", *p);
            return false;
        }
        if (seen & (1u << (*p - 'a'))) {
            error_setg(errp, "Boot device '%c' was given twice", *p);
            return false;
        }
        seen |= 1u << (*p - 'a');
    }
    return true;
}

static bool boot_int(const char *key, const char *value, gint64 *out, GError **errp)
{
    char *end;
    *out = g_ascii_strtoll(value, &end, 0);
    if (end == value || *end) {
        error_setg(errp, "Parameter 'boot.%s' expects integer", key);
        return false;
    }
    return true;
}

/* -boot [order=]drives,once=,menu=,splash=,splash-time=,reboot-timeout=,strict= (the last
 * occurrence of a key wins, as upstream merges them). The pc's own checks come later. */
static void handle_boot(const char *arg)
{
    GError *err = NULL;
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "order", KEYVAL_OPTS, &err);
    error_location_clear();
    for (guint i = 0; kv && i < kv->pairs->len; i++) {
        KeyvalPair *p = g_ptr_array_index(kv->pairs, i);
        gboolean b;
        gint64 n;
        if (!strcmp(p->key, "order") || !strcmp(p->key, "once")) {
            if (!check_boot_letters(p->value, &err)) {
                break;
            }
            *(!strcmp(p->key, "order") ? &mc.pc.boot_order : &mc.pc.boot_once) = g_strdup(p->value);
        } else if (!strcmp(p->key, "menu") || !strcmp(p->key, "strict")) {
            g_autofree char *name = g_strdup_printf("boot.%s", p->key);
            if (!keyval_parse_bool(name, p->value, &b, &err)) {
                break;
            }
            *(!strcmp(p->key, "menu") ? &mc.pc.boot_menu : &mc.pc.boot_strict) = b;
        } else if (!strcmp(p->key, "splash-time")) {
            if (!boot_int(p->key, p->value, &n, &err)) {
                break;
            }
            if (n < 0 || n > 0xffff) {
                error_setg(&err, "splash-time is invalid,it should be a value between 0 and 65535");
                break;
            }
            mc.pc.splash_time = n;
        } else if (!strcmp(p->key, "reboot-timeout")) {
            if (!boot_int(p->key, p->value, &n, &err)) {
                break;
            }
            if (n < -1 || n > 0xffff) {
                error_setg(&err,
                           "reboot timeout is invalid,it should be a value between -1 and 65535");
                break;
            }
            mc.pc.reboot_timeout = n;
        } else if (!strcmp(p->key, "splash")) {
            /* no display to show it on: upstream's warning when it is missing, nothing else */
            if (!g_file_test(p->value, G_FILE_TEST_EXISTS)) {
                error_report("failed to find file '%s'", p->value);
            }
        } else {
            error_setg(&err, "Parameter 'boot.%s' is unexpected", p->key);
            break;
        }
    }
    if (err) {
        die_with(err);
    }
}

static void handle_name(const char *arg)
{
    GError *err = NULL;
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "guest", KEYVAL_OPTS, &err);
    if (!kv) {
        die_with(err);
    }
    for (guint i = 0; i < kv->pairs->len; i++) {
        KeyvalPair *p = g_ptr_array_index(kv->pairs, i);
        if (strcmp(p->key, "guest") && strcmp(p->key, "process") &&
            strcmp(p->key, "debug-threads")) {
            error_set_invalid_param(&err, p->key);
            die_with(err);
        }
    }
    qemu_set_vm_name(keyval_get(kv, "guest"));
}

static void handle_netdev_or_nic(const char *arg, gboolean nic)
{
    GError *err = NULL;
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "type", KEYVAL_OPTS | KEYVAL_REPEAT, &err);
    if (!kv) {
        die_with(err);
    }
    if (kv->help) {
        printf("Available netdev backend types:\nsocket\nhubport\ntap\nuser\n");
        exit(0);
    }
    if (!(nic ? net_nic_init_from_opts(kv, &err) : net_client_init_from_opts(kv, TRUE, &err))) {
        die_with(err);
    }
}

static void handle_netdev(const char *arg)
{
    handle_netdev_or_nic(arg, FALSE);
}

static void handle_nic(const char *arg)
{
    handle_netdev_or_nic(arg, TRUE);
}

static void handle_net(const char *arg)
{
    GError *err = NULL;
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "type", KEYVAL_OPTS | KEYVAL_REPEAT, &err);
    if (!kv || !net_legacy_init_from_opts(kv, &err)) {
        die_with(err);
    }
}

/* -cdrom, -fda, -fdb, -sd FILE: upstream's -drive with FILE (commas doubled) after its
 * options for that shortcut. */
static const char *shortcut_drive_arg(const char *opts, const char *file)
{
    GString *s = g_string_new(opts);
    g_string_append(s, ",file=");
    for (const char *p = file; *p; p++) {
        g_string_append_c(s, *p);
        if (*p == ',') {
            g_string_append_c(s, ',');
        }
    }
    return g_string_free(s, FALSE); /* lives as long as the program */
}

static bool is_drive_option(const CmdOption *o)
{
    OptionId id = o->def->id;
    return id == OPT_DRIVE || id == OPT_CDROM || id == OPT_FDA || id == OPT_FDB || id == OPT_SD;
}

/* The -drive options an option of is_drive_option() stands for. */
static const char *drive_option_arg(const CmdOption *o)
{
    switch (o->def->id) {
    case OPT_CDROM:
        return shortcut_drive_arg("index=2,media=cdrom", o->arg);
    case OPT_FDA:
        return shortcut_drive_arg("index=0,if=floppy", o->arg);
    case OPT_FDB:
        return shortcut_drive_arg("index=1,if=floppy", o->arg);
    case OPT_SD:
        return shortcut_drive_arg("if=sd", o->arg);
    default:
        return o->arg;
    }
}

/* A -drive's backend (its device comes with the machine's), or the machine's default one. */
static BlockBackend *new_drive(const char *arg)
{
    GError *err = NULL;
    bool help = false;
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "file", KEYVAL_OPTS, &err);
    if (!kv) {
        die_with(err);
    }
    /* Without a machine with buses, a drive is if=none unless it says otherwise. */
    BlockBackend *blk = drive_new(kv, mc.is_pc ? BLK_IF_IDE : BLK_IF_NONE, &help, &err);
    if (!blk) {
        if (help) {
            exit(0);
        }
        die_with(err);
    }
    return blk;
}

/* -drive and its shortcuts: the backend, if the machine has a bus for it. */
static BlockBackend *handle_drive(const char *arg)
{
    BlockBackend *blk = new_drive(arg);
    int bus, unit;
    BlockInterfaceType type = blk_legacy_type(blk, &bus, &unit, NULL);
    if (type == BLK_IF_SD || (type == BLK_IF_FLOPPY && (!mc.is_pc || bus > 0 || unit > 1))) {
        /* upstream's check for drives no device took (pc has no SD controller) */
        error_report("machine type does not support if=%s,bus=%d,unit=%d",
                     type == BLK_IF_SD ? "sd" : "floppy", bus, unit);
        exit(1);
    }
    if (type == BLK_IF_FLOPPY) {
        /* Upstream's pc has an ISA floppy controller for it; ours has none. */
        error_report("floppy drives are not supported (qemu-colo's pc has no floppy controller)");
        exit(1);
    }
    if (!mc.is_pc && type == BLK_IF_VIRTIO) {
        error_report("No 'PCI' bus found for device 'virtio-blk-pci'");
        exit(1);
    }
    if (!mc.is_pc && type == BLK_IF_IDE) {
        error_report("machine type does not support if=ide,bus=%d,unit=%d", bus, unit);
        exit(1);
    }
    return blk;
}

static void handle_blockdev(const char *arg)
{
    GError *err = NULL;
    BlockDriverState *bs;
    if (arg[0] == '{') {
        JsonObject *json = keyval_parse_json(arg, &err);
        if (!json) {
            die_with(err);
        }
        bs = blockdev_add_json(json, &err);
        json_object_unref(json);
    } else {
        g_autoptr(KeyvalList) kv = keyval_parse(arg, "driver", KEYVAL_STRICT, &err);
        if (!kv) {
            die_with(err);
        }
        bs = blockdev_add_keyval(kv, &err);
    }
    if (!bs) {
        die_with(err);
    }
}

static void handle_object(const char *arg)
{
    GError *err = NULL;
    gboolean help = FALSE;
    QomObject *obj;
    if (arg[0] == '{') {
        JsonObject *json = keyval_parse_json(arg, &err);
        if (!json) {
            die_with(err);
        }
        obj = qom_user_create_json(json, &err);
        json_object_unref(json);
    } else {
        g_autoptr(KeyvalList) kv = keyval_parse(arg, "qom-type", KEYVAL_STRICT, &err);
        if (!kv) {
            die_with(err);
        }
        obj = qom_user_create_keyval(kv, &help, &err);
        if (help) {
            exit(0);
        }
    }
    if (!obj) {
        die_with(err);
    }
}

static void handle_chardev(const char *arg)
{
    GError *err = NULL;
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "backend", KEYVAL_OPTS, &err);
    if (!kv) {
        die_with(err);
    }
    const char *backend = keyval_get(kv, "backend");
    if (kv->help || g_strcmp0(backend, "help") == 0) {
        printf("Available chardev backend types: \n");
        for (const char *const *name = chardev_backend_names(); *name; name++) {
            printf("  %s\n", *name);
        }
        exit(0);
    }
    if (!chardev_new_from_opts(kv, &err)) {
        die_with(err);
    }
}

/*
 * As in QEMU, objects that name netdevs or chardevs through properties are created after the
 * backends; everything else (iothreads first of all) before them.
 */
static gboolean object_create_late(const char *arg)
{
    static const char *const late[] = {"filter-buffer",     "filter-dump",  "filter-mirror",
                                       "filter-redirector", "colo-compare", "filter-rewriter",
                                       "filter-replay"};
    g_autofree char *type = NULL;
    if (arg[0] == '{') {
        JsonObject *json = keyval_parse_json(arg, NULL);
        if (json) {
            if (json_object_has_member(json, "qom-type") &&
                JSON_NODE_HOLDS_VALUE(json_object_get_member(json, "qom-type"))) {
                type = g_strdup(json_object_get_string_member(json, "qom-type"));
            }
            json_object_unref(json);
        }
    } else {
        type = g_strndup(arg, strcspn(arg, ","));
    }
    for (guint i = 0; type && i < G_N_ELEMENTS(late); i++) {
        if (strcmp(type, late[i]) == 0) {
            return TRUE;
        }
    }
    return FALSE;
}

static void for_each_option(GPtrArray *opts, OptionId id, int late, void (*fn)(const char *))
{
    for (guint i = 0; i < opts->len; i++) {
        CmdOption *o = opts->pdata[i];
        if (o->def->id != id) {
            continue;
        }
        if (late >= 0 && object_create_late(o->arg) != late) {
            continue;
        }
        error_location_set(o->spelling);
        fn(o->arg);
        error_location_clear();
    }
}

/*
 * Upstream's defaults for -nographic: the serial port and the HMP monitor share stdio through
 * a mux (mon:stdio), unless -nodefaults, or the command line already has a serial port
 * (-serial) or a monitor (-monitor, -qmp, -mon); then whichever default is left gets stdio
 * alone. The none machine has no serial port. Without -nographic upstream's defaults go to a
 * graphical console, which this program does not have: then there are none.
 */
static const char *default_serial;
static const char *default_monitor;

static void choose_console_defaults(GPtrArray *opts)
{
    gboolean want_serial = !mc.nodefaults && mc.is_pc;
    gboolean want_monitor = !mc.nodefaults;
    for (guint i = 0; i < opts->len; i++) {
        OptionId id = ((CmdOption *)opts->pdata[i])->def->id;
        if (id == OPT_SERIAL) {
            want_serial = FALSE;
        } else if (id == OPT_MONITOR || id == OPT_QMP || id == OPT_QMP_PRETTY || id == OPT_MON) {
            want_monitor = FALSE;
        }
    }
    if (!mc.nographic) {
        return;
    }
    if (want_serial && want_monitor) {
        default_serial = "mon:stdio";
    } else if (want_serial) {
        default_serial = "stdio";
    } else if (want_monitor) {
        default_monitor = "stdio";
    }
}

static void mux_quit(void)
{
    qemu_system_shutdown_request(SHUTDOWN_CAUSE_HOST_QMP_QUIT);
}

static void handle_echr(const char *arg)
{
    char *end;
    long c = strtol(arg, &end, 0);
    if (end == arg) {
        /* Upstream says so on stdout and goes on. */
        printf("Bad argument to echr\n");
        return;
    }
    mux_set_escape_char((int)c);
}

static void handle_monitor_option(CmdOption *o)
{
    GError *err = NULL;
    gboolean ok;
    switch (o->def->id) {
    case OPT_QMP:
        ok = monitor_init_legacy(o->arg, TRUE, FALSE, &err);
        break;
    case OPT_QMP_PRETTY:
        ok = monitor_init_legacy(o->arg, TRUE, TRUE, &err);
        break;
    case OPT_MONITOR:
        ok = g_strcmp0(o->arg, "none") == 0 || monitor_init_legacy(o->arg, FALSE, FALSE, &err);
        break;
    default: {
        g_autoptr(KeyvalList) kv = keyval_parse(o->arg, "chardev", KEYVAL_OPTS, &err);
        ok = kv && monitor_init_from_opts(kv, &err);
        break;
    }
    }
    if (!ok) {
        die_with(err);
    }
}

/* ---- the pc machine --------------------------------------------------------------------- */

static PcSystem *pc_sys;

static void pc_guest_reset(void *opaque)
{
    qemu_system_reset_request(SHUTDOWN_CAUSE_GUEST_RESET);
}

static void pc_guest_poweroff(void *opaque)
{
    qemu_system_guest_shutdown(SHUTDOWN_CAUSE_GUEST_SHUTDOWN);
}

static void remove_pidfile(void);

/* isa-debug-exit: at once, from the vCPU thread, as upstream's exit() does; exit handlers
 * restore the terminal. */
static void pc_guest_exit(void *opaque, int status)
{
    remove_pidfile();
    exit(status);
}

static void pc_runstate_changed(void *opaque, gboolean running, RunState state)
{
    if (running) {
        pc_system_start(pc_sys);
    } else {
        pc_system_stop(pc_sys);
    }
    qemu_net_set_vm_running(running);
}

static bool pc_ops_reset(void *opaque, GError **errp)
{
    return pc_system_reset(pc_sys, errp);
}

static void pc_ops_powerdown(void *opaque)
{
    pc_system_powerdown(pc_sys);
}

static guint pc_ops_cpu_count(void *opaque)
{
    return 1;
}

/* The device state in the migration stream: the machine's one VMStateSet, all or nothing. */
static bool pc_save_devices(void *opaque, GByteArray *out, GError **errp)
{
    return vmstate_set_save(pc_system_vmstate_set(pc_sys), out, errp);
}

static bool pc_check_devices(void *opaque, const guint8 *buf, gsize len, GError **errp)
{
    return vmstate_set_check(pc_system_vmstate_set(pc_sys), buf, len, errp);
}

static bool pc_load_devices(void *opaque, const guint8 *buf, gsize len, GError **errp)
{
    return vmstate_set_load(pc_system_vmstate_set(pc_sys), buf, len, errp);
}

static VMStateSet *pc_ops_vmstate_set(void *opaque)
{
    return pc_system_vmstate_set(pc_sys);
}

static uint64_t pc_ops_ram_size(void *opaque)
{
    return mc.pc.ram_size;
}

static int64_t pc_ops_cpu_thread_id(void *opaque, guint index)
{
    return pc_system_cpu_thread_id(pc_sys);
}

static void pc_ops_cpu_dump(void *opaque, guint index, GString *out)
{
    x86_cpu_dump_state(pc_system_cpu(pc_sys), out);
}

static void pc_ops_jit_info(void *opaque, GString *out)
{
    x86_cpu_jit_info(pc_system_cpu(pc_sys), out);
    pc_system_vcpu_info(pc_sys, out);
}

static GPtrArray *pc_ops_query_pci(void *opaque)
{
    return pci_bus_query(pc_machine_pci_bus(pc_system_machine(pc_sys)));
}

/* Messages that upstream prints without its program name (the loader's "qemu: ...") are
 * printed as they are. */
static void die_machine(GError *err)
{
    if (g_str_has_prefix(err->message, "qemu: ")) {
        fprintf(stderr, "%s\n", err->message);
        g_error_free(err);
        exit(1);
    }
    die_with(err);
}

/* Upstream's -device types that turn its default CD-ROM off (vl.c's default_list). */
static bool device_disables_default_cdrom(const char *arg)
{
    static const char *const drivers[] = {"ide-cd", "ide-hd", "scsi-cd", "scsi-hd"};
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "driver", KEYVAL_OPTS, NULL);
    const char *driver = kv ? keyval_get(kv, "driver") : NULL;
    for (size_t i = 0; driver && i < G_N_ELEMENTS(drivers); i++) {
        if (!strcmp(driver, drivers[i])) {
            return true;
        }
    }
    return false;
}

/*
 * Upstream pc's default CD-ROM: an empty ide1-cd0 at IDE bus 1 unit 0, unless -nodefaults, an
 * IDE or SCSI -device, or a -drive (-cdrom) there already. NULL: none.
 */
static BlockBackend *default_cdrom(GPtrArray *opts)
{
    if (mc.nodefaults) {
        return NULL;
    }
    for (guint i = 0; i < opts->len; i++) {
        CmdOption *o = opts->pdata[i];
        int bus, unit;
        if (o->def->id == OPT_DEVICE && device_disables_default_cdrom(o->arg)) {
            return NULL;
        }
        if (is_drive_option(o) && blk_legacy_type(o->blk, &bus, &unit, NULL) == BLK_IF_IDE &&
            bus == 1 && unit == 0) {
            return NULL;
        }
    }
    return new_drive("if=ide,index=2,media=cdrom");
}

/* The VM of -M pc, after chardevs and netdevs exist: devices in command-line order, the NICs
 * of -nic, COM1, then realize. */
static void build_pc(GPtrArray *opts)
{
    static const PcSystemEvents events = {
        .guest_reset = pc_guest_reset,
        .guest_poweroff = pc_guest_poweroff,
        .guest_exit = pc_guest_exit,
    };
    GError *err = NULL;
    mc.pc.graphics = !mc.nographic;
    pc_sys = pc_system_new(&mc.pc, &events, &err);
    if (!pc_sys) {
        die_machine(err);
    }
    /* Upstream's PIIX3 sits at 01.0 before any -device: the default CD-ROM brings it first. */
    BlockBackend *cdrom = default_cdrom(opts);
    if (cdrom && !pc_machine_add_drive(pc_system_machine(pc_sys), cdrom, &err)) {
        die_with(err);
    }
    /* Upstream's other default drives, after the CD-ROM: an empty floppy0 (its drive sits on a
     * controller we do not have) and sd0, which no device takes (pc has no SD controller). */
    if (!mc.nodefaults) {
        BlockBackend *floppy = new_drive("if=floppy,index=0");
        if (!pc_machine_add_drive(pc_system_machine(pc_sys), floppy, &err)) {
            die_with(err);
        }
        new_drive("if=sd,index=0");
    }
    const char *serial = NULL;
    for (guint i = 0; i < opts->len; i++) {
        CmdOption *o = opts->pdata[i];
        if (o->def->id == OPT_DEVICE) {
            error_location_set(o->spelling);
            KeyvalList *kv = keyval_parse(o->arg, "driver", KEYVAL_OPTS, &err);
            bool help = false;
            if (!kv || !pc_system_device_add(pc_sys, kv, &help, &err)) {
                keyval_list_free(kv);
                die_with(err);
            }
            keyval_list_free(kv);
            if (help) {
                exit(0);
            }
            error_location_clear();
        } else if (o->def->id == OPT_SERIAL) {
            if (serial) {
                error_location_set(o->spelling);
                error_report("only one serial port (COM1) is supported by qemu-colo's pc");
                exit(1);
            }
            serial = o->arg;
        }
    }
    if (!pc_machine_add_nic_requests(pc_system_machine(pc_sys), &err)) {
        die_with(err);
    }
    /* The devices of -drive if=virtio|ide, after the -device ones, as upstream adds them. */
    for (guint i = 0; i < opts->len; i++) {
        CmdOption *o = opts->pdata[i];
        if (is_drive_option(o)) {
            /* Upstream makes virtio's as -device options (located), IDE disks in the
             * machine's own set-up (not located); an IDE drive past the second channel is
             * left over, and its check of orphaned drives names the option. */
            int bus;
            BlockInterfaceType type = blk_legacy_type(o->blk, &bus, NULL, NULL);
            if (type == BLK_IF_VIRTIO || (type == BLK_IF_IDE && bus > 1)) {
                error_location_set(o->spelling);
            }
            if (!pc_machine_add_drive(pc_system_machine(pc_sys), o->blk, &err)) {
                die_with(err);
            }
            error_location_clear();
        }
    }
    if (!serial) {
        serial = default_serial;
    }
    if (serial) {
        for (guint i = 0; i < opts->len; i++) {
            CmdOption *o = opts->pdata[i];
            if (o->def->id == OPT_SERIAL) {
                error_location_set(o->spelling);
            }
        }
        if (!pc_system_serial(pc_sys, serial, &err)) {
            die_with(err);
        }
        error_location_clear();
    }
    if (!pc_system_realize(pc_sys, &err)) {
        die_machine(err);
    }
    static const MachineOps ops = {
        .reset = pc_ops_reset,
        .powerdown = pc_ops_powerdown,
        .cpu_count = pc_ops_cpu_count,
        .cpu_thread_id = pc_ops_cpu_thread_id,
        .cpu_dump = pc_ops_cpu_dump,
        .jit_info = pc_ops_jit_info,
        .ram_size = pc_ops_ram_size,
        .vmstate_set = pc_ops_vmstate_set,
        .query_pci = pc_ops_query_pci,
    };
    machine_control_set_ops(&ops);
    runstate_add_change_handler(pc_runstate_changed, NULL);
    qemu_net_set_vm_running(runstate_is_running());
    const MigrationHost host = {
        .ram = pc_system_ram(pc_sys),
        .machine_type = "pc-i440fx-7.2",
        .save_devices = pc_save_devices,
        .check_devices = pc_check_devices,
        .load_devices = pc_load_devices,
    };
    migration_set_host(&host);
}

/*
 * The none machine has no serial port, but upstream still creates the chardevs -serial names
 * (serial0, serial1...): "-M none -serial mon:stdio" is a monitor on a terminal mux.
 */
static void create_serial_chardevs(GPtrArray *opts)
{
    int index = 0;
    for (guint i = 0; i < opts->len; i++) {
        CmdOption *o = opts->pdata[i];
        if (o->def->id != OPT_SERIAL || strcmp(o->arg, "none") == 0) {
            continue;
        }
        error_location_set(o->spelling);
        g_autofree char *label = g_strdup_printf("serial%d", index++);
        GError *err = NULL;
        if (!chardev_new_from_legacy(label, o->arg, &err)) {
            error_report_err(err);
            error_report("could not connect serial device to character backend '%s'", o->arg);
            exit(1);
        }
        error_location_clear();
    }
}

/* Options that only make sense with a machine that has a CPU and RAM, checked in pass 1. */
static void check_machine_options(GPtrArray *opts)
{
    GError *err = NULL;
    apply_machine_props();
    for (guint i = 0; i < opts->len; i++) {
        CmdOption *o = opts->pdata[i];
        if (o->def->id == OPT_MEMORY) {
            error_location_set(o->spelling);
            if (!pc_parse_ram_size(o->arg, &mc.pc.ram_size, &err)) {
                die_with(err);
            }
            error_location_clear();
        }
    }
    if (mc.pc.initrd && !mc.pc.kernel) {
        error_report("-initrd only allowed with -kernel option");
        exit(1);
    }
    if (mc.pc.append && !mc.pc.kernel) {
        error_report("-append only allowed with -kernel option");
        exit(1);
    }
    if (!mc.is_pc) {
        for (guint i = 0; i < opts->len; i++) {
            CmdOption *o = opts->pdata[i];
            if (o->def->id == OPT_DEVICE) {
                g_autofree char *driver = g_strndup(o->arg, strcspn(o->arg, ","));
                error_location_set(o->spelling);
                const DeviceTypeInfo *t = device_type_find(driver);
                error_report("No '%s' bus found for device '%s'", t && t->bus ? t->bus : "PCI",
                             driver);
                exit(1);
            }
        }
    }
    if (g_strcmp0(mc.accel, "kvm") == 0 && !kvm_probe("/dev/kvm", 3000, &err)) {
        error_report("failed to initialize kvm: %s", err->message);
        g_error_free(err);
        exit(1);
    }
}

static void on_shutdown_request(void *opaque)
{
    qemu_main_loop_quit();
}

static int pidfile_fd = -1;
static char *pidfile_path;

static void write_pidfile(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        error_location_clear();
        error_report("cannot create PID file: Could not create '%s': %s", path, g_strerror(errno));
        exit(1);
    }
    if (lockf(fd, F_TLOCK, 0) < 0) {
        error_location_clear();
        error_report("cannot create PID file: Cannot lock pid file: %s", g_strerror(errno));
        exit(1);
    }
    g_autofree char *pid = g_strdup_printf("%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || write(fd, pid, strlen(pid)) != (ssize_t)strlen(pid)) {
        error_location_clear();
        error_report("cannot create PID file: Failed to write PID file: %s", g_strerror(errno));
        exit(1);
    }
    pidfile_fd = fd;
    pidfile_path = g_strdup(path);
}

static void remove_pidfile(void)
{
    if (pidfile_fd >= 0) {
        unlink(pidfile_path);
        close(pidfile_fd);
        pidfile_fd = -1;
    }
}

/* -daemonize: the parent waits until the child has finished initialising, then exits. */
static int daemon_pipe = -1;

static void daemonize_start(void)
{
    int fds[2];
    if (pipe(fds) < 0) {
        error_report("daemonize: pipe failed: %s", g_strerror(errno));
        exit(1);
    }
    pid_t pid = fork();
    if (pid < 0) {
        error_report("daemonize: fork failed: %s", g_strerror(errno));
        exit(1);
    }
    if (pid > 0) {
        close(fds[1]);
        char status = 1;
        ssize_t n;
        do {
            n = read(fds[0], &status, 1);
        } while (n < 0 && errno == EINTR);
        /* The child reports 0 once up; EOF without a byte means it failed. */
        _exit(n == 1 && status == 0 ? 0 : 1);
    }
    close(fds[0]);
    daemon_pipe = fds[1];
    setsid();
}

static void daemonize_done(void)
{
    if (daemon_pipe < 0) {
        return;
    }
    char ok = 0;
    if (write(daemon_pipe, &ok, 1) != 1) {
        error_report("daemonize: could not notify parent");
    }
    close(daemon_pipe);
    daemon_pipe = -1;
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        close(null);
    }
}

static gboolean on_signal(gpointer data)
{
    int sig = GPOINTER_TO_INT(data);
    error_report("terminating on signal %d", sig);
    qemu_system_shutdown_request(SHUTDOWN_CAUSE_HOST_SIGNAL);
    return G_SOURCE_CONTINUE;
}

static void register_types(void)
{
    iothread_register_types();
    chardev_register_types();
    colo_compare_register_types();
    net_register_types();
    hw_register_types();
    block_register_types();
    bdrv_register_driver(&bdrv_nbd);
}

int qemu_main(int argc, char **argv)
{
    error_set_progname(argv[0]);
    signal(SIGPIPE, SIG_IGN);
    /* A write past RLIMIT_FSIZE fails with EFBIG and is reported as any I/O error (NBD
     * ENOSPC to a client): QEMU's block I/O runs on threads with every signal blocked, so
     * its process lives on as well. */
    signal(SIGXFSZ, SIG_IGN);
    register_types();
    monitor_init_globals();
    /* Lower floors report upwards only through hooks, and they are set here. */
    colo_compare_set_event_hook(monitor_colo_compare_event);
    nbd_server_set_deleted_notify(monitor_nbd_export_deleted);
    job_set_notify(monitor_job_event);
    blk_set_tray_moved_handler(monitor_tray_moved);
    nbd_server_set_device_hooks(&nbd_block_device_hooks);
    quorum_set_event_handler(monitor_quorum_event);

    g_autoptr(GPtrArray) opts = parse_argv(argc, argv);
    gboolean daemonize = FALSE;
    const char *pidfile = NULL;
    GError *err = NULL;

    /* Pass 1: options that end the run at once, and plain settings. */
    for (guint i = 0; i < opts->len; i++) {
        CmdOption *o = opts->pdata[i];
        error_location_set(o->spelling);
        switch (o->def->id) {
        case OPT_HELP:
            print_help();
            return 0;
        case OPT_VERSION:
            print_version();
            return 0;
        case OPT_MACHINE:
            handle_machine(o->arg);
            break;
        case OPT_DISPLAY:
            handle_display(o->arg);
            break;
        case OPT_NAME:
            handle_name(o->arg);
            break;
        case OPT_PIDFILE:
            pidfile = o->arg;
            break;
        case OPT_S:
            start_paused = TRUE;
            break;
        case OPT_ACCEL:
            handle_accel(o->arg);
            break;
        case OPT_ENABLE_KVM:
            mc.accel = "kvm";
            break;
        case OPT_SMP:
            handle_smp(o->arg);
            break;
        case OPT_GLOBAL:
            if (!qdev_global_add(o->arg, &err)) {
                die_with(err);
            }
            break;
        case OPT_KERNEL:
            mc.pc.kernel = o->arg;
            break;
        case OPT_BIOS:
            mc.pc.bios = o->arg;
            break;
        case OPT_BOOT:
            handle_boot(o->arg);
            break;
        case OPT_VGA:
            handle_vga(o->arg);
            break;
        case OPT_VNC:
            error_setg(&err, "VNC not available (qemu-colo has no display yet)");
            die_with(err);
            break;
        case OPT_INITRD:
            mc.pc.initrd = o->arg;
            break;
        case OPT_APPEND:
            mc.pc.append = o->arg;
            break;
        case OPT_NOGRAPHIC:
            mc.nographic = TRUE;
            break;
        case OPT_ECHR:
            handle_echr(o->arg);
            break;
        case OPT_NODEFAULTS:
            mc.nodefaults = TRUE;
            break;
        case OPT_NO_REBOOT:
            mc.no_reboot = TRUE;
            break;
        case OPT_NO_HPET:
            mc.pc.no_hpet = true; /* upstream's hpet=off machine default */
            break;
        case OPT_NO_SHUTDOWN:
            mc.no_shutdown = TRUE;
            break;
        case OPT_INCOMING:
            incoming = o->arg;
            incoming_spelling = o->spelling;
            break;
        case OPT_DAEMONIZE:
            daemonize = TRUE;
            break;
        case OPT_LOGFILE:
            if (!qemu_log_set_file(o->arg, &err)) {
                error_location_clear();
                error_report("Error opening logfile %s: %s", o->arg, g_strerror(errno));
                return 1;
            }
            break;
        case OPT_LOGITEMS: {
            gboolean help = FALSE;
            if (!qemu_log_parse_items(o->arg, &help, &err)) {
                error_report_err(err);
                return 1;
            }
            if (help) {
                return 0;
            }
            break;
        }
        case OPT_TRACE: {
            gboolean help = FALSE;
            if (!trace_parse_option(o->arg, &help, &err)) {
                die_with(err);
            }
            if (help) {
                return 0;
            }
            break;
        }
        default:
            break;
        }
        error_location_clear();
    }

    check_machine_options(opts);
    machine_control_set_actions(mc.no_reboot, mc.no_shutdown);
    choose_console_defaults(opts);
    chardev_set_mux_quit_hook(mux_quit);

    if (daemonize && mc.nographic) {
        error_report("-nographic cannot be used with -daemonize");
        return 1;
    }
    if (daemonize) {
        daemonize_start();
    }
    if (pidfile) {
        write_pidfile(pidfile);
    }
    /* The main loop holds the big lock except while it polls (hw/core/biglock.h); taken after
     * -daemonize's fork, since a child cannot release a mutex its parent's thread holds. */
    bql_attach_context(NULL);
    bql_lock();

    /* Then, each in command-line order: early objects, chardevs, netdevs, late objects. */
    for_each_option(opts, OPT_OBJECT, FALSE, handle_object);
    for_each_option(opts, OPT_CHARDEV, -1, handle_chardev);
    for (guint i = 0; i < opts->len; i++) {
        CmdOption *o = opts->pdata[i];
        OptionId id = o->def->id;
        if (id == OPT_QMP || id == OPT_QMP_PRETTY || id == OPT_MONITOR || id == OPT_MON) {
            error_location_set(o->spelling);
            handle_monitor_option(o);
            error_location_clear();
        }
    }
    if (default_monitor && !monitor_init_legacy(default_monitor, FALSE, FALSE, &err)) {
        die_with(err);
    }
    for_each_option(opts, OPT_NETDEV, -1, handle_netdev);
    for_each_option(opts, OPT_NIC, -1, handle_nic);
    for_each_option(opts, OPT_NET, -1, handle_net);
    for_each_option(opts, OPT_OBJECT, TRUE, handle_object);
    if (incoming) {
        /* the source still runs on these images: opened without their locks until loaded */
        bdrv_start_inactive();
    }
    /* Upstream opens -blockdev nodes before -drive ones, each in command-line order. */
    for_each_option(opts, OPT_BLOCKDEV, -1, handle_blockdev);
    for (guint i = 0; i < opts->len; i++) {
        CmdOption *o = opts->pdata[i];
        if (is_drive_option(o)) {
            error_location_set(o->spelling);
            o->blk = handle_drive(drive_option_arg(o));
            error_location_clear();
        }
    }
    if (mc.is_pc) {
        build_pc(opts);
    } else {
        create_serial_chardevs(opts);
    }
    qdev_globals_check();

    net_check_clients();
    main_loop = g_main_loop_new(NULL, FALSE);
    qemu_system_set_shutdown_handler(on_shutdown_request, NULL);
    colo_init();
    if (incoming) {
        /* inmigrate until the load completes; the VM then runs unless -S */
        error_location_set(incoming_spelling);
        if (!migration_incoming_init(incoming, !start_paused, &err)) {
            die_with(err);
        }
        error_location_clear();
    } else if (!start_paused) {
        vm_start();
    }
    g_unix_signal_add(SIGINT, on_signal, GINT_TO_POINTER(SIGINT));
    g_unix_signal_add(SIGTERM, on_signal, GINT_TO_POINTER(SIGTERM));
    g_unix_signal_add(SIGHUP, on_signal, GINT_TO_POINTER(SIGHUP));

    daemonize_done();
    if (!g_atomic_int_get(&quit_requested)) {
        g_main_loop_run(main_loop);
    }

    qemu_system_shutdown_finish();
    /* The migration threads read RAM and the channel: they end before the machine goes. */
    bql_unlock();
    migration_shutdown();
    bql_lock();
    migration_set_host(NULL);
    machine_control_set_ops(NULL);
    /* The vCPU thread and the NICs go before the netdevs and chardevs they use. */
    pc_system_free(pc_sys);
    pc_sys = NULL;
    job_cancel_all_sync(); /* their workers use the nodes */
    blockdev_cleanup();    /* after the devices that sat on the drives */
    monitor_cleanup();
    qom_user_delete_all();
    net_cleanup();
    chardev_remove_all();
    remove_pidfile();
    qemu_log_close();
    g_main_loop_unref(main_loop);
    main_loop = NULL;
    keyval_list_free(mc.machine);
    mc.machine = NULL;
    bql_unlock();
    return 0;
}
