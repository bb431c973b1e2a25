/*
 * guest-vdagent: the demo guest's clipboard agent, a small static
 * program speaking the vdagent protocol on the virtio-serial port
 * com.redhat.spice.0 (QEMU's qemu-vdagent chardev, or spice-server's
 * agent channel, at the other end).  Text only, clipboard by demand,
 * one selection; files instead of a desktop:
 *
 *   guest-vdagent              the agent (guest-init starts it)
 *   guest-vdagent copy TEXT    the guest copies TEXT: the agent grabs the
 *                              clipboard and serves TEXT when asked
 *
 * What the client copies arrives in /run/vdagent/clipboard-in (empty
 * when the host answered a request with nothing); /run/vdagent/served
 * counts the host's requests the agent answered with the guest's text.
 * Messages from the host are bounded (MAX_MSG); larger ones are skipped
 * whole, malformed ones ignored.
 *
 * Copyright (c) 2026 VDI host developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <spice/vd_agent.h>

#define PORT_NAME   "com.redhat.spice.0"
#define RUN_DIR     "/run/vdagent"
#define SOCK_PATH   RUN_DIR "/sock"
#define CLIP_IN     RUN_DIR "/clipboard-in"
#define SERVED      RUN_DIR "/served"

#define MSG_HEADER      sizeof(VDAgentMessage)
#define CHUNK_MAX       1024        /* payload per chunk, as QEMU sends */

#define MAX_TEXT        (1 << 20)
#define MAX_MSG         (MAX_TEXT + 64)

static int port = -1;
static char *guest_text;            /* what the guest copied, or NULL */
static uint32_t guest_len;
static unsigned long served;

static uint32_t get_le32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = v;
    p[1] = v >> 8;
    p[2] = v >> 16;
    p[3] = v >> 24;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= n;
    }
    return 0;
}

/* One message, in chunks of at most CHUNK_MAX bytes */
static void send_msg(uint32_t type, const void *head, uint32_t head_len,
                     const void *body, uint32_t body_len)
{
    uint32_t size = MSG_HEADER + head_len + body_len;
    uint8_t *msg = calloc(1, size), chunk[8];
    uint32_t off;

    if (!msg) {
        return;
    }
    put_le32(msg, VD_AGENT_PROTOCOL);
    put_le32(msg + 4, type);
    put_le32(msg + 16, head_len + body_len);
    memcpy(msg + MSG_HEADER, head, head_len);
    if (body_len) {
        memcpy(msg + MSG_HEADER + head_len, body, body_len);
    }
    for (off = 0; off < size; off += CHUNK_MAX) {
        uint32_t n = size - off < CHUNK_MAX ? size - off : CHUNK_MAX;

        put_le32(chunk, VDP_CLIENT_PORT);
        put_le32(chunk + 4, n);
        if (write_all(port, chunk, 8) || write_all(port, msg + off, n)) {
            perror("guest-vdagent: write");
            break;
        }
    }
    free(msg);
}

static void send_caps(int request)
{
    uint8_t caps[8];

    put_le32(caps, request);
    put_le32(caps + 4, 1u << VD_AGENT_CAP_CLIPBOARD_BY_DEMAND);
    send_msg(VD_AGENT_ANNOUNCE_CAPABILITIES, caps, 8, NULL, 0);
}

static void send_u32(uint32_t type, uint32_t v)
{
    uint8_t b[4];

    put_le32(b, v);
    send_msg(type, b, 4, NULL, 0);
}

/* Replace @path's content atomically */
static void write_file(const char *path, const void *data, size_t len)
{
    char tmp[64];
    int fd;

    snprintf(tmp, sizeof(tmp), "%s.new", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write_all(fd, data, len) || close(fd) ||
        rename(tmp, path)) {
        perror("guest-vdagent: write_file");
    }
}

static void handle_msg(const uint8_t *msg, uint32_t len)
{
    uint32_t type = get_le32(msg + 4);
    const uint8_t *data = msg + MSG_HEADER;
    uint32_t size = len - MSG_HEADER;
    uint32_t i;
    char count[24];

    switch (type) {
    case VD_AGENT_ANNOUNCE_CAPABILITIES:
        if (size >= 4 && get_le32(data)) {
            send_caps(0);
        }
        break;
    case VD_AGENT_CLIPBOARD_GRAB:
        /* the client copied: fetch its text at once */
        for (i = 0; i + 4 <= size; i += 4) {
            if (get_le32(data + i) == VD_AGENT_CLIPBOARD_UTF8_TEXT) {
                send_u32(VD_AGENT_CLIPBOARD_REQUEST,
                         VD_AGENT_CLIPBOARD_UTF8_TEXT);
                break;
            }
        }
        break;
    case VD_AGENT_CLIPBOARD:
        if (size >= 4 && get_le32(data) == VD_AGENT_CLIPBOARD_UTF8_TEXT) {
            /* text, without the NUL RFB's extended clipboard ends it with */
            for (i = size - 4; i && !data[4 + i - 1]; i--) {
            }
            write_file(CLIP_IN, data + 4, i);
        }
        break;
    case VD_AGENT_CLIPBOARD_REQUEST:
        if (size < 4) {
            break;
        }
        if (get_le32(data) == VD_AGENT_CLIPBOARD_UTF8_TEXT && guest_text) {
            send_msg(VD_AGENT_CLIPBOARD, data, 4, guest_text, guest_len);
            snprintf(count, sizeof(count), "%lu\n", ++served);
            write_file(SERVED, count, strlen(count));
        } else {
            /* nothing of that type: an empty answer, so nobody waits */
            send_msg(VD_AGENT_CLIPBOARD, data, 4, NULL, 0);
        }
        break;
    default:
        break;
    }
}

/*
 * The host's bytes: chunk headers, then the chunks' payloads, which
 * together are a stream of messages.  A message larger than MAX_MSG is
 * skipped; the port of a chunk is not checked (one client here).
 */
static uint8_t chunk_hdr[8];
static uint32_t chunk_hdr_len, chunk_left;
static uint8_t *msg;
static uint32_t msg_len, msg_want, msg_skip;

static void feed_payload(const uint8_t *p, uint32_t n)
{
    while (n) {
        uint32_t take;

        if (msg_skip) {
            take = n < msg_skip ? n : msg_skip;
            msg_skip -= take;
        } else {
            uint32_t want = msg_len < MSG_HEADER ? MSG_HEADER : msg_want;

            take = want - msg_len < n ? want - msg_len : n;
            memcpy(msg + msg_len, p, take);
            msg_len += take;
            if (msg_len == MSG_HEADER) {
                uint32_t body = get_le32(msg + 16);

                if (body > MAX_MSG - MSG_HEADER) {
                    msg_skip = body;
                    msg_len = 0;
                } else {
                    msg_want = MSG_HEADER + body;
                }
            }
            if (msg_len >= MSG_HEADER && msg_len == msg_want) {
                handle_msg(msg, msg_len);
                msg_len = msg_want = 0;
            }
        }
        p += take;
        n -= take;
    }
}

static void feed(const uint8_t *p, size_t n)
{
    while (n) {
        size_t take;

        if (chunk_hdr_len < 8) {
            chunk_hdr[chunk_hdr_len++] = *p++;
            n--;
            if (chunk_hdr_len == 8) {
                chunk_left = get_le32(chunk_hdr + 4);
            }
            continue;
        }
        take = n < chunk_left ? n : chunk_left;
        feed_payload(p, take);
        p += take;
        n -= take;
        chunk_left -= take;
        if (!chunk_left) {
            chunk_hdr_len = 0;
        }
    }
}

/* /dev node of the virtio-serial port named PORT_NAME, made if mdev did not */
static int open_port(void)
{
    static const char *sys = "/sys/class/virtio-ports";
    DIR *d = opendir(sys);
    struct dirent *e;
    int fd = -1;

    while (d && (e = readdir(d)) && fd < 0) {
        char path[300], buf[64] = "";
        unsigned maj, min;
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s/name", sys, e->d_name);
        f = fopen(path, "r");
        if (!f) {
            continue;
        }
        if (!fgets(buf, sizeof(buf), f)) {
            buf[0] = 0;
        }
        fclose(f);
        if (strcmp(buf, PORT_NAME "\n") != 0) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s/dev", sys, e->d_name);
        f = fopen(path, "r");
        if (!f || fscanf(f, "%u:%u", &maj, &min) != 2) {
            if (f) {
                fclose(f);
            }
            continue;
        }
        fclose(f);
        snprintf(path, sizeof(path), "/dev/%s", e->d_name);
        if (access(path, F_OK) != 0) {
            mknod(path, S_IFCHR | 0600, makedev(maj, min));
        }
        fd = open(path, O_RDWR | O_CLOEXEC);
    }
    if (d) {
        closedir(d);
    }
    return fd;
}

/* A local `copy`: the text until EOF, then the clipboard is the guest's */
static void serve_copy(int lsock)
{
    struct timeval tv = { .tv_sec = 2 };
    int c = accept(lsock, NULL, NULL);
    char *text = malloc(MAX_TEXT);
    uint32_t len = 0;
    ssize_t n = 0;

    if (c < 0 || !text) {
        goto out;
    }
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (len < MAX_TEXT && (n = read(c, text + len, MAX_TEXT - len)) > 0) {
        len += n;
    }
    if (n < 0 || len == MAX_TEXT) {
        write_all(c, "error\n", 6);
        goto out;
    }
    free(guest_text);
    guest_text = text;
    guest_len = len;
    text = NULL;
    send_u32(VD_AGENT_CLIPBOARD_GRAB, VD_AGENT_CLIPBOARD_UTF8_TEXT);
    write_all(c, "ok\n", 3);
out:
    free(text);
    if (c >= 0) {
        close(c);
    }
}

static int agent(void)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = SOCK_PATH };
    struct pollfd fds[2];
    uint8_t buf[4096];
    int lsock, i;

    msg = malloc(MAX_MSG);
    mkdir(RUN_DIR, 0755);
    for (i = 0; i < 50 && (port = open_port()) < 0; i++) {
        usleep(100000);
    }
    if (!msg || port < 0) {
        fprintf(stderr, "guest-vdagent: no virtio-serial port "
                PORT_NAME "\n");
        return 1;
    }
    unlink(SOCK_PATH);
    lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lsock < 0 || bind(lsock, (struct sockaddr *)&sa, sizeof(sa)) ||
        listen(lsock, 4)) {
        perror("guest-vdagent: " SOCK_PATH);
        return 1;
    }
    send_caps(1);
    fds[0] = (struct pollfd) { .fd = port, .events = POLLIN };
    fds[1] = (struct pollfd) { .fd = lsock, .events = POLLIN };
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            perror("guest-vdagent: poll");
            return 1;
        }
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(port, buf, sizeof(buf));

            if (n > 0) {
                feed(buf, n);
            } else {
                /* the host end is closed: wait for it */
                usleep(200000);
            }
        }
        if (fds[1].revents & POLLIN) {
            serve_copy(lsock);
        }
    }
}

static int copy(const char *text)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = SOCK_PATH };
    char answer[16] = "";
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    ssize_t n;

    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) ||
        write_all(s, text, strlen(text)) || shutdown(s, SHUT_WR)) {
        perror("guest-vdagent: the agent at " SOCK_PATH);
        return 1;
    }
    n = read(s, answer, sizeof(answer) - 1);
    close(s);
    if (n != 3 || strcmp(answer, "ok\n") != 0) {
        fprintf(stderr, "guest-vdagent: the agent refused the copy\n");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 1) {
        return agent();
    }
    if (argc == 3 && strcmp(argv[1], "copy") == 0) {
        return copy(argv[2]);
    }
    fprintf(stderr, "usage: guest-vdagent [copy TEXT]\n");
    return 2;
}
