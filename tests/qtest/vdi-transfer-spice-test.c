/*
 * QTest: clipboard and file-transfer control on the SPICE agent channel
 *
 * The spicevmc chardev named vdagent, whose frontend is here the
 * machine's 16550 UART, driven by this test as the guest's agent drives
 * its virtio-serial port (the vdagent protocol: chunks, messages,
 * clipboard grab, request and data, file-transfer start, status, data).
 * spice-client-glib is the remote user, over spice-server's Unix socket.
 * Text is copied each way, a file is sent, allowed and blocked, hostile
 * guest bytes are counted, and the VDI_TRANSFER events are checked.
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <spice-client.h>
#include "libqtest.h"
#include "vdi-agent-msg.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"

#define COM1                0x3f8
#define UART_LSR            5
#define UART_LSR_DR         0x01
#define SEL                 VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD
#define TIMEOUT_US          (20 * G_USEC_PER_SEC)

/* SM3("abc"), GB/T 32905-2016 appendix A.1 */
#define SM3_ABC \
    "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
#define ANY_DIGEST          ""

typedef struct {
    QTestState *qts;
    char *dir;
    SpiceSession *session;
    SpiceMainChannel *main;
    /* the guest's agent: bytes read, messages per port under way */
    GByteArray *uart;
    GByteArray *msg[3];
    GPtrArray *inbox;           /* AgentMsg, complete, client port */
    /* the client's side */
    int grabs, requests, got;
    GByteArray *got_data;
    int xfer_done;
    GError *xfer_err;
} T;

typedef struct {
    uint32_t type;
    GByteArray *body;
} AgentMsg;

static void agent_msg_free(gpointer p)
{
    AgentMsg *m = p;

    g_byte_array_unref(m->body);
    g_free(m);
}

/* ---- the guest's agent, on the UART ---- */

static void agent_send(T *t, uint32_t type, const void *body, uint32_t len)
{
    g_autoptr(GByteArray) b = vdi_agent_msg(type, body, len);

    for (guint i = 0; i < b->len; i++) {
        qtest_outb(t->qts, COM1, b->data[i]);
    }
}

static void agent_send_u32s(T *t, uint32_t type, uint32_t a, uint32_t b)
{
    uint32_t body[2] = { cpu_to_le32(a), cpu_to_le32(b) };

    agent_send(t, type, body, type == VD_AGENT_CLIPBOARD_REQUEST ||
               type == VD_AGENT_CLIPBOARD_GRAB ? 4 : 8);
}

/* Read what the UART holds; complete client-port messages to the inbox */
static void agent_drain(T *t)
{
    while (qtest_inb(t->qts, COM1 + UART_LSR) & UART_LSR_DR) {
        uint8_t c = qtest_inb(t->qts, COM1);

        g_byte_array_append(t->uart, &c, 1);
    }
    while (t->uart->len >= 8) {
        uint32_t port = ldl_le_p(t->uart->data);
        uint32_t size = ldl_le_p(t->uart->data + 4);
        GByteArray *m;

        g_assert(port == VDP_CLIENT_PORT || port == VDP_SERVER_PORT);
        if (t->uart->len < 8 + size) {
            break;
        }
        m = t->msg[port];
        g_byte_array_append(m, t->uart->data + 8, size);
        g_byte_array_remove_range(t->uart, 0, 8 + size);
        while (m->len >= 20 && m->len >= 20 + ldl_le_p(m->data + 16)) {
            uint32_t len = ldl_le_p(m->data + 16);

            g_assert_cmpuint(ldl_le_p(m->data), ==, VD_AGENT_PROTOCOL);
            if (port == VDP_CLIENT_PORT) {
                AgentMsg *a = g_new0(AgentMsg, 1);

                a->type = ldl_le_p(m->data + 4);
                a->body = g_byte_array_new();
                g_byte_array_append(a->body, m->data + 20, len);
                g_ptr_array_add(t->inbox, a);
            }
            g_byte_array_remove_range(m, 0, 20 + len);
        }
    }
}

static void pump(T *t)
{
    while (g_main_context_iteration(NULL, false)) {
        /* all that is ready */
    }
    agent_drain(t);
    g_usleep(500);
}

/* The first message of @type the agent got, the ones before it dropped */
static AgentMsg *agent_take(T *t, uint32_t type)
{
    while (t->inbox->len) {
        AgentMsg *m = g_ptr_array_steal_index(t->inbox, 0);

        if (m->type == type) {
            return m;
        }
        agent_msg_free(m);
    }
    return NULL;
}

static AgentMsg *agent_wait(T *t, uint32_t type)
{
    int64_t end = g_get_monotonic_time() + TIMEOUT_US;
    AgentMsg *m;

    while (!(m = agent_take(t, type))) {
        if (g_get_monotonic_time() > end) {
            g_error("the agent got no message of type %u", type);
        }
        pump(t);
    }
    return m;
}

#define WAIT_FOR(t, cond) do { \
    int64_t end_ = g_get_monotonic_time() + TIMEOUT_US; \
    while (!(cond)) { \
        if (g_get_monotonic_time() > end_) { \
            g_error("timed out waiting for %s", #cond); \
        } \
        pump(t); \
    } \
} while (0)

/* ---- the client ---- */

static gboolean on_grab(SpiceMainChannel *main, guint sel, gpointer types,
                        guint ntypes, T *t)
{
    t->grabs++;
    return true;
}

static gboolean on_request(SpiceMainChannel *main, guint sel, guint type,
                           T *t)
{
    static const char text[] = "from client";

    t->requests++;
    spice_main_channel_clipboard_selection_notify(main, sel, type,
                                                  (const guchar *)text,
                                                  strlen(text));
    return true;
}

static void on_data(SpiceMainChannel *main, guint sel, guint type,
                    const guchar *data, guint size, T *t)
{
    t->got++;
    g_byte_array_set_size(t->got_data, 0);
    g_byte_array_append(t->got_data, data, size);
}

static void on_channel_new(SpiceSession *s, SpiceChannel *channel, T *t)
{
    if (SPICE_IS_MAIN_CHANNEL(channel)) {
        t->main = SPICE_MAIN_CHANNEL(channel);
        g_signal_connect(channel, "main-clipboard-selection-grab",
                         G_CALLBACK(on_grab), t);
        g_signal_connect(channel, "main-clipboard-selection-request",
                         G_CALLBACK(on_request), t);
        g_signal_connect(channel, "main-clipboard-selection",
                         G_CALLBACK(on_data), t);
    }
}

static bool agent_connected(T *t)
{
    gboolean on = false;

    if (t->main) {
        g_object_get(t->main, "agent-connected", &on, NULL);
    }
    return on;
}

static void start(T *t)
{
    g_autofree char *sock = NULL;
    uint32_t caps[2] = {
        cpu_to_le32(1), cpu_to_le32(1u << VD_AGENT_CAP_CLIPBOARD_BY_DEMAND),
    };
    AgentMsg *m;

    memset(t, 0, sizeof(*t));
    t->dir = g_dir_make_tmp("vdi-transfer-spice-XXXXXX", NULL);
    sock = g_build_filename(t->dir, "spice.sock", NULL);
    t->qts = qtest_initf("-machine q35 -display none "
                         "-spice unix=on,addr=%s,disable-ticketing=on "
                         "-chardev spicevmc,id=vdagent,name=vdagent "
                         "-serial chardev:vdagent", sock);
    qtest_outb(t->qts, COM1 + 3, 0x03);         /* 8N1, no FIFO */
    t->uart = g_byte_array_new();
    for (int i = 0; i < 3; i++) {
        t->msg[i] = g_byte_array_new();
    }
    t->inbox = g_ptr_array_new_with_free_func(agent_msg_free);
    t->got_data = g_byte_array_new();

    t->session = spice_session_new();
    g_object_set(t->session, "unix-path", sock, NULL);
    g_signal_connect(t->session, "channel-new", G_CALLBACK(on_channel_new),
                     t);
    g_assert_true(spice_session_connect(t->session));
    WAIT_FOR(t, agent_connected(t));

    /* the agent's capabilities; the client answers with its own */
    agent_send(t, VD_AGENT_ANNOUNCE_CAPABILITIES, caps, sizeof(caps));
    m = agent_wait(t, VD_AGENT_ANNOUNCE_CAPABILITIES);
    agent_msg_free(m);
    WAIT_FOR(t, spice_main_channel_agent_test_capability(t->main,
                  VD_AGENT_CAP_CLIPBOARD_BY_DEMAND));
}

static void finish(T *t)
{
    g_autofree char *sock = g_build_filename(t->dir, "spice.sock", NULL);
    g_autofree char *file = g_build_filename(t->dir, "a.txt", NULL);

    spice_session_disconnect(t->session);
    g_object_unref(t->session);
    qtest_quit(t->qts);
    g_byte_array_unref(t->uart);
    for (int i = 0; i < 3; i++) {
        g_byte_array_unref(t->msg[i]);
    }
    g_ptr_array_unref(t->inbox);
    g_byte_array_unref(t->got_data);
    g_clear_error(&t->xfer_err);
    unlink(sock);
    unlink(file);
    rmdir(t->dir);
    g_free(t->dir);
}

static void set_policy(T *t, const char *kind, const char *direction)
{
    qtest_qmp_assert_success(t->qts,
        "{ 'execute': 'vdi-transfer-policy-set',"
        "  'arguments': { %s: { 'direction': %s } } }", kind, direction);
}

/*
 * The next VDI_TRANSFER: of @kind, @direction, allowed or not, @size
 * (-1: none), @digest (NULL: none, ANY_DIGEST: one)
 */
static void assert_event(T *t, const char *kind, const char *direction,
                         bool allowed, int64_t size, const char *digest)
{
    QDict *ev, *data;

    qtest_qmp_assert_success(t->qts, "{ 'execute': 'query-status' }");
    ev = qtest_qmp_event_ref(t->qts, "VDI_TRANSFER");
    g_assert_nonnull(ev);
    data = qdict_get_qdict(ev, "data");
    g_assert_cmpstr(qdict_get_str(data, "kind"), ==, kind);
    g_assert_cmpstr(qdict_get_str(data, "direction"), ==, direction);
    g_assert_cmpint(qdict_get_bool(data, "allowed"), ==, allowed);
    if (size >= 0) {
        g_assert_cmpint(qdict_get_int(data, "size"), ==, size);
    } else {
        g_assert_false(qdict_haskey(data, "size"));
    }
    if (!allowed) {
        g_assert_cmpstr(qdict_get_str(data, "reason"), ==, "direction");
    }
    if (!digest) {
        g_assert_false(qdict_haskey(data, "digest"));
    } else if (*digest) {
        g_assert_cmpstr(qdict_get_str(data, "digest"), ==, digest);
        g_assert_cmpstr(qdict_get_str(data, "digest-alg"), ==, "sm3");
    } else {
        g_assert_cmpuint(strlen(qdict_get_str(data, "digest")), ==, 64);
    }
    qobject_unref(ev);
}

/*
 * The client copies "from client": it grabs, the guest asks and gets the
 * text, or, blocked, an empty clipboard without the client being asked.
 */
static void client_copies(T *t, bool allowed)
{
    guint32 type = VD_AGENT_CLIPBOARD_UTF8_TEXT;
    AgentMsg *m;
    int requests = t->requests;

    spice_main_channel_clipboard_selection_grab(t->main, SEL, &type, 1);
    m = agent_wait(t, VD_AGENT_CLIPBOARD_GRAB);
    agent_msg_free(m);
    agent_send_u32s(t, VD_AGENT_CLIPBOARD_REQUEST, type, 0);
    m = agent_wait(t, VD_AGENT_CLIPBOARD);
    g_assert_cmpuint(ldl_le_p(m->body->data), ==, type);
    if (allowed) {
        g_assert_cmpuint(m->body->len, ==, 4 + strlen("from client"));
        g_assert(!memcmp(m->body->data + 4, "from client", 11));
        g_assert_cmpint(t->requests, ==, requests + 1);
        assert_event(t, "clipboard", "client-to-guest", true, 11,
                     ANY_DIGEST);
    } else {
        g_assert_cmpuint(m->body->len, ==, 4);
        g_assert_cmpint(t->requests, ==, requests);
        assert_event(t, "clipboard", "client-to-guest", false, -1, NULL);
    }
    agent_msg_free(m);
}

/*
 * The guest copies "abc": it grabs, the client asks and gets the text
 * (reported with its SM3 digest), or, blocked, empty text without the
 * guest being asked.
 */
static void guest_copies(T *t, bool allowed)
{
    static const char text[] = "abc";
    uint8_t body[4 + sizeof(text) - 1];
    int grabs = t->grabs, got = t->got;

    agent_send_u32s(t, VD_AGENT_CLIPBOARD_GRAB,
                    VD_AGENT_CLIPBOARD_UTF8_TEXT, 0);
    WAIT_FOR(t, t->grabs == grabs + 1);
    spice_main_channel_clipboard_selection_request(t->main, SEL,
        VD_AGENT_CLIPBOARD_UTF8_TEXT);
    if (allowed) {
        AgentMsg *m = agent_wait(t, VD_AGENT_CLIPBOARD_REQUEST);

        agent_msg_free(m);
        stl_le_p(body, VD_AGENT_CLIPBOARD_UTF8_TEXT);
        memcpy(body + 4, text, sizeof(text) - 1);
        agent_send(t, VD_AGENT_CLIPBOARD, body, sizeof(body));
    }
    WAIT_FOR(t, t->got == got + 1);
    if (allowed) {
        g_assert_cmpuint(t->got_data->len, ==, sizeof(text) - 1);
        g_assert(!memcmp(t->got_data->data, text, sizeof(text) - 1));
        assert_event(t, "clipboard", "guest-to-client", true, 3, SM3_ABC);
    } else {
        g_assert_cmpuint(t->got_data->len, ==, 0);
        agent_drain(t);
        g_assert_null(agent_take(t, VD_AGENT_CLIPBOARD_REQUEST));
        assert_event(t, "clipboard", "guest-to-client", false, -1, NULL);
    }
}

static void test_both(void)
{
    T t;

    start(&t);
    client_copies(&t, true);
    guest_copies(&t, true);
    finish(&t);
}

static void test_client_to_guest_blocked(void)
{
    T t;

    start(&t);
    set_policy(&t, "clipboard", "guest-to-client");
    client_copies(&t, false);
    guest_copies(&t, true);
    finish(&t);
}

static void test_guest_to_client_blocked(void)
{
    T t;

    start(&t);
    set_policy(&t, "clipboard", "client-to-guest");
    guest_copies(&t, false);
    client_copies(&t, true);
    finish(&t);
}

static void on_copied(GObject *src, GAsyncResult *res, gpointer opaque)
{
    T *t = opaque;

    spice_main_channel_file_copy_finish(SPICE_MAIN_CHANNEL(src), res,
                                        &t->xfer_err);
    t->xfer_done++;
}

/* The client sends a 5-byte file */
static void client_sends_file(T *t)
{
    g_autofree char *path = g_build_filename(t->dir, "a.txt", NULL);
    g_autoptr(GFile) file = g_file_new_for_path(path);
    GFile *files[] = { file, NULL };

    g_assert_true(g_file_set_contents(path, "hello", 5, NULL));
    spice_main_channel_file_copy_async(t->main, files, G_FILE_COPY_NONE,
                                       NULL, NULL, NULL, on_copied, t);
}

/*
 * File transfer client to guest: allowed, the guest gets the start and
 * the data; blocked, the client's copy fails and the guest gets nothing.
 */
static void test_file_transfer(void)
{
    T t;
    AgentMsg *m;
    uint32_t id;

    start(&t);
    client_sends_file(&t);
    m = agent_wait(&t, VD_AGENT_FILE_XFER_START);
    id = ldl_le_p(m->body->data);
    g_assert_nonnull(g_strstr_len((char *)m->body->data + 4,
                                  m->body->len - 4, "size=5"));
    agent_msg_free(m);
    assert_event(&t, "file-transfer", "client-to-guest", true, 5, NULL);
    agent_send_u32s(&t, VD_AGENT_FILE_XFER_STATUS, id,
                    VD_AGENT_FILE_XFER_STATUS_CAN_SEND_DATA);
    m = agent_wait(&t, VD_AGENT_FILE_XFER_DATA);
    g_assert_cmpuint(ldl_le_p(m->body->data), ==, id);
    g_assert_cmpuint(m->body->len, ==, 12 + 5);
    g_assert(!memcmp(m->body->data + 12, "hello", 5));
    agent_msg_free(m);
    agent_send_u32s(&t, VD_AGENT_FILE_XFER_STATUS, id,
                    VD_AGENT_FILE_XFER_STATUS_SUCCESS);
    WAIT_FOR(&t, t.xfer_done == 1);
    g_assert_no_error(t.xfer_err);

    set_policy(&t, "file-transfer", "guest-to-client");
    client_sends_file(&t);
    WAIT_FOR(&t, t.xfer_done == 2);
    g_assert_nonnull(t.xfer_err);
    agent_drain(&t);
    g_assert_null(agent_take(&t, VD_AGENT_FILE_XFER_START));
    g_assert_null(agent_take(&t, VD_AGENT_FILE_XFER_DATA));
    assert_event(&t, "file-transfer", "client-to-guest", false, 5, NULL);
    finish(&t);
}

static int64_t malformed(T *t)
{
    QDict *r = qtest_qmp(t->qts,
        "{ 'execute': 'qom-get', 'arguments': {"
        "  'path': '/chardevs/vdagent',"
        "  'property': 'vdi-agent-malformed' } }");
    int64_t n;

    g_assert_true(qdict_haskey(r, "return"));
    n = qdict_get_int(r, "return");

    qobject_unref(r);
    return n;
}

/* A hostile guest: counted drops, the channel still works */
static void test_malformed(void)
{
    static const uint8_t bad_port[] = { 9, 0, 0, 0, 2, 0, 0, 0, 1, 2 };
    uint32_t bad_protocol[7] = {
        cpu_to_le32(VDP_CLIENT_PORT), cpu_to_le32(20),
        cpu_to_le32(7), cpu_to_le32(VD_AGENT_CLIPBOARD), 0, 0, 0,
    };
    T t;

    start(&t);
    for (size_t i = 0; i < sizeof(bad_port); i++) {
        qtest_outb(t.qts, COM1, bad_port[i]);
    }
    for (size_t i = 0; i < sizeof(bad_protocol); i++) {
        qtest_outb(t.qts, COM1, ((uint8_t *)bad_protocol)[i]);
    }
    /* spice-server would drop the agent for a bad port: it never sees it */
    guest_copies(&t, true);
    g_assert_true(agent_connected(&t));
    g_assert_cmpint(malformed(&t), ==, 2);
    finish(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/vdi-transfer-spice/both", test_both);
    qtest_add_func("/vdi-transfer-spice/client-to-guest-blocked",
                   test_client_to_guest_blocked);
    qtest_add_func("/vdi-transfer-spice/guest-to-client-blocked",
                   test_guest_to_client_blocked);
    qtest_add_func("/vdi-transfer-spice/file-transfer", test_file_transfer);
    qtest_add_func("/vdi-transfer-spice/malformed", test_malformed);
    return g_test_run();
}
