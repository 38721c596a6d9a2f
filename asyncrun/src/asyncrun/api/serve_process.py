"""`asyncrun serve` run as a child process, for tests and scripts that need a local
Lambda endpoint on a free port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path


class ServeProcess:
    """`asyncrun serve` in a child process, for tests and scripts: started on a free
    loopback port, ready when it says where it listens, stopped with SIGTERM."""

    def __init__(
        self,
        template: Path,
        *,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 120.0,
    ) -> None:
        self.template = Path(template)
        self.args = list(args)
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.url = ""
        self.lines: list[str] = []  # everything it printed, for a failing test's report
        self._process: subprocess.Popen[str] | None = None
        self._ready = threading.Event()

    def start(self) -> ServeProcess:
        command = [
            sys.executable,
            "-m",
            "asyncrun",
            "serve",
            "--template",
            str(self.template),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            *self.args,
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        env.pop("AWS_ENDPOINT_URL", None)  # the child hosts the endpoint; it must not forward to itself
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        threading.Thread(target=self._read, name="asyncrun-serve-output", daemon=True).start()
        if not self._ready.wait(self.startup_timeout) or not self.url:
            self.stop()
            tail = "".join(self.lines[-30:])
            raise RuntimeError(f"asyncrun serve did not start within {self.startup_timeout:.0f} s:\n{tail}")
        return self

    def _read(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self.lines.append(line)
            if not self.url and (found := _LISTENING.search(line)):
                self.url = found.group(1)
                self._ready.set()
        self._ready.set()  # ended: whoever waits must not wait longer

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_LISTENING = re.compile(r"listening on (http://\S+)")
