"""The collector's pauses: measured for operators, and kept short by freezing what a process starts with."""
import gc
import subprocess
import sys

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from plumbing import config as cfg
from plumbing.metrics import PAUSE_BUCKETS, GcCollector, GcPauses


def samples(registry):
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(generate_latest(registry).decode())
            for sample in family.samples}


def test_each_full_collection_is_counted_with_how_long_it_stopped_the_process():
    pauses = GcPauses()
    registry = CollectorRegistry()
    registry.register(GcCollector("redemption", pauses))
    try:
        before = samples(registry)
        gc.collect(2)
        gc.collect(2)
        after = samples(registry)
    finally:
        gc.callbacks.remove(pauses.observe)
    key = ("vowrewards_gc_pause_seconds_count", (("generation", "2"), ("service", "redemption")))
    assert after[key] - before[key] == 2
    total = ("vowrewards_gc_pause_seconds_sum", (("generation", "2"), ("service", "redemption")))
    assert after[total] > before[total]
    # the buckets are cumulative and end with every pause
    bounds = [repr(bound) for bound in PAUSE_BUCKETS] + ["+Inf"]
    counts = [after[("vowrewards_gc_pause_seconds_bucket", (("generation", "2"), ("le", bound),
                                                             ("service", "redemption")))] for bound in bounds]
    assert counts == sorted(counts) and counts[-1] == after[key]
    assert ("vowrewards_gc_frozen_objects", (("service", "redemption"),)) in after


def test_a_started_process_keeps_what_it_started_with_out_of_full_collections():
    probe = "\n".join([
        "import gc, weakref",
        "from plumbing.runner import freeze_startup_heap",
        "class Node: pass",
        "held = [Node() for _ in range(20000)]",  # what a started process keeps
        "cycle = Node(); cycle.me = cycle; dead = weakref.ref(cycle); del cycle",  # garbage of starting
        "gc.collect(); walked_before = len(gc.get_objects(2))",
        "freeze_startup_heap()",
        "print(walked_before, len(gc.get_objects(2)), gc.get_freeze_count(), dead() is None)",
    ])
    out = subprocess.run([sys.executable, "-c", probe], cwd=str(cfg.REPO_ROOT), capture_output=True,
                         text=True, check=True)
    walked_before, walked_after, frozen, collected = out.stdout.split()
    assert int(walked_before) > 20000 and int(walked_after) < 1000  # a full pass walks almost nothing
    assert int(frozen) > 20000
    assert collected == "True"  # garbage was collected, not frozen
