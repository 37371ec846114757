"""The daily Lambda (zip + the runtime layer): JPX holiday check, price fetch, ONNX forecasts.

Thin on purpose: event validation and the job live in the ``kabucast`` package (the layer).
Importing this file does no I/O; adapters are built on the first invocation and kept while warm. Each
invocation first points the libraries' caches at /tmp, the only writable folder (kabucast.serverless.scratch).
"""

from kabucast.serverless.handlers import Runtime, handle
from kabucast.serverless.scratch import use_scratch_dirs

RUNTIME = Runtime()


def lambda_handler(event, context):
    use_scratch_dirs()
    return handle("daily", event, context, RUNTIME)
