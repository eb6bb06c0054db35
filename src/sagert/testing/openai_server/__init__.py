"""A small OpenAI-compatible HTTP server for tests and benchmarks (real HTTP on 127.0.0.1).

Replies are deterministic (``"echo: " + last user message`` unless a ``reply`` function is
given), every reply waits a fixed ``latency`` to emulate a model server, and faults can be
injected two ways, combinable:

* ``script``: fault names applied to completion requests in arrival order (request 1 gets
  ``script[0]``, ...); once it is used up requests are answered normally, unless
* ``fault_rates``: ``{fault name: probability}`` drawn per request from
  ``random.Random(seed)`` once the script is exhausted (one draw per request, so a run with
  the same seed and the same arrival order gets the same faults).

Fault names:

``ok``                   a normal answer.
``429``                  status 429 with ``Retry-After: <retry_after>``; ``429:0.05`` sets the
                         header to ``0.05``.
``429-no-retry-after``   status 429 without the header.
``500``                  status 500.
``garbage``              status 200, a body that is not JSON.
``truncated``            status 200, a valid JSON answer cut in half.
``hang``                 waits ``hang_seconds`` (longer than any client timeout), then answers.
``slow``                 answers after ``latency * 10`` instead of ``latency``.

Every fault but ``hang`` and ``slow`` is answered after ``latency`` too. Counters
(:class:`ServerStats`) count completion requests (``/v1/chat/completions`` and
``/v1/completions``) and one outcome per request, under the fault's name (``429:0.05`` counts
as ``429``); a body that is not a JSON object is answered 400 and counted as ``bad-request``
(it still uses up its turn in the script or its draw).

Use it inside a running loop (``async with OpenAITestServer(...) as server``), in a thread of
its own for sync code (``with OpenAITestServer(...).start_in_thread() as server``), or as a
separate process::

    python -m sagert.testing.openai_server --port 0 --latency 0.2 --fault-rate 429=0.2 --seed 1

which prints one line, ``listening on http://127.0.0.1:PORT/v1``, and serves until SIGTERM or
SIGINT.
"""

from sagert.testing.openai_server.cli import main
from sagert.testing.openai_server.faults import FAULTS
from sagert.testing.openai_server.server import OpenAITestServer
from sagert.testing.openai_server.stats import ServerStats
from sagert.testing.openai_server.thread import ServerThread

__all__ = ["FAULTS", "OpenAITestServer", "ServerStats", "ServerThread", "main"]
