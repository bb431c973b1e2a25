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
    return g_test_run();
}
