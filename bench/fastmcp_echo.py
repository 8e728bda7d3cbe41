"""The baseline of bench/mcp.sh: an echo tool on the official Python SDK's high-level server
(`MCPServer`, FastMCP before mcp 2.0), streamable HTTP on 127.0.0.1:PORT/mcp.

Usage: python fastmcp_echo.py PORT
"""

import logging
import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("echo")


@server.tool()
def echo(prompt: str) -> str:
    """Echoes the prompt back."""
    return f"echo: {prompt}"


if __name__ == "__main__":
    logging.disable(logging.WARNING)
    server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
