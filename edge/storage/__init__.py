"""SQLite storage of the edge appliance (one writer: this process)."""
