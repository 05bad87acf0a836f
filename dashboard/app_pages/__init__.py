"""Page sections of the dashboard: layout only, no computation."""
