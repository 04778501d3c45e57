"""The recorder's turns: background work lets the streams run once it has held the
worker a slice (``ollama_gate/turns.py``), and hands its calls on in bounded batches."""

from __future__ import annotations

from ollama_gate import turns


class Clock:
    """``time.perf_counter`` as the turns see it: moved by hand, not by the machine."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_turn_comes_once_a_slice_of_work_is_done_not_per_count(monkeypatch):
    clock, slept = Clock(), []
    monkeypatch.setattr(turns.time, "perf_counter", clock)
    monkeypatch.setattr(turns.time, "sleep", slept.append)
    turns.let_streams_run()  # the last turn: now
    slept.clear()
    done = []
    for item in turns.in_turns(range(10)):
        done.append((item, len(slept)))
        clock.now += turns.SLICE * 0.4  # each item holds the worker 0.4 slice
    # items 0-2 run in the first slice; the turn comes before item 3, then before 6
    # and 9: never in the middle of an item, never later than one item past a slice
    assert [turns_before for _, turns_before in done] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]
    assert slept == [turns.TURN] * 3


def test_cheap_items_take_no_turn_and_a_dear_one_takes_one_after_it(monkeypatch):
    clock, slept = Clock(), []
    monkeypatch.setattr(turns.time, "perf_counter", clock)
    monkeypatch.setattr(turns.time, "sleep", slept.append)
    turns.let_streams_run()
    slept.clear()
    for _ in turns.in_turns(range(50)):  # 50 items inside one slice: no turn
        clock.now += turns.SLICE / 100
    assert slept == []
    turns.turn_if_due()  # half a slice held: not due
    assert slept == []
    clock.now += turns.SLICE  # one dear step, e.g. a database write
    turns.turn_if_due()
    assert slept == [turns.TURN]


def test_the_recorder_hands_its_hooks_batches_of_at_most_batch_calls(app):
    recorder = app.extensions["ollama_gate"].recorder
    sizes: list[int] = []
    recorder.hooks[:] = [lambda calls: sizes.append(len(calls))]
    recorder._ensure_worker()
    for n in range(recorder.BATCH * 2 + 7):
        recorder._queue.put(n)  # all waiting before the worker reads the first
    recorder.flush()
    assert sum(sizes) == recorder.BATCH * 2 + 7
    assert max(sizes) <= recorder.BATCH
