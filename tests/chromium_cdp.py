"""Minimal headless-Chromium driver for tests: the DevTools protocol over ``--remote-debugging-pipe``.

No extra Python package is needed (no websocket, no selenium/playwright): Chromium reads
NUL-terminated JSON commands on fd 3 and writes replies/events on fd 4. Used by the three.js
viewer test to load a page, collect console messages with their level and take a screenshot.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

# Flags from the issue; --enable-unsafe-swiftshader opts in to software WebGL (with --disable-gpu
# Chromium otherwise logs a deprecation message and may refuse WebGL altogether).
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
         "--mute-audio", "--autoplay-policy=no-user-gesture-required"]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _high_fd(fd: int) -> int:
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


class Chromium:
    """``with Chromium() as browser: page = browser.open(url)``; messages land in ``browser.console``."""

    def __init__(self, width: int = 640, height: int = 480) -> None:
        exe = chromium_path()
        if exe is None:
            raise RuntimeError("chromium not found")
        self.profile = tempfile.mkdtemp(prefix="kpanim-chromium-")
        cmd_r, cmd_w = os.pipe()  # we write commands → chromium reads on fd 3
        out_r, out_w = os.pipe()  # chromium writes on fd 4 → we read
        # Move the child's ends above 4 so that placing them on fds 3 and 4 cannot clobber either.
        cmd_r, out_w = (_high_fd(fd) for fd in (cmd_r, out_w))

        def child_fds() -> None:  # runs in the child between fork and exec
            os.dup2(cmd_r, 3)  # dup2 makes 3 and 4 inheritable; every other fd is close-on-exec
            os.dup2(out_w, 4)

        args = [*FLAGS, "--remote-debugging-pipe", f"--user-data-dir={self.profile}",
                f"--window-size={width},{height}", "about:blank"]
        self.proc = subprocess.Popen([exe, *args], preexec_fn=child_fds, close_fds=False,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(out_w)
        self._w, self._r = cmd_w, out_r
        self._buf = b""
        self._next_id = 0
        self.console: list[dict] = []  # {"level", "text", "source"}
        self.session: str | None = None

    # ------------------------------------------------------------- protocol
    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([self._r], [], [], wait)[0]:
                raise TimeoutError("no reply from chromium")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium exited")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def _record(self, msg: dict) -> None:
        method, p = msg.get("method"), msg.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            self.console.append({"level": p.get("type"), "text": text, "source": "console"})
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.console.append({"level": "error", "text": d.get("exception", {}).get("description", d.get("text")),
                                 "source": "exception"})
        elif method == "Log.entryAdded":
            e = p.get("entry", {})
            self.console.append({"level": e.get("level"), "text": e.get("text"), "source": e.get("source")})

    def send(self, method: str, params: dict | None = None, timeout: float = 30.0, session: bool = True) -> dict:
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._record(reply)

    def pump(self, seconds: float) -> None:
        """Collect events for ``seconds``."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                self._record(self._read_message(deadline))
        except TimeoutError:
            pass

    # ----------------------------------------------------------------- page
    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            self.send(f"{domain}.enable")
        self.send("Page.navigate", {"url": url})

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return result.get("result", {}).get("value")

    def screenshot(self, path: str) -> None:
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as fh:
            fh.write(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.send("Browser.close", session=False, timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._w, self._r):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
