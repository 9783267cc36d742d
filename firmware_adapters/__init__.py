"""Device protocol adapters. This package never imports `edge` or `cloud`."""
