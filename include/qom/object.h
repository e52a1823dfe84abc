/*
 * The object model: QEMU type names mapped onto GObject types.
 *
 * Every object that users can name (-object, object-add, chardevs, the machine) is a QomObject,
 * a GObject subclass registered here under its QEMU type name ("colo-compare", "iothread").
 * Properties are ordinary GObject properties installed with qom_class_install_property(), which
 * also records the QEMU spelling ("primary_in"; GObject itself folds '_' into '-'), the type name
 * that qom-list shows ("string", "bool", "uint32", "link<iothread>") and whether it is required.
 *
 * Objects live in a tree of named children: "/" holds the containers "objects" (user objects by
 * id), "chardevs" and "machine". A child is owned by its parent (one strong reference).
 *
 * Life of a user-creatable object:
 *
 *   g_object_new -> set properties (declared order; required ones checked) -> complete()
 *        |                |  error                                    | error
 *        |                v                                           v
 *        |          unref, nothing left                        unref, nothing left
 *        +--> added as /objects/<id>  --object-del--> can_be_deleted()? --> unparent() -> unref
 */
#ifndef QOM_OBJECT_H
#define QOM_OBJECT_H

#include <glib-object.h>
#include <json-glib/json-glib.h>
#include "util/keyval.h"

G_BEGIN_DECLS

#define QOM_TYPE_OBJECT (qom_object_get_type())
G_DECLARE_DERIVABLE_TYPE(QomObject, qom_object, QOM, OBJECT, GObject)

struct _QomObjectClass {
    GObjectClass parent_class;
    /* Validates the properties and starts the object. Called once, after every property is set. */
    gboolean (*complete)(QomObject *obj, GError **errp);
    /* May refuse object-del; the default refuses while qom_object_use() counts users. */
    gboolean (*can_be_deleted)(QomObject *obj, GError **errp);
    /* Stops all activity (threads, handlers, timers) before the tree drops its reference. */
    void (*unparent)(QomObject *obj);
};

/* ---- Types ---- */

/*
 * Registers @gtype under the QEMU name @name. @parent_name is the QEMU name of the parent shown by
 * qom-list-types (NULL for "object"). Abstract GTypes are listed as abstract.
 */
void qom_register_type(const char *name, GType gtype, const char *parent_name,
                       gboolean user_creatable);
/* The GType registered as @name, or G_TYPE_INVALID. */
GType qom_type_lookup(const char *name);
/* The QEMU name of an object's (most derived registered) type. */
const char *qom_object_type_name(QomObject *obj);
/* Registered QEMU type names, sorted; caller frees the array (not the strings). */
GPtrArray *qom_type_names(gboolean user_creatable_only, const char *implements, gboolean abstract);
const char *qom_type_parent_name(const char *name);
gboolean qom_type_is_abstract(const char *name);
gboolean qom_type_is_user_creatable(const char *name);

/* ---- Properties ---- */

/*
 * Installs @pspec as property @prop_id of @klass. The QEMU name is g_param_spec_get_nick(pspec),
 * which must be the exact spelling ("primary_in"). @qom_type is what qom-list shows; NULL derives
 * it from the GType ("string", "bool", "int", "uint32", "uint64", the enum's QEMU name).
 * @description is for -object TYPE,help (may be NULL).
 */
void qom_class_install_property(GObjectClass *klass, guint prop_id, GParamSpec *pspec,
                                const char *qom_type, gboolean required);

/*
 * Flags for QOM property pspecs. Never G_PARAM_STATIC_NAME/G_PARAM_STATIC_STRINGS: GLib refuses a
 * static name that is not canonical, and QEMU names like "primary_in" are not.
 */
#define QOM_PARAM_RW (G_PARAM_READWRITE | G_PARAM_STATIC_NICK | G_PARAM_STATIC_BLURB)
#define QOM_PARAM_RO (G_PARAM_READABLE | G_PARAM_STATIC_NICK | G_PARAM_STATIC_BLURB)

typedef struct QomPropertyInfo {
    const char *name;        /* QEMU spelling */
    const char *type;        /* qom-list type name */
    const char *description; /* may be NULL */
    gboolean required;
    gboolean readable, writable;
    char *default_value; /* printable default, or NULL */
    GParamSpec *pspec;
} QomPropertyInfo;

/* The properties of the registered type @name in declaration order (parents first). */
GPtrArray *qom_type_properties(const char *name); /* of QomPropertyInfo*, caller frees array */
void qom_property_info_free(QomPropertyInfo *info);
/* The property spelt @name exactly (QEMU spelling; "primary-in" does not find "primary_in"). */
GParamSpec *qom_object_find_property(QomObject *obj, const char *name);

/* Sets from the keyval string form ("on", "3000", "io0"), converting per the property type. */
gboolean qom_object_set_str(QomObject *obj, const char *name, const char *value, GError **errp);
/* Sets from JSON; the JSON type must fit ("Invalid parameter type for 'x', expected: integer"). */
gboolean qom_object_set_json(QomObject *obj, const char *name, JsonNode *value, GError **errp);
/*
 * A GObject setter cannot fail; a QomObject setter that rejects a value records the error here
 * and qom_object_set_str/_json return it.
 */
void qom_object_set_error(QomObject *obj, GError *err);
void qom_object_clear_set_error(QomObject *obj);
GError *qom_object_take_set_error(QomObject *obj);
/* Reads as JSON (caller frees). */
JsonNode *qom_object_get_json(QomObject *obj, const char *name, GError **errp);
/* Reads as a printable string ("on"/"off" for booleans); caller frees. */
char *qom_object_get_str(QomObject *obj, const char *name, GError **errp);

/* ---- The tree ---- */

QomObject *qom_root(void);
/* "/objects", "/chardevs", "/machine": created on first use. */
QomObject *qom_container_get(const char *path);
/* Adds @child under @parent as @name; the parent takes its own reference. */
gboolean qom_object_add_child(QomObject *parent, const char *name, QomObject *child, GError **errp);
/* Removes @child from its parent: unparent() runs, then the parent's reference is dropped. */
void qom_object_unparent(QomObject *child);
QomObject *qom_object_get_parent(QomObject *obj);
const char *qom_object_get_name(QomObject *obj); /* the name under its parent ("io0") */
char *qom_object_get_path(QomObject *obj);       /* "/objects/io0"; caller frees */
QomObject *qom_object_get_child(QomObject *obj, const char *name);
/* Children sorted by name; caller frees the array. */
GPtrArray *qom_object_children(QomObject *obj);
/* Absolute path ("/objects/io0") or a partial path matched uniquely ("io0"); NULL if none. */
QomObject *qom_resolve_path(const char *path, gboolean *ambiguous);

/* ---- User-creatable objects (-object, object-add, object-del) ---- */

/* -object TYPE,id=ID,... or the JSON form; handles "help" by printing and returning NULL. */
QomObject *qom_user_create_keyval(KeyvalList *opts, gboolean *help_printed, GError **errp);
QomObject *qom_user_create_json(JsonObject *args, GError **errp);
/* Text for "-object help" and "-object TYPE,help" (QEMU's layout); caller frees. */
char *qom_user_help_text(const char *type, GError **errp);
/* object-del */
gboolean qom_user_delete(const char *id, GError **errp);
/* /objects/<id> if it exists and is of (or derives from) @type_name (NULL: any). */
QomObject *qom_user_find(const char *id, const char *type_name);
/* Deletes every user object, newest first (at exit). */
void qom_user_delete_all(void);

/* Users of an object: while the count is non-zero object-del is refused ("is in use"). */
void qom_object_use(QomObject *obj);
void qom_object_unuse(QomObject *obj);
guint qom_object_use_count(QomObject *obj);

G_END_DECLS

#endif
