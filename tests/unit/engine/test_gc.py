"""A batch runs with the start-up heap frozen and a larger young generation; everything is put back after."""

import gc

import pytest

from autodata.engine.gc import BATCH_THRESHOLDS, batch_garbage_collection


def test_settings_hold_for_the_batch_and_are_restored_after_it():
    before = gc.get_threshold()
    with batch_garbage_collection():
        assert gc.get_threshold() == BATCH_THRESHOLDS
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_nested_batches_leave_the_outer_settings_in_place_and_errors_still_restore():
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), batch_garbage_collection():
        with batch_garbage_collection():
            pass
        assert gc.get_threshold() == BATCH_THRESHOLDS and gc.get_freeze_count() > 0
        raise RuntimeError("document batch failed")
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_cyclic_garbage_made_during_a_batch_is_still_collected():
    class Node:
        pass

    with batch_garbage_collection():
        node = Node()
        node.self = node
        ident = id(node)
        del node
        gc.collect()
        assert not any(id(obj) == ident for obj in gc.get_objects() if isinstance(obj, Node))
