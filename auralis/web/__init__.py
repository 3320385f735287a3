"""The static browser client (served at /, /client/* and /debug)."""
