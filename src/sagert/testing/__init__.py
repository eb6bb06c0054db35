"""Test helpers shipped with the package: an OpenAI-compatible HTTP server with latency and
injected faults (`sagert.testing.openai_server`), and the plugin contract checks a plugin
author runs on their own plugins (`sagert.testing.contracts`, see docs/plugins.md).

The top layer: it may import anything in sagert; nothing in sagert imports it.
"""

from sagert.testing.openai_server import FAULTS, OpenAITestServer, ServerStats, ServerThread

__all__ = ["FAULTS", "OpenAITestServer", "ServerStats", "ServerThread"]
