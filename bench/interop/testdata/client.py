"""An independent WebSocket client for sensorcast's end-to-end test.

Connects to the URL given as the first argument with the Python `websockets`
library, prints every text message it receives as one line on stdout, then,
when the server closes the connection, prints "CLOSE <code> <reason>" and
exits 0. Any other failure exits non-zero with the error on stderr.
"""
import asyncio
import sys

import websockets


async def main(url):
    async with websockets.connect(url, open_timeout=10, ping_interval=None) as ws:
        try:
            async for msg in ws:
                print(msg, flush=True)
        except websockets.ConnectionClosed:
            pass
        rcvd = getattr(ws, "close_rcvd", None)
        code = rcvd.code if rcvd is not None else ws.close_code
        reason = rcvd.reason if rcvd is not None else ws.close_reason
        print(f"CLOSE {code} {reason}", flush=True)


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(sys.argv[1]), timeout=60))
