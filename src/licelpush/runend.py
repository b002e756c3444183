"""The end of an acquisition run (IO edge): SLAVE, what is buffered, files, summary.

Spec: docs/ACQUIRE.md ("Stopping", "Durability"). Whatever ended the run (done,
a stop request, an output or controller error, a bug), :func:`finish_run`
puts the controller back into ``SLAVE``, processes the bytes the framer still
holds, closes the data files and the journal with its ``stop`` event, and
tells the session how it ended, so that nothing acquired is lost.
"""

from __future__ import annotations

import logging

from licelpush import session as rs
from licelpush.errors import EXIT_STOPPED_EARLY, OutputError
from licelpush.runlink import Link, send_slave
from licelpush.runoutput import RunOutput
from licelpush.runrecords import RunRecords

log = logging.getLogger(__name__)


def finish_run(session: rs.RunSession, out: RunOutput, records: RunRecords,
               link: Link | None, error: BaseException | None, *,
               stop_requested: bool, elapsed_s: float) -> BaseException | None:
    """Finish the run; returns the error the run must raise (``error``, or an output
    error met while finishing), None when it ended normally.

    ``link``: the open connection, if any; ``stop_requested``: bound the ``SLAVE``
    exchange (the user is waiting).
    """
    session.phase = rs.Phase.STOPPING
    if session.stop is None:
        session.end(rs.StopReason.USER)
    output_error = error if isinstance(error, OutputError) else None
    if link is not None:
        send_slave(link.controller, bounded=stop_requested)
        if output_error is None:
            try:
                link.framer.end_of_stream()
                records.process(link)
            except OutputError as exc:
                output_error = exc
        if output_error is not None:  # what the failed output could not take
            session.summary.unsaved_bytes = (link.received - link.quarantined
                                             - link.frames * link.plan.frame_length)
        link.controller.close()
    output_error = output_error or out.close_data()
    session.summary.elapsed_s = elapsed_s
    if output_error is not None:
        session.end(rs.StopReason.OUTPUT, output_error.message)
    status = getattr(error, "exit_status", EXIT_STOPPED_EARLY) if error is not None else None
    summary = session.conclude(status)
    journal_error = out.close_journal(summary.stop_event())
    if journal_error is not None and output_error is None:
        output_error = journal_error
        session.end(rs.StopReason.OUTPUT, journal_error.message)
        session.conclude(status)
    if error is not None:
        if output_error is not None and output_error is not error:
            log.error("%s", output_error.message)
        return error
    return output_error
