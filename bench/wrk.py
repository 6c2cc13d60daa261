"""Running wrk and reading its report (wrk 4.x with --latency)."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

UNITS_TO_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
COUNT_SUFFIXES = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9}


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int = 0
    socket_errors: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


class WrkOutputError(ValueError):
    """wrk printed something this parser does not understand."""


def parse_duration_ms(text: str) -> float:
    """'812.00us' -> 0.812, '3.21ms' -> 3.21, '1.02s' -> 1020.0, '2.00m' -> 120000.0."""
    match = re.fullmatch(r"\s*([\d.]+)\s*(us|ms|s|m|h)\s*", text)
    if not match:
        raise WrkOutputError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * UNITS_TO_MS[match.group(2)]


def parse_count(text: str) -> float:
    """'1.33k' -> 1330.0, '250' -> 250.0."""
    match = re.fullmatch(r"\s*([\d.]+)([kMG]?)\s*", text)
    if not match:
        raise WrkOutputError(f"not a wrk count: {text!r}")
    return float(match.group(1)) * COUNT_SUFFIXES[match.group(2)]


def parse(output: str) -> WrkResult:
    """Read requests, duration, requests/s, p50, p99 and errors from wrk's report."""
    total = re.search(r"^\s*(\d+) requests in ([\d.]+\w+),", output, re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s*([\d.]+)", output, re.MULTILINE)
    p50 = re.search(r"^\s*50(?:\.0+)?%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s*99(?:\.0+)?%\s+(\S+)", output, re.MULTILINE)
    if not (total and rate and p50 and p99):
        raise WrkOutputError(
            "wrk report lacks totals or the latency distribution (run with --latency)"
        )
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        requests=int(total.group(1)),
        seconds=parse_duration_ms(total.group(2)) / 1000,
        requests_per_s=float(rate.group(1)),
        p50_ms=parse_duration_ms(p50.group(1)),
        p99_ms=parse_duration_ms(p99.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
    )


def command(
    url: str,
    *,
    seconds: int,
    threads: int,
    connections: int,
    headers: dict[str, str] | None = None,
    script: str | Path | None = None,
) -> list[str]:
    if not url.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise ValueError("the benchmark only drives servers on loopback")
    args = [
        wrk_path(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
    ]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    if script is not None:
        args += ["-s", str(script)]
    return [*args, url]


def lua_string(text: str) -> str:
    """A Lua string literal of ``text``'s UTF-8 bytes (anything unusual as a decimal escape)."""
    safe = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.:,=&+/")
    return '"' + "".join(chr(b) if b in safe else f"\\{b:03d}" for b in text.encode()) + '"'


POST_SCRIPT = """\
-- Written by bench/wrk.py: POST the bodies in turn, each request with a key never used before.
wrk.method = "POST"
{headers}
local bodies = {{
{bodies}
}}
local prefix = {prefix}
local counter = 0

function setup(thread)
  threads_started = (threads_started or 0) + 1
  thread:set("thread_no", threads_started)
end

function request()
  counter = counter + 1
  wrk.headers[{key_header}] = prefix .. "-" .. thread_no .. "-" .. counter
  return wrk.format(nil, nil, nil, bodies[(counter % #bodies) + 1])
end
"""


def post_script(
    bodies: list[str],
    headers: dict[str, str],
    key_prefix: str,
    key_header: str = "Idempotency-Key",
) -> str:
    """wrk Lua that POSTs ``bodies`` round-robin with ``headers`` and a unique ``key_header``
    (``<key_prefix>-<thread>-<n>``) on every request: each request is a new submission."""
    if not bodies:
        raise ValueError("give at least one body")
    return POST_SCRIPT.format(
        headers="\n".join(
            f"wrk.headers[{lua_string(name)}] = {lua_string(value)}"
            for name, value in headers.items()
        ),
        bodies=",\n".join(f"  {lua_string(body)}" for body in bodies),
        prefix=lua_string(key_prefix),
        key_header=lua_string(key_header),
    )


def write_post_script(
    path: Path, bodies: list[str], headers: dict[str, str], key_prefix: str
) -> Path:
    path.write_text(post_script(bodies, headers, key_prefix))
    return path


def wrk_path() -> str:
    path = shutil.which("wrk")
    if not path:
        raise RuntimeError("wrk is not installed: apt-get install wrk")
    return path


def run(
    url: str,
    *,
    seconds: int,
    threads: int,
    connections: int,
    headers: dict[str, str] | None = None,
    script: str | Path | None = None,
) -> WrkResult:
    args = command(
        url,
        seconds=seconds,
        threads=threads,
        connections=connections,
        headers=headers,
        script=script,
    )
    done = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 30, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
        )
    return parse(done.stdout)
