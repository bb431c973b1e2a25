/*
 * VDI audit trail: records and their HMAC-SM3 chain
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <gcrypt.h>
#include "vdi-audit-core.h"

static const char mac_key[] = ",\"mac\":\"";

bool vdi_audit_chain_init(VdiAuditChain *c, const uint8_t *key,
                          size_t key_len, char **err)
{
    gcry_md_hd_t h;
    gcry_error_t e;

    memset(c, 0, sizeof(*c));
    e = gcry_md_open(&h, GCRY_MD_SM3, GCRY_MD_FLAG_HMAC);
    if (!e) {
        e = gcry_md_setkey(h, key, key_len);
        if (e) {
            gcry_md_close(h);
        }
    }
    if (e) {
        *err = g_strdup_printf("HMAC-SM3 is not available: %s",
                               gcry_strerror(e));
        return false;
    }
    c->hmac = h;
    return true;
}

void vdi_audit_chain_destroy(VdiAuditChain *c)
{
    if (c->hmac) {
        gcry_md_close(c->hmac);
        c->hmac = NULL;
    }
}

void vdi_audit_mac_to_hex(const uint8_t mac[VDI_AUDIT_MAC_LEN],
                          char hex[VDI_AUDIT_MAC_HEX + 1])
{
    static const char digits[] = "0123456789abcdef";
    int i;

    for (i = 0; i < VDI_AUDIT_MAC_LEN; i++) {
        hex[2 * i] = digits[mac[i] >> 4];
        hex[2 * i + 1] = digits[mac[i] & 15];
    }
    hex[VDI_AUDIT_MAC_HEX] = '\0';
}

char *vdi_audit_record(VdiAuditChain *c, int64_t seconds,
                       int64_t microseconds, const char *event,
                       const char *data_json,
                       uint8_t mac[VDI_AUDIT_MAC_LEN])
{
    gcry_md_hd_t h = c->hmac;
    time_t t = seconds;
    struct tm tm;
    char when[32], hex[VDI_AUDIT_MAC_HEX + 1];
    g_autofree char *body = NULL;

    if (!gmtime_r(&t, &tm) ||
        !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm)) {
        g_strlcpy(when, "1970-01-01T00:00:00", sizeof(when));
        microseconds = 0;
    }
    body = g_strdup_printf("{\"seq\":%" PRIu64 ",\"time\":\"%s.%06" PRId64
                           "Z\",\"event\":\"%s\",\"data\":%s",
                           c->seq + 1, when, microseconds, event, data_json);

    gcry_md_reset(h);
    gcry_md_write(h, c->mac, VDI_AUDIT_MAC_LEN);
    gcry_md_write(h, body, strlen(body));
    memcpy(mac, gcry_md_read(h, GCRY_MD_SM3), VDI_AUDIT_MAC_LEN);
    vdi_audit_mac_to_hex(mac, hex);
    return g_strdup_printf("%s%s%s\"}\n", body, mac_key, hex);
}

void vdi_audit_chain_advance(VdiAuditChain *c,
                             const uint8_t mac[VDI_AUDIT_MAC_LEN])
{
    c->seq++;
    memcpy(c->mac, mac, VDI_AUDIT_MAC_LEN);
}

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    return -1;
}

bool vdi_audit_parse_record(const char *line, size_t len, uint64_t *seq,
                            uint8_t mac[VDI_AUDIT_MAC_LEN])
{
    static const char seq_key[] = "{\"seq\":";
    const char *p, *tail;
    uint64_t n = 0;
    int i;

    if (len < sizeof(seq_key) + VDI_AUDIT_MAC_SUFFIX_LEN ||
        memcmp(line, seq_key, sizeof(seq_key) - 1)) {
        return false;
    }
    tail = line + len - VDI_AUDIT_MAC_SUFFIX_LEN;
    if (memcmp(tail, mac_key, sizeof(mac_key) - 1) ||
        memcmp(line + len - 3, "\"}\n", 3)) {
        return false;
    }
    p = line + sizeof(seq_key) - 1;
    if (*p < '1' || *p > '9') {
        return false;
    }
    for (; *p >= '0' && *p <= '9'; p++) {
        if (n > (UINT64_MAX - 9) / 10) {
            return false;
        }
        n = n * 10 + (*p - '0');
    }
    if (*p != ',') {
        return false;
    }
    p = tail + sizeof(mac_key) - 1;
    for (i = 0; i < VDI_AUDIT_MAC_LEN; i++) {
        int hi = hex_digit(p[2 * i]), lo = hex_digit(p[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return false;
        }
        mac[i] = hi << 4 | lo;
    }
    *seq = n;
    return true;
}
