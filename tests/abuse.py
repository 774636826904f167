#!/usr/bin/env python3
"""The abuse suite: hostile bodies to every method of a real server, over raw HTTP/2.

    python3 tests/abuse.py --binary target/debug/reestr [--seed N] [--timeout SECONDS]

It starts `reestr serve` on a fresh temporary data directory and a free port of 127.0.0.1,
waits until health answers SERVING, finds every method of the `reestr.v1.*` services through
the reflection protocol, and sends each method, anonymously and with the administrator's
token, bodies that are not a valid request: a frame of 0xff bytes, a frame whose length prefix
announces more bytes than follow, no body at all, an empty DATA frame, frames of random bytes
and frames of random well-formed protobuf (from a seeded RNG; the seed is printed, `--seed`
replays it). Calls go one at a time, round-robin over a few long-lived connections.

Every answer must carry a gRPC status other than INTERNAL and UNKNOWN (a watch, which never
ends by itself, may instead answer with its response headers: see ENDLESS_METHODS), no
connection may be
dropped, the server must log nothing at ERROR, and health must answer SERVING within a second:
between the methods, every 200 ms beside the calls on a connection of its own, and at the end
on every connection. The counts by status are printed; any violation makes the exit status 1.
The server is stopped at the end, also on failure, and the whole run is bounded by `--timeout`.

Rate limits are lifted (through their environment variables) so that every call reaches the
server's decoding and authentication; the rate limiters have tests of their own.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field


def ensure_h2():
    """Imports the `h2` package, installing it from PyPI first if it is missing."""
    try:
        import h2  # noqa: F401
    except ImportError:
        env = dict(os.environ, PIP_ROOT_USER_ACTION="ignore", PIP_DISABLE_PIP_VERSION_CHECK="1")
        pip = [sys.executable, "-m", "pip", "install", "--quiet"]
        if subprocess.run(pip + ["h2"], env=env).returncode != 0:
            # A system Python that refuses global installs (PEP 668): install for this user.
            subprocess.run(pip + ["--user", "--break-system-packages", "h2"], env=env, check=True)
        import site
        import importlib

        importlib.invalidate_caches()
        if site.getusersitepackages() not in sys.path:
            sys.path.append(site.getusersitepackages())


ensure_h2()

import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402
import h2.exceptions  # noqa: E402

CODE_NAMES = [
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
]
FORBIDDEN = {2: "UNKNOWN", 13: "INTERNAL"}
HEALTH = "/grpc.health.v1.Health/Check"
REFLECTION = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
SERVING = 1
CALL_TIMEOUT = 10.0

# Streams that do not end by themselves (a watch goes on until the client leaves): for these an
# answer is either a gRPC status, or response headers with HTTP 200 and no status yet, after
# which the suite cancels the stream (RST_STREAM CANCEL) and counts the call as OK.
ENDLESS_METHODS = {"/reestr.v1.ChangeService/WatchChanges"}
HEALTH_TIMEOUT = 1.0
GET_ORGANIZATION = "/reestr.v1.OrganizationService/GetOrganization"
# The stalled-client phase: connections x streams that send headers and never a body.
STALL_CONNECTIONS = 6
STALL_STREAMS = 200
STALL_PROBES = 20
STALL_FIRST_MESSAGE_TIMEOUT = 2


def code_name(code: int | None) -> str:
    if code is None:
        return "MISSING"
    return CODE_NAMES[code] if 0 <= code < len(CODE_NAMES) else f"CODE_{code}"


class Violation(Exception):
    """Something the server must never do, of a kind ("connection dropped", ...)."""

    def __init__(self, message: str, kind: str = "setup"):
        super().__init__(message)
        self.kind = kind


class Timeout(Exception):
    """The overall time of the run is up."""


class Stopped(Exception):
    """The run was told to stop (SIGTERM)."""


# ---- protobuf, as much as the suite needs -------------------------------------------------


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def string_field(number: int, value: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(value)) + value


def fields(data: bytes):
    """Yields (number, value) of a protobuf message: ints for varints, bytes otherwise."""
    i = 0

    def read_varint():
        nonlocal i
        shift = result = 0
        while True:
            byte = data[i]
            i += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7

    while i < len(data):
        key = read_varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            yield number, read_varint()
        elif wire == 1:
            yield number, data[i:i + 8]
            i += 8
        elif wire == 2:
            length = read_varint()
            yield number, data[i:i + length]
            i += length
        elif wire == 5:
            yield number, data[i:i + 4]
            i += 4
        else:
            raise ValueError(f"wire type {wire} in a descriptor")


def grpc_frame(message: bytes) -> bytes:
    return b"\x00" + len(message).to_bytes(4, "big") + message


def grpc_messages(data: bytes) -> list[bytes]:
    out = []
    while len(data) >= 5:
        length = int.from_bytes(data[1:5], "big")
        out.append(data[5:5 + length])
        data = data[5 + length:]
    return out


# ---- raw HTTP/2 ---------------------------------------------------------------------------


@dataclass
class Answer:
    http: int | None = None
    code: int | None = None
    message: str = ""
    data: bytes = b""
    reset: int | None = None


@dataclass
class Connection:
    """One HTTP/2 connection, one call at a time."""

    addr: tuple[str, int]
    name: str
    calls: int = 0
    sock: socket.socket = field(init=False)
    h2: h2.connection.H2Connection = field(init=False)

    def __post_init__(self):
        self.sock = socket.create_connection(self.addr, timeout=5)
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.h2 = h2.connection.H2Connection(config=config)
        self.h2.initiate_connection()
        self.flush()

    def flush(self):
        data = self.h2.data_to_send()
        if data:
            self.sock.sendall(data)

    def close(self):
        try:
            self.h2.close_connection()
            self.flush()
        except (OSError, h2.exceptions.ProtocolError):
            pass
        self.sock.close()

    def call(self, path: str, metadata: list[tuple[str, str]], body: bytes | None,
             timeout: float = CALL_TIMEOUT) -> Answer:
        """Sends HEADERS, then `body` in one DATA frame with END_STREAM (`None`: END_STREAM
        on the HEADERS), and reads the answer. A closed connection raises `Violation`."""
        self.calls += 1
        headers = [
            (":method", "POST"), (":scheme", "http"), (":path", path),
            (":authority", f"{self.addr[0]}:{self.addr[1]}"),
            ("content-type", "application/grpc"), ("te", "trailers"),
        ] + metadata
        try:
            return self._exchange(path, headers, body, timeout)
        except OSError as err:
            raise Violation(f"{self.name}: connection dropped during {path}: {err}",
                            "connection dropped")
        except h2.exceptions.ProtocolError as err:
            raise Violation(f"{self.name}: HTTP/2 protocol error during {path}: {err!r}",
                            "protocol error")

    def _exchange(self, path, headers, body, timeout) -> Answer:
        stream = self.h2.get_next_available_stream_id()
        self.h2.send_headers(stream, headers, end_stream=body is None)
        if body is not None:
            self.h2.send_data(stream, body, end_stream=True)
        self.flush()
        answer = Answer()
        data = bytearray()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Violation(f"{self.name}: no answer to {path} within {timeout:.0f} s",
                                "no answer in time")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise Violation(f"{self.name}: connection closed by the server during {path}",
                                "connection dropped")
            for event in self.h2.receive_data(chunk):
                if isinstance(event, h2.events.ConnectionTerminated):
                    raise Violation(
                        f"{self.name}: GOAWAY during {path} (error {event.error_code})",
                        "connection dropped")
                if getattr(event, "stream_id", None) != stream:
                    continue
                if isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                    for name, value in event.headers:
                        if name == ":status":
                            answer.http = int(value)
                        elif name == "grpc-status":
                            answer.code = int(value)
                        elif name == "grpc-message":
                            answer.message = urllib.parse.unquote(value)
                    if (path in ENDLESS_METHODS and isinstance(event, h2.events.ResponseReceived)
                            and answer.http == 200 and answer.code is None
                            and not event.stream_ended):
                        # A watch that began: leave it, as a client would.
                        self.h2.reset_stream(stream, error_code=8)
                        self.flush()
                        answer.code = 0
                        answer.data = bytes(data)
                        return answer
                elif isinstance(event, h2.events.DataReceived):
                    data += event.data
                    self.h2.acknowledge_received_data(event.flow_controlled_length, stream)
                elif isinstance(event, h2.events.StreamReset):
                    answer.reset = event.error_code
                    answer.data = bytes(data)
                    self.flush()
                    return answer
                elif isinstance(event, h2.events.StreamEnded):
                    answer.data = bytes(data)
                    self.flush()
                    return answer
            self.flush()

    def health(self) -> float:
        """Health/Check of the whole server: SERVING within a second, or `Violation`."""
        started = time.monotonic()
        try:
            answer = self.call(HEALTH, [], grpc_frame(b""), timeout=HEALTH_TIMEOUT)
        except Violation as err:
            if err.kind == "no answer in time":
                err.kind = "health"
            raise
        took = time.monotonic() - started
        status = None
        for message in grpc_messages(answer.data):
            status = dict(fields(message)).get(1, 0)
        if answer.code != 0 or status != SERVING:
            raise Violation(f"{self.name}: health answered {code_name(answer.code)} "
                            f"{answer.message!r}, serving status {status}", "health")
        return took


# ---- the server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent():
    """In the server's process: SIGKILL it if this script dies without stopping it (Linux)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Server:
    def __init__(self, binary: str, workdir: str):
        self.data_dir = os.path.join(workdir, "data")
        self.log_path = os.path.join(workdir, "server.log")
        self.terminated = False  # stopped by SIGTERM, not gone before
        self.port = free_port()
        self.addr = ("127.0.0.1", self.port)
        # The server is configured here alone: no REESTR_* variable of the caller's (a
        # database URL, say) reaches it.
        env = {k: v for k, v in os.environ.items() if not k.startswith("REESTR_")}
        env.update({
            "REESTR_RATE_LIMIT_PER_SECOND": "0",
            "REESTR_ANONYMOUS_RATE_LIMIT_PER_SECOND": "0",
            "REESTR_SHUTDOWN_GRACE": "2s",
            "REESTR_FIRST_MESSAGE_TIMEOUT": f"{STALL_FIRST_MESSAGE_TIMEOUT}s",
            "RUST_LOG": "info",
        })
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [binary, "--log-format", "json", "serve", "--data-dir", self.data_dir,
             "--listen", f"127.0.0.1:{self.port}"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True, preexec_fn=die_with_parent,
        )
        print(f"server: pid {self.process.pid}, 127.0.0.1:{self.port}, data {self.data_dir}")

    def alive(self):
        if self.process.poll() is not None:
            raise Violation(f"the server exited with status {self.process.returncode}",
                            "server exit")

    def wait_serving(self, within: float = 60.0) -> Connection:
        deadline = time.monotonic() + within
        last = "no answer"
        while time.monotonic() < deadline:
            self.alive()
            conn = None
            try:
                conn = Connection(self.addr, "health")
                conn.health()
                return conn
            except (OSError, Violation, h2.exceptions.ProtocolError) as err:
                last = str(err)
                if conn is not None:
                    conn.sock.close()
                time.sleep(0.1)
        raise Violation(f"health did not answer SERVING within {within:.0f} s: {last}",
                        "start")

    def admin_token(self) -> str:
        with open(os.path.join(self.data_dir, "admin.token")) as f:
            return f.read().strip()

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.terminated = True
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode

    def log_lines(self) -> list[str]:
        with open(self.log_path, errors="replace") as f:
            return f.read().splitlines()

    def error_lines(self) -> list[str]:
        out = []
        for line in self.log_lines():
            try:
                level = json.loads(line).get("level")
            except ValueError:
                level = "ERROR" if " ERROR " in line else None
            if level == "ERROR":
                out.append(line)
        return out


# ---- reflection ---------------------------------------------------------------------------


@dataclass
class Method:
    path: str
    client_streaming: bool
    server_streaming: bool

    @property
    def kind(self) -> str:
        return {
            (False, False): "unary", (False, True): "server-streaming",
            (True, False): "client-streaming", (True, True): "bidi-streaming",
        }[(self.client_streaming, self.server_streaming)]


def reflect(conn: Connection, package: str = "reestr.v1") -> list[Method]:
    """Every method of the services of `package`, through grpc.reflection.v1."""
    try:
        return _reflect(conn, package)
    except (ValueError, IndexError, KeyError, UnicodeDecodeError) as err:
        raise Violation(f"reflection answered what is no descriptor: {err!r}", "reflection")


def _reflect(conn: Connection, package: str) -> list[Method]:
    answer = conn.call(REFLECTION, [], grpc_frame(string_field(7, b"")))
    if answer.code != 0:
        raise Violation(f"reflection list_services: {code_name(answer.code)} {answer.message}",
                        "reflection")
    services = []
    for message in grpc_messages(answer.data):
        for number, value in fields(message):
            if number == 6:  # list_services_response
                for n, service in fields(value):
                    if n == 1:
                        name = dict(fields(service))[1].decode()
                        if name.startswith(package + "."):
                            services.append(name)
    if not services:
        raise Violation(f"reflection lists no service of {package}", "reflection")
    body = b"".join(grpc_frame(string_field(4, s.encode())) for s in services)
    answer = conn.call(REFLECTION, [], body)
    if answer.code != 0:
        raise Violation(f"reflection file_containing_symbol: {code_name(answer.code)} "
                        f"{answer.message}", "reflection")
    found: dict[str, list[Method]] = {}
    for message in grpc_messages(answer.data):
        for number, value in fields(message):
            if number == 7:  # error_response
                raise Violation(f"reflection error: {dict(fields(value))}", "reflection")
            if number != 4:  # file_descriptor_response
                continue
            for n, file_bytes in fields(value):
                if n != 1:
                    continue
                descriptor = list(fields(file_bytes))
                pkg = next((v.decode() for k, v in descriptor if k == 2), "")
                for k, service_bytes in descriptor:
                    if k != 6:
                        continue
                    service = list(fields(service_bytes))
                    full = f"{pkg}.{next(v.decode() for k2, v in service if k2 == 1)}"
                    methods = []
                    for k2, method_bytes in service:
                        if k2 == 2:
                            m = dict(fields(method_bytes))
                            methods.append(Method(f"/{full}/{m[1].decode()}",
                                                  bool(m.get(5, 0)), bool(m.get(6, 0))))
                    found[full] = methods
    missing = [s for s in services if not found.get(s)]
    if missing:
        raise Violation(f"reflection gave no methods of {missing}", "reflection")
    for service in services:
        print(f"  {service}: {len(found[service])} methods")
    return [m for s in services for m in found[s]]


# ---- the suite ----------------------------------------------------------------------------


def random_message(rng: random.Random, depth: int = 0) -> bytes:
    """Well-formed protobuf of random fields: small field numbers, any wire type, values that
    may be huge, negative, empty, not UTF-8 or messages themselves."""
    out = bytearray()
    for _ in range(rng.randint(1, 6)):
        number = rng.randint(1, 12)
        wire = rng.choice((0, 0, 2, 2, 2, 1, 5))
        out += varint(number << 3 | wire)
        if wire == 0:
            out += varint(rng.choice((0, 1, rng.getrandbits(7), rng.getrandbits(64))))
        elif wire == 1:
            out += rng.randbytes(8)
        elif wire == 5:
            out += rng.randbytes(4)
        else:
            kind = rng.randrange(4)
            if kind == 0 and depth < 3:
                value = random_message(rng, depth + 1)
            elif kind == 1:
                value = rng.randbytes(rng.randint(0, 40))
            elif kind == 2:
                value = rng.choice((b"organizations/", b"systems/", b"classifiers/x/versions/",
                                    b"tokens/", b"")) + rng.randbytes(rng.randint(0, 8))
            else:
                value = bytes(rng.choice(b"abcxyz-_/*0123456789 =:\"\\")
                              for _ in range(rng.randint(0, 24)))
            out += varint(len(value)) + value
    return bytes(out)


def bodies(rng: random.Random) -> list[tuple[str, bytes | None]]:
    """The bodies each method is sent, by name."""
    truncated = b"\x00" + (64).to_bytes(4, "big") + b"\x0a\x03abc"
    out = [
        ("garbage", grpc_frame(b"\xff" * 8)),
        ("truncated", truncated),
        ("no-body", None),
        ("empty-data", b""),
    ]
    for i in range(3):
        size = rng.randint(1, 96)
        out.append((f"random-{i}", grpc_frame(rng.randbytes(size))))
    for i in range(3):
        out.append((f"fields-{i}", grpc_frame(random_message(rng))))
    return out


class Report:
    """The violations of a run, by kind, and the counts of the answers."""

    def __init__(self):
        self.violations: dict[str, list[str]] = collections.defaultdict(list)
        self.by_code: collections.Counter = collections.Counter()
        self.by_body: dict[str, collections.Counter] = collections.defaultdict(
            collections.Counter)
        self.by_kind: dict[str, collections.Counter] = collections.defaultdict(
            collections.Counter)
        self.by_caller: dict[str, collections.Counter] = collections.defaultdict(
            collections.Counter)

    def violation(self, kind: str, text: str):
        self.violations[kind].append(text)

    def answer(self, method: Method, body: str, caller: str, answer: Answer):
        name = code_name(answer.code)
        self.by_code[name] += 1
        self.by_body[body][name] += 1
        self.by_kind[method.kind][name] += 1
        self.by_caller[caller][name] += 1
        where = f"{method.path} ({body}, {caller})"
        if answer.code is None:
            self.violation("status missing",
                           f"{where}: HTTP {answer.http}, RST_STREAM {answer.reset}")
        elif answer.code in FORBIDDEN:
            self.violation(FORBIDDEN[answer.code], f"{where}: {answer.message!r}")

    def print_counts(self):
        print("by status:")
        for name, count in self.by_code.most_common():
            print(f"  {name:<20} {count}")
        for title, table in (("by body", self.by_body), ("by caller", self.by_caller),
                             ("by method kind", self.by_kind)):
            print(f"{title}:")
            for key, counter in table.items():
                row = ", ".join(f"{n} {c}" for n, c in counter.most_common())
                print(f"  {key:<20} {row}")

    def print_violations(self, shown: int = 5):
        total = sum(len(v) for v in self.violations.values())
        print(f"\nFAILED: {total} violations")
        for kind, texts in self.violations.items():
            print(f"  {kind}: {len(texts)}")
            for text in texts[:shown]:
                print(f"    {text}")
            if len(texts) > shown:
                print(f"    … and {len(texts) - shown} more")


class Prober(threading.Thread):
    """Health/Check on a connection of its own every 200 ms while the calls run, so a server
    that stalls in the middle of a call is seen too."""

    def __init__(self, server: Server, report: Report):
        super().__init__(name="health prober", daemon=True)
        self.server, self.report = server, report
        self.stopping = threading.Event()
        self.checks = 0
        self.worst = 0.0
        self.conn: Connection | None = None

    def run(self):
        while not self.stopping.wait(0.2):
            try:
                if self.conn is None:
                    self.conn = Connection(self.server.addr, "health prober")
                self.worst = max(self.worst, self.conn.health())
                self.checks += 1
            except (Violation, OSError, h2.exceptions.ProtocolError) as err:
                self.report.violation(getattr(err, "kind", "health"), f"while calls ran: {err}")
                if self.conn is not None:
                    self.conn.sock.close()
                self.conn = None

    def stop(self):
        self.stopping.set()
        self.join(timeout=5)
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def stalled_streams(addr, probe: "Connection", admin: list[tuple[str, str]], report) -> str:
    """Opens STALL_CONNECTIONS connections with STALL_STREAMS anonymous GetOrganization
    streams each that send their headers and never a body; while they are open, times
    STALL_PROBES health checks and administrator GetOrganization calls on `probe`; then
    requires every stalled stream to be ended by the server. Returns the summary line."""
    stalls = []
    for i in range(STALL_CONNECTIONS):
        conn = Connection(addr, f"stall {i}")
        for _ in range(STALL_STREAMS):
            stream = conn.h2.get_next_available_stream_id()
            conn.h2.send_headers(stream, [
                (":method", "POST"), (":scheme", "http"), (":path", GET_ORGANIZATION),
                (":authority", f"{addr[0]}:{addr[1]}"),
                ("content-type", "application/grpc"), ("te", "trailers"),
            ], end_stream=False)
        conn.flush()
        stalls.append(conn)
    time.sleep(0.3)
    health_ms, get_ms = [], []
    request = grpc_frame(string_field(1, b"organizations/no-such-one"))
    for _ in range(STALL_PROBES):
        health_ms.append(probe.health() * 1000)
        started = time.monotonic()
        answer = probe.call(GET_ORGANIZATION, admin, request)
        get_ms.append((time.monotonic() - started) * 1000)
        if answer.code != 5:
            report.violation("stall", f"GetOrganization answered {code_name(answer.code)} "
                             f"{answer.message!r} beside the stalled streams")
    for name, values in (("health", health_ms), ("GetOrganization", get_ms)):
        if max(values) > HEALTH_TIMEOUT * 1000:
            report.violation("stall", f"{name} took {max(values):.0f} ms beside stalled streams")
    codes = collections.Counter()
    deadline = time.monotonic() + STALL_FIRST_MESSAGE_TIMEOUT + 10
    for conn in stalls:
        pending = set(range(1, 2 * STALL_STREAMS, 2))
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                report.violation("stall", f"{conn.name}: {len(pending)} stalled streams "
                                 "were never ended by the server")
                break
            conn.sock.settimeout(left)
            try:
                chunk = conn.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                report.violation("stall", f"{conn.name}: connection closed")
                break
            for event in conn.h2.receive_data(chunk):
                if isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                    for header, value in event.headers:
                        if header == "grpc-status":
                            codes[code_name(int(value))] += 1
                elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                    pending.discard(event.stream_id)
            conn.flush()
        conn.close()
    bad = {k: v for k, v in codes.items() if k in FORBIDDEN.values()}
    if bad:
        report.violation("stall", f"stalled streams ended {bad}")

    def spread(values):
        values = sorted(values)
        return f"median {values[len(values) // 2]:.1f} ms, max {values[-1]:.1f} ms"

    return (f"{STALL_CONNECTIONS} x {STALL_STREAMS} stalled anonymous streams: health "
            f"{spread(health_ms)}; GetOrganization {spread(get_ms)}; the streams ended "
            f"{dict(sorted(codes.items()))}")


def run(args) -> int:
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    print(f"abuse suite: binary {args.binary}, seed {seed} (replay with --seed {seed})")
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="reestr-abuse-")
    server = Server(args.binary, workdir)
    report = Report()
    opened: list[Connection] = []

    def connect(name: str) -> Connection:
        conn = Connection(server.addr, name)
        opened.append(conn)
        return conn

    def check_health(conn: Connection, when: str) -> Connection:
        """Health on `conn`; a new connection in its place if it failed."""
        nonlocal health_checks, health_worst
        try:
            health_worst = max(health_worst, conn.health())
            health_checks += 1
            return conn
        except Violation as err:
            report.violation(err.kind, f"{when}: {err}")
            server.alive()
            return connect(conn.name + " (again)")

    health_checks = 0
    health_worst = 0.0
    prober: Prober | None = None
    exit_status = None
    try:
        health = server.wait_serving()
        opened.append(health)
        print(f"serving after {time.monotonic() - started:.1f} s")
        token = server.admin_token()
        callers = {"anonymous": [], "admin": [("authorization", f"Bearer {token}")]}
        methods = reflect(health)
        print(f"{len(methods)} methods found by reflection")
        connections = [connect(f"connection {i}") for i in range(3)]
        prober = Prober(server, report)
        prober.start()
        calls = 0
        for index, method in enumerate(methods):
            slot = index % len(connections)
            for body_name, body in bodies(rng):
                for caller, metadata in callers.items():
                    calls += 1
                    try:
                        answer = connections[slot].call(method.path, metadata, body)
                    except Violation as err:
                        report.violation(err.kind, f"{method.path} ({body_name}, {caller}): {err}")
                        server.alive()
                        connections[slot] = connect(connections[slot].name + " (again)")
                        continue
                    report.answer(method, body_name, caller, answer)
            # Between methods: the server is still there and health answers in time.
            server.alive()
            health = check_health(health, f"after {method.path}")
        prober.stop()
        stall = stalled_streams(server.addr, health, callers["admin"], report)
        print(stall)
        # Every long-lived connection still serves.
        for conn in [health] + connections:
            check_health(conn, "at the end")
        errors = server.error_lines()
        if errors:
            report.violation("server log at ERROR", f"{len(errors)} lines, the first: "
                             f"{errors[0][:300]}")
        print(f"\n{calls} calls on {len(connections)} long-lived connections "
              f"({', '.join(f'{c.name}: {c.calls}' for c in connections)}), "
              f"{health_checks} health checks between methods and {prober.checks} beside the "
              f"calls (slowest {max(health_worst, prober.worst) * 1000:.0f} ms)")
        report.print_counts()
    except Violation as err:
        report.violation(err.kind, str(err))
    except OSError as err:
        report.violation("connection refused", f"a new connection failed: {err}")
    except Timeout:
        report.violation("timeout", f"the run did not end within {args.timeout} s")
    except Stopped:
        report.violation("stopped", "SIGTERM: the run was stopped before its end")
    finally:
        signal.alarm(0)  # stopping is bounded by itself
        if prober is not None:
            prober.stop()
        for conn in opened:
            conn.close()
        exit_status = server.stop()
        print(f"server stopped (exit status {exit_status}) after "
              f"{time.monotonic() - started:.1f} s")
    if server.terminated and exit_status != 0:
        report.violation("server exit", f"the server exited with status {exit_status} "
                         "on SIGTERM")

    if report.violations:
        report.print_violations()
        lines = server.log_lines()
        print(f"server log: {server.log_path} ({len(lines)} lines), the last 5:")
        for line in lines[-5:]:
            print(f"  {line[:300]}")
        print(f"replay with: --seed {seed}")
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    print("\nPASSED: no INTERNAL, no UNKNOWN, no status missing, no connection dropped, "
          "nothing logged at ERROR, health SERVING throughout")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True, help="the reestr server binary")
    parser.add_argument("--seed", type=int, help="seed of the random bodies")
    parser.add_argument("--timeout", type=int, default=120, help="limit of the whole run (s)")
    args = parser.parse_args()

    def out_of_time(*_):
        raise Timeout()

    signal.signal(signal.SIGALRM, out_of_time)
    def told_to_stop(*_):
        raise Stopped()

    signal.signal(signal.SIGTERM, told_to_stop)
    signal.alarm(args.timeout)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
