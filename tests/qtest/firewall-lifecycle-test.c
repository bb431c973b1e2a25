/*
 * QTest for the filter-firewall netfilter: the object's life
 *
 * A policy file in force from creation, object-add and object-del,
 * netdevs it refuses, a NIC unplugged and plugged again, and
 * migration of the policy, the quarantine and the connections.
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "firewall-test-util.h"

static void test_object_lifecycle(void)
{
    Harness h;
    Frame f;

    harness_start(&h, NULL);
    qtest_qmp_assert_success(h.qts,
        "{ 'execute': 'object-add', 'arguments': {"
        "  'qom-type': 'filter-firewall', 'id': 'fw1', 'netdev': 'bn0',"
        "  'position': 'head' } }");
    qtest_qmp_assert_success(h.qts,
        "{ 'execute': 'firewall-set-policy', 'arguments': {"
        "  'filter': 'fw1', 'generation': 1, 'default-ingress': 'drop',"
        "  'rules': [ { 'id': 1, 'ethertype': %d, 'action': 'accept' } ] } }",
        SENTINEL_TYPE);
    udp_frame(&f, false, "10.7.7.7", VM_IP4, 1, 2);
    g_assert_false(passes_in(&h, &f));
    qtest_qmp_assert_success(h.qts,
        "{ 'execute': 'object-del', 'arguments': { 'id': 'fw1' } }");
    g_assert_true(passes_in(&h, &f));
    harness_stop(&h);
}

/* Packets on a netdev's other queues would bypass the filter */
static void test_multiqueue_refused(void)
{
    QTestState *qts;
    QDict *resp;

    if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK)) {
        g_test_skip("creating a multiqueue tap needs root and /dev/net/tun");
        return;
    }
    qts = qtest_init("-machine none -netdev tap,id=t0,queues=2,"
                     "script=no,downscript=no");
    resp = qtest_qmp(qts, "{ 'execute': 'object-add', 'arguments': {"
                     "  'qom-type': 'filter-firewall', 'id': 'fw0',"
                     "  'netdev': 't0' } }");
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(resp, "error"),
                                          "desc"), "use queues=1"));
    qobject_unref(resp);
    qtest_quit(qts);
}

static char *write_temp(const char *text)
{
    char *path = NULL;
    int fd = g_file_open_tmp("firewall-policy-XXXXXX.json", &path, NULL);

    g_assert_cmpint(fd, >=, 0);
    close(fd);
    g_assert_true(g_file_set_contents(path, text, -1, NULL));
    return path;
}

/* A policy given at creation is enforced from the first packet */
static void test_policy_file(void)
{
    g_autofree char *policy = g_strdup_printf(
        "{ \"generation\": 9, \"default-ingress\": \"drop\","
        "  \"rules\": [ { \"id\": 1, \"ethertype\": %d,"
        "                 \"action\": \"accept\" } ] }", SENTINEL_TYPE);
    g_autofree char *path = write_temp(policy);
    g_autofree char *bad = write_temp("{ \"generation\": 1, \"rules\": "
        "[ { \"id\": 1, \"source\": [ \"10.0.0.0/33\" ],"
        "    \"action\": \"drop\" } ] }");
    g_autofree char *props = g_strdup_printf(", \"policy-file\": \"%s\"",
                                             path);
    Harness h;
    Frame f;
    QDict *info;

    harness_start(&h, props);
    udp_frame(&f, false, "10.7.7.7", VM_IP4, 1, 2);
    g_assert_false(passes_in(&h, &f));
    info = query_fw(&h);
    g_assert_cmpuint(qdict_get_int(info, "generation"), ==, 9);
    qobject_unref(info);

    assert_error(&h, "10.0.0.0/33",
                 "{ 'execute': 'object-add', 'arguments': {"
                 "  'qom-type': 'filter-firewall', 'id': 'fw1',"
                 "  'netdev': 'bn0', 'policy-file': %s } }", bad);
    assert_error(&h, "policy-file",
                 "{ 'execute': 'object-add', 'arguments': {"
                 "  'qom-type': 'filter-firewall', 'id': 'fw1',"
                 "  'netdev': 'bn0', 'policy-file': '/nonexistent' } }");
    harness_stop(&h);
    unlink(path);
    unlink(bad);
}

/*
 * A NIC re-plug as libvirt does it (netdev_del, then netdev_add of the
 * same id): the filter waits with its policy and is on the new netdev
 * before it carries a packet.
 */
static void test_nic_replug(void)
{
    Harness h;
    Frame f;
    QDict *ev, *info;
    int sock[2];

    harness_start(&h, NULL);
    set_policy(&h, 3, "'default-ingress': 'drop',", NULL);
    qtest_qmp_assert_success(h.qts, "{ 'execute': 'netdev_del',"
                             "  'arguments': { 'id': 'bn0' } }");
    ev = qtest_qmp_eventwait_ref(h.qts, "FIREWALL_DETACHED");
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(ev, "data"), "netdev"),
                    ==, "bn0");
    qobject_unref(ev);
    info = query_fw(&h);
    g_assert_false(qdict_get_bool(info, "attached"));
    qobject_unref(info);

    /* a new network backend bn0, with the hub port and test filters */
    close(h.backend);
    g_assert_cmpint(socketpair(PF_UNIX, SOCK_STREAM, 0, sock), ==, 0);
    h.backend = sock[0];
    qtest_qmp_fds_assert_success(h.qts, &sock[1], 1,
        "{ 'execute': 'getfd', 'arguments': { 'fdname': 'bn0fd' } }");
    close(sock[1]);
    qtest_qmp_assert_success(h.qts, "{ 'execute': 'netdev_del',"
                             "  'arguments': { 'id': 'hp0' } }");
    qtest_qmp_assert_success(h.qts, "{ 'execute': 'netdev_add',"
        "  'arguments': { 'type': 'socket', 'id': 'bn0', 'fd': 'bn0fd' } }");
    qtest_qmp_assert_success(h.qts, "{ 'execute': 'netdev_add',"
        "  'arguments': { 'type': 'hubport', 'id': 'hp0', 'hubid': 0,"
        "                 'netdev': 'bn0' } }");
    qtest_qmp_assert_success(h.qts, "{ 'execute': 'object-add',"
        "  'arguments': { 'qom-type': 'filter-mirror', 'id': 'm0',"
        "  'netdev': 'bn0', 'queue': 'tx', 'outdev': 'guest0' } }");
    qtest_qmp_assert_success(h.qts, "{ 'execute': 'object-add',"
        "  'arguments': { 'qom-type': 'filter-redirector', 'id': 'r0',"
        "  'netdev': 'bn0', 'queue': 'rx', 'indev': 'inject0' } }");

    info = query_fw(&h);
    g_assert_true(qdict_get_bool(info, "attached"));
    g_assert_cmpuint(qdict_get_int(info, "generation"), ==, 3);
    qobject_unref(info);
    udp_frame(&f, false, "10.7.7.7", VM_IP4, 1, 2);
    g_assert_false(passes_in(&h, &f));
    udp_frame(&f, true, VM_IP4, "10.7.7.7", 2, 1);
    g_assert_true(passes_out(&h, &f));
    harness_stop(&h);
}

/* Wait until the migration of @qts, out or in, has completed */
static void wait_migrated(QTestState *qts)
{
    for (;;) {
        QDict *r = qtest_qmp_assert_success_ref(qts,
            "{ 'execute': 'query-migrate' }");
        const char *st = qdict_haskey(r, "status") ?
                         qdict_get_str(r, "status") : "none";
        bool done = !strcmp(st, "completed");

        g_assert_cmpstr(st, !=, "failed");
        qobject_unref(r);
        if (done) {
            return;
        }
        g_usleep(10000);
    }
}

/* The policy, the quarantine and the connections migrate with the VM */
static void test_migration(void)
{
    g_autofree char *dir = g_dir_make_tmp("firewall-mig-XXXXXX", NULL);
    g_autofree char *file = g_strdup_printf("%s/state", dir);
    g_autofree char *uri = g_strdup_printf("file:%s", file);
    Harness src, dst;
    Frame f;
    QDict *info;
    QList *l;

    harness_start(&src, NULL);
    set_policy(&src, 4, "'default-ingress': 'drop',", NULL);
    qtest_qmp_assert_success(src.qts,
        "{ 'execute': 'firewall-quarantine', 'arguments': {"
        "  'filter': 'fw0', 'allow': [ '10.8.8.8' ] } }");
    /* in quarantine the sentinel is dropped too: wait for the frames */
    tcp_frame(&f, true, VM_IP4, "10.8.8.8", 43000, 80, 0x02);
    send_frame(src.inject, &f);
    g_assert_true(recv_frame(src.backend, &f, 5000));
    tcp_frame(&f, false, "10.8.8.8", VM_IP4, 80, 43000, 0x12);
    send_frame(src.backend, &f);
    g_assert_true(recv_frame(src.guest, &f, 5000));
    qtest_qmp_assert_success(src.qts, "{ 'execute': 'migrate',"
                             "  'arguments': { 'uri': %s } }", uri);
    qtest_qmp_eventwait(src.qts, "STOP");
    wait_migrated(src.qts);
    harness_stop(&src);

    harness_start_with(&dst,
        "-object '{ \"qom-type\": \"filter-firewall\", \"id\": \"fw0\","
        "  \"netdev\": \"bn0\", \"mac\": \"52:54:00:12:34:56\","
        "  \"addresses\": [ \"" VM_IP4 "\" ] }' -incoming defer");
    qtest_qmp_assert_success(dst.qts, "{ 'execute': 'migrate-incoming',"
                             "  'arguments': { 'uri': %s } }", uri);
    wait_migrated(dst.qts);
    info = query_fw(&dst);
    g_assert_cmpuint(qdict_get_int(info, "generation"), ==, 4);
    g_assert_true(qdict_get_bool(info, "quarantined"));
    qobject_unref(info);
    l = list_connections(&dst, "{ 'filter': 'fw0' }");
    g_assert_cmpint(qlist_size(l), ==, 1);
    qobject_unref(l);
    /*
     * The connection goes on under the default drop, where a new peer
     * segment would be dropped; quarantine still drops other peers.
     */
    tcp_frame(&f, false, "10.8.8.8", VM_IP4, 80, 43000, 0x10);
    send_frame(dst.backend, &f);
    g_assert_true(recv_frame(dst.guest, &f, 5000));
    tcp_frame(&f, false, "10.9.9.9", VM_IP4, 80, 43000, 0x10);
    send_frame(dst.backend, &f);
    g_assert_false(recv_frame(dst.guest, &f, 300));
    harness_stop(&dst);
    unlink(file);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/firewall/object-lifecycle", test_object_lifecycle);
    qtest_add_func("/firewall/multiqueue-refused", test_multiqueue_refused);
    qtest_add_func("/firewall/policy-file", test_policy_file);
    qtest_add_func("/firewall/nic-replug", test_nic_replug);
    qtest_add_func("/firewall/migration", test_migration);

    return g_test_run();
}
