"""A headless Chromium driven over the DevTools protocol: load the report file, collect console
errors and every request it makes, evaluate checks in the page, save a full-page screenshot."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import websocket

from stack.processes import start, stop_group

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
WIDTH = 1500


class BrowserError(RuntimeError):
    """Chromium is missing, did not start, or did not load the page in time."""


def find_chromium() -> str | None:
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


@dataclass
class PageLoad:
    """What happened while the page loaded: console errors, requests, the drawn figures."""

    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # every URL the page asked for

    def outside(self, own: str) -> list[str]:
        """Requests for anything but the file itself (data: URLs stay inside the file)."""
        return [u for u in self.requests if u != own and not u.startswith(("data:", "blob:"))]


class Page:
    def __init__(self, ws: websocket.WebSocket):
        self.ws = ws
        self._id = 0
        self.events: list[dict] = []

    def send(self, method: str, timeout: float = 30, **params) -> dict:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            message = json.loads(self.ws.recv())
            if message.get("id") == self._id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)
        raise BrowserError(f"{method}: no answer within {timeout:.0f} s")

    def evaluate(self, expression: str):
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"page script failed: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate(expression):
                return
            time.sleep(0.2)
        raise BrowserError(f"the page never satisfied {expression!r} within {timeout:.0f} s")

    def load(self, url: str, ready: str, timeout: float = 60) -> PageLoad:
        """Open `url` and wait until `ready` (a JS expression) is true; what the page did."""
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.send(f"{domain}.enable")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=1000,
            deviceScaleFactor=1,
            mobile=False,
        )
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_for(ready, timeout)
        self.evaluate("new Promise(r => setTimeout(r, 300))")  # let the last plots settle
        return self._page_load()

    def _page_load(self) -> PageLoad:
        out = PageLoad()
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Network.requestWillBeSent":
                out.requests.append(params["request"]["url"])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.console_errors.append(
                    " ".join(
                        str(a.get("value", a.get("description", "")))
                        for a in params.get("args", [])
                    )
                )
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                out.console_errors.append(
                    details.get("exception", {}).get("description")
                    or details.get("text", "exception")
                )
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                out.console_errors.append(params["entry"].get("text", ""))
        return out

    def picture(self, path: Path, height: int, scale: float) -> Path:
        """The top `height` CSS pixels of the page, scaled by `scale`: a small picture of it."""
        self.send("Emulation.setScrollbarsHidden", hidden=True)
        self.send("Emulation.setDeviceMetricsOverride", width=WIDTH, height=height,
                  deviceScaleFactor=1, mobile=False)  # fmt: skip
        shot = self.send("Page.captureScreenshot", timeout=60, format="png",
                         clip={"x": 0, "y": 0, "width": WIDTH, "height": height,
                               "scale": scale})  # fmt: skip
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def screenshot(self, path: Path) -> Path:
        """The whole page, not only the viewport, as a PNG."""
        metrics = self.send("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        height = min(int(size["height"]) + 1, 16000)  # Chromium's texture limit
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        shot = self.send(
            "Page.captureScreenshot", timeout=60, format="png", captureBeyondViewport=True
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


@contextmanager
def chromium(binary: str | None = None, timeout: float = 30):
    """A headless Chromium on a DevTools port of its own choice, and a Page in it."""
    binary = binary or find_chromium()
    if binary is None:
        raise BrowserError("no chromium on PATH (Debian: apt-get install chromium; make setup)")
    # Chromium's helpers (crashpad, utility processes) outlive the browser for a moment and
    # still write to the profile: the group is killed whole before the profile is removed.
    with tempfile.TemporaryDirectory(
        prefix="shoplab-chromium-", ignore_cleanup_errors=True
    ) as profile:
        args = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "--remote-allow-origins=*",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "about:blank",
        ]
        proc = start(args)
        ws = None
        try:
            ws_url = _devtools_url(Path(profile), proc, timeout)
            ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True)
            browser = Page(ws)
            target = browser.send("Target.createTarget", url="about:blank")["targetId"]
            ws.close()
            ws = websocket.create_connection(
                _page_url(ws_url, target), timeout=timeout, suppress_origin=True
            )
            yield Page(ws)
        finally:
            if ws is not None:
                ws.close()
            stop_group(proc)


def _devtools_url(profile: Path, proc: subprocess.Popen, timeout: float) -> str:
    """Chromium writes its port and browser path to DevToolsActivePort once it listens."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrowserError(f"chromium exited with {proc.returncode} before listening")
        if marker.exists():
            lines = marker.read_text().split()
            if len(lines) >= 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        time.sleep(0.1)
    raise BrowserError(f"chromium did not open its DevTools port within {timeout:.0f} s")


def _page_url(browser_url: str, target_id: str) -> str:
    base = browser_url.split("/devtools/")[0]
    return f"{base}/devtools/page/{target_id}"
