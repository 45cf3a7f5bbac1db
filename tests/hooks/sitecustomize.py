"""On PYTHONPATH in the tests only (tests/conftest.py): a subprocess asked for a test hook gets it
(neuroreg_test_hooks)."""

import os

if os.environ.get("NEUROREG_FAKE_GPUS") or os.environ.get("NEUROREG_CRASH_AFTER_STEPS"):
    import neuroreg_test_hooks

    neuroreg_test_hooks.install()
