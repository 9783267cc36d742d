"""`outpost-provision doctor`: check a box, one line per check with pass/warn/fail and the fix.

Checks run in order; one that needs the config is skipped (fail) when the config does not load. Slow checks
(cameras, the model, the cloud) report progress first. Exit status: 1 if any check failed, else 0.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import sqlite3
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import httpx

from edge.config import EdgeConfig
from edge.config.loader import load_config
from observability.scrape import TOKEN_FILE_NAME
from sync.codec import encode_batch
from sync.signing import CLAIM_HEADER, SITE_HEADER, sign
from sync.wire import HEALTH_PATH, SYNC_PATH, SyncBatch, new_nonce

Status = Literal["pass", "warn", "fail"]
FAIL_FREE_BYTES = 1 << 30  # below 1 GiB free the outbox, snapshots and SQLite's WAL soon stop
WARN_FREE_BYTES = 5 << 30
CLOUD_TIMEOUT_S = 5.0
CAMERA_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Check:
    """One check's result: what, how it went, what was seen, and the fix when it did not pass."""

    name: str
    status: Status
    detail: str
    fix: str = ""


Progress = Callable[[str], None]


def _private(path: Path, what: str) -> Check:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return Check(f"secret mode: {what}", "fail", f"{path} is missing", f"create {path} (mode 0600)")
    if mode & 0o077:
        return Check(f"secret mode: {what}", "fail", f"{path} is mode {mode:04o}", f"chmod 600 {path}")
    return Check(f"secret mode: {what}", "pass", f"{path} is mode {mode:04o}")


def check_config(path: Path) -> tuple[Check, EdgeConfig | None]:
    """The config loads and validates."""
    try:
        config = load_config(path)
    except Exception as err:  # any loader error is the finding itself
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        return Check(
            "config",
            "fail",
            f"{path}: {first}",
            f"fix the key named, then `outpost-edge --config {path} --check-config`",
        ), None
    return Check("config", "pass", f"{path} is valid (site {config.site.id})"), config


def check_disk(config: EdgeConfig) -> Check:
    """Free space where the database, outbox and snapshots live."""
    folder = config.storage.data_dir
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    detail = f"{free / (1 << 30):.1f} GiB free on {folder}"
    if free < FAIL_FREE_BYTES:
        return Check("disk space", "fail", detail, "free space, or lower vision.retention / storage.outbox_budget_mb")
    if free < WARN_FREE_BYTES:
        return Check("disk space", "warn", detail, "free space soon (snapshots and clips grow)")
    return Check("disk space", "pass", detail)


def check_clock(config: EdgeConfig) -> Check:
    """The system clock is synchronised (signed sync requests need it within 5 minutes) and the zone is set."""
    zone = config.site.timezone
    timedatectl = shutil.which("timedatectl")
    if timedatectl is None or not Path("/run/systemd/system").is_dir():
        return Check(
            "clock and time zone",
            "warn",
            f"site zone {zone}; cannot tell if the clock is synchronised (no systemd-timedated)",
            "install systemd-timesyncd or chrony",
        )
    try:
        out = subprocess.run(
            [timedatectl, "show", "-p", "NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return Check(
            "clock and time zone", "warn", f"site zone {zone}; timedatectl failed: {err}", "check systemd-timedated"
        )
    if out.returncode != 0:
        return Check(
            "clock and time zone",
            "warn",
            f"site zone {zone}; timedatectl: {out.stderr.strip() or 'no answer'}",
            "enable NTP: timedatectl set-ntp true",
        )
    if out.stdout.strip() != "yes":
        return Check(
            "clock and time zone",
            "fail",
            f"site zone {zone}; the clock is not NTP-synchronised",
            "timedatectl set-ntp true (and allow NTP out)",
        )
    return Check("clock and time zone", "pass", f"NTP-synchronised; site zone {zone}")


def check_secrets(config_path: Path, config: EdgeConfig) -> Iterator[Check]:
    """Files holding secrets are mode 0600 (or stricter)."""
    yield _private(config_path, "config")
    if config.cloud.secret_file is not None:
        yield _private(config.cloud.secret_file, "cloud.secret_file")
    pin_key = config.access.pin_key_file or config.storage.data_dir / "access-pin.key"
    if pin_key.exists():
        yield _private(pin_key, "PIN key")
    token = config.storage.data_dir / TOKEN_FILE_NAME
    if token.exists():
        yield _private(token, "metrics token")


def check_broker_port(config: EdgeConfig) -> Check:
    """The MQTT port: a broker answers there, or it is free for the edge to take."""
    mqtt = config.mqtt
    host, port = (
        (mqtt.external_host, mqtt.external_port)
        if mqtt.mode == "external" and not mqtt.external_manage
        else (mqtt.host, mqtt.port)
    )
    connect_host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    if port == 0:
        return Check("broker port", "pass", "mqtt.port 0: a free port is picked at start")
    try:
        with socket.create_connection((connect_host, port), timeout=2):
            return Check("broker port", "pass", f"a broker answers on {connect_host}:{port}")
    except OSError:
        pass
    try:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host or "0.0.0.0", port))
    except OSError as err:
        return Check(
            "broker port",
            "fail",
            f"{host}:{port} cannot be bound: {err.strerror}",
            f"stop what holds port {port} (ss -ltnp 'sport = :{port}') or change mqtt.port",
        )
    return Check(
        "broker port",
        "warn",
        f"nothing listens on {connect_host}:{port} yet (port is free)",
        "start the edge: systemctl start outpost-edge",
    )


def check_cameras(config: EdgeConfig, progress: Progress) -> Iterator[Check]:
    """Each enabled camera gives a frame."""
    import cv2  # noqa: PLC0415 - heavy; only this check needs it

    for camera in config.cameras:
        if not camera.enabled:
            continue
        progress(f"opening camera {camera.id} ...")
        started = time.monotonic()
        capture = cv2.VideoCapture(camera.source)
        try:
            ok, _frame = capture.read() if capture.isOpened() else (False, None)
        finally:
            capture.release()
        took = time.monotonic() - started
        if ok:
            yield Check(f"camera {camera.id}", "pass", f"frame read in {took:.1f} s")
        else:
            yield Check(
                f"camera {camera.id}",
                "fail",
                "no frame from its source",
                f"check the camera's power, network and cameras[{camera.id}].source (credentials, path)",
            )


def check_model(config: EdgeConfig, progress: Progress) -> Check:
    """The detector model exists, loads, and matches its recorded checksum (`<model>.sha256`) if one is kept."""
    from edge.preflight import detector_problem  # noqa: PLC0415 - loads onnxruntime
    from edge.vision.model_files import ModelNotFoundError, resolve_model_path  # noqa: PLC0415

    if not any(c.enabled for c in config.cameras):
        return Check("detector model", "pass", "no camera enabled: no model needed")
    try:
        path = resolve_model_path(config.vision.detector.model_path)
    except ModelNotFoundError as err:
        return Check("detector model", "fail", str(err), "outpost-provision model build-default (or model import FILE)")
    progress(f"checking model {path} ...")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    recorded = path.with_name(path.name + ".sha256")  # written by `model build-default` and `model import`
    if recorded.exists():
        fields = recorded.read_text().split()
        if not fields or fields[0].lower() != digest:
            return Check(
                "detector model",
                "fail",
                f"{path} sha256 {digest[:16]}... does not match {recorded}",
                "rebuild or re-import the model (the file is damaged or was replaced)",
            )
    problem = detector_problem(config)
    if problem is not None:
        return Check("detector model", "fail", problem, "outpost-provision model info FILE; rebuild or re-import it")
    kept = f"matches {recorded.name}" if recorded.exists() else f"no {recorded.name} kept to compare"
    return Check("detector model", "pass", f"{path} loads, sha256 {digest[:16]}... ({kept})")


def check_database(config: EdgeConfig) -> Check:
    """SQLite's own integrity check on the edge database (read-only)."""
    path = config.storage.database_path
    if not path.exists():
        return Check("database", "warn", f"{path} does not exist yet", "start the edge once: it creates the database")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as err:
        return Check("database", "fail", f"{path}: {err}", "restore the database from a backup (docs/INSTALL.md)")
    result = "; ".join(str(r[0]) for r in rows[:3])
    if result != "ok":
        return Check("database", "fail", f"{path}: {result}", "stop the edge, back the file up, restore from a backup")
    return Check("database", "pass", f"{path}: integrity ok")


def check_cloud(config: EdgeConfig, progress: Progress) -> Iterator[Check]:
    """The cloud answers its health probe, and accepts this site's signed (empty) batch."""
    url = config.cloud.url
    if not url:
        yield Check("cloud", "pass", "no cloud configured: the site runs offline")
        return
    progress(f"reaching {url} ...")
    base = url.rstrip("/")
    try:
        health = httpx.get(base + HEALTH_PATH, timeout=CLOUD_TIMEOUT_S)
    except httpx.HTTPError as err:
        yield Check(
            "cloud reachable",
            "fail",
            f"{base}: {err or type(err).__name__}",
            "check DNS, the network route and cloud.url",
        )
        return
    if health.status_code != 200:
        yield Check(
            "cloud reachable",
            "fail",
            f"{base}{HEALTH_PATH} answered {health.status_code}",
            "the cloud is up but unhealthy: tell its operator",
        )
        return
    yield Check("cloud reachable", "pass", f"{base} answers")
    try:
        secret = config.cloud.read_secret()
    except Exception as err:  # ConfigError (mode, unreadable) or OSError: the finding itself
        yield Check(
            "cloud credentials",
            "fail",
            str(err),
            "enroll again: outpost-provision enroll --cloud URL --code CODE --force",
        )
        return
    if not secret:
        yield Check("cloud credentials", "fail", "no site secret", "outpost-provision enroll --cloud URL --code CODE")
        return
    body = encode_batch(SyncBatch(site_id=config.site.id, sent_at=datetime.now(UTC), nonce=new_nonce(), records=[]))
    headers = sign(secret, body)
    headers.update({SITE_HEADER: config.site.id, "Content-Type": "application/json", "Content-Encoding": "gzip"})
    if config.cloud.enrollment_claim:  # enrolled from a file: this batch may be the one that claims the site
        headers[CLAIM_HEADER] = config.cloud.enrollment_claim
    try:
        answer = httpx.post(base + SYNC_PATH, content=body, headers=headers, timeout=CLOUD_TIMEOUT_S)
    except httpx.HTTPError as err:
        yield Check("cloud credentials", "fail", f"{err or type(err).__name__}", "retry; check the network")
        return
    if answer.status_code == 200:
        yield Check("cloud credentials", "pass", f"site {config.site.id} is accepted")
    elif answer.status_code == 401:
        yield Check(
            "cloud credentials",
            "fail",
            f"the cloud refuses site {config.site.id}: {answer.text[:120]}",
            "check the clock; else the site was revoked or re-enrolled: enroll again with --force",
        )
    elif answer.status_code in (409, 410) and "enrollment_" in answer.text:
        yield Check(
            "cloud credentials",
            "fail",
            f"the cloud refuses this box's enrollment file: {answer.text[:160]}",
            "ask the tenant admin for a new enrollment file: outpost-provision enroll --file PATH --force",
        )
    else:
        yield Check(
            "cloud credentials",
            "fail",
            f"signed test batch answered {answer.status_code}: {answer.text[:120]}",
            "tell the cloud's operator",
        )


def check_systemd(unit: str = "outpost-edge.service") -> Check:
    """The edge's systemd unit is active (warn where systemd does not run, e.g. a container)."""
    systemctl = shutil.which("systemctl")
    if systemctl is None or not Path("/run/systemd/system").is_dir():
        return Check("systemd", "warn", "systemd is not running here", f"on the box: systemctl enable --now {unit}")
    out = subprocess.run([systemctl, "is-active", unit], capture_output=True, text=True, timeout=5, check=False)
    state = out.stdout.strip() or "unknown"
    if state == "active":
        return Check("systemd", "pass", f"{unit} is active")
    return Check(
        "systemd",
        "fail",
        f"{unit} is {state}",
        f"systemctl enable --now {unit}; journalctl -u {unit} says why it stopped",
    )


def run_checks(config_path: Path, progress: Progress) -> list[Check]:
    """Every check, in order."""
    first, config = check_config(config_path)
    results = [first]
    if config is None:
        return [*results, check_systemd()]
    results.append(check_disk(config))
    results.append(check_clock(config))
    results.extend(check_secrets(config_path, config))
    results.append(check_broker_port(config))
    results.extend(check_cameras(config, progress))
    results.append(check_model(config, progress))
    results.append(check_database(config))
    results.extend(check_cloud(config, progress))
    results.append(check_systemd())
    from provisioning.doctor_ops import check_backup_age, check_unit

    results.append(check_unit(config_path))
    backup = check_backup_age(config)
    if backup is not None:
        results.append(backup)
    return results


def render_text(checks: list[Check]) -> str:
    """One line per check: `[pass] name: detail` and, when it did not pass, `-> fix`."""
    lines = []
    for check in checks:
        line = f"[{check.status}] {check.name}: {' '.join(check.detail.split())}"
        if check.fix and check.status != "pass":
            line += f"  -> {check.fix}"
        lines.append(line)
    return "\n".join(lines)


def render_json(checks: list[Check]) -> str:
    """The checks as a JSON document: {"ok": bool, "checks": [{name, status, detail, fix}]}."""
    return json.dumps({"ok": all(c.status != "fail" for c in checks), "checks": [asdict(c) for c in checks]})
