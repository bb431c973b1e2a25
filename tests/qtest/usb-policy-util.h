/*
 * VDI host: what the QTests of the USB policy share
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A fake remote USB device, written on libusbredirparser as the device
 * side of the protocol, runs in a thread on one end of a socketpair (or
 * behind a listening socket, a terminal); the other end is the chardev of
 * a usb-redir device.  With -accel qtest there is no guest driver: for
 * what a guest would see, control and bulk transfers go through a UHCI
 * controller driven from here (uhci_control_in(), uhci_bulk()).  Then
 * the QMP side: usb-policy-set, query-usb-peripherals and the events.
 */

#ifndef TESTS_QTEST_USB_POLICY_UTIL_H
#define TESTS_QTEST_USB_POLICY_UTIL_H

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

static inline size_t device_desc(const FakeModel *m, uint8_t *d)
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
static inline int ep_index(uint8_t ep)
{
    return ((ep & 0x80) >> 3) | (ep & 0x0f);
}

/* Build ep_info and interface_info from the configuration descriptor */
static inline void send_device(FakeDev *f)
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

static inline int fake_read(void *priv, uint8_t *data, int count)
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

static inline int fake_write(void *priv, uint8_t *data, int count)
{
    FakeDev *f = priv;
    ssize_t n = send(f->fd, data, count, MSG_NOSIGNAL);

    return n < 0 ? -1 : n;
}

static inline void fake_log(void *priv, int level, const char *msg)
{
    if (level <= usbredirparser_error && g_test_verbose()) {
        fprintf(stderr, "fake usbredir peer: %s\n", msg);
    }
}

static inline void fake_hello(void *priv, struct usb_redir_hello_header *h)
{
    send_device(priv);
}

static inline void fake_control(void *priv, uint64_t id,
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

static inline void fake_set_config(void *priv, uint64_t id,
                                   struct usb_redir_set_configuration_header *h)
{
    FakeDev *f = priv;
    struct usb_redir_configuration_status_header st = {
        usb_redir_success, h->configuration
    };

    usbredirparser_send_configuration_status(f->parser, id, &st);
}

static inline void fake_get_config(void *priv, uint64_t id)
{
    FakeDev *f = priv;
    struct usb_redir_configuration_status_header st = {
        usb_redir_success, 1
    };

    usbredirparser_send_configuration_status(f->parser, id, &st);
}

static inline void fake_set_alt(void *priv, uint64_t id,
                                struct usb_redir_set_alt_setting_header *h)
{
    FakeDev *f = priv;
    struct usb_redir_alt_setting_status_header st = {
        usb_redir_success, h->interface, h->alt
    };

    usbredirparser_send_alt_setting_status(f->parser, id, &st);
}

static inline void fake_get_alt(void *priv, uint64_t id,
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
static inline void fake_bulk(void *priv, uint64_t id,
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

static inline void fake_filter_reject(void *priv)
{
    FakeDev *f = priv;

    qatomic_set(&f->rejected, 1);
}

static inline void fake_ignore(void *priv)
{
}

static inline void fake_ignore_id(void *priv, uint64_t id)
{
}

static inline void fake_ignore_filter(void *priv,
                                      struct usbredirfilter_rule *rules,
                                      int rules_count)
{
    free(rules);
}

static inline void fake_ignore_hdr(void *priv, uint64_t id, void *h)
{
}

static inline void fake_ignore_data(void *priv, uint64_t id, void *h,
                                    uint8_t *data, int data_len)
{
    free(data);
}

static inline gpointer fake_thread(gpointer opaque)
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

static inline void fake_start(FakeDev *f, FakeKind kind,
                              FakeMisbehave misbehave)
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
    usbredirparser_init(p, "usb-policy fake device", caps,
                        USB_REDIR_CAPS_SIZE, usbredirparser_fl_usb_host);
    f->thread = g_thread_new("fake-usbredir", fake_thread, f);
}

/* A device on one end of a socketpair; QEMU gets the other, *qemu_fd */
static inline FakeDev *fake_new(FakeKind kind, FakeMisbehave misbehave,
                                int *qemu_fd)
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
static inline FakeDev *fake_new_listen(FakeKind kind, bool unix_sock,
                                       char **addr)
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

static inline void fake_free(FakeDev *f)
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
static inline QTestState *start(FakeKind kind, FakeMisbehave misbehave,
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

static inline void finish(QTestState *qts, FakeDev *fake)
{
    qtest_quit(qts);
    fake_free(fake);
}

/* Set the policy from JSON rules; returns the error description or NULL */
static inline char *set_policy(QTestState *qts, const char *rules,
                               const char *dflt)
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

static inline void set_policy_ok(QTestState *qts, const char *rules,
                                 const char *dflt)
{
    g_autofree char *err = set_policy(qts, rules, dflt);

    g_assert_null(err);
}

/* The query-usb-peripherals entry of redir0 (caller unrefs the response) */
static inline QDict *query_peripheral(QTestState *qts, QDict **resp)
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

static inline char *peripheral_state(QTestState *qts)
{
    QDict *resp, *info = query_peripheral(qts, &resp);
    char *state = g_strdup(qdict_get_str(info, "state"));

    qobject_unref(resp);
    return state;
}

static inline void wait_state(QTestState *qts, const char *state)
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

static inline QDict *wait_event_of(QTestState *qts, const char *name,
                                   const char *id)
{
    QDict *ev = qtest_qmp_eventwait_ref(qts, name);
    QDict *data = qdict_get_qdict(ev, "data");

    qobject_ref(data);
    qobject_unref(ev);
    g_assert_cmpstr(qdict_get_str(data, "id"), ==, id);
    return data;
}

static inline QDict *wait_event(QTestState *qts, const char *name)
{
    return wait_event_of(qts, name, "redir0");
}

static inline QDict *wait_attached_of(QTestState *qts, const char *id,
                                      const char *verdict, const char *rule)
{
    QDict *data = wait_event_of(qts, "USB_PERIPHERAL_ATTACHED", id);

    g_assert_cmpstr(qdict_get_str(data, "verdict"), ==, verdict);
    g_assert_cmpstr(qdict_get_str(data, "rule"), ==, rule);
    return data;
}

static inline QDict *wait_attached(QTestState *qts, const char *verdict,
                                   const char *rule)
{
    QDict *data = wait_event(qts, "USB_PERIPHERAL_ATTACHED");

    g_assert_cmpstr(qdict_get_str(data, "verdict"), ==, verdict);
    g_assert_cmpstr(qdict_get_str(data, "rule"), ==, rule);
    return data;
}

static inline void assert_rejected(QTestState *qts, const char *rule,
                                   const char *reason_part)
{
    QDict *data = wait_event(qts, "USB_PERIPHERAL_REJECTED");

    g_assert_cmpstr(qdict_get_str(data, "rule"), ==, rule);
    g_assert_nonnull(strstr(qdict_get_str(data, "reason"), reason_part));
    qobject_unref(data);
}

static inline QDict *iface_of(QDict *info, int n)
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

static inline void uhci_td(QTestState *qts, int n, bool last, uint8_t pid,
                           int ep, int toggle, int len, uint32_t buf)
{
    uint32_t td = UHCI_TDS + 16 * n;

    qtest_writel(qts, td, last ? 1 : (td + 16) | 4);
    qtest_writel(qts, td + 4, TD_ACTIVE | 3u << 27);
    qtest_writel(qts, td + 8, ((len ? len - 1 : 0x7ff) << 21) |
                 toggle << 19 | ep << 15 | pid);
    qtest_writel(qts, td + 12, buf);
}

static inline void uhci_start(QTestState *qts, Uhci *u)
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

static inline void uhci_stop(Uhci *u)
{
    g_free(u->dev);
    qpci_free_pc(u->bus);
}

/*
 * Run the queue of the first @n TDs until the last one is done or one
 * stalls; returns true if one stalled
 */
static inline bool uhci_run(QTestState *qts, int n)
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
static inline int uhci_td_len(QTestState *qts, int n)
{
    return ((qtest_readl(qts, UHCI_TDS + 16 * n + 4) & 0x7ff) + 1) & 0x7ff;
}

/*
 * One control IN transfer; returns the length received into data, or -1
 * if the device stalled.
 */
static inline int uhci_control_in(QTestState *qts, Uhci *u, uint8_t type,
                                  uint16_t value, uint16_t index,
                                  uint16_t length, uint8_t *data)
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
static inline int uhci_bulk(QTestState *qts, bool in, int ep, int toggle,
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
static inline QTestState *start_sticks_only(FakeMisbehave misbehave,
                                            FakeDev **fake)
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

/* The query-usb-peripherals entry with this id, or NULL */
static inline QDict *find_peripheral(QTestState *qts, const char *id,
                                     QDict **resp)
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

static inline int n_peripherals(QTestState *qts)
{
    QDict *resp = qtest_qmp(qts, "{ 'execute': 'query-usb-peripherals' }");
    int n = qlist_size(qdict_get_qlist(resp, "return"));

    qobject_unref(resp);
    return n;
}

#endif
