"""What the launcher asks the operating system: is a process alive, what runs as it, who holds a port.

Linux answers through /proc; elsewhere `ps` and `lsof` do, when they are installed. Every answer may be
None ("could not tell"), never an exception.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
from pathlib import Path

PROC = Path("/proc")


def pid_alive(pid: int | None) -> bool:
    """True while the process exists and has not exited (a zombie waiting for its parent has)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, and not ours
    try:
        return (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def command_of(pid: int) -> str | None:
    """The command line of a running process, or None if it cannot be read."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
        return raw.replace(b"\0", b" ").decode(errors="replace").strip() or None
    except OSError:
        pass
    return _run(["ps", "-o", "command=", "-p", str(pid)])


def child_pids(pid: int) -> list[int]:
    """The processes `pid` started and that still run (Linux; elsewhere none): e.g. a service's workers."""
    try:
        return [int(child) for child in (PROC / str(pid) / "task" / str(pid) / "children").read_text().split()]
    except OSError:
        return []


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on host:port now (as uvicorn binds: with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


# Ports are chosen below the kernel's ephemeral range (32768-60999 on Linux), where bind(0) and every outgoing
# connection take theirs: a port found there may be handed to anything before the process meant for it binds.
PORT_BAND_START, PORT_BAND_SIZE, PORT_BANDS = 20000, 1500, 8
_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on now and that this process has not handed out before, in a band of its own per
    pytest-xdist worker: sandboxes started side by side on free ports (tests, the pytest plugin) never get the
    same port twice, even before their processes have bound them."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    low = PORT_BAND_START + (int(worker) % PORT_BANDS if worker.isdigit() else 0) * PORT_BAND_SIZE
    candidates = [port for port in range(low, low + PORT_BAND_SIZE) if port not in _handed_out]
    random.shuffle(candidates)
    for port in candidates:
        if port_free(port):
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free port left in {low}-{low + PORT_BAND_SIZE - 1}")


def port_holder(port: int) -> int | None:
    """The pid of the process listening on a local TCP port, if it can be found."""
    inodes = _listening_inodes(port)
    if inodes:
        return _pid_owning(inodes)
    found = _run(["lsof", "-nP", "-t", f"-iTCP:{port}", "-sTCP:LISTEN"])
    return int(found.split()[0]) if found and found.split()[0].isdigit() else None


def describe_holder(port: int) -> str:
    """'pid 1234 (python -m http.server)' or a plain word when the holder cannot be seen."""
    pid = port_holder(port)
    if pid is None:
        return "another program (its process could not be identified)"
    command = command_of(pid)
    return f"pid {pid} ({command})" if command else f"pid {pid}"


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{inode}]")
    return inodes


def _pid_owning(sockets: set[str]) -> int | None:
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in sockets:
                    return int(entry.name)
        except OSError:
            continue  # gone meanwhile, or not ours to look into
    return None


def _run(command: list[str]) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None
