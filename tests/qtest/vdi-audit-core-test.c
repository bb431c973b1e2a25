/*
 * Unit tests of the VDI audit trail's record and chain core
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <gcrypt.h>
#include "../../hw/vdi/vdi-audit-core.h"

static const uint8_t key[] = "0123456789abcdef";

/* HMAC-SM3 values computed independently with Python's hmac and OpenSSL */
#define LINE1 "{\"seq\":1,\"time\":\"2026-12-04T13:55:56.000042Z\"," \
    "\"event\":\"FIREWALL_QUARANTINE\"," \
    "\"data\":{\"filter\":\"fw0\",\"active\":true}," \
    "\"mac\":\"cb7b8282e311a3ca9eb8e1825a2b9b45" \
    "f0ab9e6be71de622f1b3d4c857c91e5f\"}\n"
#define LINE2 "{\"seq\":2,\"time\":\"1970-01-01T00:00:00.000000Z\"," \
    "\"event\":\"VNC_CONNECTED\",\"data\":{}," \
    "\"mac\":\"7e49771272a3b31557e0e3f8e7ab890d" \
    "6a97e276c05c5636df3b9e6adab0d4a9\"}\n"

static void chain_start(VdiAuditChain *c)
{
    g_autofree char *err = NULL;

    g_assert_true(vdi_audit_chain_init(c, key, 16, &err));
    g_assert_null(err);
}

static void test_known_chain(void)
{
    VdiAuditChain c;
    uint8_t mac[VDI_AUDIT_MAC_LEN];
    g_autofree char *r1 = NULL, *r2 = NULL;

    chain_start(&c);
    r1 = vdi_audit_record(&c, 1796392556, 42, "FIREWALL_QUARANTINE",
                          "{\"filter\":\"fw0\",\"active\":true}", mac);
    g_assert_cmpstr(r1, ==, LINE1);
    vdi_audit_chain_advance(&c, mac);
    g_assert_cmpuint(c.seq, ==, 1);
    r2 = vdi_audit_record(&c, 0, 0, "VNC_CONNECTED", "{}", mac);
    g_assert_cmpstr(r2, ==, LINE2);
    vdi_audit_chain_destroy(&c);
}

/* A record that is not advanced past is built again, identical */
static void test_unwritten_record_not_chained(void)
{
    VdiAuditChain c;
    uint8_t mac[VDI_AUDIT_MAC_LEN], mac2[VDI_AUDIT_MAC_LEN];
    g_autofree char *r1 = NULL, *again = NULL;

    chain_start(&c);
    r1 = vdi_audit_record(&c, 1796392556, 42, "FIREWALL_QUARANTINE",
                          "{\"filter\":\"fw0\",\"active\":true}", mac);
    again = vdi_audit_record(&c, 1796392556, 42, "FIREWALL_QUARANTINE",
                             "{\"filter\":\"fw0\",\"active\":true}", mac2);
    g_assert_cmpstr(r1, ==, again);
    g_assert_cmpmem(mac, sizeof(mac), mac2, sizeof(mac2));
    g_assert_cmpuint(c.seq, ==, 0);
    vdi_audit_chain_destroy(&c);
}

/* A chain continued from a parsed record goes on as the original */
static void test_parse_and_continue(void)
{
    VdiAuditChain c;
    uint8_t mac[VDI_AUDIT_MAC_LEN];
    uint64_t seq;
    g_autofree char *r2 = NULL;

    g_assert_true(vdi_audit_parse_record(LINE1, strlen(LINE1), &seq, mac));
    g_assert_cmpuint(seq, ==, 1);
    chain_start(&c);
    c.seq = seq;
    memcpy(c.mac, mac, sizeof(mac));
    r2 = vdi_audit_record(&c, 0, 0, "VNC_CONNECTED", "{}", mac);
    g_assert_cmpstr(r2, ==, LINE2);
    vdi_audit_chain_destroy(&c);
}

static void test_parse_rejects(void)
{
    static const char *const bad[] = {
        "",
        "{\"seq\":1}\n",
        /* no newline: a record cut short */
        "{\"seq\":1,\"data\":{},\"mac\":\"cb7b8282e311a3ca9eb8e1825a2b9b45"
        "f0ab9e6be71de622f1b3d4c857c91e5f\"}",
        /* sequence 0, leading zero, not a number, overflow */
        "{\"seq\":0,\"data\":{},\"mac\":\"cb7b8282e311a3ca9eb8e1825a2b9b45"
        "f0ab9e6be71de622f1b3d4c857c91e5f\"}\n",
        "{\"seq\":01,\"data\":{},\"mac\":\"cb7b8282e311a3ca9eb8e1825a2b9b45"
        "f0ab9e6be71de622f1b3d4c857c91e5f\"}\n",
        "{\"seq\":x,\"data\":{},\"mac\":\"cb7b8282e311a3ca9eb8e1825a2b9b45"
        "f0ab9e6be71de622f1b3d4c857c91e5f\"}\n",
        "{\"seq\":99999999999999999999,\"data\":{},\"mac\":\""
        "cb7b8282e311a3ca9eb8e1825a2b9b45f0ab9e6be71de622f1b3d4c857c91e5f\"}\n",
        /* upper case or short MAC */
        "{\"seq\":1,\"data\":{},\"mac\":\"CB7B8282e311a3ca9eb8e1825a2b9b45"
        "f0ab9e6be71de622f1b3d4c857c91e5f\"}\n",
        "{\"seq\":1,\"data\":{},\"mac\":\"cb7b8282e311a3ca9eb8e1825a2b9b45"
        "f0ab9e6be71de622f1b3d4c857c91e5\"}\n",
    };
    uint8_t mac[VDI_AUDIT_MAC_LEN];
    uint64_t seq;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(bad); i++) {
        g_assert_false(vdi_audit_parse_record(bad[i], strlen(bad[i]),
                                              &seq, mac));
    }
}

/* Each key gives another chain */
static void test_key_matters(void)
{
    VdiAuditChain c;
    uint8_t mac[VDI_AUDIT_MAC_LEN];
    g_autofree char *err = NULL, *r1 = NULL;

    g_assert_true(vdi_audit_chain_init(&c, key, 15, &err));
    r1 = vdi_audit_record(&c, 1796392556, 42, "FIREWALL_QUARANTINE",
                          "{\"filter\":\"fw0\",\"active\":true}", mac);
    g_assert_cmpstr(r1, !=, LINE1);
    vdi_audit_chain_destroy(&c);
}

/* A key of "openssl genpkey -algorithm SM2", and its public key */
#define SM2_PEM "-----BEGIN PRIVATE KEY-----\n" \
    "MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQgM7y1NFtMp0yAfIhV\n" \
    "sGq37czfzsq3cdvFn6Ik1IzXpPyhRANCAATY97u8pM49IlmytUfVtG04yN7zLT5S\n" \
    "5DO8PHJTNHQESUUe41h/e9oH8KQWkyFwEtLAnoBvjSLUdfJd/uPK+cWf\n" \
    "-----END PRIVATE KEY-----\n"
#define SM2_PUB_X "d8f7bbbca4ce3d2259b2b547d5b46d38" \
    "c8def32d3e52e433bc3c725334740449"
#define SM2_PUB_Y "451ee3587f7bda07f0a41693217012d2" \
    "c09e806f8d22d475f25dfee3caf9c59f"
/* its Z for ID 1234567812345678, computed with Python from GB/T 32918.5 */
#define SM2_Z "b0f3edda4bc8b37bc8169faed9ffc3eb" \
    "cb9ab8cbefab302aabaa8d94b5d03ac5"
/* a P-256 key */
#define P256_PEM "-----BEGIN PRIVATE KEY-----\n" \
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAtd6y0EkH6fBP95i\n" \
    "+reyeS+HOpn2KAgznfZrXlTEAL+hRANCAARg8A9wGoySPmyaLtj0HKaY14/EKxHA\n" \
    "WbZPJ2r/+fiI6ctYdWUAH0jDfsBYI3FpMcedEhQpNJP+FwIEgtoiW5SU\n" \
    "-----END PRIVATE KEY-----\n"

static void unhex(const char *hex, uint8_t *out, size_t len)
{
    size_t i;

    g_assert_cmpuint(strlen(hex), ==, 2 * len);
    for (i = 0; i < len; i++) {
        g_assert_true(sscanf(hex + 2 * i, "%2hhx", &out[i]) == 1);
    }
}

/* Does @sig_hex (DER) sign @msg under the test key, by libgcrypt? */
static bool sm2_verifies(const char *msg, size_t len, const char *sig_hex)
{
    uint8_t z[32], e[32], der[72], q[65] = { 4 };
    size_t der_len = strlen(sig_hex) / 2;
    gcry_sexp_t key, data, sig;
    gcry_md_hd_t h;
    bool ok;

    unhex(SM2_Z, z, 32);
    unhex(SM2_PUB_X, q + 1, 32);
    unhex(SM2_PUB_Y, q + 33, 32);
    g_assert_cmpuint(der_len, <=, sizeof(der));
    unhex(sig_hex, der, der_len);
    /* SEQUENCE { INTEGER r, INTEGER s } */
    g_assert_cmphex(der[0], ==, 0x30);
    g_assert_cmpuint(der[1], ==, der_len - 2);
    g_assert_cmphex(der[2], ==, 0x02);
    g_assert_cmphex(der[4 + der[3]], ==, 0x02);
    g_assert_cmpuint(4 + der[3] + 2 + der[5 + der[3]], ==, der_len);
    gcry_md_open(&h, GCRY_MD_SM3, 0);
    gcry_md_write(h, z, 32);
    gcry_md_write(h, msg, len);
    memcpy(e, gcry_md_read(h, GCRY_MD_SM3), 32);
    gcry_md_close(h);
    g_assert_cmpint(gcry_sexp_build(&key, NULL, "(public-key (ecc (curve "
                                    "sm2p256v1) (q %b)))", 65, q), ==, 0);
    g_assert_cmpint(gcry_sexp_build(&data, NULL, "(data (flags sm2) "
                                    "(hash sm3 %b))", 32, e), ==, 0);
    g_assert_cmpint(gcry_sexp_build(&sig, NULL, "(sig-val (sm2 (r %b) "
                                    "(s %b)))", der[3], der + 4,
                                    der[5 + der[3]], der + 6 + der[3]),
                    ==, 0);
    ok = !gcry_pk_verify(sig, data, key);
    gcry_sexp_release(key);
    gcry_sexp_release(data);
    gcry_sexp_release(sig);
    return ok;
}

/*
 * A checkpoint is the chain's next record, and its SM2 signature over
 * the line up to the signature verifies with the key's Z
 */
static void test_checkpoint(void)
{
    static const char sig_key[] = ",\"signature\":\"";
    VdiAuditChain c;
    VdiAuditSigner *sg;
    uint8_t mac[VDI_AUDIT_MAC_LEN], mac2[VDI_AUDIT_MAC_LEN];
    uint64_t seq;
    g_autofree char *err = NULL, *r1 = NULL, *cp = NULL, *head = NULL;
    g_autofree char *sig = NULL, *forged = NULL;
    const char *s;

    sg = vdi_audit_signer_new(SM2_PEM, strlen(SM2_PEM),
                              VDI_AUDIT_SM2_DEFAULT_ID, &err);
    g_assert_null(err);
    g_assert_nonnull(sg);
    chain_start(&c);
    r1 = vdi_audit_record(&c, 1796392556, 42, "FIREWALL_QUARANTINE",
                          "{\"filter\":\"fw0\",\"active\":true}", mac);
    vdi_audit_chain_advance(&c, mac);
    cp = vdi_audit_checkpoint_record(&c, sg, 0, 0, mac2, &err);
    g_assert_null(err);
    head = g_strdup_printf("{\"seq\":2,\"time\":\"1970-01-01T00:00:00."
                           "000000Z\",\"event\":\"VDI_AUDIT_CHECKPOINT\","
                           "\"data\":{\"sequence\":1,\"head-mac\":\"%.64s\","
                           "\"signer-id\":\"1234567812345678\"%s",
                           LINE1 + strlen(LINE1) - 3 - 64, sig_key);
    g_assert_true(g_str_has_prefix(cp, head));
    g_assert_true(vdi_audit_parse_record(cp, strlen(cp), &seq, mac));
    g_assert_cmpuint(seq, ==, 2);
    g_assert_cmpmem(mac, sizeof(mac), mac2, sizeof(mac2));
    s = cp + strlen(head);
    sig = g_strndup(s, strchr(s, '"') - s);
    g_assert_cmpuint(strlen(sig), >=, 2 * 8);
    g_assert_true(sm2_verifies(cp, strlen(head) - strlen(sig_key), sig));
    /* the same signature does not sign another head */
    forged = g_strdup(cp);
    forged[strlen(head) - strlen(sig_key) - 2]++;
    g_assert_false(sm2_verifies(forged, strlen(head) - strlen(sig_key),
                                sig));
    vdi_audit_chain_destroy(&c);
    vdi_audit_signer_free(sg);
}

/* Keys that are not SM2 private keys and bad IDs, with the reason */
static void test_signer_rejects(void)
{
    static const struct {
        const char *pem, *id, *error;
    } cases[] = {
        { SM2_PEM, "", "the SM2 ID must be" },
        { SM2_PEM, "a\"b", "the SM2 ID must be" },
        { "0123456789abcdef", VDI_AUDIT_SM2_DEFAULT_ID,
          "not a PEM private key" },
        { "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
          VDI_AUDIT_SM2_DEFAULT_ID, "not an SM2 private key: not DER" },
        { P256_PEM, VDI_AUDIT_SM2_DEFAULT_ID,
          "not an SM2 private key: not on the SM2 curve" },
    };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autofree char *err = NULL;

        g_assert_null(vdi_audit_signer_new(cases[i].pem,
                                           strlen(cases[i].pem),
                                           cases[i].id, &err));
        g_assert_nonnull(strstr(err, cases[i].error));
    }
}

int main(int argc, char **argv)
{
    g_assert_nonnull(gcry_check_version(NULL));
    gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vdi-audit-core/known-chain", test_known_chain);
    g_test_add_func("/vdi-audit-core/unwritten-record-not-chained",
                    test_unwritten_record_not_chained);
    g_test_add_func("/vdi-audit-core/parse-and-continue",
                    test_parse_and_continue);
    g_test_add_func("/vdi-audit-core/parse-rejects", test_parse_rejects);
    g_test_add_func("/vdi-audit-core/key-matters", test_key_matters);
    g_test_add_func("/vdi-audit-core/checkpoint", test_checkpoint);
    g_test_add_func("/vdi-audit-core/signer-rejects", test_signer_rejects);
    return g_test_run();
}
