"""`python -m tui`: the app alone (no REST API beside it; `pocketstack` adds that)."""
import sys

from tui.main import main

sys.exit(main())
