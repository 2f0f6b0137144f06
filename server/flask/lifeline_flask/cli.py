"""`flask lifeline health`: the store's state as JSON (exit status 1 when it is not ok), for
a container's health check or a monitoring probe. `Lifeline.health()` is the same from code."""

import json

import click
from flask.cli import AppGroup

lifeline_cli = AppGroup("lifeline", help="Lifeline (live streams) commands.")


@lifeline_cli.command("health")
def health_command():
    """Print the store's state (Redis: connected, ping, subscription probe) as JSON."""
    from flask import current_app

    state = current_app.extensions["lifeline"]
    report = state.live.health(current_app)
    click.echo(json.dumps(report, sort_keys=True))
    if not report.get("ok"):
        raise SystemExit(1)
