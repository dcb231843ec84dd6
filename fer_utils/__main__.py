"""``python -m fer_utils`` is ``fer-workbook``."""

import sys

from fer_utils.cli import main

sys.exit(main())
