"""The garbage collector of a long-running service, set once its process has built everything."""

from __future__ import annotations

import gc


def freeze_startup_heap(threshold0: int, threshold1: int, threshold2: int) -> None:
    """Keep the collector off what startup built, and let it run less often.

    Everything alive once the service is built (modules, models, pools) lives as long as the process:
    frozen, a full collection no longer walks it again. A request's or a message's thousands of objects
    are freed by reference counting; collections only find the rare cycles, and each one pauses the
    process. Call it from a service's ``main`` just before it serves (never inside an app a test runs).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(threshold0, threshold1, threshold2)
