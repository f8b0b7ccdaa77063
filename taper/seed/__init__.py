"""Seeders run from the command line: demo data (seed-demo) and bulk benchmark data (seed-scale)."""
