"""The benchmarks' child process: the emulators, served in a process of their own so that the benchmark's process
(and its CPU time) is cwsync's alone.

A benchmark runs itself as `<script> --serve <spec JSON>`: the child prints one JSON line (its hello: addresses,
credentials), then answers each line it reads on stdin with one JSON line, and exits when stdin closes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from typing import Any


class Child:
    """The child process serving the emulators (`script --serve <spec>`), and its line channel."""

    def __init__(self, spec: dict[str, Any], script: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, script, "--serve", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._lock = threading.Lock()
        self.hello: dict[str, Any] = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the sandbox process exited ({self.proc.wait()})")
        return json.loads(line)  # type: ignore[no-any-return]

    def ask(self, line: str) -> dict[str, Any]:
        """Send one line and read the child's answer (from any thread; one at a time)."""
        assert self.proc.stdin is not None
        with self._lock:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
            return self._read()

    def close(self) -> None:
        """Close its stdin (it exits), and end it if it does not."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def credentials(running: Any) -> dict[str, Any]:
    """What the parent needs to connect to a `running_sandbox`: ConnectWise's site and keys, HubSpot's URL and
    token (when it serves HubSpot)."""
    s = running.sandbox.settings
    out = {
        "site": running.base_url,
        "company_id": s.company_id,
        "public_key": s.public_key,
        "private_key": s.private_key,
        "client_id": s.client_id,
    }
    if running.hubspot is not None:
        out |= {"hubspot_url": running.hubspot_url, "token": running.hubspot.settings.token}
    return out
