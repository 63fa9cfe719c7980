"""``python -m oauthflow``: the command line."""

from oauthflow.cli import main

raise SystemExit(main())
