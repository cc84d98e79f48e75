#!/usr/bin/env python
"""Train ERM and mixup models, attack them, run the label-noise benchmark, write a report.

    python run_all.py                  # the `quick` preset on scikit-learn's digits
    python run_all.py --help           # every option
"""

import sys

from robustness.threads import passive_openmp

passive_openmp()  # before torch loads (libgomp reads it once): waiting threads sleep, so a busy machine costs no collapse

from robustness.cli import main  # noqa: E402  (after the wait policy, on purpose)

if __name__ == "__main__":
    sys.exit(main())
