"""HTTP protections shared by the edge console and the cloud portal (imports neither edge nor cloud).

`ratelimit` (sliding windows), `login_throttle` (login attempts that an attacker cannot turn against the real
user), `headers` (security headers and no-store on every response), `params` (strict integer parsing), `csrf`
(CSRF tokens derived from the session cookie token, never stored).
"""
