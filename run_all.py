#!/usr/bin/env python
"""Train ERM and mixup models, attack them, run the label-noise benchmark, write a report.

    python run_all.py                  # the `quick` preset on scikit-learn's digits
    python run_all.py --help           # every option
"""

import sys

from robustness.cli import main

if __name__ == "__main__":
    sys.exit(main())
