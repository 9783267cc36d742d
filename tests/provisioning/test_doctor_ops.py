"""Doctor's checks of the installed unit (Type=notify with a watchdog) and of the backup age, on a box laid out by
`outpost-provision install --root`, with faults planted one at a time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge.config import load_config
from edge.storage.database import Database
from provisioning.backup import STAMP_FILE, create_backup
from provisioning.doctor_ops import check_backup_age, check_unit
from provisioning.install import install
from tests.provisioning.test_backup_restore import provision


async def test_unit_and_backup_checks_pass_then_name_each_fault(tmp_path: Path) -> None:
    report = install(tmp_path / "box", reuse_venv=True)
    layout = report.layout
    config = load_config(layout.config, environ={})

    unit = check_unit(layout.config)
    assert unit.status == "pass" and "Type=notify, WatchdogSec=30" in unit.detail
    assert check_backup_age(config) is None  # no backup ever taken: not set up, nothing to say

    db = Database(config.storage.database_path)
    await db.migrate()
    await db.close()
    archive = layout.backup_dir / "site.tar.gz"
    create_backup(layout.config, config, archive)
    fresh = check_backup_age(config)
    assert fresh is not None and fresh.status == "pass" and str(archive) in fresh.detail

    rc, out, err = await provision("doctor", "--config", str(layout.config))
    assert "[pass] systemd unit:" in out and "[pass] backup:" in out, out + err

    now = datetime.now(UTC)
    late = check_backup_age(config, now + timedelta(days=2))
    assert late is not None and late.status == "warn" and "outpost-provision backup" in late.fix
    stale = check_backup_age(config, now + timedelta(days=9))
    assert stale is not None and stale.status == "fail"
    archive.unlink()  # noqa: ASYNC240 - a local file
    gone = check_backup_age(config)
    assert gone is not None and gone.status == "warn" and "no longer there" in gone.detail
    (config.storage.data_dir / STAMP_FILE).write_text(json.dumps({"at": "yesterday"}))  # noqa: ASYNC240
    assert (unreadable := check_backup_age(config)) is not None and unreadable.status == "warn"

    text = layout.unit.read_text()  # noqa: ASYNC240 - a small file
    layout.unit.write_text(text.replace("Type=notify", "Type=simple"))  # noqa: ASYNC240 - the old release's unit
    old = check_unit(layout.config)
    assert old.status == "fail" and "Type=simple" in old.detail and "outpost-provision install" in old.fix
    layout.unit.write_text("\n".join(line for line in text.splitlines() if not line.startswith("WatchdogSec")))  # noqa: ASYNC240
    blind = check_unit(layout.config)
    assert blind.status == "fail" and "no WatchdogSec" in blind.detail
    layout.unit.unlink()  # noqa: ASYNC240 - a local file
    assert check_unit(layout.config).status == "warn"
