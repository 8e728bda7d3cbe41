"""ConnectOnion 1.9.2's own client, `connect()` then `input()` several times on one
RemoteAgent, against an agenthost process. Prints one JSON line per turn:
{"turn", "prompt", "reply", "direct", "sealed", "session_id", "session_turn"}: the reply, how
the socket of that turn was opened, and the conversation the client holds after it.

Usage: co_turns.py ADDRESS RELAY_URL TURNS GAP_SECONDS [--anonymous] [--relay-path] [--no-seal]
                   [--seed HEX]
  RELAY_URL is what the client is given as relay_url: the embedded gateway itself (it
  answers /api/agents/{address}, so the client resolves the direct /ws endpoint) or a
  standalone gateway. --relay-path skips the client's endpoint resolution, as when the
  relay lists no endpoints for the agent, so every socket goes to RELAY_URL/ws/input.
  --no-seal makes the client behave as if the host could not seal (its answer to SEAL
  ignored), to show what SEAL makes possible. A turn that fails prints {"turn", "error"}.
  --seed HEX signs with the ed25519 key of that 32-byte seed instead of a fresh one.
"""

import importlib
import json
import sys
import time

from nacl.signing import SigningKey

from connectonion import address as co_address
from connectonion import connect


def main() -> None:
    agent_address, relay_url, turns, gap = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    anonymous = "--anonymous" in sys.argv[5:]
    relay_path = "--relay-path" in sys.argv[5:]
    no_seal = "--no-seal" in sys.argv[5:]
    keys = False if anonymous else co_address.generate()
    if "--seed" in sys.argv:
        signing_key = SigningKey(bytes.fromhex(sys.argv[sys.argv.index("--seed") + 1]))
        keys = {"address": "0x" + bytes(signing_key.verify_key).hex(), "signing_key": signing_key}

    # The module, not the function the package re-exports under the same name.
    co_connect = importlib.import_module("connectonion.network.connect")
    # Which way each socket went, read off the client's own choice (not re-derived here).
    opened = []
    original = co_connect.RemoteAgent._open_best_connection

    async def recording(self, websockets):
        connection, is_direct = await original(self, websockets)
        opened.append({"direct": is_direct, "sealed": type(connection).__name__ == "SealedSocket"})
        return connection, is_direct

    co_connect.RemoteAgent._open_best_connection = recording
    if no_seal:
        async def cannot_seal(self, ws):
            return None

        co_connect.RemoteAgent._offer_seal = cannot_seal
    if relay_path:
        async def no_endpoint(self):
            self._endpoint_resolved = True
            self._resolved_endpoint = None

        co_connect.RemoteAgent._try_resolve_endpoint = no_endpoint

    agent = connect(agent_address, keys=keys, relay_url=relay_url)
    for turn in range(1, turns + 1):
        prompt = f"t {turn}"
        before = len(opened)
        try:
            response = agent.input(prompt, timeout=30)
        except Exception as failed:
            print(json.dumps({"turn": turn, "prompt": prompt, "error": f"{type(failed).__name__}: {failed}"}), flush=True)
            return
        way = opened[-1] if len(opened) > before else {"direct": None, "sealed": None}
        session = agent.current_session or {}
        print(json.dumps({
            "turn": turn, "prompt": prompt, "reply": response.text, **way,
            "session_id": session.get("session_id"), "session_turn": session.get("turn"),
        }), flush=True)
        if turn < turns and gap > 0:
            time.sleep(gap)
    if not anonymous:
        print(json.dumps({"caller": keys["address"]}), flush=True)


if __name__ == "__main__":
    main()
