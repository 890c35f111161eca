"""Run reports: plots and a self-contained HTML page for a filtering run."""
