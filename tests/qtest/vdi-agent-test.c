/*
 * Unit tests of the SPICE agent-channel filter (ui/vdi-agent.c)
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "ui/vdi-agent.h"
#include "vdi-agent-msg.h"

#define C2G VT_FLOW_CLIENT_TO_GUEST
#define G2C VT_FLOW_GUEST_TO_CLIENT

typedef struct Fixture {
    VdiAgentFilter f;
    VtState policy;
    GByteArray *out[VT_FLOW__MAX];
    GByteArray *content[VT_FLOW__MAX];  /* reported, ended */
    int judged, ends;
} Fixture;

static VtVerdict fx_judge(void *opaque, VtKind kind, VtFlow flow, VtType type,
                          bool size_known, uint64_t size)
{
    Fixture *fx = opaque;

    fx->judged++;
    return vt_judge(&fx->policy, kind, flow, type, size_known, size);
}

static void fx_emit(void *opaque, VtFlow flow, const uint8_t *buf, size_t len)
{
    Fixture *fx = opaque;

    g_byte_array_append(fx->out[flow], buf, len);
}

static void fx_content(void *opaque, VtFlow flow, const uint8_t *buf,
                       size_t len, bool end)
{
    Fixture *fx = opaque;

    if (end) {
        fx->ends++;
    } else {
        g_byte_array_append(fx->content[flow], buf, len);
    }
}

static const VdiAgentOps fx_ops = {
    .judge = fx_judge, .emit = fx_emit, .content = fx_content,
};

static void fx_init(Fixture *fx)
{
    memset(fx, 0, sizeof(*fx));
    vt_init(&fx->policy);
    fx->out[C2G] = g_byte_array_new();
    fx->out[G2C] = g_byte_array_new();
    fx->content[C2G] = g_byte_array_new();
    fx->content[G2C] = g_byte_array_new();
    vdi_agent_init(&fx->f, &fx_ops, fx);
}

static void fx_fini(Fixture *fx)
{
    g_byte_array_free(fx->out[C2G], true);
    g_byte_array_free(fx->out[G2C], true);
    g_byte_array_free(fx->content[C2G], true);
    g_byte_array_free(fx->content[G2C], true);
}

static void feed_msg(Fixture *fx, VtFlow flow, GByteArray *b)
{
    vdi_agent_feed(&fx->f, flow, b->data, b->len);
    g_byte_array_free(b, true);
}

static GByteArray *clipboard(uint32_t type, const char *text)
{
    g_autofree uint8_t *body = g_malloc(4 + strlen(text));

    stl_le_p(body, type);
    memcpy(body + 4, text, strlen(text));
    return vdi_agent_msg(VD_AGENT_CLIPBOARD, body, 4 + strlen(text));
}

static GByteArray *request(uint32_t type)
{
    uint32_t t = cpu_to_le32(type);

    return vdi_agent_msg(VD_AGENT_CLIPBOARD_REQUEST, &t, 4);
}

static GByteArray *xfer_start(uint32_t id, uint64_t size)
{
    g_autofree char *kf = g_strdup_printf(
        "[vdagent-file-xfer]\nname=a.txt\nsize=%" PRIu64 "\n", size);
    g_autofree uint8_t *body = g_malloc(4 + strlen(kf));

    stl_le_p(body, id);
    memcpy(body + 4, kf, strlen(kf));
    return vdi_agent_msg(VD_AGENT_FILE_XFER_START, body, 4 + strlen(kf));
}

static GByteArray *xfer_data(uint32_t id, const char *data)
{
    g_autofree uint8_t *body = g_malloc(12 + strlen(data));

    stl_le_p(body, id);
    stq_le_p(body + 4, strlen(data));
    memcpy(body + 12, data, strlen(data));
    return vdi_agent_msg(VD_AGENT_FILE_XFER_DATA, body, 12 + strlen(data));
}

typedef struct Msg {
    uint32_t port, type;
    GByteArray *body;
} Msg;

static void msg_free(gpointer p)
{
    Msg *m = p;

    g_byte_array_free(m->body, true);
    g_free(m);
}

/*
 * The messages of an output stream, checked the way spice-server and
 * spice-vdagent read it: chunks of at most VD_AGENT_MAX_DATA_SIZE, each
 * of one message, a message's header whole at its first chunk's start.
 */
static GPtrArray *decode(GByteArray *out)
{
    GPtrArray *msgs = g_ptr_array_new_with_free_func(msg_free);
    Msg *cur[3] = { NULL };
    uint32_t left[3] = { 0 };
    size_t pos = 0;

    while (pos < out->len) {
        uint32_t port, size;

        g_assert_cmpuint(out->len - pos, >=, 8);
        port = ldl_le_p(out->data + pos);
        size = ldl_le_p(out->data + pos + 4);
        pos += 8;
        g_assert(port == VDP_CLIENT_PORT || port == VDP_SERVER_PORT);
        g_assert_cmpuint(size, >, 0);
        g_assert_cmpuint(size, <=, VD_AGENT_MAX_DATA_SIZE);
        g_assert_cmpuint(out->len - pos, >=, size);
        if (!left[port]) {
            g_assert_cmpuint(size, >=, 20);
            g_assert_cmpuint(ldl_le_p(out->data + pos), ==, VD_AGENT_PROTOCOL);
            cur[port] = g_new0(Msg, 1);
            cur[port]->port = port;
            cur[port]->type = ldl_le_p(out->data + pos + 4);
            cur[port]->body = g_byte_array_new();
            left[port] = ldl_le_p(out->data + pos + 16);
            g_ptr_array_add(msgs, cur[port]);
            pos += 20;
            size -= 20;
        }
        g_assert_cmpuint(size, <=, left[port]);
        g_byte_array_append(cur[port]->body, out->data + pos, size);
        left[port] -= size;
        pos += size;
    }
    g_assert_cmpuint(left[VDP_CLIENT_PORT], ==, 0);
    g_assert_cmpuint(left[VDP_SERVER_PORT], ==, 0);
    return msgs;
}

static Msg *msg_at(GPtrArray *msgs, guint i)
{
    g_assert_cmpuint(msgs->len, >, i);
    return g_ptr_array_index(msgs, i);
}

static void assert_clipboard(Msg *m, uint32_t type, const char *text)
{
    g_assert_cmpuint(m->type, ==, VD_AGENT_CLIPBOARD);
    g_assert_cmpuint(m->body->len, ==, 4 + strlen(text));
    g_assert_cmpuint(ldl_le_p(m->body->data), ==, type);
    g_assert(!memcmp(m->body->data + 4, text, strlen(text)));
}

/* Open both ways: the same messages come out, in valid chunks */
static void test_pass(void)
{
    Fixture fx;
    g_autoptr(GPtrArray) c2g = NULL;
    g_autoptr(GPtrArray) g2c = NULL;
    g_autofree char *big = g_strnfill(5000, 'x');
    GByteArray *b = clipboard(VD_AGENT_CLIPBOARD_UTF8_TEXT, "hello");
    size_t i;

    fx_init(&fx);
    /* one byte at a time */
    for (i = 0; i < b->len; i++) {
        vdi_agent_feed(&fx.f, C2G, b->data + i, 1);
    }
    g_byte_array_free(b, true);
    feed_msg(&fx, G2C, clipboard(VD_AGENT_CLIPBOARD_UTF8_TEXT, big));
    c2g = decode(fx.out[C2G]);
    g2c = decode(fx.out[G2C]);
    g_assert_cmpuint(c2g->len, ==, 1);
    assert_clipboard(msg_at(c2g, 0), VD_AGENT_CLIPBOARD_UTF8_TEXT, "hello");
    g_assert_cmpuint(g2c->len, ==, 1);
    assert_clipboard(msg_at(g2c, 0), VD_AGENT_CLIPBOARD_UTF8_TEXT, big);
    g_assert_cmpuint(fx.policy.count[VT_KIND_CLIPBOARD][C2G].allowed, ==, 1);
    g_assert_cmpuint(fx.policy.count[VT_KIND_CLIPBOARD][G2C].allowed_bytes,
                     ==, 5000);
    g_assert_cmpuint(fx.f.stats.dropped + fx.f.stats.malformed, ==, 0);
    /* the content, for its digest, as it passed */
    g_assert_cmpuint(fx.ends, ==, 2);
    g_assert_cmpmem(fx.content[C2G]->data, fx.content[C2G]->len, "hello", 5);
    g_assert_cmpmem(fx.content[G2C]->data, fx.content[G2C]->len, big, 5000);
    fx_fini(&fx);
}

/* Two messages in one chunk, one message over three chunks */
static void test_rechunk(void)
{
    Fixture fx;
    g_autoptr(GPtrArray) out = NULL;
    GByteArray *a = clipboard(VD_AGENT_CLIPBOARD_UTF8_TEXT, "one");
    GByteArray *b = clipboard(VD_AGENT_CLIPBOARD_UTF8_TEXT, "two");
    GByteArray *in = g_byte_array_new();
    uint8_t hdr[8];
    uint32_t body = a->len - 8 + b->len - 8;

    fx_init(&fx);
    stl_le_p(hdr, VDP_CLIENT_PORT);
    stl_le_p(hdr + 4, body);
    g_byte_array_append(in, hdr, 8);
    g_byte_array_append(in, a->data + 8, a->len - 8);
    g_byte_array_append(in, b->data + 8, b->len - 8);
    vdi_agent_feed(&fx.f, C2G, in->data, in->len);
    g_byte_array_set_size(in, 0);
    /* "one" again, cut into chunks of 5, 20 and the rest */
    stl_le_p(hdr + 4, 5);
    g_byte_array_append(in, hdr, 8);
    g_byte_array_append(in, a->data + 8, 5);
    stl_le_p(hdr + 4, 20);
    g_byte_array_append(in, hdr, 8);
    g_byte_array_append(in, a->data + 13, 20);
    stl_le_p(hdr + 4, a->len - 33);
    g_byte_array_append(in, hdr, 8);
    g_byte_array_append(in, a->data + 33, a->len - 33);
    vdi_agent_feed(&fx.f, C2G, in->data, in->len);
    out = decode(fx.out[C2G]);
    g_assert_cmpuint(out->len, ==, 3);
    assert_clipboard(msg_at(out, 0), VD_AGENT_CLIPBOARD_UTF8_TEXT, "one");
    assert_clipboard(msg_at(out, 1), VD_AGENT_CLIPBOARD_UTF8_TEXT, "two");
    assert_clipboard(msg_at(out, 2), VD_AGENT_CLIPBOARD_UTF8_TEXT, "one");
    g_byte_array_free(a, true);
    g_byte_array_free(b, true);
    g_byte_array_free(in, true);
    fx_fini(&fx);
}

/*
 * Client to guest closed: the client's content never reaches the guest,
 * which gets an empty clipboard; grabs and the other way still pass.
 */
static void test_client_to_guest_blocked(void)
{
    Fixture fx;
    g_autoptr(GPtrArray) c2g = NULL;
    g_autoptr(GPtrArray) g2c = NULL;
    uint32_t types = cpu_to_le32(VD_AGENT_CLIPBOARD_UTF8_TEXT);

    fx_init(&fx);
    fx.policy.rule[VT_KIND_CLIPBOARD].flow[C2G] = false;
    feed_msg(&fx, C2G, vdi_agent_msg(VD_AGENT_CLIPBOARD_GRAB, &types, 4));
    feed_msg(&fx, C2G, clipboard(VD_AGENT_CLIPBOARD_UTF8_TEXT, "secret"));
    /* the guest asks for the client's clipboard: refused, answered */
    feed_msg(&fx, G2C, request(VD_AGENT_CLIPBOARD_UTF8_TEXT));
    feed_msg(&fx, G2C, clipboard(VD_AGENT_CLIPBOARD_UTF8_TEXT, "out"));
    c2g = decode(fx.out[C2G]);
    g2c = decode(fx.out[G2C]);
    g_assert_cmpuint(c2g->len, ==, 3);
    g_assert_cmpuint(msg_at(c2g, 0)->type, ==, VD_AGENT_CLIPBOARD_GRAB);
    assert_clipboard(msg_at(c2g, 1), VD_AGENT_CLIPBOARD_UTF8_TEXT, "");
    assert_clipboard(msg_at(c2g, 2), VD_AGENT_CLIPBOARD_UTF8_TEXT, "");
    g_assert_cmpuint(g2c->len, ==, 1);
    assert_clipboard(msg_at(g2c, 0), VD_AGENT_CLIPBOARD_UTF8_TEXT, "out");
    g_assert_cmpuint(fx.policy.count[VT_KIND_CLIPBOARD][C2G].blocked, ==, 2);
    g_assert_cmpuint(fx.f.stats.dropped, ==, 2);
    g_assert_cmpuint(fx.f.stats.answered, ==, 2);
    /* only what passed */
    g_assert_cmpuint(fx.content[C2G]->len, ==, 0);
    g_assert_cmpmem(fx.content[G2C]->data, fx.content[G2C]->len, "out", 3);
    fx_fini(&fx);
}

/* Guest to client closed, text only: images and the guest's text refused */
static void test_guest_to_client_blocked(void)
{
    Fixture fx;
    g_autoptr(GPtrArray) c2g = NULL;
    g_autoptr(GPtrArray) g2c = NULL;

    fx_init(&fx);
    fx.policy.rule[VT_KIND_CLIPBOARD].flow[G2C] = false;
    fx.policy.rule[VT_KIND_CLIPBOARD].types = 1u << VT_TYPE_TEXT;
    feed_msg(&fx, C2G, request(VD_AGENT_CLIPBOARD_UTF8_TEXT));
    feed_msg(&fx, C2G, clipboard(VD_AGENT_CLIPBOARD_IMAGE_PNG, "PNG"));
    feed_msg(&fx, C2G, clipboard(VD_AGENT_CLIPBOARD_UTF8_TEXT, "in"));
    c2g = decode(fx.out[C2G]);
    g2c = decode(fx.out[G2C]);
    g_assert_cmpuint(g2c->len, ==, 1);
    assert_clipboard(msg_at(g2c, 0), VD_AGENT_CLIPBOARD_UTF8_TEXT, "");
    g_assert_cmpuint(c2g->len, ==, 2);
    assert_clipboard(msg_at(c2g, 0), VD_AGENT_CLIPBOARD_IMAGE_PNG, "");
    assert_clipboard(msg_at(c2g, 1), VD_AGENT_CLIPBOARD_UTF8_TEXT, "in");
    fx_fini(&fx);
}

/* The selection byte, once both ends announced it, and the size limit */
static void test_selection_and_size(void)
{
    Fixture fx;
    g_autoptr(GPtrArray) c2g = NULL;
    uint32_t caps[2] = {
        0, cpu_to_le32(1u << VD_AGENT_CAP_CLIPBOARD_SELECTION)
    };
    uint8_t body[4 + 4 + 5] = { VD_AGENT_CLIPBOARD_SELECTION_PRIMARY };

    fx_init(&fx);
    fx.policy.rule[VT_KIND_CLIPBOARD].max_size = 4;
    feed_msg(&fx, C2G, vdi_agent_msg(VD_AGENT_ANNOUNCE_CAPABILITIES, caps, 8));
    feed_msg(&fx, G2C, vdi_agent_msg(VD_AGENT_ANNOUNCE_CAPABILITIES, caps, 8));
    stl_le_p(body + 4, VD_AGENT_CLIPBOARD_UTF8_TEXT);
    memcpy(body + 8, "12345", 5);
    feed_msg(&fx, C2G, vdi_agent_msg(VD_AGENT_CLIPBOARD, body, sizeof(body)));
    feed_msg(&fx, C2G,
             vdi_agent_msg(VD_AGENT_CLIPBOARD, body, sizeof(body) - 1));
    c2g = decode(fx.out[C2G]);
    g_assert_cmpuint(c2g->len, ==, 3);
    /* 5 bytes: refused, an empty clipboard of the same selection */
    g_assert_cmpuint(msg_at(c2g, 1)->type, ==, VD_AGENT_CLIPBOARD);
    g_assert_cmpuint(msg_at(c2g, 1)->body->len, ==, 8);
    g_assert_cmpuint(msg_at(c2g, 1)->body->data[0], ==,
                     VD_AGENT_CLIPBOARD_SELECTION_PRIMARY);
    /* 4 bytes pass */
    g_assert_cmpuint(msg_at(c2g, 2)->body->len, ==, 12);
    g_assert(!memcmp(msg_at(c2g, 2)->body->data + 8, "1234", 4));
    g_assert_cmpuint(fx.policy.count[VT_KIND_CLIPBOARD][C2G].blocked, ==, 1);
    fx_fini(&fx);
}

/*
 * File transfer closed client to guest: the client's start is answered
 * with a cancel, its data never reach the guest; the size limit reads
 * the start's key file; an allowed transfer's data pass until it ends.
 */
static void test_file_transfer(void)
{
    Fixture fx;
    g_autoptr(GPtrArray) c2g = NULL;
    g_autoptr(GPtrArray) g2c = NULL;
    uint8_t done[8];

    fx_init(&fx);
    fx.policy.rule[VT_KIND_FILE_TRANSFER].flow[C2G] = false;
    feed_msg(&fx, C2G, xfer_start(7, 3));
    feed_msg(&fx, C2G, xfer_data(7, "abc"));
    c2g = decode(fx.out[C2G]);
    g2c = decode(fx.out[G2C]);
    g_assert_cmpuint(c2g->len, ==, 0);
    g_assert_cmpuint(g2c->len, ==, 1);
    g_assert_cmpuint(msg_at(g2c, 0)->type, ==, VD_AGENT_FILE_XFER_STATUS);
    g_assert_cmpuint(ldl_le_p(msg_at(g2c, 0)->body->data), ==, 7);
    g_assert_cmpuint(ldl_le_p(msg_at(g2c, 0)->body->data + 4), ==,
                     VD_AGENT_FILE_XFER_STATUS_CANCELLED);
    g_assert_cmpuint(fx.policy.count[VT_KIND_FILE_TRANSFER][C2G].blocked,
                     ==, 1);

    /* open, at most 3 bytes */
    fx.policy.rule[VT_KIND_FILE_TRANSFER].flow[C2G] = true;
    fx.policy.rule[VT_KIND_FILE_TRANSFER].max_size = 3;
    feed_msg(&fx, C2G, xfer_start(8, 4));
    feed_msg(&fx, C2G, xfer_start(9, 3));
    feed_msg(&fx, C2G, xfer_data(8, "abcd"));
    feed_msg(&fx, C2G, xfer_data(9, "abc"));
    stl_le_p(done, 9);
    stl_le_p(done + 4, VD_AGENT_FILE_XFER_STATUS_SUCCESS);
    feed_msg(&fx, G2C, vdi_agent_msg(VD_AGENT_FILE_XFER_STATUS, done, 8));
    /* ended: more data for it is dropped */
    feed_msg(&fx, C2G, xfer_data(9, "abc"));
    g_ptr_array_unref(c2g);
    g_ptr_array_unref(g2c);
    c2g = decode(fx.out[C2G]);
    g2c = decode(fx.out[G2C]);
    g_assert_cmpuint(c2g->len, ==, 2);
    g_assert_cmpuint(msg_at(c2g, 0)->type, ==, VD_AGENT_FILE_XFER_START);
    g_assert_cmpuint(ldl_le_p(msg_at(c2g, 0)->body->data), ==, 9);
    g_assert_cmpuint(msg_at(c2g, 1)->type, ==, VD_AGENT_FILE_XFER_DATA);
    g_assert_cmpuint(ldl_le_p(msg_at(c2g, 1)->body->data), ==, 9);
    g_assert_cmpuint(g2c->len, ==, 3);
    g_assert_cmpuint(ldl_le_p(msg_at(g2c, 1)->body->data), ==, 8);
    g_assert_cmpuint(fx.policy.count[VT_KIND_FILE_TRANSFER][C2G].allowed,
                     ==, 1);
    fx_fini(&fx);
}

/* An answer waits until the message under way to its peer is through */
static void test_answer_waits(void)
{
    Fixture fx;
    g_autoptr(GPtrArray) g2c = NULL;
    GByteArray *b = clipboard(VD_AGENT_CLIPBOARD_UTF8_TEXT, "long text");

    fx_init(&fx);
    fx.policy.rule[VT_KIND_CLIPBOARD].flow[G2C] = false;
    fx.policy.rule[VT_KIND_CLIPBOARD].flow[C2G] = false;
    /* the guest's text is refused: its answer takes its place... */
    feed_msg(&fx, G2C, b);
    /* ...but a grab under way to the client makes a request's answer wait */
    b = vdi_agent_msg(VD_AGENT_CLIPBOARD_GRAB, "\1\0\0\0\2\0\0\0", 8);
    vdi_agent_feed(&fx.f, G2C, b->data, 30);
    feed_msg(&fx, C2G, request(VD_AGENT_CLIPBOARD_UTF8_TEXT));
    g_assert_cmpuint(fx.f.dir[G2C].nanswer, ==, 1);
    vdi_agent_feed(&fx.f, G2C, b->data + 30, b->len - 30);
    g_byte_array_free(b, true);
    g2c = decode(fx.out[G2C]);
    g_assert_cmpuint(g2c->len, ==, 3);
    assert_clipboard(msg_at(g2c, 0), VD_AGENT_CLIPBOARD_UTF8_TEXT, "");
    g_assert_cmpuint(msg_at(g2c, 1)->type, ==, VD_AGENT_CLIPBOARD_GRAB);
    assert_clipboard(msg_at(g2c, 2), VD_AGENT_CLIPBOARD_UTF8_TEXT, "");
    fx_fini(&fx);
}

/*
 * spice-server tells the agent its client left: the client's message
 * under way is dropped by both, and the next client starts afresh.
 */
static void test_client_gone(void)
{
    Fixture fx;
    g_autoptr(GPtrArray) c2g = NULL;
    GByteArray *b = clipboard(VD_AGENT_CLIPBOARD_UTF8_TEXT, "cut short");
    GByteArray *gone = vdi_agent_msg(VD_AGENT_CLIENT_DISCONNECTED, NULL, 0);
    size_t partial;

    fx_init(&fx);
    /* a chunk with the first 3 bytes of the text: the rest never comes */
    stl_le_p(b->data + 4, 20 + 4 + 3);
    vdi_agent_feed(&fx.f, C2G, b->data, 8 + 20 + 4 + 3);
    g_byte_array_free(b, true);
    partial = fx.out[C2G]->len;
    g_assert_cmpuint(partial, >, 0);
    stl_le_p(gone->data, VDP_SERVER_PORT);
    feed_msg(&fx, C2G, gone);
    feed_msg(&fx, C2G, clipboard(VD_AGENT_CLIPBOARD_UTF8_TEXT, "next"));
    /* what the guest agent, which resets its client port, then reads */
    g_byte_array_remove_range(fx.out[C2G], 0, partial);
    c2g = decode(fx.out[C2G]);
    g_assert_cmpuint(c2g->len, ==, 2);
    g_assert_cmpuint(msg_at(c2g, 0)->type, ==, VD_AGENT_CLIENT_DISCONNECTED);
    assert_clipboard(msg_at(c2g, 1), VD_AGENT_CLIPBOARD_UTF8_TEXT, "next");
    fx_fini(&fx);
}

/* Hostile streams: counted drops, in sync afterwards, nothing held */
static void test_malformed(void)
{
    Fixture fx;
    g_autoptr(GPtrArray) c2g = NULL;
    uint8_t bad_port[12] = { 9, 0, 0, 0, 4, 0, 0, 0, 1, 2, 3, 4 };
    GByteArray *b = clipboard(VD_AGENT_CLIPBOARD_UTF8_TEXT, "x");
    g_autofree uint8_t *junk = g_malloc0(1 << 20);
    uint8_t huge[8 + 20];

    fx_init(&fx);
    vdi_agent_feed(&fx.f, C2G, bad_port, sizeof(bad_port));
    /* wrong protocol: dropped whole */
    stl_le_p(b->data + 8, 2);
    vdi_agent_feed(&fx.f, C2G, b->data, b->len);
    g_byte_array_free(b, true);
    /* a request too short to name a type */
    feed_msg(&fx, C2G, vdi_agent_msg(VD_AGENT_CLIPBOARD_REQUEST, "ab", 2));
    /* a start too large to judge: cancelled */
    b = vdi_agent_msg(VD_AGENT_FILE_XFER_START, junk, VDI_AGENT_PEEK_MAX + 1);
    feed_msg(&fx, C2G, b);
    /* a message that claims 4 GiB, then a megabyte of it: skipped */
    stl_le_p(huge, VDP_CLIENT_PORT);
    stl_le_p(huge + 4, UINT32_MAX);
    stl_le_p(huge + 8, 7);
    stl_le_p(huge + 12, VD_AGENT_CLIPBOARD);
    stq_le_p(huge + 16, 0);
    stl_le_p(huge + 24, UINT32_MAX);
    vdi_agent_feed(&fx.f, G2C, huge, sizeof(huge));
    vdi_agent_feed(&fx.f, G2C, junk, 1 << 20);
    feed_msg(&fx, C2G, clipboard(VD_AGENT_CLIPBOARD_UTF8_TEXT, "ok"));
    c2g = decode(fx.out[C2G]);
    g_assert_cmpuint(c2g->len, ==, 1);
    assert_clipboard(msg_at(c2g, 0), VD_AGENT_CLIPBOARD_UTF8_TEXT, "ok");
    g_assert_cmpuint(fx.out[G2C]->len, ==, 36);
    g_assert_cmpuint(fx.f.stats.malformed, ==, 5);
    /* the filter's whole state is its fixed size */
    g_assert_cmpuint(sizeof(fx.f), <, 32 * 1024);
    fx_fini(&fx);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vdi-agent/pass", test_pass);
    g_test_add_func("/vdi-agent/rechunk", test_rechunk);
    g_test_add_func("/vdi-agent/client-to-guest-blocked",
                    test_client_to_guest_blocked);
    g_test_add_func("/vdi-agent/guest-to-client-blocked",
                    test_guest_to_client_blocked);
    g_test_add_func("/vdi-agent/selection-and-size", test_selection_and_size);
    g_test_add_func("/vdi-agent/file-transfer", test_file_transfer);
    g_test_add_func("/vdi-agent/answer-waits", test_answer_waits);
    g_test_add_func("/vdi-agent/client-gone", test_client_gone);
    g_test_add_func("/vdi-agent/malformed", test_malformed);
    return g_test_run();
}
