"""ConnectOnion 1.9.2's own client losing its socket in the middle of a turn: the socket is
closed under it after the first streamed chunk, the client reopens the session with CONNECT
{session_id, last_msg_id} as it does by itself, and must get the rest of that turn once.
Prints {"reply", "chunks": [STREAM contents in the order the client handled them],
"sockets": how many it opened, "sealed"}.

Usage: co_reconnect.py ADDRESS RELAY_URL
"""

import asyncio
import importlib
import json
import sys
import threading

from connectonion import address as co_address
from connectonion import connect


def main() -> None:
    agent_address, relay_url = sys.argv[1], sys.argv[2]
    co_connect = importlib.import_module("connectonion.network.connect")
    chunks, sockets = [], []
    first_chunk = threading.Event()

    original_event = co_connect.RemoteAgent._handle_stream_event

    def recording_event(self, event):
        if event.get("type") == "STREAM":
            chunks.append(event.get("content"))
            first_chunk.set()
        return original_event(self, event)

    original_open = co_connect.RemoteAgent._open_best_connection

    async def recording_open(self, websockets):
        connection, is_direct = await original_open(self, websockets)
        sockets.append(type(connection).__name__ == "SealedSocket")
        return connection, is_direct

    co_connect.RemoteAgent._handle_stream_event = recording_event
    co_connect.RemoteAgent._open_best_connection = recording_open

    agent = connect(agent_address, keys=co_address.generate(), relay_url=relay_url)

    def cut_the_socket():
        first_chunk.wait(30)
        loop, ws, _ = agent._live
        asyncio.run_coroutine_threadsafe(ws.close(), loop).result(10)

    cutter = threading.Thread(target=cut_the_socket, daemon=True)
    cutter.start()
    response = agent.input("count", timeout=60)
    print(json.dumps({
        "reply": response.text, "chunks": chunks, "sockets": len(sockets),
        "sealed": all(sockets),
    }), flush=True)


if __name__ == "__main__":
    main()
