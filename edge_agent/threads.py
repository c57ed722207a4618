"""The agent's threads, sized explicitly: nothing depends on ``os.cpu_count()``.

No thread of the agent ever waits for something only another thread can release (outbox room,
farm context, an acknowledgement): such waits happen on the event loop. The sizes below
therefore decide throughput, never whether the agent makes progress. Each kind of work has its
own pool so that one kind cannot take the threads another needs: acknowledgements always get
their thread, however many sources read at once.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

# Reading passes are mostly Python (GIL-bound): more of them at once than this only helps
# sources that wait on a share, and each thread costs memory on a small gateway.
MAX_READING_THREADS = 8


class ThreadBudget:
    """The executors of one agent.

    ``watch``: one thread per source (a watcher blocks its thread for the agent's life).
    ``io``: scans, stats and reading passes of every source, and disposal: one per source up
    to MAX_READING_THREADS, plus one so that disposal is never stuck behind reading.
    ``outbox``: one thread for the dispatcher's outbox reads and acknowledgements.
    ``farm``: one thread for the farm worker's steps.
    ``state``: one thread for status snapshots and other short state writes.
    """

    def __init__(self, sources: int) -> None:
        self.watch = ThreadPoolExecutor(max(1, sources), thread_name_prefix="edge-agent-watch")
        self.io = ThreadPoolExecutor(
            min(max(1, sources), MAX_READING_THREADS) + 1, thread_name_prefix="edge-agent-io"
        )
        self.outbox = ThreadPoolExecutor(1, thread_name_prefix="edge-agent-outbox")
        self.farm = ThreadPoolExecutor(1, thread_name_prefix="edge-agent-farm")
        self.state = ThreadPoolExecutor(1, thread_name_prefix="edge-agent-state")

    def shutdown(self) -> None:
        """Let the threads end (without waiting for a watcher that is still winding down)."""
        for pool in (self.watch, self.io, self.outbox, self.farm, self.state):
            pool.shutdown(wait=False)
