/* The object model: registration, typed properties, user objects, the tree. */
#include "qom/object.h"
#include "util/error.h"

/* A user-creatable test type with one property of each kind. */
#define TEST_TYPE_DUMMY (test_dummy_get_type())
G_DECLARE_FINAL_TYPE(TestDummy, test_dummy, TEST, DUMMY, QomObject)

struct _TestDummy {
    QomObject parent;
    char *name_in;
    gboolean flag;
    guint timeout;
    guint64 big;
    gint64 signed_val;
    gboolean completed;
};

enum { PROP_0, PROP_NAME_IN, PROP_FLAG, PROP_TIMEOUT, PROP_BIG, PROP_SIGNED };

static int finalized_count;

G_DEFINE_TYPE(TestDummy, test_dummy, QOM_TYPE_OBJECT)

static void dummy_set(GObject *obj, guint id, const GValue *v, GParamSpec *pspec)
{
    TestDummy *d = TEST_DUMMY(obj);
    switch (id) {
    case PROP_NAME_IN:
        g_free(d->name_in);
        d->name_in = g_value_dup_string(v);
        break;
    case PROP_FLAG:
        d->flag = g_value_get_boolean(v);
        break;
    case PROP_TIMEOUT:
        if (g_value_get_uint(v) == 0) {
            GError *err = NULL;
            error_setg(&err, "Property 'test-dummy.timeout' requires a positive value");
            qom_object_set_error(QOM_OBJECT(obj), err);
            return;
        }
        d->timeout = g_value_get_uint(v);
        break;
    case PROP_BIG:
        d->big = g_value_get_uint64(v);
        break;
    case PROP_SIGNED:
        d->signed_val = g_value_get_int64(v);
        break;
    }
}

static void dummy_get(GObject *obj, guint id, GValue *v, GParamSpec *pspec)
{
    TestDummy *d = TEST_DUMMY(obj);
    switch (id) {
    case PROP_NAME_IN:
        g_value_set_string(v, d->name_in);
        break;
    case PROP_FLAG:
        g_value_set_boolean(v, d->flag);
        break;
    case PROP_TIMEOUT:
        g_value_set_uint(v, d->timeout);
        break;
    case PROP_BIG:
        g_value_set_uint64(v, d->big);
        break;
    case PROP_SIGNED:
        g_value_set_int64(v, d->signed_val);
        break;
    }
}

static gboolean dummy_complete(QomObject *obj, GError **errp)
{
    TestDummy *d = TEST_DUMMY(obj);
    if (g_strcmp0(d->name_in, "fail") == 0) {
        error_setg(errp, "refusing to complete");
        return FALSE;
    }
    d->completed = TRUE;
    return TRUE;
}

static void dummy_finalize(GObject *obj)
{
    g_free(TEST_DUMMY(obj)->name_in);
    finalized_count++;
    G_OBJECT_CLASS(test_dummy_parent_class)->finalize(obj);
}

static void test_dummy_class_init(TestDummyClass *klass)
{
    GObjectClass *oc = G_OBJECT_CLASS(klass);
    oc->set_property = dummy_set;
    oc->get_property = dummy_get;
    oc->finalize = dummy_finalize;
    QOM_OBJECT_CLASS(klass)->complete = dummy_complete;
    GParamFlags rw = QOM_PARAM_RW;
    qom_class_install_property(oc, PROP_NAME_IN,
                               g_param_spec_string("name_in", "name_in", "an input", NULL, rw),
                               NULL, TRUE);
    qom_class_install_property(oc, PROP_FLAG, g_param_spec_boolean("flag", "flag", "", FALSE, rw),
                               NULL, FALSE);
    qom_class_install_property(
        oc, PROP_TIMEOUT, g_param_spec_uint("timeout", "timeout", "", 0, G_MAXUINT32, 3000, rw),
        NULL, FALSE);
    qom_class_install_property(
        oc, PROP_BIG, g_param_spec_uint64("big", "big", "", 0, G_MAXUINT64, 0, rw), NULL, FALSE);
    qom_class_install_property(
        oc, PROP_SIGNED,
        g_param_spec_int64("signed-val", "signed-val", "", G_MININT64, G_MAXINT64, 0, rw), NULL,
        FALSE);
}

static void test_dummy_init(TestDummy *d)
{
    d->timeout = 3000;
}

static QomObject *create_kv(const char *str, GError **errp)
{
    KeyvalList *kv = keyval_parse(str, "qom-type", KEYVAL_QUIET, errp);
    g_assert_nonnull(kv);
    QomObject *obj = qom_user_create_keyval(kv, NULL, errp);
    keyval_list_free(kv);
    return obj;
}

static void expect_error(const char *str, const char *message)
{
    GError *err = NULL;
    g_assert_null(create_kv(str, &err));
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, ==, message);
    g_error_free(err);
}

static void test_create_delete(void)
{
    GError *err = NULL;
    int before = finalized_count;
    QomObject *obj = create_kv("test-dummy,id=d0,name_in=abc,flag=on,timeout=5,big=123", &err);
    g_assert_no_error(err);
    TestDummy *d = TEST_DUMMY(obj);
    g_assert_true(d->completed);
    g_assert_cmpstr(d->name_in, ==, "abc");
    g_assert_true(d->flag);
    g_assert_cmpuint(d->timeout, ==, 5);
    g_assert_cmpuint(d->big, ==, 123);
    g_assert_true(qom_user_find("d0", NULL) == obj);
    g_assert_true(qom_user_find("d0", "test-dummy") == obj);
    g_assert_null(qom_user_find("d0", "container"));
    g_autofree char *path = qom_object_get_path(obj);
    g_assert_cmpstr(path, ==, "/objects/d0");
    g_assert_true(qom_resolve_path("/objects/d0", NULL) == obj);
    g_assert_true(qom_resolve_path("d0", NULL) == obj);
    g_autofree char *flag = qom_object_get_str(obj, "flag", &err);
    g_assert_cmpstr(flag, ==, "on");
    g_assert_true(qom_user_delete("d0", &err));
    g_assert_no_error(err);
    g_assert_cmpint(finalized_count, ==, before + 1);
    g_assert_null(qom_user_find("d0", NULL));
    g_assert_false(qom_user_delete("d0", &err));
    g_assert_cmpstr(err->message, ==, "object 'd0' not found");
    g_clear_error(&err);
}

static void test_errors(void)
{
    int before = finalized_count;
    expect_error("test-dummy,id=d1", "Parameter 'name_in' is missing");
    expect_error("test-dummy,name_in=x", "Parameter 'id' is missing");
    expect_error("test-dummy,id=1x,name_in=x",
                 "Parameter 'id' expects an identifier\x1eIdentifiers consist of letters, "
                 "digits, '-', '.', '_', starting with a letter.");
    expect_error("bogus,id=x", "Parameter 'qom-type' does not accept value 'bogus'");
    expect_error("container,id=x", "Parameter 'qom-type' does not accept value 'container'");
    expect_error("test-dummy,id=d1,name_in=x,foo=bar", "Invalid parameter 'foo'");
    expect_error("test-dummy,id=d1,name_in=x,flag=maybe", "Parameter 'flag' expects 'on' or 'off'");
    expect_error("test-dummy,id=d1,name_in=x,timeout=abc",
                 "Parameter 'timeout' expects a uint64 value");
    expect_error("test-dummy,id=d1,name_in=x,timeout=99999999999",
                 "Parameter 'timeout' expects uint32_t");
    expect_error("test-dummy,id=d1,name_in=x,timeout=0",
                 "Property 'test-dummy.timeout' requires a positive value");
    expect_error("test-dummy,id=d1,name_in=x,signed-val=1.5",
                 "Parameter 'signed-val' expects an int64 value");
    expect_error("test-dummy,id=d1,name_in=fail", "refusing to complete");
    /* Type errors come in declaration order, before a later missing member. */
    expect_error("test-dummy,id=d1,flag=x", "Parameter 'name_in' is missing");
    /* Every failed object is gone and freed. */
    g_assert_null(qom_user_find("d1", NULL));
    g_assert_cmpint(finalized_count, ==, before + 9);
}

static void test_duplicate_and_use(void)
{
    GError *err = NULL;
    QomObject *obj = create_kv("test-dummy,id=d2,name_in=x", &err);
    g_assert_no_error(err);
    expect_error("test-dummy,id=d2,name_in=y", "Duplicate ID 'd2' for object");
    qom_object_use(obj);
    g_assert_false(qom_user_delete("d2", &err));
    g_assert_cmpstr(err->message, ==, "object 'd2' is in use, can not be deleted");
    g_clear_error(&err);
    qom_object_unuse(obj);
    g_assert_true(qom_user_delete("d2", &err));
}

static JsonObject *json(const char *text)
{
    GError *err = NULL;
    JsonObject *o = keyval_parse_json(text, &err);
    g_assert_no_error(err);
    return o;
}

static void test_json_create(void)
{
    GError *err = NULL;
    JsonObject *args =
        json("{\"qom-type\":\"test-dummy\",\"id\":\"j0\",\"name_in\":\"n\",\"flag\":true,"
             "\"timeout\":7,\"signed-val\":-3}");
    QomObject *obj = qom_user_create_json(args, &err);
    json_object_unref(args);
    g_assert_no_error(err);
    g_assert_cmpuint(TEST_DUMMY(obj)->timeout, ==, 7);
    g_assert_cmpint(TEST_DUMMY(obj)->signed_val, ==, -3);
    JsonNode *node = qom_object_get_json(obj, "timeout", &err);
    g_assert_cmpint(json_node_get_int(node), ==, 7);
    json_node_unref(node);
    node = qom_object_get_json(obj, "type", &err);
    g_assert_cmpstr(json_node_get_string(node), ==, "test-dummy");
    json_node_unref(node);
    g_assert_null(qom_object_get_json(obj, "nope", &err));
    g_assert_cmpstr(err->message, ==, "Property 'test-dummy.nope' not found");
    g_clear_error(&err);
    g_assert_true(qom_user_delete("j0", &err));

    args = json("{\"qom-type\":\"test-dummy\",\"id\":\"j1\",\"name_in\":\"n\",\"flag\":\"on\"}");
    g_assert_null(qom_user_create_json(args, &err));
    json_object_unref(args);
    g_assert_cmpstr(err->message, ==, "Invalid parameter type for 'flag', expected: boolean");
    g_clear_error(&err);
    args = json("{\"qom-type\":\"test-dummy\",\"id\":\"j1\",\"name_in\":\"n\",\"timeout\":-1}");
    g_assert_null(qom_user_create_json(args, &err));
    json_object_unref(args);
    g_assert_cmpstr(err->message, ==, "Parameter 'timeout' expects uint32_t");
    g_clear_error(&err);
    args = json("{\"qom-type\":\"test-dummy\"}");
    g_assert_null(qom_user_create_json(args, &err));
    json_object_unref(args);
    g_assert_cmpstr(err->message, ==, "Parameter 'id' is missing");
    g_clear_error(&err);
}

static void test_help_text(void)
{
    GError *err = NULL;
    g_autofree char *all = qom_user_help_text(NULL, &err);
    g_assert_true(g_str_has_prefix(all, "List of user creatable objects:\n"));
    g_assert_nonnull(strstr(all, "  test-dummy\n"));
    g_autofree char *one = qom_user_help_text("test-dummy", &err);
    g_assert_true(g_str_has_prefix(one, "test-dummy options:\n"));
    g_assert_nonnull(strstr(one, "name_in=<string>"));
    g_assert_nonnull(strstr(one, "(required)"));
    g_assert_nonnull(strstr(one, "timeout=<uint32>"));
    g_assert_nonnull(strstr(one, "(default: 3000)"));
    g_assert_null(qom_user_help_text("bogus", &err));
    g_clear_error(&err);
}

static void test_tree(void)
{
    QomObject *c = qom_container_get("/machine/peripheral");
    g_assert_true(qom_resolve_path("/machine/peripheral", NULL) == c);
    g_assert_true(qom_resolve_path("peripheral", NULL) == c);
    g_autofree char *path = qom_object_get_path(c);
    g_assert_cmpstr(path, ==, "/machine/peripheral");
    g_assert_null(qom_resolve_path("/machine/nothing", NULL));
    /* Two objects of one name make a partial path ambiguous. */
    qom_container_get("/a/same");
    qom_container_get("/b/same");
    gboolean ambiguous = FALSE;
    g_assert_null(qom_resolve_path("same", &ambiguous));
    g_assert_true(ambiguous);
    GError *err = NULL;
    QomObject *extra = g_object_new(qom_type_lookup("container"), NULL);
    g_assert_false(qom_object_add_child(qom_root(), "machine", extra, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    g_object_unref(extra);
    g_autoptr(GPtrArray) types = qom_type_names(TRUE, NULL, FALSE);
    g_assert_cmpuint(types->len, ==, 1);
    g_assert_cmpstr(qom_object_type_name(c), ==, "container");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qom_register_type("test-dummy", TEST_TYPE_DUMMY, NULL, TRUE);
    g_test_add_func("/qom/create-delete", test_create_delete);
    g_test_add_func("/qom/errors", test_errors);
    g_test_add_func("/qom/duplicate-and-use", test_duplicate_and_use);
    g_test_add_func("/qom/json-create", test_json_create);
    g_test_add_func("/qom/help-text", test_help_text);
    g_test_add_func("/qom/tree", test_tree);
    return g_test_run();
}
