/*
 * A fake libusb with one USB stick on it, for usb-host in qtests
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Test machines have no USB host controller, so usb-host (hw/usb/
 * host-libusb.c) never gets a device to pass through.  Loaded into QEMU
 * with LD_PRELOAD, this library stands in for the libusb functions that
 * usb-host calls: libusb lists one device at bus 1, address 2 (port 1),
 * the stick of vdi-fake-stick.h that the usbredir peer of the USB
 * policy's QTests (usb-policy-util.h) serves too.  Like that peer, it
 * answers the standard descriptors and GET_MAX_LUN, stalls other control
 * requests, and serves Bulk-Only commands as vdi-fake-stick.h says.
 * Transfers complete when QEMU's main loop calls
 * libusb_handle_events_timeout() on the file descriptor it got from
 * libusb_get_pollfds(), as with the real libusb.
 * Everything else usb-host does (claiming interfaces, configuration,
 * kernel drivers) succeeds and does nothing.
 */

#include "qemu/osdep.h"
#include <libusb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include "vdi-fake-stick.h"

struct libusb_device {
    int refs;
};

struct libusb_device_handle {
    int open;
};

static struct libusb_device the_dev = { 1 };
static struct libusb_device_handle the_handle;
static int the_ctx;
static struct libusb_pollfd pollfd = { -1, POLLIN };
static FakeBot bot;

/* Transfers waiting for libusb_handle_events_timeout() */
static GQueue pending = G_QUEUE_INIT;

static const uint8_t dev_desc[18] = {
    18, 1, 0x00, 0x02, 0, 0, 0, 64,
    FAKE_STICK_VID & 0xff, FAKE_STICK_VID >> 8,
    FAKE_STICK_PID & 0xff, FAKE_STICK_PID >> 8, 0x00, 0x01, 1, 2, 3, 1,
};

static const char serial[] = FAKE_STICK_SERIAL;

/* fake_stick_config, as libusb parses it */
static const struct libusb_endpoint_descriptor endpoints[] = {
    { 7, 5, 0x81, 2, 512, 0, 0, 0, NULL, 0 },
    { 7, 5, 0x02, 2, 512, 0, 0, 0, NULL, 0 },
};
static const struct libusb_interface_descriptor altsetting = {
    9, 4, 0, 0, 2, 8, 6, 0x50, 0, endpoints, NULL, 0,
};
static const struct libusb_interface interface = { &altsetting, 1 };
static const struct libusb_config_descriptor config = {
    9, 2, 32, 1, 1, 0, 0x80, 100, &interface, NULL, 0,
};

/* A control request: the length answered, or LIBUSB_ERROR_PIPE */
static int control(uint8_t type, uint8_t req, uint16_t value, uint16_t index,
                   uint8_t *data, uint16_t length)
{
    const uint8_t *src = NULL;
    uint8_t buf[64] = { 0 };
    size_t len = 0, i;

    switch (type << 8 | req) {
    case 0x8006:
        switch (value >> 8) {
        case 1:
            src = dev_desc;
            len = sizeof(dev_desc);
            break;
        case 2:
            src = fake_stick_config;
            len = sizeof(fake_stick_config);
            break;
        case 3:
            if ((value & 0xff) == 0) {
                src = (const uint8_t *)"\x04\x03\x09\x04";
                len = 4;
            } else if ((value & 0xff) == 3) {
                buf[0] = len = 2 + 2 * strlen(serial);
                buf[1] = 3;
                for (i = 0; serial[i]; i++) {
                    buf[2 + 2 * i] = serial[i];
                }
                src = buf;
            }
            break;
        }
        break;
    case 0xa1fe:
        src = buf;
        len = 1;
        break;
    }
    if (!src) {
        return LIBUSB_ERROR_PIPE;
    }
    len = MIN(len, length);
    memcpy(data, src, len);
    return len;
}

static void complete(struct libusb_transfer *t)
{
    uint8_t *setup = t->buffer;
    int n;

    t->status = LIBUSB_TRANSFER_COMPLETED;
    t->actual_length = 0;
    switch (t->type) {
    case LIBUSB_TRANSFER_TYPE_CONTROL:
        n = control(setup[0], setup[1], setup[2] | setup[3] << 8,
                    setup[4] | setup[5] << 8, setup + 8,
                    setup[6] | setup[7] << 8);
        if (n < 0) {
            t->status = LIBUSB_TRANSFER_STALL;
        } else if (setup[0] & 0x80) {
            t->actual_length = n;
        } else {
            t->actual_length = setup[6] | setup[7] << 8;
        }
        break;
    case LIBUSB_TRANSFER_TYPE_BULK:
        if (t->endpoint == 0x81) {
            t->actual_length = fake_bot_in(&bot, t->buffer, t->length);
        } else if (t->endpoint == 0x02 &&
                   fake_bot_out(&bot, t->buffer, t->length)) {
            t->actual_length = t->length;
        } else {
            t->status = LIBUSB_TRANSFER_STALL;
        }
        break;
    default:
        t->status = LIBUSB_TRANSFER_STALL;
    }
}

static void kick(void)
{
    uint64_t one = 1;

    if (write(pollfd.fd, &one, sizeof(one)) != sizeof(one)) {
        abort();
    }
}

int libusb_init(libusb_context **ctx)
{
    if (pollfd.fd < 0) {
        pollfd.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    }
    *ctx = (libusb_context *)&the_ctx;
    return pollfd.fd < 0 ? LIBUSB_ERROR_OTHER : 0;
}

int libusb_set_option(libusb_context *ctx, enum libusb_option option, ...)
{
    return 0;
}

void libusb_set_debug(libusb_context *ctx, int level)
{
}

void libusb_set_pollfd_notifiers(libusb_context *ctx,
                                 libusb_pollfd_added_cb added_cb,
                                 libusb_pollfd_removed_cb removed_cb,
                                 void *user_data)
{
}

const struct libusb_pollfd **libusb_get_pollfds(libusb_context *ctx)
{
    const struct libusb_pollfd **list = calloc(2, sizeof(*list));

    list[0] = &pollfd;
    return list;
}

int libusb_handle_events_timeout(libusb_context *ctx, struct timeval *tv)
{
    uint64_t n;
    struct libusb_transfer *t;
    GQueue now = G_QUEUE_INIT;

    if (read(pollfd.fd, &n, sizeof(n)) < 0 && errno != EAGAIN) {
        return LIBUSB_ERROR_IO;
    }
    /* callbacks submit again: those wait for the next round */
    now = pending;
    g_queue_init(&pending);
    while ((t = g_queue_pop_head(&now))) {
        if (t->status != LIBUSB_TRANSFER_CANCELLED) {
            complete(t);
        }
        t->callback(t);
    }
    return 0;
}

ssize_t libusb_get_device_list(libusb_context *ctx, libusb_device ***list)
{
    *list = calloc(2, sizeof(**list));
    (*list)[0] = libusb_ref_device(&the_dev);
    return 1;
}

void libusb_free_device_list(libusb_device **list, int unref_devices)
{
    if (list && unref_devices) {
        libusb_unref_device(list[0]);
    }
    free(list);
}

libusb_device *libusb_ref_device(libusb_device *dev)
{
    dev->refs++;
    return dev;
}

void libusb_unref_device(libusb_device *dev)
{
    dev->refs--;
}

uint8_t libusb_get_bus_number(libusb_device *dev)
{
    return 1;
}

uint8_t libusb_get_device_address(libusb_device *dev)
{
    return 2;
}

int libusb_get_port_numbers(libusb_device *dev, uint8_t *ports, int len)
{
    ports[0] = 1;
    return 1;
}

int libusb_get_device_speed(libusb_device *dev)
{
    return LIBUSB_SPEED_HIGH;
}

int libusb_get_device_descriptor(libusb_device *dev,
                                 struct libusb_device_descriptor *d)
{
    *d = (struct libusb_device_descriptor) {
        .bLength = 18, .bDescriptorType = 1, .bcdUSB = 0x0200,
        .bMaxPacketSize0 = 64, .idVendor = FAKE_STICK_VID,
        .idProduct = FAKE_STICK_PID,
        .bcdDevice = 0x0100, .iManufacturer = 1, .iProduct = 2,
        .iSerialNumber = 3, .bNumConfigurations = 1,
    };
    return 0;
}

int libusb_get_active_config_descriptor(libusb_device *dev,
                                        struct libusb_config_descriptor **c)
{
    *c = g_memdup2(&config, sizeof(config));
    return 0;
}

int libusb_get_config_descriptor(libusb_device *dev, uint8_t index,
                                 struct libusb_config_descriptor **c)
{
    return index ? LIBUSB_ERROR_NOT_FOUND :
        libusb_get_active_config_descriptor(dev, c);
}

void libusb_free_config_descriptor(struct libusb_config_descriptor *c)
{
    g_free(c);
}

int libusb_get_ss_endpoint_companion_descriptor(
    libusb_context *ctx, const struct libusb_endpoint_descriptor *e,
    struct libusb_ss_endpoint_companion_descriptor **c)
{
    return LIBUSB_ERROR_NOT_FOUND;
}

void libusb_free_ss_endpoint_companion_descriptor(
    struct libusb_ss_endpoint_companion_descriptor *c)
{
}

int libusb_open(libusb_device *dev, libusb_device_handle **dh)
{
    the_handle.open = 1;
    memset(&bot, 0, sizeof(bot));
    *dh = &the_handle;
    return 0;
}

void libusb_close(libusb_device_handle *dh)
{
    dh->open = 0;
}

libusb_device *libusb_get_device(libusb_device_handle *dh)
{
    return &the_dev;
}

int libusb_kernel_driver_active(libusb_device_handle *dh, int iface)
{
    return 0;
}

int libusb_detach_kernel_driver(libusb_device_handle *dh, int iface)
{
    return 0;
}

int libusb_attach_kernel_driver(libusb_device_handle *dh, int iface)
{
    return 0;
}

int libusb_claim_interface(libusb_device_handle *dh, int iface)
{
    return 0;
}

int libusb_release_interface(libusb_device_handle *dh, int iface)
{
    return 0;
}

int libusb_set_configuration(libusb_device_handle *dh, int config)
{
    return 0;
}

int libusb_set_interface_alt_setting(libusb_device_handle *dh, int iface,
                                     int alt)
{
    return alt ? LIBUSB_ERROR_NOT_FOUND : 0;
}

int libusb_clear_halt(libusb_device_handle *dh, unsigned char ep)
{
    return 0;
}

int libusb_reset_device(libusb_device_handle *dh)
{
    memset(&bot, 0, sizeof(bot));
    return 0;
}

int libusb_control_transfer(libusb_device_handle *dh, uint8_t type,
                            uint8_t req, uint16_t value, uint16_t index,
                            unsigned char *data, uint16_t length,
                            unsigned int timeout)
{
    return control(type, req, value, index, data, length);
}

int libusb_get_string_descriptor_ascii(libusb_device_handle *dh,
                                       uint8_t index, unsigned char *data,
                                       int length)
{
    return LIBUSB_ERROR_PIPE;
}

struct libusb_transfer *libusb_alloc_transfer(int iso_packets)
{
    return g_malloc0(sizeof(struct libusb_transfer) +
                     iso_packets * sizeof(struct libusb_iso_packet_descriptor));
}

void libusb_free_transfer(struct libusb_transfer *t)
{
    g_free(t);
}

int libusb_submit_transfer(struct libusb_transfer *t)
{
    if (!the_handle.open) {
        return LIBUSB_ERROR_NO_DEVICE;
    }
    t->status = LIBUSB_TRANSFER_COMPLETED;
    g_queue_push_tail(&pending, t);
    kick();
    return 0;
}

int libusb_cancel_transfer(struct libusb_transfer *t)
{
    if (!g_queue_find(&pending, t)) {
        return LIBUSB_ERROR_NOT_FOUND;
    }
    t->status = LIBUSB_TRANSFER_CANCELLED;
    t->actual_length = 0;
    return 0;
}
