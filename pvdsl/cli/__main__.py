"""`python -m pvdsl.cli`: the pvdsl command."""

from .main import main

raise SystemExit(main())
