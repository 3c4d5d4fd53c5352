"""A throwaway PostgreSQL cluster in a temporary folder, for the test suite.

Uses the PostgreSQL server binaries on the machine (``initdb``, ``pg_ctl``; Debian puts them in
``/usr/lib/postgresql/<version>/bin``), listens on a Unix socket in the cluster's folder only
(no TCP port to collide with), trusts the local user, and is removed when stopped.
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


class NoPostgresError(RuntimeError):
    """No PostgreSQL server binaries were found."""


def find_bin_dir() -> Path:
    """Where ``initdb`` and ``pg_ctl`` are: $IONTO_PG_BIN, the PATH, or Debian's folder."""
    if env := os.environ.get("IONTO_PG_BIN"):
        return Path(env)
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1].parent
    raise NoPostgresError("no PostgreSQL server binaries (initdb) found; set IONTO_PG_BIN")


@dataclass
class Cluster:
    folder: Path
    bin_dir: Path
    user: str
    database: str = "ionto"

    @property
    def socket_dir(self) -> Path:
        return self.folder / "socket"

    @property
    def url(self) -> str:
        """A URL for ``--database``: the socket folder as the host (percent-encoded)."""
        from urllib.parse import quote

        return (
            f"postgresql://{self.user}@/{self.database}?host={quote(str(self.socket_dir), safe='')}"
        )

    def stop(self) -> None:
        subprocess.run(
            [
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.folder / "data"),
                "-m",
                "immediate",
                "stop",
            ],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


def _as_postgres_user() -> dict[str, object]:
    """initdb refuses to run as root: run the server as the 'postgres' user if we are root."""
    if os.geteuid() != 0:
        return {}
    import pwd

    entry = pwd.getpwnam("postgres")
    return {"user": entry.pw_uid, "group": entry.pw_gid}


def start(database: str = "ionto") -> Cluster:
    """Create, start and return a new cluster with one empty database."""
    bin_dir = find_bin_dir()
    folder = Path(tempfile.mkdtemp(prefix="ionto-pg-"))
    run_as = _as_postgres_user()
    if run_as:
        os.chown(folder, run_as["user"], run_as["group"])  # type: ignore[arg-type]
    user = "postgres" if run_as else getpass.getuser()
    data = folder / "data"
    socket = folder / "socket"
    socket.mkdir()
    if run_as:
        os.chown(socket, run_as["user"], run_as["group"])  # type: ignore[arg-type]
    kw = {"check": True, "capture_output": True, **run_as}
    subprocess.run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            user,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-instructions",
        ],
        **kw,  # type: ignore[call-overload]
    )
    options = f"-c listen_addresses='' -c unix_socket_directories='{socket}' -c fsync=off"
    subprocess.run(
        [
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-w",
            "-l",
            str(folder / "log"),
            "start",
        ],
        **kw,  # type: ignore[call-overload]
    )
    subprocess.run(
        [str(bin_dir / "createdb"), "-h", str(socket), "-U", user, database],
        **kw,  # type: ignore[call-overload]
    )
    return Cluster(folder=folder, bin_dir=bin_dir, user=user, database=database)
