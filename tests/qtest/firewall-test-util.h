/*
 * Frames, their transport and the QMP helpers of the filter-firewall
 * qtests
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TESTS_QTEST_FIREWALL_TEST_UTIL_H
#define TESTS_QTEST_FIREWALL_TEST_UTIL_H

#include "libqtest.h"
#include "firewall-harness.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qjson.h"
#include "qapi/error.h"
#include "qemu/bswap.h"
#include "qemu/iov.h"

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

static inline uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
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

static inline uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return ~sum;
}

static inline void eth_header(Frame *f, const char *dst, const char *src,
                              uint16_t type)
{
    memcpy(f->data, dst, 6);
    memcpy(f->data + 6, src, 6);
    stw_be_p(f->data + 12, type);
    f->len = 14;
}

/* An IPv4 or IPv6 packet (by the address family) with an L4 payload */
static inline void ip_packet(Frame *f, const char *src_mac, const char *dst_mac,
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
        stw_be_p(ip + 2, 20 + l4len);
        ip[8] = 64;
        ip[9] = proto;
        memcpy(ip + 12, a, 4);
        memcpy(ip + 16, b, 4);
        stw_be_p(ip + 10, csum_fold(csum_add(0, ip, 20)));
        l4p = ip + 20;
        memcpy(l4p, l4, l4len);
        sum = csum_add(0, ip + 12, 8) + proto + l4len;
        if (proto != 1) {
            stw_be_p(l4p + csum_off, 0);
            stw_be_p(l4p + csum_off, csum_fold(csum_add(sum, l4p, l4len)));
        } else {
            stw_be_p(l4p + 2, 0);
            stw_be_p(l4p + 2, csum_fold(csum_add(0, l4p, l4len)));
        }
        f->len = 14 + 20 + l4len;
    } else {
        g_assert(inet_pton(AF_INET6, src, a) == 1);
        g_assert(inet_pton(AF_INET6, dst, b) == 1);
        eth_header(f, dst_mac, src_mac, 0x86dd);
        memset(ip, 0, 40);
        ip[0] = 0x60;
        stw_be_p(ip + 4, l4len);
        ip[6] = proto;
        ip[7] = 64;
        memcpy(ip + 8, a, 16);
        memcpy(ip + 24, b, 16);
        l4p = ip + 40;
        memcpy(l4p, l4, l4len);
        sum = csum_add(0, ip + 8, 32) + proto + l4len;
        stw_be_p(l4p + csum_off, 0);
        stw_be_p(l4p + csum_off, csum_fold(csum_add(sum, l4p, l4len)));
        f->len = 14 + 40 + l4len;
    }
}

static inline void tcp_frame(Frame *f, bool egress, const char *src,
                             const char *dst, uint16_t sport, uint16_t dport,
                             uint8_t flags)
{
    uint8_t tcp[20] = { 0 };

    stw_be_p(tcp, sport);
    stw_be_p(tcp + 2, dport);
    tcp[7] = 1;                         /* sequence number 1 */
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    stw_be_p(tcp + 14, 8192);
    ip_packet(f, egress ? VM_MAC : PEER_MAC, egress ? PEER_MAC : VM_MAC,
              src, dst, 6, tcp, sizeof(tcp));
}

static inline void udp_frame(Frame *f, bool egress, const char *src,
                             const char *dst, uint16_t sport, uint16_t dport)
{
    uint8_t udp[8 + 12] = { 0 };

    stw_be_p(udp, sport);
    stw_be_p(udp + 2, dport);
    stw_be_p(udp + 4, sizeof(udp));
    memcpy(udp + 8, "hello, world", 12);
    ip_packet(f, egress ? VM_MAC : PEER_MAC, egress ? PEER_MAC : VM_MAC,
              src, dst, 17, udp, sizeof(udp));
}

static inline void icmp_frame(Frame *f, bool egress, const char *src,
                              const char *dst, uint8_t type, uint8_t code)
{
    uint8_t icmp[16] = { type, code, 0, 0, 0x12, 0x34, 0, 1 };
    bool v6 = strchr(src, ':');

    ip_packet(f, egress ? VM_MAC : PEER_MAC, egress ? PEER_MAC : VM_MAC,
              src, dst, v6 ? 58 : 1, icmp, sizeof(icmp));
}

static inline void arp_frame(Frame *f, const char *sender_mac,
                             const char *sender_ip, const char *target_ip)
{
    uint8_t *arp = f->data + 14;

    eth_header(f, "\xff\xff\xff\xff\xff\xff", sender_mac, 0x0806);
    stw_be_p(arp, 1);
    stw_be_p(arp + 2, 0x0800);
    arp[4] = 6;
    arp[5] = 4;
    stw_be_p(arp + 6, 1);
    memcpy(arp + 8, sender_mac, 6);
    inet_pton(AF_INET, sender_ip, arp + 14);
    memset(arp + 18, 0, 6);
    inet_pton(AF_INET, target_ip, arp + 24);
    f->len = 14 + 28;
}

static inline void sentinel_frame(Frame *f, bool egress)
{
    eth_header(f, egress ? PEER_MAC : VM_MAC, egress ? VM_MAC : PEER_MAC,
               SENTINEL_TYPE);
    memcpy(f->data + 14, "sentinel", 8);
    f->len = 14 + 46;
}

/* Frame transport: 4-byte big-endian length, then the frame */

static inline void send_frame(int fd, const Frame *f)
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
static inline bool recv_frame(int fd, Frame *f, int timeout_ms)
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

static inline bool is_sentinel(const Frame *f)
{
    return f->len >= 14 && f->data[12] == SENTINEL_TYPE >> 8 &&
           f->data[13] == (SENTINEL_TYPE & 0xff);
}

/*
 * Send @f in its direction followed by a sentinel; return whether @f
 * came out on the other side.  Frames the firewall generates itself
 * (rejects) are returned in @reply when not NULL.
 */
static inline bool passes(Harness *h, const Frame *f, bool egress, Frame *reply)
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

static inline bool passes_in(Harness *h, const Frame *f)
{
    return passes(h, f, false, NULL);
}

static inline bool passes_out(Harness *h, const Frame *f)
{
    return passes(h, f, true, NULL);
}

/* Harness set-up */

static inline void harness_start(Harness *h, const char *extra_props)
{
    g_autofree char *filter = g_strdup_printf(
        "-object '{ \"qom-type\": \"filter-firewall\", \"id\": \"fw0\","
        "  \"netdev\": \"bn0\", \"mac\": \"52:54:00:12:34:56\","
        "  \"addresses\": [ \"" VM_IP4 "\", \"" VM_IP6 "\" ] %s }'",
        extra_props ? extra_props : "");

    harness_start_with(h, filter);
}

/* Set a policy: the sentinel rule plus @rules (a JSON list body). */
static inline void set_policy(Harness *h, uint64_t gen, const char *defaults,
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

static inline QDict *query_fw(Harness *h)
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

static inline uint64_t drops(Harness *h, const char *reason)
{
    QDict *info = query_fw(h);
    uint64_t n = qdict_get_int(qdict_get_qdict(info, "drops"), reason);

    qobject_unref(info);
    return n;
}

static inline QDict *rule_info(QDict *info, uint32_t id)
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

static inline void assert_error(Harness *h, const char *needle, const char *fmt,
                                ...) G_GNUC_PRINTF(3, 4);

static inline void assert_error(Harness *h, const char *needle, const char *fmt,
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

static inline uint64_t rule_packets(QDict *info, uint32_t id)
{
    QDict *r = rule_info(info, id);

    g_assert_nonnull(r);
    return qdict_get_int(r, "packets");
}

/* Establish an egress TCP connection from port @sport to 10.8.8.8:80 */
static inline void tcp_connect(Harness *h, uint16_t sport)
{
    Frame f;

    tcp_frame(&f, true, VM_IP4, "10.8.8.8", sport, 80, 0x02);
    g_assert_true(passes_out(h, &f));
    tcp_frame(&f, false, "10.8.8.8", VM_IP4, 80, sport, 0x12);
    g_assert_true(passes_in(h, &f));
}

/* Does the peer's next segment of that connection get in? */
static inline bool tcp_alive(Harness *h, uint16_t sport)
{
    Frame f;

    tcp_frame(&f, false, "10.8.8.8", VM_IP4, 80, sport, 0x10);
    return passes_in(h, &f);
}

static inline QList *list_connections(Harness *h, const char *args)
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

#endif
