/*
 * Unit tests of the firewall core's anti-spoofing
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "net/firewall-core.h"
#include "firewall-core-util.h"

/* ------------------------------------------------------------------ */
/* Anti-spoofing                                                       */
/* ------------------------------------------------------------------ */

static void test_spoof_ip(void)
{
    g_autoptr(FwAntispoof) as = make_as();
    uint8_t f[MAXF], bootp[240] = { 1 };
    Spec s;

    spec_init(&s, 4, 6);
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_NONE);
    s.smac[5] ^= 1;
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_MAC);
    memcpy(s.smac, VM_MAC, 6);
    s.src = "10.0.0.3";
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_IP);
    s.src = "0.0.0.0";
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_IP);

    /* DHCP discover from 0.0.0.0 is fine, DHCP server traffic is not */
    spec_init(&s, 4, 17);
    s.src = "0.0.0.0";
    s.dst = "255.255.255.255";
    s.sport = 68;
    s.dport = 67;
    s.payload = bootp;
    s.payload_len = sizeof(bootp);
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_NONE);
    s.dport = 53;
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_IP);
    s.src = "10.0.0.2";
    s.sport = 67;
    s.dport = 68;
    bootp[0] = 2;
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==,
                    FW_SPOOF_DHCP_SERVER);
    s.sport = 68;
    s.dport = 67;
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==,
                    FW_SPOOF_DHCP_SERVER);

    /* IPv6 */
    spec_init(&s, 6, 17);
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_NONE);
    s.src = "2001:db8:5::1234";
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_NONE);
    s.src = "2001:db8:6::1";
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_IP);
    /* the EUI-64 link-local of 52:54:00:12:34:56 */
    s.src = "fe80::5054:ff:fe12:3456";
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_NONE);
    s.src = "fe80::5054:ff:fe12:3457";
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_IP);
    s.src = "::";
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_IP);
    s.src = "2001:db8::2";
    s.sport = 547;
    s.dport = 546;
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==,
                    FW_SPOOF_DHCP_SERVER);
    /* DHCPv6 client is fine */
    s.src = "fe80::5054:ff:fe12:3456";
    s.sport = 546;
    s.dport = 547;
    g_assert_cmpint(spoof_of(as, f, build_frame(&s, f)), ==, FW_SPOOF_NONE);
}

static void test_spoof_arp(void)
{
    g_autoptr(FwAntispoof) as = make_as();
    uint8_t f[64], other[6] = { 2, 0, 0, 0, 0, 9 };
    size_t n;

    n = build_arp(f, 1, VM_MAC, VM_MAC, "10.0.0.2", "10.0.0.1");
    g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_NONE);
    n = build_arp(f, 1, VM_MAC, VM_MAC, "0.0.0.0", "10.0.0.2");
    g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_NONE);
    n = build_arp(f, 2, VM_MAC, other, "10.0.0.2", "10.0.0.1");
    g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_ARP);
    n = build_arp(f, 2, VM_MAC, VM_MAC, "10.0.0.1", "10.0.0.1");
    g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_ARP);
    n = build_arp(f, 2, other, VM_MAC, "10.0.0.2", "10.0.0.1");
    g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_MAC);
}

static void test_spoof_nd(void)
{
    g_autoptr(FwAntispoof) as = make_as();
    uint8_t f[MAXF], other[6] = { 2, 0, 0, 0, 0, 9 };
    const char *ll = "fe80::5054:ff:fe12:3456";
    size_t n;

    /* DAD from :: and normal NS/NA for own addresses */
    n = build_nd(f, 135, "::", ll, 0, NULL, 0);
    g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_NONE);
    n = build_nd(f, 135, ll, "fe80::1", 1, VM_MAC, 1);
    g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_NONE);
    n = build_nd(f, 136, ll, "2001:db8::2", 2, VM_MAC, 1);
    g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_NONE);
    n = build_nd(f, 133, "::", NULL, 0, NULL, 0);
    g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_NONE);
    /* NA for someone else's address */
    n = build_nd(f, 136, ll, "2001:db8::1", 2, VM_MAC, 1);
    g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_IP);
    /* link-layer option with another MAC */
    n = build_nd(f, 136, ll, "2001:db8::2", 2, other, 1);
    g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_MAC);
    /* NA from :: */
    n = build_nd(f, 136, "::", "2001:db8::2", 0, NULL, 0);
    g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_IP);
    /* router advertisement and redirect */
    n = build_nd(f, 134, ll, NULL, 0, NULL, 0);
    g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_ROUTER_ADVERT);
    {
        Spec s;
        uint8_t body[32] = { 0 };

        spec_init(&s, 6, 58);
        s.src = ll;
        s.icmp_type = 137;
        s.icmp_id = 0;
        s.payload = body;
        s.payload_len = 32;
        n = build_frame(&s, f);
        g_assert_cmpint(spoof_of(as, f, n), ==, FW_SPOOF_ROUTER_ADVERT);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/firewall-core/antispoof/ip", test_spoof_ip);
    g_test_add_func("/firewall-core/antispoof/arp", test_spoof_arp);
    g_test_add_func("/firewall-core/antispoof/nd", test_spoof_nd);

    return g_test_run();
}
