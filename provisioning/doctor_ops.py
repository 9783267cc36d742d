"""Doctor checks of the operator's pieces: the installed systemd unit (notify + watchdog) and the backup age."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge.config import EdgeConfig
from provisioning.backup import STAMP_FILE
from provisioning.doctor import Check

EDGE_UNIT = "outpost-edge.service"
BACKUP_WARN_AGE = timedelta(hours=26)  # a daily backup that missed a day
BACKUP_FAIL_AGE = timedelta(days=8)
UNIT_FIX = "install the current unit: outpost-provision install (then systemctl daemon-reload)"


def unit_candidates(config_path: Path) -> list[Path]:
    """Where the edge unit may be: beside the config's etc/ (also under an install --root), then the vendor dir."""
    etc = config_path.resolve().parent.parent
    return [etc / "systemd" / "system" / EDGE_UNIT, Path("/usr/lib/systemd/system") / EDGE_UNIT]


def _unit_settings(text: str) -> dict[str, str]:
    settings: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith(("#", ";")):
            settings[key.strip()] = value.strip()
    return settings


def _loaded_settings() -> dict[str, str] | None:
    """Type and watchdog of the unit systemd has loaded, or None where systemd does not run."""
    systemctl = shutil.which("systemctl")
    if systemctl is None or not Path("/run/systemd/system").is_dir():
        return None
    out = subprocess.run(
        [systemctl, "show", EDGE_UNIT, "-p", "Type", "-p", "WatchdogUSec", "-p", "LoadState"],
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    )
    shown = _unit_settings(out.stdout)
    if shown.get("LoadState") != "loaded":
        return None
    return {"Type": shown.get("Type", ""), "WatchdogSec": shown.get("WatchdogUSec", "")}


def check_unit(config_path: Path) -> Check:
    """The edge unit is Type=notify with a watchdog (the edge reports READY and feeds WATCHDOG)."""
    settings = _loaded_settings()
    where = f"loaded {EDGE_UNIT}"
    if settings is None:
        found = next((p for p in unit_candidates(config_path) if p.is_file()), None)
        if found is None:
            return Check("systemd unit", "warn", f"no {EDGE_UNIT} installed", UNIT_FIX)
        settings, where = _unit_settings(found.read_text()), str(found)
    kind, watchdog = settings.get("Type", "simple"), settings.get("WatchdogSec", "")
    if kind != "notify":
        return Check(
            "systemd unit",
            "fail",
            f"{where} is Type={kind}: systemd neither waits for the edge to be ready nor restarts a hung edge",
            UNIT_FIX,
        )
    if watchdog in ("", "0", "infinity"):
        return Check("systemd unit", "fail", f"{where} has no WatchdogSec: a hung edge is not restarted", UNIT_FIX)
    return Check("systemd unit", "pass", f"{where}: Type=notify, WatchdogSec={watchdog}")


def check_backup_age(config: EdgeConfig, now: datetime | None = None) -> Check | None:
    """Age of the last `outpost-provision backup` (None when this box never took one: backups not set up)."""
    stamp = config.storage.data_dir / STAMP_FILE
    try:
        last = json.loads(stamp.read_text())
        taken = datetime.fromisoformat(last["at"])
        archive = Path(last["archive"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as err:
        return Check("backup", "warn", f"{stamp} is unreadable ({err})", "run outpost-provision backup")
    age = (now or datetime.now(UTC)) - taken
    detail = f"last backup {archive} taken {age.total_seconds() / 3600:.0f} h ago"
    fix = "run outpost-provision backup (and check the timer or cron job that should run it)"
    if age > BACKUP_FAIL_AGE:
        return Check("backup", "fail", detail, fix)
    if not archive.exists():
        return Check("backup", "warn", f"{detail}, but the archive is no longer there", fix)
    if age > BACKUP_WARN_AGE:
        return Check("backup", "warn", detail, fix)
    return Check("backup", "pass", detail)
