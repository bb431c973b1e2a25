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

/* The chain's next record up to its data */
static GString *record_start(VdiAuditChain *c, int64_t seconds,
                             int64_t microseconds, const char *event)
{
    time_t t = seconds;
    struct tm tm;
    char when[32];
    GString *body = g_string_new(NULL);

    if (!gmtime_r(&t, &tm) ||
        !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm)) {
        g_strlcpy(when, "1970-01-01T00:00:00", sizeof(when));
        microseconds = 0;
    }
    g_string_printf(body, "{\"seq\":%" PRIu64 ",\"time\":\"%s.%06" PRId64
                    "Z\",\"event\":\"%s\",\"data\":",
                    c->seq + 1, when, microseconds, event);
    return body;
}

/* The record of @body, its MAC appended */
static char *record_finish(VdiAuditChain *c, GString *body,
                           uint8_t mac[VDI_AUDIT_MAC_LEN])
{
    gcry_md_hd_t h = c->hmac;
    char hex[VDI_AUDIT_MAC_HEX + 1];

    gcry_md_reset(h);
    gcry_md_write(h, c->mac, VDI_AUDIT_MAC_LEN);
    gcry_md_write(h, body->str, body->len);
    memcpy(mac, gcry_md_read(h, GCRY_MD_SM3), VDI_AUDIT_MAC_LEN);
    vdi_audit_mac_to_hex(mac, hex);
    g_string_append_printf(body, "%s%s\"}\n", mac_key, hex);
    return g_string_free(body, false);
}

char *vdi_audit_record(VdiAuditChain *c, int64_t seconds,
                       int64_t microseconds, const char *event,
                       const char *data_json,
                       uint8_t mac[VDI_AUDIT_MAC_LEN])
{
    GString *body = record_start(c, seconds, microseconds, event);

    g_string_append(body, data_json);
    return record_finish(c, body, mac);
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

struct VdiAuditSigner {
    gcry_sexp_t key;
    uint8_t z[32];          /* Z of GB/T 32918.2 for the ID and key */
    char *id;
};

/* One DER element of @tag at *@p, before @end; *@p moves past it */
static bool der_take(const uint8_t **p, const uint8_t *end, uint8_t tag,
                     const uint8_t **content, size_t *len)
{
    const uint8_t *q = *p;
    size_t n;

    if (end - q < 2 || q[0] != tag) {
        return false;
    }
    n = q[1];
    q += 2;
    if (n & 0x80) {
        int k = n & 0x7f;

        if (k < 1 || k > 2 || end - q < k) {
            return false;
        }
        for (n = 0; k--; q++) {
            n = n << 8 | *q;
        }
    }
    if (n > (size_t)(end - q)) {
        return false;
    }
    *content = q;
    *len = n;
    *p = q + n;
    return true;
}

/*
 * The private scalar of a PKCS#8 PrivateKeyInfo (RFC 5208) holding an
 * ECPrivateKey (RFC 5915) on the SM2 curve.
 */
static const char *pkcs8_sm2_scalar(const uint8_t *der, size_t len,
                                    const uint8_t **d, size_t *d_len)
{
    static const uint8_t ec_public_key[] = {    /* 1.2.840.10045.2.1 */
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 };
    static const uint8_t sm2_curve[] = {        /* 1.2.156.10197.1.301 */
        0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d };
    const uint8_t *p = der, *end = der + len, *c, *alg, *alg_end;
    size_t n;

    if (!der_take(&p, end, 0x30, &c, &n)) {
        return "not DER";
    }
    p = c;
    end = c + n;
    if (!der_take(&p, end, 0x02, &c, &n) || n != 1 || c[0] != 0 ||
        !der_take(&p, end, 0x30, &alg, &n)) {
        return "not PKCS#8";
    }
    alg_end = alg + n;
    if (!der_take(&alg, alg_end, 0x06, &c, &n) ||
        n != sizeof(ec_public_key) || memcmp(c, ec_public_key, n)) {
        return "not an elliptic curve key";
    }
    if (!der_take(&alg, alg_end, 0x06, &c, &n) ||
        n != sizeof(sm2_curve) || memcmp(c, sm2_curve, n)) {
        return "not on the SM2 curve";
    }
    /* the ECPrivateKey in the privateKey OCTET STRING */
    if (!der_take(&p, end, 0x04, &c, &n)) {
        return "not PKCS#8";
    }
    p = c;
    end = c + n;
    if (!der_take(&p, end, 0x30, &c, &n)) {
        return "not an EC private key";
    }
    p = c;
    end = c + n;
    if (!der_take(&p, end, 0x02, &c, &n) || n != 1 || c[0] != 1 ||
        !der_take(&p, end, 0x04, d, d_len) || !*d_len || *d_len > 32) {
        return "not an EC private key";
    }
    return NULL;
}

/* @v as 32 big-endian bytes */
static void mpi_to_32(gcry_mpi_t v, uint8_t out[32])
{
    size_t n;

    memset(out, 0, 32);
    gcry_mpi_print(GCRYMPI_FMT_USG, NULL, 0, &n, v);
    gcry_mpi_print(GCRYMPI_FMT_USG, out + 32 - n, n, NULL, v);
}

/* Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA) */
static void sm2_z(gcry_ctx_t ec, const char *id, uint8_t z[32])
{
    static const char *const params[] = { "a", "b" };
    size_t id_bits = strlen(id) * 8;
    uint8_t entl[2] = { id_bits >> 8, id_bits & 0xff }, buf[32];
    gcry_mpi_t x = gcry_mpi_new(0), y = gcry_mpi_new(0);
    gcry_mpi_point_t pt;
    gcry_md_hd_t h;
    size_t i;

    gcry_md_open(&h, GCRY_MD_SM3, 0);
    gcry_md_write(h, entl, 2);
    gcry_md_write(h, id, strlen(id));
    for (i = 0; i < ARRAY_SIZE(params); i++) {
        gcry_mpi_t v = gcry_mpi_ec_get_mpi(params[i], ec, 1);

        mpi_to_32(v, buf);
        gcry_md_write(h, buf, 32);
        gcry_mpi_release(v);
    }
    /* the generator, then the public key d * G */
    for (i = 0; i < 2; i++) {
        pt = gcry_mpi_ec_get_point(i ? "q" : "g", ec, 1);
        gcry_mpi_ec_get_affine(x, y, pt, ec);
        mpi_to_32(x, buf);
        gcry_md_write(h, buf, 32);
        mpi_to_32(y, buf);
        gcry_md_write(h, buf, 32);
        gcry_mpi_point_release(pt);
    }
    memcpy(z, gcry_md_read(h, GCRY_MD_SM3), 32);
    gcry_md_close(h);
    gcry_mpi_release(x);
    gcry_mpi_release(y);
}

static bool sm2_id_valid(const char *id)
{
    const char *p;

    if (!*id || strlen(id) > 255) {
        return false;
    }
    for (p = id; *p; p++) {
        if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\') {
            return false;
        }
    }
    return true;
}

VdiAuditSigner *vdi_audit_signer_new(const char *pem, size_t len,
                                     const char *id, char **err)
{
    static const char begin[] = "-----BEGIN PRIVATE KEY-----";
    static const char end[] = "-----END PRIVATE KEY-----";
    g_autofree char *text = g_strndup(pem, len);
    g_autofree uint8_t *der = NULL;
    const char *b, *e, *why;
    const uint8_t *d_bytes;
    size_t der_len, d_len;
    gcry_mpi_t d = NULL, n = NULL;
    gcry_ctx_t ec = NULL;
    VdiAuditSigner *sg = NULL;

    if (!sm2_id_valid(id)) {
        *err = g_strdup("the SM2 ID must be 1 to 255 printable ASCII "
                        "characters, without '\"' or '\\'");
        return NULL;
    }
    b = strstr(text, begin);
    e = b ? strstr(b, end) : NULL;
    if (!e) {
        *err = g_strdup("the SM2 key is not a PEM private key (-----BEGIN "
                        "PRIVATE KEY-----, as openssl genpkey -algorithm "
                        "SM2 writes)");
        return NULL;
    }
    b += strlen(begin);
    text[e - text] = '\0';
    der = g_base64_decode(b, &der_len);
    why = pkcs8_sm2_scalar(der, der_len, &d_bytes, &d_len);
    if (why) {
        *err = g_strdup_printf("the SM2 key is not an SM2 private key: %s",
                               why);
        return NULL;
    }
    if (gcry_mpi_ec_new(&ec, NULL, "sm2p256v1")) {
        *err = g_strdup("libgcrypt has no SM2 curve");
        return NULL;
    }
    gcry_mpi_scan(&d, GCRYMPI_FMT_USG, d_bytes, d_len, NULL);
    n = gcry_mpi_ec_get_mpi("n", ec, 1);
    gcry_mpi_sub_ui(n, n, 1);
    /* 1 <= d <= n - 2 (GB/T 32918.1) */
    if (!gcry_mpi_cmp_ui(d, 0) || gcry_mpi_cmp(d, n) >= 0) {
        *err = g_strdup("the SM2 key's private scalar is out of range");
        goto out;
    }
    sg = g_new0(VdiAuditSigner, 1);
    gcry_mpi_ec_set_mpi("d", d, ec);
    sm2_z(ec, id, sg->z);
    if (gcry_sexp_build(&sg->key, NULL,
                        "(private-key (ecc (curve sm2p256v1) (d %m)))", d)) {
        *err = g_strdup("libgcrypt cannot use the SM2 key");
        g_clear_pointer(&sg, g_free);
        goto out;
    }
    sg->id = g_strdup(id);
out:
    gcry_mpi_release(d);
    gcry_mpi_release(n);
    gcry_ctx_release(ec);
    return sg;
}

void vdi_audit_signer_free(VdiAuditSigner *sg)
{
    if (sg) {
        gcry_sexp_release(sg->key);
        g_free(sg->id);
        g_free(sg);
    }
}

/* DER INTEGER of the signature's @name value, appended to @der */
static void der_put_integer(gcry_sexp_t sig, const char *name,
                            GByteArray *der)
{
    gcry_sexp_t part = gcry_sexp_find_token(sig, name, 0);
    gcry_mpi_t v = gcry_sexp_nth_mpi(part, 1, GCRYMPI_FMT_USG);
    uint8_t buf[33], hdr[2] = { 0x02 };
    size_t n;

    /* two's complement: a leading zero when the top bit is set */
    gcry_mpi_print(GCRYMPI_FMT_STD, buf, sizeof(buf), &n, v);
    hdr[1] = n;
    g_byte_array_append(der, hdr, 2);
    g_byte_array_append(der, buf, n);
    gcry_mpi_release(v);
    gcry_sexp_release(part);
}

/* The hex of the DER SM2 signature (SEQUENCE of r and s) of @msg */
static char *sm2_sign_hex(VdiAuditSigner *sg, const char *msg, size_t len,
                          char **err)
{
    g_autoptr(GByteArray) der = g_byte_array_new();
    gcry_sexp_t data = NULL, sig = NULL;
    gcry_md_hd_t h;
    gcry_error_t e;
    uint8_t hdr[2] = { 0x30 }, digest[32];
    GString *hex;
    guint i;

    gcry_md_open(&h, GCRY_MD_SM3, 0);
    gcry_md_write(h, sg->z, sizeof(sg->z));
    gcry_md_write(h, msg, len);
    memcpy(digest, gcry_md_read(h, GCRY_MD_SM3), sizeof(digest));
    gcry_md_close(h);
    e = gcry_sexp_build(&data, NULL, "(data (flags sm2) (hash sm3 %b))",
                        (int)sizeof(digest), digest);
    if (!e) {
        e = gcry_pk_sign(&sig, data, sg->key);
    }
    gcry_sexp_release(data);
    if (e) {
        *err = g_strdup_printf("SM2 signing failed: %s", gcry_strerror(e));
        return NULL;
    }
    der_put_integer(sig, "r", der);
    der_put_integer(sig, "s", der);
    gcry_sexp_release(sig);
    hdr[1] = der->len;
    g_byte_array_prepend(der, hdr, 2);
    hex = g_string_sized_new(2 * der->len);
    for (i = 0; i < der->len; i++) {
        g_string_append_printf(hex, "%02x", der->data[i]);
    }
    return g_string_free(hex, false);
}

char *vdi_audit_checkpoint_record(VdiAuditChain *c, VdiAuditSigner *sg,
                                  int64_t seconds, int64_t microseconds,
                                  uint8_t mac[VDI_AUDIT_MAC_LEN],
                                  char **err)
{
    GString *body = record_start(c, seconds, microseconds,
                                 "VDI_AUDIT_CHECKPOINT");
    char hex[VDI_AUDIT_MAC_HEX + 1];
    g_autofree char *sig = NULL;

    vdi_audit_mac_to_hex(c->mac, hex);
    g_string_append_printf(body, "{\"sequence\":%" PRIu64 ",\"head-mac\":"
                           "\"%s\",\"signer-id\":\"%s\"", c->seq, hex,
                           sg->id);
    sig = sm2_sign_hex(sg, body->str, body->len, err);
    if (!sig) {
        g_string_free(body, true);
        return NULL;
    }
    g_string_append_printf(body, ",\"signature\":\"%s\"}", sig);
    return record_finish(c, body, mac);
}
