"""The monthly Lambda (container image, it needs torch): refresh fundamentals, fine-tune, gate.

Thin on purpose: event validation and the job live in the ``kabucast`` package (in the image).
Importing this file does no I/O; adapters are built on the first invocation and kept while warm.
"""

from kabucast.serverless.handlers import Runtime, handle

RUNTIME = Runtime()


def lambda_handler(event, context):
    return handle("monthly", event, context, RUNTIME)
