/*
 * Unit tests for the session zones core: rule order, criteria, overrides
 * and the checks of a zone table
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/vdi/vdi-zone-core.h"

static const char *const hospital_nets[] = { "10.0.0.0/8", "fd00::/8",
                                             "127.0.0.1" };
static const char *const internet_nets[] = { "0.0.0.0/0", "::/0" };

/* hospital, internet, icu and a quarantine zone with typical rules */
static VdiZoneTable *table_new(void)
{
    VdiZoneTable *t = vdi_zone_table_new();
    const VdiZoneRuleSpec rules[] = {
        { .id = "icu-terminals", .zone = "icu", .terminal_name = "ICU-*" },
        { .id = "badge-mac", .zone = "icu",
          .terminal_mac = "52:54:00:AA:bb:01" },
        { .id = "staff-cert", .zone = "hospital",
          .subject = "*O=General Hospital*",
          .issuer = "CN=Hospital CA*" },
        { .id = "hospital-net", .zone = "hospital",
          .addresses = hospital_nets, .n_addresses = 3 },
        { .id = "internet", .zone = "internet",
          .addresses = internet_nets, .n_addresses = 2 },
    };
    const char *zones[] = { "hospital", "internet", "icu", "quarantine" };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(zones); i++) {
        g_assert_true(vdi_zone_table_add_zone(t, zones[i], NULL));
    }
    for (i = 0; i < ARRAY_SIZE(rules); i++) {
        g_assert_true(vdi_zone_table_add_rule(t, &rules[i], NULL));
    }
    g_assert_true(vdi_zone_table_set_default(t, "quarantine", NULL));
    return t;
}

static void check(const VdiZoneTable *t, const VdiZoneConn *c,
                  const char *zone, VdiZoneWhy why, const char *rule)
{
    VdiZoneVerdict d;

    vdi_zone_decide(t, c, &d);
    g_assert_cmpstr(d.zone, ==, zone);
    g_assert_cmpint(d.why, ==, why);
    g_assert_cmpstr(d.rule, ==, rule);
}

static void test_addresses(void)
{
    VdiZoneTable *t = table_new();

    check(t, &(VdiZoneConn){ .address = "10.20.3.4" }, "hospital",
          VDI_ZONE_WHY_RULE, "hospital-net");
    check(t, &(VdiZoneConn){ .address = "127.0.0.1" }, "hospital",
          VDI_ZONE_WHY_RULE, "hospital-net");
    check(t, &(VdiZoneConn){ .address = "127.0.0.2" }, "internet",
          VDI_ZONE_WHY_RULE, "internet");
    check(t, &(VdiZoneConn){ .address = "fd12::1" }, "hospital",
          VDI_ZONE_WHY_RULE, "hospital-net");
    check(t, &(VdiZoneConn){ .address = "2001:db8::1" }, "internet",
          VDI_ZONE_WHY_RULE, "internet");
    /* An IPv4-mapped address is its IPv4 address */
    check(t, &(VdiZoneConn){ .address = "::ffff:10.1.2.3" }, "hospital",
          VDI_ZONE_WHY_RULE, "hospital-net");
    /* Unknown or unparsable addresses match no address rule */
    check(t, &(VdiZoneConn){ 0 }, "quarantine", VDI_ZONE_WHY_DEFAULT, NULL);
    check(t, &(VdiZoneConn){ .address = "10.0.0.300" }, "quarantine",
          VDI_ZONE_WHY_DEFAULT, NULL);
    vdi_zone_table_free(t);
}

static void test_first_match_and_criteria(void)
{
    VdiZoneTable *t = table_new();

    /* The terminal rule comes before the address rule */
    check(t, &(VdiZoneConn){ .address = "10.1.1.1",
                             .terminal_name = "icu-bed3" },
          "icu", VDI_ZONE_WHY_RULE, "icu-terminals");
    check(t, &(VdiZoneConn){ .address = "8.8.8.8",
                             .terminal_mac = "52:54:00:aa:BB:01" },
          "icu", VDI_ZONE_WHY_RULE, "badge-mac");
    check(t, &(VdiZoneConn){ .terminal_mac = "52:54:00:aa:bb:02" },
          "quarantine", VDI_ZONE_WHY_DEFAULT, NULL);
    /* Subject and issuer must both match */
    check(t, &(VdiZoneConn){ .address = "8.8.8.8",
                             .subject = "CN=alice,O=General Hospital",
                             .issuer = "CN=Hospital CA 2" },
          "hospital", VDI_ZONE_WHY_RULE, "staff-cert");
    check(t, &(VdiZoneConn){ .address = "8.8.8.8",
                             .subject = "CN=alice,O=General Hospital",
                             .issuer = "CN=Other CA" },
          "internet", VDI_ZONE_WHY_RULE, "internet");
    check(t, &(VdiZoneConn){ .address = "8.8.8.8",
                             .issuer = "CN=Hospital CA" },
          "internet", VDI_ZONE_WHY_RULE, "internet");
    vdi_zone_table_free(t);
}

static void test_overrides(void)
{
    VdiZoneTable *t = table_new();
    VdiZoneConn bob = { .address = "8.8.8.8", .user = "bob" };

    g_assert_true(vdi_zone_table_add_user(t, "bob", "hospital", NULL));
    check(t, &bob, "hospital", VDI_ZONE_WHY_USER, NULL);
    check(t, &(VdiZoneConn){ .address = "8.8.8.8", .user = "alice" },
          "internet", VDI_ZONE_WHY_RULE, "internet");
    /* The VM override comes before everything */
    g_assert_true(vdi_zone_table_set_vm_override(t, "quarantine", NULL));
    check(t, &bob, "quarantine", VDI_ZONE_WHY_VM_OVERRIDE, NULL);
    vdi_zone_table_free(t);
}

/* @msg is read after the call: argument evaluation order is unspecified */
static void expect_error(bool ok, char **msg, const char *part)
{
    g_assert_false(ok);
    g_assert_nonnull(*msg);
    if (!strstr(*msg, part)) {
        g_error("'%s' does not contain '%s'", *msg, part);
    }
    g_clear_pointer(msg, g_free);
}

static void test_checks(void)
{
    VdiZoneTable *t = table_new();
    g_autofree char *long_name = g_strnfill(VDI_ZONE_NAME_MAX + 1, 'z');
    static const char *const bad_net[] = { "10.0.0.0/33" };
    char *msg = NULL;
    VdiZoneVerdict d;
    int i;

    expect_error(vdi_zone_table_add_zone(t, "hospital", &msg), &msg, "twice");
    expect_error(vdi_zone_table_add_zone(t, "", &msg), &msg, "1 to 64");
    expect_error(vdi_zone_table_add_zone(t, long_name, &msg), &msg,
                 "1 to 64");
    expect_error(vdi_zone_table_add_zone(t, "a\nb", &msg), &msg, "0x0a");
    expect_error(vdi_zone_table_add_rule(t, &(VdiZoneRuleSpec){
                     .id = "r", .zone = "nowhere", .subject = "x" }, &msg),
                 &msg, "no zone 'nowhere'");
    expect_error(vdi_zone_table_add_rule(t, &(VdiZoneRuleSpec){
                     .id = "r", .zone = "icu" }, &msg),
                 &msg, "no criterion");
    expect_error(vdi_zone_table_add_rule(t, &(VdiZoneRuleSpec){
                     .id = "internet", .zone = "icu", .subject = "x" },
                                         &msg),
                 &msg, "used twice");
    expect_error(vdi_zone_table_add_rule(t, &(VdiZoneRuleSpec){
                     .id = "r", .zone = "icu", .addresses = bad_net,
                     .n_addresses = 1 }, &msg),
                 &msg, "prefix length");
    expect_error(vdi_zone_table_add_rule(t, &(VdiZoneRuleSpec){
                     .id = "r", .zone = "icu",
                     .terminal_mac = "52:54:00:aa:bb" }, &msg),
                 &msg, "not a MAC");
    expect_error(vdi_zone_table_add_rule(t, &(VdiZoneRuleSpec){
                     .id = "r", .zone = "icu", .subject = "\xff" }, &msg),
                 &msg, "UTF-8");
    expect_error(vdi_zone_table_add_user(t, "bob", "mars", &msg), &msg,
                 "no zone 'mars'");
    expect_error(vdi_zone_table_set_default(t, "mars", &msg), &msg,
                 "no zone");
    expect_error(vdi_zone_table_set_vm_override(t, "mars", &msg), &msg,
                 "no zone");
    /* Failed calls left the table as it was */
    vdi_zone_decide(t, &(VdiZoneConn){ .address = "1.2.3.4" }, &d);
    g_assert_cmpstr(d.zone, ==, "internet");
    vdi_zone_decide(t, &(VdiZoneConn){ .user = "bob" }, &d);
    g_assert_cmpstr(d.zone, ==, "quarantine");

    /* The limits */
    for (i = 4; i < VDI_ZONE_MAX_ZONES; i++) {
        g_autofree char *name = g_strdup_printf("z%d", i);

        g_assert_true(vdi_zone_table_add_zone(t, name, NULL));
    }
    expect_error(vdi_zone_table_add_zone(t, "one-more", &msg), &msg,
                 "more than 256 zones");

    /* Identities of a connection */
    expect_error(vdi_zone_conn_check(&(VdiZoneConn){
                     .address = "10.0.0.0/8" }, &msg), &msg, "prefix");
    expect_error(vdi_zone_conn_check(&(VdiZoneConn){
                     .address = "host.example" }, &msg), &msg, "address");
    expect_error(vdi_zone_conn_check(&(VdiZoneConn){
                     .terminal_mac = "nope" }, &msg), &msg, "MAC");
    expect_error(vdi_zone_conn_check(&(VdiZoneConn){
                     .user = "a\x01" }, &msg), &msg, "control");
    g_assert_true(vdi_zone_conn_check(&(VdiZoneConn){
                     .address = "::1", .user = "bob",
                     .subject = "CN=bob" }, NULL));
    vdi_zone_table_free(t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vdi-zone-core/addresses", test_addresses);
    g_test_add_func("/vdi-zone-core/first-match",
                    test_first_match_and_criteria);
    g_test_add_func("/vdi-zone-core/overrides", test_overrides);
    g_test_add_func("/vdi-zone-core/checks", test_checks);
    return g_test_run();
}
