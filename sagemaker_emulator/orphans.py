"""Stop what a dead emulator left running: its training jobs and model servers, by their recorded PIDs.

The emulator starts every job and model server in a session of its own (so a server that forks workers
stops as a whole) and records each PID with its start time in the state folder. When the emulator is
killed, those children are orphans that keep CPU, ports and GPU-less RAM until the next start fails them
(:meth:`Backend.start`). Whoever notices the death first (``harness run``, ``harness down``) calls
:func:`stop_recorded_children` instead of waiting for that. A PID is only signalled while its start time
still matches the recorded one, so a recycled PID is never touched.
"""

from __future__ import annotations

from pathlib import Path

from . import _proc
from .resources import Endpoint, TrainingJob
from .store import ResourceStore


def stop_recorded_children(state_dir: Path) -> list[int]:
    """SIGTERM (then SIGKILL) every recorded job and model server still alive; their PIDs."""
    store = ResourceStore(state_dir)
    records: list[dict] = []
    for job in store.load_all(TrainingJob.KIND):
        if job.get("pid"):
            records.append(job["pid"])
    for endpoint in store.load_all(Endpoint.KIND):
        records += [server for server in endpoint.get("servers") or [] if server.get("pid")]
    stopped = []
    for record in records:
        if _proc.stop_stale(record["pid"], record.get("started")):
            stopped.append(record["pid"])
    return stopped
