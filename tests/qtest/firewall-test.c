/*
 * QTest for the filter-firewall netfilter: what it does to frames
 *
 * Frames to the guest (ingress) are written into a socket netdev; what
 * the firewall lets through is copied by a filter-mirror behind it to a
 * chardev the test reads.  Frames from the guest (egress) come in
 * through a filter-redirector's chardev, pass the firewall and leave on
 * the socket netdev.  A drop is detected without timeouts: each frame is
 * followed by a sentinel frame that a rule always accepts, so the
 * sentinel arriving first means the frame was dropped
 * (firewall-test-util.h).
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "firewall-test-util.h"

/* Tests */

static void test_no_policy_passes(void)
{
    Harness h;
    Frame f;

    harness_start(&h, NULL);
    tcp_frame(&f, false, "192.168.1.1", VM_IP4, 40000, 22, 0x02);
    g_assert_true(passes_in(&h, &f));
    tcp_frame(&f, true, VM_IP4, "192.168.1.1", 40000, 443, 0x02);
    g_assert_true(passes_out(&h, &f));
    harness_stop(&h);
}

static void test_match_fields(void)
{
    Harness h;
    Frame f;

    harness_start(&h, NULL);
    set_policy(&h, 1, "'default-ingress': 'drop',",
        "{ 'id': 1, 'direction': 'ingress', 'protocol': 6,"
        "  'source': [ '192.168.10.0/24' ],"
        "  'destination-ports': [ { 'start': 3389 },"
        "                         { 'start': 8000, 'end': 8080 } ],"
        "  'action': 'accept' },"
        "{ 'id': 2, 'direction': 'ingress', 'protocol': 17,"
        "  'source-ports': [ { 'start': 53 } ], 'action': 'accept' },"
        "{ 'id': 3, 'direction': 'ingress', 'icmp-type': 8,"
        "  'icmp-code': 0, 'protocol': 1, 'action': 'accept' },"
        "{ 'id': 4, 'direction': 'ingress', 'source': [ 'fd00:1::/64' ],"
        "  'destination': [ '" VM_IP6 "' ], 'action': 'accept' },"
        "{ 'id': 5, 'direction': 'ingress', 'ethertype': 35020,"
        "  'action': 'accept' }");

    /* protocol, source prefix, destination port and range */
    tcp_frame(&f, false, "192.168.10.7", VM_IP4, 40000, 3389, 0x02);
    g_assert_true(passes_in(&h, &f));
    tcp_frame(&f, false, "192.168.10.7", VM_IP4, 40000, 8080, 0x02);
    g_assert_true(passes_in(&h, &f));
    tcp_frame(&f, false, "192.168.10.7", VM_IP4, 40000, 8081, 0x02);
    g_assert_false(passes_in(&h, &f));
    tcp_frame(&f, false, "192.168.11.7", VM_IP4, 40000, 3389, 0x02);
    g_assert_false(passes_in(&h, &f));
    udp_frame(&f, false, "192.168.10.7", VM_IP4, 40000, 3389);
    g_assert_false(passes_in(&h, &f));
    /* source port */
    udp_frame(&f, false, "8.8.8.8", VM_IP4, 53, 33333);
    g_assert_true(passes_in(&h, &f));
    udp_frame(&f, false, "8.8.8.8", VM_IP4, 54, 33333);
    g_assert_false(passes_in(&h, &f));
    /* ICMP type and code */
    icmp_frame(&f, false, "192.168.1.1", VM_IP4, 8, 0);
    g_assert_true(passes_in(&h, &f));
    icmp_frame(&f, false, "192.168.1.1", VM_IP4, 13, 0);
    g_assert_false(passes_in(&h, &f));
    /* IPv6 source prefix and destination address */
    udp_frame(&f, false, "fd00:1::9", VM_IP6, 1000, 2000);
    g_assert_true(passes_in(&h, &f));
    udp_frame(&f, false, "fd00:2::9", VM_IP6, 1000, 2000);
    g_assert_false(passes_in(&h, &f));
    /* ethertype (LLDP) */
    eth_header(&f, VM_MAC, PEER_MAC, 0x88cc);
    memset(f.data + 14, 0, 46);
    f.len = 60;
    g_assert_true(passes_in(&h, &f));
    eth_header(&f, VM_MAC, PEER_MAC, 0x88cd);
    memset(f.data + 14, 0, 46);
    f.len = 60;
    g_assert_false(passes_in(&h, &f));
    /* direction: the ingress rules do not apply to egress */
    tcp_frame(&f, true, VM_IP4, "192.168.10.7", 3389, 40000, 0x02);
    g_assert_true(passes_out(&h, &f));

    g_assert_cmpuint(drops(&h, "default"), ==, 7);
    harness_stop(&h);
}

static void test_priority(void)
{
    Harness h;
    Frame f;

    harness_start(&h, NULL);
    set_policy(&h, 1, NULL,
        "{ 'id': 20, 'priority': 10, 'protocol': 6, 'action': 'accept' },"
        "{ 'id': 30, 'priority': 5, 'protocol': 6,"
        "  'destination-ports': [ { 'start': 22 } ], 'action': 'drop' },"
        "{ 'id': 10, 'priority': 5, 'protocol': 6,"
        "  'destination-ports': [ { 'start': 23 } ], 'action': 'drop' },"
        "{ 'id': 9, 'priority': 5, 'protocol': 6,"
        "  'destination-ports': [ { 'start': 23 } ], 'action': 'accept' }");

    tcp_frame(&f, false, "192.168.1.1", VM_IP4, 40000, 22, 0x02);
    g_assert_false(passes_in(&h, &f));      /* priority 5 beats 10 */
    tcp_frame(&f, false, "192.168.1.1", VM_IP4, 40000, 23, 0x02);
    g_assert_true(passes_in(&h, &f));       /* id 9 beats id 10 */
    tcp_frame(&f, false, "192.168.1.1", VM_IP4, 40000, 24, 0x02);
    g_assert_true(passes_in(&h, &f));
    harness_stop(&h);
}

static void test_address_sets(void)
{
    Harness h;
    Frame f;

    harness_start(&h, NULL);
    qtest_qmp_assert_success(h.qts,
        "{ 'execute': 'firewall-set-policy', 'arguments': {"
        "  'filter': 'fw0', 'generation': 1, 'default-ingress': 'drop',"
        "  'sets': [ { 'name': 'radiology',"
        "              'addresses': [ '10.20.0.0/16', 'fd20::/48' ] } ],"
        "  'rules': [ { 'id': 1, 'ethertype': %d, 'action': 'accept' },"
        "             { 'id': 2, 'source-set': 'radiology',"
        "               'action': 'accept' } ] } }", SENTINEL_TYPE);

    udp_frame(&f, false, "10.20.3.4", VM_IP4, 1, 2);
    g_assert_true(passes_in(&h, &f));
    udp_frame(&f, false, "10.21.3.4", VM_IP4, 1, 2);
    g_assert_false(passes_in(&h, &f));

    /* updating the set alone changes what the rule matches */
    qtest_qmp_assert_success(h.qts,
        "{ 'execute': 'firewall-set-address-set', 'arguments': {"
        "  'filter': 'fw0', 'set': { 'name': 'radiology',"
        "                            'addresses': [ '10.21.0.0/16' ] } } }");
    udp_frame(&f, false, "10.21.3.4", VM_IP4, 1, 2);
    g_assert_true(passes_in(&h, &f));
    udp_frame(&f, false, "10.20.3.4", VM_IP4, 1, 2);
    g_assert_false(passes_in(&h, &f));
    harness_stop(&h);
}

static void test_reject(void)
{
    Harness h;
    Frame f, reply;

    harness_start(&h, NULL);
    set_policy(&h, 1, NULL,
        "{ 'id': 1, 'direction': 'egress', 'protocol': 6,"
        "  'destination-ports': [ { 'start': 445 } ], 'action': 'reject' },"
        "{ 'id': 2, 'direction': 'egress', 'protocol': 17,"
        "  'destination-ports': [ { 'start': 137 } ], 'action': 'reject' }");

    /* a TCP connection attempt is answered with a RST to the guest */
    tcp_frame(&f, true, VM_IP4, "10.0.0.9", 40001, 445, 0x02);
    g_assert_false(passes(&h, &f, true, &reply));
    g_assert_cmpint(reply.len, >=, 14 + 20 + 20);
    g_assert_cmpmem(reply.data, 6, VM_MAC, 6);          /* to the guest */
    g_assert_cmpint(reply.data[14 + 9], ==, 6);         /* TCP */
    g_assert_cmpmem(reply.data + 14 + 12, 4, f.data + 14 + 16, 4);
    g_assert_cmpmem(reply.data + 14 + 16, 4, f.data + 14 + 12, 4);
    g_assert_cmpint(reply.data[14 + 20 + 13] & 0x04, ==, 0x04); /* RST */
    g_assert_cmpmem(reply.data + 14 + 20, 2, f.data + 14 + 22, 2);

    /* UDP gets an ICMP port unreachable quoting the datagram */
    udp_frame(&f, true, VM_IP4, "10.0.0.9", 40002, 137);
    g_assert_false(passes(&h, &f, true, &reply));
    g_assert_cmpint(reply.len, >=, 14 + 20 + 8 + 28);
    g_assert_cmpint(reply.data[14 + 9], ==, 1);         /* ICMP */
    g_assert_cmpint(reply.data[14 + 20], ==, 3);        /* unreachable */
    g_assert_cmpint(reply.data[14 + 21], ==, 3);        /* port */
    g_assert_cmpmem(reply.data + 14 + 28, 20, f.data + 14, 20);

    g_assert_cmpuint(drops(&h, "rule"), ==, 2);
    harness_stop(&h);
}

static void test_conn_state(void)
{
    Harness h;
    Frame f;
    QDict *info;

    harness_start(&h, NULL);
    set_policy(&h, 1, "'default-ingress': 'drop',",
        "{ 'id': 1, 'direction': 'ingress',"
        "  'state': [ 'established', 'related' ], 'action': 'accept' }");

    /* an unsolicited SYN-ACK or UDP datagram does not get in */
    tcp_frame(&f, false, "10.9.9.9", VM_IP4, 443, 40000, 0x12);
    g_assert_false(passes_in(&h, &f));
    udp_frame(&f, false, "10.9.9.9", VM_IP4, 53, 40001);
    g_assert_false(passes_in(&h, &f));

    /* after the guest's SYN, the reply passes */
    tcp_frame(&f, true, VM_IP4, "10.9.9.9", 40000, 443, 0x02);
    g_assert_true(passes_out(&h, &f));
    tcp_frame(&f, false, "10.9.9.9", VM_IP4, 443, 40000, 0x12);
    g_assert_true(passes_in(&h, &f));
    tcp_frame(&f, true, VM_IP4, "10.9.9.9", 40000, 443, 0x10);
    g_assert_true(passes_out(&h, &f));
    tcp_frame(&f, false, "10.9.9.9", VM_IP4, 443, 40000, 0x18);
    g_assert_true(passes_in(&h, &f));

    /* same for UDP */
    udp_frame(&f, true, VM_IP4, "10.9.9.9", 40001, 53);
    g_assert_true(passes_out(&h, &f));
    udp_frame(&f, false, "10.9.9.9", VM_IP4, 53, 40001);
    g_assert_true(passes_in(&h, &f));

    /* a packet with impossible flags is invalid, even in a connection */
    tcp_frame(&f, false, "10.9.9.9", VM_IP4, 443, 40000, 0x03);
    g_assert_false(passes_in(&h, &f));
    g_assert_cmpuint(drops(&h, "default") + drops(&h, "conn-invalid"), ==, 3);

    /* the state rule matched the three answers, and counted them */
    info = query_fw(&h);
    g_assert_cmpuint(rule_packets(info, 1), ==, 3);
    qobject_unref(info);
    harness_stop(&h);
}

static void test_antispoof(void)
{
    Harness h;
    Frame f;
    uint8_t dhcp[8 + 240] = { 0 };
    uint8_t ra[16] = { 134, 0 };

    harness_start(&h, NULL);

    /* the VM's own addresses pass */
    udp_frame(&f, true, VM_IP4, "10.0.0.1", 1000, 2000);
    g_assert_true(passes_out(&h, &f));
    udp_frame(&f, true, VM_IP6, "fd00::1", 1000, 2000);
    g_assert_true(passes_out(&h, &f));
    arp_frame(&f, VM_MAC, VM_IP4, "10.0.0.1");
    g_assert_true(passes_out(&h, &f));

    /* another source IP, MAC or ARP sender does not */
    udp_frame(&f, true, "10.0.0.6", "10.0.0.1", 1000, 2000);
    g_assert_false(passes_out(&h, &f));
    udp_frame(&f, true, "fd00::6", "fd00::1", 1000, 2000);
    g_assert_false(passes_out(&h, &f));
    udp_frame(&f, true, VM_IP4, "10.0.0.1", 1000, 2000);
    memcpy(f.data + 6, "\x52\x54\x00\x00\x00\x01", 6);
    g_assert_false(passes_out(&h, &f));
    arp_frame(&f, VM_MAC, "10.0.0.1", "10.0.0.2");
    g_assert_false(passes_out(&h, &f));
    g_assert_cmpuint(drops(&h, "spoofed"), ==, 4);

    /* DHCP discover from 0.0.0.0 passes, a DHCP server reply does not */
    stw_be_p(dhcp, 68);
    stw_be_p(dhcp + 2, 67);
    stw_be_p(dhcp + 4, sizeof(dhcp));
    dhcp[8] = 1;                                        /* BOOTREQUEST */
    ip_packet(&f, VM_MAC, "\xff\xff\xff\xff\xff\xff", "0.0.0.0",
              "255.255.255.255", 17, dhcp, sizeof(dhcp));
    g_assert_true(passes_out(&h, &f));
    stw_be_p(dhcp, 67);
    stw_be_p(dhcp + 2, 68);
    dhcp[8] = 2;                                        /* BOOTREPLY */
    ip_packet(&f, VM_MAC, "\xff\xff\xff\xff\xff\xff", VM_IP4,
              "255.255.255.255", 17, dhcp, sizeof(dhcp));
    g_assert_false(passes_out(&h, &f));

    /* nor does a router advertisement */
    ip_packet(&f, VM_MAC, "\x33\x33\x00\x00\x00\x01", VM_IP6, "ff02::1", 58,
              ra, sizeof(ra));
    g_assert_false(passes_out(&h, &f));
    g_assert_cmpuint(drops(&h, "rogue-server"), ==, 2);
    harness_stop(&h);
}

/* A DHCP message: BOOTP with the magic cookie, for the VM's MAC */
static void dhcp_frame(Frame *f, bool egress, uint8_t op, uint32_t xid,
                       const char *src, const char *dst)
{
    uint8_t dhcp[8 + 300] = { 0 };

    stw_be_p(dhcp, op == 1 ? 68 : 67);
    stw_be_p(dhcp + 2, op == 1 ? 67 : 68);
    stw_be_p(dhcp + 4, sizeof(dhcp));
    dhcp[8] = op;
    dhcp[9] = 1;
    dhcp[10] = 6;
    dhcp[12] = xid >> 24;
    dhcp[13] = xid >> 16;
    dhcp[14] = xid >> 8;
    dhcp[15] = xid;
    memcpy(dhcp + 8 + 28, VM_MAC, 6);
    memcpy(dhcp + 8 + 236, "\x63\x82\x53\x63\xff", 5);
    ip_packet(f, egress ? VM_MAC : PEER_MAC,
              egress ? "\xff\xff\xff\xff\xff\xff" : VM_MAC, src, dst, 17,
              dhcp, sizeof(dhcp));
}

/* A neighbour solicitation for @target with hop limit @hops */
static void ns_frame(Frame *f, const char *src, const char *dst,
                     const char *target, uint8_t hops)
{
    uint8_t ns[24] = { 135, 0 };

    inet_pton(AF_INET6, target, ns + 8);
    ip_packet(f, PEER_MAC, VM_MAC, src, dst, 58, ns, sizeof(ns));
    f->data[14 + 7] = hops;
}

static void test_bootstrap_traffic(void)
{
    Harness h;
    Frame f;

    harness_start(&h, NULL);
    set_policy(&h, 1, "'default-ingress': 'drop', 'default-egress': 'drop',",
               NULL);
    udp_frame(&f, false, "10.0.0.1", VM_IP4, 1000, 2000);
    g_assert_false(passes_in(&h, &f));
    udp_frame(&f, true, VM_IP4, "10.0.0.1", 2000, 1000);
    g_assert_false(passes_out(&h, &f));

    /* neighbour resolution in both directions, on the link */
    arp_frame(&f, PEER_MAC, "10.0.0.1", VM_IP4);
    g_assert_true(passes_in(&h, &f));
    arp_frame(&f, VM_MAC, VM_IP4, "10.0.0.1");
    g_assert_true(passes_out(&h, &f));
    ns_frame(&f, "fe80::1", "ff02::1:ff00:5", VM_IP6, 255);
    g_assert_true(passes_in(&h, &f));
    /* not from off the link, to a global address */
    ns_frame(&f, "2001:db8::1", VM_IP6, VM_IP6, 64);
    g_assert_false(passes_in(&h, &f));

    /* the guest's DHCP exchange, and nothing else shaped like it */
    dhcp_frame(&f, false, 2, 0x1234, "192.0.2.66", VM_IP4);
    g_assert_false(passes_in(&h, &f));
    dhcp_frame(&f, true, 1, 0x1234, "0.0.0.0", "255.255.255.255");
    g_assert_true(passes_out(&h, &f));
    dhcp_frame(&f, true, 1, 0x1234, VM_IP4, "192.0.2.66");
    g_assert_false(passes_out(&h, &f));
    dhcp_frame(&f, false, 2, 0x1234, "10.0.0.1", VM_IP4);
    g_assert_true(passes_in(&h, &f));
    dhcp_frame(&f, false, 2, 0x9999, "10.0.0.1", VM_IP4);
    g_assert_false(passes_in(&h, &f));
    dhcp_frame(&f, true, 1, 0x1235, VM_IP4, "10.0.0.1");
    g_assert_true(passes_out(&h, &f));
    g_assert_cmpuint(drops(&h, "default"), ==, 6);

    /* in quarantine, not even that */
    qtest_qmp_assert_success(h.qts,
        "{ 'execute': 'firewall-quarantine', 'arguments': {"
        "  'filter': 'fw0' } }");
    dhcp_frame(&f, true, 1, 0x1236, "0.0.0.0", "255.255.255.255");
    send_frame(h.inject, &f);
    arp_frame(&f, VM_MAC, VM_IP4, "10.0.0.1");
    send_frame(h.inject, &f);
    g_assert_false(recv_frame(h.backend, &f, 300));
    g_assert_cmpuint(drops(&h, "quarantine"), ==, 2);
    harness_stop(&h);
}

static void test_vlan(void)
{
    Harness h;
    Frame f, tagged;

    for (int allow = 0; allow < 2; allow++) {
        harness_start(&h, allow ? ", \"allow-vlan-tags\": true" : NULL);
        udp_frame(&f, true, VM_IP4, "10.0.0.1", 1000, 2000);
        memcpy(tagged.data, f.data, 12);
        memcpy(tagged.data + 12, "\x81\x00\x00\x07", 4);
        memcpy(tagged.data + 16, f.data + 12, f.len - 12);
        tagged.len = f.len + 4;
        g_assert_cmpint(passes_out(&h, &tagged), ==, allow);
        g_assert_cmpuint(drops(&h, "vlan"), ==, !allow);
        harness_stop(&h);
    }
}

static void test_quarantine(void)
{
    Harness h;
    Frame f;
    QDict *ev, *info;

    harness_start(&h, NULL);
    qtest_qmp_assert_success(h.qts,
        "{ 'execute': 'firewall-quarantine', 'arguments': {"
        "  'filter': 'fw0', 'allow': [ '10.1.1.10', 'fd01::/64' ],"
        "  'reason': 'EDR alert 42' } }");
    ev = qtest_qmp_eventwait_ref(h.qts, "FIREWALL_QUARANTINE");
    g_assert_true(qdict_get_bool(qdict_get_qdict(ev, "data"),
                                 "quarantined"));
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(ev, "data"), "reason"),
                    ==, "EDR alert 42");
    qobject_unref(ev);

    /* the sentinel is dropped too: detect drops by timeout here */
    tcp_frame(&f, true, VM_IP4, "10.1.1.10", 40000, 443, 0x02);
    send_frame(h.inject, &f);
    g_assert_true(recv_frame(h.backend, &f, 2000));
    tcp_frame(&f, false, "10.1.1.10", VM_IP4, 443, 40000, 0x12);
    send_frame(h.backend, &f);
    g_assert_true(recv_frame(h.guest, &f, 2000));
    udp_frame(&f, true, VM_IP6, "fd01::7", 1, 2);
    send_frame(h.inject, &f);
    g_assert_true(recv_frame(h.backend, &f, 2000));
    tcp_frame(&f, true, VM_IP4, "10.1.1.11", 40000, 443, 0x02);
    send_frame(h.inject, &f);
    g_assert_false(recv_frame(h.backend, &f, 300));
    tcp_frame(&f, false, "10.1.1.11", VM_IP4, 443, 40000, 0x02);
    send_frame(h.backend, &f);
    g_assert_false(recv_frame(h.guest, &f, 300));

    info = query_fw(&h);
    g_assert_true(qdict_get_bool(info, "quarantined"));
    g_assert_cmpuint(qdict_get_int(qdict_get_qdict(info, "drops"),
                                    "quarantine"), ==, 2);
    qobject_unref(info);

    qtest_qmp_assert_success(h.qts,
        "{ 'execute': 'firewall-unquarantine',"
        "  'arguments': { 'filter': 'fw0' } }");
    ev = qtest_qmp_eventwait_ref(h.qts, "FIREWALL_QUARANTINE");
    g_assert_false(qdict_get_bool(qdict_get_qdict(ev, "data"),
                                  "quarantined"));
    qobject_unref(ev);
    tcp_frame(&f, true, VM_IP4, "10.1.1.11", 40000, 443, 0x02);
    g_assert_true(passes_out(&h, &f));

    assert_error(&h, "not quarantined",
                 "{ 'execute': 'firewall-unquarantine',"
                 "  'arguments': { 'filter': 'fw0' } }");
    harness_stop(&h);
}

static void test_conn_limit(void)
{
    Harness h;
    Frame f;
    int i;

    harness_start(&h, ", \"max-connections\": 4");
    set_policy(&h, 1, "'default-ingress': 'drop',",
        "{ 'id': 1, 'direction': 'ingress',"
        "  'state': [ 'established', 'related' ], 'action': 'accept' }");
    for (i = 0; i < 4; i++) {
        udp_frame(&f, true, VM_IP4, "10.4.4.4", 1000 + i, 53);
        g_assert_true(passes_out(&h, &f));
    }
    /* the table is full: a fifth flow is refused */
    udp_frame(&f, true, VM_IP4, "10.4.4.4", 2000, 53);
    g_assert_false(passes_out(&h, &f));
    g_assert_cmpuint(drops(&h, "conn-table-full"), ==, 1);
    /* the four existing ones keep working */
    for (i = 0; i < 4; i++) {
        udp_frame(&f, false, "10.4.4.4", VM_IP4, 53, 1000 + i);
        g_assert_true(passes_in(&h, &f));
    }
    /* flushing makes room */
    qtest_qmp_assert_success(h.qts,
        "{ 'execute': 'firewall-flush-connections',"
        "  'arguments': { 'filter': 'fw0' } }");
    udp_frame(&f, true, VM_IP4, "10.4.4.4", 2000, 53);
    g_assert_true(passes_out(&h, &f));
    harness_stop(&h);
}

static void test_invalid_frames(void)
{
    Harness h;
    Frame f, cut;
    size_t len;

    harness_start(&h, NULL);
    tcp_frame(&f, false, "10.5.5.5", VM_IP4, 1, 2, 0x02);
    /* every truncation inside the IP and TCP headers is dropped */
    for (len = 15; len < f.len; len++) {
        cut = f;
        cut.len = len;
        g_assert_false(passes_in(&h, &cut));
    }
    g_assert_cmpuint(drops(&h, "invalid"), ==, f.len - 15);
    /* and the filter still works */
    g_assert_true(passes_in(&h, &f));
    harness_stop(&h);
}

static void test_log_event(void)
{
    Harness h;
    Frame f;
    QDict *ev, *data;

    harness_start(&h, NULL);
    set_policy(&h, 1, NULL,
        "{ 'id': 3, 'protocol': 6, 'destination-ports': [ { 'start': 23 } ],"
        "  'action': 'drop', 'log': true }");
    tcp_frame(&f, false, "10.6.6.6", VM_IP4, 40000, 23, 0x02);
    g_assert_false(passes_in(&h, &f));
    ev = qtest_qmp_eventwait_ref(h.qts, "FIREWALL_LOG");
    data = qdict_get_qdict(ev, "data");
    g_assert_cmpuint(qdict_get_int(data, "rule"), ==, 3);
    g_assert_cmpstr(qdict_get_str(data, "direction"), ==, "ingress");
    g_assert_cmpstr(qdict_get_str(data, "action"), ==, "drop");
    g_assert_cmpstr(qdict_get_str(data, "source"), ==, "10.6.6.6");
    g_assert_cmpuint(qdict_get_int(data, "destination-port"), ==, 23);
    qobject_unref(ev);
    harness_stop(&h);
}

/* Connections survive a flush and a quarantine: TCP is picked up */
static void test_tcp_pickup(void)
{
    Harness h;
    Frame f;

    harness_start(&h, NULL);
    set_policy(&h, 1, "'default-ingress': 'drop',", NULL);
    tcp_connect(&h, 42000);
    qtest_qmp_assert_success(h.qts,
        "{ 'execute': 'firewall-flush-connections',"
        "  'arguments': { 'filter': 'fw0' } }");
    /* the guest's next segment is picked up; then the peer's passes */
    tcp_frame(&f, true, VM_IP4, "10.8.8.8", 42000, 80, 0x18);
    g_assert_true(passes_out(&h, &f));
    g_assert_true(tcp_alive(&h, 42000));

    qtest_qmp_assert_success(h.qts,
        "{ 'execute': 'firewall-quarantine', 'arguments': {"
        "  'filter': 'fw0' } }");
    qtest_qmp_assert_success(h.qts,
        "{ 'execute': 'firewall-unquarantine', 'arguments': {"
        "  'filter': 'fw0' } }");
    g_assert_true(passes_out(&h, &f));
    g_assert_true(tcp_alive(&h, 42000));
    /* the peer's segment alone is new, and the ingress default drops it */
    qtest_qmp_assert_success(h.qts,
        "{ 'execute': 'firewall-flush-connections',"
        "  'arguments': { 'filter': 'fw0' } }");
    g_assert_false(tcp_alive(&h, 42000));
    g_assert_cmpuint(drops(&h, "default"), ==, 1);
    g_assert_cmpuint(drops(&h, "conn-invalid"), ==, 0);
    harness_stop(&h);

    /* without pickup, a mid-stream segment is invalid */
    harness_start(&h, ", \"tcp-pickup\": false");
    tcp_frame(&f, true, VM_IP4, "10.8.8.8", 42000, 80, 0x18);
    g_assert_false(passes_out(&h, &f));
    g_assert_cmpuint(drops(&h, "conn-invalid"), ==, 1);
    harness_stop(&h);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/firewall/no-policy-passes", test_no_policy_passes);
    qtest_add_func("/firewall/match-fields", test_match_fields);
    qtest_add_func("/firewall/priority", test_priority);
    qtest_add_func("/firewall/address-sets", test_address_sets);
    qtest_add_func("/firewall/reject", test_reject);
    qtest_add_func("/firewall/conn-state", test_conn_state);
    qtest_add_func("/firewall/antispoof", test_antispoof);
    qtest_add_func("/firewall/bootstrap-traffic", test_bootstrap_traffic);
    qtest_add_func("/firewall/vlan", test_vlan);
    qtest_add_func("/firewall/quarantine", test_quarantine);
    qtest_add_func("/firewall/conn-limit", test_conn_limit);
    qtest_add_func("/firewall/invalid-frames", test_invalid_frames);
    qtest_add_func("/firewall/log-event", test_log_event);
    qtest_add_func("/firewall/tcp-pickup", test_tcp_pickup);

    return g_test_run();
}
