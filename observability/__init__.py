"""Operations plumbing shared by the edge and the cloud: Prometheus exposition, event-loop lag, JSON logs.

Each app builds its own `prometheus_client.CollectorRegistry` (never the global default one), so several apps in
one process (tests, the demo) keep separate numbers. Labels carry ids of devices, doors and cameras, results
and reasons: never a person, a credential number or anything typed by a user.
"""

from __future__ import annotations
