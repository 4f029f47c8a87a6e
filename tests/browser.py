"""A real browser for the tests that need one: Debian's headless Chromium, driven over the DevTools
protocol (a websocket, ``websocket-client``), with no browser download and no driver binary.

Imported by name (``from browser import load_page``). ``.ci/run`` installs Chromium when missing; the
tests skip without it, except in CI (``CI`` set), where a missing browser fails them.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from live_servers import free_port

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
# the flags that work on these machines: no sandbox as root, and no background network traffic
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,900"]


def chromium() -> str:
    for name in CHROMIUM:
        if path := shutil.which(name):
            return path
    if os.environ.get("CI"):
        pytest.fail("no Chromium on this CI machine: .ci/run installs Debian's chromium package")
    pytest.skip("needs Debian's chromium (apt-get install -y chromium)")


@dataclass
class PageLoad:
    """What the browser saw: console errors and uncaught exceptions, and every image's natural size."""

    errors: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    title: str = ""


class DevTools:
    """One page target of a running Chromium, spoken to over its websocket."""

    def __init__(self, ws_url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, method: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} within {timeout_s}s")
            self.events.append(json.loads(self.ws.recv()))

    def close(self) -> None:
        self.ws.close()


def load_page(page: Path | str, screenshot: Path, settle_s: float = 0.0) -> PageLoad:
    """Open ``page`` (a file, or a URL) in headless Chromium, wait for its load event (and ``settle_s``
    more, for a page that renders after it), collect console errors and exceptions and each image's
    natural width, and save a full-page screenshot."""
    port = free_port()
    profile = tempfile.mkdtemp(prefix="hartune-chromium-")
    proc = subprocess.Popen([chromium(), *FLAGS, f"--user-data-dir={profile}", f"--remote-debugging-port={port}",
                             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        target = _page_target(port)
        dt = DevTools(target["webSocketDebuggerUrl"])
        try:
            for domain in ("Page", "Runtime", "Log"):
                dt.call(f"{domain}.enable")
            dt.call("Page.navigate", url=page if isinstance(page, str) else page.resolve().as_uri())
            dt.wait_for("Page.loadEventFired")
            time.sleep(settle_s)
            out = PageLoad()
            for e in dt.events:
                p = e.get("params", {})
                if e.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                    out.errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
                elif e.get("method") == "Runtime.exceptionThrown":
                    out.errors.append(p.get("exceptionDetails", {}).get("text", "exception"))
                elif e.get("method") == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                    out.errors.append(p["entry"].get("text", ""))
            probe = ("JSON.stringify({title: document.title, images: Array.from(document.images).map(i => "
                     "({alt: i.alt, complete: i.complete, naturalWidth: i.naturalWidth}))})")
            seen = json.loads(dt.call("Runtime.evaluate", expression=probe, returnByValue=True)["result"]["value"])
            out.images, out.title = seen["images"], seen["title"]
            shot = dt.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            return out
        finally:
            dt.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


def _page_target(port: int, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                pages = [t for t in json.loads(r.read()) if t.get("type") == "page"]
            if pages:
                return pages[0]
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"Chromium did not open its DevTools port {port} within {timeout_s}s")
        time.sleep(0.3)
