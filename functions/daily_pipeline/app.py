"""The daily Lambda (zip + the runtime layer): JPX holiday check, price fetch, ONNX forecasts.

Thin on purpose: event validation and the job live in the ``kabucast`` package (the layer).
Importing this file does no I/O; adapters are built on the first invocation and kept while warm.
"""

from kabucast.serverless.handlers import Runtime, handle

RUNTIME = Runtime()


def lambda_handler(event, context):
    return handle("daily", event, context, RUNTIME)
