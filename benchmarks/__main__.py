"""`python -m benchmarks`: run every benchmark and print the table (see benchmarks/run.py)."""

import warnings

# Starlette suggests httpx2 for its TestClient (the seeding uses it); httpx is what we pin.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

from benchmarks.run import main  # noqa: E402

main()
