"""`python -m cloud` is `outpost-cloud`."""

from cloud.cli import main

raise SystemExit(main())
