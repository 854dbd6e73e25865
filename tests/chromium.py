"""A real headless Chromium for tests, driven over the DevTools protocol without extra packages.

Why a pipe: `--remote-debugging-pipe` speaks the DevTools protocol over file descriptors 3 (to
Chromium) and 4 (from it), as NUL-terminated JSON messages (what Puppeteer and Playwright use).
That needs no websocket client, no port, and nothing listening on the network. A shell `exec`
puts our two pipes on fds 3 and 4 in the child.

`require_chromium()` finds /usr/bin/chromium (or chromium on PATH); where there is none it installs
Debian's `chromium` package once (apt-get, as root), and otherwise skips the test with the
exact reason. `Browser` launches it, opens a page, forwards what the page logs, and offers the
few protocol calls the tests use: navigate, evaluate, key presses and mouse clicks (trusted input
events, as a user's), screenshots.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

APT_TIMEOUT_S = 900
_install_attempt: dict[str, str | None] = {}  # once per test session: the reason it failed, or None


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def require_chromium() -> str:
    """The Chromium binary; installs Debian's `chromium` if missing and possible, else skips."""
    path = find_chromium()
    if path:
        return path
    if "reason" not in _install_attempt:
        _install_attempt["reason"] = _apt_install_chromium()
    path = find_chromium()
    if path:
        return path
    pytest.skip(f"headless Chromium is not installed and could not be installed: {_install_attempt['reason']}")


def _apt_install_chromium() -> str | None:
    if shutil.which("apt-get") is None:
        return "no apt-get on this machine (install Chromium and put it on PATH)"
    if os.geteuid() != 0:
        return "apt-get install chromium needs root (run the tests as root or install Chromium first)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "install", "-y", "-q", "chromium"], ["apt-get", "update", "-q"],
                    ["apt-get", "install", "-y", "-q", "chromium"]):
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return f"{' '.join(command)} took over {APT_TIMEOUT_S} s"
        if done.returncode == 0 and command[1] == "install":
            return None
        last = f"{' '.join(command)} exited {done.returncode}: {(done.stderr.strip().splitlines() or [''])[-1]}"
    return last


class Browser:
    """One headless Chromium with one page attached (flat session); use as a context manager."""

    def __init__(self, binary: str, width: int = 1200, height: int = 900, timeout_s: float = 30.0) -> None:
        self.timeout_s = timeout_s
        self.profile = tempfile.mkdtemp(prefix="edgecase-chromium-")
        self.stderr = open(Path(self.profile) / "stderr.log", "w+b")  # noqa: SIM115 - closed in close()
        args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
                "--disable-dev-shm-usage", "--remote-debugging-pipe", f"--user-data-dir={self.profile}",
                f"--window-size={width},{height}", "--enable-logging=stderr", "--v=0", "about:blank"]
        shell = 'exec "$@" 3<&0 4>&1 </dev/null >/dev/null'  # our stdin pipe -> fd 3, stdout pipe -> fd 4
        self.process = subprocess.Popen(["/bin/sh", "-c", shell, "sh", *args], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.stderr)
        self._ids = itertools.count(1)
        self._inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.session = self._attach(width, height)

    # --- protocol --------------------------------------------------------------------------------

    def _read(self) -> None:
        buffer = b""
        stream = self.process.stdout
        while chunk := stream.read1(1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for message in messages:
                self._inbox.put(json.loads(message))
        self._inbox.put(None)

    def send(self, method: str, params: dict[str, Any] | None = None, session: bool = True) -> dict[str, Any]:
        """Call a protocol method and wait for its result; events that arrive meanwhile are kept."""
        ident = next(self._ids)
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session and getattr(self, "session", None):
            message["sessionId"] = self.session
        self.process.stdin.write(json.dumps(message).encode() + b"\0")
        self.process.stdin.flush()
        deadline = time.monotonic() + self.timeout_s
        while True:
            reply = self._next(deadline, method)
            if reply.get("id") == ident:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_s
        for seen in self.events:
            if seen.get("method") == method:
                self.events.remove(seen)
                return seen
        while True:
            event = self._next(deadline, method)
            if event.get("method") == method:
                return event
            self.events.append(event)

    def _next(self, deadline: float, waiting_for: str) -> dict[str, Any]:
        try:
            message = self._inbox.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise TimeoutError(f"Chromium sent nothing for {waiting_for} within {self.timeout_s} s") from None
        if message is None:
            raise RuntimeError(f"Chromium exited while waiting for {waiting_for}: {self.log_tail()}")
        return message

    def _attach(self, width: int, height: int) -> str:
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, session=False)
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                         "mobile": False})
        return self.session

    # --- what tests use ----------------------------------------------------------------------------

    def open(self, url: str) -> None:
        """Navigate and wait for the load event."""
        self.send("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def press(self, key: str, code: str, key_code: int) -> None:
        """A key press on the focused element (keyDown + keyUp), as from a keyboard."""
        common = {"key": key, "code": code, "windowsVirtualKeyCode": key_code, "nativeVirtualKeyCode": key_code}
        self.send("Input.dispatchKeyEvent", {"type": "rawKeyDown", **common})
        self.send("Input.dispatchKeyEvent", {"type": "keyUp", **common})

    def click(self, x: float, y: float) -> None:
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def page_errors(self) -> list[str]:
        """Everything the page reported as an error: uncaught exceptions, console.error/assert,
        and the browser's own error log entries (a blocked or failed resource, a CSP violation)."""
        self._drain()
        errors = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                errors.append(json.dumps(params.get("exceptionDetails", {}))[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                errors.append(params["entry"].get("text", ""))
        return errors

    def _drain(self) -> None:
        while True:
            try:
                message = self._inbox.get_nowait()
            except queue.Empty:
                return
            if message is not None:
                self.events.append(message)

    def log_tail(self, lines: int = 20) -> str:
        self.stderr.flush()
        text = (Path(self.profile) / "stderr.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        try:
            if self.process.poll() is None:
                self.send("Browser.close", session=False)
                self.process.wait(timeout=10)
        except (OSError, RuntimeError, TimeoutError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(timeout=10)
        finally:
            self.stderr.close()
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
