/* The yank registry (include/util/yank.h). */
#include "util/yank.h"
#include "util/error.h"

#include <string.h>

typedef struct {
    YankFn fn;
    void *opaque;
} YankFunc;

typedef struct {
    YankKey key;
    GArray *funcs; /* YankFunc */
} YankInstance;

static GMutex yank_lock;
static GPtrArray *instances; /* YankInstance, in registration order */

static void instance_free(gpointer p)
{
    YankInstance *in = p;
    g_free(in->key.name);
    g_array_unref(in->funcs);
    g_free(in);
}

static YankInstance *find_locked(YankKind kind, const char *name)
{
    for (guint i = 0; instances && i < instances->len; i++) {
        YankInstance *in = g_ptr_array_index(instances, i);
        if (in->key.kind == kind && g_strcmp0(in->key.name, name) == 0) {
            return in;
        }
    }
    return NULL;
}

gboolean yank_register_instance(YankKind kind, const char *name, GError **errp)
{
    g_mutex_lock(&yank_lock);
    if (find_locked(kind, name)) {
        g_mutex_unlock(&yank_lock);
        /* upstream's wording */
        error_setg(errp, "duplicate yank instance");
        return FALSE;
    }
    if (!instances) {
        instances = g_ptr_array_new_with_free_func(instance_free);
    }
    YankInstance *in = g_new0(YankInstance, 1);
    in->key.kind = kind;
    in->key.name = g_strdup(name);
    in->funcs = g_array_new(FALSE, FALSE, sizeof(YankFunc));
    g_ptr_array_add(instances, in);
    g_mutex_unlock(&yank_lock);
    return TRUE;
}

void yank_unregister_instance(YankKind kind, const char *name)
{
    g_mutex_lock(&yank_lock);
    YankInstance *in = find_locked(kind, name);
    if (in) {
        g_ptr_array_remove(instances, in);
    }
    g_mutex_unlock(&yank_lock);
}

gboolean yank_instance_exists(YankKind kind, const char *name)
{
    g_mutex_lock(&yank_lock);
    gboolean found = find_locked(kind, name) != NULL;
    g_mutex_unlock(&yank_lock);
    return found;
}

gboolean yank_register_function(YankKind kind, const char *name, YankFn fn, void *opaque)
{
    g_mutex_lock(&yank_lock);
    YankInstance *in = find_locked(kind, name);
    if (in) {
        YankFunc f = {fn, opaque};
        g_array_append_val(in->funcs, f);
    }
    g_mutex_unlock(&yank_lock);
    return in != NULL;
}

void yank_unregister_function(YankKind kind, const char *name, YankFn fn, void *opaque)
{
    g_mutex_lock(&yank_lock);
    YankInstance *in = find_locked(kind, name);
    for (guint i = 0; in && i < in->funcs->len; i++) {
        YankFunc *f = &g_array_index(in->funcs, YankFunc, i);
        if (f->fn == fn && f->opaque == opaque) {
            g_array_remove_index(in->funcs, i);
            break;
        }
    }
    g_mutex_unlock(&yank_lock);
}

gboolean yank_run(const YankKey *keys, guint n, GError **errp)
{
    g_mutex_lock(&yank_lock);
    for (guint i = 0; i < n; i++) {
        if (!find_locked(keys[i].kind, keys[i].name)) {
            g_mutex_unlock(&yank_lock);
            error_set(errp, ERROR_CLASS_DEVICE_NOT_FOUND, "Instance not found");
            return FALSE;
        }
    }
    for (guint i = 0; i < n; i++) {
        YankInstance *in = find_locked(keys[i].kind, keys[i].name);
        for (guint j = 0; j < in->funcs->len; j++) {
            YankFunc *f = &g_array_index(in->funcs, YankFunc, j);
            f->fn(f->opaque);
        }
    }
    g_mutex_unlock(&yank_lock);
    return TRUE;
}

static void key_clear(gpointer p)
{
    g_free(((YankKey *)p)->name);
}

GArray *yank_list(void)
{
    GArray *out = g_array_new(FALSE, FALSE, sizeof(YankKey));
    g_array_set_clear_func(out, key_clear);
    g_mutex_lock(&yank_lock);
    for (guint i = 0; instances && i < instances->len; i++) {
        YankInstance *in = g_ptr_array_index(instances, i);
        YankKey k = {in->key.kind, g_strdup(in->key.name)};
        g_array_append_val(out, k);
    }
    g_mutex_unlock(&yank_lock);
    return out;
}
