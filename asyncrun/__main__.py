"""`python -m asyncrun`."""

from asyncrun.cli import main

raise SystemExit(main())
