#!/usr/bin/python3
"""Open N keep-alive HTTP connections to one server and hold them open.

Used by scripts/bench.sh to measure the service's resident memory with 10 000 open
keep-alive connections (docs/architecture.md section 6).

Each connection is opened without blocking, sends one
`GET <path> HTTP/1.1` request (keep-alive, the HTTP/1.1 default) and reads the response
fully (status line, headers, Content-Length body). At most --in-flight connections are
connecting or waiting for their response at any time, so the server's listen backlog
never overflows. Once all N are answered with 200 and none was closed, it prints

    ready N

on stdout and holds them open until told to stop: end of file on stdin (unless
--ignore-stdin), SIGTERM or SIGINT. It then closes them all, prints `closed N` and exits.

While holding, a connection the server closes is an error (counted, reported on stderr
and in the exit status): the server is supposed to keep idle connections open.

Exit status: 0 when every connection was answered with 200 and held until the stop;
1 on any failure (a connect error, a non-200 or `Connection: close` response, the server
closing a connection, not ready within --timeout, too low a file-descriptor limit);
2 on a usage error. Standard library only; Debian's /usr/bin/python3 is enough.

Usage: hold_connections.py --port PORT [--host 127.0.0.1] [-n 10000] [--path /health]
                           [--in-flight 256] [--timeout 60] [--ignore-stdin]
"""

import argparse
import errno
import os
import resource
import selectors
import signal
import socket
import sys
import time

CONNECTING, SENDING, READING, HELD = range(4)


class Conn:
    __slots__ = ("sock", "state", "out", "inbuf")

    def __init__(self, sock, request):
        self.sock = sock
        self.state = CONNECTING
        self.out = request
        self.inbuf = b""


def complete_response(buf):
    """Return (status, close) once buf holds one complete response, else None.

    Raises ValueError on a response that cannot be parsed."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        if len(buf) > 65536:
            raise ValueError("response head over 64 KiB")
        return None
    lines = buf[:head_end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ValueError("bad status line: %r" % lines[0][:100])
    length = None
    close = parts[0] == "HTTP/1.0"
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        value = value.strip()
        if name == "content-length":
            length = int(value)
        elif name == "connection":
            close = "close" in value.lower()
        elif name == "transfer-encoding":
            raise ValueError("unexpected Transfer-Encoding: %s" % value)
    if length is None:
        raise ValueError("response without Content-Length")
    if len(buf) < head_end + 4 + length:
        return None
    if len(buf) > head_end + 4 + length:
        raise ValueError("bytes after the response")
    return int(parts[1]), close


def main():
    parser = argparse.ArgumentParser(
        description="Open N keep-alive HTTP connections, send one GET on each, "
                    "read each response, print 'ready N' and hold them until stdin "
                    "closes or SIGTERM/SIGINT.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("-n", "--connections", type=int, default=10000)
    parser.add_argument("--path", default="/health")
    parser.add_argument("--in-flight", type=int, default=256,
                        help="connections connecting or awaiting a response at once")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds allowed to open and answer all connections")
    parser.add_argument("--ignore-stdin", action="store_true",
                        help="stop only on SIGTERM/SIGINT, not on end of file on stdin")
    args = parser.parse_args()
    if not 1 <= args.connections <= 1000000:
        parser.error("-n must be 1..1000000")
    if not 1 <= args.port <= 65535:
        parser.error("--port must be 1..65535")
    if args.in_flight < 1 or args.timeout <= 0:
        parser.error("--in-flight and --timeout must be positive")

    def die(message):
        print("hold_connections: error: " + message, file=sys.stderr, flush=True)
        sys.exit(1)

    n = args.connections
    need = n + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
        if soft < need:
            die("the file-descriptor limit (%d) is below the %d needed; raise ulimit -n"
                % (soft, need))

    stop = []

    def on_signal(signum, _frame):
        stop.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    request = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: hold_connections\r\n\r\n"
               % (args.path, args.host, args.port)).encode("ascii")
    sel = selectors.DefaultSelector()  # epoll on Linux: no FD_SETSIZE limit
    conns = []
    opened = answered = in_flight = 0
    deadline = time.monotonic() + args.timeout

    def close_all():
        for c in conns:
            try:
                c.sock.close()
            except OSError:
                pass

    # --- phase 1: open, ask, read ------------------------------------------------
    try:
        while answered < n:
            if stop:
                close_all()
                die("stopped by signal %d before all connections were ready "
                    "(%d of %d answered)" % (stop[0], answered, n))
            while opened < n and in_flight < args.in_flight:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                rc = s.connect_ex((args.host, args.port))
                if rc not in (0, errno.EINPROGRESS):
                    s.close()
                    close_all()
                    die("connect %d failed: %s" % (opened + 1, os.strerror(rc)))
                c = Conn(s, request)
                conns.append(c)
                sel.register(s, selectors.EVENT_WRITE, c)
                opened += 1
                in_flight += 1
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                close_all()
                die("only %d of %d connections answered within %.0f s (%d opened)"
                    % (answered, n, args.timeout, opened))
            for key, _events in sel.select(min(remaining, 0.5)):
                c = key.data
                if c.state == CONNECTING:
                    err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        close_all()
                        die("connect failed after %d answered: %s" % (answered, os.strerror(err)))
                    c.state = SENDING
                if c.state == SENDING:
                    try:
                        sent = c.sock.send(c.out)
                    except BlockingIOError:
                        continue
                    c.out = c.out[sent:]
                    if not c.out:
                        c.state = READING
                        sel.modify(c.sock, selectors.EVENT_READ, c)
                    continue
                if c.state == READING:
                    try:
                        data = c.sock.recv(65536)
                    except BlockingIOError:
                        continue
                    if not data:
                        close_all()
                        die("the server closed a connection before answering it "
                            "(%d of %d answered)" % (answered, n))
                    c.inbuf += data
                    try:
                        done = complete_response(c.inbuf)
                    except ValueError as e:
                        close_all()
                        die("bad response: %s" % e)
                    if done is None:
                        continue
                    status, close = done
                    if status != 200 or close:
                        close_all()
                        die("connection %d got status %d%s: %r"
                            % (answered + 1, status, ", Connection: close" if close else "",
                               c.inbuf[:300]))
                    c.state = HELD
                    c.inbuf = b""
                    answered += 1
                    in_flight -= 1
                    # Still watched: readable while held means the server closed it.
                    continue
                # HELD and readable: the server closed it (or sent something unasked).
                try:
                    data = c.sock.recv(4096)
                except OSError:
                    data = b""
                close_all()
                die("the server %s an answered connection while the others were opening "
                    "(%d of %d answered)"
                    % ("closed" if not data else "wrote unasked to", answered, n))
    except OSError as e:
        close_all()
        die("%s (after %d of %d answered)" % (e, answered, n))

    print("ready %d" % n, flush=True)

    # --- phase 2: hold until stdin closes or a signal --------------------------------
    watch_stdin = not args.ignore_stdin
    if watch_stdin:
        try:
            sel.register(sys.stdin.fileno(), selectors.EVENT_READ, None)
        except (ValueError, OSError):
            watch_stdin = False  # stdin closed or not selectable: signals only
    closed_by_server = 0
    while not stop:
        for key, _events in sel.select(0.5):
            if key.data is None:  # stdin
                if not os.read(key.fd, 4096):
                    stop.append(0)
                continue
            c = key.data
            try:
                data = c.sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                closed_by_server += 1
                sel.unregister(c.sock)
            # (anything else would be an unsolicited response: ignored)

    close_all()
    print("closed %d" % n, flush=True)
    if closed_by_server:
        print("hold_connections: error: the server closed %d of the %d held connections"
              % (closed_by_server, n), file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
