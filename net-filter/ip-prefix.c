/*
 * IPv4 and IPv6 addresses and CIDR prefixes: parsing, matching, printing
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Shared by the firewall (net/firewall-*.c) and the session zones and
 * printer map (hw/vdi/); no QEMU dependencies beyond qemu/osdep.h (GLib).
 */

#include "qemu/osdep.h"
#include "ip-prefix.h"

static bool addr_bits_match(const uint8_t *a, const uint8_t *b, unsigned len)
{
    unsigned bytes = len / 8, bits = len % 8;

    if (memcmp(a, b, bytes) != 0) {
        return false;
    }
    if (bits) {
        uint8_t m = (uint8_t)(0xff << (8 - bits));
        return ((a[bytes] ^ b[bytes]) & m) == 0;
    }
    return true;
}

bool ip_prefix_contains(const IpPrefix *p, const IpAddr *addr)
{
    if (p->family != addr->family || (p->family != 4 && p->family != 6)) {
        return false;
    }
    return addr_bits_match(p->addr, addr->a, p->len);
}

void ip_prefix_normalize(IpPrefix *p)
{
    unsigned n = p->family == 4 ? 4 : 16;

    for (unsigned i = 0; i < 16; i++) {
        unsigned bit = i * 8;
        if (i >= n || bit >= p->len) {
            p->addr[i] = 0;
        } else if (bit + 8 > p->len) {
            p->addr[i] &= (uint8_t)(0xff << (8 - (p->len - bit)));
        }
    }
}

bool ip_prefix_list_match(const IpPrefix *p, size_t n, const IpAddr *a)
{
    for (size_t i = 0; i < n; i++) {
        if (ip_prefix_contains(&p[i], a)) {
            return true;
        }
    }
    return false;
}

static bool parse_ipv4_addr(const char *s, uint8_t out[4], char **err)
{
    const char *c = s;

    for (int i = 0; i < 4; i++) {
        unsigned v = 0;
        int digits = 0;

        if (i > 0) {
            if (*c != '.') {
                *err = g_strdup_printf("'%s' is not a valid IPv4 address", s);
                return false;
            }
            c++;
        }
        while (*c >= '0' && *c <= '9') {
            if (digits == 3) {
                *err = g_strdup_printf("'%s' is not a valid IPv4 address: "
                                       "octet too long", s);
                return false;
            }
            v = v * 10 + (*c - '0');
            digits++;
            c++;
        }
        if (digits == 0) {
            *err = g_strdup_printf("'%s' is not a valid IPv4 address", s);
            return false;
        }
        if (digits > 1 && c[-digits] == '0') {
            *err = g_strdup_printf("'%s' is not a valid IPv4 address: "
                                   "leading zero in octet", s);
            return false;
        }
        if (v > 255) {
            *err = g_strdup_printf("'%s' is not a valid IPv4 address: "
                                   "octet %u out of range (0-255)", s, v);
            return false;
        }
        out[i] = v;
    }
    if (*c != '\0') {
        *err = g_strdup_printf("'%s' is not a valid IPv4 address", s);
        return false;
    }
    return true;
}

bool ip_prefix_parse(const char *s, IpPrefix *p, char **errmsg)
{
    g_autofree char *addr = NULL;
    const char *slash;
    char *err = NULL;
    unsigned maxlen, len;

    memset(p, 0, sizeof(*p));
    if (!s || !*s) {
        err = g_strdup("empty address prefix");
        goto fail;
    }
    slash = strchr(s, '/');
    addr = slash ? g_strndup(s, slash - s) : g_strdup(s);
    if (strchr(addr, ':')) {
        struct in6_addr a6;

        if (inet_pton(AF_INET6, addr, &a6) != 1) {
            err = g_strdup_printf("'%s' is not a valid IPv6 address", addr);
            goto fail;
        }
        p->family = 6;
        memcpy(p->addr, &a6, 16);
        maxlen = 128;
    } else {
        if (!parse_ipv4_addr(addr, p->addr, &err)) {
            goto fail;
        }
        p->family = 4;
        maxlen = 32;
    }
    len = maxlen;
    if (slash) {
        const char *c = slash + 1;
        int digits = 0;

        len = 0;
        while (*c >= '0' && *c <= '9' && digits < 4) {
            len = len * 10 + (*c - '0');
            digits++;
            c++;
        }
        if (digits == 0 || *c != '\0' || digits > 3 ||
            (digits > 1 && slash[1] == '0')) {
            err = g_strdup_printf("'%s': invalid prefix length", s);
            goto fail;
        }
        if (len > maxlen) {
            err = g_strdup_printf("'%s': prefix length %u out of range for "
                                  "IPv%d (0-%u)", s, len, p->family, maxlen);
            goto fail;
        }
    }
    p->len = len;
    ip_prefix_normalize(p);
    return true;

fail:
    memset(p, 0, sizeof(*p));
    if (errmsg) {
        *errmsg = err;
    } else {
        g_free(err);
    }
    return false;
}

char *ip_prefix_to_string(const IpPrefix *p)
{
    char buf[INET6_ADDRSTRLEN];

    if (!inet_ntop(p->family == 4 ? AF_INET : AF_INET6, p->addr,
                   buf, sizeof(buf))) {
        return g_strdup("?");
    }
    return g_strdup_printf("%s/%u", buf, p->len);
}
