"""The vLLM runner's request order: requests that share few-shot turns are sent together, and within them the data
set's order is kept (as a bare script sends them), so the order alone never makes onkobench slower than the bare
engine call on the same prompts."""

from __future__ import annotations

from harness.records import Request, Sampling
from harness.runners.vllm import prefix_order


def request(sample_id: str, shots: tuple[dict[str, str], ...]) -> Request:
    messages = (*shots, {"role": "user", "content": f"Diagnose {sample_id}"})
    return Request(key=f"k-{sample_id}-{len(shots)}", task="t", variant="v", sample_id=sample_id, messages=messages,
                   sampling=Sampling(max_tokens=16))


def test_requests_sharing_turns_are_grouped_in_the_order_given():
    three_shot = ({"role": "user", "content": "Beispiel"}, {"role": "assistant", "content": "C61"})
    other = ({"role": "user", "content": "Anderes Beispiel"}, {"role": "assistant", "content": "C67.9"})
    # ids whose sorted order is not the order given (copies of a diagnosis: "d2-0" < "d2-1" < "d10-0")
    ids = ["d2-0", "d10-0", "d2-1", "d10-1"]
    requests = [request(i, three_shot if n % 2 == 0 else other) for n, i in enumerate(ids)]
    requests += [request(i, ()) for i in ids]

    ordered = prefix_order(requests)

    def turns(r: Request) -> tuple:
        return tuple(m["content"] for m in r.messages[:-1])

    assert [turns(r) for r in ordered] == [(), (), (), (), ("Anderes Beispiel", "C67.9"), ("Anderes Beispiel", "C67.9"),
                                          ("Beispiel", "C61"), ("Beispiel", "C61")]
    assert [r.sample_id for r in ordered if not turns(r)] == ids
    assert [r.sample_id for r in ordered if turns(r) == ("Beispiel", "C61")] == ["d2-0", "d2-1"]
    assert [r.sample_id for r in ordered if turns(r) == ("Anderes Beispiel", "C67.9")] == ["d10-0", "d10-1"]


def test_equal_turns_in_different_objects_are_one_group():
    shots = ({"role": "user", "content": "Beispiel"}, {"role": "assistant", "content": "C61"})
    copy = tuple(dict(turn) for turn in shots)
    bare = ({"role": "user", "content": "A"},)
    requests = [request("c", shots), request("b", bare), request("a", copy)]
    assert [r.sample_id for r in prefix_order(requests)] == ["b", "c", "a"]  # "c" first, as given
