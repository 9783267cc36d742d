"""The installer's subcommands of `outpost-provision`: offline enrollment, local sites, cameras, doors, devices.

`provisioning.cli` registers them (`register`) and hands their parsed arguments to `run`. Each validates its
arguments with pydantic and prints one clear error naming the fix; slow work prints progress on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from provisioning.config_edit import ConfigEditError
from provisioning.pairing import DeviceSettings

M = TypeVar("M", bound=BaseModel)

COMMANDS = frozenset({"init-local", "add-camera", "add-door", "pair-device"})


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], default_config: Path) -> None:
    """Add the installer's subcommands to `outpost-provision`."""
    init = sub.add_parser(
        "init-local",
        help="set up a site with no cloud (sync off); enroll it later without losing its data",
        description="Write an edge config for a site that has no cloud: the box runs its doors, cameras and "
        "console, and journals everything. A later `enroll` (online or --file) attaches it to a cloud and its "
        "journal goes up with the first sync.",
    )
    init.add_argument("--site-name", required=True, help="name of the site (shown in the console)")
    init.add_argument("--timezone", default="UTC", help="IANA time zone of the site, e.g. Europe/Berlin (UTC)")
    init.add_argument("--config", type=Path, default=default_config, help=f"edge config to write ({default_config})")
    init.add_argument(
        "--data-dir", type=Path, default=Path("/var/lib/outpost"), help="database and snapshots (/var/lib/outpost)"
    )
    init.add_argument("--force", action="store_true", help="replace an existing config")
    init.add_argument("--owner", default=argparse.SUPPRESS, help="user that owns the written config")

    pair = sub.add_parser(
        "pair-device",
        help="create a device's MQTT account and print the settings for its firmware (native, zigbee2mqtt, "
        "tasmota, shelly)",
        description="Create the device's broker account in the edge config (password hashed, shown once) and "
        "print exactly what to type into its firmware: broker host and port, user, password, client id, topics. "
        "Restart the edge afterwards (systemctl restart outpost-edge).",
    )
    pair.add_argument("kind", metavar="KIND", help="native | zigbee2mqtt | tasmota | shelly")
    pair.add_argument("--id", required=True, help="device id: its MQTT user and client id (e.g. lock-back)")
    pair.add_argument("--role", default="lock", help="native devices: reader | lock | contact | sensor (lock)")
    pair.add_argument("--zone", default="main", help="zone of the device; created if the config lacks it (main)")
    pair.add_argument("--name", default="", help="human name shown in the console")
    pair.add_argument("--topic", help="Tasmota Topic, Shelly device id (shelly1-ABC123) or Zigbee2MQTT base topic")
    pair.add_argument("--relay", type=int, default=1, help="relay channel of a Tasmota or Shelly (1)")
    _device_output_options(pair, default_config)

    _register_add_camera(sub, default_config)

    door = sub.add_parser(
        "add-door",
        help="add a door with its lock, reader and contact, and print each device's firmware settings",
        description="Add a door to the edge config with a lock (native, Tasmota or Shelly), a native reader and "
        "a native contact (lock-ID, reader-ID, contact-ID), each with its own MQTT account, and print their "
        "firmware settings. Restart the edge afterwards.",
    )
    door.add_argument("id", metavar="ID", help="door id, e.g. front")
    door.add_argument("--name", required=True, help="human name, e.g. 'Front door'")
    door.add_argument("--zone", default="main", help="zone the door leads into; created if missing (main)")
    door.add_argument("--lock", default="native", help="lock firmware: native | tasmota | shelly (native)")
    door.add_argument("--topic", help="Tasmota Topic or Shelly device id of the lock")
    door.add_argument("--no-reader", action="store_true", help="the door has no reader")
    door.add_argument("--no-contact", action="store_true", help="the door has no contact")
    _device_output_options(door, default_config)


def _register_add_camera(sub: argparse._SubParsersAction[argparse.ArgumentParser], default_config: Path) -> None:
    camera = sub.add_parser(
        "add-camera",
        help="probe a camera (RTSP, file, USB index), test the detector on it and add it to the config",
        description="Probe the stream (resolution, fps), run this box's detector on a few frames and save a test "
        "snapshot with the boxes drawn, suggest the detection fps and size from the measured inference time, and "
        "add the camera to the edge config (validated, atomic). Restart the edge afterwards.",
    )
    camera.add_argument(
        "url", metavar="URL", help="rtsp://[USER:PASSWORD@]HOST[:PORT]/PATH, a video file, or a USB index"
    )
    camera.add_argument("--id", required=True, help="camera id, e.g. gate")
    camera.add_argument("--name", default="", help="human name (default: the id)")
    camera.add_argument("--zone", help="site zone the camera watches; created if missing")
    camera.add_argument("--config", type=Path, default=default_config, help=f"edge config ({default_config})")
    camera.add_argument("--snapshot", type=Path, help="test snapshot to write (default ./outpost-camera-ID.jpg)")
    camera.add_argument("--seconds", type=float, default=3.0, help="how long to watch a live stream (3)")
    camera.add_argument("--owner", default=argparse.SUPPRESS, help="user that owns the written config")


def _device_output_options(parser: argparse.ArgumentParser, default_config: Path) -> None:
    parser.add_argument("--config", type=Path, default=default_config, help=f"edge config ({default_config})")
    parser.add_argument("--broker-host", help="address the devices reach this box at (default: its LAN address)")
    parser.add_argument("--output", type=Path, metavar="FILE", help="write the settings to FILE (mode 0600)")
    parser.add_argument("--qr", action="store_true", help="also print the settings as a QR code")
    parser.add_argument("--owner", default=argparse.SUPPRESS, help="user that owns the written config")


def fail(message: str) -> int:
    """Print an error for the installer and return the exit status."""
    print(f"outpost-provision: {message}", file=sys.stderr)
    return 1


def validated(model: type[M], values: dict[str, object]) -> M | str:
    """Validate command-line values; return the model or a one-line error naming the option."""
    try:
        return model.model_validate(values)
    except ValidationError as err:
        problems = "; ".join(
            f"--{str(e['loc'][0]).replace('_', '-')}: {_message(e['msg'])}" if e["loc"] else _message(e["msg"])
            for e in err.errors()
        )
        return f"invalid arguments ({problems})"


def _message(msg: str) -> str:
    """A pydantic message without its "Value error, " prefix (our own validators' words are the message)."""
    return msg.removeprefix("Value error, ")


def progress(message: str) -> None:
    """Report progress of slow work on stderr."""
    print(f"  {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run one of the installer's subcommands."""
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "init-local": _init_local,
        "pair-device": _pair_device,
        "add-door": _add_door,
        "add-camera": _add_camera,
    }
    return handlers[args.command](args)


def _owner(args: argparse.Namespace) -> str | None:
    from provisioning.enroll import default_owner

    return getattr(args, "owner", None) or default_owner()


def _init_local(args: argparse.Namespace) -> int:
    from provisioning.enroll import EnrollmentError
    from provisioning.init_local import InitLocalArgs, init_local

    parsed = validated(
        InitLocalArgs,
        {"site_name": args.site_name, "timezone": args.timezone, "config": args.config, "data_dir": args.data_dir},
    )
    if isinstance(parsed, str):
        return fail(parsed)
    owner = _owner(args)
    try:
        site_id = init_local(parsed, force=args.force, owner=owner)
    except EnrollmentError as err:
        return fail(str(err))
    except OSError as err:
        return fail(f"cannot write {args.config}: {err.strerror}")
    print(f"Local site {site_id} ({parsed.site_name}), no cloud: sync is off and everything is journaled.")
    print(f"Wrote {args.config} (mode 0600). Start the box with: outpost-edge --config {args.config}")
    print("Attach it to a cloud later with outpost-provision enroll (--code or --file); its journal goes up then.")
    return 0


def enroll_file(args: argparse.Namespace) -> int:
    """`enroll --file`: apply a signed enrollment file without reaching the cloud."""
    from provisioning.enroll import EnrollmentError
    from provisioning.enroll_file import EnrollFileArgs, enroll_from_file

    parsed = validated(EnrollFileArgs, {"file": args.file, "cloud_key": args.cloud_key, "config": args.config})
    if isinstance(parsed, str):
        return fail(parsed)
    owner = _owner(args)
    try:
        enrollment, signer = enroll_from_file(parsed, force=args.force, owner=owner)
    except EnrollmentError as err:
        return fail(str(err))
    except OSError as err:
        return fail(f"cannot write {args.config}: {err.strerror}")
    print(f"Enrollment file verified: signed by cloud key {signer}", end="")
    print(" (as expected)." if parsed.cloud_key else "; compare it with the key on the HQ portal's Sites page.")
    print(f"Enrolled offline as site {enrollment.site_id} ({enrollment.site_name}) of tenant {enrollment.tenant_id}.")
    print(
        f"Wrote {args.config} (mode 0600). The box syncs to {enrollment.cloud_url} once it is online; it must "
        f"do so before {enrollment.expires_at:%Y-%m-%d %H:%M} UTC. Start it with: outpost-edge --config {args.config}"
    )
    return 0


def _pair_device(args: argparse.Namespace) -> int:
    from provisioning.pairing import PairArgs, PairingError, pair_device

    parsed = validated(
        PairArgs,
        {
            "kind": args.kind,
            "id": args.id,
            "role": args.role,
            "zone": args.zone,
            "name": args.name,
            "topic": args.topic,
            "relay": args.relay,
            "broker_host": args.broker_host,
        },
    )
    if isinstance(parsed, str):
        return fail(parsed)
    try:
        settings, zone_added = pair_device(args.config, parsed, owner=_owner(args))
    except (PairingError, ConfigEditError) as err:
        return fail(str(err))
    if zone_added:
        print(f"Added zone {parsed.zone!r} to {args.config}.")
    return _show_settings(args, [settings])


def _add_door(args: argparse.Namespace) -> int:
    from provisioning.doors import AddDoorArgs, add_door
    from provisioning.pairing import PairingError

    parsed = validated(
        AddDoorArgs,
        {
            "id": args.id,
            "name": args.name,
            "zone": args.zone,
            "lock": args.lock,
            "topic": args.topic,
            "reader": not args.no_reader,
            "contact": not args.no_contact,
            "broker_host": args.broker_host,
        },
    )
    if isinstance(parsed, str):
        return fail(parsed)
    try:
        settings = add_door(args.config, parsed, owner=_owner(args))
    except (PairingError, ConfigEditError) as err:
        return fail(str(err))
    print(f"Added door {parsed.id!r} ({parsed.name}) with {', '.join(s.device_id for s in settings)}.")
    return _show_settings(args, settings)


def _show_settings(args: argparse.Namespace, all_settings: list[DeviceSettings]) -> int:
    from provisioning.settings_output import render_text, terminal_qr, write_settings

    if args.output is not None:
        try:
            write_settings(args.output, all_settings)
        except OSError as err:
            return fail(f"cannot write {args.output}: {err.strerror}; the accounts are in the config already")
        print(f"Wrote the firmware settings to {args.output} (mode 0600; it holds the passwords).")
    else:
        print("Passwords are shown once (the config keeps only their hashes):\n")
        for settings in all_settings:
            print(render_text(settings))
    if args.qr:
        for settings in all_settings:
            print(f"QR code of {settings.device_id}'s settings:")
            print(terminal_qr(settings))
    print(f"Restart the edge to let the device in: systemctl restart outpost-edge (config {args.config}).")
    return 0


def _add_camera(args: argparse.Namespace) -> int:
    from edge.config import ConfigError, load_config
    from provisioning.cameras import AddCameraArgs, add_camera_to_config, examine_camera
    from provisioning.rtsp_probe import StreamProblem

    parsed = validated(
        AddCameraArgs,
        {
            "url": args.url,
            "id": args.id,
            "name": args.name,
            "zone": args.zone,
            "snapshot": args.snapshot or Path(f"outpost-camera-{args.id}.jpg"),
            "seconds": args.seconds,
        },
    )
    if isinstance(parsed, str):
        return fail(parsed)
    try:
        config = load_config(args.config)
    except ConfigError as err:
        return fail(f"{err}; set the box up first (outpost-provision enroll or init-local)")
    try:
        report = examine_camera(parsed, config, progress)
        zone_added = add_camera_to_config(args.config, parsed, report.detect_fps, owner=_owner(args))
    except (StreamProblem, ConfigEditError) as err:
        return fail(str(err))
    except OSError as err:
        return fail(f"cannot write the snapshot {parsed.snapshot}: {err.strerror}; pass --snapshot PATH")
    stream = report.stream
    labels: dict[str, int] = {}
    for detection in report.detections:
        labels[detection.label] = labels.get(detection.label, 0) + 1
    seen = ", ".join(f"{n} {label}" for label, n in sorted(labels.items())) or "nothing"
    print(f"Camera {parsed.id}: {stream.width}x{stream.height}, {stream.fps:.1f} fps ({stream.kind})")
    print(f"Test snapshot: {report.snapshot} (detected {seen})")
    print(
        f"Detector: {report.inference_ms:.0f} ms per frame on this box; with {report.cameras_on_box} camera(s) "
        f"detect at {report.detect_fps:g} fps each (fps = {report.detect_fps:g}), input size {report.detect_size} "
        f"(the model's is {report.model_input})"
    )
    if zone_added:
        print(f"Added zone {parsed.zone!r}.")
    print(f"Added camera {parsed.id!r} to {args.config} with fps = {report.detect_fps:g}.")
    print("Restart the edge to start it: systemctl restart outpost-edge")
    return 0
