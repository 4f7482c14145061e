"""`python -m reconciler` runs the ace CLI."""

from reconciler.cli import main

main()
