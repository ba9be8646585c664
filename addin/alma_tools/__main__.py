"""``python -m alma_tools`` is the same as the ``alma-tools`` command."""

from alma_tools.cli import main

raise SystemExit(main())
