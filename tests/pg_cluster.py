"""A throwaway PostgreSQL cluster on 127.0.0.1 for the chat-state tests: initdb +
pg_ctl from the image's PostgreSQL, as the unprivileged `postgres` user when the
tests run as root (initdb refuses root).  The chat stores need no extension.

Stands in until the index backend's server tooling (`python -m retrieval
postgres start DIR`) is merged; then this module uses that.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                                                   reverse=True)), None)
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """One server in its own folder; start(), stop() and start() again (a restart)."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="pgchat_cluster_"))
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.dir, "postgres")
        self._run(_bin("initdb"), "-D", str(self.dir / "data"), "-U", "test", "--auth=trust",
                  "-E", "UTF8", "--no-sync")

    @property
    def dsn(self) -> str:
        return f"postgresql://test@127.0.0.1:{self.port}/postgres"

    def _run(self, *cmd: str) -> None:
        if self.as_root:
            cmd = ("runuser", "-u", "postgres", "--", *cmd)
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> Cluster:
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
                   " -c synchronous_commit=off -c full_page_writes=off")
        self._run(_bin("pg_ctl"), "-D", str(self.dir / "data"), "-o", options,
                  "-l", str(self.dir / "log"), "-w", "start")
        return self

    def stop(self) -> None:
        self._run(_bin("pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.dir, ignore_errors=True)
