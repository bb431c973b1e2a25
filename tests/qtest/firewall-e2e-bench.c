/*
 * End-to-end benchmark of filter-firewall through QEMU's net layer
 *
 * Frames enter a socket netdev and leave through a filter-mirror behind
 * the filters under test (the harness of firewall-test.c), in one QEMU
 * process per configuration.  It prints frames per second and loss for:
 * no firewall; a firewall with no policy; a firewall with 1000 rules on
 * new flows; and the same on established flows (conntrack fast path).
 *
 * "firewall-e2e-bench swap" prints instead the main loop's CPU time per
 * QMP command (QEMU's main thread, from /proc) of installing the largest
 * policies on a full connection table: 16384 rules, and 4096 address
 * sets of 262144 addresses, each in one firewall-set-policy command and
 * staged in bounded pieces (firewall-policy-stage and the commands
 * that follow).  Not part of make bench.
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "firewall-harness.h"
#include "qobject/qjson.h"
#include "qapi/error.h"
#include "qemu/thread.h"

#define FRAMES      200000
#define FLOWS       1000
#define RULES       1000
#define FRAME_LEN   64


static void stw_be_p(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}

/* A minimal UDP/IPv4 frame between flow @i's peer and the VM */
static void udp_frame(uint8_t *f, int i, bool egress)
{
    uint8_t vm[4] = { 10, 0, 0, 5 };
    uint8_t peer[4] = { 10, 1, i >> 8, i & 0xff };
    static const uint8_t vm_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    static const uint8_t peer_mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };

    const uint8_t *smac = peer_mac, *dmac = vm_mac, *src = peer, *dst = vm;

    if (egress) {
        smac = vm_mac;
        dmac = peer_mac;
        src = vm;
        dst = peer;
    }
    memset(f, 0, FRAME_LEN);
    memcpy(f, dmac, 6);
    memcpy(f + 6, smac, 6);
    stw_be_p(f + 12, 0x0800);
    f[14] = 0x45;
    stw_be_p(f + 16, FRAME_LEN - 14);
    f[22] = 64;
    f[23] = 17;
    memcpy(f + 26, src, 4);
    memcpy(f + 30, dst, 4);
    stw_be_p(f + 34, egress ? 5000 : 6000 + i);
    stw_be_p(f + 36, egress ? 6000 + i : 5000);
    stw_be_p(f + 38, FRAME_LEN - 34);
}

static void send_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len) {
        ssize_t n = write(fd, p, len);

        g_assert(n > 0);
        p += n;
        len -= n;
    }
}

typedef struct Sender {
    int fd;
    int frames;
} Sender;

static void *send_frames(void *opaque)
{
    Sender *s = opaque;
    enum { BATCH = 256 };
    uint8_t *buf = g_malloc(BATCH * (4 + FRAME_LEN));
    uint32_t len = htonl(FRAME_LEN);
    int i, b;

    for (i = 0; i < s->frames; i += BATCH) {
        int n = MIN(BATCH, s->frames - i);

        for (b = 0; b < n; b++) {
            uint8_t *p = buf + b * (4 + FRAME_LEN);

            memcpy(p, &len, 4);
            udp_frame(p + 4, (i + b) % FLOWS, false);
        }
        send_all(s->fd, buf, n * (4 + FRAME_LEN));
    }
    g_free(buf);
    return NULL;
}

/* Count frames arriving on @fd until @want or 2 s without any */
static int count_frames(int fd, int want)
{
    static uint8_t buf[1 << 16];
    size_t have = 0, got = 0;
    fd_set rfds;

    while (got < want) {
        struct timeval tv = { .tv_sec = 2 };
        ssize_t n;
        size_t off = 0;

        FD_ZERO(&rfds);
        FD_SET(fd, &rfds);
        if (select(fd + 1, &rfds, NULL, NULL, &tv) <= 0) {
            break;
        }
        n = read(fd, buf + have, sizeof(buf) - have);
        if (n <= 0) {
            break;
        }
        have += n;
        while (have - off >= 4) {
            uint32_t len;

            memcpy(&len, buf + off, 4);
            len = ntohl(len);
            if (have - off < 4 + len) {
                break;
            }
            off += 4 + len;
            got++;
        }
        memmove(buf, buf + off, have - off);
        have -= off;
    }
    return got;
}

/* Policy: RULES rules for other hosts and ports, then one accepting ours */
static void set_policy(Harness *b)
{
    GString *json = g_string_new("{ 'filter': 'fw0', 'generation': 1,"
                                 "  'default-ingress': 'drop', 'rules': [");
    int i;

    for (i = 0; i < RULES - 1; i++) {
        g_string_append_printf(json,
            "{ 'id': %d, 'protocol': 17, 'source': [ '172.16.%d.%d/32' ],"
            "  'destination-ports': [ { 'start': %d, 'end': %d } ],"
            "  'action': 'accept' },", i + 1, i / 250, i % 250, 100 + i,
            110 + i);
    }
    g_string_append(json, "{ 'id': 100000, 'protocol': 17,"
                    "  'source': [ '10.1.0.0/16' ], 'action': 'accept' } ] }");
    qtest_qmp_assert_success(b->qts, "{ 'execute': 'firewall-set-policy',"
                             "  'arguments': %p }",
                             qobject_from_json(json->str, &error_abort));
    g_string_free(json, true);
}

/* The guest opens every flow, so that the ingress frames are replies */
static void open_flows(Harness *b)
{
    uint8_t f[4 + FRAME_LEN];
    uint32_t len = htonl(FRAME_LEN);
    int i;

    memcpy(f, &len, 4);
    for (i = 0; i < FLOWS; i++) {
        udp_frame(f + 4, i, true);
        send_all(b->inject, f, sizeof(f));
    }
    g_assert_cmpint(count_frames(b->backend, FLOWS), ==, FLOWS);
}

typedef struct Config {
    const char *name;
    bool firewall, policy, flows;
    double fps[3];
    int lost;
} Config;

static void run(Config *c, int round)
{
    Harness b;
    Sender s;
    QemuThread thread;
    int64_t t0, t1;
    int got;

    harness_start_with(&b, c->firewall ?
                       "-object filter-firewall,id=fw0,netdev=bn0" : "");
    if (c->policy) {
        set_policy(&b);
    }
    if (c->flows) {
        open_flows(&b);
    }
    s.fd = b.backend;
    s.frames = FRAMES;
    t0 = g_get_monotonic_time();
    qemu_thread_create(&thread, "sender", send_frames, &s,
                       QEMU_THREAD_JOINABLE);
    got = count_frames(b.guest, FRAMES);
    t1 = g_get_monotonic_time();
    qemu_thread_join(&thread);
    harness_stop(&b);

    c->fps[round] = got / ((t1 - t0) / 1e6);
    c->lost = MAX(c->lost, FRAMES - got);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* CPU time of QEMU's main thread */
static int64_t main_cpu_ns(QTestState *qts)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/task/%d/schedstat",
                                            qtest_pid(qts), qtest_pid(qts));
    g_autofree char *text = NULL;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    return g_ascii_strtoll(text, NULL, 10);
}

typedef struct Timing {
    int commands;
    int64_t max_ns, total_ns;
} Timing;

/*
 * Run one command and record the main loop's CPU time for it, up to the
 * reply of a query-status after it: QEMU frees a request after replying.
 */
static void timed(Harness *b, Timing *t, const char *cmd, GString *args)
{
    int64_t t0 = main_cpu_ns(b->qts), ns;

    qtest_qmp_assert_success(b->qts, "{ 'execute': %s, 'arguments': %p }",
                             cmd, qobject_from_json(args->str, &error_abort));
    qtest_qmp_assert_success(b->qts, "{ 'execute': 'query-status' }");
    ns = main_cpu_ns(b->qts) - t0;
    t->commands++;
    t->total_ns += ns;
    t->max_ns = MAX(t->max_ns, ns);
}

#define SWAP_CONNS      65536
#define SWAP_RULES      16384
#define SWAP_SETS       4096
#define SET_ADDRESSES   64
#define CHUNK_RULES     1000
#define CHUNK_SETS      (16384 / SET_ADDRESSES)

/*
 * Rule @i of a policy, new egress connections to a service (as in
 * firewall-bench): with @sets, to the hosts of one set each, else to one
 * host each.
 */
static void append_rule(GString *s, int i, bool sets)
{
    g_string_append_printf(s, "{ 'id': %d, 'priority': %d,"
                           "  'direction': 'egress', 'state': [ 'new' ],"
                           "  'protocol': 6, 'destination-ports': "
                           "[ { 'start': %d } ], 'action': 'accept',",
                           i + 1, 10 + i, 1024 + i % 1000);
    if (sets) {
        g_string_append_printf(s, " 'destination-set': 's%d' }", i);
    } else {
        g_string_append_printf(s, " 'destination': [ '172.16.%d.%d/32' ] }",
                               i >> 8, i & 255);
    }
}

static void append_set(GString *s, int i)
{
    int a;

    g_string_append_printf(s, "{ 'name': 's%d', 'addresses': [", i);
    for (a = 0; a < SET_ADDRESSES; a++) {
        int n = i * SET_ADDRESSES + a;

        g_string_append_printf(s, "%s'172.%d.%d.%d'", a ? "," : "",
                               16 + (n >> 16), (n >> 8) & 255, n & 255);
    }
    g_string_append(s, "] }");
}

/* The last rule accepts every connection of the table */
#define LAST_RULE "{ 'id': 1000000, 'protocol': 17," \
                  "  'source': [ '10.1.0.0/16' ], 'action': 'accept' }"

static void swap_one_command(Harness *b, Timing *t, uint64_t gen, int rules,
                             int sets)
{
    GString *s = g_string_new("");
    int i;

    g_string_printf(s, "{ 'filter': 'fw0', 'generation': %" PRIu64 ","
                    "  'default-ingress': 'drop', 'sets': [", gen);
    for (i = 0; i < sets; i++) {
        g_string_append(s, i ? "," : "");
        append_set(s, i);
    }
    g_string_append(s, "], 'rules': [");
    for (i = 0; i < rules - 1; i++) {
        append_rule(s, i, sets);
        g_string_append(s, ",");
    }
    g_string_append(s, LAST_RULE " ] }");
    timed(b, t, "firewall-set-policy", s);
    g_string_free(s, true);
}

static void swap_staged(Harness *b, Timing *t, uint64_t gen, int rules,
                        int sets)
{
    GString *s = g_string_new("");
    int i, j;

    g_string_printf(s, "{ 'filter': 'fw0', 'generation': %" PRIu64 ","
                    "  'default-ingress': 'drop' }", gen);
    timed(b, t, "firewall-policy-stage", s);
    for (i = 0; i < sets; i += CHUNK_SETS) {
        g_string_printf(s, "{ 'filter': 'fw0', 'generation': %" PRIu64 ","
                        "  'sets': [", gen);
        for (j = i; j < MIN(sets, i + CHUNK_SETS); j++) {
            g_string_append(s, j > i ? "," : "");
            append_set(s, j);
        }
        g_string_append(s, "] }");
        timed(b, t, "firewall-policy-stage-sets", s);
    }
    for (i = 0; i < rules; i += CHUNK_RULES) {
        g_string_printf(s, "{ 'filter': 'fw0', 'generation': %" PRIu64 ","
                        "  'rules': [", gen);
        for (j = i; j < MIN(rules, i + CHUNK_RULES); j++) {
            g_string_append(s, j > i ? "," : "");
            if (j == rules - 1) {
                g_string_append(s, LAST_RULE);
            } else {
                append_rule(s, j, sets);
            }
        }
        g_string_append(s, "] }");
        timed(b, t, "firewall-policy-stage-rules", s);
    }
    g_string_printf(s, "{ 'filter': 'fw0', 'generation': %" PRIu64 " }", gen);
    timed(b, t, "firewall-policy-commit", s);
    g_string_free(s, true);
}

static int64_t connections(Harness *b)
{
    QDict *resp = qtest_qmp(b->qts, "{ 'execute': 'query-firewall',"
                            "  'arguments': { 'filter': 'fw0' } }");
    QDict *info = qobject_to(QDict,
                             qlist_peek(qdict_get_qlist(resp, "return")));
    int64_t n = qdict_get_int(info, "connections");

    qobject_unref(resp);
    return n;
}

static void print_timing(const char *policy, const char *how, Timing *t)
{
    printf("%-34s %-22s %3d commands  max %6.1f ms  total %6.1f ms\n",
           policy, how, t->commands, t->max_ns / 1e6, t->total_ns / 1e6);
}

static void bench_swap(void)
{
    static const struct {
        const char *name;
        int rules, sets;
    } policies[] = {
        { "16384 rules", SWAP_RULES, 0 },
        { "4096 sets, 262144 addresses", SWAP_SETS + 1, SWAP_SETS },
    };
    uint8_t f[4 + FRAME_LEN];
    uint32_t len = htonl(FRAME_LEN);
    uint64_t gen = 1;
    Harness b;
    int i;

    setvbuf(stdout, NULL, _IOLBF, 0);
    harness_start_with(&b, "-object filter-firewall,id=fw0,netdev=bn0");
    memcpy(f, &len, 4);
    /*
     * GRE: tracked by addresses, for 600 s, the length of the run; in
     * batches that the sockets hold
     */
    for (i = 0; i < SWAP_CONNS; i++) {
        udp_frame(f + 4, i, true);
        f[4 + 23] = 47;
        send_all(b.inject, f, sizeof(f));
        if (i % 256 == 255) {
            g_assert_cmpint(count_frames(b.backend, 256), ==, 256);
        }
    }
    g_assert_cmpint(connections(&b), ==, SWAP_CONNS);
    printf("Main loop CPU time per QMP command, policy installed on a full "
           "table (%d connections)\n\n", SWAP_CONNS);
    for (i = 0; i < ARRAY_SIZE(policies); i++) {
        Timing one = { 0 }, staged = { 0 };
        int round;

        /* twice each, the second time replacing a policy of that size */
        for (round = 0; round < 2; round++) {
            one = (Timing) { 0 };
            swap_one_command(&b, &one, ++gen, policies[i].rules,
                             policies[i].sets);
            print_timing(policies[i].name, "firewall-set-policy", &one);
            staged = (Timing) { 0 };
            swap_staged(&b, &staged, ++gen, policies[i].rules,
                        policies[i].sets);
            print_timing(policies[i].name, "staged", &staged);
        }
    }
    g_assert_cmpint(connections(&b), ==, SWAP_CONNS);
    harness_stop(&b);
}

int main(int argc, char **argv)
{
    Config configs[] = {
        { "no filter", false, false, false },
        { "firewall, no policy, new flows", true, false, false },
        { "firewall, 1000 rules, new flows", true, true, false },
        { "firewall, 1000 rules, established", true, true, true },
    };
    int n = ARRAY_SIZE(configs), round, i;
    double base;

    g_test_init(&argc, &argv, NULL);
    if (argc > 1 && !strcmp(argv[1], "swap")) {
        bench_swap();
        return 0;
    }
    printf("%d frames of %d bytes, %d flows, through QEMU's net layer; "
           "median of 3 interleaved rounds\n", FRAMES, FRAME_LEN, FLOWS);
    for (round = 0; round < 3; round++) {
        for (i = 0; i < n; i++) {
            run(&configs[(i + round) % n], round);
        }
    }
    for (i = 0; i < n; i++) {
        qsort(configs[i].fps, 3, sizeof(double), cmp_double);
    }
    base = configs[0].fps[1];
    for (i = 0; i < n; i++) {
        printf("%-34s %10.0f frames/s  %5.1f%% lost  %.2fx of no filter\n",
               configs[i].name, configs[i].fps[1],
               100.0 * configs[i].lost / FRAMES, configs[i].fps[1] / base);
    }
    return 0;
}
