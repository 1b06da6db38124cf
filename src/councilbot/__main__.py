"""Run the command-line interface with `python -m councilbot`."""

from councilbot.cli import main

raise SystemExit(main())
