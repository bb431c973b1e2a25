/*
 * IPv4 and IPv6 addresses and CIDR prefixes: parsing, matching, printing
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef NET_IP_PREFIX_H
#define NET_IP_PREFIX_H

/* An address: family 4 (bytes 0..3 used, rest zero), 6, or 0 (none) */
typedef struct IpAddr {
    uint8_t family;
    uint8_t a[16];
} IpAddr;

/* A CIDR prefix; host bits are always zero (normalized) */
typedef struct IpPrefix {
    uint8_t family;             /* 4 or 6 */
    uint8_t len;                /* 0..32 or 0..128 */
    uint8_t addr[16];           /* IPv4 in bytes 0..3 */
} IpPrefix;

/*
 * Parse "a.b.c.d", "a.b.c.d/n", "x:y::z" or "x:y::z/n" into @p.  Without
 * "/n" the prefix is a host (/32 or /128).  Host bits set below the
 * prefix length are allowed and cleared ("10.1.2.3/8" -> 10.0.0.0/8).
 * IPv4 octets must be decimal without leading zeros.  On error returns
 * false and sets *@errmsg (if @errmsg) to a g_strdup'ed message.
 */
bool ip_prefix_parse(const char *s, IpPrefix *p, char **errmsg);

/* Format @p as "addr/len" into a new string */
char *ip_prefix_to_string(const IpPrefix *p);

/* Does @addr lie in @p (family must match)? */
bool ip_prefix_contains(const IpPrefix *p, const IpAddr *addr);

/* Does @a lie in one of the @n prefixes @p? */
bool ip_prefix_list_match(const IpPrefix *p, size_t n, const IpAddr *a);

/* Clear the host bits of @p below its length */
void ip_prefix_normalize(IpPrefix *p);

#endif
