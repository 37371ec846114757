"""The cross-sectional ranker (issue 6): rank thousands of stocks each day for 1, 5, 10 and 20 sessions.

Data layer (docs/RANKER.md): ``panel`` (the (date, ticker) OHLCV panel and its parquet store), ``sample``
(the synthetic universe with a planted signal), ``features``, ``targets``, ``normalize`` (the only
cross-sectional normalisation), ``validate`` (``kabucast ranker validate``) and ``loader`` (windows
from memory-mapped arrays). Model side: ``cv`` (purged k-fold, walk-forward), ``model``, ``losses`` and
``lit`` (the neural ranker, torch), ``metrics`` (per day and horizon), ``baseline`` (LightGBM),
``train`` (``kabucast ranker train`` / ``baseline``) and ``submit`` (AWS Batch). Nothing is imported
here, so the daily path never pays for the ranker.
"""
