"""Wiegand frames: edges -> bit frames -> checked card formats -> Outpost credential strings.

Pure functions and one pure state machine (`WiegandFrameAssembler`, driven by edge timestamps); no I/O.

Credential strings (docs/MQTT.md, "Adapters"), shared with the OSDP adapter:
- a known format with valid parity -> ``"<facility>:<card>"`` in decimal, no padding (H10301 FC 18 card 12345 ->
  ``"18:12345"``);
- anything else, when raw credentials are accepted -> the bits left-aligned into bytes as upper-case hex, with
  ``"/<bit count>"`` appended when the count is not a multiple of 8 (a 32-bit UID -> ``"04A1B2C3"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class WiegandError(ValueError):
    """A frame is not a valid credential."""


class ParityError(WiegandError):
    """A frame of a known format fails its parity check."""


class UnknownFormat(WiegandError):
    """No configured format has this many bits."""


@dataclass(frozen=True)
class WiegandFormat:
    """A fixed-length Wiegand card format; bit positions are 0-based and inclusive."""

    name: str
    length: int
    even_parity: tuple[int, int]
    """Bits covered by the leading even-parity bit (bit 0)."""
    odd_parity: tuple[int, int]
    """Bits covered by the trailing odd-parity bit (the last bit)."""
    facility: tuple[int, int]
    card: tuple[int, int]


H10301 = WiegandFormat("H10301", 26, even_parity=(1, 12), odd_parity=(13, 24), facility=(1, 8), card=(9, 24))
"""Standard 26-bit: P + 8-bit facility + 16-bit card + P."""
W34 = WiegandFormat("W34", 34, even_parity=(1, 16), odd_parity=(17, 32), facility=(1, 16), card=(17, 32))
"""34-bit: P + 16-bit facility + 16-bit card + P (HID H10306 layout)."""
H10304 = WiegandFormat("H10304", 37, even_parity=(1, 18), odd_parity=(18, 35), facility=(1, 16), card=(17, 35))
"""37-bit with facility: P + 16-bit facility + 19-bit card + P; the parity ranges share bit 18."""

FORMATS: dict[int, WiegandFormat] = {f.length: f for f in (H10301, W34, H10304)}
"""Known formats by bit length."""
FORMATS_BY_NAME: dict[str, WiegandFormat] = {f.name: f for f in FORMATS.values()}


class Credential(NamedTuple):
    """A decoded card."""

    format: str
    facility: int
    card: int

    def __str__(self) -> str:
        return credential_string(self.facility, self.card)


def credential_string(facility: int, card: int) -> str:
    """Return Outpost's credential string for a facility code and card number."""
    return f"{facility}:{card}"


def _field(bits: str, span: tuple[int, int]) -> int:
    return int(bits[span[0] : span[1] + 1], 2)


def _ones(bits: str, span: tuple[int, int]) -> int:
    return bits[span[0] : span[1] + 1].count("1")


def _check_bits(bits: str) -> None:
    if not bits or set(bits) - {"0", "1"}:
        raise WiegandError(f"not a bit string: {bits[:80]!r}")


def decode_bits(bits: str, formats: dict[int, WiegandFormat] | None = None) -> Credential:
    """Decode and parity-check a frame; raise UnknownFormat or ParityError."""
    _check_bits(bits)
    fmt = (FORMATS if formats is None else formats).get(len(bits))
    if fmt is None:
        raise UnknownFormat(f"no known {len(bits)}-bit format")
    if (int(bits[0]) + _ones(bits, fmt.even_parity)) % 2 != 0:
        raise ParityError(f"{fmt.name}: even parity bit is wrong")
    if (int(bits[-1]) + _ones(bits, fmt.odd_parity)) % 2 != 1:
        raise ParityError(f"{fmt.name}: odd parity bit is wrong")
    return Credential(fmt.name, _field(bits, fmt.facility), _field(bits, fmt.card))


def encode_bits(fmt: WiegandFormat, facility: int, card: int) -> str:
    """Build the frame a reader sends for a card (parity bits included)."""
    fac_len = fmt.facility[1] - fmt.facility[0] + 1
    card_len = fmt.card[1] - fmt.card[0] + 1
    if not 0 <= facility < 2**fac_len or not 0 <= card < 2**card_len:
        raise WiegandError(f"{fmt.name}: facility {facility} or card {card} out of range")
    body = ["0"] * fmt.length
    body[fmt.facility[0] : fmt.facility[1] + 1] = format(facility, f"0{fac_len}b")
    body[fmt.card[0] : fmt.card[1] + 1] = format(card, f"0{card_len}b")
    bits = "".join(body)
    even = _ones(bits, fmt.even_parity) % 2
    odd = 1 - _ones(bits, fmt.odd_parity) % 2
    return f"{even}{bits[1:-1]}{odd}"


def bits_from_bytes(data: bytes, bit_count: int) -> str:
    """Return the first `bit_count` bits of `data`, most significant bit first (OSDP raw card data)."""
    if not 0 < bit_count <= len(data) * 8:
        raise WiegandError(f"{bit_count} bits do not fit in {len(data)} bytes")
    return "".join(format(byte, "08b") for byte in data)[:bit_count]


def raw_credential(bits: str) -> str:
    """Return the raw credential string: bits left-aligned into bytes as hex, '/<count>' if not whole bytes."""
    _check_bits(bits)
    padded = bits + "0" * (-len(bits) % 8)
    hex_text = int(padded, 2).to_bytes(len(padded) // 8, "big").hex().upper()
    return hex_text if len(bits) % 8 == 0 else f"{hex_text}/{len(bits)}"


def credential_from_bits(bits: str, *, accept_raw: bool, formats: dict[int, WiegandFormat] | None = None) -> str:
    """Return the credential string of a frame; parity errors always raise, unknown lengths only if not raw."""
    try:
        return str(decode_bits(bits, formats))
    except UnknownFormat:
        if accept_raw:
            return raw_credential(bits)
        raise


class WiegandEdge(NamedTuple):
    """A falling edge on D0 (a 0 bit) or D1 (a 1 bit), timestamped by the kernel or the simulator."""

    line: int
    timestamp_ns: int


class WiegandFrameAssembler:
    """Collects bits into frames; a frame ends when no edge came for `timeout_ns` (inter-bit gaps are ~2 ms)."""

    def __init__(self, timeout_ns: int = 25_000_000) -> None:
        self.timeout_ns = timeout_ns
        self._bits: list[str] = []
        self._last_ns = 0

    @property
    def pending(self) -> bool:
        """True while a frame is being received."""
        return bool(self._bits)

    def deadline_ns(self) -> int | None:
        """When the current frame ends if no further edge comes (same clock as the edge timestamps)."""
        return self._last_ns + self.timeout_ns if self._bits else None

    def feed(self, edge: WiegandEdge) -> str | None:
        """Add one edge; return the previous frame if this edge starts a new one."""
        done = None
        if self._bits and edge.timestamp_ns - self._last_ns > self.timeout_ns:
            done = self._take()
        self._bits.append("1" if edge.line else "0")
        self._last_ns = edge.timestamp_ns
        return done

    def flush(self, now_ns: int) -> str | None:
        """Return the current frame if the line has been quiet for the timeout at `now_ns`."""
        if self._bits and now_ns - self._last_ns >= self.timeout_ns:
            return self._take()
        return None

    def _take(self) -> str:
        bits = "".join(self._bits)
        self._bits.clear()
        return bits
