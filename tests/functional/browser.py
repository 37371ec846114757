"""Headless Chromium driven over the Chrome DevTools Protocol: what a person's browser does with a page.

Debian's ``chromium`` runs for real; this module only speaks the protocol (``websockets``' sync client, in the
lock). :func:`visit` loads one URL and returns what a test asserts on: every network request the page made,
every console message and uncaught exception, the value of a JavaScript expression evaluated once the page has
loaded, and a full-page screenshot (PNG bytes). Chromium is started with its background networking off and
every host name but the loopback unresolvable, so a request the page makes fails fast and is still recorded.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",  # the tests run as root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--remote-debugging-port=0",
)


def chromium_path() -> str | None:
    """The browser's executable, or None when the machine has none (the test is then skipped, saying so)."""
    return next((path for name in CHROMIUM if (path := shutil.which(name))), None)


@dataclass
class Visit:
    """What loading one page did."""

    requests: list[str] = field(default_factory=list)  # every URL the page asked for, the page itself first
    console: list[dict[str, Any]] = field(default_factory=list)  # {"type": "error"|"log"|..., "text": ...}
    exceptions: list[str] = field(default_factory=list)
    value: Any = None  # the evaluated expression's JSON value
    screenshot: bytes = b""

    @property
    def errors(self) -> list[str]:
        """Console errors and warnings, and uncaught exceptions."""
        shown = [f"{c['type']}: {c['text']}" for c in self.console if c["type"] in ("error", "warning", "assert")]
        return shown + self.exceptions


def visit(url: str, expression: str, width: int = 1400, height: int = 900, timeout: float = 60.0) -> Visit:
    """Load ``url`` in a fresh headless Chromium, wait for its load event, evaluate ``expression`` (its value must
    be JSON) and take a full-page screenshot."""
    browser = chromium_path()
    if browser is None:
        raise FileNotFoundError("no chromium on PATH (Debian: apt-get install chromium)")
    # chromium's helpers (renderer, crashpad) may outlive the main process and keep writing the profile: they run
    # in its own process group, killed as a whole before the profile is removed (a removal that raced them failed
    # a CI run with "Directory not empty: 'Default'")
    with tempfile.TemporaryDirectory(prefix="kabucast-chromium-", ignore_cleanup_errors=True) as profile:
        process = subprocess.Popen(
            [browser, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            endpoint = _endpoint(Path(profile), process, timeout)
            with connect(endpoint, max_size=None, open_timeout=timeout) as ws:
                return _Session(ws, timeout).visit(url, expression, width, height)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # its helpers, if any are left


def _endpoint(profile: Path, process: subprocess.Popen, timeout: float) -> str:
    """The browser's DevTools websocket, from the ``DevToolsActivePort`` file it writes once it listens."""
    marker, deadline = profile / "DevToolsActivePort", time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with code {process.returncode} before it listened")
        lines = marker.read_text().splitlines() if marker.exists() else []
        if len(lines) >= 2:
            return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        time.sleep(0.05)
    raise TimeoutError(f"chromium did not open its DevTools port within {timeout} s")


class _Session:
    """One page target of the browser, attached in flat mode: commands and their events on one socket."""

    def __init__(self, ws: Any, timeout: float) -> None:
        self.ws, self.timeout, self.ids = ws, timeout, itertools.count(1)
        self.session: str | None = None
        self.seen = Visit()
        self.loaded = False

    def visit(self, url: str, expression: str, width: int, height: int) -> Visit:
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + self.timeout
        while not self.loaded:
            self._receive(deadline)
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"the test's expression failed: {result['exceptionDetails']}")
        self.seen.value = result["result"].get("value")
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip)
        self.seen.screenshot = base64.b64decode(shot["data"])
        return self.seen

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result, recording the events that arrive meanwhile."""
        message: dict[str, Any] = {"id": next(self.ids), "method": method, "params": params}
        if self.session is not None and not method.startswith("Target."):
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._receive(deadline)
            if reply is not None and reply.get("id") == message["id"]:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def _receive(self, deadline: float) -> dict[str, Any] | None:
        """One message; an event is recorded and None returned, a command's reply is returned."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no answer from chromium within {self.timeout} s")
        message = json.loads(self.ws.recv(timeout=left))
        method, params = message.get("method"), message.get("params", {})
        if method is None:
            return message
        if method == "Network.requestWillBeSent":
            self.seen.requests.append(params["request"]["url"])
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.seen.console.append({"type": params["type"], "text": text})
        elif method == "Log.entryAdded":
            entry = params["entry"]
            self.seen.console.append({"type": entry["level"], "text": f"{entry.get('text')} {entry.get('url', '')}"})
        elif method == "Runtime.exceptionThrown":
            self.seen.exceptions.append(json.dumps(params["exceptionDetails"])[:500])
        elif method == "Page.loadEventFired":
            self.loaded = True
        return None
