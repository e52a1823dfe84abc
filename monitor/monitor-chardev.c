/* Monitors on chardevs, and the -qmp / -monitor / -mon command-line forms. */
#include "monitor-internal.h"
#include "chardev/char.h"
#include "util/error.h"

#include <string.h>

typedef struct {
    Monitor *mon;
    CharFrontend *fe;
} ChardevLink;

static void chr_write(void *opaque, const char *buf, size_t len)
{
    ChardevLink *link = opaque;
    char_fe_write_all(link->fe, (const guint8 *)buf, len);
}

static int chr_can_read(void *opaque)
{
    return 4096;
}

static void chr_read(void *opaque, const guint8 *buf, int size)
{
    ChardevLink *link = opaque;
    /* Input can come before the chardev's deferred OPENED event (stdio): greet first. */
    if (!link->mon->open) {
        monitor_open(link->mon);
    }
    monitor_feed(link->mon, (const char *)buf, size);
}

static void chr_event(void *opaque, ChrEvent event)
{
    ChardevLink *link = opaque;
    if (event == CHR_EVENT_OPENED) {
        if (!link->mon->open) {
            monitor_open(link->mon);
        }
    } else if (event == CHR_EVENT_CLOSED) {
        monitor_close(link->mon);
    }
}

static Monitor *monitor_new_on_chardev(Chardev *chr, gboolean qmp, gboolean pretty,
                                       GError **errp)
{
    CharFrontend *fe = char_fe_new(chr, errp);
    if (!fe) {
        return NULL;
    }
    ChardevLink *link = g_new0(ChardevLink, 1);
    link->fe = fe;
    link->mon = qmp ? monitor_new_qmp_custom(chr_write, link, pretty)
                    : monitor_new_hmp_custom(chr_write, link);
    link->mon->chardev_fe = link;
    char_fe_set_handlers(fe, chr_can_read, chr_read, chr_event, link, NULL);
    return link->mon;
}

Monitor *monitor_new_qmp(Chardev *chr, gboolean pretty, GError **errp)
{
    return monitor_new_on_chardev(chr, TRUE, pretty, errp);
}

Monitor *monitor_new_hmp(Chardev *chr, GError **errp)
{
    return monitor_new_on_chardev(chr, FALSE, FALSE, errp);
}

gboolean monitor_init_legacy(const char *spec, gboolean qmp, gboolean pretty, GError **errp)
{
    static int counter;
    if (!qmp && strcmp(spec, "none") == 0) {
        return TRUE;
    }
    g_autofree char *label = g_strdup_printf("compat_monitor%d", counter++);
    GError *err = NULL;
    Chardev *chr = chardev_new_from_legacy(label, spec, &err);
    if (!chr) {
        /* A spec that names no backend fails upstream's parse step, which says so twice. */
        if (g_str_has_suffix(err->message, "is not a valid char driver")) {
            error_report_err(err);
            error_setg(errp, "parse error: %s", spec);
        } else {
            g_propagate_error(errp, err);
        }
        return FALSE;
    }
    return (qmp ? monitor_new_qmp(chr, pretty, errp) : monitor_new_hmp(chr, errp)) != NULL;
}

gboolean monitor_init_from_opts(KeyvalList *opts, GError **errp)
{
    const char *id = keyval_get(opts, "chardev");
    const char *mode = keyval_get(opts, "mode");
    const char *pretty_s = keyval_get(opts, "pretty");
    for (guint i = 0; i < opts->pairs->len; i++) {
        KeyvalPair *p = g_ptr_array_index(opts->pairs, i);
        if (strcmp(p->key, "chardev") && strcmp(p->key, "mode") && strcmp(p->key, "pretty") &&
            strcmp(p->key, "id")) {
            error_setg(errp, "Invalid parameter '%s'", p->key);
            return FALSE;
        }
    }
    if (!id) {
        error_set_missing_param(errp, "chardev");
        return FALSE;
    }
    /* -mon ids only have to be unique among -mon options, as QemuOpts ids are. */
    static GHashTable *mon_ids;
    const char *mon_id = keyval_get(opts, "id");
    if (mon_id) {
        if (!mon_ids) {
            mon_ids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        }
        if (g_hash_table_contains(mon_ids, mon_id)) {
            error_setg(errp, "Duplicate ID '%s' for mon", mon_id);
            return FALSE;
        }
        g_hash_table_add(mon_ids, g_strdup(mon_id));
    }
    gboolean qmp;
    if (!mode || strcmp(mode, "readline") == 0) {
        qmp = FALSE;
    } else if (strcmp(mode, "control") == 0) {
        qmp = TRUE;
    } else {
        error_setg(errp, "Parameter 'mode' does not accept value '%s'", mode);
        return FALSE;
    }
    gboolean pretty = FALSE;
    if (pretty_s && !keyval_parse_bool("pretty", pretty_s, &pretty, errp)) {
        return FALSE;
    }
    if (pretty && !qmp) {
        error_setg(errp, "'pretty' is not compatible with HMP monitors");
        return FALSE;
    }
    Chardev *chr = chardev_find(id);
    if (!chr) {
        error_setg(errp, "chardev \"%s\" not found", id);
        return FALSE;
    }
    return (qmp ? monitor_new_qmp(chr, pretty, errp) : monitor_new_hmp(chr, errp)) != NULL;
}
