#!/usr/bin/env bash
# Run the test suite (after ./setup.sh). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv/bin/python ] || ./setup.sh --no-run
exec .venv/bin/python -m pytest -q "$@"
