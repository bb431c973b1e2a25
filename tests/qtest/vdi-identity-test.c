/*
 * QTest for the VDI identity map: client certificates to users and
 * terminals
 *
 * Matching is checked through query-vdi-identity, the checks of the map
 * through vdi-identity-map-set with hostile input.  Real TLS clients
 * with certificates are scripts/check-cert-identity's.
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qlist.h"
#include "qapi/error.h"
#include "vdi-qmp-util.h"

#define CA "O=St. Mary Hospital,CN=St. Mary Clinical CA"

static const char *const good_map =
    "{ 'execute': 'vdi-identity-map-set', 'arguments': { 'mappings': ["
    "  { 'id': 'lee', 'subject': 'O=St. Mary Hospital,OU=ICU,CN=dr-lee',"
    "    'user': 'Dr. Lee', 'terminal': 'icu3-pc2' },"
    "  { 'id': 'chen', 'common-name': 'nurse-chen',"
    "    'organization': 'St. Mary Hospital', 'issuer': '" CA "',"
    "    'user': 'Nurse Chen', 'terminal': 'kiosk-7' },"
    "  { 'id': 'wang', 'common-name': 'dr-wang, MD',"
    "    'user': '\xe7\x8e\x8b\xe5\x8c\xbb\xe7\x94\x9f' }"
    "] } }";

/* The mapping id the map gives @subject (issued by @issuer), or NULL */
static char *lookup(QTestState *qts, const char *subject, const char *issuer)
{
    QDict *args = qdict_new();
    QDict *resp, *ret;
    char *mapping;

    qdict_put_str(args, "subject", subject);
    if (issuer) {
        qdict_put_str(args, "issuer", issuer);
    }
    resp = qtest_qmp(qts, "{ 'execute': 'query-vdi-identity',"
                     "  'arguments': %p }", args);
    ret = qdict_get_qdict(resp, "return");
    g_assert_nonnull(ret);
    mapping = g_strdup(qdict_get_try_str(ret, "mapping"));
    qobject_unref(resp);
    return mapping;
}

static void assert_lookup(QTestState *qts, const char *subject,
                          const char *issuer, const char *want)
{
    g_autofree char *got = lookup(qts, subject, issuer);

    g_assert_cmpstr(got, ==, want);
}

static void test_match(void)
{
    QTestState *qts = qtest_init("-machine none");
    QDict *resp, *ret;
    const QListEntry *e;
    bool found = false;

    qtest_qmp_assert_success(qts, good_map);

    /* a whole subject: types without case, spaces after separators */
    assert_lookup(qts, "O=St. Mary Hospital,OU=ICU,CN=dr-lee", NULL, "lee");
    assert_lookup(qts, "o=St. Mary Hospital, ou=ICU, cn=dr-lee", CA, "lee");
    /* ... but values byte for byte, in order, and all of them */
    assert_lookup(qts, "O=St. Mary Hospital,OU=ICU,CN=Dr-lee", NULL, NULL);
    assert_lookup(qts, "OU=ICU,O=St. Mary Hospital,CN=dr-lee", NULL, NULL);
    assert_lookup(qts, "O=St. Mary Hospital,CN=dr-lee", NULL, NULL);

    /* CN and O, from the right CA only */
    assert_lookup(qts, "C=CN,O=St. Mary Hospital,CN=nurse-chen", CA, "chen");
    assert_lookup(qts, "O=St. Mary Hospital,CN=nurse-chen",
                  "O=Evil,CN=St. Mary Clinical CA", NULL);
    assert_lookup(qts, "O=St. Mary Hospital,CN=nurse-chen", NULL, NULL);
    assert_lookup(qts, "O=Other,CN=nurse-chen", CA, NULL);
    /* two CNs are no CN */
    assert_lookup(qts, "O=St. Mary Hospital,CN=nurse-chen,CN=x", CA, NULL);
    assert_lookup(qts, "O=St. Mary Hospital,CN=nurse-chen+CN=x", CA, NULL);

    /* escapes: "\," and "\2C" are the same comma */
    assert_lookup(qts, "CN=dr-wang\\, MD", NULL, "wang");
    assert_lookup(qts, "CN=dr-wang\\2C MD", NULL, "wang");
    assert_lookup(qts, "CN=dr-wang", NULL, NULL);

    resp = qtest_qmp(qts, "{ 'execute': 'query-vdi-identity', 'arguments':"
                     "  { 'subject': 'CN=dr-wang\\\\, MD' } }");
    ret = qdict_get_qdict(resp, "return");
    g_assert_cmpstr(qdict_get_str(ret, "user"), ==,
                    "\xe7\x8e\x8b\xe5\x8c\xbb\xe7\x94\x9f");
    g_assert_false(qdict_haskey(ret, "terminal"));
    qobject_unref(resp);

    resp = qtest_qmp(qts, "{ 'execute': 'query-vdi-identity-map' }");
    g_assert_cmpint(qlist_size(qdict_get_qlist(resp, "return")), ==, 3);
    qobject_unref(resp);

    ret = qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'query-vdi-capabilities' }");
    QLIST_FOREACH_ENTRY(qdict_get_qlist(ret, "extensions"), e) {
        found |= !strcmp(qdict_get_str(qobject_to(QDict, e->value), "name"),
                         "client-identity");
    }
    g_assert_true(found);
    qobject_unref(ret);
    qtest_quit(qts);
}

/* vdi-identity-map-set with the arguments @args, in JSON */
static QDict *map_set(QTestState *qts, const char *args)
{
    return qtest_qmp(qts, "{ 'execute': 'vdi-identity-map-set',"
                     "  'arguments': %p }",
                     qobject_from_json(args, &error_abort));
}

/* A user, for mappings that are refused for something else */
#define U "'user': 'u', "

/* vdi-identity-map-set with one mapping: @fields and an id */
static void assert_refused(QTestState *qts, const char *fields,
                           const char *error)
{
    g_autofree char *args = g_strdup_printf(
        "{ 'mappings': [ { 'id': 'x', %s } ] }", fields);
    QDict *resp = map_set(qts, args);
    QDict *err = qdict_get_qdict(resp, "error");

    g_assert_nonnull(err);
    if (!strstr(qdict_get_str(err, "desc"), error)) {
        g_error("'%s' for %s; expected '%s'", qdict_get_str(err, "desc"),
                fields, error);
    }
    qobject_unref(resp);
}

static void test_hostile(void)
{
    QTestState *qts = qtest_init("-machine none");
    g_autofree char *long_dn = g_strnfill(1100, 'a');
    g_autofree char *long_cn = g_strnfill(65, 'c');
    g_autofree char *long_user = g_strnfill(257, 'u');
    char *f;
    GString *big;
    QDict *resp;
    int i;

    qtest_qmp_assert_success(qts, good_map);

    assert_refused(qts, U "'common-name': 'a', 'subject': 'CN=a'",
                   "needs either subject or common-name");
    assert_refused(qts, U "'terminal': 't'",
                   "needs either subject or common-name");
    assert_refused(qts, U "'subject': 'CN=a', 'organization': 'o'",
                   "organization goes with common-name");
    assert_refused(qts, U "'subject': 'CN=a,'", "expected type=value");
    assert_refused(qts, U "'subject': 'dr-lee'", "expected type=value");
    assert_refused(qts, U "'subject': ''", "1 to 1024 bytes, not 0");
    assert_refused(qts, U "'subject': 'CN=a\\\\'", "bad escape");
    assert_refused(qts, U "'subject': 'CN=a\\\\q'", "bad escape");
    assert_refused(qts, U "'subject': 'CN=a\\\\0A'", "has a control character");
    assert_refused(qts, U "'subject': 'CN=\\\\FF'", "not UTF-8");
    assert_refused(qts, U "'common-name': 'a', 'issuer': 'CN=ca,=x'",
                   "issuer: distinguished name 'CN=ca,=x'");
    assert_refused(qts, U "'common-name': ''", "common-name is empty");
    assert_refused(qts, U "'common-name': 'a\\n'",
                   "common-name has a control character");
    assert_refused(qts, U "'common-name': 'a', 'terminal': 'caf\xc3\xa9'",
                   "printable ASCII characters only, not 0xc3");
    assert_refused(qts, U "'common-name': 'a', 'terminal': ''",
                   "terminal must have 1 to 255 characters, not 0");

    f = g_strdup_printf(U "'subject': 'CN=%s'", long_dn);
    assert_refused(qts, f, "1 to 1024 bytes, not 1103");
    g_free(f);
    f = g_strdup_printf(U "'common-name': '%s'", long_cn);
    assert_refused(qts, f, "common-name is too long");
    g_free(f);
    f = g_strdup_printf("'common-name': 'a', 'user': '%s'", long_user);
    assert_refused(qts, f, "user is too long");
    g_free(f);

    big = g_string_new(U "'subject': '");
    for (i = 0; i < 65; i++) {
        g_string_append_printf(big, "%sOU=%d", i ? "," : "", i);
    }
    g_string_append_c(big, '\'');
    assert_refused(qts, big->str, "more than 64 attributes");
    g_string_free(big, true);

    resp = qtest_qmp(qts,
        "{ 'execute': 'vdi-identity-map-set', 'arguments': { 'mappings': ["
        "  { 'id': 'a', 'common-name': 'a', 'user': 'u' },"
        "  { 'id': 'a', 'common-name': 'b', 'user': 'u' } ] } }");
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(resp, "error"),
                                          "desc"), "'a' is used twice"));
    qobject_unref(resp);

    big = g_string_new("{ 'mappings': [");
    for (i = 0; i < 16385; i++) {
        g_string_append_printf(big, "%s{ 'id': 'm%d', 'common-name': 'c%d',"
                               " 'user': 'u' }", i ? "," : "", i, i);
    }
    g_string_append(big, "] }");
    resp = map_set(qts, big->str);
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(resp, "error"),
                                          "desc"), "more than 16384"));
    qobject_unref(resp);
    g_string_free(big, true);

    /* the map in force stayed; a bad name in a lookup is an error too */
    assert_lookup(qts, "O=St. Mary Hospital,OU=ICU,CN=dr-lee", NULL, "lee");
    resp = qtest_qmp(qts, "{ 'execute': 'query-vdi-identity', 'arguments':"
                     "  { 'subject': 'CN=a', 'issuer': 'no name' } }");
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(resp, "error"),
                                          "desc"), "expected type=value"));
    qobject_unref(resp);
    qtest_quit(qts);
}

/* The ids of the mappings of the vdi-identity-map object at @path */
static char *object_mappings(QTestState *qts, const char *path)
{
    QList *map = qobject_to(QList, vdi_qom_get(qts, path, "mappings"));
    GString *ids = g_string_new("");
    QListEntry *e;

    QLIST_FOREACH_ENTRY(map, e) {
        g_string_append_printf(ids, "%s%s", ids->len ? " " : "",
            qdict_get_str(qobject_to(QDict, qlist_entry_obj(e)), "id"));
    }
    qobject_unref(map);
    return g_string_free(ids, false);
}

static void assert_object_mappings(QTestState *qts, const char *path,
                                   const char *want)
{
    g_autofree char *got = object_mappings(qts, path);

    g_assert_cmpstr(got, ==, want);
}

/*
 * The map is a vdi-identity-map object: created on the command line,
 * read with qom-get, replaced with qom-set or vdi-identity-map-set
 * (all or nothing), one per VM; deleted, the VM has no map until the
 * command makes a new one.
 */
static void test_map_object(void)
{
    QTestState *qts = qtest_init("-machine none -object "
        "\"{'qom-type': 'vdi-identity-map', 'id': 'idm', 'mappings': ["
        "  {'id': 'lee', 'common-name': 'dr-lee', 'user': 'Dr. Lee'}]}\"");

    assert_lookup(qts, "CN=dr-lee", NULL, "lee");
    assert_object_mappings(qts, "/objects/idm", "lee");

    qtest_qmp_assert_success(qts, "{ 'execute': 'qom-set', 'arguments': {"
        "  'path': '/objects/idm', 'property': 'mappings', 'value': ["
        "    { 'id': 'chen', 'common-name': 'nurse-chen',"
        "      'user': 'Nurse Chen' } ] } }");
    assert_lookup(qts, "CN=dr-lee", NULL, NULL);
    assert_lookup(qts, "CN=nurse-chen", NULL, "chen");
    qmp_expect_error(qts, "mapping 'x' needs either subject or common-name",
                     "{ 'execute': 'qom-set', 'arguments': {"
                     "  'path': '/objects/idm', 'property': 'mappings',"
                     "  'value': [ { 'id': 'x', 'user': 'X' } ] } }");
    assert_object_mappings(qts, "/objects/idm", "chen");

    /* the command replaces the object's map */
    qtest_qmp_assert_success(qts, good_map);
    assert_object_mappings(qts, "/objects/idm", "lee chen wang");

    qmp_expect_error(qts, "the VM already has an identity map, 'idm'",
                     "{ 'execute': 'object-add', 'arguments': {"
                     "  'qom-type': 'vdi-identity-map', 'id': 'idm2' } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'object-del',"
                             "  'arguments': { 'id': 'idm' } }");
    assert_lookup(qts, "O=St. Mary Hospital,OU=ICU,CN=dr-lee", NULL, NULL);
    qtest_qmp_assert_success(qts, good_map);
    assert_object_mappings(qts, "/objects/identity-map", "lee chen wang");
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/vdi-identity/match", test_match);
    qtest_add_func("/vdi-identity/hostile", test_hostile);
    qtest_add_func("/vdi-identity/object", test_map_object);
    return g_test_run();
}
