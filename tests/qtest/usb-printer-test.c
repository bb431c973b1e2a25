/*
 * QTest for the usb-printer device
 *
 * Copyright (c) 2026 The VDI host authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Hot-plug and unplug on qemu-xhci, what "info usb" and QOM show, and the
 * checks of the ieee1284-id and chardev properties.  The data path is
 * covered end to end with a Linux guest outside of qtest.
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "vdi-qmp-util.h"

#define TEST_ID "MFG:HP;MDL:LaserJet 4000;CMD:PCL,PJL;CLASS:PRINTER;"

static QTestState *start(void)
{
    return qtest_init("-machine q35 -device qemu-xhci,id=xhci "
                      "-chardev null,id=prn0 -chardev null,id=prn1");
}

static void test_hotplug(void)
{
    QTestState *qts = start();
    char *usb, *id, *type;
    int i;

    /* twice, so that the chardev is released on unplug */
    for (i = 0; i < 2; i++) {
        qtest_qmp_device_add(qts, "usb-printer", "printer",
                             "{ 'bus': 'xhci.0', 'chardev': 'prn0', "
                             "  'ieee1284-id': %s, 'serial': 'ward3-01' }",
                             TEST_ID);

        usb = qtest_hmp(qts, "info usb");
        g_assert(strstr(usb, "Product QEMU USB Printer, ID: printer"));
        g_assert(strstr(usb, "Speed 480 Mb/s"));
        g_free(usb);

        type = vdi_qom_get_str(qts, "/machine/peripheral/printer", "type");
        g_assert_cmpstr(type, ==, "usb-printer");
        g_free(type);
        id = vdi_qom_get_str(qts, "/machine/peripheral/printer", "ieee1284-id");
        g_assert_cmpstr(id, ==, TEST_ID);
        g_free(id);
        id = vdi_qom_get_str(qts, "/machine/peripheral/printer", "serial");
        g_assert_cmpstr(id, ==, "ward3-01");
        g_free(id);

        qtest_qmp_device_del(qts, "printer");
        usb = qtest_hmp(qts, "info usb");
        g_assert(!strstr(usb, "QEMU USB Printer"));
        g_free(usb);
    }
    qtest_quit(qts);
}

static void test_two_printers(void)
{
    QTestState *qts = start();
    g_autofree char *usb = NULL;
    g_autofree char *id = NULL;
    QDict *resp;

    qtest_qmp_device_add(qts, "usb-printer", "p0",
                         "{ 'bus': 'xhci.0', 'chardev': 'prn0' }");
    qtest_qmp_device_add(qts, "usb-printer", "p1",
                         "{ 'bus': 'xhci.0', 'chardev': 'prn1', "
                         "  'ieee1284-id': 'MANUFACTURER:Zebra;MODEL:ZD421' }");

    /* the default ID names a manufacturer and a model */
    id = vdi_qom_get_str(qts, "/machine/peripheral/p0", "ieee1284-id");
    g_assert(g_str_has_prefix(id, "MFG:QEMU;MDL:"));

    /* a chardev serves one printer only */
    resp = qtest_qmp(qts, "{ 'execute': 'device_add', 'arguments': "
                     "{ 'driver': 'usb-printer', 'id': 'p2', "
                     "  'bus': 'xhci.0', 'chardev': 'prn0' } }");
    g_assert(qdict_haskey(resp, "error"));
    qobject_unref(resp);

    usb = qtest_hmp(qts, "info usb");
    g_assert(strstr(usb, "ID: p0"));
    g_assert(strstr(usb, "ID: p1"));
    g_assert(!strstr(usb, "ID: p2"));

    qtest_qmp_device_del(qts, "p0");
    qtest_qmp_device_del(qts, "p1");
    qtest_quit(qts);
}

static void check_error(QDict *resp, const char *expect)
{
    QDict *error = qdict_get_qdict(resp, "error");
    const char *desc;

    g_assert(error);
    desc = qdict_get_str(error, "desc");
    if (!strstr(desc, expect)) {
        g_test_message("error '%s' lacks '%s'", desc, expect);
        g_assert_not_reached();
    }
    qobject_unref(resp);
}

static void expect_bad_id(QTestState *qts, const char *ieee1284_id,
                          const char *expect)
{
    check_error(qtest_qmp(qts, "{ 'execute': 'device_add', 'arguments': "
                          "{ 'driver': 'usb-printer', 'id': 'bad', "
                          "  'bus': 'xhci.0', 'chardev': 'prn0', "
                          "  'ieee1284-id': %s } }", ieee1284_id),
                expect);
}

static void test_bad_properties(void)
{
    QTestState *qts = start();
    g_autofree char *usb = NULL;
    g_autofree char *too_long = NULL;

    expect_bad_id(qts, "MDL:LaserJet 4000;", "lacks a manufacturer");
    expect_bad_id(qts, "MFG:HP;CMD:PCL;", "lacks a model");
    expect_bad_id(qts, "MFG:HP;MDL:;", "lacks a model");
    expect_bad_id(qts, "", "lacks a manufacturer and a model");
    expect_bad_id(qts, "HP LaserJet",
                  "field 'HP LaserJet' is not of the form KEY:value");
    expect_bad_id(qts, "MFG:HP;MDL:Laser\tJet;",
                  "printable ASCII characters only");
    too_long = g_strdup_printf("MFG:HP;MDL:%01100d;", 0);
    expect_bad_id(qts, too_long, "at most 1021 are allowed");

    check_error(qtest_qmp(qts, "{ 'execute': 'device_add', 'arguments': "
                          "{ 'driver': 'usb-printer', 'id': 'bad', "
                          "  'bus': 'xhci.0' } }"),
                "needs a chardev");
    check_error(qtest_qmp(qts, "{ 'execute': 'device_add', 'arguments': "
                          "{ 'driver': 'usb-printer', 'id': 'bad', "
                          "  'bus': 'xhci.0', 'chardev': 'nosuchchr' } }"),
                "nosuchchr");

    usb = qtest_hmp(qts, "info usb");
    g_assert(!strstr(usb, "QEMU USB Printer"));
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    if (!qtest_has_device("usb-printer") || !qtest_has_device("qemu-xhci")) {
        g_test_skip("usb-printer or qemu-xhci is not available");
        return g_test_run();
    }
    qtest_add_func("/usb-printer/hotplug", test_hotplug);
    qtest_add_func("/usb-printer/two-printers", test_two_printers);
    qtest_add_func("/usb-printer/bad-properties", test_bad_properties);
    return g_test_run();
}
