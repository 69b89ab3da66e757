"""``flask --app geomap worker``: run background import jobs from the queue, on any machine
that reaches the database, the shared store and the queue (``GEOMAP_QUEUE_URL``)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command("worker")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True,
              help="Jobs this process runs at once (different datasets; one dataset's jobs "
                   "always run one at a time).")
@with_appcontext
def worker_command(threads: int) -> None:
    """Run background imports from the queue until stopped (SIGINT/SIGTERM: the jobs running
    finish first; SIGKILL: they are retried once after their lease expires)."""
    from .web import job_queue

    url = current_app.config["QUEUE_URL"] or "sqlite"
    if url == "immediate":
        raise click.ClickException("GEOMAP_QUEUE_URL=immediate runs jobs where they are "
                                   "submitted: there is no queue for a worker to read")
    queue = job_queue.queue_of(current_app, embedded=False)
    click.echo(f"geomap worker: {threads} thread(s), queue {url.split('@')[-1]}, "
               f"lease {queue.runner.lease_s:g} s", err=True)
    queue.run_worker(threads)


COMMANDS = (worker_command,)
