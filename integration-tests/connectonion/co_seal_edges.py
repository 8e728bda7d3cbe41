"""SEAL edge cases against an agenthost socket, built with ConnectOnion 1.9.2's own sealed.py
(client_hello, client_finish, SealedChannel) so every good frame is exactly what its client
sends. Prints one JSON line per case: {"case", "frames": [what the host answered], "closed"}.

Usage: co_seal_edges.py AGENT_ADDRESS WS_URL
"""

import contextlib
import json
import sys
import time

from websockets.sync.client import connect as ws_connect

from connectonion import address as co_address
from connectonion.network import sealed

WAIT = 5


def frames_until_close(ws, limit=4):
    """What the host says next: up to `limit` frames (PINGs skipped), and whether it closed."""
    frames = []
    try:
        while len(frames) < limit:
            frame = json.loads(ws.recv(timeout=WAIT))
            if frame.get("type") != "PING":
                frames.append(frame)
    except TimeoutError:
        return frames, False
    except Exception:
        return frames, True
    return frames, False


def report(case, frames, closed):
    print(json.dumps({"case": case, "frames": frames, "closed": closed}), flush=True)


def hello_case(url, case, hello):
    with ws_connect(url) as ws:
        ws.send(json.dumps(hello))
        frames, closed = frames_until_close(ws, limit=1)
        if frames and frames[0].get("type") != "SEALED_OK":
            # A refused seal must also end the socket.
            more, closed = frames_until_close(ws)
            frames += more
        report(case, frames, closed)


@contextlib.contextmanager
def sealed_socket(url, keys, agent):
    """A socket sealed exactly as ConnectOnion's client seals it."""
    with ws_connect(url) as ws:
        hello, ephemeral = sealed.client_hello(keys, agent)
        ws.send(json.dumps(hello))
        channel = sealed.client_finish(json.loads(ws.recv(timeout=WAIT)), hello, ephemeral)
        yield ws, channel


def signed_connect(keys, agent):
    payload = {"to": agent, "timestamp": int(time.time()), "signed_commands": 1}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return {
        "type": "CONNECT",
        "payload": payload,
        "from": keys["address"],
        "signature": co_address.sign(keys, canonical.encode()).hex(),
    }


def main():
    agent, url = sys.argv[1], sys.argv[2]
    keys = co_address.generate()

    hello, _ = sealed.client_hello(keys, agent)
    bad = dict(hello, signature=("0" if hello["signature"][0] != "0" else "1") + hello["signature"][1:])
    hello_case(url, "bad_signature", bad)

    stale, _ = sealed.client_hello(keys, agent, now=time.time() - 1000)
    hello_case(url, "stale_timestamp", stale)

    elsewhere, _ = sealed.client_hello(keys, co_address.generate()["address"])
    hello_case(url, "wrong_recipient", elsewhere)

    replayed, _ = sealed.client_hello(keys, agent)
    hello_case(url, "first_hello", replayed)
    hello_case(url, "replayed_hello", replayed)

    broken = dict(hello)
    del broken["ephemeral"]
    hello_case(url, "missing_field", broken)

    # Counter going back: n=1 twice.
    with sealed_socket(url, keys, agent) as (ws, channel):
        first = channel.seal(signed_connect(keys, agent))
        ws.send(json.dumps(first))
        frames, _ = frames_until_close(ws, limit=1)
        answered = [channel.open(f) if f.get("type") == "SEALED" else f for f in frames]
        ws.send(json.dumps(first))
        more, closed = frames_until_close(ws)
        report("counter_back", answered + more, closed)

    # Garbage where the box should be.
    with sealed_socket(url, keys, agent) as (ws, channel):
        ws.send(json.dumps({"type": "SEALED", "n": 1, "c": "bm90IGEgYm94IGF0IGFsbA=="}))
        frames, closed = frames_until_close(ws)
        report("garbage_ciphertext", frames, closed)

    # A plaintext command on a sealed socket.
    with sealed_socket(url, keys, agent) as (ws, channel):
        ws.send(json.dumps({"type": "INPUT", "prompt": "in the clear"}))
        frames, closed = frames_until_close(ws)
        report("plaintext_on_sealed", frames, closed)

    with sealed_socket(url, keys, agent) as (ws, channel):
        # A CONNECT inside the seal signed by someone else: refused, the socket stays.
        other = co_address.generate()
        ws.send(json.dumps(channel.seal(signed_connect(other, agent))))
        frames, closed = frames_until_close(ws, limit=1)
        opened = [channel.open(f) for f in frames if f.get("type") == "SEALED"]
        report("connect_by_another", opened, closed)

        # Plaintext PING on a sealed socket is still answered (sealed).
        ws.send(json.dumps({"type": "PING"}))
        frames, closed = frames_until_close(ws, limit=1)
        opened = [channel.open(f) for f in frames if f.get("type") == "SEALED"]
        report("plaintext_ping", opened, closed)


if __name__ == "__main__":
    main()
