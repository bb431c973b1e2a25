# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared parts of check-usb-storage and bench-usb-storage: the fake remote
USB stick (tests/qtest/vdi-usbredir-msd of the QEMU build), the test
guest booted under TCG with a usb-redir device on a chardev to it, and
the guest's serial console."""

import gzip
import hashlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time

# A guest tool: one SCSI command through SG_IO.  Root in the guest may
# send any command this way, also to a disk that the kernel marks
# read-only, so the command reaches the virtual USB bus and only QEMU's
# read-only filter (or the device) can refuse it.
SGCMD_C = r'''
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <scsi/sg.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    unsigned char cdb[16], sense[32] = { 0 }, *buf;
    sg_io_hdr_t io = { 0 };
    unsigned long len;
    int fd, n, i;

    if (argc < 5 || argc > 6) {
        fprintf(stderr, "usage: sgcmd DISK in|out|none LEN CDB-HEX "
                "[DATA-FILE]\n");
        return 2;
    }
    len = strtoul(argv[3], NULL, 0);
    n = strlen(argv[4]) / 2;
    if (n < 6 || n > 16 || strlen(argv[4]) % 2) {
        return 2;
    }
    for (i = 0; i < n; i++) {
        sscanf(argv[4] + 2 * i, "%2hhx", &cdb[i]);
    }
    buf = calloc(1, len + 1);
    if (argc == 6) {
        int in = open(argv[5], O_RDONLY);

        if (in < 0 || read(in, buf, len) != (ssize_t)len) {
            perror(argv[5]);
            return 2;
        }
    }
    fd = open(argv[1], O_RDONLY);
    if (fd < 0) {
        perror(argv[1]);
        return 2;
    }
    io.interface_id = 'S';
    io.dxfer_direction = !strcmp(argv[2], "in") ? SG_DXFER_FROM_DEV :
                         !strcmp(argv[2], "out") ? SG_DXFER_TO_DEV :
                         SG_DXFER_NONE;
    io.cmd_len = n;
    io.cmdp = cdb;
    io.dxfer_len = io.dxfer_direction == SG_DXFER_NONE ? 0 : len;
    io.dxferp = buf;
    io.mx_sb_len = sizeof(sense);
    io.sbp = sense;
    io.timeout = 20000;
    if (ioctl(fd, SG_IO, &io) < 0) {
        perror("SG_IO");
        return 2;
    }
    printf("SG status=%d host=%d driver=%d sense=%x/%02x/%02x resid=%d "
           "data=", io.status, io.host_status, io.driver_status,
           sense[2] & 0xf, sense[12], sense[13], io.resid);
    for (i = 0; i < 16 && i < (int)len; i++) {
        printf("%02x", buf[i]);
    }
    printf("\n");
    return io.status || io.host_status || io.driver_status ? 1 : 0;
}
'''


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def pattern_image(path, mib):
    """An image whose every 512-byte sector differs (a hash of its
    number), so that a misplaced or stale read shows."""
    with open(path, 'wb') as f:
        for i in range(mib * 2048):
            f.write(hashlib.sha256(b'sector %d' % i).digest() * 16)


def sha256_file(path, offset=0, length=None):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        f.seek(offset)
        left = length if length is not None else 1 << 62
        while left > 0:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                break
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


def _cpio_newc(entries):
    """An uncompressed newc cpio archive of (name, mode, data) entries."""
    out = bytearray()
    ino = 700000
    for name, mode, data in entries + [('TRAILER!!!', 0, b'')]:
        ino += 1
        nb = name.encode() + b'\0'
        hdr = ('070701' + ''.join(f'{v:08x}' for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0)))
        out += hdr.encode() + nb
        out += b'\0' * (-len(out) % 4)
        out += data
        out += b'\0' * (-len(out) % 4)
    return bytes(out)


def guest_initrd(guest, run):
    """The guest's initrd with /bin/sgcmd appended (a second cpio
    archive, which the kernel unpacks over the first), or (None, why)
    when no static binary can be built here."""
    cc = shutil.which('cc') or shutil.which('gcc')
    if not cc:
        return None, 'no C compiler'
    src = os.path.join(run, 'sgcmd.c')
    exe = os.path.join(run, 'sgcmd')
    with open(src, 'w') as f:
        f.write(SGCMD_C)
    r = subprocess.run([cc, '-static', '-Os', '-s', '-o', exe, src],
                       capture_output=True, text=True)
    if r.returncode:
        return None, 'cannot link a static binary: ' + r.stderr[-300:]
    with open(exe, 'rb') as f:
        tool = f.read()
    with open(os.path.join(guest, 'initrd.img'), 'rb') as f:
        base = f.read()
    path = os.path.join(run, 'initrd.img')
    with open(path, 'wb') as f:
        f.write(base)
        f.write(b'\0' * (-len(base) % 4))
        f.write(gzip.compress(_cpio_newc([('bin/sgcmd', 0o100755,
                                           tool)])))
    return path, None


class FakeStick:
    """tests/qtest/vdi-usbredir-msd serving an image on 127.0.0.1."""

    def __init__(self, tool, image, log_path, extra=(), port=0):
        self.log = open(log_path, 'a+')
        self.proc = subprocess.Popen(
            [tool, '--listen', f'127.0.0.1:{port}', *extra, image],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r'listening on (\d+)', line)
        if not m:
            self.close()
            raise RuntimeError(f'fake stick did not start: {line!r} '
                               f'{self.log_text()}')
        self.port = int(m.group(1))

    def log_text(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stats(self, timeout=5):
        """The tool's counters (it prints them on SIGUSR1)."""
        n = self.log_text().count('stats:')
        self.proc.send_signal(10)
        end = time.time() + timeout
        while time.time() < end:
            text = self.log_text()
            if text.count('stats:') > n:
                line = [ln for ln in text.splitlines() if 'stats:' in ln][-1]
                nums = [int(x) for x in re.findall(r'(\d+) ', line)]
                keys = ['commands', 'failed', 'bytes_read', 'write_cmds',
                        'bytes_written', 'resets', 'bad_cbws', 'alt_refused',
                        'guest_descs', 'key_reports']
                return dict(zip(keys, nums))
            time.sleep(0.1)
        return None

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Console:
    """The guest's busybox shell on the serial port (a unix socket)."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = ''
        # a condition, so that run() sees the end marker at once: the
        # benchmark times commands with it
        self.lock = threading.Condition()
        self.seq = 0
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        while True:
            try:
                d = self.sock.recv(4096)
            except OSError:
                return
            if not d:
                return
            with self.lock:
                self.buf += d.decode('utf-8', 'replace')
                self.lock.notify_all()

    def text(self):
        with self.lock:
            return self.buf

    def wait_for(self, pattern, timeout):
        end = time.time() + timeout
        while time.time() < end:
            m = re.search(pattern, self.text())
            if m:
                return m
            time.sleep(0.2)
        return None

    def send(self, line):
        self.sock.sendall(line.encode() + b'\n')

    def run(self, cmd, timeout=30):
        """Run cmd in the guest shell; return (status, output) or
        (None, what was seen) on timeout."""
        self.seq += 1
        start = len(self.text())
        tag = f'{self.seq * 7}'
        # the markers are computed by the shell, so that the echoed
        # command line does not match them
        self.send(f'echo "@@S$(({self.seq} * 7))@@"; {cmd}; '
                  f'echo "@@E$(({self.seq} * 7))@@ $?"')
        end = time.time() + timeout
        pat = re.compile(r'@@S' + tag + r'@@\r?\n(.*)@@E' + tag +
                         r'@@ (\d+)', re.S)
        with self.lock:
            while True:
                m = pat.search(self.buf, start)
                if m:
                    return int(m.group(2)), m.group(1).replace('\r', '')
                left = end - time.time()
                if left <= 0:
                    return None, self.buf[start:]
                self.lock.wait(min(left, 1))


def guest_disks(con):
    """{name: (ro, sectors, model)} of the guest's SCSI disks."""
    rc, out = con.run('for d in /sys/block/sd*; do [ -e "$d" ] && '
                      'echo "DISK ${d##*/} $(cat $d/ro) $(cat $d/size) '
                      '$(cat $d/device/model)"; done; true')
    disks = {}
    for line in (out or '').splitlines():
        m = re.match(r'DISK (sd\w+) (\d) (\d+) (.*)$', line.strip())
        if m:
            disks[m.group(1)] = (int(m.group(2)), int(m.group(3)),
                                 m.group(4).strip())
    return disks


def wait_disk(con, sectors, timeout, ro=None, exclude=()):
    """The name of a disk of @sectors sectors (and read-only flag @ro)
    once the guest has it, or None."""
    end = time.time() + timeout
    while time.time() < end:
        for name, (r, size, _) in guest_disks(con).items():
            if size == sectors and name not in exclude and \
                    (ro is None or r == ro):
                return name
        time.sleep(1)
    return None


def default_paths():
    """This repository's QEMU build and test guest (scripts/build-guest)."""
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(top, 'config.mak'), encoding='utf-8') as f:
        tree = re.search(r'^QEMU_TREE := (.*)$', f.read(), re.M).group(1)
    guest = subprocess.run([os.path.join(top, 'scripts', 'build-guest')],
                           check=True, capture_output=True,
                           text=True).stdout.strip()
    return os.path.join(tree, 'build', 'qemu-system-x86_64'), guest


def msd_tool(qemu):
    """The fake stick built next to @qemu."""
    return os.path.join(os.path.dirname(os.path.abspath(qemu)), 'tests',
                        'qtest', 'vdi-usbredir-msd')


class Guest:
    """The test guest under TCG (q35, qemu-xhci) with a usb-redir device
    "stick" whose chardev connects to the fake stick on @port."""

    def __init__(self, qemu, guest, run, name, port, initrd=None,
                 stopped=False, trace=None):
        self.run_dir = run
        self.con_sock = os.path.join(run, f'{name}-serial.sock')
        self.qmp_sock = os.path.join(run, f'{name}-qmp.sock')
        self.log = open(os.path.join(run, f'{name}-qemu.log'), 'w+')
        cmd = [qemu, '-M', 'q35', '-accel', 'tcg', '-m', '512', '-smp', '1',
               '-kernel', os.path.join(guest, 'vmlinuz'),
               '-initrd', initrd or os.path.join(guest, 'initrd.img'),
               '-append', 'console=ttyS0,115200 quiet panic=-1',
               '-display', 'none', '-vga', 'none', '-nic', 'none',
               '-no-reboot',
               '-chardev',
               f'socket,id=con,path={self.con_sock},server=on,wait=off',
               '-serial', 'chardev:con',
               '-qmp', f'unix:{self.qmp_sock},server=on,wait=off',
               '-device', 'qemu-xhci,id=xhci',
               '-chardev', f'socket,id=usbredir0,host=127.0.0.1,port={port},'
                           'reconnect-ms=500',
               '-device', 'usb-redir,chardev=usbredir0,id=stick,bus=xhci.0']
        if trace:
            cmd += ['-D', os.path.join(run, f'{name}-trace.log'),
                    '-trace', trace]
        if stopped:
            cmd.append('-S')
        self.proc = subprocess.Popen(cmd, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.con = None
        self.qmp = None

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def connect(self, qmp_class):
        """Connect console and QMP; False if QEMU died."""
        for _ in range(100):
            if os.path.exists(self.con_sock) and \
                    os.path.exists(self.qmp_sock):
                break
            if self.proc.poll() is not None:
                return False
            time.sleep(0.1)
        if self.proc.poll() is not None:
            return False
        self.con = Console(self.con_sock)
        self.qmp = qmp_class(self.qmp_sock)
        return True

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()


def mkrun(prefix):
    return tempfile.mkdtemp(prefix=prefix)
