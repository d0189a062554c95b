"""A plain WebSocket client built on the `websockets` library (Debian's
python3-websockets 10.4), driven by tests/interop_test.ts.

Usage: plain_client.py MODE URL [PROTOCOLS]

PROTOCOLS is a JSON array of subprotocols to offer (default: none). MODE:
  handshake  connect, report, close with 1000
  echo       send every message back as it came (text as text, binary as
             binary) until the text "bye", then close with 1000
  drain      only read, until the server closes

Writes one JSON object per line on stdout: {"event": "open", "protocol",
"header"}, {"event": "message", "type": "text"|"binary", "hex"} (the UTF-8
or raw bytes, hex-encoded) and {"event": "close", "code", "reason"}. Exits 0
when the run went as the mode says, non-zero otherwise.
"""

import asyncio
import json
import sys

import websockets


def emit(**event):
    print(json.dumps(event), flush=True)


async def run(mode, url, protocols):
    async with websockets.connect(
        url, subprotocols=protocols or None, max_size=None, compression=None
    ) as ws:
        emit(
            event="open",
            protocol=ws.subprotocol or "",
            header=ws.response_headers.get("Sec-WebSocket-Protocol"),
        )
        if mode == "handshake":
            await ws.close(1000)
        else:
            try:
                async for data in ws:
                    if isinstance(data, str):
                        emit(event="message", type="text", hex=data.encode("utf-8").hex())
                    else:
                        emit(event="message", type="binary", hex=data.hex())
                    if mode == "echo":
                        if data == "bye":
                            await ws.close(1000)
                            break
                        await ws.send(data)
            except websockets.ConnectionClosed:
                pass
        await ws.wait_closed()
        emit(event="close", code=ws.close_code, reason=ws.close_reason)
        return 0 if mode == "drain" or ws.close_code == 1000 else 1


def main():
    mode, url = sys.argv[1], sys.argv[2]
    protocols = json.loads(sys.argv[3]) if len(sys.argv) > 3 else []
    try:
        return asyncio.run(asyncio.wait_for(run(mode, url, protocols), 30))
    except Exception as error:  # report, then fail: the test prints stderr
        emit(event="error", message=f"{type(error).__name__}: {error}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
