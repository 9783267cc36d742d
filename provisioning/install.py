"""`outpost-provision install`: lay out a box: virtualenv, service user, directories, config skeleton, systemd units.

With `--root DIR` everything goes under DIR and every path written into the files (config, units, sysusers and
tmpfiles entries) is DIR-prefixed, so the tree works where it is (tests run the installed edge from it); nothing
outside DIR changes: the `outpost` user is only recorded in DIR's `usr/lib/sysusers.d/outpost.conf` and owners in
its `usr/lib/tmpfiles.d/outpost.conf`. Without `--root` (a real box) it needs root: it also creates the user
(`systemd-sysusers`, else `useradd`), sets owners and reloads systemd. Every step is idempotent: a re-run reports
each item as unchanged and never overwrites an existing config.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import venv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from provisioning.enroll import SERVICE_USER

Progress = Callable[[str], None]
REPO_ROOT = Path(__file__).resolve().parent.parent
UNIT_TEMPLATES = REPO_ROOT / "systemd"
EDGE_UNIT = "outpost-edge.service"
UNITS = (EDGE_UNIT, "outpost-backup.service", "outpost-backup.timer")
BOX_VENV = Path("/opt/outpost/venv")
BOX_CONFIG_DIR = Path("/etc/outpost")
BOX_DATA_DIR = Path("/var/lib/outpost")
BOX_BACKUP_DIR = Path("/var/backups/outpost")
DEVICE_GROUPS = ("video", "dialout", "gpio")


class InstallError(Exception):
    """The layout could not be completed; the message names the step and the fix."""


@dataclass
class Layout:
    """Where each part of the box goes under `root` (`/` on a real box)."""

    root: Path

    def at(self, box_path: Path) -> Path:
        """`box_path` under the root."""
        return self.root / box_path.relative_to("/")

    @property
    def venv(self) -> Path:
        return self.at(BOX_VENV)

    @property
    def config_dir(self) -> Path:
        return self.at(BOX_CONFIG_DIR)

    @property
    def config(self) -> Path:
        return self.config_dir / "edge.toml"

    @property
    def secrets_dir(self) -> Path:
        return self.config_dir / "secrets"

    @property
    def data_dir(self) -> Path:
        return self.at(BOX_DATA_DIR)

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def backup_dir(self) -> Path:
        return self.at(BOX_BACKUP_DIR)

    @property
    def unit(self) -> Path:
        return self.at(Path("/etc/systemd/system")) / EDGE_UNIT

    @property
    def sysusers(self) -> Path:
        return self.at(Path("/usr/lib/sysusers.d/outpost.conf"))

    @property
    def tmpfiles(self) -> Path:
        return self.at(Path("/usr/lib/tmpfiles.d/outpost.conf"))


@dataclass
class InstallReport:
    """What install did, item by item."""

    layout: Layout
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


# (path, mode, owned by the service user)
def directories(layout: Layout) -> list[tuple[Path, int, bool]]:
    """Every directory of the box with its mode and whether the service user owns it."""
    return [
        (layout.config_dir, 0o755, False),
        (layout.secrets_dir, 0o700, True),
        (layout.data_dir, 0o700, True),
        (layout.models_dir, 0o755, True),
        (layout.backup_dir, 0o700, False),
    ]


def sysusers_text(layout: Layout) -> str:
    """systemd-sysusers entries: the service account and its device groups."""
    lines = [
        "# Outpost edge appliance (outpost-provision install)",
        f'u {SERVICE_USER} - "Outpost edge appliance" {layout.data_dir} /usr/sbin/nologin',
        "g gpio -",
    ]
    lines += [f"m {SERVICE_USER} {group}" for group in DEVICE_GROUPS]
    return "\n".join(lines) + "\n"


def tmpfiles_text(layout: Layout) -> str:
    """systemd-tmpfiles entries: the directories with their modes and owners."""
    lines = ["# Outpost edge appliance (outpost-provision install)"]
    for path, mode, owned in directories(layout):
        owner = SERVICE_USER if owned else "root"
        lines.append(f"d {path} {mode:04o} {owner} {owner} -")
    return "\n".join(lines) + "\n"


def config_text(layout: Layout) -> str:
    """The config skeleton of an unenrolled box (enroll, init-local or restore fill it in)."""
    return (
        "# Outpost edge config (outpost-provision install). Enroll: outpost-provision enroll --cloud URL --code CODE\n"
        '[site]\nid = "unenrolled"\n\n'
        f'[storage]\ndata_dir = "{layout.data_dir}"\n'
    )


def render_unit(template: str, layout: Layout, venv_dir: Path) -> str:
    """The edge unit with this layout's paths (identical to the template on a real box with /opt/outpost/venv)."""
    text = template.replace(str(BOX_VENV), str(venv_dir))
    if layout.root != Path("/"):
        for box_path in (BOX_CONFIG_DIR, BOX_DATA_DIR, BOX_BACKUP_DIR):
            text = text.replace(f"{box_path}/", f"{layout.at(box_path)}/")
            text = text.replace(f"{box_path} ", f"{layout.at(box_path)} ")
            text = text.replace(f"{box_path}\n", f"{layout.at(box_path)}\n")
    return text


def _write_if_changed(path: Path, text: str, mode: int, report: InstallReport, progress: Progress) -> bool:
    if path.exists() and path.read_text() == text and stat.S_IMODE(path.stat().st_mode) == mode:
        report.unchanged.append(str(path))
        progress(f"unchanged {path}")
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    part.unlink(missing_ok=True)
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(part, mode)
    os.replace(part, path)
    report.changed.append(str(path))
    progress(f"wrote {path} (mode {mode:04o})")
    return True


def _service_account() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        return None


def _ensure_venv(layout: Layout, reuse: bool, source: str | None, report: InstallReport, progress: Progress) -> Path:
    target = layout.venv
    if reuse:
        running = Path(sys.prefix).resolve()
        if target.is_symlink() and target.resolve() == running:
            report.unchanged.append(str(target))
            progress(f"unchanged {target} -> {running} (the running environment)")
            return target
        if target.exists() and not target.is_symlink():
            raise InstallError(f"{target} is a virtualenv already; drop --reuse-venv to update it, or remove it")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        target.symlink_to(running, target_is_directory=True)
        report.changed.append(str(target))
        progress(f"linked {target} -> {running} (the running environment)")
        return target
    python = target / "bin" / "python"
    if not python.exists():
        progress(f"creating the virtualenv {target}")
        venv.EnvBuilder(with_pip=True, symlinks=True).create(target)
        report.changed.append(str(target))
    spec = source or (str(REPO_ROOT) if (REPO_ROOT / "pyproject.toml").is_file() else None)
    if spec is None:
        raise InstallError("nothing to install into the virtualenv: pass --source (a wheel or a source folder)")
    progress(f"installing {spec} into {target} (pip; this takes a while the first time)")
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--upgrade", spec], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise InstallError(f"pip could not install {spec} into {target}: {result.stderr.strip()[-800:]}")
    report.changed.append(f"{target} packages")
    return target


def _ensure_directories(
    layout: Layout, account: pwd.struct_passwd | None, report: InstallReport, progress: Progress
) -> None:
    for path, mode, owned in directories(layout):
        created = not path.exists()
        path.mkdir(mode=mode, parents=True, exist_ok=True)
        changed = created or stat.S_IMODE(path.stat().st_mode) != mode
        os.chmod(path, mode)
        if account is not None:
            uid, gid = (account.pw_uid, account.pw_gid) if owned else (0, 0)
            info = path.stat()
            if (info.st_uid, info.st_gid) != (uid, gid):
                os.chown(path, uid, gid)
                changed = True
        (report.changed if changed else report.unchanged).append(str(path))
        progress(f"{'made' if changed else 'unchanged'} {path} (mode {mode:04o}{', owner outpost' if owned else ''})")


def _create_user(layout: Layout, progress: Progress) -> None:
    sysusers = shutil.which("systemd-sysusers")
    if sysusers is not None:
        command = [sysusers, str(layout.sysusers)]
    else:
        command = ["useradd", "--system", "--home-dir", str(layout.data_dir), "--shell", "/usr/sbin/nologin"]
        command += ["--groups", ",".join(g for g in DEVICE_GROUPS if _group_exists(g)), SERVICE_USER]
    progress(f"creating the {SERVICE_USER} user: {' '.join(command)}")
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise InstallError(f"could not create the {SERVICE_USER} user ({' '.join(command)}): {result.stderr.strip()}")


def _group_exists(name: str) -> bool:
    import grp

    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def install(
    root: Path,
    *,
    reuse_venv: bool = False,
    source: str | None = None,
    units_dir: Path = UNIT_TEMPLATES,
    progress: Progress = lambda _m: None,
) -> InstallReport:
    """Lay out a box under `root` (see the module docstring); raise InstallError naming what failed."""
    real_box = root.resolve() == Path("/")
    if real_box and os.geteuid() != 0:
        raise InstallError(
            "installing onto this machine needs root (it creates the outpost user, /etc/outpost, /var/lib/outpost "
            "and the systemd unit): run it with sudo, or pass --root DIR to lay the box out under a folder"
        )
    template_path = units_dir / EDGE_UNIT
    if not template_path.is_file():
        raise InstallError(f"no {EDGE_UNIT} in {units_dir}: pass --units DIR (the systemd/ folder of Outpost)")
    layout = Layout(root.resolve())
    report = InstallReport(layout)
    progress(f"service user {SERVICE_USER}")
    _write_if_changed(layout.sysusers, sysusers_text(layout), 0o644, report, progress)
    _write_if_changed(layout.tmpfiles, tmpfiles_text(layout), 0o644, report, progress)
    account: pwd.struct_passwd | None = None
    if real_box:
        if _service_account() is None:
            _create_user(layout, progress)
        account = _service_account()
    else:
        progress(f"{SERVICE_USER} is recorded in {layout.sysusers}, not created (--root)")
    progress("directories")
    _ensure_directories(layout, account, report, progress)
    progress("virtualenv")
    venv_dir = _ensure_venv(layout, reuse_venv, source, report, progress)
    progress("config")
    if layout.config.exists():
        os.chmod(layout.config, 0o600)
        report.unchanged.append(str(layout.config))
        progress(f"kept {layout.config} (mode 0600)")
    else:
        _write_if_changed(layout.config, config_text(layout), 0o600, report, progress)
    if account is not None:
        os.chown(layout.config, account.pw_uid, account.pw_gid)
    progress("systemd units")
    for name in UNITS:
        template = units_dir / name
        if template.is_file():
            rendered = render_unit(template.read_text(), layout, venv_dir)
            _write_if_changed(layout.unit.with_name(name), rendered, 0o644, report, progress)
    for rule, folder in (
        ("60-outpost-gpio.rules", "/etc/udev/rules.d"),
        ("50-outpost-mosquitto.rules", "/etc/polkit-1/rules.d"),
    ):
        source_rule = units_dir / rule
        if source_rule.is_file():
            _write_if_changed(layout.at(Path(folder)) / rule, source_rule.read_text(), 0o644, report, progress)
    if real_box and Path("/run/systemd/system").is_dir() and report.changed:
        subprocess.run(["systemctl", "daemon-reload"], check=False)
        progress("systemctl daemon-reload")
    return report
