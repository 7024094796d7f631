"""A real Redis server and real `neardup worker` processes for the queue tests (no eager mode, no fakes)."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """`tls`: TLS only, with certificates of a private CA made for it, clients asked for theirs (mutual TLS)."""

    def __init__(self, workdir: Path, password: str | None = None, tls: bool = False):
        self.port = free_port()
        self.workdir = workdir
        self.password = password
        self.tls = tls
        self.proc = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        if not self.tls:
            return f"redis://{auth}127.0.0.1:{self.port}/0"
        certs = self.workdir / "tls"
        return (f"rediss://{auth}127.0.0.1:{self.port}/0?ssl_ca_certs={certs / 'ca.pem'}"
                f"&ssl_certfile={certs / 'client.pem'}&ssl_keyfile={certs / 'client.key'}")

    def start(self) -> None:
        auth = ["--requirepass", self.password] if self.password else []
        listen = ["--port", str(self.port)]
        if self.tls:
            certs = self.workdir / "tls"
            if not (certs / "client.pem").exists():  # a restart keeps the server's certificates
                make_certificates(certs)
            listen = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(certs / "server.pem"),
                      "--tls-key-file", str(certs / "server.key"), "--tls-ca-cert-file", str(certs / "ca.pem"),
                      "--tls-auth-clients", "yes"]
        self.proc = subprocess.Popen(["redis-server", *listen, "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.workdir), *auth],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis
        for _ in range(100):
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def started_tls_redis(workdir: Path) -> RedisServer:
    """A started RedisServer(tls=True); the test is skipped where this machine cannot run one (no openssl
    command to make its certificates, a redis-server built without TLS)."""
    import pytest

    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make the certificates with")
    redis = RedisServer(workdir, tls=True)
    try:
        redis.start()
    except RuntimeError:
        pytest.skip("this redis-server was built without TLS")
    return redis


def make_certificates(folder: Path) -> Path:
    """A private CA (ca.pem), a certificate it signed for a server at 127.0.0.1 (server.pem, server.key) and one for
    a client (client.pem, client.key), made by the openssl command, valid for a day."""
    folder.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
            "-subj", "/CN=neardup test CA")
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, extra in (("server", ["-extfile", "server.ext"]), ("client", [])):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj",
                f"/CN=neardup {name}")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "1", *extra)
    return folder


class Cluster:
    """Environment shared by the test process (client) and the worker processes."""

    def __init__(self, tmp: Path, redis: RedisServer, images: Path, model: str):
        self.tmp, self.redis, self.images = tmp, redis, images
        self.env = dict(os.environ, NEARDUP_BROKER_URL=redis.url, NEARDUP_DATA_DIR=str(tmp / "data"),
                        NEARDUP_ROOTS=str(images), NEARDUP_LOCK_TIMEOUT="10", NEARDUP_BATCH_SIZE="4",
                        NEARDUP_DECODE_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
        self.env.pop("NEARDUP_MODEL", None)
        self.workers: list[subprocess.Popen] = []
        os.environ.update({k: v for k, v in self.env.items() if k.startswith("NEARDUP_")})
        from neardup.config import load
        from neardup.pipeline.runtime import Runtime

        rt = Runtime(load())
        from neardup.encoder.artifact import read_info
        info = read_info(Path(model))
        rt.models.register(info.version, model, info.__dict__)
        rt.models.promote(info.version)
        self.model_version = info.version

    def start_worker(self, name: str, queues: str = "embed,index,verify", **env) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "ab")
        proc = subprocess.Popen([sys.executable, "-m", "neardup", "worker", "-Q", queues, "--concurrency", "1",
                                 "--hostname", f"{name}@%h", "--without-gossip", "--without-mingle",
                                 "--without-heartbeat"], cwd=REPO, env={**self.env, **env}, stdout=log, stderr=log,
                                start_new_session=True)
        self.workers.append(proc)
        return proc

    def kill_worker(self, proc: subprocess.Popen) -> None:
        os.killpg(proc.pid, signal.SIGKILL)  # the parent and its pool processes, no goodbye
        proc.wait()

    def stop(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in self.tmp.glob("*.log"))


def make_queue_images(folder: Path, originals: list[Path]) -> dict[str, str]:
    """Distinct pictures (quadrants of the samples) plus exact and resized copies of some of them.
    Returns {copy: original}."""
    folder.mkdir(parents=True, exist_ok=True)
    copies = {}
    n = 0
    for src in originals:
        im = Image.open(src).convert("RGB")
        w, h = im.size
        for q, box in enumerate([(0, 0, w // 2, h // 2), (w // 2, 0, w, h // 2), (0, h // 2, w // 2, h),
                                 (w // 2, h // 2, w, h)]):
            name = folder / f"{src.stem}_q{q}.jpg"
            part = im.crop(box)
            part.save(name, quality=90)
            if n % 5 == 0:
                (folder / f"{src.stem}_q{q}_same.jpg").write_bytes(name.read_bytes())
                copies[str(folder / f"{src.stem}_q{q}_same.jpg")] = str(name)
                part.resize((part.width * 3 // 4, part.height * 3 // 4)).save(folder / f"{src.stem}_q{q}_small.jpg",
                                                                              quality=80)
                copies[str(folder / f"{src.stem}_q{q}_small.jpg")] = str(name)
            n += 1
    return copies
