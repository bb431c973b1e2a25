/*
 * QTest: clipboard direction control between a VNC client and the guest
 *
 * QEMU's qemu-vdagent chardev is the host end of the guest's agent; here
 * its frontend is the machine's 16550 UART, and this test drives the UART
 * as the guest's agent would drive its serial port, speaking the vdagent
 * protocol (chunk header, message, clipboard grab, request and data).  A
 * VNC client with the extended clipboard (RFB's ServerCutText and
 * ClientCutText with negative lengths) is the remote user.  Text is
 * copied each way, allowed and blocked, and the data, the answers, the
 * VDI_TRANSFER events and the counters are checked.
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <zlib.h>
#include "libqtest.h"
#include "qemu/bswap.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qlist.h"

/* spice-protocol's vd_agent.h, written out: the test speaks it itself */
#define VDP_CLIENT_PORT                 1
#define VD_AGENT_PROTOCOL               1
#define VD_AGENT_CLIPBOARD              4
#define VD_AGENT_ANNOUNCE_CAPABILITIES  6
#define VD_AGENT_CLIPBOARD_GRAB         7
#define VD_AGENT_CLIPBOARD_REQUEST      8
#define VD_AGENT_CLIPBOARD_UTF8_TEXT    1
#define VD_AGENT_CAP_CLIPBOARD_BY_DEMAND 5
#define CHUNK_HEADER_SIZE               8
#define MESSAGE_HEADER_SIZE             20
#define CAPS_MESSAGE_SIZE               (CHUNK_HEADER_SIZE + \
                                         MESSAGE_HEADER_SIZE + 8)

/* RFB extended clipboard */
#define ENC_CLIPBOARD_EXT   ((int32_t)0xc0a1e5ce)
#define CB_TEXT             (1u << 0)
#define CB_CAPS             (1u << 24)
#define CB_REQUEST          (1u << 25)
#define CB_NOTIFY           (1u << 27)
#define CB_PROVIDE          (1u << 28)

#define COM1                0x3f8
#define UART_LSR            5
#define UART_LSR_DR         0x01

/* SM3("abc"), GB/T 32905-2016 appendix A.1 */
#define SM3_ABC \
    "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"

/* bounded waits for what QEMU does on its own time (VNC input) */
#define WAIT_STEPS 10000

typedef struct {
    QTestState *qts;
    int vnc;
    char *dir;
    GByteArray *uart;       /* bytes the agent read, not yet parsed */
} T;

typedef struct {
    uint32_t type;
    GByteArray *data;
} AgentMsg;

/* ---- the guest's agent, on the UART ---- */

static void agent_write(T *t, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    size_t i;

    for (i = 0; i < len; i++) {
        qtest_outb(t->qts, COM1, p[i]);
    }
}

static void agent_send(T *t, uint32_t type, const void *data, uint32_t size)
{
    uint8_t hdr[CHUNK_HEADER_SIZE + MESSAGE_HEADER_SIZE] = { 0 };

    stl_le_p(hdr, VDP_CLIENT_PORT);
    stl_le_p(hdr + 4, MESSAGE_HEADER_SIZE + size);
    stl_le_p(hdr + 8, VD_AGENT_PROTOCOL);
    stl_le_p(hdr + 12, type);
    /* opaque (8 bytes) stays 0 */
    stl_le_p(hdr + 24, size);
    agent_write(t, hdr, sizeof(hdr));
    agent_write(t, data, size);
}

static void agent_send_u32s(T *t, uint32_t type, uint32_t a,
                            const void *more, uint32_t more_len)
{
    g_autofree uint8_t *buf = g_malloc(4 + more_len);

    stl_le_p(buf, a);
    memcpy(buf + 4, more, more_len);
    agent_send(t, type, buf, 4 + more_len);
}

/* Read what the UART holds; what QEMU sends is there at once */
static void agent_drain(T *t)
{
    while (qtest_inb(t->qts, COM1 + UART_LSR) & UART_LSR_DR) {
        uint8_t b = qtest_inb(t->qts, COM1);

        g_byte_array_append(t->uart, &b, 1);
    }
}

/* One whole message (one chunk: they are small here), or false */
static bool agent_parse(T *t, AgentMsg *m)
{
    uint32_t chunk, size;

    if (t->uart->len < CHUNK_HEADER_SIZE) {
        return false;
    }
    chunk = ldl_le_p(t->uart->data + 4);
    if (t->uart->len < CHUNK_HEADER_SIZE + chunk) {
        return false;
    }
    g_assert_cmpuint(ldl_le_p(t->uart->data), ==, VDP_CLIENT_PORT);
    g_assert_cmpuint(chunk, >=, MESSAGE_HEADER_SIZE);
    size = ldl_le_p(t->uart->data + CHUNK_HEADER_SIZE + 16);
    g_assert_cmpuint(size + MESSAGE_HEADER_SIZE, ==, chunk);
    m->type = ldl_le_p(t->uart->data + CHUNK_HEADER_SIZE + 4);
    m->data = g_byte_array_new();
    g_byte_array_append(m->data, t->uart->data + CHUNK_HEADER_SIZE +
                        MESSAGE_HEADER_SIZE, size);
    g_byte_array_remove_range(t->uart, 0, CHUNK_HEADER_SIZE + chunk);
    return true;
}

/* Wait for a message of @type, skipping others */
static GByteArray *agent_wait(T *t, uint32_t type)
{
    AgentMsg m;
    int i;

    for (i = 0; i < WAIT_STEPS; i++) {
        agent_drain(t);
        while (agent_parse(t, &m)) {
            if (m.type == type) {
                return m.data;
            }
            g_byte_array_unref(m.data);
        }
        g_usleep(1000);
    }
    g_error("the agent got no message of type %u", type);
}

static void agent_assert_idle(T *t)
{
    agent_drain(t);
    g_assert_cmpuint(t->uart->len, ==, 0);
}

/* ---- the remote user's VNC client ---- */

static void vnc_read(T *t, void *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = recv(t->vnc, (uint8_t *)buf + got, len - got, 0);

        g_assert_cmpint(n, >, 0);
        got += n;
    }
}

static void vnc_write(T *t, const void *buf, size_t len)
{
    g_assert_cmpint(send(t->vnc, buf, len, 0), ==, len);
}

static void vnc_send_ext(T *t, uint32_t flags, const void *payload,
                         size_t len)
{
    g_autofree uint8_t *msg = g_malloc(12 + len);

    msg[0] = 6;                         /* ClientCutText */
    msg[1] = msg[2] = msg[3] = 0;
    stl_be_p(msg + 4, -(int32_t)(4 + len));
    stl_be_p(msg + 8, flags);
    memcpy(msg + 12, payload, len);
    vnc_write(t, msg, 12 + len);
}

static void vnc_provide(T *t, const char *text)
{
    uint32_t len = strlen(text);
    g_autofree uint8_t *raw = g_malloc(4 + len);
    uLongf zlen = compressBound(4 + len);
    g_autofree uint8_t *z = g_malloc(zlen);

    stl_be_p(raw, len);
    memcpy(raw + 4, text, len);
    g_assert_cmpint(compress(z, &zlen, raw, 4 + len), ==, Z_OK);
    vnc_send_ext(t, CB_PROVIDE | CB_TEXT, z, zlen);
}

/* The next extended clipboard message: its flags, and its text if any */
static uint32_t vnc_recv_ext(T *t, char **text)
{
    uint8_t hdr[8];
    int32_t len;
    g_autofree uint8_t *payload = NULL;
    uint32_t flags;

    vnc_read(t, hdr, 1);
    g_assert_cmpuint(hdr[0], ==, 3);    /* ServerCutText, nothing else */
    vnc_read(t, hdr + 1, 7);
    len = ldl_be_p(hdr + 4);
    g_assert_cmpint(len, <=, -4);
    payload = g_malloc(-len);
    vnc_read(t, payload, -len);
    flags = ldl_be_p(payload);
    if (text) {
        uLongf rawlen = 65536;
        g_autofree uint8_t *raw = g_malloc(rawlen);
        uint32_t tlen;

        g_assert_true(flags & CB_PROVIDE);
        g_assert_cmpint(uncompress(raw, &rawlen, payload + 4, -len - 4),
                        ==, Z_OK);
        g_assert_cmpuint(rawlen, >=, 4);
        tlen = ldl_be_p(raw);
        g_assert_cmpuint(tlen, <=, rawlen - 4);
        *text = g_strndup((char *)raw + 4, tlen);
    }
    return flags;
}

static void vnc_assert_idle(T *t)
{
    struct pollfd p = { .fd = t->vnc, .events = POLLIN };

    g_assert_cmpint(poll(&p, 1, 0), ==, 0);
}

static void vnc_connect(T *t, const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    struct timeval tv = { .tv_sec = 30 };
    uint8_t buf[64];
    uint8_t n;
    uint32_t name_len;
    g_autofree char *name = NULL;
    uint8_t enc[4 + 8];

    t->vnc = socket(AF_UNIX, SOCK_STREAM, 0);
    g_assert_cmpint(t->vnc, >=, 0);
    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    g_assert_cmpint(connect(t->vnc, (struct sockaddr *)&addr,
                            sizeof(addr)), ==, 0);
    /* a lost message fails the test instead of hanging it */
    setsockopt(t->vnc, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

    vnc_read(t, buf, 12);
    g_assert_cmpmem(buf, 12, "RFB 003.008\n", 12);
    vnc_write(t, "RFB 003.008\n", 12);
    vnc_read(t, &n, 1);
    g_assert_cmpuint(n, >=, 1);
    vnc_read(t, buf, n);
    g_assert_nonnull(memchr(buf, 1, n));       /* None */
    vnc_write(t, "\1", 1);
    vnc_read(t, buf, 4);
    g_assert_cmpuint(ldl_be_p(buf), ==, 0);
    vnc_write(t, "\1", 1);                     /* shared */
    vnc_read(t, buf, 24);
    name_len = ldl_be_p(buf + 20);
    name = g_malloc(name_len);
    vnc_read(t, name, name_len);

    enc[0] = 2;                                 /* SetEncodings */
    enc[1] = 0;
    stw_be_p(enc + 2, 2);
    stl_be_p(enc + 4, 0);                       /* raw */
    stl_be_p(enc + 8, ENC_CLIPBOARD_EXT);
    vnc_write(t, enc, sizeof(enc));
    /* the server's capabilities: it has registered its clipboard peer */
    g_assert_true(vnc_recv_ext(t, NULL) & CB_CAPS);
}

/* @extra: more QEMU options */
static void start_with(T *t, const char *extra)
{
    g_autofree char *sock = NULL;
    g_autoptr(GByteArray) reply = NULL;
    uint32_t caps[2];

    t->dir = g_dir_make_tmp("vdi-transfer-XXXXXX", NULL);
    g_assert_nonnull(t->dir);
    sock = g_build_filename(t->dir, "vnc.sock", NULL);
    t->qts = qtest_initf("-machine q35 -display none -vnc unix:%s "
                         "-chardev qemu-vdagent,id=vda,clipboard=on,"
                         "mouse=off -serial chardev:vda %s", sock, extra);
    t->uart = g_byte_array_new();
    qtest_outb(t->qts, COM1 + 3, 0x03);         /* 8N1, no FIFO */

    /* the agent announces clipboard by demand and asks for QEMU's caps */
    caps[0] = 1;
    caps[1] = 1u << VD_AGENT_CAP_CLIPBOARD_BY_DEMAND;
    stl_le_p(&caps[0], caps[0]);
    stl_le_p(&caps[1], caps[1]);
    agent_send(t, VD_AGENT_ANNOUNCE_CAPABILITIES, caps, sizeof(caps));
    /*
     * QEMU answers at once.  What it sent when the UART opened lost its
     * first byte to the machine's reset: the answer is what comes last.
     */
    agent_drain(t);
    g_assert_cmpuint(t->uart->len, >=, CAPS_MESSAGE_SIZE);
    g_byte_array_remove_range(t->uart, 0, t->uart->len - CAPS_MESSAGE_SIZE);
    reply = agent_wait(t, VD_AGENT_ANNOUNCE_CAPABILITIES);
    g_assert_cmpuint(reply->len, ==, 8);
    g_assert_cmpuint(ldl_le_p(reply->data), ==, 0);     /* not a request */
    g_assert_true(ldl_le_p(reply->data + 4) &
                  (1u << VD_AGENT_CAP_CLIPBOARD_BY_DEMAND));
    agent_assert_idle(t);

    vnc_connect(t, sock);
}

static void start(T *t)
{
    start_with(t, "");
}

static void finish(T *t)
{
    g_autofree char *sock = g_build_filename(t->dir, "vnc.sock", NULL);

    close(t->vnc);
    qtest_quit(t->qts);
    g_byte_array_unref(t->uart);
    unlink(sock);
    rmdir(t->dir);
    g_free(t->dir);
}

static void set_clipboard(T *t, const char *policy)
{
    qtest_qmp_assert_success(t->qts,
        "{ 'execute': 'vdi-transfer-policy-set',"
        "  'arguments': { 'clipboard': %p } }",
        qobject_from_json(policy, &error_abort));
}

/*
 * The next VDI_TRANSFER's data.  QEMU emits it before the answer the
 * test has seen, so it precedes the reply to any later command.
 */
static QDict *next_transfer_event(T *t)
{
    QDict *ev, *data;

    qtest_qmp_assert_success(t->qts, "{ 'execute': 'query-status' }");
    ev = qtest_qmp_event_ref(t->qts, "VDI_TRANSFER");
    g_assert_nonnull(ev);
    data = qdict_get_qdict(ev, "data");

    qobject_ref(data);
    qobject_unref(ev);
    return data;
}

/* Counters of the clipboard in @direction: allowed, bytes, blocked */
static void assert_counters(T *t, const char *direction, int64_t allowed,
                            int64_t bytes, int64_t blocked)
{
    QDict *info = qtest_qmp_assert_success_ref(t->qts,
        "{ 'execute': 'query-vdi-transfer-policy' }");
    QListEntry *e;
    bool found = false;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(info, "counters"), e) {
        QDict *c = qobject_to(QDict, qlist_entry_obj(e));

        if (!strcmp(qdict_get_str(c, "kind"), "clipboard") &&
            !strcmp(qdict_get_str(c, "direction"), direction)) {
            g_assert_cmpint(qdict_get_int(c, "allowed"), ==, allowed);
            g_assert_cmpint(qdict_get_int(c, "allowed-bytes"), ==, bytes);
            g_assert_cmpint(qdict_get_int(c, "blocked"), ==, blocked);
            found = true;
        }
    }
    g_assert_true(found);
    qobject_unref(info);
}

/*
 * The guest copies "abc": it grabs the clipboard, the client is told,
 * asks, and gets the text or, when guest-to-client is blocked, empty
 * text without the guest ever being asked for it.
 */
static void guest_copies(T *t, bool allowed)
{
    uint32_t flags;
    g_autofree char *text = NULL;
    QDict *ev;

    agent_send_u32s(t, VD_AGENT_CLIPBOARD_GRAB,
                    VD_AGENT_CLIPBOARD_UTF8_TEXT, NULL, 0);
    flags = vnc_recv_ext(t, NULL);
    g_assert_cmphex(flags, ==, CB_NOTIFY | CB_TEXT);
    vnc_send_ext(t, CB_REQUEST | CB_TEXT, NULL, 0);

    if (allowed) {
        g_autoptr(GByteArray) req = agent_wait(t,
                                               VD_AGENT_CLIPBOARD_REQUEST);

        g_assert_cmpuint(req->len, ==, 4);
        g_assert_cmpuint(ldl_le_p(req->data), ==,
                         VD_AGENT_CLIPBOARD_UTF8_TEXT);
        agent_send_u32s(t, VD_AGENT_CLIPBOARD, VD_AGENT_CLIPBOARD_UTF8_TEXT,
                        "abc", 3);
    }
    flags = vnc_recv_ext(t, &text);
    g_assert_cmphex(flags, ==, CB_PROVIDE | CB_TEXT);
    /* what a refusal fetched from the guest would be in the UART now */
    agent_assert_idle(t);

    ev = next_transfer_event(t);
    g_assert_cmpstr(qdict_get_str(ev, "kind"), ==, "clipboard");
    g_assert_cmpstr(qdict_get_str(ev, "direction"), ==, "guest-to-client");
    g_assert_cmpstr(qdict_get_str(ev, "type"), ==, "text");
    g_assert_cmpint(qdict_get_bool(ev, "allowed"), ==, allowed);
    if (allowed) {
        g_assert_cmpstr(text, ==, "abc");
        g_assert_false(qdict_haskey(ev, "reason"));
        g_assert_cmpint(qdict_get_int(ev, "size"), ==, 3);
        g_assert_cmpstr(qdict_get_str(ev, "digest-alg"), ==, "sm3");
        g_assert_cmpstr(qdict_get_str(ev, "digest"), ==, SM3_ABC);
    } else {
        g_assert_cmpstr(text, ==, "");
        g_assert_cmpstr(qdict_get_str(ev, "reason"), ==, "direction");
        /* never fetched: neither size nor digest */
        g_assert_false(qdict_haskey(ev, "size"));
        g_assert_false(qdict_haskey(ev, "digest"));
    }
    qobject_unref(ev);
}

/*
 * The client copies @text: the guest's clipboard is grabbed, the guest
 * asks, and gets the text or an empty clipboard.  @reason is why it is
 * blocked, NULL if allowed; "direction" refuses before the client is
 * asked, "size" after its text arrived.
 */
static void client_copies(T *t, const char *text, const char *reason)
{
    g_autoptr(GByteArray) grab = NULL;
    g_autoptr(GByteArray) data = NULL;
    bool fetched = !reason || strcmp(reason, "direction");
    QDict *ev;

    vnc_send_ext(t, CB_NOTIFY | CB_TEXT, NULL, 0);
    grab = agent_wait(t, VD_AGENT_CLIPBOARD_GRAB);
    g_assert_cmpuint(grab->len, ==, 4);
    g_assert_cmpuint(ldl_le_p(grab->data), ==, VD_AGENT_CLIPBOARD_UTF8_TEXT);

    agent_send_u32s(t, VD_AGENT_CLIPBOARD_REQUEST,
                    VD_AGENT_CLIPBOARD_UTF8_TEXT, NULL, 0);
    if (fetched) {
        g_assert_cmphex(vnc_recv_ext(t, NULL), ==, CB_REQUEST | CB_TEXT);
        vnc_provide(t, text);
    }
    data = agent_wait(t, VD_AGENT_CLIPBOARD);
    g_assert_cmpuint(data->len, >=, 4);
    g_assert_cmpuint(ldl_le_p(data->data), ==, VD_AGENT_CLIPBOARD_UTF8_TEXT);
    if (reason) {
        g_assert_cmpuint(data->len, ==, 4);        /* empty clipboard */
    } else {
        g_assert_cmpmem(data->data + 4, data->len - 4, text, strlen(text));
    }
    /* the client was not asked when the direction is closed */
    vnc_assert_idle(t);

    ev = next_transfer_event(t);
    g_assert_cmpstr(qdict_get_str(ev, "direction"), ==, "client-to-guest");
    g_assert_cmpint(qdict_get_bool(ev, "allowed"), ==, !reason);
    if (reason) {
        g_assert_cmpstr(qdict_get_str(ev, "reason"), ==, reason);
    }
    g_assert_cmpint(qdict_haskey(ev, "size"), ==, fetched);
    if (fetched) {
        g_assert_cmpint(qdict_get_int(ev, "size"), ==, strlen(text));
        g_assert_cmpuint(strlen(qdict_get_str(ev, "digest")), ==, 64);
    }
    qobject_unref(ev);
}

/* Never set: both ways, as stock QEMU, and counted */
static void test_default_both(void)
{
    T t;

    start(&t);
    guest_copies(&t, true);
    client_copies(&t, "hello guest", NULL);
    assert_counters(&t, "guest-to-client", 1, 3, 0);
    assert_counters(&t, "client-to-guest", 1, 11, 0);
    finish(&t);
}

/* The hospital's "internet" rule: nothing leaves the VM */
static void test_guest_to_client_blocked(void)
{
    T t;

    start(&t);
    set_clipboard(&t, "{ 'direction': 'client-to-guest' }");
    guest_copies(&t, false);
    client_copies(&t, "into the VM", NULL);
    assert_counters(&t, "guest-to-client", 0, 0, 1);
    assert_counters(&t, "client-to-guest", 1, 11, 0);

    /* opened again, the same session copies out */
    set_clipboard(&t, "{ 'direction': 'both' }");
    guest_copies(&t, true);
    assert_counters(&t, "guest-to-client", 1, 3, 1);
    finish(&t);
}

static void test_client_to_guest_blocked(void)
{
    T t;

    start(&t);
    set_clipboard(&t, "{ 'direction': 'guest-to-client' }");
    client_copies(&t, "malware.exe", "direction");
    guest_copies(&t, true);
    set_clipboard(&t, "{ 'direction': 'none' }");
    guest_copies(&t, false);
    client_copies(&t, "anything", "direction");
    assert_counters(&t, "guest-to-client", 1, 3, 1);
    assert_counters(&t, "client-to-guest", 0, 0, 2);
    finish(&t);
}

/*
 * A client without the extended clipboard sends its text along with the
 * copy (ClientCutText): the text is at hand when the guest asks, and a
 * closed direction still keeps it from the guest.
 */
static void test_legacy_cut_text(void)
{
    static const char text[] = "legacy";
    uint8_t msg[8 + sizeof(text) - 1] = { 6 };
    T t;
    int blocked;

    start(&t);
    stl_be_p(msg + 4, sizeof(text) - 1);
    memcpy(msg + 8, text, sizeof(text) - 1);
    for (blocked = 0; blocked < 2; blocked++) {
        g_autoptr(GByteArray) grab = NULL;
        g_autoptr(GByteArray) data = NULL;
        QDict *ev;

        set_clipboard(&t, blocked ? "{ 'direction': 'guest-to-client' }"
                                  : "{ 'direction': 'both' }");
        vnc_write(&t, msg, sizeof(msg));
        grab = agent_wait(&t, VD_AGENT_CLIPBOARD_GRAB);
        agent_send_u32s(&t, VD_AGENT_CLIPBOARD_REQUEST,
                        VD_AGENT_CLIPBOARD_UTF8_TEXT, NULL, 0);
        data = agent_wait(&t, VD_AGENT_CLIPBOARD);
        if (blocked) {
            g_assert_cmpuint(data->len, ==, 4);
        } else {
            g_assert_cmpmem(data->data + 4, data->len - 4,
                            text, sizeof(text) - 1);
        }
        ev = next_transfer_event(&t);
        g_assert_cmpint(qdict_get_bool(ev, "allowed"), ==, !blocked);
        g_assert_cmpint(qdict_get_int(ev, "size"), ==, sizeof(text) - 1);
        qobject_unref(ev);
    }
    assert_counters(&t, "client-to-guest", 1, sizeof(text) - 1, 1);
    finish(&t);
}

/* Too large: judged when the text is at hand, blocked whole */
static void test_size_limit(void)
{
    T t;

    start(&t);
    set_clipboard(&t, "{ 'direction': 'both', 'max-size': 4 }");
    client_copies(&t, "12345", "size");
    client_copies(&t, "1234", NULL);
    assert_counters(&t, "client-to-guest", 1, 4, 1);
    finish(&t);
}

/* The policy of -object from the start; the VM has only one */
static void test_object(void)
{
    QDict *resp, *p;
    T t;

    start_with(&t, "-object '{ \"qom-type\": \"vdi-transfer-policy\", "
               "\"id\": \"tp\", "
               "\"clipboard\": { \"direction\": \"client-to-guest\" } }'");
    guest_copies(&t, false);
    client_copies(&t, "into the VM", NULL);
    assert_counters(&t, "guest-to-client", 0, 0, 1);
    assert_counters(&t, "client-to-guest", 1, 11, 0);

    /* the commands act on it, and qom-get shows it */
    set_clipboard(&t, "{ 'direction': 'both', 'max-size': 100 }");
    p = qtest_qmp_assert_success_ref(t.qts, "{ 'execute': 'qom-get', "
        "'arguments': { 'path': '/objects/tp', 'property': 'clipboard' } }");
    g_assert_cmpstr(qdict_get_str(p, "direction"), ==, "both");
    g_assert_cmpint(qdict_get_int(p, "max-size"), ==, 100);
    qobject_unref(p);
    resp = qtest_qmp(t.qts, "{ 'execute': 'object-add', 'arguments': { "
                     "'qom-type': 'vdi-transfer-policy', 'id': 'tp2' } }");
    g_assert_true(strstr(qdict_get_str(qdict_get_qdict(resp, "error"),
                                       "desc"), "already has"));
    qobject_unref(resp);
    /* qom-set checks as the command does */
    resp = qtest_qmp(t.qts, "{ 'execute': 'qom-set', 'arguments': { "
                     "'path': '/objects/tp', 'property': 'file-transfer', "
                     "'value': { 'direction': 'both', 'types': [ 'text' ] } } }");
    g_assert_true(strstr(qdict_get_str(qdict_get_qdict(resp, "error"),
                                       "desc"), "does not carry"));
    qobject_unref(resp);

    /* deleted, the next transfer makes the VM's default policy again */
    qtest_qmp_assert_success(t.qts, "{ 'execute': 'object-del', "
                             "'arguments': { 'id': 'tp' } }");
    guest_copies(&t, true);
    assert_counters(&t, "guest-to-client", 1, 3, 0);
    resp = qtest_qmp(t.qts, "{ 'execute': 'qom-get', 'arguments': { "
                     "'path': '/objects/transfer-policy', "
                     "'property': 'counters' } }");
    /* two channels, two directions */
    g_assert_cmpint(qlist_size(qdict_get_qlist(resp, "return")), ==, 4);
    qobject_unref(resp);
    finish(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/vdi-transfer/default-both", test_default_both);
    qtest_add_func("/vdi-transfer/guest-to-client-blocked",
                   test_guest_to_client_blocked);
    qtest_add_func("/vdi-transfer/client-to-guest-blocked",
                   test_client_to_guest_blocked);
    qtest_add_func("/vdi-transfer/size-limit", test_size_limit);
    qtest_add_func("/vdi-transfer/legacy-cut-text", test_legacy_cut_text);
    qtest_add_func("/vdi-transfer/object", test_object);
    return g_test_run();
}
