"""Which answers the gate may judge on (training.heldout, training.sources.written_by_clinician): only
references no compared model wrote. Unedited approvals are trained on, never judged on."""

from __future__ import annotations

from training.examples import Example, identity_keys, is_heldout
from training.heldout import gate_split, judged, unjudged_count
from training.sources import written_by_clinician


def ex(key, *, edited=False, source="case", images=None, query=None, answer=None):
    return Example(
        key=key,
        image_paths=(),
        image_hashes=images or (f"h-{key}",),
        query=query or f"query {key}",
        prompt_id=1,
        answers=(answer or f"answer {key}",),
        source=source,
        edited=edited,
    )


def test_an_unchanged_approval_is_the_models_text_an_edit_or_a_hand_answer_the_clinicians():
    assert not written_by_clinician("approve", "Eczema. Use a cream.", "Eczema. Use a cream.")
    assert not written_by_clinician("approve", "Eczema. Use a cream.", "  eczema.   Use a cream. ")  # case, spaces
    assert not written_by_clinician("edit", "Eczema. Use a cream.", "Eczema. Use a cream.")  # pressed edit, kept it
    assert written_by_clinician("edit", "Eczema. Use a cream.", "Psoriasis. See a dermatologist.")
    assert written_by_clinician("approve", "Eczema.", "Eczema, use an emollient.")  # differs from the draft
    assert written_by_clinician("edit", None, "Written with no draft to start from.")  # by hand
    assert written_by_clinician("answer", None, "Written by hand for a case drafting failed on.")
    assert not written_by_clinician("approve", None, "An approval always copies its draft: unknown.")
    assert not written_by_clinician("edit", "draft", "   ")


def test_unedited_approvals_never_enter_the_heldout_set_but_are_trained_on():
    cases = [ex(f"case:{i}", edited=i % 2 == 0) for i in range(40)]
    corpus = [ex(f"corpus:ENC{i}", source="corpus") for i in range(10)]
    split = gate_split(cases + corpus, 0.5)
    assert split.heldout and all(judged(e) for e in split.heldout)
    assert not any(e.source == "case" and not e.edited for e in split.heldout)
    # every example is used: the hash-held-out unedited approvals moved to training
    assert {e.key for e in split.train} | {e.key for e in split.heldout} == {e.key for e in cases + corpus}
    moved = [e for e in cases if not e.edited and is_heldout(e.group, 0.5)]
    assert moved and {e.key for e in moved} <= {e.key for e in split.train}
    assert unjudged_count(cases + corpus, 0.5) == len(moved)
    # the edited cases and corpus encounters the hash holds out are exactly the held-out set
    expected = {e.key for e in cases + corpus if judged(e) and is_heldout(e.group, 0.5)}
    assert {e.key for e in split.heldout} == expected
    everything = gate_split([ex("case:1"), ex("case:2", edited=True)], 1.0)
    assert [e.key for e in everything.heldout] == ["case:2"] and [e.key for e in everything.train] == ["case:1"]


def test_the_fixed_reference_set_is_always_held_out_and_never_trained_on():
    reference = [ex(f"reference:R{i}", source="reference") for i in range(3)]
    twin = ex("corpus:R0", source="corpus", images=reference[0].image_hashes)  # the same photos in the corpus
    cases = [ex(f"case:{i}") for i in range(20)]  # unedited approvals only
    split = gate_split([*cases, twin], 0.3, reference)
    assert [e.key for e in split.heldout] == ["reference:R0", "reference:R1", "reference:R2"]
    assert twin.key not in {e.key for e in split.train + split.heldout}
    assert split.leaks_dropped + split.duplicates_dropped == 1
    assert not {k for e in split.train for k in identity_keys(e)} & {k for e in reference for k in identity_keys(e)}
    assert len(split.train) == 20
