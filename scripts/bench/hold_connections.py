#!/usr/bin/python3
"""Open N keep-alive HTTP connections to one server and hold them open.

Used by scripts/bench.sh to measure the service's resident memory with 10 000 open
keep-alive connections that have carried traffic (the performance goals).

Each connection is opened without blocking and sends a sequence of requests, one at a
time (keep-alive, the HTTP/1.1 default), reading each response fully (status line,
headers, Content-Length body) and checking its status before sending the next. The
sequence is one `GET --path` expecting 200 unless --sequence gives another, e.g.

    --sequence 'POST /metrics?analysis=true 202, GET /metrics 200' --samples 60

A POST carries a JSON array of --samples samples `{"cpu": .., "rps": ..}` (no
timestamp: the server uses its receive time; the values follow the fixed pattern of
post_metrics.lua, continued across connections, so each connection sends other values)
with `Content-Type: application/json`, and its answer must contain
`"accepted":<samples>`. At most --in-flight connections are connecting or in their
sequence at any time, so the server's listen backlog never overflows. Once all N have
finished their sequence and none was closed, it prints

    ready N requests=R bytes_in=B seconds=S

on stdout (R requests answered, B response bytes read, S seconds since the start) and
holds them open until told to stop: end of file on stdin (unless --ignore-stdin),
SIGTERM or SIGINT. It then closes them all, prints `closed N` and exits.

While holding, a connection the server closes is an error (counted, reported on stderr
and in the exit status): the server is supposed to keep idle connections open.

Exit status: 0 when every request of every connection got its expected status and all
were held until the stop; 1 on any failure (a connect error, an unexpected status or a
`Connection: close` response, a POST answer without the accepted count, the server
closing a connection, not ready within --timeout, too low a file-descriptor limit);
2 on a usage error. Standard library only; Debian's /usr/bin/python3 is enough.

Usage: hold_connections.py --port PORT [--host 127.0.0.1] [-n 10000] [--path /health]
                           [--sequence 'METHOD PATH STATUS, ...'] [--samples 60]
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
    __slots__ = ("sock", "index", "step", "state", "out", "inbuf")

    def __init__(self, sock, index, request):
        self.sock = sock
        self.index = index  # 0-based connection number
        self.step = 0  # index into the sequence of the request in progress
        self.state = CONNECTING
        self.out = request
        self.inbuf = b""


def parse_sequence(text):
    """'METHOD PATH [STATUS], ...' -> [(method, path, status)]; ValueError if malformed."""
    steps = []
    for item in text.split(","):
        words = item.split()
        if not 2 <= len(words) <= 3:
            raise ValueError("each step is 'METHOD PATH [STATUS]', got %r" % item.strip())
        method, path = words[0].upper(), words[1]
        if method not in ("GET", "POST"):
            raise ValueError("only GET and POST are supported, got %r" % words[0])
        if not path.startswith("/"):
            raise ValueError("a path starts with '/', got %r" % path)
        status = 200
        if len(words) == 3:
            if not (words[2].isdigit() and 100 <= int(words[2]) <= 599):
                raise ValueError("a status is 100..599, got %r" % words[2])
            status = int(words[2])
        steps.append((method, path, status))
    return steps


def samples_body(first, count):
    """A JSON array of `count` samples; sample i = first.. follows post_metrics.lua's
    pattern (cpu 20.0..79.9 stepping by 0.7 modulo 60, rps 1000..1500 by 13 modulo 501)."""
    return ("[" + ",".join(
        '{"cpu":%.1f,"rps":%d}' % (20 + ((i * 7) % 600) / 10, 1000 + (i * 13) % 501)
        for i in range(first, first + count)) + "]").encode("ascii")


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
        description="Open N keep-alive HTTP connections, send a sequence of requests on "
                    "each (one GET --path by default), read each response, print "
                    "'ready N ...' and hold them until stdin closes or SIGTERM/SIGINT.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("-n", "--connections", type=int, default=10000)
    parser.add_argument("--path", default="/health",
                        help="the one GET (expecting 200) when --sequence is not given")
    parser.add_argument("--sequence",
                        help="requests sent in turn on each connection, comma-separated "
                             "'METHOD PATH [STATUS]' (GET or POST; STATUS expected, "
                             "default 200), e.g. 'POST /metrics?analysis=true 202, "
                             "GET /metrics 200'")
    parser.add_argument("--samples", type=int, default=60,
                        help="samples in the JSON array each POST sends (default 60)")
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
    if not 1 <= args.samples <= 100000:
        parser.error("--samples must be 1..100000")
    try:
        steps = parse_sequence(args.sequence if args.sequence is not None
                               else "GET %s 200" % args.path)
    except ValueError as e:
        parser.error("--sequence: %s" % e)

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

    head = "%%s %%s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: hold_connections\r\n" % (
        args.host, args.port)
    accepted = b'"accepted":%d' % args.samples

    def request(index, step):
        """The request of `step` for connection `index`."""
        method, path, _status = steps[step]
        if method == "GET":
            return (head % (method, path) + "\r\n").encode("ascii")
        body = samples_body(index * args.samples, args.samples)
        return (head % (method, path) + "Content-Type: application/json\r\n"
                "Content-Length: %d\r\n\r\n" % len(body)).encode("ascii") + body

    sel = selectors.DefaultSelector()  # epoll on Linux: no FD_SETSIZE limit
    conns = []
    opened = answered = in_flight = 0
    requests_done = bytes_in = 0
    started = time.monotonic()
    deadline = started + args.timeout

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
                c = Conn(s, opened, request(opened, 0))
                conns.append(c)
                sel.register(s, selectors.EVENT_WRITE, c)
                opened += 1
                in_flight += 1
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                close_all()
                die("only %d of %d connections answered (whole sequence) within %.0f s "
                    "(%d opened)"
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
                    method, path, expected = steps[c.step]
                    if status != expected or close:
                        close_all()
                        die("connection %d: %s %s got status %d (expected %d)%s: %r"
                            % (c.index + 1, method, path, status, expected,
                               ", Connection: close" if close else "", c.inbuf[:300]))
                    if method == "POST" and accepted not in c.inbuf:
                        close_all()
                        die("connection %d: the answer to %s %s lacks %s: %r"
                            % (c.index + 1, method, path, accepted.decode(), c.inbuf[:300]))
                    requests_done += 1
                    bytes_in += len(c.inbuf)
                    c.inbuf = b""
                    c.step += 1
                    if c.step < len(steps):  # the next request of its sequence
                        c.out = request(c.index, c.step)
                        c.state = SENDING
                        sel.modify(c.sock, selectors.EVENT_WRITE, c)
                        continue
                    c.state = HELD
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

    print("ready %d requests=%d bytes_in=%d seconds=%.1f"
          % (n, requests_done, bytes_in, time.monotonic() - started), flush=True)

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
