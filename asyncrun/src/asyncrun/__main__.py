"""`python -m asyncrun`."""

from asyncrun.cli.main import main

raise SystemExit(main())
