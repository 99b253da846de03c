"""A headless Chromium driven over the DevTools protocol, for the report's tests.

Chromium runs with no sandbox (tests may run as root), no GPU and no background
networking; it picks its own debugging port and writes it to DevToolsActivePort in
its profile directory.  Every console message, uncaught exception, log entry and
dialog is kept in ``events`` so tests can assert there were none.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import websocket

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--no-first-run",
    "--remote-debugging-port=0",
]


def chromium() -> str | None:
    return next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p),
        None,
    )


class Browser:
    def __init__(self, executable: str, profile: Path, width: int = 1280, height: int = 900):
        self.proc = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its helpers share one process group, ended together
        )
        self.events: list[dict[str, Any]] = []
        self.next_id = 0
        port = self._port(profile / "DevToolsActivePort")
        pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        page = next(p for p in pages if p["type"] == "page")
        self.ws = websocket.create_connection(
            page["webSocketDebuggerUrl"], suppress_origin=True, timeout=60
        )
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def _port(self, path: Path, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.exists() and path.read_text().strip():
                return int(path.read_text().split()[0])
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.proc.returncode}")
            time.sleep(0.05)
        raise TimeoutError("chromium did not open its debugging port")

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)
            if message.get("method") == "Page.javascriptDialogOpening":
                # Answer at once, or the page would hang; the test sees the event.
                self.ws.send(
                    json.dumps(
                        {
                            "id": -1,
                            "method": "Page.handleJavaScriptDialog",
                            "params": {"accept": True},
                        }
                    )
                )

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, path: Path, timeout: float = 30) -> None:
        """Load a page and wait for its ``data-ready`` mark."""
        self.events.clear()
        self.send("Page.navigate", url=path.resolve().as_uri())
        self.ws.settimeout(timeout)
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(json.loads(self.ws.recv()))
        self.wait_for("document.documentElement.dataset.ready === 'true'", timeout)

    def wait_for(self, expression: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(expression)
            time.sleep(0.05)

    def click(self, selector: str) -> None:
        """A real mouse click (press and release) in the middle of the element."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        self.click_at(*box)

    def click_at(self, x: float, y: float) -> None:
        self.drag(x, x, y)

    def drag(self, x0: float, x1: float, y: float) -> None:
        """Press at (x0, y), move to (x1, y) and release there (a click when x0 == x1)."""
        mouse = {"button": "left", "clickCount": 1, "y": y}
        self.send("Input.dispatchMouseEvent", type="mousePressed", x=x0, **mouse)
        if x1 != x0:
            self.send("Input.dispatchMouseEvent", type="mouseMoved", x=x1, **mouse)
        self.send("Input.dispatchMouseEvent", type="mouseReleased", x=x1, **mouse)

    def problems(self) -> list[dict[str, Any]]:
        """Console errors and warnings, uncaught exceptions, error log entries, dialogs."""
        bad = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if (
                method == "Runtime.exceptionThrown"
                or method == "Page.javascriptDialogOpening"
                or (
                    method == "Runtime.consoleAPICalled"
                    and params.get("type") in ("error", "warning", "assert")
                )
                or (
                    method == "Log.entryAdded"
                    and params.get("entry", {}).get("level") in ("error", "warning")
                )
            ):
                bad.append(event)
        return bad

    def screenshot(self, path: Path, scale: float = 1.0) -> None:
        """The viewport as PNG, scaled (a smaller file for the repository)."""
        size = self.evaluate("[innerWidth, innerHeight]")
        clip = {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": scale}
        data = self.send("Page.captureScreenshot", format="png", clip=clip)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
