"""Wiegand codec: bit-exact frames from the format specs and published examples, parity errors, framing."""

from __future__ import annotations

import random

import pytest

from firmware_adapters.wiegand.codec import (
    H10301,
    H10304,
    W34,
    ParityError,
    UnknownFormat,
    WiegandEdge,
    WiegandFrameAssembler,
    bits_from_bytes,
    credential_from_bits,
    decode_bits,
    encode_bits,
    raw_credential,
)
from tests.firmware_adapters.captured import load_fixture


def spec_frame(facility_bits: str, card_bits: str, even_over: int, odd_over: int) -> str:
    """Build a frame the way the format sheets describe it: E + data + O, parity over the first/last data bits."""
    data = facility_bits + card_bits
    even = data[:even_over].count("1") % 2
    odd = 1 - data[len(data) - odd_over :].count("1") % 2
    return f"{even}{data}{odd}"


@pytest.mark.parametrize(
    ("fmt", "facility", "card", "expected"),
    [
        # H10301: 8-bit facility, 16-bit card; even parity over data bits 1-12, odd over 13-24.
        (H10301, 18, 12345, spec_frame(f"{18:08b}", f"{12345:016b}", 12, 12)),
        (H10301, 255, 65535, spec_frame("1" * 8, "1" * 16, 12, 12)),
        (H10301, 0, 1, spec_frame("0" * 8, f"{1:016b}", 12, 12)),
        # 34-bit: 16-bit facility, 16-bit card; parity over the first and last 16 data bits.
        (W34, 4660, 22136, spec_frame(f"{4660:016b}", f"{22136:016b}", 16, 16)),
        # H10304: 16-bit facility, 19-bit card; parity over the first and last 18 data bits (they share one).
        (H10304, 1234, 456789, spec_frame(f"{1234:016b}", f"{456789:019b}", 18, 18)),
        (H10304, 65535, 524287, spec_frame("1" * 16, "1" * 19, 18, 18)),
    ],
)
def test_frames_are_bit_exact_to_the_format_specs(fmt, facility, card, expected) -> None:
    assert len(expected) == fmt.length
    assert encode_bits(fmt, facility, card) == expected
    decoded = decode_bits(expected)
    assert (decoded.format, decoded.facility, decoded.card) == (fmt.name, facility, card)
    assert str(decoded) == f"{facility}:{card}"


def test_a_known_h10301_frame_spelled_out() -> None:
    # FC 18 = 00010010, card 12345 = 0011000000111001; the first 12 data bits hold 4 ones (E=0), the last 12
    # hold 4 (O=1).
    assert encode_bits(H10301, 18, 12345) == "0" + "00010010" + "0011000000111001" + "1"


@pytest.mark.parametrize("frame", load_fixture("wiegand/published_frames.json")["frames"], ids=lambda f: f["who"])
def test_published_examples_decode(frame) -> None:
    assert credential_from_bits(frame["bits"], accept_raw=False) == f"{frame['facility']}:{frame['card']}"


@pytest.mark.parametrize("fmt", [H10301, W34, H10304], ids=lambda f: f.name)
def test_every_single_bit_error_is_a_parity_error(fmt) -> None:
    rng = random.Random(26)
    for _ in range(5):
        facility = rng.randrange(2 ** (fmt.facility[1] - fmt.facility[0] + 1))
        card = rng.randrange(2 ** (fmt.card[1] - fmt.card[0] + 1))
        good = encode_bits(fmt, facility, card)
        for i in range(fmt.length):
            bad = good[:i] + ("1" if good[i] == "0" else "0") + good[i + 1 :]
            with pytest.raises(ParityError):
                decode_bits(bad)


def test_unknown_lengths_are_rejected_or_passed_raw() -> None:
    bits = "00000100101000011011001011000011"  # 32 bits: 04 A1 B2 C3
    with pytest.raises(UnknownFormat):
        credential_from_bits(bits, accept_raw=False)
    assert credential_from_bits(bits, accept_raw=True) == "04A1B2C3"
    assert raw_credential("101") == "A0/3"
    # A parity error is never passed on as raw data.
    good = encode_bits(H10301, 1, 2)
    with pytest.raises(ParityError):
        credential_from_bits(good[:-1] + ("0" if good[-1] == "1" else "1"), accept_raw=True)


def test_bits_from_osdp_style_bytes() -> None:
    assert bits_from_bytes(bytes.fromhex("09181cc0"), 26) == encode_bits(H10301, 18, 12345)
    with pytest.raises(ValueError):
        bits_from_bytes(b"\x00", 9)


def test_assembler_splits_frames_on_the_inter_bit_timeout() -> None:
    asm = WiegandFrameAssembler(timeout_ns=25_000_000)
    t = 1_000_000_000
    frame_a = encode_bits(H10301, 1, 100)
    frame_b = encode_bits(H10301, 2, 200)
    done = []
    for bit in frame_a:
        done.append(asm.feed(WiegandEdge(int(bit), t)))
        t += 2_000_000  # 2 ms between bits
    assert done == [None] * 26
    assert asm.deadline_ns() == t - 2_000_000 + 25_000_000
    assert asm.flush(t + 10_000_000) is None  # only 12 ms of quiet so far
    t += 30_000_000
    first = asm.feed(WiegandEdge(int(frame_b[0]), t))
    assert first == frame_a
    for bit in frame_b[1:]:
        t += 2_000_000
        assert asm.feed(WiegandEdge(int(bit), t)) is None
    assert asm.flush(t + 25_000_000) == frame_b
    assert not asm.pending
