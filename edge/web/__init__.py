"""The LAN web console and JSON REST API."""
