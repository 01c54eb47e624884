"""The MongoDB-wire store of a parallel search: a site's server, or the embedded one.

``--mongo mongodb://host:port/db`` names a site's MongoDB; :func:`connect` pings it before anything
is submitted and turns every failure into one line. Without it, :class:`EmbeddedMongo` runs the
jongodb binary that ``hpc/setup/install.sh`` puts in the virtual environment (no ``mongod`` exists
in Debian; jongodb is in-memory, so glasskit keeps every finished trial in ``trials.jsonl`` as
well) on a free loopback port (``--mongo-host``: an address the compute nodes reach), and stops it by PID when the search ends; the server also dies with
the process that started it (``PR_SET_PDEATHSIG``), so a killed driver leaves no orphan.
"""
from __future__ import annotations

import ctypes
import glob
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from glasskit.util.errors import GlasskitError
from glasskit.util.log import logger

DEFAULT_DB = "glasskit"


def redact(url: str) -> str:
    """``url`` without its password, for logs and files."""
    parts = urlsplit(url)
    if parts.password:
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
    return url


def check_url(url: str) -> None:
    """Refuse a malformed ``--mongo`` URL before anything is written (dry runs too): the scheme,
    hosts without spaces or control characters, ports in range, options pymongo knows."""
    import re

    from pymongo import uri_parser
    if not url.startswith(("mongodb://", "mongodb+srv://")):
        raise GlasskitError(f"--mongo {url!r} is not a MongoDB URL",
                            "use mongodb://host:port/database, or leave out --mongo for the embedded server")
    if re.search(r"[\s\x00-\x1f\x7f]", url):
        raise GlasskitError(f"--mongo {redact(url)!r} contains spaces or control characters",
                            "use mongodb://host:port/database")
    try:
        uri_parser.parse_uri(url)
    except Exception as exc:  # noqa: BLE001 - pymongo raises ValueError, InvalidURI, ConfigurationError
        raise GlasskitError(f"--mongo {redact(url)}: {exc}", "use mongodb://host:port/database") from None


def connect(url: str, timeout_s: float = 3.0):
    """(client, database) of ``url`` after a ping; a GlasskitError naming the problem if the
    server cannot be reached or the URL is malformed."""
    import pymongo
    from bson.son import SON
    check_url(url)
    try:
        client = pymongo.MongoClient(url, document_class=SON, w=1, serverSelectionTimeoutMS=int(timeout_s * 1000),
                                     connectTimeoutMS=int(timeout_s * 1000))
        client.admin.command("ping")
    except pymongo.errors.ConfigurationError as exc:
        raise GlasskitError(f"--mongo {redact(url)}: {exc}", "use mongodb://host:port/database") from None
    except pymongo.errors.PyMongoError as exc:
        reason = str(exc).split(",")[0].split(" (configured")[0]
        raise GlasskitError(f"cannot reach the MongoDB server at {redact(url)}: {reason}",
                            "check the host, port and that the server runs (and the firewall), "
                            "or leave out --mongo to use the embedded server") from None
    db = client.get_default_database(DEFAULT_DB)
    return client, db


def binary() -> Path:
    """The jongodb executable: ``$GLASSKIT_MONGOD`` or the one install.sh put in this venv."""
    from glasskit.util.paths import install_hint
    env = os.environ.get("GLASSKIT_MONGOD")
    found = [env] if env else sorted(glob.glob(os.path.join(sys.prefix, "opt", "jongodb-*", "bin", "jongodb")))
    if not found or not os.access(found[-1], os.X_OK):
        raise GlasskitError("the embedded MongoDB-wire server (jongodb) is not installed",
                            install_hint("mongo"))
    return Path(found[-1])


def _group_alive(pgid: int) -> bool:
    """Whether any process of group ``pgid`` still runs (zombies aside)."""
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def listen_address(host: str) -> str:
    """The address the embedded server binds: loopback by default; ``auto``: a non-loopback
    address of this host (its name's, else the one its default route leaves from), found where
    the driver runs, e.g. inside its Slurm job; else the given IPv4 address or host name, which
    must be an address of this host."""
    if not host:
        return "127.0.0.1"
    addr = _own_address() if host == "auto" else _resolve(host)
    try:
        _free_port(addr)
    except OSError as exc:
        raise GlasskitError(f"--mongo-host {host!r}: cannot listen on {addr} here ({exc.strerror})",
                            "give an address of this host (ip -4 addr lists them)") from None
    return addr


def _resolve(name: str) -> str:
    try:
        return socket.gethostbyname(name)
    except OSError:
        raise GlasskitError(f"--mongo-host {name!r} does not resolve to an address",
                            "give an IPv4 address of this host that the compute nodes reach") from None


def _own_address() -> str:
    name = socket.gethostname()
    try:
        found = [a[4][0] for a in socket.getaddrinfo(name, None, socket.AF_INET)]
    except OSError:
        found = []
    routed = [a for a in found if not a.startswith("127.")]
    if not routed:  # the name maps to loopback (Debian's /etc/hosts): ask the routing table
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.connect(("10.255.255.255", 1))  # UDP: nothing is sent
                routed = [s.getsockname()[0]]
            except OSError:
                pass
    routed = [a for a in routed if not a.startswith("127.")]
    if not routed:
        raise GlasskitError(f"--mongo-host auto: this host ({name}) has no address but loopback",
                            "give the address the compute nodes reach with --mongo-host ADDR, or use --mongo URL")
    return routed[0]


class EmbeddedMongo:
    """jongodb on <host>:<free port> (loopback unless ``host`` is given), as a context
    manager; ``url`` while it runs. jongodb has no authentication: on a routable address anyone
    who reaches the port can read and write the trials, so bind one only on a trusted cluster
    network, and prefer a site server with credentials (``--mongo``) elsewhere."""

    def __init__(self, log_path: Path, ready_s: float = 20.0, host: str = "127.0.0.1"):
        self.log_path, self.ready_s, self.host = Path(log_path), ready_s, host
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> str:
        exe = binary()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # a port taken between probing and binding: try another
            port = _free_port(self.host)
            from glasskit.util.outputs import open_log
            with open_log(self.log_path, append=True) as log:
                # a session (process group) of its own: stop() ends the whole group, so a server
                # started through a wrapper script or a symlink goes with it
                self.proc = subprocess.Popen([str(exe), f"--host={self.host}", f"--port={port}"], stdout=log,
                                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             start_new_session=True, preexec_fn=_die_with_parent)
            self.url = f"mongodb://{self.host}:{port}/{DEFAULT_DB}"
            if self._wait_ready(port):
                logger.info("no --mongo given: embedded MongoDB-wire server (jongodb, in memory) at %s, pid %d, "
                            "log %s%s", self.url, self.proc.pid, self.log_path,
                            "" if self.host == "127.0.0.1" else " (no authentication: a trusted network only)")
                return self.url
            self.stop()
        raise GlasskitError(f"the embedded MongoDB-wire server {exe} did not start (log: {self.log_path})",
                            "read its log; or pass --mongo mongodb://host:port/db")

    def _wait_ready(self, port: int) -> bool:
        deadline = time.monotonic() + self.ready_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection((self.host, port), timeout=0.2):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        """End the server we started and everything it started: its process group (ours alone:
        the child was started in a new session and is not yet reaped, so the id is not reused),
        SIGTERM, then SIGKILL after 5 s; whatever ``$GLASSKIT_MONGOD`` was (the binary, a
        symlink to it, a wrapper script that forks it)."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and _group_alive(pgid):
                self.proc.poll()
                time.sleep(0.05)
            if not _group_alive(pgid):
                break
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def __enter__(self) -> "EmbeddedMongo":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
