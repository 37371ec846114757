"""Market data: sources (yfinance, sample market, files), the JPX calendar, validation and ingest."""
