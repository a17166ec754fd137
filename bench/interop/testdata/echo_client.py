"""Interop client for wsecho, on the Python websockets package (Debian's
python3-websockets, asyncio API). Usage: echo_client.py URL REASON

Echoes text and binary messages of each size, pings, then closes with 1000
and REASON and checks the server's close. Exits non-zero on any mismatch."""

import asyncio
import sys

import websockets

SIZES = [0, 125, 126, 65535, 65536, 1 << 20]


def text(n):
    return ("0123456789abcdefghijklmnopqrstuvwxyz" * (n // 36 + 1))[:n]


def binary(n):
    return bytes(i % 251 for i in range(n))


async def main(url, reason):
    async with websockets.connect(url, max_size=None, compression=None,
                                  ping_interval=None, open_timeout=10) as ws:
        for n in SIZES:
            for msg in (text(n), binary(n)):
                await ws.send(msg)
                got = await asyncio.wait_for(ws.recv(), 30)
                if type(got) is not type(msg) or got != msg:
                    raise SystemExit(f"echo of {type(msg).__name__} {n} differs")
        waiter = await ws.ping(b"python-ping")
        await asyncio.wait_for(waiter, 10)
        await ws.close(1000, reason)
        if ws.close_code != 1000 or ws.close_reason != reason:
            raise SystemExit(f"server closed with {ws.close_code} {ws.close_reason!r}")
    print("ok")


asyncio.run(main(sys.argv[1], sys.argv[2]))
