import gc

from oms.core.runtime import freeze_startup_heap


def test_the_start_up_heap_is_frozen_out_of_the_collectors_reach():
    gc.unfreeze()
    try:
        frozen = freeze_startup_heap()
        assert frozen == gc.get_freeze_count() > 10_000
        # A full collection no longer walks them: the generations hold only what came after.
        assert sum(len(gc.get_objects(generation)) for generation in range(3)) < frozen
    finally:
        gc.unfreeze()
