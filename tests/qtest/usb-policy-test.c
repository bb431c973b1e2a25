/*
 * QTest for the VDI USB peripheral policy on usb-redir devices
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A fake remote USB device, written on libusbredirparser as the device
 * side of the protocol, runs in a thread on one end of a socketpair; the
 * other end is the chardev of a usb-redir device on a qemu-xhci.  With
 * -accel qtest there is no guest driver: the tests cover the descriptor
 * fetch, the verdicts, the QMP commands and events, and a peer that
 * misbehaves.  For what a guest would see, a few control transfers go
 * through a UHCI controller driven from here (see uhci_control()).
 */

#include "qemu/osdep.h"
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <usbredirparser.h>
#include "qemu/atomic.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qjson.h"
#include "qobject/qstring.h"
#include "qapi/error.h"
#include "libqos/pci-pc.h"
#include "vdi-fake-stick.h"
#include "vdi-qmp-util.h"
#include "vdi-usb-test.h"

typedef enum FakeKind {
    FAKE_KEYBOARD,
    FAKE_STORAGE,
    FAKE_PRINTER,
    FAKE_COMPOSITE,     /* storage + keyboard */
    FAKE_BAD_CONFIG,    /* wTotalLength beyond the descriptor */
} FakeKind;

typedef enum FakeMisbehave {
    FAKE_BEHAVE,
    FAKE_HANGUP_ON_CONFIG,  /* close the connection mid-transfer */
    /*
     * BadUSB: the descriptors of the model to QEMU's own requests (whose
     * ids it can tell), a HID boot keyboard's on the same endpoint to the
     * guest's
     */
    FAKE_BADUSB,
    FAKE_LIES_IFACE,        /* interface_info says HID keyboard */
} FakeMisbehave;

typedef struct FakeDev {
    FakeKind kind;
    FakeMisbehave misbehave;
    int fd;                 /* our end of the connection, or -1 */
    int listen_fd;          /* listening socket (a terminal), or -1 */
    char *unix_path;        /* its path, for a unix socket */
    struct usbredirparser *parser;
    GThread *thread;
    int quit;               /* atomic: stop the thread */
    int send_garbage;       /* atomic: write garbage to QEMU */
    int hangup;             /* atomic: close the connection */
    int rejected;           /* atomic: QEMU sent filter_reject */
    int eof;                /* atomic: QEMU closed the connection */
    int guest_get_descs;    /* atomic: GET_DESCRIPTORs not QEMU's own */
    FakeBot bot;            /* a stick's Bulk-Only commands */
} FakeDev;

/* Descriptors */

static const uint8_t keyboard_config[] = {
    9, 2, 34, 0, 1, 1, 0, 0xa0, 50,
    9, 4, 0, 0, 1, 3, 1, 1, 0,             /* HID boot keyboard */
    9, 0x21, 0x11, 0x01, 0, 1, 0x22, 63, 0,
    7, 5, 0x81, 3, 8, 0, 10,
};

static const uint8_t composite_config[] = {
    9, 2, 57, 0, 2, 1, 0, 0x80, 100,
    9, 4, 0, 0, 2, 8, 6, 0x50, 0,
    7, 5, 0x81, 2, 0x00, 0x02, 0,
    7, 5, 0x02, 2, 0x00, 0x02, 0,
    9, 4, 1, 0, 1, 3, 1, 1, 0,
    9, 0x21, 0x11, 0x01, 0, 1, 0x22, 63, 0,
    7, 5, 0x83, 3, 8, 0, 10,
};

static const uint8_t bad_config[] = {
    9, 2, 200, 0, 1, 1, 0, 0x80, 100,      /* claims 200 bytes */
    9, 4, 0, 0, 0, 3, 0, 0, 0,
};

typedef struct FakeModel {
    uint16_t vid, pid;
    uint8_t speed;
    const uint8_t *config;
    size_t config_len;
    const char *serial;
} FakeModel;

static const FakeModel models[] = {
    [FAKE_KEYBOARD] = { 0x046d, 0xc31c, usb_redir_speed_full,
                        keyboard_config, sizeof(keyboard_config), NULL },
    [FAKE_STORAGE] = { FAKE_STICK_VID, FAKE_STICK_PID, usb_redir_speed_high,
                       fake_stick_config, sizeof(fake_stick_config),
                       FAKE_STICK_SERIAL },
    [FAKE_PRINTER] = { 0x04b8, 0x0005, usb_redir_speed_high,
                       usb_test_printer_config,
                       sizeof(usb_test_printer_config), NULL },
    [FAKE_COMPOSITE] = { 0x0781, 0x5599, usb_redir_speed_high,
                         composite_config, sizeof(composite_config),
                         "COMBO-7" },
    [FAKE_BAD_CONFIG] = { 0x1234, 0x0001, usb_redir_speed_full,
                          bad_config, sizeof(bad_config), NULL },
};

static size_t device_desc(const FakeModel *m, uint8_t *d)
{
    uint8_t desc[18] = {
        18, 1, 0x00, 0x02, 0, 0, 0, 64,
        m->vid & 0xff, m->vid >> 8, m->pid & 0xff, m->pid >> 8,
        0x00, 0x01, 1, 2, m->serial ? 3 : 0, 1,
    };

    memcpy(d, desc, sizeof(desc));
    return sizeof(desc);
}

/* Endpoint index as usbredir numbers them */
static int ep_index(uint8_t ep)
{
    return ((ep & 0x80) >> 3) | (ep & 0x0f);
}

/* Build ep_info and interface_info from the configuration descriptor */
static void send_device(FakeDev *f)
{
    const FakeModel *m = &models[f->kind];
    struct usb_redir_ep_info_header ep = { 0 };
    struct usb_redir_interface_info_header ii = { 0 };
    struct usb_redir_device_connect_header dc = {
        .speed = m->speed,
        .vendor_id = m->vid,
        .product_id = m->pid,
        .device_version_bcd = 0x0100,
    };
    uint8_t iface = 0;
    size_t off;

    memset(ep.type, usb_redir_type_invalid, sizeof(ep.type));
    ep.type[0] = ep.type[16] = usb_redir_type_control;
    ep.max_packet_size[0] = ep.max_packet_size[16] = 64;
    for (off = 0; off + 2 <= m->config_len && m->config[off];
         off += m->config[off]) {
        const uint8_t *d = m->config + off;

        if (d[1] == 4 && off + 9 <= m->config_len) {
            iface = d[2];
            ii.interface[ii.interface_count] = d[2];
            ii.interface_class[ii.interface_count] = d[5];
            ii.interface_subclass[ii.interface_count] = d[6];
            ii.interface_protocol[ii.interface_count] = d[7];
            ii.interface_count++;
        } else if (d[1] == 5 && off + 7 <= m->config_len) {
            int i = ep_index(d[2]);

            ep.type[i] = d[3] & 3;
            ep.interval[i] = d[6];
            ep.interface[i] = iface;
            ep.max_packet_size[i] = d[4] | (d[5] << 8);
        }
    }
    if (f->misbehave == FAKE_LIES_IFACE) {
        ii.interface_class[0] = 3;
        ii.interface_subclass[0] = 1;
        ii.interface_protocol[0] = 1;
    }
    usbredirparser_send_ep_info(f->parser, &ep);
    usbredirparser_send_interface_info(f->parser, &ii);
    usbredirparser_send_device_connect(f->parser, &dc);
}

/* Parser callbacks: the device side */

static int fake_read(void *priv, uint8_t *data, int count)
{
    FakeDev *f = priv;
    ssize_t n = recv(f->fd, data, count, MSG_DONTWAIT);

    if (n == 0) {
        qatomic_set(&f->eof, 1);
        return -1;
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            return 0;
        }
        qatomic_set(&f->eof, 1);
        return -1;
    }
    return n;
}

static int fake_write(void *priv, uint8_t *data, int count)
{
    FakeDev *f = priv;
    ssize_t n = send(f->fd, data, count, MSG_NOSIGNAL);

    return n < 0 ? -1 : n;
}

static void fake_log(void *priv, int level, const char *msg)
{
    if (level <= usbredirparser_error && g_test_verbose()) {
        fprintf(stderr, "fake usbredir peer: %s\n", msg);
    }
}

static void fake_hello(void *priv, struct usb_redir_hello_header *h)
{
    send_device(priv);
}

static void fake_control(void *priv, uint64_t id,
                         struct usb_redir_control_packet_header *c,
                         uint8_t *data, int data_len)
{
    FakeDev *f = priv;
    const FakeModel *m = &models[f->kind];
    /* QEMU's own requests, before and after ids of its own were given */
    bool qemu_own = (id >> 56) == 0xff || (id & ~0xffULL) == 0xffffff00ULL;
    uint8_t buf[256];
    size_t len = 0;

    c->status = usb_redir_stall;
    if (c->requesttype == 0xa1 && c->request == 0xfe &&
        f->kind == FAKE_STORAGE) {
        /* GET_MAX_LUN: one LUN, as vdi-fake-libusb does */
        c->status = usb_redir_success;
        buf[0] = 0;
        len = 1;
    }
    if (c->request == 6 && !qemu_own) {
        qatomic_inc(&f->guest_get_descs);
        if (f->misbehave == FAKE_BADUSB) {
            m = &models[FAKE_KEYBOARD];
        }
    }
    if (c->requesttype == 0x80 && c->request == 6) {
        c->status = usb_redir_success;
        switch (c->value >> 8) {
        case 1:
            len = device_desc(m, buf);
            break;
        case 2:
            if (f->misbehave == FAKE_HANGUP_ON_CONFIG && c->length > 9) {
                shutdown(f->fd, SHUT_RDWR);
                free(data);
                return;
            }
            len = MIN(m->config_len, sizeof(buf));
            memcpy(buf, m->config, len);
            break;
        case 3:
            if ((c->value & 0xff) == 0) {
                len = 4;
                memcpy(buf, "\x04\x03\x09\x04", 4);
            } else if ((c->value & 0xff) == 3 && m->serial) {
                len = usb_test_string_desc(m->serial, buf, sizeof(buf));
            } else {
                c->status = usb_redir_stall;
            }
            break;
        default:
            c->status = usb_redir_stall;
        }
    }
    len = MIN(len, c->length);
    c->length = len;
    usbredirparser_send_control_packet(f->parser, id, c,
                                       len ? buf : NULL, len);
    free(data);
}

static void fake_set_config(void *priv, uint64_t id,
                            struct usb_redir_set_configuration_header *h)
{
    FakeDev *f = priv;
    struct usb_redir_configuration_status_header st = {
        usb_redir_success, h->configuration
    };

    usbredirparser_send_configuration_status(f->parser, id, &st);
}

static void fake_get_config(void *priv, uint64_t id)
{
    FakeDev *f = priv;
    struct usb_redir_configuration_status_header st = {
        usb_redir_success, 1
    };

    usbredirparser_send_configuration_status(f->parser, id, &st);
}

static void fake_set_alt(void *priv, uint64_t id,
                         struct usb_redir_set_alt_setting_header *h)
{
    FakeDev *f = priv;
    struct usb_redir_alt_setting_status_header st = {
        usb_redir_success, h->interface, h->alt
    };

    usbredirparser_send_alt_setting_status(f->parser, id, &st);
}

static void fake_get_alt(void *priv, uint64_t id,
                         struct usb_redir_get_alt_setting_header *h)
{
    FakeDev *f = priv;
    struct usb_redir_alt_setting_status_header st = {
        usb_redir_success, h->interface, 0
    };

    usbredirparser_send_alt_setting_status(f->parser, id, &st);
}

/*
 * A stick serves Bulk-Only commands as vdi-fake-libusb does; other
 * devices stall
 */
static void fake_bulk(void *priv, uint64_t id,
                      struct usb_redir_bulk_packet_header *b,
                      uint8_t *data, int data_len)
{
    FakeDev *f = priv;
    uint8_t buf[512];
    size_t len = 0, done = 0;

    b->status = usb_redir_stall;
    if (f->kind == FAKE_STORAGE && b->endpoint == 0x81) {
        len = done = fake_bot_in(&f->bot, buf,
                                 MIN(b->length | b->length_high << 16,
                                     sizeof(buf)));
        b->status = usb_redir_success;
    } else if (f->kind == FAKE_STORAGE && b->endpoint == 0x02 &&
               fake_bot_out(&f->bot, data, data_len)) {
        b->status = usb_redir_success;
        done = data_len;    /* an OUT's reply carries its length only */
    }
    b->length = done;
    b->length_high = 0;
    usbredirparser_send_bulk_packet(f->parser, id, b, len ? buf : NULL, len);
    free(data);
}

static void fake_filter_reject(void *priv)
{
    FakeDev *f = priv;

    qatomic_set(&f->rejected, 1);
}

static void fake_ignore(void *priv)
{
}

static void fake_ignore_id(void *priv, uint64_t id)
{
}

static void fake_ignore_filter(void *priv, struct usbredirfilter_rule *rules,
                               int rules_count)
{
    free(rules);
}

static void fake_ignore_hdr(void *priv, uint64_t id, void *h)
{
}

static void fake_ignore_data(void *priv, uint64_t id, void *h,
                             uint8_t *data, int data_len)
{
    free(data);
}

static gpointer fake_thread(gpointer opaque)
{
    FakeDev *f = opaque;
    static const uint8_t garbage[64] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    };

    /* as a terminal: wait for QEMU to connect */
    while (f->fd < 0 && !qatomic_read(&f->quit)) {
        struct pollfd lfd = { .fd = f->listen_fd, .events = POLLIN };

        if (poll(&lfd, 1, 20) > 0) {
            f->fd = accept(f->listen_fd, NULL, NULL);
            g_assert_cmpint(f->fd, >=, 0);
        }
    }
    while (!qatomic_read(&f->quit) && !qatomic_read(&f->eof)) {
        struct pollfd pfd = { .fd = f->fd, .events = POLLIN };

        if (qatomic_xchg(&f->hangup, 0)) {
            shutdown(f->fd, SHUT_RDWR);
        }
        if (qatomic_xchg(&f->send_garbage, 0)) {
            g_assert_cmpint(send(f->fd, garbage, sizeof(garbage),
                                 MSG_NOSIGNAL), ==, sizeof(garbage));
        }
        if (poll(&pfd, 1, 20) > 0) {
            usbredirparser_do_read(f->parser);
        }
        while (usbredirparser_has_data_to_write(f->parser)) {
            if (usbredirparser_do_write(f->parser) < 0) {
                break;
            }
        }
    }
    return NULL;
}

static void fake_start(FakeDev *f, FakeKind kind, FakeMisbehave misbehave)
{
    uint32_t caps[USB_REDIR_CAPS_SIZE] = { 0 };
    struct usbredirparser *p;

    f->kind = kind;
    f->misbehave = misbehave;
    p = f->parser = usbredirparser_create();
    p->priv = f;
    p->log_func = fake_log;
    p->read_func = fake_read;
    p->write_func = fake_write;
    p->hello_func = fake_hello;
    p->control_packet_func = fake_control;
    p->bulk_packet_func = fake_bulk;
    p->set_configuration_func = fake_set_config;
    p->get_configuration_func = fake_get_config;
    p->set_alt_setting_func = fake_set_alt;
    p->get_alt_setting_func = fake_get_alt;
    p->filter_reject_func = fake_filter_reject;
    p->filter_filter_func = fake_ignore_filter;
    p->reset_func = fake_ignore;
    p->device_disconnect_ack_func = fake_ignore;
    p->cancel_data_packet_func = fake_ignore_id;
    p->start_iso_stream_func = (void *)fake_ignore_hdr;
    p->stop_iso_stream_func = (void *)fake_ignore_hdr;
    p->start_interrupt_receiving_func = (void *)fake_ignore_hdr;
    p->stop_interrupt_receiving_func = (void *)fake_ignore_hdr;
    p->alloc_bulk_streams_func = (void *)fake_ignore_hdr;
    p->free_bulk_streams_func = (void *)fake_ignore_hdr;
    p->start_bulk_receiving_func = (void *)fake_ignore_hdr;
    p->stop_bulk_receiving_func = (void *)fake_ignore_hdr;
    p->iso_packet_func = (void *)fake_ignore_data;
    p->interrupt_packet_func = (void *)fake_ignore_data;

    usbredirparser_caps_set_cap(caps, usb_redir_cap_connect_device_version);
    usbredirparser_caps_set_cap(caps, usb_redir_cap_filter);
    usbredirparser_caps_set_cap(caps, usb_redir_cap_ep_info_max_packet_size);
    usbredirparser_caps_set_cap(caps, usb_redir_cap_64bits_ids);
    usbredirparser_caps_set_cap(caps, usb_redir_cap_32bits_bulk_length);
    usbredirparser_init(p, "usb-policy-test fake device", caps,
                        USB_REDIR_CAPS_SIZE, usbredirparser_fl_usb_host);
    f->thread = g_thread_new("fake-usbredir", fake_thread, f);
}

/* A device on one end of a socketpair; QEMU gets the other, *qemu_fd */
static FakeDev *fake_new(FakeKind kind, FakeMisbehave misbehave, int *qemu_fd)
{
    FakeDev *f = g_new0(FakeDev, 1);
    int sv[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    /* QEMU must not inherit our end, or it would never see us hang up */
    qemu_set_cloexec(sv[0]);
    f->fd = sv[0];
    f->listen_fd = -1;
    *qemu_fd = sv[1];
    fake_start(f, kind, misbehave);
    return f;
}

/*
 * A terminal's usbredir server offering one device: it listens on TCP
 * (127.0.0.1, a free port) or, if unix_sock, on a unix socket, and
 * serves the first connection.  *addr is the QMP SocketAddress of it.
 */
static FakeDev *fake_new_listen(FakeKind kind, bool unix_sock, char **addr)
{
    FakeDev *f = g_new0(FakeDev, 1);

    f->fd = -1;
    if (unix_sock) {
        struct sockaddr_un un = { .sun_family = AF_UNIX };
        g_autofree char *dir = g_dir_make_tmp("usb-policy-XXXXXX", NULL);

        g_assert(dir);
        f->unix_path = g_build_filename(dir, "term.sock", NULL);
        g_assert_cmpint(strlen(f->unix_path), <, sizeof(un.sun_path));
        strcpy(un.sun_path, f->unix_path);
        f->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
        g_assert_cmpint(bind(f->listen_fd, (struct sockaddr *)&un,
                             sizeof(un)), ==, 0);
        *addr = g_strdup_printf("{ 'type': 'unix', 'path': '%s' }",
                                f->unix_path);
    } else {
        struct sockaddr_in in = {
            .sin_family = AF_INET,
            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
        };
        socklen_t len = sizeof(in);

        f->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
        g_assert_cmpint(bind(f->listen_fd, (struct sockaddr *)&in,
                             sizeof(in)), ==, 0);
        g_assert_cmpint(getsockname(f->listen_fd, (struct sockaddr *)&in,
                                    &len), ==, 0);
        *addr = g_strdup_printf("{ 'type': 'inet', 'host': '127.0.0.1', "
                                "  'port': '%d' }", ntohs(in.sin_port));
    }
    qemu_set_cloexec(f->listen_fd);
    g_assert_cmpint(listen(f->listen_fd, 1), ==, 0);
    fake_start(f, kind, FAKE_BEHAVE);
    return f;
}

static void fake_free(FakeDev *f)
{
    qatomic_set(&f->quit, 1);
    g_thread_join(f->thread);
    usbredirparser_destroy(f->parser);
    if (f->fd >= 0) {
        close(f->fd);
    }
    if (f->listen_fd >= 0) {
        close(f->listen_fd);
    }
    if (f->unix_path) {
        g_autofree char *dir = g_path_get_dirname(f->unix_path);

        unlink(f->unix_path);
        rmdir(dir);
        g_free(f->unix_path);
    }
    g_free(f);
}

/* QEMU with one usb-redir device "redir0" on chardev "usbredir0" */
static QTestState *start(FakeKind kind, FakeMisbehave misbehave,
                         FakeDev **fake)
{
    QTestState *qts;
    int fd;

    *fake = fake_new(kind, misbehave, &fd);
    /* stopped until QMP is up, so that no event is lost */
    qts = qtest_initf("-machine pc -device qemu-xhci,id=xhci "
                      "-chardev socket,id=usbredir0,fd=%d "
                      "-device usb-redir,chardev=usbredir0,id=redir0 -S", fd);
    close(fd);
    qtest_qmp_assert_success(qts, "{ 'execute': 'cont' }");
    return qts;
}

static void finish(QTestState *qts, FakeDev *fake)
{
    qtest_quit(qts);
    fake_free(fake);
}

/* Set the policy from JSON rules; returns the error description or NULL */
static char *set_policy(QTestState *qts, const char *rules, const char *dflt)
{
    g_autofree char *json = g_strdup_printf("{ 'rules': %s, 'default': '%s' }",
                                            rules, dflt);
    QObject *args = qobject_from_json(json, &error_abort);
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'usb-policy-set', "
                            "  'arguments': %p }", args);
    char *err = NULL;

    if (qdict_haskey(resp, "error")) {
        QDict *e = qdict_get_qdict(resp, "error");

        g_assert_cmpstr(qdict_get_str(e, "class"), ==, "GenericError");
        err = g_strdup(qdict_get_str(e, "desc"));
    } else {
        g_assert(qdict_haskey(resp, "return"));
    }
    qobject_unref(resp);
    return err;
}

static void set_policy_ok(QTestState *qts, const char *rules,
                          const char *dflt)
{
    g_autofree char *err = set_policy(qts, rules, dflt);

    g_assert_null(err);
}

/* The query-usb-peripherals entry of redir0 (caller unrefs the response) */
static QDict *query_peripheral(QTestState *qts, QDict **resp)
{
    QList *list;
    QDict *info;

    *resp = qtest_qmp(qts, "{ 'execute': 'query-usb-peripherals' }");
    list = qdict_get_qlist(*resp, "return");
    g_assert(list);
    g_assert_cmpint(qlist_size(list), ==, 1);
    info = qobject_to(QDict, qlist_peek(list));
    g_assert_cmpstr(qdict_get_str(info, "id"), ==, "redir0");
    g_assert_cmpstr(qdict_get_str(info, "chardev"), ==, "usbredir0");
    return info;
}

static char *peripheral_state(QTestState *qts)
{
    QDict *resp, *info = query_peripheral(qts, &resp);
    char *state = g_strdup(qdict_get_str(info, "state"));

    qobject_unref(resp);
    return state;
}

static void wait_state(QTestState *qts, const char *state)
{
    int i;

    for (i = 0; i < 500; i++) {
        g_autofree char *s = peripheral_state(qts);

        if (!strcmp(s, state)) {
            return;
        }
        g_usleep(10 * 1000);
    }
    g_assert_not_reached();
}

static QDict *wait_event_of(QTestState *qts, const char *name,
                            const char *id)
{
    QDict *ev = qtest_qmp_eventwait_ref(qts, name);
    QDict *data = qdict_get_qdict(ev, "data");

    qobject_ref(data);
    qobject_unref(ev);
    g_assert_cmpstr(qdict_get_str(data, "id"), ==, id);
    return data;
}

static QDict *wait_event(QTestState *qts, const char *name)
{
    return wait_event_of(qts, name, "redir0");
}

static QDict *wait_attached_of(QTestState *qts, const char *id,
                               const char *verdict, const char *rule)
{
    QDict *data = wait_event_of(qts, "USB_PERIPHERAL_ATTACHED", id);

    g_assert_cmpstr(qdict_get_str(data, "verdict"), ==, verdict);
    g_assert_cmpstr(qdict_get_str(data, "rule"), ==, rule);
    return data;
}

static QDict *wait_attached(QTestState *qts, const char *verdict,
                            const char *rule)
{
    QDict *data = wait_event(qts, "USB_PERIPHERAL_ATTACHED");

    g_assert_cmpstr(qdict_get_str(data, "verdict"), ==, verdict);
    g_assert_cmpstr(qdict_get_str(data, "rule"), ==, rule);
    return data;
}

static void assert_rejected(QTestState *qts, const char *rule,
                            const char *reason_part)
{
    QDict *data = wait_event(qts, "USB_PERIPHERAL_REJECTED");

    g_assert_cmpstr(qdict_get_str(data, "rule"), ==, rule);
    g_assert_nonnull(strstr(qdict_get_str(data, "reason"), reason_part));
    qobject_unref(data);
}

static QDict *iface_of(QDict *info, int n)
{
    QList *ifaces = qdict_get_qlist(info, "interfaces");
    QListEntry *e;

    QLIST_FOREACH_ENTRY(ifaces, e) {
        QDict *i = qobject_to(QDict, qlist_entry_obj(e));

        if (qdict_get_int(i, "number") == n) {
            return i;
        }
    }
    g_assert_not_reached();
}

/* Tests */

static void test_default_allows(void)
{
    FakeDev *fake;
    QTestState *qts = start(FAKE_KEYBOARD, FAKE_BEHAVE, &fake);
    QDict *resp, *info, *ev, *i0;

    ev = wait_attached(qts, "allow", "default");
    g_assert_cmpint(qdict_get_int(ev, "vendor-id"), ==, 0x046d);
    g_assert_cmpint(qdict_get_int(ev, "product-id"), ==, 0xc31c);
    qobject_unref(ev);

    info = query_peripheral(qts, &resp);
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "attached");
    g_assert_cmpstr(qdict_get_str(info, "kind"), ==, "redir");
    g_assert_false(qdict_haskey(info, "terminal"));
    g_assert_false(qdict_haskey(info, "policy"));
    g_assert_cmpint(qdict_get_int(info, "vendor-id"), ==, 0x046d);
    g_assert_cmpint(qdict_get_int(info, "product-id"), ==, 0xc31c);
    g_assert_cmpstr(qdict_get_str(info, "speed"), ==, "full");
    g_assert_cmpint(qdict_get_int(info, "dev-class"), ==, 0);
    g_assert_cmpstr(qdict_get_str(info, "verdict"), ==, "allow");
    g_assert_cmpstr(qdict_get_str(info, "rule"), ==, "default");
    g_assert_nonnull(strstr(qdict_get_str(info, "reason"),
                            "allowed by the default policy"));
    g_assert(qdict_haskey(info, "port"));
    g_assert(qdict_haskey(info, "bytes-in"));
    g_assert(qdict_haskey(info, "bytes-out"));
    i0 = iface_of(info, 0);
    g_assert_cmpint(qdict_get_int(i0, "iface-class"), ==, 3);
    g_assert_cmpint(qdict_get_int(i0, "iface-subclass"), ==, 1);
    g_assert_cmpint(qdict_get_int(i0, "iface-protocol"), ==, 1);
    g_assert_cmpstr(qdict_get_str(i0, "decision"), ==, "allowed");
    g_assert_false(qdict_haskey(i0, "bot-filter"));
    qobject_unref(resp);

    resp = qtest_qmp(qts, "{ 'execute': 'query-usb-policy' }");
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(resp, "return"),
                                  "default"), ==, "allow");
    qobject_unref(resp);
    finish(qts, fake);
}

static void test_deny(void)
{
    FakeDev *fake;
    QTestState *qts;
    QDict *resp, *info;
    int fd;

    /* The policy must be there before the device: start without it */
    fake = fake_new(FAKE_STORAGE, FAKE_BEHAVE, &fd);
    qts = qtest_initf("-machine pc -device qemu-xhci,id=xhci "
                      "-chardev socket,id=usbredir0,fd=%d -S", fd);
    close(fd);
    set_policy_ok(qts, "[ { 'id': 'hid', 'action': 'allow', "
                  "     'iface-class': 3 }, "
                  "  { 'id': 'no-storage', 'action': 'deny', "
                  "    'iface-class': 8 } ]", "allow");
    qtest_qmp_assert_success(qts, "{ 'execute': 'device_add', 'arguments': "
                             "{ 'driver': 'usb-redir', "
                             "  'chardev': 'usbredir0', 'id': 'redir0' } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'cont' }");

    assert_rejected(qts, "no-storage", "denied by rule 'no-storage'");
    info = query_peripheral(qts, &resp);
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "rejected");
    g_assert_cmpstr(qdict_get_str(info, "verdict"), ==, "deny");
    g_assert_cmpstr(qdict_get_str(info, "rule"), ==, "no-storage");
    g_assert_cmpint(qdict_get_int(info, "vendor-id"), ==, 0x0781);
    g_assert_false(qdict_haskey(info, "port"));
    qobject_unref(resp);
    /* the remote end was told */
    while (!qatomic_read(&fake->rejected)) {
        g_usleep(10 * 1000);
    }
    finish(qts, fake);
}

static void test_read_only(void)
{
    FakeDev *fake;
    QTestState *qts;
    QDict *resp, *info, *i0, *bot;
    int fd;

    fake = fake_new(FAKE_STORAGE, FAKE_BEHAVE, &fd);
    qts = qtest_initf("-machine pc -device qemu-xhci,id=xhci "
                      "-chardev socket,id=usbredir0,fd=%d -S", fd);
    close(fd);
    set_policy_ok(qts, "[ { 'id': 'sticks', 'action': 'read-only', "
                  "    'iface-class': 8, 'serial': 'STORAGE-*' } ]", "deny");
    qtest_qmp_assert_success(qts, "{ 'execute': 'device_add', 'arguments': "
                             "{ 'driver': 'usb-redir', "
                             "  'chardev': 'usbredir0', 'id': 'redir0' } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'cont' }");

    qobject_unref(wait_attached(qts, "read-only", "sticks"));
    info = query_peripheral(qts, &resp);
    g_assert_cmpstr(qdict_get_str(info, "verdict"), ==, "read-only");
    g_assert_cmpstr(qdict_get_str(info, "speed"), ==, "high");
    i0 = iface_of(info, 0);
    g_assert_cmpstr(qdict_get_str(i0, "decision"), ==, "read-only");
    g_assert_cmpint(qdict_get_int(i0, "iface-protocol"), ==, 0x50);
    bot = qdict_get_qdict(i0, "bot-filter");
    g_assert(bot);
    g_assert_cmpint(qdict_get_int(bot, "commands"), ==, 0);
    g_assert_cmpint(qdict_get_int(bot, "blocked"), ==, 0);
    qobject_unref(resp);
    finish(qts, fake);
}

static void test_printer_by_vendor(void)
{
    FakeDev *fake;
    QTestState *qts;
    int fd;

    fake = fake_new(FAKE_PRINTER, FAKE_BEHAVE, &fd);
    qts = qtest_initf("-machine pc -device qemu-xhci,id=xhci "
                      "-chardev socket,id=usbredir0,fd=%d -S", fd);
    close(fd);
    set_policy_ok(qts, "[ { 'id': 'old-epson', 'action': 'deny', "
                  "    'vendor-id': 1208, 'product-id': 5, "
                  "    'bcd-min': 0, 'bcd-max': 512 }, "
                  "  { 'id': 'printers', 'action': 'allow', "
                  "    'iface-class': 7 } ]", "deny");
    qtest_qmp_assert_success(qts, "{ 'execute': 'device_add', 'arguments': "
                             "{ 'driver': 'usb-redir', "
                             "  'chardev': 'usbredir0', 'id': 'redir0' } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'cont' }");
    assert_rejected(qts, "old-epson", "class 07:01:02");
    finish(qts, fake);
}

static void test_composite_hide(void)
{
    FakeDev *fake;
    QTestState *qts;
    QDict *resp, *info;
    int fd;

    fake = fake_new(FAKE_COMPOSITE, FAKE_BEHAVE, &fd);
    qts = qtest_initf("-machine pc -device qemu-xhci,id=xhci "
                      "-chardev socket,id=usbredir0,fd=%d -S", fd);
    close(fd);
    set_policy_ok(qts, "[ { 'id': 'no-keyboards', 'action': 'deny', "
                  "    'hide': true, 'iface-class': 3 } ]", "allow");
    qtest_qmp_assert_success(qts, "{ 'execute': 'device_add', 'arguments': "
                             "{ 'driver': 'usb-redir', "
                             "  'chardev': 'usbredir0', 'id': 'redir0' } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'cont' }");

    /* the storage function goes through, the keyboard is hidden */
    qobject_unref(wait_attached(qts, "allow", "default"));
    info = query_peripheral(qts, &resp);
    g_assert_cmpstr(qdict_get_str(iface_of(info, 0), "decision"), ==,
                    "allowed");
    g_assert_cmpstr(qdict_get_str(iface_of(info, 1), "decision"), ==,
                    "hidden");
    g_assert_nonnull(strstr(qdict_get_str(info, "reason"),
                            "hidden by rule 'no-keyboards'"));
    qobject_unref(resp);

    /* without hide, the keyboard function denies the whole device */
    set_policy_ok(qts, "[ { 'id': 'no-keyboards', 'action': 'deny', "
                  "    'iface-class': 3 } ]", "allow");
    assert_rejected(qts, "no-keyboards", "interface 1 (class 03:01:01)");
    qobject_unref(wait_event(qts, "USB_PERIPHERAL_DETACHED"));
    wait_state(qts, "rejected");
    finish(qts, fake);
}

static void test_reevaluate(void)
{
    FakeDev *fake;
    QTestState *qts = start(FAKE_STORAGE, FAKE_BEHAVE, &fake);
    QDict *resp, *info;

    qobject_unref(wait_attached(qts, "allow", "default"));

    /* allow -> read-only: the guest sees the device plugged again */
    set_policy_ok(qts, "[ { 'id': 'ro', 'action': 'read-only', "
                  "    'iface-class': 8 } ]", "allow");
    qobject_unref(wait_event(qts, "USB_PERIPHERAL_DETACHED"));
    qtest_clock_step(qts, 1000 * 1000 * 1000);
    qobject_unref(wait_attached(qts, "read-only", "ro"));
    info = query_peripheral(qts, &resp);
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "attached");
    g_assert_cmpstr(qdict_get_str(iface_of(info, 0), "decision"), ==,
                    "read-only");
    qobject_unref(resp);

    /* same verdict, another rule: nothing happens but the rule name */
    set_policy_ok(qts, "[ { 'id': 'ro2', 'action': 'read-only', "
                  "    'vendor-id': 1921 } ]", "allow");
    info = query_peripheral(qts, &resp);
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "attached");
    g_assert_cmpstr(qdict_get_str(info, "rule"), ==, "ro2");
    qobject_unref(resp);

    /* now denied: rejected and detached */
    set_policy_ok(qts, "[]", "deny");
    assert_rejected(qts, "default", "denied by the default policy");
    qobject_unref(wait_event(qts, "USB_PERIPHERAL_DETACHED"));
    info = query_peripheral(qts, &resp);
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "rejected");
    g_assert_cmpstr(qdict_get_str(info, "verdict"), ==, "deny");
    g_assert_false(qdict_haskey(info, "port"));
    qobject_unref(resp);
    while (!qatomic_read(&fake->rejected)) {
        g_usleep(10 * 1000);
    }
    finish(qts, fake);
}

static void test_set_errors(void)
{
    QTestState *qts = qtest_init("-machine none");
    QDict *resp, *ret;
    QList *rules;
    char *err;

    set_policy_ok(qts, "[ { 'id': 'keep', 'action': 'allow', "
                  "    'iface-class': 3, 'bcd-min': 256, 'bcd-max': 512 } ]",
                  "deny");

    err = set_policy(qts, "[ { 'id': 'r', 'action': 'deny', "
                     "    'bcd-min': 512, 'bcd-max': 256 } ]", "allow");
    g_assert_nonnull(strstr(err, "reversed bcd range"));
    g_free(err);
    err = set_policy(qts, "[ { 'id': 'h', 'action': 'allow', "
                     "    'hide': true } ]", "allow");
    g_assert_nonnull(strstr(err, "'hide' only applies to deny rules"));
    g_free(err);
    err = set_policy(qts, "[ { 'id': 'a', 'action': 'allow' }, "
                     "  { 'id': 'a', 'action': 'deny' } ]", "allow");
    g_assert_nonnull(strstr(err, "duplicate rule id 'a'"));
    g_free(err);
    err = set_policy(qts, "[ { 'id': '', 'action': 'allow' } ]", "allow");
    g_assert_nonnull(strstr(err, "must not be empty"));
    g_free(err);
    err = set_policy(qts, "[ { 'id': 'bad id!', 'action': 'allow' } ]",
                     "allow");
    g_assert_nonnull(strstr(err, "bad character in rule id"));
    g_free(err);
    err = set_policy(qts, "[ { 'id': 's', 'action': 'allow', "
                     "    'serial': '' } ]", "allow");
    g_assert_nonnull(strstr(err, "empty serial"));
    g_free(err);

    /* out of range values are refused by the QAPI types */
    resp = qtest_qmp(qts, "{ 'execute': 'usb-policy-set', 'arguments': "
                     "{ 'rules': [ { 'id': 'c', 'action': 'allow', "
                     "  'iface-class': 256 } ], 'default': 'allow' } }");
    g_assert(qdict_haskey(resp, "error"));
    qobject_unref(resp);
    resp = qtest_qmp(qts, "{ 'execute': 'usb-policy-set', 'arguments': "
                     "{ 'rules': [], 'default': 'maybe' } }");
    g_assert(qdict_haskey(resp, "error"));
    qobject_unref(resp);

    /* errors leave the policy as it was */
    resp = qtest_qmp(qts, "{ 'execute': 'query-usb-policy' }");
    ret = qdict_get_qdict(resp, "return");
    g_assert_cmpstr(qdict_get_str(ret, "default"), ==, "deny");
    rules = qdict_get_qlist(ret, "rules");
    g_assert_cmpint(qlist_size(rules), ==, 1);
    g_assert_cmpstr(qdict_get_str(qobject_to(QDict, qlist_peek(rules)),
                                  "id"), ==, "keep");
    g_assert_cmpint(qdict_get_int(qobject_to(QDict, qlist_peek(rules)),
                                  "bcd-max"), ==, 512);
    qobject_unref(resp);

    /* no usb-redir device: an empty list */
    resp = qtest_qmp(qts, "{ 'execute': 'query-usb-peripherals' }");
    g_assert_cmpint(qlist_size(qdict_get_qlist(resp, "return")), ==, 0);
    qobject_unref(resp);
    qtest_quit(qts);
}

static void test_bad_descriptor(void)
{
    FakeDev *fake;
    QTestState *qts = start(FAKE_BAD_CONFIG, FAKE_BEHAVE, &fake);
    QDict *resp, *info;

    assert_rejected(qts, "", "configuration descriptor: wTotalLength 200");
    info = query_peripheral(qts, &resp);
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "rejected");
    g_assert_cmpstr(qdict_get_str(info, "verdict"), ==, "deny");
    qobject_unref(resp);
    finish(qts, fake);
}

static void test_garbage(void)
{
    FakeDev *fake;
    QTestState *qts = start(FAKE_KEYBOARD, FAKE_BEHAVE, &fake);
    QDict *resp, *info;

    qobject_unref(wait_attached(qts, "allow", "default"));
    qatomic_set(&fake->send_garbage, 1);
    qobject_unref(wait_event(qts, "USB_PERIPHERAL_DETACHED"));
    wait_state(qts, "disconnected");
    info = query_peripheral(qts, &resp);
    g_assert_false(qdict_haskey(info, "vendor-id"));
    g_assert_false(qdict_haskey(info, "port"));
    qobject_unref(resp);
    /* QEMU hung up on the peer and goes on running */
    while (!qatomic_read(&fake->eof)) {
        g_usleep(10 * 1000);
    }
    qtest_qmp_assert_success(qts, "{ 'execute': 'query-status' }");
    finish(qts, fake);
}

static void test_hangup_mid_transfer(void)
{
    FakeDev *fake;
    QTestState *qts = start(FAKE_STORAGE, FAKE_HANGUP_ON_CONFIG, &fake);

    /* the peer goes away while QEMU waits for the configuration */
    while (!qatomic_read(&fake->eof)) {
        g_usleep(10 * 1000);
    }
    wait_state(qts, "disconnected");
    qtest_qmp_assert_success(qts, "{ 'execute': 'query-status' }");
    finish(qts, fake);
}

/*
 * The guest's side: control transfers to the device at address 0 of the
 * first port of a piix3-usb-uhci at 00:05.0, with a frame list, a queue
 * head of three TDs and their buffers at fixed addresses in guest RAM.
 */
#define UHCI_FRAMES     0x100000
#define UHCI_TDS        0x101000
#define UHCI_QH         0x101800
#define UHCI_SETUP      0x102000
#define UHCI_DATA       0x103000
#define TD_ACTIVE       (1u << 23)
#define TD_STALLED      (1u << 22)

typedef struct Uhci {
    QPCIBus *bus;
    QPCIDevice *dev;
    QPCIBar bar;
} Uhci;

static void uhci_td(QTestState *qts, int n, bool last, uint8_t pid, int ep,
                    int toggle, int len, uint32_t buf)
{
    uint32_t td = UHCI_TDS + 16 * n;

    qtest_writel(qts, td, last ? 1 : (td + 16) | 4);
    qtest_writel(qts, td + 4, TD_ACTIVE | 3u << 27);
    qtest_writel(qts, td + 8, ((len ? len - 1 : 0x7ff) << 21) |
                 toggle << 19 | ep << 15 | pid);
    qtest_writel(qts, td + 12, buf);
}

static void uhci_start(QTestState *qts, Uhci *u)
{
    int i;

    u->bus = qpci_new_pc(qts, NULL);
    u->dev = qpci_device_find(u->bus, QPCI_DEVFN(5, 0));
    g_assert(u->dev);
    qpci_device_enable(u->dev);
    u->bar = qpci_iomap(u->dev, 4, NULL);
    for (i = 0; i < 1024; i++) {
        qtest_writel(qts, UHCI_FRAMES + 4 * i, 1);
    }
    qpci_io_writel(u->dev, u->bar, 0x08, UHCI_FRAMES);
    /* reset and enable port 1: the device is then at address 0 */
    qpci_io_writew(u->dev, u->bar, 0x10, 0x200);
    qpci_io_writew(u->dev, u->bar, 0x10, 0);
    qpci_io_writew(u->dev, u->bar, 0x10, 0x4);
    qpci_io_writew(u->dev, u->bar, 0x00, 0x81);    /* run, 64-byte packets */
}

static void uhci_stop(Uhci *u)
{
    g_free(u->dev);
    qpci_free_pc(u->bus);
}

/*
 * Run the queue of the first @n TDs until the last one is done or one
 * stalls; returns true if one stalled
 */
static bool uhci_run(QTestState *qts, int n)
{
    bool stalled = false;
    int i, t;

    qtest_writel(qts, UHCI_QH, 1);
    qtest_writel(qts, UHCI_QH + 4, UHCI_TDS);
    for (i = 0; i < 1024; i++) {
        qtest_writel(qts, UHCI_FRAMES + 4 * i, UHCI_QH | 2);
    }
    /* frames run on the virtual clock; the peer answers in real time */
    for (i = 0; i < 500; i++) {
        qtest_clock_step(qts, 1000 * 1000);
        for (t = 0; t < n; t++) {
            stalled |= qtest_readl(qts, UHCI_TDS + 16 * t + 4) & TD_STALLED;
        }
        if (stalled ||
            !(qtest_readl(qts, UHCI_TDS + 16 * (n - 1) + 4) & TD_ACTIVE)) {
            break;
        }
        g_usleep(2000);
    }
    g_assert_cmpint(i, <, 500);
    for (i = 0; i < 1024; i++) {
        qtest_writel(qts, UHCI_FRAMES + 4 * i, 1);
    }
    return stalled;
}

/* The length a completed TD transferred */
static int uhci_td_len(QTestState *qts, int n)
{
    return ((qtest_readl(qts, UHCI_TDS + 16 * n + 4) & 0x7ff) + 1) & 0x7ff;
}

/*
 * One control IN transfer; returns the length received into data, or -1
 * if the device stalled.
 */
static int uhci_control_in(QTestState *qts, Uhci *u, uint8_t type,
                           uint16_t value, uint16_t index, uint16_t length,
                           uint8_t *data)
{
    uint8_t setup[8] = {
        type, 6, value & 0xff, value >> 8, index & 0xff, index >> 8,
        length & 0xff, length >> 8,
    };

    if (type != 0x80 && type != 0x81 && type != 0xa0) {
        setup[1] = 0xfe;    /* a class request other than GET_DESCRIPTOR */
    }
    qtest_memwrite(qts, UHCI_SETUP, setup, sizeof(setup));
    uhci_td(qts, 0, false, 0x2d, 0, 0, 8, UHCI_SETUP);
    uhci_td(qts, 1, false, 0x69, 0, 1, length, UHCI_DATA);
    uhci_td(qts, 2, true, 0xe1, 0, 1, 0, 0);
    if (uhci_run(qts, 3)) {
        return -1;
    }
    qtest_memread(qts, UHCI_DATA, data, length);
    return uhci_td_len(qts, 1);
}

/*
 * One bulk transfer of at most 64 bytes on endpoint @ep (IN if @in) with
 * data toggle @toggle, from or to UHCI_DATA; returns the length
 * transferred, or -1 if the device stalled.
 */
static int uhci_bulk(QTestState *qts, bool in, int ep, int toggle,
                     uint8_t *data, int length)
{
    if (!in) {
        qtest_memwrite(qts, UHCI_DATA, data, length);
    }
    uhci_td(qts, 0, true, in ? 0x69 : 0xe1, ep, toggle, length, UHCI_DATA);
    if (uhci_run(qts, 1)) {
        return -1;
    }
    if (in) {
        qtest_memread(qts, UHCI_DATA, data, length);
    }
    return uhci_td_len(qts, 0);
}

/* redir0 on a UHCI controller, evaluated under the storage-only policy */
static QTestState *start_sticks_only(FakeMisbehave misbehave, FakeDev **fake)
{
    QTestState *qts;
    int fd;

    *fake = fake_new(FAKE_STORAGE, misbehave, &fd);
    qts = qtest_initf("-machine pc -device piix3-usb-uhci,id=uhci,addr=05.0 "
                      "-chardev socket,id=usbredir0,fd=%d -S", fd);
    close(fd);
    set_policy_ok(qts, "[ { 'id': 'sticks', 'action': 'read-only', "
                  "    'iface-class': 8 } ]", "deny");
    qtest_qmp_assert_success(qts, "{ 'execute': 'device_add', 'arguments': "
                             "{ 'driver': 'usb-redir', 'bus': 'uhci.0', "
                             "  'chardev': 'usbredir0', 'id': 'redir0' } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'cont' }");
    return qts;
}

/*
 * The BadUSB attack: the peer shows QEMU a storage stick and the guest a
 * HID boot keyboard on the same endpoint.  Under a storage-only policy
 * the device is attached read-only, and the guest sees only the stick the
 * policy evaluated: the guard answers every GET_DESCRIPTOR itself.
 */
static void test_badusb_descriptors(void)
{
    FakeDev *fake;
    QTestState *qts = start_sticks_only(FAKE_BADUSB, &fake);
    QDict *resp, *info;
    uint8_t d[256];
    Uhci u;

    qobject_unref(wait_attached(qts, "read-only", "sticks"));
    uhci_start(qts, &u);

    g_assert_cmpint(uhci_control_in(qts, &u, 0x80, 0x0100, 0, 18, d), ==,
                    18);
    g_assert_cmpint(d[8] | d[9] << 8, ==, 0x0781);
    g_assert_cmpint(d[10] | d[11] << 8, ==, 0x5567);
    g_assert_cmpint(uhci_control_in(qts, &u, 0x80, 0x0200, 0, 255, d), ==,
                    sizeof(fake_stick_config));
    g_assert_cmpmem(d, sizeof(fake_stick_config), fake_stick_config,
                    sizeof(fake_stick_config));
    g_assert_cmpint(d[9 + 5], ==, 8);   /* mass storage, not HID */
    /* a HID report descriptor was never evaluated: not served */
    g_assert_cmpint(uhci_control_in(qts, &u, 0x81, 0x2200, 0, 63, d), ==,
                    -1);
    /* the serial number, as evaluated */
    g_assert_cmpint(uhci_control_in(qts, &u, 0x80, 0x0303, 0x0409, 255, d),
                    ==, 2 + 2 * strlen(FAKE_STICK_SERIAL));
    /* none of them went to the device */
    g_assert_cmpint(qatomic_read(&fake->guest_get_descs), ==, 0);

    /* other requests do reach it, and are counted */
    g_assert_cmpint(uhci_control_in(qts, &u, 0xa1, 0, 0, 1, d), ==, 1);
    info = query_peripheral(qts, &resp);
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "attached");
    g_assert_cmpint(qdict_get_int(info, "blocked"), ==, 1);
    g_assert_cmpint(qdict_get_int(info, "bytes-in"), ==, 1);
    qobject_unref(resp);
    uhci_stop(&u);
    finish(qts, fake);
}

/* The peer announces interfaces its descriptors do not have: refused */
static void test_lies_iface(void)
{
    FakeDev *fake;
    QTestState *qts = start_sticks_only(FAKE_LIES_IFACE, &fake);
    QDict *resp, *info;

    assert_rejected(qts, "", "the device announces: interface 0 is class "
                    "03:01:01, which its descriptors do not list");
    while (!qatomic_read(&fake->rejected)) {
        g_usleep(10 * 1000);
    }
    info = query_peripheral(qts, &resp);
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "rejected");
    g_assert_false(qdict_haskey(info, "port"));
    qobject_unref(resp);
    finish(qts, fake);
}

/* usb-peripheral-attach and usb-peripheral-detach */

/* usb-peripheral-attach; returns the response (caller unrefs) */
static QDict *attach(QTestState *qts, const char *id, const char *addr,
                     const char *extra)
{
    g_autofree char *json =
        g_strdup_printf("{ 'id': '%s', 'addr': %s %s }", id, addr,
                        extra ? extra : "");
    QObject *args = qobject_from_json(json, &error_abort);

    return qtest_qmp(qts, "{ 'execute': 'usb-peripheral-attach', "
                     "  'arguments': %p }", args);
}

/* usb-peripheral-attach that must fail; returns the error description */
static char *attach_err(QTestState *qts, const char *id, const char *addr,
                        const char *extra)
{
    QDict *resp = attach(qts, id, addr, extra);
    QDict *e = qdict_get_qdict(resp, "error");
    char *err;

    g_assert(e);
    err = g_strdup(qdict_get_str(e, "desc"));
    qobject_unref(resp);
    return err;
}

static void detach_ok(QTestState *qts, const char *id)
{
    qtest_qmp_assert_success(qts, "{ 'execute': 'usb-peripheral-detach', "
                             "  'arguments': { 'id': %s } }", id);
}

static char *detach_err(QTestState *qts, const char *id)
{
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'usb-peripheral-detach', "
                            "  'arguments': { 'id': %s } }", id);
    QDict *e = qdict_get_qdict(resp, "error");
    char *err;

    g_assert(e);
    err = g_strdup(qdict_get_str(e, "desc"));
    qobject_unref(resp);
    return err;
}

/* The query-usb-peripherals entry with this id, or NULL */
static QDict *find_peripheral(QTestState *qts, const char *id, QDict **resp)
{
    QListEntry *e;

    *resp = qtest_qmp(qts, "{ 'execute': 'query-usb-peripherals' }");
    QLIST_FOREACH_ENTRY(qdict_get_qlist(*resp, "return"), e) {
        QDict *info = qobject_to(QDict, qlist_entry_obj(e));

        if (!strcmp(qdict_get_str(info, "id"), id)) {
            return info;
        }
    }
    return NULL;
}

static int n_peripherals(QTestState *qts)
{
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'query-usb-peripherals' }");
    int n = qlist_size(qdict_get_qlist(resp, "return"));

    qobject_unref(resp);
    return n;
}

static char *peripheral_state_of(QTestState *qts, const char *id)
{
    QDict *resp, *info = find_peripheral(qts, id, &resp);
    char *state = info ? g_strdup(qdict_get_str(info, "state")) : NULL;

    qobject_unref(resp);
    return state;
}

static void wait_state_of(QTestState *qts, const char *id, const char *state)
{
    int i;

    for (i = 0; i < 500; i++) {
        g_autofree char *s = peripheral_state_of(qts, id);

        if (s && !strcmp(s, state)) {
            return;
        }
        g_usleep(10 * 1000);
    }
    g_assert_not_reached();
}

static bool has_chardev(QTestState *qts, const char *label)
{
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'query-chardev' }");
    QListEntry *e;
    bool found = false;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(resp, "return"), e) {
        QDict *c = qobject_to(QDict, qlist_entry_obj(e));

        found |= !strcmp(qdict_get_str(c, "label"), label);
    }
    qobject_unref(resp);
    return found;
}

static bool has_device(QTestState *qts, const char *id)
{
    g_autofree char *path = g_strdup_printf("/machine/peripheral/%s", id);
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'qom-list', "
                            "  'arguments': { 'path': %s } }", path);
    bool found = qdict_haskey(resp, "return");

    qobject_unref(resp);
    return found;
}

static void test_attach_tcp(void)
{
    QTestState *qts = qtest_init("-machine pc -device qemu-xhci,id=xhci");
    g_autofree char *addr = NULL;
    g_autofree char *terminal = NULL;
    FakeDev *fake = fake_new_listen(FAKE_KEYBOARD, false, &addr);
    QDict *resp, *ret, *info;

    resp = attach(qts, "kbd", addr, NULL);
    ret = qdict_get_qdict(resp, "return");
    g_assert(ret);
    g_assert_cmpstr(qdict_get_str(ret, "id"), ==, "kbd");
    g_assert_cmpstr(qdict_get_str(ret, "kind"), ==, "redir");
    g_assert_cmpstr(qdict_get_str(ret, "chardev"), ==, "usb-peripheral-kbd");
    terminal = g_strdup(qdict_get_str(ret, "terminal"));
    g_assert(g_str_has_prefix(terminal, "127.0.0.1:"));
    g_assert_false(qdict_haskey(ret, "policy"));
    qobject_unref(resp);
    g_assert(has_chardev(qts, "usb-peripheral-kbd"));
    g_assert(has_device(qts, "kbd"));

    /* evaluated like any usb-redir device */
    qobject_unref(wait_attached_of(qts, "kbd", "allow", "default"));
    info = find_peripheral(qts, "kbd", &resp);
    g_assert(info);
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "attached");
    g_assert_cmpstr(qdict_get_str(info, "kind"), ==, "redir");
    g_assert_cmpstr(qdict_get_str(info, "terminal"), ==, terminal);
    g_assert_cmpint(qdict_get_int(info, "vendor-id"), ==, 0x046d);
    g_assert(qdict_haskey(info, "port"));
    qobject_unref(resp);

    /* and re-evaluated when the VM's policy changes */
    set_policy_ok(qts, "[ { 'id': 'no-hid', 'action': 'deny', "
                  "    'iface-class': 3 } ]", "allow");
    qobject_unref(wait_event_of(qts, "USB_PERIPHERAL_REJECTED", "kbd"));
    qobject_unref(wait_event_of(qts, "USB_PERIPHERAL_DETACHED", "kbd"));
    wait_state_of(qts, "kbd", "rejected");

    detach_ok(qts, "kbd");
    g_assert_cmpint(n_peripherals(qts), ==, 0);
    g_assert_false(has_chardev(qts, "usb-peripheral-kbd"));
    g_assert_false(has_device(qts, "kbd"));
    /* QEMU hung up on the terminal */
    while (!qatomic_read(&fake->eof)) {
        g_usleep(10 * 1000);
    }
    qtest_quit(qts);
    fake_free(fake);
}

static void test_attach_unix_own_policy(void)
{
    QTestState *qts = qtest_init("-machine pc -device qemu-xhci,id=xhci");
    g_autofree char *addr = NULL;
    FakeDev *fake = fake_new_listen(FAKE_STORAGE, true, &addr);
    QDict *resp, *ret, *info, *pol;

    /* the VM denies everything; this terminal's stick may be read */
    set_policy_ok(qts, "[]", "deny");
    resp = attach(qts, "stick", addr,
                  ", 'bus': 'xhci.0', 'reconnect-ms': 500, "
                  "'policy': { 'rules': [ { 'id': 'mine', "
                  "  'action': 'read-only', 'iface-class': 8 } ], "
                  "  'default': 'deny' }");
    ret = qdict_get_qdict(resp, "return");
    g_assert(ret);
    g_assert_cmpstr(qdict_get_str(ret, "terminal"), ==, fake->unix_path);
    pol = qdict_get_qdict(ret, "policy");
    g_assert(pol);
    g_assert_cmpstr(qdict_get_str(pol, "default"), ==, "deny");
    qobject_unref(resp);

    qobject_unref(wait_attached_of(qts, "stick", "read-only", "mine"));
    info = find_peripheral(qts, "stick", &resp);
    g_assert_cmpstr(qdict_get_str(iface_of(info, 0), "decision"), ==,
                    "read-only");
    g_assert(qdict_haskey(qdict_get_qdict(info, "policy"), "rules"));
    qobject_unref(resp);

    /* the VM's policy does not apply to it: the verdict stays */
    set_policy_ok(qts, "[]", "allow");
    info = find_peripheral(qts, "stick", &resp);
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "attached");
    g_assert_cmpstr(qdict_get_str(info, "verdict"), ==, "read-only");
    g_assert_cmpstr(qdict_get_str(info, "rule"), ==, "mine");
    qobject_unref(resp);

    /* detaching an attached device reports it */
    detach_ok(qts, "stick");
    qobject_unref(wait_event_of(qts, "USB_PERIPHERAL_DETACHED", "stick"));
    g_assert_cmpint(n_peripherals(qts), ==, 0);
    g_assert_false(has_chardev(qts, "usb-peripheral-stick"));
    g_assert_false(has_device(qts, "stick"));
    qtest_quit(qts);
    fake_free(fake);
}

static void test_attach_errors(void)
{
    QTestState *qts;
    g_autofree char *addr = NULL;
    g_autofree char *closed = NULL;
    FakeDev *fake = fake_new_listen(FAKE_KEYBOARD, false, &addr);
    struct sockaddr_in in = {
        .sin_family = AF_INET,
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    socklen_t len = sizeof(in);
    int fd, sv[2];
    char *err;

    /* a port that is bound but not listening refuses connections */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&in, sizeof(in)), ==, 0);
    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&in, &len), ==, 0);
    closed = g_strdup_printf("{ 'type': 'inet', 'host': '127.0.0.1', "
                             "  'port': '%d' }", ntohs(in.sin_port));

    /* a plain usb-redir device, not attached with usb-peripheral-attach */
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    qts = qtest_initf("-machine pc -device qemu-xhci,id=xhci "
                      "-chardev socket,id=plain0,fd=%d "
                      "-device usb-redir,chardev=plain0,id=plain", sv[1]);
    close(sv[1]);

    err = attach_err(qts, "9lives", addr, NULL);
    g_assert_nonnull(strstr(err, "'9lives' is not a valid device id"));
    g_free(err);
    err = attach_err(qts, "xhci", addr, NULL);
    g_assert_nonnull(strstr(err, "a device with id 'xhci' already exists"));
    g_free(err);
    err = attach_err(qts, "t1", closed, NULL);
    g_assert_nonnull(strstr(err, "cannot reach the terminal at 127.0.0.1:"));
    g_free(err);
    err = attach_err(qts, "t1", "{ 'type': 'inet', 'host': '127.0.0.1', "
                     "  'port': 'printer' }", NULL);
    g_assert_nonnull(strstr(err, "'printer' is not a TCP port number"));
    g_free(err);
    err = attach_err(qts, "t1", "{ 'type': 'inet', 'host': '127.0.0.1', "
                     "  'port': '0' }", NULL);
    g_assert_nonnull(strstr(err, "'0' is not a TCP port number"));
    g_free(err);
    err = attach_err(qts, "t1", "{ 'type': 'inet', 'host': '', "
                     "  'port': '4000' }", NULL);
    g_assert_nonnull(strstr(err, "has no host"));
    g_free(err);
    err = attach_err(qts, "t1", "{ 'type': 'unix', 'path': '' }", NULL);
    g_assert_nonnull(strstr(err, "socket path is empty"));
    g_free(err);
    err = attach_err(qts, "t1", "{ 'type': 'fd', 'str': '3' }", NULL);
    g_assert_nonnull(strstr(err, "must be of type 'inet' or 'unix'"));
    g_free(err);
    err = attach_err(qts, "t1", addr, ", 'bus': 'nowhere.0'");
    g_assert_nonnull(strstr(err, "the VM has no USB bus 'nowhere.0'"));
    g_free(err);
    err = attach_err(qts, "t1", addr, ", 'policy': { 'rules': [ "
                     "{ 'id': 'x', 'action': 'allow', 'hide': true } ], "
                     "'default': 'allow' }");
    g_assert_nonnull(strstr(err, "'hide' only applies to deny rules"));
    g_free(err);

    /* nothing was left behind by the failures */
    g_assert_cmpint(n_peripherals(qts), ==, 1);
    g_assert_false(has_chardev(qts, "usb-peripheral-t1"));
    g_assert_false(has_device(qts, "t1"));

    /* no attempt connected to the terminal: this one works */
    qobject_unref(attach(qts, "t1", addr, NULL));
    qobject_unref(wait_attached_of(qts, "t1", "allow", "default"));
    err = attach_err(qts, "t1", addr, NULL);
    g_assert_nonnull(strstr(err, "a device with id 't1' already exists"));
    g_free(err);
    g_assert_cmpint(n_peripherals(qts), ==, 2);

    err = detach_err(qts, "nosuch");
    g_assert_nonnull(strstr(err, "no USB peripheral 'nosuch'"));
    g_free(err);
    err = detach_err(qts, "plain");
    g_assert_nonnull(strstr(err, "was not attached with "
                            "usb-peripheral-attach"));
    g_free(err);
    g_assert(has_device(qts, "plain"));
    detach_ok(qts, "t1");
    err = detach_err(qts, "t1");
    g_assert_nonnull(strstr(err, "no USB peripheral 't1'"));
    g_free(err);
    qtest_quit(qts);

    /* a VM without a USB controller */
    qts = qtest_init("-machine pc");
    err = attach_err(qts, "t2", addr, NULL);
    g_assert_nonnull(strstr(err, "the VM has no USB bus"));
    g_free(err);
    g_assert_false(has_chardev(qts, "usb-peripheral-t2"));
    qtest_quit(qts);

    close(fd);
    close(sv[0]);
    fake_free(fake);
}

static void test_attach_peer_gone(void)
{
    QTestState *qts = qtest_init("-machine pc -device qemu-xhci,id=xhci");
    g_autofree char *addr = NULL;
    FakeDev *fake = fake_new_listen(FAKE_PRINTER, false, &addr);

    qobject_unref(attach(qts, "prn", addr, NULL));
    qobject_unref(wait_attached_of(qts, "prn", "allow", "default"));

    /* the terminal goes away: the device is detached, QEMU runs on */
    qatomic_set(&fake->hangup, 1);
    qobject_unref(wait_event_of(qts, "USB_PERIPHERAL_DETACHED", "prn"));
    wait_state_of(qts, "prn", "disconnected");
    qtest_qmp_assert_success(qts, "{ 'execute': 'query-status' }");

    detach_ok(qts, "prn");
    g_assert_cmpint(n_peripherals(qts), ==, 0);
    g_assert_false(has_chardev(qts, "usb-peripheral-prn"));
    g_assert_false(has_device(qts, "prn"));
    qtest_quit(qts);
    fake_free(fake);
}

typedef struct Counters {
    int64_t bytes_in, bytes_out, blocked;
} Counters;

/*
 * The same guest traffic to a stick attached read-only by rule 'sticks',
 * at @id, through a UHCI controller: the device descriptor (which the
 * guard serves), a HID report descriptor never read (refused: blocked),
 * GET_MAX_LUN (1 byte in) and an INQUIRY through the Bulk-Only filter
 * (31 bytes out, 36 + 13 in).  Returns the peripheral's counters.
 */
static Counters stick_traffic(QTestState *qts, const char *id)
{
    static const uint8_t inquiry[FAKE_BOT_CBW_LEN] = {
        'U', 'S', 'B', 'C', 0x44, 0x33, 0x22, 0x11, 36, 0, 0, 0, 0x80, 0, 6,
        0x12, 0, 0, 0, 36, 0,
    };
    uint8_t d[64];
    QDict *resp, *info;
    Counters c;
    Uhci u;

    qobject_unref(wait_attached_of(qts, id, "read-only", "sticks"));
    uhci_start(qts, &u);
    g_assert_cmpint(uhci_control_in(qts, &u, 0x80, 0x0100, 0, 18, d), ==,
                    18);
    g_assert_cmpint(d[8] | d[9] << 8, ==, 0x0781);
    g_assert_cmpint(uhci_control_in(qts, &u, 0x81, 0x2200, 0, 63, d), ==,
                    -1);
    g_assert_cmpint(uhci_control_in(qts, &u, 0xa1, 0, 0, 1, d), ==, 1);
    memcpy(d, inquiry, sizeof(inquiry));
    g_assert_cmpint(uhci_bulk(qts, false, 2, 0, d, sizeof(inquiry)), ==,
                    sizeof(inquiry));
    g_assert_cmpint(uhci_bulk(qts, true, 1, 0, d, 64), ==, 36);
    g_assert_cmpint(uhci_bulk(qts, true, 1, 1, d, FAKE_BOT_CSW_LEN), ==,
                    FAKE_BOT_CSW_LEN);
    g_assert_cmpmem(d, 8, "USBS\x44\x33\x22\x11", 8);
    g_assert_cmpint(d[12], ==, 0);
    uhci_stop(&u);

    info = find_peripheral(qts, id, &resp);
    g_assert(info);
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "attached");
    c.bytes_in = qdict_get_int(info, "bytes-in");
    c.bytes_out = qdict_get_int(info, "bytes-out");
    c.blocked = qdict_get_int(info, "blocked");
    qobject_unref(resp);
    return c;
}

/*
 * The command that runs QEMU with vdi-fake-libusb preloaded, in the
 * environment variable FAKE_LIBUSB_QEMU for qtest_init_with_env(); set
 * in main(), before any thread runs.  Unset if the library is missing.
 */
#define FAKE_LIBUSB_QEMU "VDI_FAKE_LIBUSB_QEMU"

static void set_fake_libusb_qemu(void)
{
    g_autofree char *qemu = g_canonicalize_filename(
        g_getenv("QTEST_QEMU_BINARY"), NULL);
    g_autofree char *dir = g_path_get_dirname(qemu);
    g_autofree char *shim =
        g_build_filename(dir, "tests/qtest/libvdi-fake-libusb.so", NULL);
    g_autofree char *cmd = g_strdup_printf("env LD_PRELOAD=%s %s", shim,
                                           qemu);

    if (g_file_test(shim, G_FILE_TEST_EXISTS)) {
        g_setenv(FAKE_LIBUSB_QEMU, cmd, true);
    }
}

/*
 * usb-redir and usb-host go through the same enforcement point in the USB
 * core, so the same traffic counts the same.  usb-host gets the same
 * stick as the usbredir peer from vdi-fake-libusb, preloaded into QEMU
 * in place of libusb, since test machines have no USB device to pass.
 */
static void test_counters_redir_and_host(void)
{
    FakeDev *fake;
    QTestState *qts;
    Counters redir, host;

    /* built with usb-host: tests/qtest/libvdi-fake-libusb.so */
    g_assert_nonnull(g_getenv(FAKE_LIBUSB_QEMU));
    qts = start_sticks_only(FAKE_BEHAVE, &fake);
    redir = stick_traffic(qts, "redir0");
    finish(qts, fake);

    qts = qtest_init_with_env(FAKE_LIBUSB_QEMU, "-machine pc -device "
                              "piix3-usb-uhci,id=uhci,addr=05.0", true);
    set_policy_ok(qts, "[ { 'id': 'sticks', 'action': 'read-only', "
                  "    'iface-class': 8 } ]", "deny");
    qtest_qmp_assert_success(qts, "{ 'execute': 'device_add', 'arguments': "
                             "{ 'driver': 'usb-host', 'bus': 'uhci.0', "
                             "  'id': 'host0', 'hostbus': 1, "
                             "  'hostaddr': 2 } }");
    host = stick_traffic(qts, "host0");
    qtest_quit(qts);

    g_assert_cmpint(redir.bytes_in, ==, 1 + 36 + FAKE_BOT_CSW_LEN);
    g_assert_cmpint(redir.bytes_out, ==, FAKE_BOT_CBW_LEN);
    g_assert_cmpint(redir.blocked, ==, 1);
    g_assert_cmpint(host.bytes_in, ==, redir.bytes_in);
    g_assert_cmpint(host.bytes_out, ==, redir.bytes_out);
    g_assert_cmpint(host.blocked, ==, redir.blocked);
}

/* usb-host: no host USB device here, so only what needs none */
static void test_host_listed(void)
{
    QTestState *qts = qtest_init("-machine pc -device qemu-xhci,id=xhci "
                                 "-device usb-host,id=host0,"
                                 "vendorid=0x1234,productid=0x5678");
    QDict *resp, *info;

    /* no such device on the host: listed, waiting for it */
    info = find_peripheral(qts, "host0", &resp);
    g_assert(info);
    g_assert_cmpstr(qdict_get_str(info, "kind"), ==, "host");
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "disconnected");
    g_assert_false(qdict_haskey(info, "chardev"));
    g_assert_false(qdict_haskey(info, "vendor-id"));
    g_assert_false(qdict_haskey(info, "verdict"));
    qobject_unref(resp);

    /* a policy change goes over it */
    set_policy_ok(qts, "[ { 'id': 'no-storage', 'action': 'deny', "
                  "    'iface-class': 8 } ]", "allow");
    g_assert_cmpint(n_peripherals(qts), ==, 1);

    /* a usb-host that cannot be opened leaves nothing behind */
    resp = qtest_qmp(qts, "{ 'execute': 'device_add', 'arguments': "
                     "{ 'driver': 'usb-host', 'id': 'host1', "
                     "  'hostbus': 99, 'hostaddr': 99 } }");
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(resp, "error"),
                                          "desc"),
                            "failed to find host usb device 99:99"));
    qobject_unref(resp);
    g_assert_cmpint(n_peripherals(qts), ==, 1);

    /* unplugged: gone from the list */
    qtest_qmp_assert_success(qts, "{ 'execute': 'device_del', "
                             "  'arguments': { 'id': 'host0' } }");
    g_assert_cmpint(n_peripherals(qts), ==, 0);
    qtest_quit(qts);
}

/* The policy as a QOM object */

/* Does /objects have a child named id, of type vdi-usb-policy? */
static bool has_policy_object(QTestState *qts, const char *id)
{
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'qom-list', 'arguments': "
                            "{ 'path': '/objects' } }");
    QListEntry *e;
    bool found = false;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(resp, "return"), e) {
        QDict *p = qobject_to(QDict, qlist_entry_obj(e));

        if (!strcmp(qdict_get_str(p, "name"), id)) {
            g_assert_cmpstr(qdict_get_str(p, "type"), ==,
                            "child<vdi-usb-policy>");
            found = true;
        }
    }
    qobject_unref(resp);
    return found;
}

static char *qmp_error(QTestState *qts, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);

/* The error description of a command that must fail */
static char *qmp_error(QTestState *qts, const char *fmt, ...)
{
    va_list ap;
    QDict *resp;
    char *desc;

    va_start(ap, fmt);
    resp = qtest_vqmp(qts, fmt, ap);
    va_end(ap);
    g_assert(qdict_haskey(resp, "error"));
    desc = g_strdup(qdict_get_str(qdict_get_qdict(resp, "error"), "desc"));
    qobject_unref(resp);
    return desc;
}

static void test_object_cmdline(void)
{
    FakeDev *fake;
    QTestState *qts;
    QObject *o;
    QDict *resp, *ret;
    QList *l;
    char *err;
    int fd;

    fake = fake_new(FAKE_KEYBOARD, FAKE_BEHAVE, &fd);
    qts = qtest_initf("-machine pc -device qemu-xhci,id=xhci "
                      "-object '{\"qom-type\": \"vdi-usb-policy\", "
                      "\"id\": \"pol\", \"default\": \"deny\", "
                      "\"rules\": [ { \"id\": \"hid\", "
                      "\"action\": \"allow\", \"iface-class\": 3 } ]}' "
                      "-chardev socket,id=usbredir0,fd=%d "
                      "-device usb-redir,chardev=usbredir0,id=redir0 -S", fd);
    close(fd);
    qtest_qmp_assert_success(qts, "{ 'execute': 'cont' }");
    qobject_unref(wait_attached(qts, "allow", "hid"));

    /* listed and read like any object, and the queries agree */
    g_assert_true(has_policy_object(qts, "pol"));
    o = vdi_qom_get(qts, "/objects/pol", "default");
    g_assert_cmpstr(qstring_get_str(qobject_to(QString, o)), ==, "deny");
    qobject_unref(o);
    o = vdi_qom_get(qts, "/objects/pol", "rules");
    l = qobject_to(QList, o);
    g_assert_cmpint(qlist_size(l), ==, 1);
    g_assert_cmpstr(qdict_get_str(qobject_to(QDict, qlist_peek(l)), "id"),
                    ==, "hid");
    qobject_unref(o);
    o = vdi_qom_get(qts, "/objects/pol", "devices");
    l = qobject_to(QList, o);
    g_assert_cmpint(qlist_size(l), ==, 1);
    g_assert_cmpstr(qstring_get_str(qobject_to(QString, qlist_peek(l))), ==,
                    "redir0");
    qobject_unref(o);
    resp = qtest_qmp(qts, "{ 'execute': 'query-usb-policy', "
                     "  'arguments': { 'id': 'pol' } }");
    ret = qdict_get_qdict(resp, "return");
    g_assert_cmpstr(qdict_get_str(ret, "default"), ==, "deny");
    g_assert_cmpint(qlist_size(qdict_get_qlist(ret, "rules")), ==, 1);
    qobject_unref(resp);

    /* in use: not deleted, and the device keeps its verdict */
    err = qmp_error(qts, "{ 'execute': 'object-del', "
                    "  'arguments': { 'id': 'pol' } }");
    g_assert_nonnull(strstr(err, "in use"));
    g_free(err);
    g_assert_true(has_policy_object(qts, "pol"));
    err = peripheral_state(qts);
    g_assert_cmpstr(err, ==, "attached");
    g_free(err);

    /* one policy per VM; commands naming another one fail */
    err = qmp_error(qts, "{ 'execute': 'object-add', 'arguments': "
                    "{ 'qom-type': 'vdi-usb-policy', 'id': 'pol2', "
                    "  'default': 'allow' } }");
    g_assert_cmpstr(err, ==, "the VM already has a USB policy, 'pol'");
    g_free(err);
    g_assert_false(has_policy_object(qts, "pol2"));
    err = qmp_error(qts, "{ 'execute': 'usb-policy-set', 'arguments': "
                    "{ 'rules': [], 'default': 'deny', 'id': 'pol2' } }");
    g_assert_cmpstr(err, ==, "the VM's USB policy is 'pol', not 'pol2'");
    g_free(err);

    /* qom-set applies like usb-policy-set: the keyboard is now denied */
    qtest_qmp_assert_success(qts, "{ 'execute': 'qom-set', 'arguments': "
                             "{ 'path': '/objects/pol', "
                             "  'property': 'rules', 'value': [] } }");
    assert_rejected(qts, "default", "denied by the default policy");
    o = vdi_qom_get(qts, "/objects/pol", "devices");
    g_assert_cmpint(qlist_size(qobject_to(QList, o)), ==, 0);
    qobject_unref(o);

    /* nothing connected it decides for: deleted, everything allowed */
    qtest_qmp_assert_success(qts, "{ 'execute': 'object-del', "
                             "  'arguments': { 'id': 'pol' } }");
    g_assert_false(has_policy_object(qts, "pol"));
    resp = qtest_qmp(qts, "{ 'execute': 'query-usb-policy' }");
    ret = qdict_get_qdict(resp, "return");
    g_assert_cmpstr(qdict_get_str(ret, "default"), ==, "allow");
    g_assert_cmpint(qlist_size(qdict_get_qlist(ret, "rules")), ==, 0);
    qobject_unref(resp);
    finish(qts, fake);
}

static void test_object_qmp(void)
{
    QTestState *qts = qtest_init("-machine none");
    QDict *resp, *ret;
    QObject *o;
    char *err;

    /* invalid rules: no object */
    err = qmp_error(qts, "{ 'execute': 'object-add', 'arguments': "
                    "{ 'qom-type': 'vdi-usb-policy', 'id': 'p1', "
                    "  'default': 'deny', 'rules': [ "
                    "  { 'id': 'a', 'action': 'allow', 'iface-class': 3 }, "
                    "  { 'id': 'a', 'action': 'allow', 'iface-class': 8 } ] } }");
    g_assert_nonnull(strstr(err, "rule 'a'"));
    g_free(err);
    g_assert_false(has_policy_object(qts, "p1"));

    /* usb-policy-set without an object creates "usb-policy" */
    set_policy_ok(qts, "[ { 'id': 'hid', 'action': 'allow', "
                  "    'iface-class': 3 } ]", "deny");
    g_assert_true(has_policy_object(qts, "usb-policy"));
    o = vdi_qom_get(qts, "/objects/usb-policy", "default");
    g_assert_cmpstr(qstring_get_str(qobject_to(QString, o)), ==, "deny");
    qobject_unref(o);
    qtest_qmp_assert_success(qts, "{ 'execute': 'object-del', "
                             "  'arguments': { 'id': 'usb-policy' } }");
    err = qmp_error(qts, "{ 'execute': 'query-usb-policy', "
                    "  'arguments': { 'id': 'usb-policy' } }");
    g_assert_cmpstr(err, ==, "the VM has no USB policy 'usb-policy'");
    g_free(err);

    /* object-add, then usb-policy-set naming it */
    qtest_qmp_assert_success(qts, "{ 'execute': 'object-add', 'arguments': "
                             "{ 'qom-type': 'vdi-usb-policy', 'id': 'p1', "
                             "  'default': 'allow' } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'usb-policy-set', "
                             "  'arguments': { 'rules': [], "
                             "  'default': 'read-only', 'id': 'p1' } }");
    o = vdi_qom_get(qts, "/objects/p1", "default");
    g_assert_cmpstr(qstring_get_str(qobject_to(QString, o)), ==, "read-only");
    qobject_unref(o);
    g_assert_false(has_policy_object(qts, "usb-policy"));
    set_policy_ok(qts, "[ { 'id': 'hid', 'action': 'allow', "
                  "    'iface-class': 3 } ]", "read-only");
    qtest_qmp_assert_success(qts, "{ 'execute': 'qom-set', 'arguments': "
                             "{ 'path': '/objects/p1', "
                             "  'property': 'default', 'value': 'deny' } }");
    resp = qtest_qmp(qts, "{ 'execute': 'query-usb-policy' }");
    ret = qdict_get_qdict(resp, "return");
    g_assert_cmpstr(qdict_get_str(ret, "default"), ==, "deny");
    g_assert_cmpint(qlist_size(qdict_get_qlist(ret, "rules")), ==, 1);
    qobject_unref(resp);
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    if (!qtest_has_device("qemu-xhci") || !qtest_has_device("usb-redir")) {
        g_test_skip("qemu-xhci or usb-redir not available");
        return g_test_run();
    }
    qtest_add_func("/usb-policy/default-allows", test_default_allows);
    qtest_add_func("/usb-policy/deny", test_deny);
    qtest_add_func("/usb-policy/read-only", test_read_only);
    qtest_add_func("/usb-policy/printer-by-vendor", test_printer_by_vendor);
    qtest_add_func("/usb-policy/composite-hide", test_composite_hide);
    qtest_add_func("/usb-policy/reevaluate", test_reevaluate);
    qtest_add_func("/usb-policy/set-errors", test_set_errors);
    qtest_add_func("/usb-policy/bad-descriptor", test_bad_descriptor);
    qtest_add_func("/usb-policy/garbage", test_garbage);
    qtest_add_func("/usb-policy/hangup-mid-transfer",
                   test_hangup_mid_transfer);
    qtest_add_func("/usb-policy/lies-iface", test_lies_iface);
    qtest_add_func("/usb-policy/object/cmdline", test_object_cmdline);
    qtest_add_func("/usb-policy/object/qmp", test_object_qmp);
    if (qtest_has_device("piix3-usb-uhci")) {
        qtest_add_func("/usb-policy/badusb-descriptors",
                       test_badusb_descriptors);
    }
    qtest_add_func("/usb-policy/attach/tcp", test_attach_tcp);
    qtest_add_func("/usb-policy/attach/unix-own-policy",
                   test_attach_unix_own_policy);
    qtest_add_func("/usb-policy/attach/errors", test_attach_errors);
    qtest_add_func("/usb-policy/attach/peer-gone", test_attach_peer_gone);
    if (qtest_has_device("usb-host")) {
        qtest_add_func("/usb-policy/host/listed", test_host_listed);
    }
    if (qtest_has_device("usb-host") && qtest_has_device("piix3-usb-uhci")) {
        set_fake_libusb_qemu();
        qtest_add_func("/usb-policy/counters/redir-and-host",
                       test_counters_redir_and_host);
    }
    return g_test_run();
}
