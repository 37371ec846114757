"""The two scheduled jobs, daily and monthly: one package, used by the CLI and by the Lambda handlers.

- ``wiring.py`` builds each job from ``config/`` files (price source, ONNX forecast step, fine-tune +
  gate step, calendar); a job object holds what is expensive to build, so a warm Lambda container
  reuses it.
- ``daily.py`` / ``monthly.py`` orchestrate over injected adapters (store, source, calendar, clock):
  no maths there. ``forecast_step.py`` is the daily ONNX step, ``inputs.py`` turns stored data into
  model inputs, ``publish.py`` decides what may be written where.

Nothing here imports torch: the fine-tune step imports it when it runs.
"""
