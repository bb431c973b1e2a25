/*
 * QTest for the filter-firewall netfilter: policy changes over QMP
 *
 * Policies replaced whole, under traffic, rule by rule and in stages,
 * the connections judged again after a change, and the errors and
 * limits of the commands.  Frames go in and out as firewall-test.c
 * describes.
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "firewall-test-util.h"
#include "qemu/thread.h"

static void test_replace_and_counters(void)
{
    Harness h;
    Frame f;
    QDict *info, *r;
    int i;

    harness_start(&h, NULL);
    set_policy(&h, 5, "'default-ingress': 'drop',",
        "{ 'id': 1, 'protocol': 17, 'destination-ports': [ { 'start': 9 } ],"
        "  'action': 'accept' }");
    udp_frame(&f, false, "10.2.2.2", VM_IP4, 1, 9);
    for (i = 0; i < 3; i++) {
        g_assert_true(passes_in(&h, &f));
    }
    info = query_fw(&h);
    g_assert_cmpuint(qdict_get_int(info, "generation"), ==, 5);
    r = rule_info(info, 1);
    g_assert_nonnull(r);
    g_assert_cmpuint(qdict_get_int(r, "packets"), ==, 3);
    g_assert_cmpuint(qdict_get_int(r, "bytes"), ==, 3 * f.len);
    qobject_unref(info);

    /* an older generation is refused, the same one is applied again */
    assert_error(&h, "generation",
                 "{ 'execute': 'firewall-set-policy', 'arguments': {"
                 "  'filter': 'fw0', 'generation': 4, 'rules': [] } }");
    set_policy(&h, 5, "'default-ingress': 'drop',",
        "{ 'id': 1, 'protocol': 17, 'destination-ports': [ { 'start': 9 } ],"
        "  'action': 'accept' }");

    /* the new policy takes effect at once for the next packet */
    set_policy(&h, 6, "'default-ingress': 'drop',",
        "{ 'id': 2, 'protocol': 17,"
        "  'destination-ports': [ { 'start': 10 } ], 'action': 'accept' }");
    g_assert_false(passes_in(&h, &f));
    udp_frame(&f, false, "10.2.2.2", VM_IP4, 1, 10);
    g_assert_true(passes_in(&h, &f));
    info = query_fw(&h);
    g_assert_cmpuint(qdict_get_int(info, "generation"), ==, 6);
    g_assert_null(rule_info(info, 1));
    g_assert_cmpstr(qdict_get_str(info, "default-ingress"), ==, "drop");
    qobject_unref(info);
    harness_stop(&h);
}

typedef struct Stream {
    int in, out;
    int frames;
    uint64_t got[3];            /* frames of each port that got through */
} Stream;

static const uint16_t stream_ports[] = { 9, 10, 13 };

/* UDP frames to ports 9, 10 and 13 in turn, then a sentinel */
static void *send_stream(void *opaque)
{
    Stream *st = opaque;
    Frame f;
    int i;

    for (i = 0; i < st->frames; i++) {
        udp_frame(&f, false, "10.2.2.2", VM_IP4, 1000 + i,
                  stream_ports[i % 3]);
        send_frame(st->in, &f);
    }
    sentinel_frame(&f, false);
    send_frame(st->in, &f);
    return NULL;
}

/* Count what gets through, reading as it comes so QEMU never blocks */
static void *recv_stream(void *opaque)
{
    Stream *st = opaque;
    Frame f;
    int i;

    while (recv_frame(st->out, &f, 10000) && !is_sentinel(&f)) {
        for (i = 0; i < 3; i++) {
            st->got[i] += f.data[14 + 20 + 3] == stream_ports[i];
        }
    }
    return NULL;
}

/*
 * Swap two policies back and forth while frames flow: every frame is
 * decided by exactly one complete policy, so each is counted once by the
 * rule for its port, and a port no policy accepts never gets through.
 */
static void test_replace_under_traffic(void)
{
    const char *accept9 =
        "{ 'id': 1, 'protocol': 17, 'destination-ports': [ { 'start': 9 } ],"
        "  'action': 'accept' },"
        "{ 'id': 2, 'protocol': 17, 'destination-ports': [ { 'start': 10 } ],"
        "  'action': 'drop' }";
    const char *accept10 =
        "{ 'id': 1, 'protocol': 17, 'destination-ports': [ { 'start': 9 } ],"
        "  'action': 'drop' },"
        "{ 'id': 2, 'protocol': 17, 'destination-ports': [ { 'start': 10 } ],"
        "  'action': 'accept' }";
    Stream st = { .frames = 3000 };
    QemuThread sender, receiver;
    Harness h;
    QDict *info, *drops_info;
    int gen;

    harness_start(&h, NULL);
    set_policy(&h, 1, "'default-ingress': 'drop',", accept9);
    st.in = h.backend;
    st.out = h.guest;
    qemu_thread_create(&receiver, "receiver", recv_stream, &st,
                       QEMU_THREAD_JOINABLE);
    qemu_thread_create(&sender, "sender", send_stream, &st,
                       QEMU_THREAD_JOINABLE);
    for (gen = 2; gen < 60; gen++) {
        set_policy(&h, gen, "'default-ingress': 'drop',",
                   gen % 2 ? accept9 : accept10);
    }
    qemu_thread_join(&sender);
    qemu_thread_join(&receiver);

    g_test_message("through: %" PRIu64 " to port 9, %" PRIu64
                   " to port 10 over 58 policy swaps", st.got[0], st.got[1]);
    g_assert_cmpuint(st.got[2], ==, 0);
    info = query_fw(&h);
    drops_info = qdict_get_qdict(info, "drops");
    g_assert_cmpuint(rule_packets(info, 1), ==, st.frames / 3);
    g_assert_cmpuint(rule_packets(info, 2), ==, st.frames / 3);
    g_assert_cmpuint(qdict_get_int(drops_info, "rule"), ==,
                     2 * st.frames / 3 - st.got[0] - st.got[1]);
    g_assert_cmpuint(qdict_get_int(drops_info, "default"), ==,
                     st.frames / 3);
    qobject_unref(info);
    harness_stop(&h);
}

static void test_add_delete_rule(void)
{
    Harness h;
    Frame f, back;
    QDict *resp;

    harness_start(&h, NULL);
    set_policy(&h, 1, "'default-ingress': 'drop', 'default-egress': 'drop',",
               NULL);
    tcp_frame(&f, true, VM_IP4, "10.3.3.3", 40000, 80, 0x02);
    g_assert_false(passes_out(&h, &f));

    qtest_qmp_assert_success(h.qts,
        "{ 'execute': 'firewall-add-rule', 'arguments': { 'filter': 'fw0',"
        "  'rule': { 'id': 7, 'direction': 'egress', 'protocol': 6,"
        "            'action': 'accept' } } }");
    g_assert_true(passes_out(&h, &f));
    tcp_frame(&back, false, "10.3.3.3", VM_IP4, 80, 40000, 0x12);
    g_assert_true(passes_in(&h, &back));        /* established */

    resp = qtest_qmp(h.qts, "{ 'execute': 'query-firewall-connections',"
                     "  'arguments': { 'filter': 'fw0' } }");
    g_assert_cmpint(qlist_size(qdict_get_qlist(resp, "return")), ==, 1);
    qobject_unref(resp);

    /* deleting the rule ends the connection it accepted */
    qtest_qmp_assert_success(h.qts,
        "{ 'execute': 'firewall-delete-rule',"
        "  'arguments': { 'filter': 'fw0', 'id': 7 } }");
    g_assert_false(passes_in(&h, &back));
    g_assert_false(passes_out(&h, &f));
    resp = qtest_qmp(h.qts, "{ 'execute': 'query-firewall-connections',"
                     "  'arguments': { 'filter': 'fw0' } }");
    g_assert_cmpint(qlist_size(qdict_get_qlist(resp, "return")), ==, 0);
    qobject_unref(resp);
    harness_stop(&h);
}

static void test_errors(void)
{
    Harness h;
    QDict *info;

    harness_start(&h, ", \"max-rules\": 3");
    assert_error(&h, "nope",
                 "{ 'execute': 'query-firewall',"
                 "  'arguments': { 'filter': 'nope' } }");
    assert_error(&h, "not a filter-firewall",
                 "{ 'execute': 'firewall-flush-connections',"
                 "  'arguments': { 'filter': 'm0' } }");
    assert_error(&h, "10.0.0.0/33",
                 "{ 'execute': 'firewall-add-rule', 'arguments': {"
                 "  'filter': 'fw0', 'rule': { 'id': 1,"
                 "  'source': [ '10.0.0.0/33' ], 'action': 'drop' } } }");
    assert_error(&h, "300.1.1.1",
                 "{ 'execute': 'firewall-quarantine', 'arguments': {"
                 "  'filter': 'fw0', 'allow': [ '300.1.1.1' ] } }");
    assert_error(&h, "port range",
                 "{ 'execute': 'firewall-add-rule', 'arguments': {"
                 "  'filter': 'fw0', 'rule': { 'id': 1, 'destination-ports':"
                 "  [ { 'start': 90, 'end': 80 } ], 'action': 'drop' } } }");
    assert_error(&h, "unknown address set",
                 "{ 'execute': 'firewall-add-rule', 'arguments': {"
                 "  'filter': 'fw0', 'rule': { 'id': 1,"
                 "  'source-set': 'ghosts', 'action': 'drop' } } }");
    assert_error(&h, "duplicate rule id 2",
                 "{ 'execute': 'firewall-set-policy', 'arguments': {"
                 "  'filter': 'fw0', 'generation': 1, 'rules': ["
                 "  { 'id': 2, 'action': 'drop' },"
                 "  { 'id': 2, 'action': 'accept' } ] } }");
    qtest_qmp_assert_success(h.qts,
        "{ 'execute': 'firewall-add-rule', 'arguments': {"
        "  'filter': 'fw0', 'rule': { 'id': 1, 'action': 'accept' } } }");
    assert_error(&h, "rule id 1 is in use",
                 "{ 'execute': 'firewall-add-rule', 'arguments': {"
                 "  'filter': 'fw0', 'rule': { 'id': 1, 'action': 'drop' } } }");
    assert_error(&h, "too many rules",
                 "{ 'execute': 'firewall-set-policy', 'arguments': {"
                 "  'filter': 'fw0', 'generation': 1, 'rules': ["
                 "  { 'id': 1, 'action': 'drop' }, { 'id': 2, 'action': 'drop' },"
                 "  { 'id': 3, 'action': 'drop' },"
                 "  { 'id': 4, 'action': 'drop' } ] } }");
    assert_error(&h, "no rule 99",
                 "{ 'execute': 'firewall-delete-rule',"
                 "  'arguments': { 'filter': 'fw0', 'id': 99 } }");
    assert_error(&h, "limit",
                 "{ 'execute': 'query-firewall-connections',"
                 "  'arguments': { 'filter': 'fw0', 'limit': 0 } }");
    /* bad object properties */
    assert_error(&h, "mac",
                 "{ 'execute': 'object-add', 'arguments': {"
                 "  'qom-type': 'filter-firewall', 'id': 'fw1',"
                 "  'netdev': 'bn0', 'mac': '52:54:00:zz:00:01' } }");
    assert_error(&h, "max-connections",
                 "{ 'execute': 'object-add', 'arguments': {"
                 "  'qom-type': 'filter-firewall', 'id': 'fw1',"
                 "  'netdev': 'bn0', 'max-connections': 0 } }");
    /* the policy in force is unchanged by the failed commands */
    info = query_fw(&h);
    g_assert_cmpuint(qdict_get_int(info, "generation"), ==, 0);
    g_assert_cmpint(qlist_size(qdict_get_qlist(info, "rules")), ==, 1);
    qobject_unref(info);
    harness_stop(&h);
}

/*
 * A policy swap judges every connection again by the new policy on its
 * original tuple, whatever the rule ids.
 */
static void test_rejudge(void)
{
    const char *web1 = "{ 'id': 1, 'direction': 'egress', 'protocol': 6,"
        "  'destination-ports': [ { 'start': 80 } ], 'action': 'accept' }";
    const char *web2 = "{ 'id': 2, 'direction': 'egress', 'protocol': 6,"
        "  'destination-ports': [ { 'start': 80 } ], 'action': 'accept' }";
    const char *web1_drop = "{ 'id': 1, 'direction': 'egress',"
        "  'protocol': 6, 'destination-ports': [ { 'start': 80 } ],"
        "  'action': 'drop' }";
    const char *strict = "'default-ingress': 'drop', 'default-egress': 'drop',";
    Harness h;

    harness_start(&h, NULL);
    /* renumbering an identical rule keeps its connections */
    set_policy(&h, 1, strict, web1);
    tcp_connect(&h, 41000);
    set_policy(&h, 2, strict, web2);
    g_assert_true(tcp_alive(&h, 41000));

    /* the same id with the action changed to drop ends them */
    set_policy(&h, 3, strict, web1);
    tcp_connect(&h, 41001);
    set_policy(&h, 4, strict, web1_drop);
    g_assert_false(tcp_alive(&h, 41001));

    /* removing the rule under a default accept keeps them */
    set_policy(&h, 5, "'default-ingress': 'drop',", web1);
    tcp_connect(&h, 41002);
    qtest_qmp_assert_success(h.qts,
        "{ 'execute': 'firewall-delete-rule',"
        "  'arguments': { 'filter': 'fw0', 'id': 1 } }");
    g_assert_true(tcp_alive(&h, 41002));

    /* changing the ingress default leaves egress connections alone */
    set_policy(&h, 6, NULL, NULL);
    tcp_connect(&h, 41003);
    set_policy(&h, 7, "'default-ingress': 'drop',", NULL);
    g_assert_true(tcp_alive(&h, 41003));
    /* while the egress default ends them */
    set_policy(&h, 8, "'default-ingress': 'drop', 'default-egress': 'drop',",
               NULL);
    g_assert_false(tcp_alive(&h, 41003));
    harness_stop(&h);
}

/* Connections are listed a page at a time, with their state names */
static void test_connection_pages(void)
{
    Harness h;
    Frame f;
    QList *l;
    QDict *c;
    int i;

    harness_start(&h, NULL);
    for (i = 0; i < 5; i++) {
        udp_frame(&f, true, VM_IP4, "10.4.4.4", 1000 + i, 53);
        g_assert_true(passes_out(&h, &f));
    }
    udp_frame(&f, false, "10.4.4.4", VM_IP4, 53, 1000);
    g_assert_true(passes_in(&h, &f));
    udp_frame(&f, true, VM_IP4, "10.4.4.4", 1000, 53);
    g_assert_true(passes_out(&h, &f));
    for (i = 0; i < 3; i++) {
        g_autofree char *args = g_strdup_printf(
            "{ 'filter': 'fw0', 'offset': %d, 'limit': 2 }", 2 * i);

        l = list_connections(&h, args);
        g_assert_cmpint(qlist_size(l), ==, i < 2 ? 2 : 1);
        qobject_unref(l);
    }
    /* UDP, then a stream once it goes on after a reply */
    l = list_connections(&h, "{ 'filter': 'fw0' }");
    g_assert_cmpint(qlist_size(l), ==, 5);
    while ((c = qobject_to(QDict, qlist_pop(l)))) {
        g_assert_cmpstr(qdict_get_str(c, "state"), ==,
                        qdict_get_int(c, "source-port") == 1000 ?
                        "udp-stream" : "udp");
        qobject_unref(c);
    }
    qobject_unref(l);
    assert_error(&h, "limit",
                 "{ 'execute': 'query-firewall-connections',"
                 "  'arguments': { 'filter': 'fw0', 'limit': 1001 } }");
    harness_stop(&h);
}

/* Address sets have limits, checked with a clear error */
static void test_set_limits(void)
{
    GString *sets = g_string_new("");
    Harness h;
    int i;

    harness_start(&h, NULL);
    for (i = 0; i < 4097; i++) {
        g_string_append_printf(sets, "%s{ 'name': 's%d', 'addresses': [] }",
                               i ? "," : "", i);
    }
    g_string_prepend(sets, "{ 'filter': 'fw0', 'generation': 1,"
                     "  'rules': [], 'sets': [ ");
    g_string_append(sets, " ] }");
    assert_error(&h, "too many address sets",
                 "{ 'execute': 'firewall-set-policy', 'arguments': %p }",
                 qobject_from_json(sets->str, &error_abort));
    g_string_free(sets, true);
    harness_stop(&h);
}

/* Staged policies: firewall-policy-stage and the commands that follow */

static void stage_cmd(Harness *h, const char *cmd, const char *args)
{
    qtest_qmp_assert_success(h->qts, "{ 'execute': %s, 'arguments': %p }",
                             cmd, qobject_from_json(args, &error_abort));
}

/* The arguments of firewall-policy-stage-rules with @n UDP rules */
static char *stage_rules_args(uint64_t gen, uint32_t first_id, int n)
{
    GString *s = g_string_new("");
    int i;

    g_string_append_printf(s, "{ 'filter': 'fw0', 'generation': %" PRIu64
                           ", 'rules': [ ", gen);
    for (i = 0; i < n; i++) {
        g_string_append_printf(s, "%s{ 'id': %u, 'protocol': 17,"
                               "  'destination-ports': [ { 'start': %d } ],"
                               "  'action': 'accept' }", i ? "," : "",
                               first_id + i, 20000 + i % 1000);
    }
    g_string_append(s, " ] }");
    return g_string_free(s, false);
}

/* The arguments of firewall-policy-stage-sets: set @name of @n hosts */
static char *stage_set_args(uint64_t gen, const char *name, int n)
{
    GString *s = g_string_new("");
    int i;

    g_string_append_printf(s, "{ 'filter': 'fw0', 'generation': %" PRIu64
                           ", 'sets': [ { 'name': '%s', 'addresses': [ ",
                           gen, name);
    for (i = 0; i < n; i++) {
        g_string_append_printf(s, "%s'172.16.%d.%d'", i ? "," : "",
                               i / 256, i % 256);
    }
    g_string_append(s, " ] } ] }");
    return g_string_free(s, false);
}

/* firewall-policy-commit of @gen fails with an error saying @needle */
static void assert_commit_error(Harness *h, uint64_t gen, const char *needle)
{
    assert_error(h, needle, "{ 'execute': 'firewall-policy-commit',"
                 "  'arguments': { 'filter': 'fw0', 'generation': %" PRIu64
                 " } }", gen);
}

static uint64_t fw_generation(Harness *h)
{
    QDict *info = query_fw(h);
    uint64_t gen = qdict_get_int(info, "generation");

    qobject_unref(info);
    return gen;
}

/*
 * A policy staged in pieces: packets see the old policy until the
 * commit, then the whole new one; a set given in two pieces is one set.
 */
static void test_staged_policy(void)
{
    g_autofree char *rules = NULL;
    Harness h;
    Frame f;
    QDict *info;
    int i;

    harness_start(&h, NULL);
    set_policy(&h, 1, NULL, NULL);
    stage_cmd(&h, "firewall-policy-stage", "{ 'filter': 'fw0',"
              "  'generation': 2, 'default-ingress': 'drop' }");
    stage_cmd(&h, "firewall-policy-stage-sets", "{ 'filter': 'fw0',"
              "  'generation': 2, 'sets': [ { 'name': 'radiology',"
              "                               'addresses': [ '10.20.0.0/16' ] } ] }");
    stage_cmd(&h, "firewall-policy-stage-sets", "{ 'filter': 'fw0',"
              "  'generation': 2, 'sets': [ { 'name': 'radiology',"
              "                               'addresses': [ '10.30.0.0/16' ] } ] }");
    rules = g_strdup_printf("{ 'filter': 'fw0', 'generation': 2,"
                            "  'rules': [ { 'id': 1, 'ethertype': %d,"
                            "               'action': 'accept' },"
                            "             { 'id': 2, 'source-set': 'radiology',"
                            "               'action': 'accept' } ] }",
                            SENTINEL_TYPE);
    stage_cmd(&h, "firewall-policy-stage-rules", rules);
    for (i = 0; i < 3; i++) {
        g_autofree char *more = stage_rules_args(2, 100 + i * 1000, 1000);

        stage_cmd(&h, "firewall-policy-stage-rules", more);
        /* staged, not in force: the old policy accepts everything */
        udp_frame(&f, false, "10.21.3.4", VM_IP4, 1, 2);
        g_assert_true(passes_in(&h, &f));
    }
    g_assert_cmpuint(fw_generation(&h), ==, 1);

    stage_cmd(&h, "firewall-policy-commit",
              "{ 'filter': 'fw0', 'generation': 2 }");
    info = query_fw(&h);
    g_assert_cmpuint(qdict_get_int(info, "generation"), ==, 2);
    g_assert_cmpuint(qlist_size(qdict_get_qlist(info, "rules")), ==, 3002);
    g_assert_cmpstr(qdict_get_str(info, "default-ingress"), ==, "drop");
    qobject_unref(info);
    udp_frame(&f, false, "10.20.3.4", VM_IP4, 1, 2);
    g_assert_true(passes_in(&h, &f));
    udp_frame(&f, false, "10.30.3.4", VM_IP4, 1, 2);
    g_assert_true(passes_in(&h, &f));
    udp_frame(&f, false, "10.21.3.4", VM_IP4, 1, 2);
    g_assert_false(passes_in(&h, &f));
    udp_frame(&f, false, "10.21.3.4", VM_IP4, 1, 20999);
    g_assert_true(passes_in(&h, &f));

    /* the commit ended the stage */
    assert_commit_error(&h, 2, "no staged policy");
    harness_stop(&h);
}

static void test_staged_errors(void)
{
    g_autofree char *too_many = stage_rules_args(6, 100, 1001);
    g_autofree char *thousand = stage_rules_args(6, 100, 1000);
    g_autofree char *more = stage_rules_args(6, 2000, 600);
    g_autofree char *big_set = stage_set_args(6, "big", 16385);
    Harness h;
    Frame f;

    harness_start(&h, ", \"max-rules\": 1500");
    assert_commit_error(&h, 1, "no staged policy");
    assert_error(&h, "no staged policy",
                 "{ 'execute': 'firewall-policy-stage-rules',"
                 "  'arguments': { 'filter': 'fw0', 'generation': 1,"
                 "                 'rules': [] } }");
    assert_error(&h, "no filter-firewall 'nope'",
                 "{ 'execute': 'firewall-policy-stage',"
                 "  'arguments': { 'filter': 'nope', 'generation': 1 } }");
    set_policy(&h, 5, NULL, NULL);
    assert_error(&h, "older than the policy in force",
                 "{ 'execute': 'firewall-policy-stage',"
                 "  'arguments': { 'filter': 'fw0', 'generation': 4 } }");

    /* pieces too big, or too many rules in all: refused, stage kept */
    stage_cmd(&h, "firewall-policy-stage",
              "{ 'filter': 'fw0', 'generation': 6 }");
    assert_error(&h, "1001 rules in one command, at most 1000",
                 "{ 'execute': 'firewall-policy-stage-rules',"
                 "  'arguments': %p }",
                 qobject_from_json(too_many, &error_abort));
    assert_error(&h, "16385 set addresses in one command, at most 16384",
                 "{ 'execute': 'firewall-policy-stage-sets',"
                 "  'arguments': %p }",
                 qobject_from_json(big_set, &error_abort));
    stage_cmd(&h, "firewall-policy-stage-rules", thousand);
    assert_error(&h, "too many rules: 1000 staged and 600 more",
                 "{ 'execute': 'firewall-policy-stage-rules',"
                 "  'arguments': %p }",
                 qobject_from_json(more, &error_abort));
    assert_error(&h, "staged policy of generation 6, not 7",
                 "{ 'execute': 'firewall-policy-stage-rules',"
                 "  'arguments': { 'filter': 'fw0', 'generation': 7,"
                 "                 'rules': [] } }");

    /* a new stage replaces the old one */
    stage_cmd(&h, "firewall-policy-stage",
              "{ 'filter': 'fw0', 'generation': 7, 'default-ingress': 'drop' }");
    assert_commit_error(&h, 6, "staged policy of generation 7, not 6");

    /* a newer policy installed meanwhile wins over the commit */
    set_policy(&h, 8, NULL, NULL);
    assert_commit_error(&h, 7, "generation 7 is older than the policy in "
                        "force (generation 8)");
    assert_commit_error(&h, 7, "no staged policy");

    /* a bad rule is refused at the commit, as by firewall-set-policy */
    stage_cmd(&h, "firewall-policy-stage",
              "{ 'filter': 'fw0', 'generation': 9, 'default-ingress': 'drop' }");
    stage_cmd(&h, "firewall-policy-stage-rules", "{ 'filter': 'fw0',"
              "  'generation': 9, 'rules': [ { 'id': 1,"
              "  'source': [ '10.0.0.0/40' ], 'action': 'drop' } ] }");
    assert_commit_error(&h, 9, "10.0.0.0/40");
    g_assert_cmpuint(fw_generation(&h), ==, 8);

    /* aborted: nothing to commit, the policy in force unchanged */
    stage_cmd(&h, "firewall-policy-stage",
              "{ 'filter': 'fw0', 'generation': 9, 'default-ingress': 'drop' }");
    stage_cmd(&h, "firewall-policy-abort", "{ 'filter': 'fw0' }");
    assert_commit_error(&h, 9, "no staged policy");
    udp_frame(&f, false, "10.21.3.4", VM_IP4, 1, 2);
    g_assert_true(passes_in(&h, &f));
    g_assert_cmpuint(fw_generation(&h), ==, 8);
    harness_stop(&h);
}

/* A stage that no command touches goes away by itself */
static void test_staged_expiry(void)
{
    QDict *resp = NULL;
    Harness h;
    int i;

    harness_start(&h, ", \"stage-timeout\": 1");
    stage_cmd(&h, "firewall-policy-stage",
              "{ 'filter': 'fw0', 'generation': 1 }");
    for (i = 0; i < 1000; i++) {
        g_usleep(10000);
        resp = qtest_qmp(h.qts, "{ 'execute': 'firewall-policy-stage-rules',"
                         "  'arguments': { 'filter': 'fw0', 'generation': 1,"
                         "                 'rules': [] } }");
        if (qdict_haskey(resp, "error")) {
            break;
        }
        qobject_unref(resp);
        resp = NULL;
    }
    g_assert_nonnull(resp);
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(resp, "error"),
                                          "desc"), "no staged policy"));
    qobject_unref(resp);
    harness_stop(&h);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/firewall/replace-and-counters",
                   test_replace_and_counters);
    qtest_add_func("/firewall/replace-under-traffic",
                   test_replace_under_traffic);
    qtest_add_func("/firewall/add-delete-rule", test_add_delete_rule);
    qtest_add_func("/firewall/errors", test_errors);
    qtest_add_func("/firewall/rejudge", test_rejudge);
    qtest_add_func("/firewall/connection-pages", test_connection_pages);
    qtest_add_func("/firewall/set-limits", test_set_limits);
    qtest_add_func("/firewall/staged-policy", test_staged_policy);
    qtest_add_func("/firewall/staged-errors", test_staged_errors);
    qtest_add_func("/firewall/staged-expiry", test_staged_expiry);

    return g_test_run();
}
