/*
 * QTest for filter-firewall on a netdev that carries a virtio-net header
 *
 * A tap netdev opened with IFF_VNET_HDR behind a virtio-net NIC hands
 * frames to the filters with the virtio-net header in front.  The tap
 * lives in a network namespace of its own (made by a child process, so
 * the test needs root and /dev/net/tun, and is skipped otherwise); the
 * test sends and receives frames on the host side of the tap through a
 * packet socket, and on the guest side through the NIC's virtqueues.
 * Rules that match only when the firewall parses past the header count
 * the frames they pass, and the frames come out unchanged.
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest-single.h"
#include "qemu/cutils.h"
#include "qemu/module.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qjson.h"
#include "qapi/error.h"
#include "hw/virtio/virtio-net.h"
#include "libqos/qgraph.h"
#include "libqos/virtio-net.h"

#include <sched.h>
#include <poll.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <linux/if_tun.h>
#include <linux/if_packet.h>
#include <linux/if_ether.h>

#define TIMEOUT_US      (30 * 1000 * 1000)
#define VNET_HDR_SIZE   sizeof(struct virtio_net_hdr_mrg_rxbuf)
#define TAP_NAME        "fwvnet0"
#define FRAME_LEN       60

typedef struct TapEnv {
    int tap;            /* QEMU's end, -1 when unavailable */
    int pkt;            /* packet socket on the tap's host side */
} TapEnv;

/* In a child in a new network namespace: a tap and a packet socket */
static void tap_env_child(int chan)
{
    struct ifreq ifr = { 0 };
    struct sockaddr_ll sll = { 0 };
    int fds[2] = { -1, -1 };
    char cbuf[CMSG_SPACE(sizeof(fds))] = { 0 };
    char byte = 0;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    struct cmsghdr *cmsg;
    int s, proc;

    if (unshare(CLONE_NEWNET) < 0) {
        goto out;
    }
    fds[0] = open("/dev/net/tun", O_RDWR);
    if (fds[0] < 0) {
        goto out;
    }
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    pstrcpy(ifr.ifr_name, sizeof(ifr.ifr_name), TAP_NAME);
    if (ioctl(fds[0], TUNSETIFF, &ifr) < 0) {
        goto out;
    }
    /* no IPv6 autoconfiguration traffic from the host side */
    proc = open("/proc/sys/net/ipv6/conf/" TAP_NAME "/disable_ipv6",
                O_WRONLY);
    if (proc >= 0) {
        if (write(proc, "1", 1) != 1) {
            goto out;
        }
        close(proc);
    }
    s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
        goto out;
    }
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
        goto out;
    }
    close(s);
    fds[1] = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = if_nametoindex(TAP_NAME);
    if (fds[1] < 0 ||
        bind(fds[1], (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        goto out;
    }
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof(cbuf);
    cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(fds));
    memcpy(CMSG_DATA(cmsg), fds, sizeof(fds));
out:
    if (sendmsg(chan, &msg, 0) < 0) {
        _exit(1);
    }
    _exit(0);
}

static void tap_env_open(TapEnv *env)
{
    int fds[2] = { -1, -1 };
    char cbuf[CMSG_SPACE(sizeof(fds))];
    char byte;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = cbuf, .msg_controllen = sizeof(cbuf),
    };
    struct cmsghdr *cmsg;
    int sv[2];
    pid_t pid;

    env->tap = env->pkt = -1;
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), ==, 0);
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        close(sv[0]);
        tap_env_child(sv[1]);
    }
    close(sv[1]);
    g_assert_cmpint(recvmsg(sv[0], &msg, 0), ==, 1);
    g_assert_cmpint(waitpid(pid, NULL, 0), ==, pid);
    close(sv[0]);
    cmsg = CMSG_FIRSTHDR(&msg);
    if (cmsg && cmsg->cmsg_type == SCM_RIGHTS &&
        cmsg->cmsg_len == CMSG_LEN(sizeof(fds))) {
        memcpy(fds, CMSG_DATA(cmsg), sizeof(fds));
        env->tap = fds[0];
        env->pkt = fds[1];
    }
}

static void tap_env_cleanup(void *opaque)
{
    TapEnv *env = opaque;

    if (env->tap >= 0) {
        close(env->tap);
        close(env->pkt);
    }
    g_free(env);
}

static void *firewall_vnet_setup(GString *cmd_line, void *arg)
{
    TapEnv *env = g_new0(TapEnv, 1);

    tap_env_open(env);
    if (env->tap < 0) {
        g_string_append(cmd_line, " -netdev hubport,hubid=0,id=hs0 ");
    } else {
        g_string_append_printf(cmd_line,
            " -netdev tap,id=hs0,fd=%d"
            " -object '{ \"qom-type\": \"filter-firewall\", \"id\": \"fw0\","
            "   \"netdev\": \"hs0\", \"vnet-hdr-support\": true,"
            "   \"mac\": \"52:54:00:12:34:56\","
            "   \"addresses\": [ \"10.0.0.5\" ] }' ", env->tap);
    }
    g_test_queue_destroy(tap_env_cleanup, env);
    return env;
}

/* A UDP/IPv4 frame between the VM (10.0.0.5) and 10.0.0.9 */
static void udp_frame(uint8_t *f, bool egress, uint16_t sport,
                      uint16_t dport)
{
    static const uint8_t vm_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    static const uint8_t peer_mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };
    static const uint8_t vm_ip[4] = { 10, 0, 0, 5 };
    static const uint8_t peer_ip[4] = { 10, 0, 0, 9 };
    const uint8_t *src = vm_ip, *dst = peer_ip;
    const uint8_t *smac = vm_mac, *dmac = peer_mac;

    if (!egress) {
        src = peer_ip;
        dst = vm_ip;
        smac = peer_mac;
        dmac = vm_mac;
    }

    memset(f, 0, FRAME_LEN);
    memcpy(f, dmac, 6);
    memcpy(f + 6, smac, 6);
    stw_be_p(f + 12, 0x0800);
    f[14] = 0x45;
    stw_be_p(f + 16, FRAME_LEN - 14);
    f[22] = 64;
    f[23] = 17;
    memcpy(f + 26, src, 4);
    memcpy(f + 30, dst, 4);
    stw_be_p(f + 34, sport);
    stw_be_p(f + 36, dport);
    stw_be_p(f + 38, FRAME_LEN - 34);
    memcpy(f + 42, "vnet header test", 16);
}

static uint64_t rule_packets(uint32_t id)
{
    QDict *resp = qmp("{ 'execute': 'query-firewall',"
                      "  'arguments': { 'filter': 'fw0' } }");
    QDict *info = qobject_to(QDict, qlist_peek(qdict_get_qlist(resp,
                                                               "return")));
    QListEntry *e;
    int64_t n = -1;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(info, "rules"), e) {
        QDict *r = qobject_to(QDict, qlist_entry_obj(e));

        if (qdict_get_int(qdict_get_qdict(r, "rule"), "id") == id) {
            n = qdict_get_int(r, "packets");
        }
    }
    qobject_unref(resp);
    g_assert_cmpint(n, >=, 0);
    return n;
}

/* The next frame the tap's host side receives from QEMU */
static size_t recv_from_qemu(int pkt, uint8_t *buf, size_t size)
{
    for (;;) {
        struct pollfd pfd = { .fd = pkt, .events = POLLIN };
        struct sockaddr_ll sll;
        socklen_t sl = sizeof(sll);
        ssize_t n;

        g_assert_cmpint(poll(&pfd, 1, 10000), ==, 1);
        n = recvfrom(pkt, buf, size, 0, (struct sockaddr *)&sll, &sl);
        g_assert_cmpint(n, >=, 0);
        if (sll.sll_pkttype != PACKET_OUTGOING) {
            return n;
        }
    }
}

static void guest_send(QVirtioNet *net, QGuestAllocator *alloc,
                       const uint8_t *frame)
{
    QVirtQueue *vq = net->queues[1];
    uint64_t addr = guest_alloc(alloc, VNET_HDR_SIZE + FRAME_LEN);
    uint8_t hdr[VNET_HDR_SIZE] = { 0 };
    uint32_t head;

    memwrite(addr, hdr, sizeof(hdr));
    memwrite(addr + VNET_HDR_SIZE, frame, FRAME_LEN);
    head = qvirtqueue_add(global_qtest, vq, addr, VNET_HDR_SIZE + FRAME_LEN,
                          false, false);
    qvirtqueue_kick(global_qtest, net->vdev, vq, head);
    qvirtio_wait_used_elem(global_qtest, net->vdev, vq, head, NULL,
                           TIMEOUT_US);
    guest_free(alloc, addr);
}

static void firewall_vnet_test(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    TapEnv *env = data;
    QVirtQueue *rxq = net->queues[0];
    uint8_t f[FRAME_LEN], got[2048];
    uint64_t rx_addr;
    uint32_t head, len;

    if (env->tap < 0) {
        g_test_skip("needs root and /dev/net/tun in a network namespace");
        return;
    }
    qtest_qmp_assert_success(global_qtest,
        "{ 'execute': 'firewall-set-policy', 'arguments': {"
        "  'filter': 'fw0', 'generation': 1,"
        "  'default-ingress': 'drop', 'default-egress': 'drop',"
        "  'rules': ["
        "    { 'id': 1, 'direction': 'egress', 'protocol': 17,"
        "      'destination-ports': [ { 'start': 7000 } ],"
        "      'action': 'accept' },"
        "    { 'id': 2, 'direction': 'ingress', 'protocol': 17,"
        "      'destination-ports': [ { 'start': 7001 } ],"
        "      'action': 'accept' } ] } }");

    /* egress: a dropped frame, then one rule 1 passes */
    udp_frame(f, true, 5000, 7003);
    guest_send(net, alloc, f);
    udp_frame(f, true, 5000, 7000);
    guest_send(net, alloc, f);
    g_assert_cmpuint(recv_from_qemu(env->pkt, got, sizeof(got)), ==,
                     FRAME_LEN);
    g_assert_cmpmem(got, FRAME_LEN, f, FRAME_LEN);
    g_assert_cmpuint(rule_packets(1), ==, 1);

    /* ingress: a dropped frame, then one rule 2 passes into the guest */
    rx_addr = guest_alloc(alloc, sizeof(got));
    head = qvirtqueue_add(global_qtest, rxq, rx_addr, sizeof(got), true,
                          false);
    qvirtqueue_kick(global_qtest, net->vdev, rxq, head);
    udp_frame(f, false, 6000, 7002);
    g_assert_cmpint(send(env->pkt, f, FRAME_LEN, 0), ==, FRAME_LEN);
    udp_frame(f, false, 6000, 7001);
    g_assert_cmpint(send(env->pkt, f, FRAME_LEN, 0), ==, FRAME_LEN);
    qvirtio_wait_used_elem(global_qtest, net->vdev, rxq, head, &len,
                           TIMEOUT_US);
    g_assert_cmpuint(len, ==, VNET_HDR_SIZE + FRAME_LEN);
    memread(rx_addr + VNET_HDR_SIZE, got, FRAME_LEN);
    g_assert_cmpmem(got, FRAME_LEN, f, FRAME_LEN);
    guest_free(alloc, rx_addr);
    g_assert_cmpuint(rule_packets(2), ==, 1);
    g_assert_cmpuint(rule_packets(1), ==, 1);
}

static void register_firewall_vnet_test(void)
{
    QOSGraphTestOptions opts = {
        .before = firewall_vnet_setup,
    };

    qos_add_test("firewall-vnet-hdr", "virtio-net", firewall_vnet_test,
                 &opts);
}

libqos_init(register_firewall_vnet_test);
