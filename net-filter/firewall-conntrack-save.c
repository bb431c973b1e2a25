/*
 * Per-VM firewall core: the connection table's migration format
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "firewall-conntrack-int.h"

/*
 * Migration format, big-endian: a header, then one FwCtSaved per live
 * connection.  The stream comes from another host: everything in it is
 * checked before it reaches the table.
 */
#define CT_SAVE_MAGIC       0x46574354u     /* "FWCT" */
#define CT_SAVE_VERSION     1
#define CT_SAVE_FLAGS       (CTF_SEEN_REPLY | CTF_FIN_ORIG | CTF_FIN_REPLY | \
                             CTF_ORIG_INGRESS)

typedef struct QEMU_PACKED FwCtSaveHeader {
    uint32_t magic;
    uint32_t version;
    uint32_t count;             /* FwCtSaved records that follow */
} FwCtSaveHeader;

typedef struct QEMU_PACKED FwCtSaved {
    uint8_t src[16];            /* the key, as in FwCtKey */
    uint8_t dst[16];
    uint16_t sport;
    uint16_t dport;
    uint8_t proto;
    uint8_t family;
    uint8_t cls;                /* timeout class */
    uint8_t flags;              /* CT_SAVE_FLAGS */
    uint64_t left_ns;           /* time to expiry */
    uint32_t rule_id;
    struct QEMU_PACKED {
        uint64_t packets;
        uint64_t bytes;
    } dir[2];                   /* [0] original, [1] reply direction */
} FwCtSaved;

QEMU_BUILD_BUG_ON(sizeof(FwCtSaveHeader) != 12);
QEMU_BUILD_BUG_ON(sizeof(FwCtSaved) != 84);

GByteArray *fw_conntrack_save(const FwConntrack *ct, int64_t now)
{
    GByteArray *out = g_byte_array_sized_new(sizeof(FwCtSaveHeader) +
                                             ct->count * sizeof(FwCtSaved));
    FwCtSaveHeader hdr;
    uint32_t n = 0;

    g_byte_array_set_size(out, sizeof(hdr));
    for (int c = 0; c < CLS__MAX; c++) {
        uint32_t i;

        for (i = ct->lists[c].head; i != CT_NONE; i = ct->cold[i].next) {
            const FwCtHot *e = ct_hot(ct, i);
            const FwCtCold *cold = ct_cold(ct, i);
            FwCtSaved rec;

            if (e->expires <= now) {
                continue;
            }
            memcpy(rec.src, e->k.src, sizeof(rec.src));
            memcpy(rec.dst, e->k.dst, sizeof(rec.dst));
            rec.sport = cpu_to_be16(e->k.sport);
            rec.dport = cpu_to_be16(e->k.dport);
            rec.proto = e->k.proto;
            rec.family = e->k.family;
            rec.cls = e->k.cls;
            rec.flags = e->k.flags & CT_SAVE_FLAGS;
            rec.left_ns = cpu_to_be64(e->expires - now);
            rec.rule_id = cpu_to_be32(cold->rule_id);
            for (int d = 0; d < 2; d++) {
                rec.dir[d].packets = cpu_to_be64(cold->packets[d] +
                                                 e->packets[d]);
                rec.dir[d].bytes = cpu_to_be64(cold->bytes[d] + e->bytes[d]);
            }
            g_byte_array_append(out, (const uint8_t *)&rec, sizeof(rec));
            n++;
        }
    }
    hdr.magic = cpu_to_be32(CT_SAVE_MAGIC);
    hdr.version = cpu_to_be32(CT_SAVE_VERSION);
    hdr.count = cpu_to_be32(n);
    memcpy(out->data, &hdr, sizeof(hdr));
    return out;
}

bool fw_conntrack_load(FwConntrack *ct, const uint8_t *data, size_t len,
                       int64_t now, char **errmsg)
{
    static const uint8_t zero[12];
    FwCtSaveHeader hdr = { 0 };
    uint32_t n;

    if (len >= sizeof(hdr)) {
        memcpy(&hdr, data, sizeof(hdr));
    }
    if (len < sizeof(hdr) || be32_to_cpu(hdr.magic) != CT_SAVE_MAGIC ||
        be32_to_cpu(hdr.version) != CT_SAVE_VERSION) {
        *errmsg = g_strdup("not a connection table of a known version");
        return false;
    }
    n = be32_to_cpu(hdr.count);
    if ((len - sizeof(hdr)) / sizeof(FwCtSaved) != n ||
        (len - sizeof(hdr)) % sizeof(FwCtSaved)) {
        *errmsg = g_strdup_printf("connection table of %zu bytes for %" PRIu32
                                  " entries", len, n);
        return false;
    }
    for (uint32_t r = 0; r < n; r++) {
        FwCtSaved rec;
        int64_t left;
        FwCtCold *cold;
        FwCtHot *e;
        FwCtKey k;

        memcpy(&rec, data + sizeof(hdr) + r * sizeof(rec), sizeof(rec));
        if ((rec.family != 4 && rec.family != 6) ||
            (rec.family == 4 && (memcmp(rec.src + 4, zero, sizeof(zero)) ||
                                 memcmp(rec.dst + 4, zero, sizeof(zero)))) ||
            rec.cls >= CLS__MAX || (rec.flags & ~CT_SAVE_FLAGS)) {
            *errmsg = g_strdup_printf("connection %" PRIu32 " is malformed",
                                      r);
            return false;
        }
        left = be64_to_cpu(rec.left_ns);
        if (left <= 0) {
            continue;
        }
        memset(&k, 0, sizeof(k));
        memcpy(k.src, rec.src, sizeof(k.src));
        memcpy(k.dst, rec.dst, sizeof(k.dst));
        k.sport = be16_to_cpu(rec.sport);
        k.dport = be16_to_cpu(rec.dport);
        k.proto = rec.proto;
        k.family = rec.family;
        e = ct_restore(ct, &k, rec.cls, rec.flags,
                       now + MIN(left, ct->timeout_ns[rec.cls]),
                       be32_to_cpu(rec.rule_id));
        if (!e) {
            continue;
        }
        cold = ct_cold(ct, e - ct->hot);
        for (int d = 0; d < 2; d++) {
            cold->packets[d] = be64_to_cpu(rec.dir[d].packets);
            cold->bytes[d] = be64_to_cpu(rec.dir[d].bytes);
        }
    }
    return true;
}
