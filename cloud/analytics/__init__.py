"""Analytics derived on ingest: typed facts, incremental rollups, queries and exports (docs/ANALYTICS.md)."""
