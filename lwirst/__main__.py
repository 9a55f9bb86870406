"""`python -m lwirst`: the same entry point as the `lwirst` command."""

from lwirst.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
