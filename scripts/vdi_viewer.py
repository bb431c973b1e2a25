# SPDX-License-Identifier: GPL-2.0-or-later
"""Run a graphical VNC client under Xvfb with a home of its own.

    from vdi_viewer import start_viewer

gtk-vnc finds the CA and client certificates in ~/.pki, with ~ from the
user's passwd entry, not $HOME.  start_viewer() runs the client in a
private mount namespace where /etc/passwd is a copy giving the user the
home @home (and HOME is @home too), so the checks never touch the real
~/.pki.
"""

import os
import subprocess


def start_viewer(home, argv, log, timeout=30):
    """Start @argv under xvfb-run, at most @timeout seconds, with @home as
    the user's home; its output goes to the open file @log."""
    passwd = os.path.join(home, '.passwd')
    with open('/etc/passwd') as f, open(passwd, 'w') as out:
        for line in f:
            fields = line.rstrip('\n').split(':')
            if len(fields) == 7 and fields[2] == str(os.getuid()):
                fields[5] = home
            out.write(':'.join(fields) + '\n')
    cmd = ['unshare', '-m', 'sh', '-c',
           'mount --bind "$0" /etc/passwd && exec "$@"', passwd,
           'xvfb-run', '-a', 'timeout', str(timeout)] + argv
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL,
                            env=dict(os.environ, HOME=home, NO_AT_BRIDGE='1'))
