/*
 * USB printer-class device
 *
 * Copyright (c) 2026 The VDI host authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A bidirectional printer after the USB Device Class Definition for
 * Printing Devices 1.1: one interface (class 07, subclass 01, protocol
 * 02) with a bulk OUT endpoint that carries the print data to a chardev
 * (typically a socket to the raw port 9100 of a network printer, or a
 * file) and a bulk IN endpoint that carries what the printer answers
 * (PJL status and the like) back to the guest.
 *
 * Print data is never dropped silently.  An OUT packet is taken only when
 * nothing of the previous one is pending; what the chardev cannot take at
 * once is kept, and further OUT packets are NAKed until it has drained.
 * While the chardev is disconnected every OUT packet is NAKed, so the
 * guest sees a paused printer and retries, and GET_PORT_STATUS reports
 * "paper empty" and an error.  Only SOFT_RESET, which the class defines
 * as flushing all buffers, discards data.  Data is written to the chardev
 * only while the VM runs, so that what is pending migrates exactly once.
 *
 * Bytes qemu_chr_fe_write() took are only in the kernel's socket buffers:
 * when the printer drops the connection, those it had not received are
 * lost.  So the device keeps a duplicate of a TCP connection's socket and,
 * when the connection ends, asks the kernel whether the printer's TCP
 * acknowledged every byte written (SIOCOUTQ) and closed without a reset.
 * If not, the job is broken: what is pending of it is discarded rather
 * than sent to the next connection as a job without its beginning, and
 * the next OUT packet STALLs, so that the guest's write fails; until
 * then GET_PORT_STATUS reports an error.  A connection that ends with
 * everything delivered resumes on the next one at the same byte.  For
 * other chardevs that can disconnect (unix sockets) the device cannot
 * tell, so any end of a connection that carried print data breaks the
 * job.
 */

#include "qemu/osdep.h"
#ifdef CONFIG_LINUX
#include <sys/ioctl.h>
#include <linux/sockios.h>
#endif
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/module.h"
#include "qemu/timer.h"
#include "qemu/units.h"
#include "hw/qdev-properties.h"
#include "hw/qdev-properties-system.h"
#include "hw/usb.h"
#include "hw/usb/printer-id.h"
#include "migration/vmstate.h"
#include "system/runstate.h"
#include "chardev/char-fe.h"
#include "chardev/char-socket.h"
#include "desc.h"
#include "qom/object.h"
#include "trace.h"

#define TYPE_USB_PRINTER "usb-printer"
OBJECT_DECLARE_SIMPLE_TYPE(USBPrinterState, USB_PRINTER)

/* Class-specific requests */
#define USB_PRINTER_GET_DEVICE_ID       0
#define USB_PRINTER_GET_PORT_STATUS     1
#define USB_PRINTER_SOFT_RESET          2

/* Version 1.0 of the class addressed SOFT_RESET to "other" */
#define ClassOtherOutRequest \
        ((USB_DIR_OUT | USB_TYPE_CLASS | USB_RECIP_OTHER) << 8)

/* GET_PORT_STATUS bits */
#define USB_PRINTER_STATUS_NOT_ERROR    0x08
#define USB_PRINTER_STATUS_SELECTED     0x10
#define USB_PRINTER_STATUS_PAPER_EMPTY  0x20

#define USB_PRINTER_EP_IN               1
#define USB_PRINTER_EP_OUT              2

/* Bytes from the printer that the guest has not read yet */
#define USB_PRINTER_IN_BUF_SIZE         4096

/* Sanity limit for the pending OUT bytes of an incoming migration */
#define USB_PRINTER_OUT_MIGRATE_MAX     (16 * MiB)

/* Retry delay after a write error that offers nothing to wait on */
#define USB_PRINTER_RETRY_MS            100

#define USB_PRINTER_DEFAULT_ID \
    "MFG:QEMU;MDL:QEMU USB Printer;CMD:PJL,PCL,POSTSCRIPT;CLASS:PRINTER;"

struct USBPrinterState {
    USBDevice dev;

    CharBackend cs;
    char *device_id;

    USBEndpoint *ep_in;
    USBEndpoint *ep_out;

    /* Print data taken from the guest, not yet written to the chardev */
    uint8_t *out_buf;
    uint32_t out_len;
    uint32_t out_size;
    /* An OUT packet was NAKed: wake the endpoint once drained */
    bool out_nak;
    guint out_watch;
    QEMUTimer *retry_timer;

    /* A duplicate of the TCP socket to the printer, or -1 */
    int conn_fd;
    /* Print data was written on the current connection */
    bool conn_used;
    /* A connection ended with print data lost: STALL the next OUT packet */
    bool out_broken;

    /* Data from the printer, not yet read by the guest */
    uint8_t *in_buf;
    uint32_t in_len;

    VMChangeStateEntry *vmstate_entry;
};

enum {
    STR_MANUFACTURER = 1,
    STR_PRODUCT,
    STR_SERIALNUMBER,
    STR_CONFIG_FULL,
    STR_CONFIG_HIGH,
    STR_INTERFACE,
};

static const USBDescStrings desc_strings = {
    [STR_MANUFACTURER] = "QEMU",
    [STR_PRODUCT]      = "QEMU USB Printer",
    [STR_SERIALNUMBER] = "1",
    [STR_CONFIG_FULL]  = "Full speed config (usb 1.1)",
    [STR_CONFIG_HIGH]  = "High speed config (usb 2.0)",
    [STR_INTERFACE]    = "Bidirectional printer",
};

static const USBDescIface desc_iface_full = {
    .bInterfaceNumber              = 0,
    .bNumEndpoints                 = 2,
    .bInterfaceClass               = USB_CLASS_PRINTER,
    .bInterfaceSubClass            = 0x01, /* printers */
    .bInterfaceProtocol            = 0x02, /* bidirectional */
    .iInterface                    = STR_INTERFACE,
    .eps = (USBDescEndpoint[]) {
        {
            .bEndpointAddress      = USB_DIR_IN | USB_PRINTER_EP_IN,
            .bmAttributes          = USB_ENDPOINT_XFER_BULK,
            .wMaxPacketSize        = 64,
        }, {
            .bEndpointAddress      = USB_DIR_OUT | USB_PRINTER_EP_OUT,
            .bmAttributes          = USB_ENDPOINT_XFER_BULK,
            .wMaxPacketSize        = 64,
        },
    }
};

static const USBDescDevice desc_device_full = {
    .bcdUSB                        = 0x0200,
    .bMaxPacketSize0               = 8,
    .bNumConfigurations            = 1,
    .confs = (USBDescConfig[]) {
        {
            .bNumInterfaces        = 1,
            .bConfigurationValue   = 1,
            .iConfiguration        = STR_CONFIG_FULL,
            .bmAttributes          = USB_CFG_ATT_ONE | USB_CFG_ATT_SELFPOWER,
            .nif                   = 1,
            .ifs                   = &desc_iface_full,
        },
    },
};

static const USBDescIface desc_iface_high = {
    .bInterfaceNumber              = 0,
    .bNumEndpoints                 = 2,
    .bInterfaceClass               = USB_CLASS_PRINTER,
    .bInterfaceSubClass            = 0x01, /* printers */
    .bInterfaceProtocol            = 0x02, /* bidirectional */
    .iInterface                    = STR_INTERFACE,
    .eps = (USBDescEndpoint[]) {
        {
            .bEndpointAddress      = USB_DIR_IN | USB_PRINTER_EP_IN,
            .bmAttributes          = USB_ENDPOINT_XFER_BULK,
            .wMaxPacketSize        = 512,
        }, {
            .bEndpointAddress      = USB_DIR_OUT | USB_PRINTER_EP_OUT,
            .bmAttributes          = USB_ENDPOINT_XFER_BULK,
            .wMaxPacketSize        = 512,
        },
    }
};

static const USBDescDevice desc_device_high = {
    .bcdUSB                        = 0x0200,
    .bMaxPacketSize0               = 64,
    .bNumConfigurations            = 1,
    .confs = (USBDescConfig[]) {
        {
            .bNumInterfaces        = 1,
            .bConfigurationValue   = 1,
            .iConfiguration        = STR_CONFIG_HIGH,
            .bmAttributes          = USB_CFG_ATT_ONE | USB_CFG_ATT_SELFPOWER,
            .nif                   = 1,
            .ifs                   = &desc_iface_high,
        },
    },
};

static const USBDesc desc_printer = {
    .id = {
        .idVendor          = 0x46f4, /* CRC16() of "QEMU" */
        .idProduct         = 0x0006,
        .bcdDevice         = 0x0100,
        .iManufacturer     = STR_MANUFACTURER,
        .iProduct          = STR_PRODUCT,
        .iSerialNumber     = STR_SERIALNUMBER,
    },
    .full = &desc_device_full,
    .high = &desc_device_high,
    .str  = desc_strings,
};

static int usb_printer_busnr(USBPrinterState *s)
{
    return usb_bus_from_device(&s->dev)->busnr;
}

static bool usb_printer_online(USBPrinterState *s)
{
    return qemu_chr_fe_backend_open(&s->cs);
}

static uint8_t usb_printer_port_status(USBPrinterState *s)
{
    if (!usb_printer_online(s)) {
        /* Paused: paper empty, error (NOT_ERROR clear), still selected */
        return USB_PRINTER_STATUS_PAPER_EMPTY | USB_PRINTER_STATUS_SELECTED;
    }
    if (s->out_broken) {
        return USB_PRINTER_STATUS_SELECTED;
    }
    return USB_PRINTER_STATUS_SELECTED | USB_PRINTER_STATUS_NOT_ERROR;
}

/* A connection opened: keep its socket if it is TCP, see the top */
static void usb_printer_conn_opened(USBPrinterState *s)
{
    Chardev *chr = qemu_chr_fe_get_driver(&s->cs);
    SocketChardev *sock = (SocketChardev *)
        object_dynamic_cast(OBJECT(chr), TYPE_CHARDEV_SOCKET);
    int family;

    if (s->conn_fd >= 0) {
        close(s->conn_fd);
        s->conn_fd = -1;
    }
    s->conn_used = false;
    if (!sock || !sock->sioc) {
        return;
    }
    family = sock->sioc->remoteAddr.ss_family;
    if (family == AF_INET || family == AF_INET6) {
        s->conn_fd = qemu_dup(sock->sioc->fd);
    }
}

/*
 * Did the printer get everything written on this TCP socket?  Both
 * answers outlive the connection: SIOCOUTQ is what the peer did not
 * acknowledge (write_seq - snd_una), and as our duplicate keeps the
 * socket open, only a reset takes it to TCP_CLOSE: the printer closed
 * with data unread, or data came after it closed.
 */
static bool usb_printer_tcp_delivered(int fd, int *unacked, int *state)
{
#ifdef CONFIG_LINUX
    struct tcp_info info;
    socklen_t len = sizeof(info);

    if (ioctl(fd, SIOCOUTQ, unacked) == 0 &&
        getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0) {
        *state = info.tcpi_state;
        return *unacked == 0 && *state != TCP_CLOSE;
    }
#endif
    return false;
}

/* The connection ended: did the printer get everything written on it? */
static bool usb_printer_conn_closed(USBPrinterState *s)
{
    bool delivered = !s->conn_used;
    int unacked = -1, state = -1;

    if (s->conn_fd >= 0) {
        delivered = usb_printer_tcp_delivered(s->conn_fd, &unacked, &state) ||
                    delivered;
        close(s->conn_fd);
        s->conn_fd = -1;
    }
    trace_usb_printer_conn_closed(usb_printer_busnr(s), s->dev.addr,
                                  s->conn_used, unacked, state, delivered);
    return delivered;
}

static void usb_printer_cancel_wait(USBPrinterState *s)
{
    if (s->out_watch) {
        g_source_remove(s->out_watch);
        s->out_watch = 0;
    }
    timer_del(s->retry_timer);
}

static gboolean usb_printer_out_ready(void *do_not_use, GIOCondition cond,
                                      void *opaque);

/* Let the host controller retry the OUT packet we NAKed, if any. */
static void usb_printer_kick_out(USBPrinterState *s)
{
    if (s->out_nak && !s->out_len && usb_printer_online(s)) {
        trace_usb_printer_out_resume(usb_printer_busnr(s), s->dev.addr);
        s->out_nak = false;
        usb_wakeup(s->ep_out, 0);
    }
}

/* Write what is pending to the chardev; wait for it to drain if needed. */
static void usb_printer_flush(USBPrinterState *s)
{
    int ret = 0, err = 0;

    if (!s->out_len) {
        usb_printer_kick_out(s);
        return;
    }
    if (s->out_watch || timer_pending(s->retry_timer)) {
        return;
    }
    if (!runstate_is_running() || !usb_printer_online(s)) {
        /* The VM start handler or CHR_EVENT_OPENED calls again */
        trace_usb_printer_flush_deferred(usb_printer_busnr(s), s->dev.addr,
                                         s->out_len, usb_printer_online(s));
        return;
    }

    while (s->out_len) {
        errno = 0;
        ret = qemu_chr_fe_write(&s->cs, s->out_buf, s->out_len);
        if (ret <= 0) {
            err = errno;
            break;
        }
        s->conn_used = true;
        s->out_len -= ret;
        memmove(s->out_buf, s->out_buf + ret, s->out_len);
        trace_usb_printer_write(usb_printer_busnr(s), s->dev.addr,
                                ret, s->out_len);
    }

    if (!s->out_len) {
        usb_printer_kick_out(s);
        return;
    }

    if (!usb_printer_online(s)) {
        /* The write error disconnected the chardev: wait for OPENED */
        trace_usb_printer_write_blocked(usb_printer_busnr(s), s->dev.addr,
                                        s->out_len, err, "disconnected");
        return;
    }
    if (ret == 0 || err == EAGAIN) {
        s->out_watch = qemu_chr_fe_add_watch(&s->cs, G_IO_OUT | G_IO_HUP,
                                             usb_printer_out_ready, s);
        if (s->out_watch) {
            trace_usb_printer_write_blocked(usb_printer_busnr(s), s->dev.addr,
                                            s->out_len, err, "watch");
            return;
        }
    }
    trace_usb_printer_write_blocked(usb_printer_busnr(s), s->dev.addr,
                                    s->out_len, err, "retry timer");
    timer_mod(s->retry_timer,
              qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + USB_PRINTER_RETRY_MS);
}

static gboolean usb_printer_out_ready(void *do_not_use, GIOCondition cond,
                                      void *opaque)
{
    USBPrinterState *s = opaque;

    s->out_watch = 0;
    usb_printer_flush(s);
    return G_SOURCE_REMOVE;
}

static void usb_printer_retry(void *opaque)
{
    usb_printer_flush(opaque);
}

/*
 * The printer lost data of the job: drop the rest of it and fail the
 * guest's next OUT packet, waking one that waits.
 */
static void usb_printer_break_job(USBPrinterState *s)
{
    trace_usb_printer_job_broken(usb_printer_busnr(s), s->dev.addr,
                                 s->out_len);
    s->out_len = 0;
    s->out_broken = true;
    if (s->out_nak) {
        s->out_nak = false;
        usb_wakeup(s->ep_out, 0);
    }
}

/* Discard what is buffered in both directions, as SOFT_RESET asks. */
static void usb_printer_discard(USBPrinterState *s)
{
    trace_usb_printer_discard(usb_printer_busnr(s), s->dev.addr,
                              s->out_len, s->in_len);
    usb_printer_cancel_wait(s);
    s->out_len = 0;
    s->out_broken = false;
    s->in_len = 0;
    qemu_chr_fe_accept_input(&s->cs);
    usb_printer_kick_out(s);
}

static void usb_printer_handle_reset(USBDevice *dev)
{
    USBPrinterState *s = USB_PRINTER(dev);

    /*
     * The print data pending was acknowledged to the guest already: like
     * a real printer, go on printing it.  Stale answers are dropped.
     */
    trace_usb_printer_reset(usb_printer_busnr(s), dev->addr, s->out_len,
                            s->in_len);
    s->out_nak = false;
    s->out_broken = false;
    s->in_len = 0;
    qemu_chr_fe_accept_input(&s->cs);
}

static void usb_printer_handle_control(USBDevice *dev, USBPacket *p,
                                       int request, int value, int index,
                                       int length, uint8_t *data)
{
    USBPrinterState *s = USB_PRINTER(dev);
    int busnr = usb_printer_busnr(s);
    size_t id_len;
    int ret;

    ret = usb_desc_handle_control(dev, p, request, value, index, length, data);
    if (ret >= 0) {
        return;
    }

    switch (request) {
    case EndpointOutRequest | USB_REQ_CLEAR_FEATURE:
        break;

    case ClassInterfaceRequest | USB_PRINTER_GET_DEVICE_ID:
        /* 2-byte big-endian length, counting itself, then the ID */
        id_len = strlen(s->device_id) + 2;
        trace_usb_printer_get_device_id(busnr, dev->addr, value, index,
                                        length, id_len);
        stw_be_p(data, id_len);
        memcpy(data + 2, s->device_id, id_len - 2);
        p->actual_length = MIN(length, id_len);
        break;

    case ClassInterfaceRequest | USB_PRINTER_GET_PORT_STATUS:
        data[0] = usb_printer_port_status(s);
        trace_usb_printer_get_port_status(busnr, dev->addr, data[0]);
        p->actual_length = MIN(length, 1);
        break;

    case ClassInterfaceOutRequest | USB_PRINTER_SOFT_RESET:
    case ClassOtherOutRequest | USB_PRINTER_SOFT_RESET:
        trace_usb_printer_soft_reset(busnr, dev->addr);
        usb_printer_discard(s);
        break;

    default:
        trace_usb_printer_unsupported_control(busnr, dev->addr, request,
                                              value, index);
        p->status = USB_RET_STALL;
        break;
    }
}

static void usb_printer_handle_out(USBPrinterState *s, USBPacket *p)
{
    size_t len = p->iov.size;

    if (s->out_broken) {
        trace_usb_printer_out_stall(usb_printer_busnr(s), s->dev.addr, len);
        s->out_broken = false;
        p->status = USB_RET_STALL;
        return;
    }
    if (s->out_len || !usb_printer_online(s)) {
        trace_usb_printer_out_nak(usb_printer_busnr(s), s->dev.addr, len,
                                  s->out_len, usb_printer_online(s));
        s->out_nak = true;
        p->status = USB_RET_NAK;
        return;
    }

    trace_usb_printer_out(usb_printer_busnr(s), s->dev.addr, len);
    s->out_nak = false;
    if (len > s->out_size) {
        s->out_buf = g_realloc(s->out_buf, len);
        s->out_size = len;
    }
    usb_packet_copy(p, s->out_buf, len);
    s->out_len = len;
    usb_printer_flush(s);
}

static void usb_printer_handle_in(USBPrinterState *s, USBPacket *p)
{
    size_t len = MIN(p->iov.size, s->in_len);

    if (!len) {
        p->status = USB_RET_NAK;
        return;
    }
    usb_packet_copy(p, s->in_buf, len);
    s->in_len -= len;
    memmove(s->in_buf, s->in_buf + len, s->in_len);
    trace_usb_printer_in(usb_printer_busnr(s), s->dev.addr, len, s->in_len);
    qemu_chr_fe_accept_input(&s->cs);
}

static void usb_printer_handle_data(USBDevice *dev, USBPacket *p)
{
    USBPrinterState *s = USB_PRINTER(dev);

    switch (p->pid) {
    case USB_TOKEN_OUT:
        if (p->ep->nr != USB_PRINTER_EP_OUT) {
            goto fail;
        }
        usb_printer_handle_out(s, p);
        break;

    case USB_TOKEN_IN:
        if (p->ep->nr != USB_PRINTER_EP_IN) {
            goto fail;
        }
        usb_printer_handle_in(s, p);
        break;

    default:
    fail:
        p->status = USB_RET_STALL;
        break;
    }
}

static int usb_printer_can_read(void *opaque)
{
    USBPrinterState *s = opaque;

    if (!runstate_is_running()) {
        return 0;
    }
    return USB_PRINTER_IN_BUF_SIZE - s->in_len;
}

static void usb_printer_read(void *opaque, const uint8_t *buf, int size)
{
    USBPrinterState *s = opaque;

    size = MIN(size, USB_PRINTER_IN_BUF_SIZE - s->in_len);
    memcpy(s->in_buf + s->in_len, buf, size);
    s->in_len += size;
    trace_usb_printer_chr_read(usb_printer_busnr(s), s->dev.addr, size,
                               s->in_len);
    if (s->in_len) {
        usb_wakeup(s->ep_in, 0);
    }
}

static void usb_printer_event(void *opaque, QEMUChrEvent event)
{
    USBPrinterState *s = opaque;

    switch (event) {
    case CHR_EVENT_OPENED:
        trace_usb_printer_chr_event(usb_printer_busnr(s), s->dev.addr,
                                    "opened", s->out_len);
        usb_printer_conn_opened(s);
        usb_printer_cancel_wait(s);
        usb_printer_flush(s);
        break;
    case CHR_EVENT_CLOSED:
        trace_usb_printer_chr_event(usb_printer_busnr(s), s->dev.addr,
                                    "closed", s->out_len);
        usb_printer_cancel_wait(s);
        if (!usb_printer_conn_closed(s)) {
            usb_printer_break_job(s);
        }
        break;
    default:
        break;
    }
}

static void usb_printer_vm_state_change(void *opaque, bool running,
                                        RunState state)
{
    USBPrinterState *s = opaque;

    if (running) {
        usb_printer_flush(s);
        qemu_chr_fe_accept_input(&s->cs);
    }
}

static void usb_printer_realize(USBDevice *dev, Error **errp)
{
    USBPrinterState *s = USB_PRINTER(dev);

    if (!qemu_chr_fe_backend_connected(&s->cs)) {
        error_setg(errp, "usb-printer needs a chardev: set property "
                   "'chardev'");
        return;
    }
    if (!ieee1284_id_check(s->device_id, errp)) {
        return;
    }

    usb_desc_create_serial(dev);
    usb_desc_init(dev);
    s->ep_in = usb_ep_get(dev, USB_TOKEN_IN, USB_PRINTER_EP_IN);
    s->ep_out = usb_ep_get(dev, USB_TOKEN_OUT, USB_PRINTER_EP_OUT);
    s->in_buf = g_malloc(USB_PRINTER_IN_BUF_SIZE);
    s->retry_timer = timer_new_ms(QEMU_CLOCK_REALTIME, usb_printer_retry, s);
    s->vmstate_entry =
        qemu_add_vm_change_state_handler(usb_printer_vm_state_change, s);
    qemu_chr_fe_set_handlers(&s->cs, usb_printer_can_read, usb_printer_read,
                             usb_printer_event, NULL, s, NULL, true);
}

static void usb_printer_unrealize(USBDevice *dev)
{
    USBPrinterState *s = USB_PRINTER(dev);

    if (s->out_len) {
        warn_report("usb-printer: %u bytes of print data were not delivered "
                    "to the printer", s->out_len);
    }
    qemu_chr_fe_deinit(&s->cs, false);
    if (s->conn_fd >= 0) {
        close(s->conn_fd);
    }
    usb_printer_cancel_wait(s);
    timer_free(s->retry_timer);
    qemu_del_vm_change_state_handler(s->vmstate_entry);
    g_free(s->out_buf);
    s->out_buf = NULL;
    g_free(s->in_buf);
    s->in_buf = NULL;
}

static void usb_printer_instance_init(Object *obj)
{
    USBPrinterState *s = USB_PRINTER(obj);

    s->device_id = g_strdup(USB_PRINTER_DEFAULT_ID);
    s->conn_fd = -1;
}

static int usb_printer_pre_load(void *opaque)
{
    USBPrinterState *s = opaque;

    /* The stream allocates the pending OUT bytes anew */
    g_free(s->out_buf);
    s->out_buf = NULL;
    s->out_size = 0;
    return 0;
}

static int usb_printer_post_load(void *opaque, int version_id)
{
    USBPrinterState *s = opaque;

    s->out_size = s->out_len;
    /* A packet may be waiting on the OUT endpoint: wake it once drained */
    s->out_nak = s->out_len != 0;
    return 0;
}

static bool usb_printer_out_len_valid(void *opaque, int version_id)
{
    USBPrinterState *s = opaque;

    return s->out_len <= USB_PRINTER_OUT_MIGRATE_MAX;
}

static bool usb_printer_in_len_valid(void *opaque, int version_id)
{
    USBPrinterState *s = opaque;

    return s->in_len <= USB_PRINTER_IN_BUF_SIZE;
}

static bool usb_printer_broken_needed(void *opaque)
{
    USBPrinterState *s = opaque;

    return s->out_broken;
}

static const VMStateDescription vmstate_usb_printer_broken = {
    .name = "usb-printer/broken",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = usb_printer_broken_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_BOOL(out_broken, USBPrinterState),
        VMSTATE_END_OF_LIST()
    }
};

static const VMStateDescription vmstate_usb_printer = {
    .name = "usb-printer",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_load = usb_printer_pre_load,
    .post_load = usb_printer_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_USB_DEVICE(dev, USBPrinterState),
        VMSTATE_UINT32(out_len, USBPrinterState),
        VMSTATE_VALIDATE("out_len is in range", usb_printer_out_len_valid),
        VMSTATE_VBUFFER_ALLOC_UINT32(out_buf, USBPrinterState, 0, NULL,
                                     out_len),
        VMSTATE_UINT32(in_len, USBPrinterState),
        VMSTATE_VALIDATE("in_len is in range", usb_printer_in_len_valid),
        VMSTATE_VBUFFER_UINT32(in_buf, USBPrinterState, 0, NULL, in_len),
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const []) {
        &vmstate_usb_printer_broken,
        NULL
    }
};

static const Property usb_printer_properties[] = {
    DEFINE_PROP_CHR("chardev", USBPrinterState, cs),
    DEFINE_PROP_STRING("ieee1284-id", USBPrinterState, device_id),
};

static void usb_printer_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    USBDeviceClass *uc = USB_DEVICE_CLASS(klass);

    uc->realize        = usb_printer_realize;
    uc->unrealize      = usb_printer_unrealize;
    uc->product_desc   = "QEMU USB Printer";
    uc->usb_desc       = &desc_printer;
    uc->handle_reset   = usb_printer_handle_reset;
    uc->handle_control = usb_printer_handle_control;
    uc->handle_data    = usb_printer_handle_data;
    dc->desc = "USB printer (bidirectional, data to a chardev)";
    dc->vmsd = &vmstate_usb_printer;
    device_class_set_props(dc, usb_printer_properties);
    object_class_property_set_description(klass, "ieee1284-id",
        "IEEE 1284 device ID, with MFG: and MDL: (default \""
        USB_PRINTER_DEFAULT_ID "\")");
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static const TypeInfo usb_printer_info = {
    .name          = TYPE_USB_PRINTER,
    .parent        = TYPE_USB_DEVICE,
    .instance_size = sizeof(USBPrinterState),
    .instance_init = usb_printer_instance_init,
    .class_init    = usb_printer_class_init,
};

static void usb_printer_register_types(void)
{
    type_register_static(&usb_printer_info);
}

type_init(usb_printer_register_types)
