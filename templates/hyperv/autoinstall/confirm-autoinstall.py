#!/usr/bin/python3
"""Answer subiquity's "Continue with autoinstall? (yes|no)" from inside the live installer.

labctl delivers the autoinstall configuration on a NoCloud seed (a CIDATA disc). Subiquity
accepts it, but unless the word "autoinstall" is on the kernel command line it stops before
touching the disk and waits for someone to type "yes" on the console. labctl cannot put the
word there without rebuilding the Ubuntu ISO (see user-data for the options weighed).

So this script, started by an early-command and left running in the background, asks the
installer's own API on its Unix socket for the state, and when the state is
NEEDS_CONFIRMATION sends the same POST /meta/confirm that the console client sends when a
person answers "yes". It only ever confirms that state; it never fails the install: on any
error it keeps polling, and after the deadline it gives up, so the worst case is the old
behaviour (the prompt waits), which labctl's install-phase diagnosis then names.

Usage: confirm-autoinstall.py [LOG] [SOCKET] [INTERVAL_SECONDS] [DEADLINE_SECONDS]
"""

import http.client
import json
import socket
import sys
import time

LOG = sys.argv[1] if len(sys.argv) > 1 else "/dev/ttyS0"
SOCKET = sys.argv[2] if len(sys.argv) > 2 else "/run/subiquity/socket"
INTERVAL = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
DEADLINE = float(sys.argv[4]) if len(sys.argv) > 4 else 3 * 3600.0
FINISHED = {"RUNNING", "WAITING_FOR_POST", "POST_WAIT", "POST_RUNNING", "UU_RUNNING", "UU_CANCELLING", "DONE", "ERROR", "EXITED"}


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def log(message):
    try:
        with open(LOG, "a") as out:
            out.write("labctl-confirm: %s\n" % message)
    except OSError:
        pass


def call(method, path):
    conn = UnixConnection(SOCKET)
    try:
        conn.request(method, path, headers={"Content-Length": "0"})
        response = conn.getresponse()
        body = response.read()
        return response.status, body
    finally:
        conn.close()


def state():
    status, body = call("GET", "/meta/status")
    if status != 200:
        raise RuntimeError("GET /meta/status answered %d" % status)
    return json.loads(body.decode("utf-8")).get("state")


def main():
    end = time.monotonic() + DEADLINE
    last = None
    while time.monotonic() < end:
        try:
            current = state()
            if current != last:
                log("installer state %s" % current)
                last = current
            if current == "NEEDS_CONFIRMATION":
                # the argument is JSON in the query string, as subiquity's client sends it
                status, _ = call("POST", "/meta/confirm?tty=%22%2Fdev%2Fconsole%22")
                log("confirmed the install (HTTP %d)" % status)
            elif current in FINISHED:
                log("nothing left to confirm")
                return 0
        except Exception as error:  # the installer restarts its server; keep trying
            if last != "unreachable":
                log("installer API not answering yet: %s" % error)
                last = "unreachable"
        time.sleep(INTERVAL)
    log("gave up after %d s" % DEADLINE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
