"""The code that ships inside every job's Lambda zip: the retry wrapper around the team's
``handler(event, context)``. Lambda calls ``cronplane.runtime.entry.handler``.

This ``__init__`` only hands on what job authors import (``NonRetryable``); it must stay
cheap, because every cold start pays for it. Standard library + boto3 only below here.
"""

from cronplane.runtime.exceptions import NonRetryable

__all__ = ["NonRetryable"]
