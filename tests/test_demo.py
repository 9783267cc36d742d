"""The README's demo command really runs: a cloud, an enrolled edge, devices and the camera, end to end."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path


def test_demo_runs_and_the_cloud_receives_the_site_events(tmp_path: Path, vtest_path: Path) -> None:
    work = tmp_path / "demo"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "outpost-demo"), "--duration", "25", "--workdir", str(work)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert re.search(r"LAN console : http://127\.0\.0\.1:\d+/\s+login admin / \S+", result.stdout)
    assert re.search(r"HQ portal   : http://127\.0\.0\.1:\d+/portal\s+login hq@demo\.example / \S+", result.stdout)
    with sqlite3.connect(work / "cloud" / "cloud.db") as db:
        kinds = dict(db.execute("SELECT kind, count(*) FROM records GROUP BY kind").fetchall())
    assert kinds.get("audit", 0) >= 1, kinds
    assert kinds.get("detection", 0) >= 1, kinds
    assert kinds.get("device_status", 0) >= 7, kinds
    with sqlite3.connect(work / "edge" / "edge.db") as db:
        pending = db.execute("SELECT count(*) FROM outbox WHERE acked = 0").fetchone()[0]
        offline = db.execute("SELECT door_id FROM door_alarms WHERE alarm = 'lock_offline'").fetchall()
    assert pending == 0  # the final flush on shutdown delivered everything
    assert offline == []  # stopping the demo is no lock going offline (the edge stops before the devices)
    assert (work / ".outpost-demo").is_file()


def test_the_demo_wipes_only_its_own_work_dir(tmp_path: Path) -> None:
    from provisioning.demo import main, prepare_workdir

    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    assert main(["--workdir", str(precious), "--duration", "0"]) == 2
    assert (precious / "thesis.tex").read_text() == "years of work"

    earlier = tmp_path / "demo"
    prepare_workdir(earlier)  # new: created with its marker
    (earlier / "edge.db").write_text("old state")
    prepare_workdir(earlier)
    assert not (earlier / "edge.db").exists() and (earlier / ".outpost-demo").is_file()
