/*
 * QTest for VDI session zones: vdi-zone-set, query-vdi-zone,
 * vdi-zone-dry-run and VDI_ZONE_CHANGED, and zones applied to real VNC
 * clients (gvnc) connecting from a "hospital" and an "internet" address
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qlist.h"
#include "qobject/qstring.h"
#include "vdi-qmp-util.h"
#include "vdi-gvnc-client.h"

#define TIMEOUT_S 30

/*
 * 127.0.0.1 is the hospital, the rest of 127/8 the internet; terminals
 * named icu-* form a zone of their own, and bob is always in the
 * hospital.  Without a client the VM is locked.
 */
#define ZONES \
    "'zones': [" \
    "  { 'name': 'hospital', 'printing': true," \
    "    'display': { 'profile': 'lan' }," \
    "    'usb': { 'rules': [ { 'id': 'storage', 'action': 'read-only'," \
    "                          'iface-class': 8 } ], 'default': 'allow' }," \
    "    'firewall': [ { 'filter': 'fw0', 'sets': [" \
    "      { 'name': 'zone-peers', 'addresses': [ '10.0.0.0/8' ] } ] } ]," \
    "    'clipboard': { 'direction': 'both' }," \
    "    'file-transfer': { 'direction': 'both' } }," \
    "  { 'name': 'internet'," \
    "    'display': { 'profile': 'wan', 'max-bandwidth': 2000000 }," \
    "    'usb': { 'rules': [ { 'id': 'storage', 'action': 'deny'," \
    "                          'iface-class': 8 } ], 'default': 'allow' }," \
    "    'firewall': [ { 'filter': 'fw0', 'sets': [" \
    "      { 'name': 'zone-peers', 'addresses': [] } ] } ]," \
    "    'clipboard': { 'direction': 'client-to-guest'," \
    "                   'types': [ 'text' ], 'max-size': 65536 }," \
    "    'file-transfer': { 'direction': 'client-to-guest' } }," \
    "  { 'name': 'icu', 'printing': true }," \
    "  { 'name': 'locked', 'display': { 'profile': 'off' }," \
    "    'usb': { 'rules': [], 'default': 'deny' }," \
    "    'firewall': [ { 'filter': 'fw0', 'sets': [" \
    "      { 'name': 'zone-peers', 'addresses': [] } ] } ]," \
    "    'clipboard': { 'direction': 'none' }," \
    "    'file-transfer': { 'direction': 'none' } } ]," \
    "'rules': [" \
    "  { 'id': 'icu-terminals', 'zone': 'icu', 'terminal-name': 'icu-*' }," \
    "  { 'id': 'staff-cert', 'zone': 'hospital'," \
    "    'subject': '*O=General Hospital*' }," \
    "  { 'id': 'hospital-net', 'zone': 'hospital'," \
    "    'addresses': [ '127.0.0.1', 'fd00::/8' ] }," \
    "  { 'id': 'internet', 'zone': 'internet'," \
    "    'addresses': [ '0.0.0.0/0', '::/0' ] } ]," \
    "'users': [ { 'user': 'bob', 'zone': 'hospital' } ]," \
    "'default': 'internet', 'baseline': 'locked'"

static QTestState *start(const char *extra)
{
    /* printers that are not listening: the chardev keeps retrying */
    QTestState *qts = qtest_initf(
        "-machine pc -device qemu-xhci,id=xhci "
        "-netdev hubport,id=n0,hubid=0 "
        "-object filter-firewall,id=fw0,netdev=n0 %s", extra);

    qtest_qmp_assert_success(qts,
        "{ 'execute': 'vdi-printer-map-set', 'arguments': { 'mappings': ["
        "  { 'id': 'ward', 'terminal-address': '127.0.0.1',"
        "    'printer': { 'name': 'Ward 3', 'host': '127.0.0.1',"
        "                 'port': 9, 'ieee1284-id': 'MFG:HP;MDL:Ward;' } },"
        "  { 'id': 'lobby', 'terminal-address': '127.0.0.0/8',"
        "    'printer': { 'name': 'Lobby', 'host': '127.0.0.1',"
        "                 'port': 9, 'ieee1284-id': 'MFG:HP;MDL:Lobby;' } }"
        "] } }");
    return qts;
}

static void set_zones(QTestState *qts)
{
    qtest_qmp_assert_success(qts, "{ 'execute': 'vdi-zone-set',"
                             "  'arguments': { " ZONES " } }");
}

/* The next VDI_ZONE_CHANGED: its zone, old zone, reason and rule */
static QDict *expect_zone(QTestState *qts, const char *old, const char *zone,
                          const char *reason, const char *rule)
{
    QDict *ev = qtest_qmp_eventwait_ref(qts, "VDI_ZONE_CHANGED");
    QDict *data = qdict_get_qdict(ev, "data");

    qobject_ref(data);
    qobject_unref(ev);
    g_assert_cmpstr(qdict_get_try_str(data, "old-zone"), ==, old);
    g_assert_cmpstr(qdict_get_str(data, "zone"), ==, zone);
    g_assert_cmpstr(qdict_get_str(data, "reason"), ==, reason);
    g_assert_cmpstr(qdict_get_try_str(data, "rule"), ==, rule);
    return data;
}

/* Are all pieces of @data (an event or query-vdi-zone) applied? */
static void assert_all_applied(QDict *data, int n)
{
    QList *pieces = qdict_get_qlist(data, "pieces");
    QListEntry *e;

    g_assert_cmpint(qlist_size(pieces), ==, n);
    QLIST_FOREACH_ENTRY(pieces, e) {
        QDict *p = qobject_to(QDict, qlist_entry_obj(e));

        if (!qdict_get_bool(p, "applied")) {
            g_error("%s not applied: %s", qdict_get_str(p, "piece"),
                    qdict_get_try_str(p, "error"));
        }
    }
}

static QDict *piece(QDict *data, const char *name)
{
    QListEntry *e;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(data, "pieces"), e) {
        QDict *p = qobject_to(QDict, qlist_entry_obj(e));

        if (!strcmp(qdict_get_str(p, "piece"), name)) {
            return p;
        }
    }
    return NULL;
}

static void expect_printer(QTestState *qts, bool attached, const char *mapping)
{
    QDict *ev = qtest_qmp_eventwait_ref(qts, "VDI_SESSION_PRINTER");
    QDict *data = qdict_get_qdict(ev, "data");

    g_assert_cmpint(qdict_get_bool(data, "attached"), ==, attached);
    g_assert_cmpstr(qdict_get_str(data, "mapping"), ==, mapping);
    qobject_unref(ev);
}

/* The session's printer mapping, or NULL without a printer */
static char *session_printer(QTestState *qts)
{
    QDict *info = qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'query-vdi-session' }");
    char *mapping = g_strdup(qdict_get_try_str(info, "mapping"));
    g_autofree char *usb = qtest_hmp(qts, "info usb");

    /* the printer device exists exactly when the session has one */
    g_assert_cmpint(!!strstr(usb, "QEMU USB Printer"), ==, !!mapping);
    qobject_unref(info);
    return mapping;
}

/* USB policy in force: "<default> <action of rule 'storage' or ->" */
static char *usb_policy(QTestState *qts)
{
    QDict *p = qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'query-usb-policy' }");
    QList *rules = qdict_get_qlist(p, "rules");
    QDict *r = qlist_empty(rules) ? NULL :
        qobject_to(QDict, qlist_peek(rules));
    char *s = g_strdup_printf("%s %s", qdict_get_str(p, "default"),
                              r ? qdict_get_str(r, "action") : "-");

    qobject_unref(p);
    return s;
}

/* Addresses of address set zone-peers of fw0, joined with ' ' */
static char *zone_peers(QTestState *qts)
{
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'query-firewall',"
                            "  'arguments': { 'filter': 'fw0' } }");
    QDict *fw = qobject_to(QDict, qlist_peek(qdict_get_qlist(resp,
                                                             "return")));
    GString *s = g_string_new("");
    QListEntry *e, *a;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(fw, "sets"), e) {
        QDict *set = qobject_to(QDict, qlist_entry_obj(e));

        if (!strcmp(qdict_get_str(set, "name"), "zone-peers")) {
            QLIST_FOREACH_ENTRY(qdict_get_qlist(set, "addresses"), a) {
                g_string_append_printf(s, "%s%s", s->len ? " " : "",
                    qstring_get_str(qobject_to(QString, qlist_entry_obj(a))));
            }
        }
    }
    qobject_unref(resp);
    return g_string_free(s, false);
}

/* A command put together as text: QMP's %s would quote the text */
static QDict *G_GNUC_PRINTF(2, 0) vqmp_text(QTestState *qts, const char *fmt,
                                            va_list ap)
{
    g_autofree char *text = g_strdup_vprintf(fmt, ap);
    QObject *cmd = qobject_from_json(text, &error_abort);

    return qtest_qmp(qts, "%p", cmd);
}

static QDict *G_GNUC_PRINTF(2, 3) qmp_text(QTestState *qts,
                                           const char *fmt, ...)
{
    va_list ap;
    QDict *resp;

    va_start(ap, fmt);
    resp = vqmp_text(qts, fmt, ap);
    va_end(ap);
    return resp;
}

static void G_GNUC_PRINTF(3, 4) assert_error(QTestState *qts,
                                             const char *part,
                                             const char *fmt, ...)
{
    va_list ap;
    QDict *resp;

    va_start(ap, fmt);
    resp = vqmp_text(qts, fmt, ap);
    va_end(ap);
    qmp_assert_error_says(resp, part);
}

static void test_set_checked(void)
{
    QTestState *qts = start("");
    QDict *info, *ev;
    g_autofree char *usb0 = NULL;
    g_autofree char *usb1 = NULL;
    g_autofree char *peers = NULL;

    static const struct {
        const char *error;
        const char *args;
    } bad[] = {
        { "no zone 'mars'",
          "'zones': [ { 'name': 'a' } ], 'rules': [ { 'id': 'r',"
          "  'zone': 'mars', 'subject': 'x' } ], 'default': 'a',"
          "'baseline': 'a'" },
        { "given twice",
          "'zones': [ { 'name': 'a' }, { 'name': 'a' } ], 'rules': [],"
          "'default': 'a', 'baseline': 'a'" },
        { "prefix length",
          "'zones': [ { 'name': 'a' } ], 'rules': [ { 'id': 'r',"
          "  'zone': 'a', 'addresses': [ '10.0.0.0/40' ] } ],"
          "'default': 'a', 'baseline': 'a'" },
        { "empty list of addresses",
          "'zones': [ { 'name': 'a' } ], 'rules': [ { 'id': 'r',"
          "  'zone': 'a', 'addresses': [] } ],"
          "'default': 'a', 'baseline': 'a'" },
        { "no criterion",
          "'zones': [ { 'name': 'a' } ], 'rules': [ { 'id': 'r',"
          "  'zone': 'a' } ], 'default': 'a', 'baseline': 'a'" },
        { "baseline: no zone 'b'",
          "'zones': [ { 'name': 'a' } ], 'rules': [],"
          "'default': 'a', 'baseline': 'b'" },
        { "vm-override: no zone",
          "'zones': [ { 'name': 'a' } ], 'rules': [], 'default': 'a',"
          "'baseline': 'a', 'vm-override': 'b'" },
        { "zone 'a': 'max-fps'",
          "'zones': [ { 'name': 'a', 'display': { 'profile': 'wan',"
          "  'max-fps': 500 } } ], 'rules': [], 'default': 'a',"
          "'baseline': 'a'" },
        { "below 'jpeg-quality-min'",
          "'zones': [ { 'name': 'a', 'display': { 'profile': 'wan',"
          "  'jpeg-quality-min': 80, 'jpeg-quality-max': 50 } } ],"
          "'rules': [], 'default': 'a', 'baseline': 'a'" },
        { "zone 'a': ",
          "'zones': [ { 'name': 'a', 'usb': { 'rules': ["
          "  { 'id': 'x', 'action': 'deny' }, { 'id': 'x', 'action': 'deny' }"
          "  ], 'default': 'deny' } } ], 'rules': [], 'default': 'a',"
          "'baseline': 'a'" },
        { "no filter-firewall 'fw9'",
          "'zones': [ { 'name': 'a', 'firewall': [ { 'filter': 'fw9',"
          "  'sets': [] } ] } ], 'rules': [], 'default': 'a',"
          "'baseline': 'a'" },
        { "address set 'x'",
          "'zones': [ { 'name': 'a', 'firewall': [ { 'filter': 'fw0',"
          "  'sets': [ { 'name': 'x', 'addresses': [ 'nope' ] } ] } ] } ],"
          "'rules': [], 'default': 'a', 'baseline': 'a'" },
        { "clipboard does not carry type 'file'",
          "'zones': [ { 'name': 'a', 'clipboard': { 'direction': 'both',"
          "  'types': [ 'file' ] } } ], 'rules': [], 'default': 'a',"
          "'baseline': 'a'" },
        { "MAC",
          "'zones': [ { 'name': 'a' } ], 'rules': [ { 'id': 'r',"
          "  'zone': 'a', 'terminal-mac': '52:54' } ], 'default': 'a',"
          "'baseline': 'a'" },
        { "user 'bob' is given twice",
          "'zones': [ { 'name': 'a' } ], 'rules': [], 'default': 'a',"
          "'baseline': 'a', 'users': [ { 'user': 'bob', 'zone': 'a' },"
          "  { 'user': 'bob', 'zone': 'a' } ]" },
    };
    size_t i;

    usb0 = usb_policy(qts);
    for (i = 0; i < ARRAY_SIZE(bad); i++) {
        assert_error(qts, bad[i].error, "{ 'execute': 'vdi-zone-set',"
                     "  'arguments': { %s } }", bad[i].args);
    }
    /* Nothing changed */
    info = qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'query-vdi-zone' }");
    g_assert_false(qdict_get_bool(info, "enabled"));
    g_assert_false(qdict_haskey(info, "zone"));
    qobject_unref(info);
    g_assert_cmpstr(usb_policy(qts), ==, usb0);
    g_assert_false(qtest_qmp_event_ref(qts, "VDI_ZONE_CHANGED"));

    /* Without a client, the baseline applies at once */
    set_zones(qts);
    ev = expect_zone(qts, NULL, "locked", "baseline", NULL);
    g_assert_false(qdict_haskey(ev, "connection"));
    assert_all_applied(ev, 6);
    qobject_unref(ev);
    usb1 = usb_policy(qts);
    g_assert_cmpstr(usb1, ==, "deny -");
    info = qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'query-vdi-zone' }");
    g_assert_true(qdict_get_bool(info, "enabled"));
    g_assert_cmpstr(qdict_get_str(info, "zone"), ==, "locked");
    g_assert_cmpstr(qdict_get_str(info, "reason"), ==, "baseline");
    assert_all_applied(info, 6);
    qobject_unref(info);

    /* A failed set keeps the zones in force */
    assert_error(qts, "no zone 'mars'", "{ 'execute': 'vdi-zone-set',"
                 "  'arguments': { 'zones': [ { 'name': 'a' } ],"
                 "  'rules': [], 'default': 'mars', 'baseline': 'a' } }");
    info = qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'vdi-zone-dry-run', 'arguments': {"
        "  'address': '10.1.1.1' } }");
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(info, "zone"), "name"), ==,
                    "internet");
    qobject_unref(info);
    peers = zone_peers(qts);
    g_assert_cmpstr(peers, ==, "");
    qtest_quit(qts);
}

static void dry_run(QTestState *qts, const char *args, const char *zone,
                    const char *reason, const char *rule)
{
    QDict *resp = qmp_text(qts, "{ 'execute': 'vdi-zone-dry-run',"
                           "  'arguments': { %s } }", args);
    QDict *d = qdict_get_qdict(resp, "return");

    g_assert_nonnull(d);
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(d, "zone"), "name"), ==,
                    zone);
    g_assert_cmpstr(qdict_get_str(d, "reason"), ==, reason);
    g_assert_cmpstr(qdict_get_try_str(d, "rule"), ==, rule);
    qobject_unref(resp);
}

static void test_dry_run(void)
{
    QTestState *qts = start("");
    QDict *d;

    assert_error(qts, "zones are off",
                 "{ 'execute': 'vdi-zone-dry-run', 'arguments': {} }");
    set_zones(qts);
    qobject_unref(expect_zone(qts, NULL, "locked", "baseline", NULL));

    dry_run(qts, "'address': '127.0.0.1'", "hospital", "rule",
            "hospital-net");
    dry_run(qts, "'address': '127.0.0.2'", "internet", "rule", "internet");
    dry_run(qts, "'address': 'fd00::7'", "hospital", "rule", "hospital-net");
    dry_run(qts, "'address': '::ffff:127.0.0.1'", "hospital", "rule",
            "hospital-net");
    dry_run(qts, "'address': '127.0.0.2', 'terminal-name': 'ICU-bed4'",
            "icu", "rule", "icu-terminals");
    dry_run(qts, "'address': '127.0.0.2',"
            "'subject': 'CN=alice,O=General Hospital,C=DE',"
            "'issuer': 'CN=CA'", "hospital", "rule", "staff-cert");
    dry_run(qts, "'address': '127.0.0.2', 'user': 'bob'", "hospital",
            "user", NULL);
    dry_run(qts, "'user': 'alice'", "internet", "default", NULL);

    /* The bundle comes with the answer */
    d = qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'vdi-zone-dry-run', 'arguments': {"
        "  'address': '127.0.0.2' } }");
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(qdict_get_qdict(d, "zone"),
                                                  "display"), "profile"),
                    ==, "wan");
    qobject_unref(d);

    assert_error(qts, "prefix", "{ 'execute': 'vdi-zone-dry-run',"
                 "  'arguments': { 'address': '127.0.0.0/8' } }");
    assert_error(qts, "MAC", "{ 'execute': 'vdi-zone-dry-run',"
                 "  'arguments': { 'terminal-mac': 'x' } }");

    /* The VM override beats the user's zone; nothing was applied */
    qtest_qmp_assert_success(qts, "{ 'execute': 'vdi-zone-set',"
                             "  'arguments': { " ZONES ","
                             "  'vm-override': 'internet' } }");
    qobject_unref(expect_zone(qts, "locked", "locked", "baseline", NULL));
    dry_run(qts, "'address': '127.0.0.1', 'user': 'bob'", "internet",
            "vm-override", NULL);
    g_assert_false(qtest_qmp_event_ref(qts, "VDI_ZONE_CHANGED"));
    qtest_quit(qts);
}

/* Orchestration moves the session to a named terminal */
static void test_terminal_move(void)
{
    QTestState *qts = start("");
    QDict *ev;

    set_zones(qts);
    qobject_unref(expect_zone(qts, NULL, "locked", "baseline", NULL));
    qtest_qmp_assert_success(qts,
        "{ 'execute': 'vdi-session-connect', 'arguments': {"
        "  'terminal': { 'address': '127.0.0.2', 'name': 'icu-bed1' } } }");
    ev = expect_zone(qts, "locked", "icu", "rule", "icu-terminals");
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(ev, "connection"),
                                  "terminal-name"), ==, "icu-bed1");
    qobject_unref(ev);
    /* icu prints: the session plugged in the terminal's printer */
    expect_printer(qts, true, "lobby");

    /* the same terminal address, another name: internet, no printer */
    qtest_qmp_assert_success(qts,
        "{ 'execute': 'vdi-session-connect', 'arguments': {"
        "  'terminal': { 'address': '127.0.0.2', 'name': 'cafe-3' } } }");
    qobject_unref(expect_zone(qts, "icu", "internet", "rule", "internet"));
    expect_printer(qts, false, "lobby");
    g_assert_null(session_printer(qts));
    qtest_quit(qts);
}

/* A real VNC client (gvnc) from @source to the server on @port */
static GvncClient *client_connect(int port, const char *source)
{
    struct sockaddr_in src = { .sin_family = AF_INET };
    struct sockaddr_in dst = {
        .sin_family = AF_INET,
        .sin_port = htons(port),
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    GvncClient *c = g_new0(GvncClient, 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    g_assert_cmpint(inet_pton(AF_INET, source, &src.sin_addr), ==, 1);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&src, sizeof(src)), ==, 0);
    g_assert_cmpint(connect(fd, (struct sockaddr *)&dst, sizeof(dst)), ==,
                    0);
    gvnc_client_new(c);
    vnc_connection_set_auth_type(c->conn, VNC_CONNECTION_AUTH_NONE);
    /* clients from both zones at once */
    vnc_connection_set_shared(c->conn, true);
    vnc_connection_open_fd(c->conn, fd);
    gvnc_wait(gvnc_client_ready, c, TIMEOUT_S * 1000,
              "the VNC client did not start");
    return c;
}

static void client_close(GvncClient *c)
{
    gvnc_client_close(c);
    g_free(c);
}

/* query-display-clients: "<configured profile> <max-bandwidth>" */
static char *display_of(QTestState *qts, const char *host)
{
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'query-display-clients' }");
    QListEntry *e;
    char *s = NULL;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(resp, "return"), e) {
        QDict *ci = qobject_to(QDict, qlist_entry_obj(e));

        if (!strcmp(qdict_get_str(ci, "host"), host)) {
            s = g_strdup_printf("%s %" PRId64,
                                qdict_get_str(ci, "configured"),
                                qdict_get_int(ci, "max-bandwidth"));
        }
    }
    qobject_unref(resp);
    return s;
}

/* Directions of clipboard and file transfer: "<clipboard> <file>" */
static char *transfer_policy(QTestState *qts)
{
    QDict *p = qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'query-vdi-transfer-policy' }");
    char *s = g_strdup_printf("%s %s",
        qdict_get_str(qdict_get_qdict(p, "clipboard"), "direction"),
        qdict_get_str(qdict_get_qdict(p, "file-transfer"), "direction"));

    qobject_unref(p);
    return s;
}

/* Everything a zone sets but the display, at once */
static void assert_state(QTestState *qts, const char *usb,
                         const char *printer, const char *peers,
                         const char *transfer)
{
    g_autofree char *u = usb_policy(qts);
    g_autofree char *p = session_printer(qts);
    g_autofree char *f = zone_peers(qts);
    g_autofree char *t = transfer_policy(qts);

    g_assert_cmpstr(u, ==, usb);
    g_assert_cmpstr(p, ==, printer);
    g_assert_cmpstr(f, ==, peers);
    g_assert_cmpstr(t, ==, transfer);
}

static void test_vnc_clients(void)
{
    QTestState *qts = start("-vnc 127.0.0.1:0,to=99");
    QDict *vnc, *ev, *conn;
    GvncClient *hospital, *internet;
    g_autofree char *d1 = NULL;
    g_autofree char *d2 = NULL;
    g_autofree char *d3 = NULL;
    int port;

    vnc = qtest_qmp_assert_success_ref(qts, "{ 'execute': 'query-vnc' }");
    port = atoi(qdict_get_str(vnc, "service"));
    qobject_unref(vnc);
    set_zones(qts);
    qobject_unref(expect_zone(qts, NULL, "locked", "baseline", NULL));
    assert_state(qts, "deny -", NULL, "", "none none");

    /*
     * From the hospital: lan, read-only storage, the ward's printer.  The
     * session plugs the printer in before the zone is reported applied.
     */
    hospital = client_connect(port, "127.0.0.1");
    expect_printer(qts, true, "ward");
    ev = expect_zone(qts, "locked", "hospital", "rule", "hospital-net");
    conn = qdict_get_qdict(ev, "connection");
    g_assert_cmpstr(qdict_get_str(conn, "address"), ==, "127.0.0.1");
    g_assert_true(g_str_has_prefix(qdict_get_str(conn, "client"), "vnc:"));
    assert_all_applied(ev, 6);
    qobject_unref(ev);
    assert_state(qts, "allow read-only", "ward", "10.0.0.0/8", "both both");
    d1 = display_of(qts, "127.0.0.1");
    g_assert_cmpstr(d1, ==, "lan 0");

    /* The same user from the internet: everything switches in one step */
    internet = client_connect(port, "127.0.0.2");
    expect_printer(qts, false, "ward");
    ev = expect_zone(qts, "hospital", "internet", "rule", "internet");
    assert_all_applied(ev, 6);
    qobject_unref(ev);
    assert_state(qts, "allow deny", NULL, "",
                 "client-to-guest client-to-guest");
    d2 = display_of(qts, "127.0.0.2");
    g_assert_cmpstr(d2, ==, "wan 2000000");
    ev = qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'query-vdi-zone' }");
    g_assert_cmpstr(qdict_get_str(ev, "zone"), ==, "internet");
    g_assert_cmpstr(qdict_get_str(ev, "rule"), ==, "internet");
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(ev, "connection"),
                                  "address"), ==, "127.0.0.2");
    assert_all_applied(ev, 6);
    qobject_unref(ev);

    /* When it leaves, the hospital client is the connection again */
    client_close(internet);
    expect_printer(qts, true, "ward");
    qobject_unref(expect_zone(qts, "internet", "hospital", "rule",
                              "hospital-net"));
    assert_state(qts, "allow read-only", "ward", "10.0.0.0/8", "both both");

    /* and without a client, the baseline */
    client_close(hospital);
    expect_printer(qts, false, "ward");
    qobject_unref(expect_zone(qts, "hospital", "locked", "baseline", NULL));
    assert_state(qts, "deny -", NULL, "", "none none");
    d3 = display_of(qts, "127.0.0.1");
    g_assert_null(d3);

    /* Reconnecting from the internet */
    internet = client_connect(port, "127.0.0.2");
    qobject_unref(expect_zone(qts, "locked", "internet", "rule",
                              "internet"));
    assert_state(qts, "allow deny", NULL, "",
                 "client-to-guest client-to-guest");
    client_close(internet);
    qobject_unref(expect_zone(qts, "internet", "locked", "baseline", NULL));
    qtest_quit(qts);
}

/*
 * A piece that cannot be applied is reported, and the strict setting
 * stays: without a USB bus for the printer there is no printer, and a
 * display limit the clients' configuration refuses is reported.
 */
static void test_apply_failures(void)
{
    QTestState *qts = qtest_init("-machine pc -vnc 127.0.0.1:0,to=99");
    QDict *vnc, *ev, *p;
    GvncClient *c;
    int port;

    vnc = qtest_qmp_assert_success_ref(qts, "{ 'execute': 'query-vnc' }");
    port = atoi(qdict_get_str(vnc, "service"));
    qobject_unref(vnc);
    qtest_qmp_assert_success(qts,
        "{ 'execute': 'vdi-printer-map-set', 'arguments': { 'mappings': ["
        "  { 'id': 'ward', 'terminal-address': '127.0.0.1',"
        "    'printer': { 'name': 'Ward 3', 'host': '127.0.0.1',"
        "                 'port': 9, 'ieee1284-id': 'MFG:HP;MDL:Ward;' } }"
        "] } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'vdi-zone-set', 'arguments': {"
        "  'zones': [ { 'name': 'ward', 'printing': true,"
        "               'display': { 'profile': 'wan',"
        "                            'jpeg-quality-min': 95 } },"
        "             { 'name': 'none' } ],"
        "  'rules': [], 'default': 'ward', 'baseline': 'none' } }");
    qobject_unref(expect_zone(qts, NULL, "none", "baseline", NULL));

    c = client_connect(port, "127.0.0.1");
    ev = expect_zone(qts, "none", "ward", "default", NULL);
    p = piece(ev, "printing");
    g_assert_false(qdict_get_bool(p, "applied"));
    g_assert_true(qdict_get_bool(p, "fail-closed"));
    g_assert_nonnull(strstr(qdict_get_str(p, "error"), "Ward 3"));
    p = piece(ev, "display");
    g_assert_false(qdict_get_bool(p, "applied"));
    g_assert_false(qdict_get_bool(p, "fail-closed"));
    g_assert_nonnull(strstr(qdict_get_str(p, "error"), "jpeg-quality"));
    qobject_unref(ev);
    g_assert_false(qtest_qmp_event_ref(qts, "VDI_SESSION_PRINTER"));
    ev = qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'query-vdi-zone' }");
    g_assert_false(qdict_get_bool(piece(ev, "printing"), "applied"));
    qobject_unref(ev);
    client_close(c);
    qobject_unref(expect_zone(qts, "ward", "none", "baseline", NULL));
    qtest_quit(qts);
}

static void assert_object_zone(QTestState *qts, const char *path,
                               const char *zone)
{
    QDict *state = qobject_to(QDict, vdi_qom_get(qts, path, "state"));

    g_assert_true(qdict_get_bool(state, "enabled"));
    g_assert_cmpstr(qdict_get_str(state, "zone"), ==, zone);
    qobject_unref(state);
}

/*
 * The zones are a vdi-zones object: created on the command line (after
 * the filters its bundles name, and applied at once), read with
 * qom-get, changed with qom-set (all or nothing, applied at once) or
 * vdi-zone-set, one per VM, not deleted while the session is connected;
 * deleted, zones are off until vdi-zone-set makes a new one.
 */
static void test_zones_object(void)
{
    QTestState *qts = start("-object \"{'qom-type': 'vdi-zones',"
                            " 'id': 'z0', " ZONES "}\"");
    g_autofree char *baseline = NULL;
    g_autofree char *dflt = NULL;
    QDict *info;

    assert_object_zone(qts, "/objects/z0", "locked");
    info = qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'query-vdi-zone' }");
    g_assert_cmpstr(qdict_get_str(info, "zone"), ==, "locked");
    qobject_unref(info);

    qtest_qmp_assert_success(qts, "{ 'execute': 'qom-set', 'arguments': {"
        "  'path': '/objects/z0', 'property': 'baseline',"
        "  'value': 'hospital' } }");
    qobject_unref(expect_zone(qts, "locked", "hospital", "baseline", NULL));
    assert_object_zone(qts, "/objects/z0", "hospital");
    qmp_expect_error(qts, "default: no zone 'nowhere'",
                     "{ 'execute': 'qom-set', 'arguments': {"
                     "  'path': '/objects/z0', 'property': 'default',"
                     "  'value': 'nowhere' } }");
    dflt = vdi_qom_get_str(qts, "/objects/z0", "default");
    g_assert_cmpstr(dflt, ==, "internet");

    /* the command changes the object's zones */
    set_zones(qts);
    qobject_unref(expect_zone(qts, "hospital", "locked", "baseline", NULL));
    baseline = vdi_qom_get_str(qts, "/objects/z0", "baseline");
    g_assert_cmpstr(baseline, ==, "locked");
    assert_error(qts, "the VM already has zones, 'z0'",
                 "{ 'execute': 'object-add', 'arguments': {"
                 "  'qom-type': 'vdi-zones', 'id': 'z1', " ZONES " } }");

    /* kept while the session is connected */
    qtest_qmp_assert_success(qts,
        "{ 'execute': 'vdi-session-connect', 'arguments': {"
        "  'terminal': { 'address': '127.0.0.1' } } }");
    qobject_unref(expect_zone(qts, "locked", "hospital", "rule",
                              "hospital-net"));
    expect_printer(qts, true, "ward");
    qmp_expect_error(qts, "is in use, can not be deleted",
                     "{ 'execute': 'object-del',"
                     "  'arguments': { 'id': 'z0' } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'vdi-session-disconnect' }");
    expect_printer(qts, false, "ward");
    qtest_qmp_assert_success(qts, "{ 'execute': 'object-del',"
                             "  'arguments': { 'id': 'z0' } }");
    info = qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'query-vdi-zone' }");
    g_assert_false(qdict_get_bool(info, "enabled"));
    qobject_unref(info);

    /* the terminal orchestration gave is still the connection */
    set_zones(qts);
    assert_object_zone(qts, "/objects/zones", "hospital");
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/vdi-zone/set-checked", test_set_checked);
    qtest_add_func("/vdi-zone/dry-run", test_dry_run);
    qtest_add_func("/vdi-zone/terminal-move", test_terminal_move);
    qtest_add_func("/vdi-zone/vnc-clients", test_vnc_clients);
    qtest_add_func("/vdi-zone/apply-failures", test_apply_failures);
    qtest_add_func("/vdi-zone/object", test_zones_object);

    return g_test_run();
}
