"""Market data sources behind one interface: yfinance, the synthetic sample market, user files."""
