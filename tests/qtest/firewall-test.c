/*
 * QTest for the filter-firewall netfilter
 *
 * Frames to the guest (ingress) are written into a socket netdev; what
 * the firewall lets through is copied by a filter-mirror behind it to a
 * chardev the test reads.  Frames from the guest (egress) come in
 * through a filter-redirector's chardev, pass the firewall and leave on
 * the socket netdev.  A drop is detected without timeouts: each frame is
 * followed by a sentinel frame that a rule always accepts, so the
 * sentinel arriving first means the frame was dropped.
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "firewall-harness.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qjson.h"
#include "qapi/error.h"
#include "qemu/iov.h"
#include "qemu/sockets.h"
#include "qemu/thread.h"

#define VM_MAC      "\x52\x54\x00\x12\x34\x56"
#define PEER_MAC    "\x52\x54\x00\xab\xcd\xef"
#define VM_IP4      "10.0.0.5"
#define VM_IP6      "fd00::5"
#define SENTINEL_TYPE 0x88b5    /* IEEE local experimental ethertype */

typedef struct Frame {
    uint8_t data[1600];
    size_t len;
} Frame;

/* Frame building */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    size_t i;

    for (i = 0; i + 1 < len; i += 2) {
        sum += (p[i] << 8) | p[i + 1];
    }
    if (len & 1) {
        sum += p[len - 1] << 8;
    }
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return ~sum;
}

static void eth_header(Frame *f, const char *dst, const char *src,
                       uint16_t type)
{
    memcpy(f->data, dst, 6);
    memcpy(f->data + 6, src, 6);
    put16(f->data + 12, type);
    f->len = 14;
}

/* An IPv4 or IPv6 packet (by the address family) with an L4 payload */
static void ip_packet(Frame *f, const char *src_mac, const char *dst_mac,
                      const char *src, const char *dst, uint8_t proto,
                      const uint8_t *l4, size_t l4len)
{
    uint8_t a[16], b[16];
    uint8_t *ip = f->data + 14;
    uint8_t *l4p;
    uint32_t sum;
    int csum_off = proto == 6 ? 16 : proto == 17 ? 6 : 2;

    if (inet_pton(AF_INET, src, a) == 1) {
        g_assert(inet_pton(AF_INET, dst, b) == 1);
        eth_header(f, dst_mac, src_mac, 0x0800);
        memset(ip, 0, 20);
        ip[0] = 0x45;
        put16(ip + 2, 20 + l4len);
        ip[8] = 64;
        ip[9] = proto;
        memcpy(ip + 12, a, 4);
        memcpy(ip + 16, b, 4);
        put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
        l4p = ip + 20;
        memcpy(l4p, l4, l4len);
        sum = csum_add(0, ip + 12, 8) + proto + l4len;
        if (proto != 1) {
            put16(l4p + csum_off, 0);
            put16(l4p + csum_off, csum_fold(csum_add(sum, l4p, l4len)));
        } else {
            put16(l4p + 2, 0);
            put16(l4p + 2, csum_fold(csum_add(0, l4p, l4len)));
        }
        f->len = 14 + 20 + l4len;
    } else {
        g_assert(inet_pton(AF_INET6, src, a) == 1);
        g_assert(inet_pton(AF_INET6, dst, b) == 1);
        eth_header(f, dst_mac, src_mac, 0x86dd);
        memset(ip, 0, 40);
        ip[0] = 0x60;
        put16(ip + 4, l4len);
        ip[6] = proto;
        ip[7] = 64;
        memcpy(ip + 8, a, 16);
        memcpy(ip + 24, b, 16);
        l4p = ip + 40;
        memcpy(l4p, l4, l4len);
        sum = csum_add(0, ip + 8, 32) + proto + l4len;
        put16(l4p + csum_off, 0);
        put16(l4p + csum_off, csum_fold(csum_add(sum, l4p, l4len)));
        f->len = 14 + 40 + l4len;
    }
}

static void tcp_frame(Frame *f, bool egress, const char *src,
                      const char *dst, uint16_t sport, uint16_t dport,
                      uint8_t flags)
{
    uint8_t tcp[20] = { 0 };

    put16(tcp, sport);
    put16(tcp + 2, dport);
    tcp[7] = 1;                         /* sequence number 1 */
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    put16(tcp + 14, 8192);
    ip_packet(f, egress ? VM_MAC : PEER_MAC, egress ? PEER_MAC : VM_MAC,
              src, dst, 6, tcp, sizeof(tcp));
}

static void udp_frame(Frame *f, bool egress, const char *src,
                      const char *dst, uint16_t sport, uint16_t dport)
{
    uint8_t udp[8 + 12] = { 0 };

    put16(udp, sport);
    put16(udp + 2, dport);
    put16(udp + 4, sizeof(udp));
    memcpy(udp + 8, "hello, world", 12);
    ip_packet(f, egress ? VM_MAC : PEER_MAC, egress ? PEER_MAC : VM_MAC,
              src, dst, 17, udp, sizeof(udp));
}

static void icmp_frame(Frame *f, bool egress, const char *src,
                       const char *dst, uint8_t type, uint8_t code)
{
    uint8_t icmp[16] = { type, code, 0, 0, 0x12, 0x34, 0, 1 };
    bool v6 = strchr(src, ':');

    ip_packet(f, egress ? VM_MAC : PEER_MAC, egress ? PEER_MAC : VM_MAC,
              src, dst, v6 ? 58 : 1, icmp, sizeof(icmp));
}

static void arp_frame(Frame *f, const char *sender_mac, const char *sender_ip,
                      const char *target_ip)
{
    uint8_t *arp = f->data + 14;

    eth_header(f, "\xff\xff\xff\xff\xff\xff", sender_mac, 0x0806);
    put16(arp, 1);
    put16(arp + 2, 0x0800);
    arp[4] = 6;
    arp[5] = 4;
    put16(arp + 6, 1);
    memcpy(arp + 8, sender_mac, 6);
    inet_pton(AF_INET, sender_ip, arp + 14);
    memset(arp + 18, 0, 6);
    inet_pton(AF_INET, target_ip, arp + 24);
    f->len = 14 + 28;
}

static void sentinel_frame(Frame *f, bool egress)
{
    eth_header(f, egress ? PEER_MAC : VM_MAC, egress ? VM_MAC : PEER_MAC,
               SENTINEL_TYPE);
    memcpy(f->data + 14, "sentinel", 8);
    f->len = 14 + 46;
}

/* Frame transport: 4-byte big-endian length, then the frame */

static void send_frame(int fd, const Frame *f)
{
    uint32_t len = htonl(f->len);
    struct iovec iov[] = {
        { .iov_base = &len, .iov_len = sizeof(len) },
        { .iov_base = (void *)f->data, .iov_len = f->len },
    };

    g_assert_cmpint(iov_send(fd, iov, 2, 0, sizeof(len) + f->len), ==,
                    sizeof(len) + f->len);
}

/* Receive one frame; false if none arrives within @timeout_ms. */
static bool recv_frame(int fd, Frame *f, int timeout_ms)
{
    uint32_t len;
    fd_set rfds;
    struct timeval tv = {
        .tv_sec = timeout_ms / 1000,
        .tv_usec = (timeout_ms % 1000) * 1000,
    };

    FD_ZERO(&rfds);
    FD_SET(fd, &rfds);
    if (select(fd + 1, &rfds, NULL, NULL, &tv) <= 0) {
        return false;
    }
    g_assert_cmpint(recv(fd, &len, sizeof(len), MSG_WAITALL), ==,
                    sizeof(len));
    f->len = ntohl(len);
    g_assert_cmpint(f->len, <=, sizeof(f->data));
    g_assert_cmpint(recv(fd, f->data, f->len, MSG_WAITALL), ==, f->len);
    return true;
}

static bool is_sentinel(const Frame *f)
{
    return f->len >= 14 && f->data[12] == SENTINEL_TYPE >> 8 &&
           f->data[13] == (SENTINEL_TYPE & 0xff);
}

/*
 * Send @f in its direction followed by a sentinel; return whether @f
 * came out on the other side.  Frames the firewall generates itself
 * (rejects) are returned in @reply when not NULL.
 */
static bool passes(Harness *h, const Frame *f, bool egress, Frame *reply)
{
    Frame got, sentinel;
    int in = egress ? h->inject : h->backend;
    int out = egress ? h->backend : h->guest;
    bool passed = false;

    sentinel_frame(&sentinel, egress);
    send_frame(in, f);
    send_frame(in, &sentinel);
    for (;;) {
        g_assert_true(recv_frame(out, &got, 5000));
        if (is_sentinel(&got)) {
            break;
        }
        g_assert_cmpint(got.len, ==, f->len);
        g_assert_cmpmem(got.data, got.len, f->data, f->len);
        passed = true;
    }
    if (reply) {
        reply->len = 0;
        if (egress) {
            recv_frame(h->guest, reply, 200);
        }
    }
    return passed;
}

static bool passes_in(Harness *h, const Frame *f)
{
    return passes(h, f, false, NULL);
}

static bool passes_out(Harness *h, const Frame *f)
{
    return passes(h, f, true, NULL);
}

/* Harness set-up */

static void harness_start(Harness *h, const char *extra_props)
{
    g_autofree char *filter = g_strdup_printf(
        "-object '{ \"qom-type\": \"filter-firewall\", \"id\": \"fw0\","
        "  \"netdev\": \"bn0\", \"mac\": \"52:54:00:12:34:56\","
        "  \"addresses\": [ \"" VM_IP4 "\", \"" VM_IP6 "\" ] %s }'",
        extra_props ? extra_props : "");

    harness_start_with(h, filter);
}

/* Set a policy: the sentinel rule plus @rules (a JSON list body). */
static void set_policy(Harness *h, uint64_t gen, const char *defaults,
                       const char *rules)
{
    g_autofree char *args = g_strdup_printf(
        "{ 'filter': 'fw0', 'generation': %" PRIu64 ", %s"
        "  'rules': [ { 'id': 4000000000, 'priority': -1000,"
        "               'ethertype': %d, 'action': 'accept' } %s%s ] }",
        gen, defaults ? defaults : "", SENTINEL_TYPE,
        rules ? "," : "", rules ? rules : "");

    qtest_qmp_assert_success(h->qts, "{ 'execute': 'firewall-set-policy',"
                             "  'arguments': %p }",
                             qobject_from_json(args, &error_abort));
}

static QDict *query_fw(Harness *h)
{
    QDict *resp = qtest_qmp(h->qts, "{ 'execute': 'query-firewall',"
                            "  'arguments': { 'filter': 'fw0' } }");
    QList *list = qdict_get_qlist(resp, "return");
    QDict *info;

    g_assert(list && qlist_size(list) == 1);
    info = qobject_to(QDict, qlist_peek(list));
    qobject_ref(info);
    qobject_unref(resp);
    return info;
}

static uint64_t drops(Harness *h, const char *reason)
{
    QDict *info = query_fw(h);
    uint64_t n = qdict_get_int(qdict_get_qdict(info, "drops"), reason);

    qobject_unref(info);
    return n;
}

static QDict *rule_info(QDict *info, uint32_t id)
{
    QListEntry *e;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(info, "rules"), e) {
        QDict *r = qobject_to(QDict, qlist_entry_obj(e));

        if (qdict_get_int(qdict_get_qdict(r, "rule"), "id") == id) {
            return r;
        }
    }
    return NULL;
}

static void assert_error(Harness *h, const char *needle, const char *fmt,
                         ...) G_GNUC_PRINTF(3, 4);

static void assert_error(Harness *h, const char *needle, const char *fmt,
                         ...)
{
    va_list ap;
    QDict *resp, *err;

    va_start(ap, fmt);
    resp = qtest_vqmp(h->qts, fmt, ap);
    va_end(ap);
    err = qdict_get_qdict(resp, "error");
    g_assert_nonnull(err);
    if (!strstr(qdict_get_str(err, "desc"), needle)) {
        g_error("error '%s' does not mention '%s'",
                qdict_get_str(err, "desc"), needle);
    }
    qobject_unref(resp);
}

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

static uint64_t rule_packets(QDict *info, uint32_t id);

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
    put16(dhcp, 68);
    put16(dhcp + 2, 67);
    put16(dhcp + 4, sizeof(dhcp));
    dhcp[8] = 1;                                        /* BOOTREQUEST */
    ip_packet(&f, VM_MAC, "\xff\xff\xff\xff\xff\xff", "0.0.0.0",
              "255.255.255.255", 17, dhcp, sizeof(dhcp));
    g_assert_true(passes_out(&h, &f));
    put16(dhcp, 67);
    put16(dhcp + 2, 68);
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

    put16(dhcp, op == 1 ? 68 : 67);
    put16(dhcp + 2, op == 1 ? 67 : 68);
    put16(dhcp + 4, sizeof(dhcp));
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

static void test_replace_and_counters(void)
{
    Harness h;
    Frame f;
    QDict *info, *r;
    int i;

    harness_start(&h, NULL);
    set_policy(&h, 5, "'default-ingress': 'drop',",
        "{ 'id': 1, 'protocol': 17, 'destination-ports': [ { 'start': 9 } ],"
        "  'action': 'accept' }");
    udp_frame(&f, false, "10.2.2.2", VM_IP4, 1, 9);
    for (i = 0; i < 3; i++) {
        g_assert_true(passes_in(&h, &f));
    }
    info = query_fw(&h);
    g_assert_cmpuint(qdict_get_int(info, "generation"), ==, 5);
    r = rule_info(info, 1);
    g_assert_nonnull(r);
    g_assert_cmpuint(qdict_get_int(r, "packets"), ==, 3);
    g_assert_cmpuint(qdict_get_int(r, "bytes"), ==, 3 * f.len);
    qobject_unref(info);

    /* an older generation is refused, the same one is applied again */
    assert_error(&h, "generation",
                 "{ 'execute': 'firewall-set-policy', 'arguments': {"
                 "  'filter': 'fw0', 'generation': 4, 'rules': [] } }");
    set_policy(&h, 5, "'default-ingress': 'drop',",
        "{ 'id': 1, 'protocol': 17, 'destination-ports': [ { 'start': 9 } ],"
        "  'action': 'accept' }");

    /* the new policy takes effect at once for the next packet */
    set_policy(&h, 6, "'default-ingress': 'drop',",
        "{ 'id': 2, 'protocol': 17,"
        "  'destination-ports': [ { 'start': 10 } ], 'action': 'accept' }");
    g_assert_false(passes_in(&h, &f));
    udp_frame(&f, false, "10.2.2.2", VM_IP4, 1, 10);
    g_assert_true(passes_in(&h, &f));
    info = query_fw(&h);
    g_assert_cmpuint(qdict_get_int(info, "generation"), ==, 6);
    g_assert_null(rule_info(info, 1));
    g_assert_cmpstr(qdict_get_str(info, "default-ingress"), ==, "drop");
    qobject_unref(info);
    harness_stop(&h);
}

typedef struct Stream {
    int in, out;
    int frames;
    uint64_t got[3];            /* frames of each port that got through */
} Stream;

static const uint16_t stream_ports[] = { 9, 10, 13 };

/* UDP frames to ports 9, 10 and 13 in turn, then a sentinel */
static void *send_stream(void *opaque)
{
    Stream *st = opaque;
    Frame f;
    int i;

    for (i = 0; i < st->frames; i++) {
        udp_frame(&f, false, "10.2.2.2", VM_IP4, 1000 + i,
                  stream_ports[i % 3]);
        send_frame(st->in, &f);
    }
    sentinel_frame(&f, false);
    send_frame(st->in, &f);
    return NULL;
}

/* Count what gets through, reading as it comes so QEMU never blocks */
static void *recv_stream(void *opaque)
{
    Stream *st = opaque;
    Frame f;
    int i;

    while (recv_frame(st->out, &f, 10000) && !is_sentinel(&f)) {
        for (i = 0; i < 3; i++) {
            st->got[i] += f.data[14 + 20 + 3] == stream_ports[i];
        }
    }
    return NULL;
}

static uint64_t rule_packets(QDict *info, uint32_t id)
{
    QDict *r = rule_info(info, id);

    g_assert_nonnull(r);
    return qdict_get_int(r, "packets");
}

/*
 * Swap two policies back and forth while frames flow: every frame is
 * decided by exactly one complete policy, so each is counted once by the
 * rule for its port, and a port no policy accepts never gets through.
 */
static void test_replace_under_traffic(void)
{
    const char *accept9 =
        "{ 'id': 1, 'protocol': 17, 'destination-ports': [ { 'start': 9 } ],"
        "  'action': 'accept' },"
        "{ 'id': 2, 'protocol': 17, 'destination-ports': [ { 'start': 10 } ],"
        "  'action': 'drop' }";
    const char *accept10 =
        "{ 'id': 1, 'protocol': 17, 'destination-ports': [ { 'start': 9 } ],"
        "  'action': 'drop' },"
        "{ 'id': 2, 'protocol': 17, 'destination-ports': [ { 'start': 10 } ],"
        "  'action': 'accept' }";
    Stream st = { .frames = 3000 };
    QemuThread sender, receiver;
    Harness h;
    QDict *info, *drops_info;
    int gen;

    harness_start(&h, NULL);
    set_policy(&h, 1, "'default-ingress': 'drop',", accept9);
    st.in = h.backend;
    st.out = h.guest;
    qemu_thread_create(&receiver, "receiver", recv_stream, &st,
                       QEMU_THREAD_JOINABLE);
    qemu_thread_create(&sender, "sender", send_stream, &st,
                       QEMU_THREAD_JOINABLE);
    for (gen = 2; gen < 60; gen++) {
        set_policy(&h, gen, "'default-ingress': 'drop',",
                   gen % 2 ? accept9 : accept10);
    }
    qemu_thread_join(&sender);
    qemu_thread_join(&receiver);

    g_test_message("through: %" PRIu64 " to port 9, %" PRIu64
                   " to port 10 over 58 policy swaps", st.got[0], st.got[1]);
    g_assert_cmpuint(st.got[2], ==, 0);
    info = query_fw(&h);
    drops_info = qdict_get_qdict(info, "drops");
    g_assert_cmpuint(rule_packets(info, 1), ==, st.frames / 3);
    g_assert_cmpuint(rule_packets(info, 2), ==, st.frames / 3);
    g_assert_cmpuint(qdict_get_int(drops_info, "rule"), ==,
                     2 * st.frames / 3 - st.got[0] - st.got[1]);
    g_assert_cmpuint(qdict_get_int(drops_info, "default"), ==,
                     st.frames / 3);
    qobject_unref(info);
    harness_stop(&h);
}

static void test_add_delete_rule(void)
{
    Harness h;
    Frame f, back;
    QDict *resp;

    harness_start(&h, NULL);
    set_policy(&h, 1, "'default-ingress': 'drop', 'default-egress': 'drop',",
               NULL);
    tcp_frame(&f, true, VM_IP4, "10.3.3.3", 40000, 80, 0x02);
    g_assert_false(passes_out(&h, &f));

    qtest_qmp_assert_success(h.qts,
        "{ 'execute': 'firewall-add-rule', 'arguments': { 'filter': 'fw0',"
        "  'rule': { 'id': 7, 'direction': 'egress', 'protocol': 6,"
        "            'action': 'accept' } } }");
    g_assert_true(passes_out(&h, &f));
    tcp_frame(&back, false, "10.3.3.3", VM_IP4, 80, 40000, 0x12);
    g_assert_true(passes_in(&h, &back));        /* established */

    resp = qtest_qmp(h.qts, "{ 'execute': 'query-firewall-connections',"
                     "  'arguments': { 'filter': 'fw0' } }");
    g_assert_cmpint(qlist_size(qdict_get_qlist(resp, "return")), ==, 1);
    qobject_unref(resp);

    /* deleting the rule ends the connection it accepted */
    qtest_qmp_assert_success(h.qts,
        "{ 'execute': 'firewall-delete-rule',"
        "  'arguments': { 'filter': 'fw0', 'id': 7 } }");
    g_assert_false(passes_in(&h, &back));
    g_assert_false(passes_out(&h, &f));
    resp = qtest_qmp(h.qts, "{ 'execute': 'query-firewall-connections',"
                     "  'arguments': { 'filter': 'fw0' } }");
    g_assert_cmpint(qlist_size(qdict_get_qlist(resp, "return")), ==, 0);
    qobject_unref(resp);
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

static void test_errors(void)
{
    Harness h;
    QDict *info;

    harness_start(&h, ", \"max-rules\": 3");
    assert_error(&h, "nope",
                 "{ 'execute': 'query-firewall',"
                 "  'arguments': { 'filter': 'nope' } }");
    assert_error(&h, "not a filter-firewall",
                 "{ 'execute': 'firewall-flush-connections',"
                 "  'arguments': { 'filter': 'm0' } }");
    assert_error(&h, "10.0.0.0/33",
                 "{ 'execute': 'firewall-add-rule', 'arguments': {"
                 "  'filter': 'fw0', 'rule': { 'id': 1,"
                 "  'source': [ '10.0.0.0/33' ], 'action': 'drop' } } }");
    assert_error(&h, "300.1.1.1",
                 "{ 'execute': 'firewall-quarantine', 'arguments': {"
                 "  'filter': 'fw0', 'allow': [ '300.1.1.1' ] } }");
    assert_error(&h, "port range",
                 "{ 'execute': 'firewall-add-rule', 'arguments': {"
                 "  'filter': 'fw0', 'rule': { 'id': 1, 'destination-ports':"
                 "  [ { 'start': 90, 'end': 80 } ], 'action': 'drop' } } }");
    assert_error(&h, "unknown address set",
                 "{ 'execute': 'firewall-add-rule', 'arguments': {"
                 "  'filter': 'fw0', 'rule': { 'id': 1,"
                 "  'source-set': 'ghosts', 'action': 'drop' } } }");
    assert_error(&h, "duplicate rule id 2",
                 "{ 'execute': 'firewall-set-policy', 'arguments': {"
                 "  'filter': 'fw0', 'generation': 1, 'rules': ["
                 "  { 'id': 2, 'action': 'drop' },"
                 "  { 'id': 2, 'action': 'accept' } ] } }");
    qtest_qmp_assert_success(h.qts,
        "{ 'execute': 'firewall-add-rule', 'arguments': {"
        "  'filter': 'fw0', 'rule': { 'id': 1, 'action': 'accept' } } }");
    assert_error(&h, "rule id 1 is in use",
                 "{ 'execute': 'firewall-add-rule', 'arguments': {"
                 "  'filter': 'fw0', 'rule': { 'id': 1, 'action': 'drop' } } }");
    assert_error(&h, "too many rules",
                 "{ 'execute': 'firewall-set-policy', 'arguments': {"
                 "  'filter': 'fw0', 'generation': 1, 'rules': ["
                 "  { 'id': 1, 'action': 'drop' }, { 'id': 2, 'action': 'drop' },"
                 "  { 'id': 3, 'action': 'drop' },"
                 "  { 'id': 4, 'action': 'drop' } ] } }");
    assert_error(&h, "no rule 99",
                 "{ 'execute': 'firewall-delete-rule',"
                 "  'arguments': { 'filter': 'fw0', 'id': 99 } }");
    assert_error(&h, "limit",
                 "{ 'execute': 'query-firewall-connections',"
                 "  'arguments': { 'filter': 'fw0', 'limit': 0 } }");
    /* bad object properties */
    assert_error(&h, "mac",
                 "{ 'execute': 'object-add', 'arguments': {"
                 "  'qom-type': 'filter-firewall', 'id': 'fw1',"
                 "  'netdev': 'bn0', 'mac': '52:54:00:zz:00:01' } }");
    assert_error(&h, "max-connections",
                 "{ 'execute': 'object-add', 'arguments': {"
                 "  'qom-type': 'filter-firewall', 'id': 'fw1',"
                 "  'netdev': 'bn0', 'max-connections': 0 } }");
    /* the policy in force is unchanged by the failed commands */
    info = query_fw(&h);
    g_assert_cmpuint(qdict_get_int(info, "generation"), ==, 0);
    g_assert_cmpint(qlist_size(qdict_get_qlist(info, "rules")), ==, 1);
    qobject_unref(info);
    harness_stop(&h);
}

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

/* Establish an egress TCP connection from port @sport to 10.8.8.8:80 */
static void tcp_connect(Harness *h, uint16_t sport)
{
    Frame f;

    tcp_frame(&f, true, VM_IP4, "10.8.8.8", sport, 80, 0x02);
    g_assert_true(passes_out(h, &f));
    tcp_frame(&f, false, "10.8.8.8", VM_IP4, 80, sport, 0x12);
    g_assert_true(passes_in(h, &f));
}

/* Does the peer's next segment of that connection get in? */
static bool tcp_alive(Harness *h, uint16_t sport)
{
    Frame f;

    tcp_frame(&f, false, "10.8.8.8", VM_IP4, 80, sport, 0x10);
    return passes_in(h, &f);
}

/*
 * A policy swap judges every connection again by the new policy on its
 * original tuple, whatever the rule ids.
 */
static void test_rejudge(void)
{
    const char *web1 = "{ 'id': 1, 'direction': 'egress', 'protocol': 6,"
        "  'destination-ports': [ { 'start': 80 } ], 'action': 'accept' }";
    const char *web2 = "{ 'id': 2, 'direction': 'egress', 'protocol': 6,"
        "  'destination-ports': [ { 'start': 80 } ], 'action': 'accept' }";
    const char *web1_drop = "{ 'id': 1, 'direction': 'egress',"
        "  'protocol': 6, 'destination-ports': [ { 'start': 80 } ],"
        "  'action': 'drop' }";
    const char *strict = "'default-ingress': 'drop', 'default-egress': 'drop',";
    Harness h;

    harness_start(&h, NULL);
    /* renumbering an identical rule keeps its connections */
    set_policy(&h, 1, strict, web1);
    tcp_connect(&h, 41000);
    set_policy(&h, 2, strict, web2);
    g_assert_true(tcp_alive(&h, 41000));

    /* the same id with the action changed to drop ends them */
    set_policy(&h, 3, strict, web1);
    tcp_connect(&h, 41001);
    set_policy(&h, 4, strict, web1_drop);
    g_assert_false(tcp_alive(&h, 41001));

    /* removing the rule under a default accept keeps them */
    set_policy(&h, 5, "'default-ingress': 'drop',", web1);
    tcp_connect(&h, 41002);
    qtest_qmp_assert_success(h.qts,
        "{ 'execute': 'firewall-delete-rule',"
        "  'arguments': { 'filter': 'fw0', 'id': 1 } }");
    g_assert_true(tcp_alive(&h, 41002));

    /* changing the ingress default leaves egress connections alone */
    set_policy(&h, 6, NULL, NULL);
    tcp_connect(&h, 41003);
    set_policy(&h, 7, "'default-ingress': 'drop',", NULL);
    g_assert_true(tcp_alive(&h, 41003));
    /* while the egress default ends them */
    set_policy(&h, 8, "'default-ingress': 'drop', 'default-egress': 'drop',",
               NULL);
    g_assert_false(tcp_alive(&h, 41003));
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

static QList *list_connections(Harness *h, const char *args)
{
    QDict *resp = qtest_qmp(h->qts, "{ 'execute': 'query-firewall-connections',"
                            "  'arguments': %p }",
                            qobject_from_json(args, &error_abort));
    QList *l = qdict_get_qlist(resp, "return");

    g_assert_nonnull(l);
    qobject_ref(l);
    qobject_unref(resp);
    return l;
}

/* Connections are listed a page at a time, with their state names */
static void test_connection_pages(void)
{
    Harness h;
    Frame f;
    QList *l;
    QDict *c;
    int i;

    harness_start(&h, NULL);
    for (i = 0; i < 5; i++) {
        udp_frame(&f, true, VM_IP4, "10.4.4.4", 1000 + i, 53);
        g_assert_true(passes_out(&h, &f));
    }
    udp_frame(&f, false, "10.4.4.4", VM_IP4, 53, 1000);
    g_assert_true(passes_in(&h, &f));
    udp_frame(&f, true, VM_IP4, "10.4.4.4", 1000, 53);
    g_assert_true(passes_out(&h, &f));
    for (i = 0; i < 3; i++) {
        g_autofree char *args = g_strdup_printf(
            "{ 'filter': 'fw0', 'offset': %d, 'limit': 2 }", 2 * i);

        l = list_connections(&h, args);
        g_assert_cmpint(qlist_size(l), ==, i < 2 ? 2 : 1);
        qobject_unref(l);
    }
    /* UDP, then a stream once it goes on after a reply */
    l = list_connections(&h, "{ 'filter': 'fw0' }");
    g_assert_cmpint(qlist_size(l), ==, 5);
    while ((c = qobject_to(QDict, qlist_pop(l)))) {
        g_assert_cmpstr(qdict_get_str(c, "state"), ==,
                        qdict_get_int(c, "source-port") == 1000 ?
                        "udp-stream" : "udp");
        qobject_unref(c);
    }
    qobject_unref(l);
    assert_error(&h, "limit",
                 "{ 'execute': 'query-firewall-connections',"
                 "  'arguments': { 'filter': 'fw0', 'limit': 1001 } }");
    harness_stop(&h);
}

/* Address sets have limits, checked with a clear error */
static void test_set_limits(void)
{
    GString *sets = g_string_new("");
    Harness h;
    int i;

    harness_start(&h, NULL);
    for (i = 0; i < 4097; i++) {
        g_string_append_printf(sets, "%s{ 'name': 's%d', 'addresses': [] }",
                               i ? "," : "", i);
    }
    g_string_prepend(sets, "{ 'filter': 'fw0', 'generation': 1,"
                     "  'rules': [], 'sets': [ ");
    g_string_append(sets, " ] }");
    assert_error(&h, "too many address sets",
                 "{ 'execute': 'firewall-set-policy', 'arguments': %p }",
                 qobject_from_json(sets->str, &error_abort));
    g_string_free(sets, true);
    harness_stop(&h);
}

/* Staged policies: firewall-policy-stage and the commands that follow */

static void stage_cmd(Harness *h, const char *cmd, const char *args)
{
    qtest_qmp_assert_success(h->qts, "{ 'execute': %s, 'arguments': %p }",
                             cmd, qobject_from_json(args, &error_abort));
}

/* The arguments of firewall-policy-stage-rules with @n UDP rules */
static char *stage_rules_args(uint64_t gen, uint32_t first_id, int n)
{
    GString *s = g_string_new("");
    int i;

    g_string_append_printf(s, "{ 'filter': 'fw0', 'generation': %" PRIu64
                           ", 'rules': [ ", gen);
    for (i = 0; i < n; i++) {
        g_string_append_printf(s, "%s{ 'id': %u, 'protocol': 17,"
                               "  'destination-ports': [ { 'start': %d } ],"
                               "  'action': 'accept' }", i ? "," : "",
                               first_id + i, 20000 + i % 1000);
    }
    g_string_append(s, " ] }");
    return g_string_free(s, false);
}

/* The arguments of firewall-policy-stage-sets: set @name of @n hosts */
static char *stage_set_args(uint64_t gen, const char *name, int n)
{
    GString *s = g_string_new("");
    int i;

    g_string_append_printf(s, "{ 'filter': 'fw0', 'generation': %" PRIu64
                           ", 'sets': [ { 'name': '%s', 'addresses': [ ",
                           gen, name);
    for (i = 0; i < n; i++) {
        g_string_append_printf(s, "%s'172.16.%d.%d'", i ? "," : "",
                               i / 256, i % 256);
    }
    g_string_append(s, " ] } ] }");
    return g_string_free(s, false);
}

/* firewall-policy-commit of @gen fails with an error saying @needle */
static void assert_commit_error(Harness *h, uint64_t gen, const char *needle)
{
    assert_error(h, needle, "{ 'execute': 'firewall-policy-commit',"
                 "  'arguments': { 'filter': 'fw0', 'generation': %" PRIu64
                 " } }", gen);
}

static uint64_t fw_generation(Harness *h)
{
    QDict *info = query_fw(h);
    uint64_t gen = qdict_get_int(info, "generation");

    qobject_unref(info);
    return gen;
}

/*
 * A policy staged in pieces: packets see the old policy until the
 * commit, then the whole new one; a set given in two pieces is one set.
 */
static void test_staged_policy(void)
{
    g_autofree char *rules = NULL;
    Harness h;
    Frame f;
    QDict *info;
    int i;

    harness_start(&h, NULL);
    set_policy(&h, 1, NULL, NULL);
    stage_cmd(&h, "firewall-policy-stage", "{ 'filter': 'fw0',"
              "  'generation': 2, 'default-ingress': 'drop' }");
    stage_cmd(&h, "firewall-policy-stage-sets", "{ 'filter': 'fw0',"
              "  'generation': 2, 'sets': [ { 'name': 'radiology',"
              "                               'addresses': [ '10.20.0.0/16' ] } ] }");
    stage_cmd(&h, "firewall-policy-stage-sets", "{ 'filter': 'fw0',"
              "  'generation': 2, 'sets': [ { 'name': 'radiology',"
              "                               'addresses': [ '10.30.0.0/16' ] } ] }");
    rules = g_strdup_printf("{ 'filter': 'fw0', 'generation': 2,"
                            "  'rules': [ { 'id': 1, 'ethertype': %d,"
                            "               'action': 'accept' },"
                            "             { 'id': 2, 'source-set': 'radiology',"
                            "               'action': 'accept' } ] }",
                            SENTINEL_TYPE);
    stage_cmd(&h, "firewall-policy-stage-rules", rules);
    for (i = 0; i < 3; i++) {
        g_autofree char *more = stage_rules_args(2, 100 + i * 1000, 1000);

        stage_cmd(&h, "firewall-policy-stage-rules", more);
        /* staged, not in force: the old policy accepts everything */
        udp_frame(&f, false, "10.21.3.4", VM_IP4, 1, 2);
        g_assert_true(passes_in(&h, &f));
    }
    g_assert_cmpuint(fw_generation(&h), ==, 1);

    stage_cmd(&h, "firewall-policy-commit",
              "{ 'filter': 'fw0', 'generation': 2 }");
    info = query_fw(&h);
    g_assert_cmpuint(qdict_get_int(info, "generation"), ==, 2);
    g_assert_cmpuint(qlist_size(qdict_get_qlist(info, "rules")), ==, 3002);
    g_assert_cmpstr(qdict_get_str(info, "default-ingress"), ==, "drop");
    qobject_unref(info);
    udp_frame(&f, false, "10.20.3.4", VM_IP4, 1, 2);
    g_assert_true(passes_in(&h, &f));
    udp_frame(&f, false, "10.30.3.4", VM_IP4, 1, 2);
    g_assert_true(passes_in(&h, &f));
    udp_frame(&f, false, "10.21.3.4", VM_IP4, 1, 2);
    g_assert_false(passes_in(&h, &f));
    udp_frame(&f, false, "10.21.3.4", VM_IP4, 1, 20999);
    g_assert_true(passes_in(&h, &f));

    /* the commit ended the stage */
    assert_commit_error(&h, 2, "no staged policy");
    harness_stop(&h);
}

static void test_staged_errors(void)
{
    g_autofree char *too_many = stage_rules_args(6, 100, 1001);
    g_autofree char *thousand = stage_rules_args(6, 100, 1000);
    g_autofree char *more = stage_rules_args(6, 2000, 600);
    g_autofree char *big_set = stage_set_args(6, "big", 16385);
    Harness h;
    Frame f;

    harness_start(&h, ", \"max-rules\": 1500");
    assert_commit_error(&h, 1, "no staged policy");
    assert_error(&h, "no staged policy",
                 "{ 'execute': 'firewall-policy-stage-rules',"
                 "  'arguments': { 'filter': 'fw0', 'generation': 1,"
                 "                 'rules': [] } }");
    assert_error(&h, "no filter-firewall 'nope'",
                 "{ 'execute': 'firewall-policy-stage',"
                 "  'arguments': { 'filter': 'nope', 'generation': 1 } }");
    set_policy(&h, 5, NULL, NULL);
    assert_error(&h, "older than the policy in force",
                 "{ 'execute': 'firewall-policy-stage',"
                 "  'arguments': { 'filter': 'fw0', 'generation': 4 } }");

    /* pieces too big, or too many rules in all: refused, stage kept */
    stage_cmd(&h, "firewall-policy-stage",
              "{ 'filter': 'fw0', 'generation': 6 }");
    assert_error(&h, "1001 rules in one command, at most 1000",
                 "{ 'execute': 'firewall-policy-stage-rules',"
                 "  'arguments': %p }",
                 qobject_from_json(too_many, &error_abort));
    assert_error(&h, "16385 set addresses in one command, at most 16384",
                 "{ 'execute': 'firewall-policy-stage-sets',"
                 "  'arguments': %p }",
                 qobject_from_json(big_set, &error_abort));
    stage_cmd(&h, "firewall-policy-stage-rules", thousand);
    assert_error(&h, "too many rules: 1000 staged and 600 more",
                 "{ 'execute': 'firewall-policy-stage-rules',"
                 "  'arguments': %p }",
                 qobject_from_json(more, &error_abort));
    assert_error(&h, "staged policy of generation 6, not 7",
                 "{ 'execute': 'firewall-policy-stage-rules',"
                 "  'arguments': { 'filter': 'fw0', 'generation': 7,"
                 "                 'rules': [] } }");

    /* a new stage replaces the old one */
    stage_cmd(&h, "firewall-policy-stage",
              "{ 'filter': 'fw0', 'generation': 7, 'default-ingress': 'drop' }");
    assert_commit_error(&h, 6, "staged policy of generation 7, not 6");

    /* a newer policy installed meanwhile wins over the commit */
    set_policy(&h, 8, NULL, NULL);
    assert_commit_error(&h, 7, "generation 7 is older than the policy in "
                        "force (generation 8)");
    assert_commit_error(&h, 7, "no staged policy");

    /* a bad rule is refused at the commit, as by firewall-set-policy */
    stage_cmd(&h, "firewall-policy-stage",
              "{ 'filter': 'fw0', 'generation': 9, 'default-ingress': 'drop' }");
    stage_cmd(&h, "firewall-policy-stage-rules", "{ 'filter': 'fw0',"
              "  'generation': 9, 'rules': [ { 'id': 1,"
              "  'source': [ '10.0.0.0/40' ], 'action': 'drop' } ] }");
    assert_commit_error(&h, 9, "10.0.0.0/40");
    g_assert_cmpuint(fw_generation(&h), ==, 8);

    /* aborted: nothing to commit, the policy in force unchanged */
    stage_cmd(&h, "firewall-policy-stage",
              "{ 'filter': 'fw0', 'generation': 9, 'default-ingress': 'drop' }");
    stage_cmd(&h, "firewall-policy-abort", "{ 'filter': 'fw0' }");
    assert_commit_error(&h, 9, "no staged policy");
    udp_frame(&f, false, "10.21.3.4", VM_IP4, 1, 2);
    g_assert_true(passes_in(&h, &f));
    g_assert_cmpuint(fw_generation(&h), ==, 8);
    harness_stop(&h);
}

/* A stage that no command touches goes away by itself */
static void test_staged_expiry(void)
{
    QDict *resp = NULL;
    Harness h;
    int i;

    harness_start(&h, ", \"stage-timeout\": 1");
    stage_cmd(&h, "firewall-policy-stage",
              "{ 'filter': 'fw0', 'generation': 1 }");
    for (i = 0; i < 1000; i++) {
        g_usleep(10000);
        resp = qtest_qmp(h.qts, "{ 'execute': 'firewall-policy-stage-rules',"
                         "  'arguments': { 'filter': 'fw0', 'generation': 1,"
                         "                 'rules': [] } }");
        if (qdict_haskey(resp, "error")) {
            break;
        }
        qobject_unref(resp);
        resp = NULL;
    }
    g_assert_nonnull(resp);
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(resp, "error"),
                                          "desc"), "no staged policy"));
    qobject_unref(resp);
    harness_stop(&h);
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
    qtest_add_func("/firewall/replace-and-counters",
                   test_replace_and_counters);
    qtest_add_func("/firewall/replace-under-traffic",
                   test_replace_under_traffic);
    qtest_add_func("/firewall/add-delete-rule", test_add_delete_rule);
    qtest_add_func("/firewall/conn-limit", test_conn_limit);
    qtest_add_func("/firewall/invalid-frames", test_invalid_frames);
    qtest_add_func("/firewall/log-event", test_log_event);
    qtest_add_func("/firewall/errors", test_errors);
    qtest_add_func("/firewall/object-lifecycle", test_object_lifecycle);
    qtest_add_func("/firewall/multiqueue-refused", test_multiqueue_refused);
    qtest_add_func("/firewall/rejudge", test_rejudge);
    qtest_add_func("/firewall/tcp-pickup", test_tcp_pickup);
    qtest_add_func("/firewall/policy-file", test_policy_file);
    qtest_add_func("/firewall/connection-pages", test_connection_pages);
    qtest_add_func("/firewall/set-limits", test_set_limits);
    qtest_add_func("/firewall/staged-policy", test_staged_policy);
    qtest_add_func("/firewall/staged-errors", test_staged_errors);
    qtest_add_func("/firewall/staged-expiry", test_staged_expiry);
    qtest_add_func("/firewall/nic-replug", test_nic_replug);
    qtest_add_func("/firewall/migration", test_migration);

    return g_test_run();
}
