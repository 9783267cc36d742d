"""Wire models and signing shared by the edge sync agent and the cloud ingest.

This package knows nothing of `edge` or `cloud`; both import it.
"""
