"""Door access control: credentials, schedules, decisions and audit."""
