# SPDX-License-Identifier: GPL-2.0-or-later
"""A small QMP client over a unix socket, shared by the scripts.

    from vdi_qmp import QMP, QMPError, Unreachable, qmp_once

QMP(path) connects and negotiates capabilities; command() returns a
command's "return" value or raises QMPError; execute() returns the raw
reply.  Events that arrive meanwhile are kept for wait_event().
Connection failures raise Unreachable.
"""

import json
import socket
import time


class Unreachable(Exception):
    """The monitor cannot be reached or closed the connection."""


class QMPError(Exception):
    """A command failed; .error_class and .desc are QMP's."""

    def __init__(self, error):
        self.error_class = error.get('class', 'GenericError')
        self.desc = error.get('desc', '')
        super().__init__(f'{self.error_class}: {self.desc}')


class QMP:
    def __init__(self, path, timeout=30):
        self.path = path
        self.timeout = timeout
        self.events = []
        try:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(path)
            # lines are split here, not by a socket file, which is
            # unusable after one timeout (wait_event's)
            self.buf = b''
            self._read()                            # the greeting
        except (OSError, ValueError) as e:
            self.sock.close()
            raise Unreachable(f'{path}: {e}') from e
        self.command('qmp_capabilities')

    def _read(self):
        while b'\n' not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise Unreachable(f'{self.path}: connection closed')
            self.buf += data
        line, self.buf = self.buf.split(b'\n', 1)
        return json.loads(line)

    def _reply(self):
        while True:
            msg = self._read()
            if 'event' not in msg:
                return msg
            self.events.append(msg)

    def execute(self, name, args=None):
        """The raw reply: a dict with "return" or "error"."""
        try:
            self.sock.sendall(json.dumps({'execute': name,
                                          'arguments': args or {}}).encode()
                              + b'\n')
            return self._reply()
        except (OSError, ValueError) as e:
            raise Unreachable(f'{self.path}: {e}') from e

    def command(self, name, args=None):
        msg = self.execute(name, args)
        if 'error' in msg:
            raise QMPError(msg['error'])
        if 'return' not in msg:
            raise Unreachable(f'{self.path}: not a reply to {name}: {msg}')
        return msg['return']

    def wait_event(self, name, timeout):
        """The first event called @name, or None after @timeout seconds."""
        end = time.monotonic() + timeout
        while True:
            for e in self.events:
                if e['event'] == name:
                    self.events.remove(e)
                    return e
            left = end - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(max(0.1, left))
            try:
                self.events.append(self._read())
            except (socket.timeout, ValueError):
                continue
            finally:
                self.sock.settimeout(self.timeout)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def qmp_once(path, name, args=None, timeout=30):
    """(return value, None) or (None, error text) of one command."""
    try:
        with QMP(path, timeout) as mon:
            return mon.command(name, args), None
    except (Unreachable, QMPError) as e:
        return None, str(e)
