"""A throwaway PostgreSQL cluster on 127.0.0.1 for the tests, and fresh databases on it.

The binaries come from Debian's `postgresql` package (`.ci/run` installs it); they live under
/usr/lib/postgresql/<version>/bin, off the PATH. PostgreSQL refuses to run as root, so as root the
cluster is initialised and run as the `postgres` user that package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import asyncpg

INSTALL_HINT = "PostgreSQL is required for these tests: apt-get update && apt-get install -y postgresql"


def pg_bin_dir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if not versions:
        raise RuntimeError(INSTALL_HINT)
    return Path(versions[-1]).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresCluster:
    def __init__(self) -> None:
        self.bin = pg_bin_dir()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="relaygate-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_postgres = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stdout}{done.stderr}{self._log_tail()}")

    def _log_tail(self) -> str:
        return self.log.read_text()[-2000:] if self.log.exists() else ""

    def init(self) -> None:
        if self._as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        # fsync off: the cluster is thrown away, and durability is not what these tests measure
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.start()

    def start(self) -> None:
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.log), "-o", options)

    def stop(self) -> None:
        self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data))

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    async def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        connection = await asyncpg.connect(host="127.0.0.1", port=self.port, user="postgres", database="postgres")
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


async def migrated_engine(url: str):
    """Migrate the database at `url` and open an engine on it (dispose it when done)."""
    from relaygate.store.db import create_engine
    from relaygate.store.migrate import migrate

    await migrate(url)
    return create_engine(url)


def run_with_engine(url: str, body):
    """Run `await body(engine)` in a fresh event loop on a migrated database."""
    import asyncio

    async def main():
        engine = await migrated_engine(url)
        try:
            return await body(engine)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def relaygate_cli(config_path, *args: str, ok: bool = True) -> "subprocess.CompletedProcess[str]":
    """Run the installed `relaygate` command as a user would."""
    import sys

    command = [str(Path(sys.executable).with_name("relaygate")), *args, "--config", str(config_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def config_file(tmp_path: Path, database_url: str) -> Path:
    path = tmp_path / "relaygate.yaml"
    path.write_text(f"database: {database_url}\nusage_journal: {tmp_path / 'usage.jsonl'}\n")
    return path


def fetch(url: str, statement) -> list:
    """The rows of one SQLAlchemy statement on the database at `url` (already migrated)."""
    import asyncio

    from relaygate.store.db import create_engine

    async def main():
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                return (await connection.execute(statement)).all()
        finally:
            await engine.dispose()

    return asyncio.run(main())
