"""Holds a mediawatch lock until killed (run as `python tests/lock_holder.py DB_URL [NAME]`)."""

from __future__ import annotations

import sys
import time

from archive.runlock import acquire_run_lock

if __name__ == "__main__":
    with acquire_run_lock(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "run"):
        print("locked", flush=True)
        while True:
            time.sleep(60)
