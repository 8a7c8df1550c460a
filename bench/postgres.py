"""A throwaway PostgreSQL server for the benchmarks' systems whose database is PostgreSQL, as it runs
when several instances share one: a server of its own, here pinned to the load core like Redis and
the emulator. Debian's `postgresql` package provides the binaries (under /usr/lib/postgresql/<version>/bin);
as root the cluster runs as that package's `postgres` user, which PostgreSQL requires. Default
settings (durable commits): the gateway only waits for them.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

PORT = 9500


class Server:
    def __init__(self, core: str) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
        if not found and not shutil.which("pg_ctl"):
            raise SystemExit("PostgreSQL is needed for this system: apt-get install -y postgresql")
        self.bin = Path(found[-1]).parent if found else Path(shutil.which("pg_ctl") or "").parent
        self.core = core
        self.root = Path(tempfile.mkdtemp(prefix="relaygate-bench-pg-"))
        self.data = self.root / "data"
        self.as_postgres = os.geteuid() == 0

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{PORT}/{database}"

    def start(self) -> None:
        if self.as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        options = f"-c listen_addresses=127.0.0.1 -c port={PORT} -c unix_socket_directories={self.root}"
        self._run("pg_ctl", "start", "-w", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options,
                  pinned=True)

    def create(self, database: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(PORT), "-U", "postgres", database)
        return self.url(database)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data))
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, *args: str, pinned: bool = False) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        if pinned:  # the server's processes inherit the core
            command = ["taskset", "-c", self.core, *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)
