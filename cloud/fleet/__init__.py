"""Fleet: the vehicle register, the gate log from plate reads, and maintenance (issue 13; docs/FLEET_HR.md)."""
