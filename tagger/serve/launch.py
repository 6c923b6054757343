"""Start ``tagger serve`` in a child process and wait until it answers: for the tests
and the load benchmark, which talk to a real server over loopback. Standard
library only."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

# Loopback only: no proxy from the environment may stand in between.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# One process prints its address itself; with --workers N uvicorn's parent process does.
_LISTENING = re.compile(r"(?:listening on|Uvicorn running on) (http://[\w.\[\]:-]+)")


class ServerProcess:
    """``with ServerProcess(["ner=runs/x/best"], log, "--max-batch", "64") as server: server.url``.
    The server picks a free port (``--port 0``); its output goes to ``log``."""

    def __init__(self, models: list[str], log: Path, *options: str, timeout: float = 120.0):
        self.command = [sys.executable, "-m", "tagger", "serve", *models, "--port", "0", *options]
        self.log, self.timeout = Path(log), timeout
        self.process: subprocess.Popen | None = None
        self.url = ""

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log.open("wb") as out:  # the child keeps its own handle
            self.process = subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + self.timeout
        while not self.url:
            self._check_alive(deadline)
            found = _LISTENING.search(self.output())
            self.url = found.group(1) if found else ""
            time.sleep(0.05)
        while get_json(self.url + "/ready")[0] != 200:
            self._check_alive(deadline)
            time.sleep(0.05)

    def _check_alive(self, deadline: float) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"tagger serve exited with {self.process.returncode}:\n{self.output()[-3000:]}")
        if time.monotonic() > deadline:
            self.stop()
            raise RuntimeError(f"tagger serve did not get ready in {self.timeout:.0f} s:\n{self.output()[-3000:]}")

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (a graceful stop), SIGKILL after ``timeout``; the exit status."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def get_json(url: str, timeout: float = 5.0) -> tuple[int, object]:
    """(status, parsed body) of a GET; (0, None) when nothing answers."""
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, None
    except (OSError, ValueError):
        return 0, None
