"""A wshub.v1 client in Python, written from docs/protocol.md alone, on the
`websockets` library (Debian's python3-websockets 10.4). Driven by
tests/interop_test.ts.

Usage: framed_client.py URL

It offers the subprotocol wshub.v1, reads the hello, answers every ping,
and sends every application message it receives back to the server (text
as an `m` frame, binary behind the 0x6d byte) until the text "bye", then
closes with 1000. Anything that breaks the protocol closes with 4002.

Writes one JSON object per line on stdout: {"event": "open", "protocol"},
{"event": "hello", ...the hello's fields}, {"event": "ping", "token"},
{"event": "frame", "tag": "m"|"b"|"binary", "count"},
{"event": "message", "type": "text"|"binary", "hex"} and
{"event": "close", "code", "reason"}.
"""

import asyncio
import json
import sys

import websockets

SUBPROTOCOL = "wshub.v1"
BINARY_TAG = 0x6D  # "m"


class ProtocolError(Exception):
    pass


def emit(**event):
    print(json.dumps(event), flush=True)


def split_batch(body):
    """Splits the body of a `b` frame, `<length>:<text>` repeated, where each
    length counts UTF-16 code units. Working on the UTF-16-LE encoding makes
    every unit two bytes, so lengths become byte offsets."""
    units = body.encode("utf-16-le")
    messages = []
    i = 0
    while i < len(units):
        length = 0
        digits = 0
        while units[i : i + 2] != b":\x00":
            unit = units[i : i + 2].decode("utf-16-le")
            if not ("0" <= unit <= "9") or digits > 15:
                raise ProtocolError("malformed b frame: expected a decimal length")
            length = length * 10 + int(unit)
            digits += 1
            i += 2
        if digits == 0:
            raise ProtocolError("malformed b frame: empty length")
        start = i + 2
        end = start + 2 * length
        if end > len(units):
            raise ProtocolError("malformed b frame: a length runs past the frame")
        messages.append(units[start:end].decode("utf-16-le"))
        i = end
    return messages


async def run(url):
    async with websockets.connect(
        url, subprotocols=[SUBPROTOCOL], max_size=None, compression=None
    ) as ws:
        emit(event="open", protocol=ws.subprotocol or "")
        if ws.subprotocol != SUBPROTOCOL:
            raise ProtocolError(f"the server chose {ws.subprotocol!r}, not {SUBPROTOCOL}")
        hello = None
        try:
            async for frame in ws:
                if isinstance(frame, bytes):
                    if len(frame) == 0 or frame[0] != BINARY_TAG:
                        raise ProtocolError("binary frame without the 0x6d tag")
                    tag, messages = "binary", [frame[1:]]
                else:
                    tag, body = frame[:1], frame[1:]
                    if hello is None and tag != "h":
                        raise ProtocolError(f"expected the hello first, got tag {tag!r}")
                    if tag == "h":
                        if hello is not None:
                            raise ProtocolError("a second hello")
                        hello = json.loads(body)
                        emit(event="hello", **hello)
                        continue
                    if tag in ("p", "P"):
                        if not 1 <= len(body.encode("utf-16-le")) // 2 <= 32:
                            raise ProtocolError("a ping token must be 1-32 UTF-16 units")
                        if tag == "p":
                            await ws.send("P" + body)
                            emit(event="ping", token=body)
                        continue
                    if tag == "m":
                        messages = [body]
                    elif tag == "b":
                        messages = split_batch(body)
                    else:
                        raise ProtocolError(f"unknown tag {tag!r}")
                emit(event="frame", tag=tag, count=len(messages))
                for message in messages:
                    if isinstance(message, str):
                        emit(event="message", type="text", hex=message.encode("utf-8").hex())
                        if message == "bye":
                            await ws.close(1000)
                            break
                        await ws.send("m" + message)
                    else:
                        emit(event="message", type="binary", hex=message.hex())
                        await ws.send(bytes([BINARY_TAG]) + message)
        except ProtocolError as error:
            await ws.close(4002, "protocol error")
            emit(event="error", message=str(error))
        except websockets.ConnectionClosed:
            pass
        await ws.wait_closed()
        emit(event="close", code=ws.close_code, reason=ws.close_reason)
        return 0 if ws.close_code == 1000 else 1


def main():
    try:
        return asyncio.run(asyncio.wait_for(run(sys.argv[1]), 30))
    except Exception as error:  # report, then fail: the test prints stderr
        emit(event="error", message=f"{type(error).__name__}: {error}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
