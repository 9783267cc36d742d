"""A looping H.264 RTSP test server, run as a subprocess with the SYSTEM python3 (PyGObject + GStreamer).

    /usr/bin/python3 tests/edge/vision/rtsp_server.py --port 8554 --frames DIR [--fps 10] [--path /plaza]
        [--user U --password P]

Serves rtsp://127.0.0.1:PORT/PATH: the JPEG files DIR/00000.jpg, 00001.jpg, ... (decoded frames of a real
clip, written by the test) re-encoded as H.264, looping, paced to --fps; without --frames, GStreamer's
live test pattern. Prints "READY <url>" on stdout once it listens; runs until killed.

Needs the Debian packages python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base
gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-tools; exits with status 3 and says
so when they are missing. It must not import anything from the project (it runs outside the venv).
"""

from __future__ import annotations

import argparse
import sys

PACKAGES = (
    "python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good "
    "gstreamer1.0-plugins-ugly gstreamer1.0-tools"
)
MISSING_EXIT = 3
ENCODE = "x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} ! rtph264pay name=pay0 pt=96"


def launch_line(frames: str | None, fps: int) -> str:
    """Return the gst-launch description of the media pipeline."""
    encode = ENCODE.format(gop=fps)
    if frames is None:
        source = f"videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate={fps}/1"
    else:
        # multifilesrc is not live; the RTSP server's sinks sync to the clock, which paces it to the framerate.
        source = (
            f"multifilesrc location={frames}/%05d.jpg index=0 loop=true caps=image/jpeg,framerate={fps}/1 "
            "! jpegdec ! videoconvert ! video/x-raw,format=I420"
        )
    return f"( {source} ! {encode} )"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/plaza")
    parser.add_argument("--frames", default=None, help="directory of 00000.jpg, 00001.jpg, ...")
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--user", default=None, help="require HTTP Basic authentication with this user")
    parser.add_argument("--password", default="", help="the password of --user")
    args = parser.parse_args()
    try:
        import gi

        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GLib, Gst, GstRtspServer
    except (ImportError, ValueError) as err:
        print(f"RTSP test server unavailable ({err}); install: apt-get install {PACKAGES}", file=sys.stderr)
        return MISSING_EXIT
    Gst.init(None)
    for element in ("x264enc", "rtph264pay", "jpegdec", "multifilesrc", "videotestsrc"):
        if Gst.ElementFactory.find(element) is None:
            print(f"GStreamer element {element} missing; install: apt-get install {PACKAGES}", file=sys.stderr)
            return MISSING_EXIT

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(args.frames, args.fps))
    factory.set_shared(True)
    if args.user is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", args.user)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role(args.user, "media.factory.access", True)
        permissions.add_permission_for_role(args.user, "media.factory.construct", True)
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    print(f"READY rtsp://127.0.0.1:{args.port}{args.path}", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
