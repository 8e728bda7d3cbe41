"""The official MCP Python SDK (`mcp` from PyPI) against agenthost, one scenario per command;
each prints JSON lines for the Rust test (integration-tests/tests/mcp.rs) to check.

  http URL MODE                 tools/list, tools/call with progress, a continued session,
                                an unknown tool; MODE is the SDK's: legacy (initialize,
                                2025-11-25) or auto (2026-07-28 when the server offers it)
  cancel URL SESSION_ID         a slow call cancelled after its first progress notification
  signed URL SEED_HEX TO        a call signed with X-Co-* headers (WIRE.md 2.6) by SEED's key
  anonymous URL                 a call with no identity
  overload URL                  two calls at once on an agent with one worker and no queue
  stdio AGENTHOST ARGS...       `agenthost mcp ARGS...` spawned as a stdio server
"""

import hashlib
import json
import sys
import time
import uuid

import anyio
import httpx2
import nacl.signing
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError as McpError


def emit(**fields):
    print(json.dumps(fields), flush=True)


def canonical(payload):
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


class XCoSigned(httpx2.Auth):
    """Signs every request with the X-Co-* headers, full form: the body bound by its digest."""

    requires_request_body = True

    def __init__(self, seed_hex, to):
        self.key = nacl.signing.SigningKey(bytes.fromhex(seed_hex))
        self.address = "0x" + self.key.verify_key.encode().hex()
        self.to = to

    def auth_flow(self, request):
        body = request.content or b""
        payload = {
            "method": request.method,
            "path": request.url.path,
            "query": "",
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "timestamp": int(time.time()),
            "request_id": str(uuid.uuid4()),
            "to": self.to,
        }
        signature = self.key.sign(canonical(payload).encode()).signature.hex()
        request.headers["X-Co-From"] = self.address
        request.headers["X-Co-Signature"] = signature
        request.headers["X-Co-Timestamp"] = str(payload["timestamp"])
        request.headers["X-Co-Request-Id"] = payload["request_id"]
        request.headers["X-Co-To"] = self.to
        yield request


def result_fields(result):
    return {
        "is_error": bool(result.is_error),
        "text": [c.text for c in result.content if getattr(c, "type", "") == "text"],
        "structured": result.structured_content,
    }


async def one_tool(client):
    tools = (await client.list_tools()).tools
    assert len(tools) == 1, tools
    return tools[0]


async def http(url, mode):
    async with Client(url, mode=mode) as client:
        emit(step="connected", protocol=client.protocol_version)
        tool = await one_tool(client)
        emit(step="tool", name=tool.name, description=tool.description,
             input_schema=tool.input_schema, output_schema=tool.output_schema)
        progress = []

        async def on_progress(value, total, message):
            progress.append({"progress": value, "message": message})

        first = await client.call_tool(tool.name, {"prompt": "hello there"}, progress_callback=on_progress)
        emit(step="call", progress=progress, **result_fields(first))
        session_id = first.structured_content["session_id"]
        second = await client.call_tool(tool.name, {"prompt": "and again", "session_id": session_id})
        emit(step="continued", **result_fields(second))
        try:
            await client.call_tool("no_such_tool", {"prompt": "x"})
            emit(step="unknown_tool", error=None)
        except McpError as e:
            emit(step="unknown_tool", code=e.error.code, error=e.error.message)
        try:
            await client.call_tool(tool.name, {"session_id": "x"})
            emit(step="no_prompt", error=None)
        except McpError as e:
            emit(step="no_prompt", code=e.error.code, error=e.error.message)


async def cancel(url, session_id):
    async with Client(url, mode="legacy") as client:
        tool = await one_tool(client)
        seen = anyio.Event()

        async def on_progress(value, total, message):
            seen.set()

        async with anyio.create_task_group() as group:
            async def call():
                await client.call_tool(tool.name, {"prompt": "slow", "session_id": session_id},
                                       progress_callback=on_progress)

            group.start_soon(call)
            with anyio.fail_after(30):
                await seen.wait()
            group.cancel_scope.cancel()
        emit(step="cancelled", session_id=session_id)
        # The client stays connected a moment, so its cancellation reaches the server.
        await anyio.sleep(1)


async def signed(url, seed_hex, to):
    auth = XCoSigned(seed_hex, to)
    async with httpx2.AsyncClient(auth=auth, timeout=30) as http_client:
        async with Client(streamable_http_client(url, http_client=http_client), mode="legacy") as client:
            tool = await one_tool(client)
            try:
                result = await client.call_tool(tool.name, {"prompt": "signed hello"})
                emit(step="signed", caller=auth.address, **result_fields(result))
            except McpError as e:
                emit(step="signed", caller=auth.address, code=e.error.code, error=e.error.message,
                     data=e.error.data)


async def anonymous(url):
    async with Client(url, mode="legacy") as client:
        tool = await one_tool(client)
        try:
            result = await client.call_tool(tool.name, {"prompt": "who am i"})
            emit(step="anonymous", **result_fields(result))
        except McpError as e:
            emit(step="anonymous", code=e.error.code, error=e.error.message, data=e.error.data)


async def overload(url):
    async with Client(url, mode="legacy") as client:
        tool = await one_tool(client)
        outcomes = []

        async def call(prompt):
            try:
                result = await client.call_tool(tool.name, {"prompt": prompt})
                outcomes.append(result_fields(result))
            except McpError as e:
                outcomes.append({"code": e.error.code, "error": e.error.message, "data": e.error.data})

        async with anyio.create_task_group() as group:
            group.start_soon(call, "first")
            await anyio.sleep(0.3)
            group.start_soon(call, "second")
        emit(step="overload", outcomes=outcomes)


async def stdio(command, args):
    params = StdioServerParameters(command=command, args=args)
    async with Client(params, mode="legacy") as client:
        tool = await one_tool(client)
        emit(step="tool", name=tool.name)
        progress = []

        async def on_progress(value, total, message):
            progress.append(message)

        result = await client.call_tool(tool.name, {"prompt": "over p2p"}, progress_callback=on_progress)
        emit(step="call", progress=progress, **result_fields(result))
        session_id = result.structured_content["session_id"]
        again = await client.call_tool(tool.name, {"prompt": "still there", "session_id": session_id})
        emit(step="continued", **result_fields(again))


def main():
    command, args = sys.argv[1], sys.argv[2:]
    scenario = {
        "http": lambda: http(args[0], args[1]),
        "cancel": lambda: cancel(args[0], args[1]),
        "signed": lambda: signed(args[0], args[1], args[2]),
        "anonymous": lambda: anonymous(args[0]),
        "overload": lambda: overload(args[0]),
        "stdio": lambda: stdio(args[0], args[1:]),
    }[command]
    anyio.run(scenario)


if __name__ == "__main__":
    main()
