"""Site rules and notifications: events -> conditions -> actions, durable timers and a durable delivery queue.

See docs/RULES.md. The rule documents themselves are wire models (`sync.rules`), so the cloud can send them.
"""
