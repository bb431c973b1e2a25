/*
 * QTest for query-vdi-capabilities
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qstring.h"

/*
 * Each extension the patch set can have, with what only that extension
 * provides: a QOM type or a QMP command, and its interface version (as
 * qapi/vdi.json documents it).  An extension is reported exactly when
 * its witness is there.
 */
static const struct {
    const char *name;
    const char *qom_type;
    const char *command;
    int64_t version;
} known_extensions[] = {
    { "firewall", "filter-firewall", NULL, 1 },
    { "usb-policy", NULL, "usb-policy-set", 2 },
    { "display-encoder", NULL, "display-set-profile", 2 },
    { "transfer-policy", NULL, "vdi-transfer-policy-set", 2 },
    { "audit", "vdi-audit-log", NULL, 2 },
    { "client-identity", NULL, "vdi-identity-map-set", 2 },
    { "zones", NULL, "vdi-zone-set", 2 },
};

static bool schema_has_command(QTestState *qts, const char *name)
{
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'query-qmp-schema' }");
    QList *schema = qdict_get_qlist(resp, "return");
    QListEntry *e;
    bool found = false;

    g_assert(schema);
    QLIST_FOREACH_ENTRY(schema, e) {
        QDict *entity = qobject_to(QDict, qlist_entry_obj(e));

        if (!strcmp(qdict_get_str(entity, "meta-type"), "command") &&
            !strcmp(qdict_get_str(entity, "name"), name)) {
            found = true;
        }
    }
    qobject_unref(resp);
    return found;
}

static bool has_qom_type(QTestState *qts, const char *type)
{
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'qom-list-types',"
                            "  'arguments': { 'abstract': true } }");
    QList *types = qdict_get_qlist(resp, "return");
    QListEntry *e;
    bool found = false;

    QLIST_FOREACH_ENTRY(types, e) {
        QDict *t = qobject_to(QDict, qlist_entry_obj(e));

        if (!strcmp(qdict_get_str(t, "name"), type)) {
            found = true;
        }
    }
    qobject_unref(resp);
    return found;
}

static void test_introspectable(void)
{
    QTestState *qts = qtest_init("-machine none");

    g_assert_true(schema_has_command(qts, "query-vdi-capabilities"));
    g_assert_false(schema_has_command(qts, "query-vdi-no-such-command"));
    qtest_quit(qts);
}

static void test_release(void)
{
    QTestState *qts = qtest_init("-machine none");
    QDict *caps = qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'query-vdi-capabilities' }");
    const char *release = qdict_get_str(caps, "release");

    g_assert_true(g_regex_match_simple("^[0-9]+\\.[0-9]+\\.[0-9]+$",
                                       release, 0, 0));
    qobject_unref(caps);
    qtest_quit(qts);
}

static void test_extensions_match_types(void)
{
    QTestState *qts = qtest_init("-machine none");
    QDict *caps = qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'query-vdi-capabilities' }");
    QList *list = qdict_get_qlist(caps, "extensions");
    g_autoptr(GHashTable) reported = g_hash_table_new(g_str_hash,
                                                      g_str_equal);
    QListEntry *e;
    size_t i;

    g_assert(list);
    QLIST_FOREACH_ENTRY(list, e) {
        QDict *ext = qobject_to(QDict, qlist_entry_obj(e));
        const char *name = qdict_get_str(ext, "name");
        bool known = false;

        /* each extension once */
        g_assert_true(g_hash_table_add(reported, (gpointer)name));
        for (i = 0; i < ARRAY_SIZE(known_extensions); i++) {
            if (!strcmp(known_extensions[i].name, name)) {
                g_assert_cmpint(qdict_get_int(ext, "version"), ==,
                                known_extensions[i].version);
                known = true;
            }
        }
        g_assert_true(known);
    }

    for (i = 0; i < ARRAY_SIZE(known_extensions); i++) {
        const char *type = known_extensions[i].qom_type;
        const char *command = known_extensions[i].command;
        bool present = type ? has_qom_type(qts, type)
                            : schema_has_command(qts, command);

        g_assert_cmpint(present, ==,
                        g_hash_table_contains(reported,
                                              known_extensions[i].name));
    }
    qobject_unref(caps);
    qtest_quit(qts);
}

static void test_bad_arguments(void)
{
    QTestState *qts = qtest_init("-machine none");
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'query-vdi-capabilities',"
                            "  'arguments': { 'extension': 'firewall' } }");
    QDict *error = qdict_get_qdict(resp, "error");

    g_assert(error);
    g_assert_cmpstr(qdict_get_str(error, "class"), ==, "GenericError");
    g_assert_nonnull(strstr(qdict_get_str(error, "desc"), "extension"));
    qobject_unref(resp);

    /* the monitor is still there */
    qobject_unref(qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'query-vdi-capabilities' }"));
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/vdi/capabilities/introspectable", test_introspectable);
    qtest_add_func("/vdi/capabilities/release", test_release);
    qtest_add_func("/vdi/capabilities/extensions",
                   test_extensions_match_types);
    qtest_add_func("/vdi/capabilities/bad-arguments", test_bad_arguments);

    return g_test_run();
}
