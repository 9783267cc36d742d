"""HR from what the sites see: people's HR fields, shifts and rosters, attendance derived from badge facts."""
