/*
 * QTest for VDI sessions: the nearest printer follows the user
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

static QTestState *start(void)
{
    QTestState *qts = qtest_init("-machine pc -device qemu-xhci,id=xhci");

    /* printers that are not listening: the chardev keeps retrying */
    qtest_qmp_assert_success(qts,
        "{ 'execute': 'vdi-printer-map-set', 'arguments': { 'mappings': ["
        "  { 'id': 'ward3', 'terminal-address': '10.20.3.0/24',"
        "    'printer': { 'name': 'Ward 3', 'host': '127.0.0.1',"
        "                 'port': 9,"
        "                 'ieee1284-id': 'MFG:HP;MDL:LaserJet 4000;' } },"
        "  { 'id': 'kiosk', 'terminal-name': 'kiosk-*',"
        "    'printer': { 'name': 'Kiosk', 'host': '127.0.0.1',"
        "                 'port': 9,"
        "                 'ieee1284-id': 'MFG:Zebra;MDL:ZD420;' } },"
        "  { 'id': 'desk', 'terminal-mac': '52:54:00:aa:bb:cc',"
        "    'printer': { 'name': 'Desk', 'host': '127.0.0.1',"
        "                 'ieee1284-id': 'MFG:Brother;MDL:HL-L2350DW;' } }"
        "] } }");
    return qts;
}

/* The qdev id of the session's printer device, or NULL if none */
static char *printer_device(QTestState *qts)
{
    QDict *info = qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'query-vdi-session' }");
    char *device = g_strdup(qdict_get_try_str(info, "device"));

    qobject_unref(info);
    return device;
}

/*
 * The 1284 ID of the session's printer device, or NULL if none; the
 * device must exist exactly when the session says it has one.
 */
static char *printer_id(QTestState *qts)
{
    g_autofree char *device = printer_device(qts);
    g_autofree char *path = NULL;
    char *usb;

    if (!device) {
        usb = qtest_hmp(qts, "info usb");
        g_assert_null(strstr(usb, "QEMU USB Printer"));
        g_free(usb);
        return NULL;
    }
    path = g_strdup_printf("/machine/peripheral/%s", device);
    return vdi_qom_get_str(qts, path, "ieee1284-id");
}

static void expect_event(QTestState *qts, bool attached, const char *mapping)
{
    QDict *ev = qtest_qmp_eventwait_ref(qts, "VDI_SESSION_PRINTER");
    QDict *data = qdict_get_qdict(ev, "data");

    g_assert_cmpint(qdict_get_bool(data, "attached"), ==, attached);
    g_assert_cmpstr(qdict_get_str(data, "mapping"), ==, mapping);
    qobject_unref(ev);
}

static void test_printer_follows_terminal(void)
{
    QTestState *qts = start();
    QDict *info;
    g_autofree char *id1 = NULL;
    g_autofree char *id2 = NULL;
    g_autofree char *id3 = NULL;
    g_autofree char *id4 = NULL;

    g_assert_null(printer_id(qts));

    /* a ward terminal gets the ward printer */
    info = qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'vdi-session-connect', 'arguments': {"
        "  'terminal': { 'address': '10.20.3.7', 'name': 'ward3-pc2' } } }");
    g_assert_cmpstr(qdict_get_str(info, "mapping"), ==, "ward3");
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(info, "printer"), "name"),
                    ==, "Ward 3");
    qobject_unref(info);
    expect_event(qts, true, "ward3");
    id1 = printer_id(qts);
    g_assert_cmpstr(id1, ==, "MFG:HP;MDL:LaserJet 4000;");

    /* moving to a kiosk swaps the printer; names match without case */
    info = qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'vdi-session-connect', 'arguments': {"
        "  'terminal': { 'address': '10.30.0.4', 'name': 'KIOSK-12' } } }");
    g_assert_cmpstr(qdict_get_str(info, "mapping"), ==, "kiosk");
    qobject_unref(info);
    expect_event(qts, false, "ward3");
    expect_event(qts, true, "kiosk");
    id2 = printer_id(qts);
    g_assert_cmpstr(id2, ==, "MFG:Zebra;MDL:ZD420;");

    /* a terminal known by its MAC */
    qobject_unref(qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'vdi-session-connect', 'arguments': {"
        "  'terminal': { 'mac': '52:54:00:AA:BB:CC' } } }"));
    expect_event(qts, false, "kiosk");
    expect_event(qts, true, "desk");
    id3 = printer_id(qts);
    g_assert_cmpstr(id3, ==, "MFG:Brother;MDL:HL-L2350DW;");

    /* a terminal no mapping knows: no printer */
    info = qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'vdi-session-connect', 'arguments': {"
        "  'terminal': { 'address': '192.168.7.7' } } }");
    g_assert_false(qdict_haskey(info, "printer"));
    g_assert_true(qdict_get_bool(info, "connected"));
    qobject_unref(info);
    expect_event(qts, false, "desk");
    g_assert_null(printer_id(qts));

    /* back to the ward, then the session ends */
    qobject_unref(qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'vdi-session-connect', 'arguments': {"
        "  'terminal': { 'address': '10.20.3.8' } } }"));
    expect_event(qts, true, "ward3");
    qtest_qmp_assert_success(qts, "{ 'execute': 'vdi-session-disconnect' }");
    expect_event(qts, false, "ward3");
    g_assert_null(printer_id(qts));
    info = qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'query-vdi-session' }");
    g_assert_false(qdict_get_bool(info, "connected"));
    qobject_unref(info);
    id4 = printer_id(qts);
    g_assert_null(id4);
    qtest_quit(qts);
}

/* Set a map of one mapping for terminal-name 'a' with @printer */
#define MAP_ONE(printer) \
    "{ 'execute': 'vdi-printer-map-set', 'arguments': {" \
    "  'mappings': [ { 'id': 'x', 'terminal-name': 'a', 'printer': " \
    printer " } ] } }"

static void test_map_checked(void)
{
    QTestState *qts = start();
    g_autofree char *huge = g_strdup_printf("MFG:HP;MDL:%01048576d;", 0);
    g_autofree char *long_id = g_strdup_printf("MFG:HP;MDL:%02000d;", 0);
    g_autofree char *max_id = g_strdup_printf("MFG:HP;MDL:%01009d;", 0);
    g_autofree char *long_host = g_strdup_printf("%0254d", 0);
    g_autofree char *id = NULL;
    GString *many = g_string_new("[");
    QDict *resp;
    int i;

    /* IEEE 1284 IDs: at most 1021 characters, with a maker and a model */
    qmp_expect_error(qts, "mapping 'x': ieee1284-id is 1048588 characters "
                     "long, at most 1021 are allowed",
                     MAP_ONE("{ 'name': 'P', 'host': 'h', 'ieee1284-id': %s }"),
                     huge);
    qmp_expect_error(qts, "at most 1021 are allowed",
                     MAP_ONE("{ 'name': 'P', 'host': 'h', 'ieee1284-id': %s }"),
                     long_id);
    qmp_expect_error(qts, "mapping 'x': ieee1284-id 'MFG:HP;' lacks a model",
                     MAP_ONE("{ 'name': 'P', 'host': 'h', "
                             "  'ieee1284-id': 'MFG:HP;' }"));
    qmp_expect_error(qts, "lacks a manufacturer",
                     MAP_ONE("{ 'name': 'P', 'host': 'h', "
                             "  'ieee1284-id': 'MODEL:ZD421;' }"));
    qmp_expect_error(qts, "printable ASCII characters only, not 0x0a",
                     MAP_ONE("{ 'name': 'P', 'host': 'h', "
                             "  'ieee1284-id': 'MFG:HP;\\nMDL:X;' }"));
    qmp_expect_error(qts, "is not of the form KEY:value",
                     MAP_ONE("{ 'name': 'P', 'host': 'h', "
                             "  'ieee1284-id': 'HP LaserJet' }"));

    /* printer host, port and name */
    qmp_expect_error(qts, "printer host 'printer one' is neither",
                     MAP_ONE("{ 'name': 'P', 'host': 'printer one', "
                             "  'ieee1284-id': 'MFG:A;MDL:B;' }"));
    qmp_expect_error(qts, "printer host '' is neither",
                     MAP_ONE("{ 'name': 'P', 'host': '', "
                             "  'ieee1284-id': 'MFG:A;MDL:B;' }"));
    qmp_expect_error(qts, "is neither an IP address nor a host name",
                     MAP_ONE("{ 'name': 'P', 'host': '-printer.example', "
                             "  'ieee1284-id': 'MFG:A;MDL:B;' }"));
    qmp_expect_error(qts, "is neither an IP address nor a host name",
                     MAP_ONE("{ 'name': 'P', 'host': %s, "
                             "  'ieee1284-id': 'MFG:A;MDL:B;' }"), long_host);
    qmp_expect_error(qts, "printer port 0 is not a port",
                     MAP_ONE("{ 'name': 'P', 'host': 'h', 'port': 0, "
                             "  'ieee1284-id': 'MFG:A;MDL:B;' }"));
    qmp_expect_error(qts, "the printer name must be UTF-8 of 1 to 128 bytes",
                     MAP_ONE("{ 'name': '', 'host': 'h', "
                             "  'ieee1284-id': 'MFG:A;MDL:B;' }"));

    /* mapping ids and name patterns */
    qmp_expect_error(qts, "mapping: id must have 1 to 64 characters, not 0",
                     "{ 'execute': 'vdi-printer-map-set', 'arguments': {"
                     "  'mappings': [ { 'id': '', 'terminal-name': 'a',"
                     "  'printer': { 'name': 'P', 'host': 'h',"
                     "  'ieee1284-id': 'MFG:A;MDL:B;' } } ] } }");
    qmp_expect_error(qts, "x: terminal-name may hold printable ASCII "
                     "characters "
                     "only, not 0x09",
                     "{ 'execute': 'vdi-printer-map-set', 'arguments': {"
                     "  'mappings': [ { 'id': 'x', 'terminal-name': 'a\\tb',"
                     "  'printer': { 'name': 'P', 'host': 'h',"
                     "  'ieee1284-id': 'MFG:A;MDL:B;' } } ] } }");

    /* at most 4096 mappings */
    for (i = 0; i < 4097; i++) {
        g_string_append_printf(many, "%s{ 'id': 'm%d', 'terminal-name': 'a',"
                               " 'printer': { 'name': 'P', 'host': 'h',"
                               " 'ieee1284-id': 'MFG:A;MDL:B;' } }",
                               i ? "," : "", i);
    }
    g_string_append(many, "]");
    qmp_expect_error(qts, "the printer map has more than 4096 mappings",
                     "{ 'execute': 'vdi-printer-map-set', 'arguments': {"
                     "  'mappings': %p } }",
                     qobject_from_json(many->str, &error_abort));
    g_string_free(many, true);

    /* the map in force is still the one set by start() */
    resp = qtest_qmp(qts, "{ 'execute': 'query-vdi-printer-map' }");
    g_assert_cmpint(qlist_size(qdict_get_qlist(resp, "return")), ==, 3);
    qobject_unref(resp);

    /* what passes the checks plugs in: host names, IPv6, the longest ID */
    qtest_qmp_assert_success(qts,
        "{ 'execute': 'vdi-printer-map-set', 'arguments': { 'mappings': ["
        "  { 'id': 'v6', 'terminal-name': 'v6-*', 'printer': {"
        "    'name': 'Station B \u00e9', 'host': '::1', 'port': 9,"
        "    'ieee1284-id': 'MANUFACTURER:Zebra;MODEL:ZD421;' } },"
        "  { 'id': 'max', 'terminal-name': 'max-*', 'printer': {"
        "    'name': 'P', 'host': 'printer-1.ward3.example',"
        "    'ieee1284-id': %s } } ] } }", max_id);
    qobject_unref(qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'vdi-session-connect', 'arguments': {"
        "  'terminal': { 'name': 'max-1' } } }"));
    expect_event(qts, true, "max");
    id = printer_id(qts);
    g_assert_cmpint(strlen(id), ==, 1021);
    qobject_unref(qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'vdi-session-connect', 'arguments': {"
        "  'terminal': { 'name': 'v6-1' } } }"));
    expect_event(qts, false, "max");
    expect_event(qts, true, "v6");
    qtest_quit(qts);
}

/* A connect that fails leaves the session as it was */
static void test_connect_fails_cleanly(void)
{
    QTestState *qts = start();
    g_autofree char *device = NULL;
    g_autofree char *device2 = NULL;
    g_autofree char *id = NULL;
    QDict *info;

    qobject_unref(qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'vdi-session-connect', 'arguments': {"
        "  'terminal': { 'address': '10.20.3.7', 'name': 'ward3-pc2' } } }"));
    expect_event(qts, true, "ward3");
    device = printer_device(qts);

    /* the kiosk printer cannot be plugged in: no such bus */
    qmp_expect_error(qts, "cannot plug in printer 'Kiosk'",
                     "{ 'execute': 'vdi-session-connect', 'arguments': {"
                     "  'terminal': { 'name': 'kiosk-1' },"
                     "  'bus': 'nosuch.0' } }");
    /* an invalid terminal */
    qmp_expect_error(qts, "not a MAC address",
                     "{ 'execute': 'vdi-session-connect', 'arguments': {"
                     "  'terminal': { 'mac': '52:54:zz:00:00:01' } } }");

    info = qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'query-vdi-session' }");
    g_assert_true(qdict_get_bool(info, "connected"));
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(info, "terminal"),
                                  "name"), ==, "ward3-pc2");
    g_assert_cmpstr(qdict_get_str(info, "mapping"), ==, "ward3");
    g_assert_cmpstr(qdict_get_str(info, "device"), ==, device);
    qobject_unref(info);
    id = printer_id(qts);
    g_assert_cmpstr(id, ==, "MFG:HP;MDL:LaserJet 4000;");

    /* the session still works: the kiosk printer replaces the ward's */
    qobject_unref(qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'vdi-session-connect', 'arguments': {"
        "  'terminal': { 'name': 'kiosk-1' } } }"));
    expect_event(qts, false, "ward3");
    expect_event(qts, true, "kiosk");
    device2 = printer_device(qts);
    g_assert_cmpstr(device2, !=, device);

    /* nor does a failing connect start a session */
    qtest_qmp_assert_success(qts, "{ 'execute': 'vdi-session-disconnect' }");
    expect_event(qts, false, "kiosk");
    qmp_expect_error(qts, "cannot plug in printer 'Ward 3'",
                     "{ 'execute': 'vdi-session-connect', 'arguments': {"
                     "  'terminal': { 'address': '10.20.3.7' },"
                     "  'bus': 'nosuch.0' } }");
    info = qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'query-vdi-session' }");
    g_assert_false(qdict_get_bool(info, "connected"));
    g_assert_false(qdict_haskey(info, "terminal"));
    qobject_unref(info);
    g_assert_null(printer_id(qts));
    qtest_quit(qts);
}

static void test_errors(void)
{
    QTestState *qts = start();
    QDict *resp;

    resp = qtest_qmp(qts, "{ 'execute': 'vdi-printer-map-set', 'arguments': {"
                     "  'mappings': [ { 'id': 'x', 'printer': {"
                     "  'name': 'P', 'host': 'h', 'ieee1284-id': 'MFG:A;MDL:B;'"
                     "  } } ] } }");
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(resp, "error"),
                                          "desc"), "no terminal-address"));
    qobject_unref(resp);
    resp = qtest_qmp(qts, "{ 'execute': 'vdi-printer-map-set', 'arguments': {"
                     "  'mappings': [ { 'id': 'x',"
                     "  'terminal-address': '10.0.0.0/33', 'printer': {"
                     "  'name': 'P', 'host': 'h', 'ieee1284-id': 'MFG:A;MDL:B;'"
                     "  } } ] } }");
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(resp, "error"),
                                          "desc"), "10.0.0.0/33"));
    qobject_unref(resp);
    resp = qtest_qmp(qts, "{ 'execute': 'vdi-printer-map-set', 'arguments': {"
                     "  'mappings': [ { 'id': 'x', 'terminal-name': 'a',"
                     "  'printer': { 'name': 'P', 'host': 'h',"
                     "  'ieee1284-id': 'MFG:A;MDL:B;' } },"
                     "  { 'id': 'x', 'terminal-name': 'b',"
                     "  'printer': { 'name': 'P', 'host': 'h',"
                     "  'ieee1284-id': 'MFG:A;MDL:B;' } } ] } }");
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(resp, "error"),
                                          "desc"), "used twice"));
    qobject_unref(resp);
    resp = qtest_qmp(qts, "{ 'execute': 'vdi-session-connect', 'arguments': {"
                     "  'terminal': { 'mac': '52:54:zz:00:00:01' } } }");
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(resp, "error"),
                                          "desc"), "not a MAC address"));
    qobject_unref(resp);
    resp = qtest_qmp(qts, "{ 'execute': 'vdi-session-disconnect' }");
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(resp, "error"),
                                          "desc"), "no session"));
    qobject_unref(resp);

    /* the map in force is the one set by start() */
    resp = qtest_qmp(qts, "{ 'execute': 'query-vdi-printer-map' }");
    g_assert_cmpint(qlist_size(qdict_get_qlist(resp, "return")), ==, 3);
    qobject_unref(resp);
    qtest_quit(qts);
}

static void read_all(int fd, void *buf, size_t len)
{
    g_assert_cmpint(recv(fd, buf, len, MSG_WAITALL), ==, len);
}

/* Connect to the VNC server and go through the RFB 3.8 handshake */
static int vnc_handshake(int port)
{
    struct sockaddr_in addr = {
        .sin_family = AF_INET,
        .sin_port = htons(port),
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    uint8_t buf[64], n, none = 1, shared = 1;
    uint32_t name_len;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    g_assert_cmpint(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), ==,
                    0);
    read_all(fd, buf, 12);
    g_assert_cmpmem(buf, 12, "RFB 003.008\n", 12);
    g_assert_cmpint(send(fd, "RFB 003.008\n", 12, 0), ==, 12);
    read_all(fd, &n, 1);
    read_all(fd, buf, n);
    g_assert_nonnull(memchr(buf, 1, n));            /* no authentication */
    g_assert_cmpint(send(fd, &none, 1, 0), ==, 1);
    read_all(fd, buf, 4);                           /* security result */
    g_assert_cmpint(buf[0] | buf[1] | buf[2] | buf[3], ==, 0);
    g_assert_cmpint(send(fd, &shared, 1, 0), ==, 1);
    read_all(fd, buf, 20);                          /* ServerInit */
    read_all(fd, &name_len, 4);
    name_len = ntohl(name_len);
    g_assert_cmpint(name_len, <, sizeof(buf));
    read_all(fd, buf, name_len);
    return fd;
}

static void test_follow_display(void)
{
    QTestState *qts = qtest_init("-machine pc -device qemu-xhci,id=xhci "
                                 "-vnc 127.0.0.1:0,to=99");
    QDict *vnc, *info;
    int port, fd;
    g_autofree char *id = NULL;

    vnc = qtest_qmp_assert_success_ref(qts, "{ 'execute': 'query-vnc' }");
    port = atoi(qdict_get_str(vnc, "service"));
    qobject_unref(vnc);
    qtest_qmp_assert_success(qts,
        "{ 'execute': 'vdi-printer-map-set', 'arguments': {"
        "  'follow-display': true, 'mappings': ["
        "  { 'id': 'local', 'terminal-address': '127.0.0.0/8',"
        "    'printer': { 'name': 'Local', 'host': '127.0.0.1', 'port': 9,"
        "                 'ieee1284-id': 'MFG:HP;MDL:OfficeJet;' } } ] } }");

    /* a VNC client from 127.0.0.1 brings its terminal's printer */
    fd = vnc_handshake(port);
    expect_event(qts, true, "local");
    info = qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'query-vdi-session' }");
    g_assert_true(g_str_has_prefix(qdict_get_str(info, "display-client"),
                                   "vnc:"));
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(info, "terminal"),
                                  "address"), ==, "127.0.0.1");
    qobject_unref(info);
    id = printer_id(qts);
    g_assert_cmpstr(id, ==, "MFG:HP;MDL:OfficeJet;");

    /* and takes it away when it leaves */
    close(fd);
    expect_event(qts, false, "local");
    g_assert_null(printer_id(qts));
    info = qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'query-vdi-session' }");
    g_assert_false(qdict_get_bool(info, "connected"));
    qobject_unref(info);
    qtest_quit(qts);
}

/*
 * The session is a vdi-session object: created on the command line with
 * its map, listed and read with qom-list/qom-get, used by the QMP
 * commands, one per VM, and not deleted while connected.
 */
static void test_session_object(void)
{
    QTestState *qts = qtest_init("-machine pc -device qemu-xhci,id=xhci "
        "-object '{\"qom-type\": \"vdi-session\", \"id\": \"s0\","
        " \"follow-display\": true, \"printer-map\": ["
        " {\"id\": \"ward3\", \"terminal-address\": \"10.20.3.0/24\","
        "  \"printer\": {\"name\": \"Ward 3\", \"host\": \"127.0.0.1\","
        "   \"port\": 9, \"ieee1284-id\": \"MFG:HP;MDL:LaserJet 4000;\"}}]}'");
    QDict *resp, *info;
    QList *props;
    QListEntry *e;
    bool has_state = false;

    resp = qtest_qmp(qts, "{ 'execute': 'qom-list',"
                     "  'arguments': { 'path': '/objects/s0' } }");
    props = qdict_get_qlist(resp, "return");
    QLIST_FOREACH_ENTRY(props, e) {
        QDict *prop = qobject_to(QDict, qlist_entry_obj(e));

        has_state |= !strcmp(qdict_get_str(prop, "name"), "state");
    }
    g_assert_true(has_state);
    qobject_unref(resp);
    g_assert_true(vdi_qom_get_bool(qts, "/objects/s0", "follow-display"));

    /* the commands use it: the map is the object's */
    info = qtest_qmp_assert_success_ref(qts,
        "{ 'execute': 'vdi-session-connect', 'arguments': {"
        "  'terminal': { 'address': '10.20.3.7' } } }");
    g_assert_cmpstr(qdict_get_str(info, "mapping"), ==, "ward3");
    qobject_unref(info);
    expect_event(qts, true, "ward3");
    info = qobject_to(QDict, vdi_qom_get(qts, "/objects/s0", "state"));
    g_assert_true(qdict_get_bool(info, "connected"));
    g_assert_cmpstr(qdict_get_str(info, "mapping"), ==, "ward3");
    qobject_unref(info);

    /* one per VM, and kept while connected */
    qmp_expect_error(qts, "the VM already has a session, 's0'",
                     "{ 'execute': 'object-add', 'arguments': {"
                     "  'qom-type': 'vdi-session', 'id': 's1' } }");
    qmp_expect_error(qts, "is in use, can not be deleted",
                     "{ 'execute': 'object-del',"
                     "  'arguments': { 'id': 's0' } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'vdi-session-disconnect' }");
    expect_event(qts, false, "ward3");
    qtest_qmp_assert_success(qts,
        "{ 'execute': 'object-del', 'arguments': { 'id': 's0' } }");

    /* without it, the VM has no map, and the commands make a new one */
    resp = qtest_qmp(qts, "{ 'execute': 'query-vdi-printer-map' }");
    g_assert_true(qlist_empty(qdict_get_qlist(resp, "return")));
    qobject_unref(resp);
    qtest_qmp_assert_success(qts,
        "{ 'execute': 'vdi-session-connect', 'arguments': {"
        "  'terminal': { 'address': '10.20.3.7' } } }");
    info = qobject_to(QDict, vdi_qom_get(qts, "/objects/vdi-session",
                                         "state"));
    g_assert_true(qdict_get_bool(info, "connected"));
    qobject_unref(info);
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/vdi-session/printer-follows-terminal",
                   test_printer_follows_terminal);
    qtest_add_func("/vdi-session/errors", test_errors);
    qtest_add_func("/vdi-session/map-checked", test_map_checked);
    qtest_add_func("/vdi-session/connect-fails-cleanly",
                   test_connect_fails_cleanly);
    qtest_add_func("/vdi-session/follow-display", test_follow_display);
    qtest_add_func("/vdi-session/object", test_session_object);

    return g_test_run();
}
