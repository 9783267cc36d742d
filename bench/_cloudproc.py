"""A real `outpost-cloud serve` in a subprocess, on a fresh SQLite or PostgreSQL database (benches, chaos test)."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from cloud.admin import bootstrap_tenant
from cloud.db.engine import create_engine, session_factory
from cloud.db.migrate import upgrade
from sync.wire import ENROLL_PATH, HEALTH_PATH, EnrollResponse

PG_ADMIN_DSN = os.environ.get("OUTPOST_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def fresh_database(backend: str, workdir: Path) -> AsyncIterator[str]:
    """Yield the URL of an empty, migrated cloud database; a PostgreSQL one is dropped afterwards."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / f'cloud-{secrets.token_hex(4)}.db'}"
        await upgrade(url)
        yield url
        return
    name = f"outpost_bench_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    host_part = PG_ADMIN_DSN.split("://", 1)[1].rsplit("/", 1)[0]
    url = f"postgresql+asyncpg://{host_part}/{name}"
    try:
        await upgrade(url)
        yield url
    finally:
        admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def issue_codes(url: str, count: int) -> list[str]:
    """Bootstrap `count` tenants with one enrollment code each; return the codes."""
    engine = create_engine(url)
    try:
        db = session_factory(engine)
        codes = []
        for i in range(count):
            result = await bootstrap_tenant(db, f"Tenant {i}", f"admin{i}@bench.example", "x" * 16, site_name=f"s{i}")
            assert result.enrollment is not None
            codes.append(result.enrollment.code)
        return codes
    finally:
        await engine.dispose()


@dataclass
class CloudProcess:
    """`outpost-cloud serve` as a child process; restartable on the same port and database."""

    url: str
    database_url: str
    workdir: Path
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _config(self) -> Path:
        path = self.workdir / "cloud.toml"
        path.write_text(
            f'data_dir = "{self.workdir / "cloud-data"}"\n'
            f'database_url = "{self.database_url}"\nhost = "127.0.0.1"\nport = {self.port}\n'
        )
        return path

    async def start(self, timeout_s: float = 60.0) -> None:
        """Start the server and wait until its health endpoint answers."""
        config = self._config()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once; a Popen is what we signal
                [sys.executable, "-m", "cloud", "serve", "--config", str(config)],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"cloud exited with {self.proc.returncode}; see {self.log_path}")
                try:
                    if (await client.get(self.base + HEALTH_PATH)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"cloud did not answer within {timeout_s} s; see {self.log_path}")
                await asyncio.sleep(0.1)  # polling the health endpoint of a starting process

    def signal(self, sig: signal.Signals) -> None:
        """Send `sig` to the server (SIGKILL, SIGSTOP, SIGCONT)."""
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def kill(self) -> None:
        """kill -9 the server and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a stopped process dies of SIGKILL too, but be explicit
            self.proc.kill()
            await asyncio.to_thread(self.proc.wait)
        self.proc = None

    async def stop(self) -> None:
        """Stop the server with SIGTERM (SIGKILL after 20 s)."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = None
            return
        self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        try:
            await asyncio.wait_for(asyncio.to_thread(self.proc.wait), 20)
        except TimeoutError:
            await self.kill()
        self.proc = None


@asynccontextmanager
async def cloud_process(database_url: str, workdir: Path) -> AsyncIterator[CloudProcess]:
    """A started cloud server on a free port; stopped on exit."""
    workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - one mkdir before the server starts
    port = free_port()
    cloud = CloudProcess(
        url=f"http://127.0.0.1:{port}",
        database_url=database_url,
        workdir=workdir,
        port=port,
        log_path=workdir / "cloud.log",
    )
    await cloud.start()
    try:
        yield cloud
    finally:
        await cloud.stop()


async def enroll(cloud_url: str, code: str, hostname: str = "bench") -> EnrollResponse:
    """Redeem an enrollment code like `outpost-provision enroll` does."""
    async with httpx.AsyncClient(base_url=cloud_url, timeout=30) as client:
        response = await client.post(ENROLL_PATH, json={"code": code, "hostname": hostname})
    response.raise_for_status()
    return EnrollResponse.model_validate_json(response.content)
