"""`python -m reconciler` runs the ace CLI (through ace's command server when one serves it)."""

from reconciler.cli.client import main

main()
