"""Whether `kehrwasser up` may start: no other `up` on its data directory, nothing listening on its ports."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the port check below still refuses a second network
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = "up.lock"


class DataDirLock:
    """An exclusive lock on a data directory while `up` runs there; the OS releases it if `up` dies."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._file: IO[str] | None = None

    def acquire(self) -> bool:
        """Take the lock; False when another process holds it."""
        file = self.path.open("a")
        if fcntl is not None:
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                file.close()
                return False
        self._file = file
        return True

    def release(self) -> None:
        # Closing the file releases the lock; the file stays, since removing it would let two processes lock
        # two different files of the same name.
        if self._file is not None:
            self._file.close()
            self._file = None


def already_running(data_dir: Path, record_file: Path) -> str:
    """What a second `up` on ``data_dir`` says, from the record the running one wrote."""
    try:
        record = json.loads(record_file.read_text())
        return (
            f"another `kehrwasser up` (pid {record['pid']}) is already running on {data_dir}: "
            f"NATS {record['nats_url']}, SMTP {record['smtp']}; stop it first (Ctrl-C in its terminal)"
        )
    except (OSError, ValueError, KeyError):
        return f"another `kehrwasser up` is starting or stopping on {data_dir}; stop it first"


def port_taken(host: str, port: int) -> bool:
    with socket.socket() as probe:
        # As the servers themselves bind: a port left in TIME_WAIT by a stopped network is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def port_in_use(what: str, host: str, port: int, variable: str) -> str:
    """Why ``port`` cannot be used, naming the process that listens on it where the system tells."""
    holder = listening_process(port)
    by = f" by pid {holder[0]} ({holder[1]})" if holder else ""
    return (
        f"port {port} for {what} on {host} is already in use{by}: is another `kehrwasser up` running? "
        f"Stop it, or choose another port with {variable}"
    )


def listening_process(port: int) -> tuple[int, str] | None:
    """The pid and command line of the process listening on TCP ``port`` (Linux ``/proc``; None elsewhere)."""
    sockets = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not sockets:
        return None
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) in sockets for fd in fd_dir.iterdir()):
                pid = int(fd_dir.parent.name)
                command = (fd_dir.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                return pid, command.strip()
        except OSError:  # another user's process, or one that just ended
            continue
    return None


def _listening_inodes(port: int) -> set[str]:
    listen = "0A"
    inodes = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == listen:
                inodes.add(fields[9])
    return inodes
