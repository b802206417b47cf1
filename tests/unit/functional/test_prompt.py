"""Prompt token ids from a file: text and JSON forms, and errors that name the line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tersim.errors import TersimError
from tersim.functional.prompt import load_prompt_ids


def test_text_and_json_forms(tmp_path: Path) -> None:
    text = tmp_path / "ids.txt"
    text.write_text("# two sequences\n1 2 3\n\n4, 5,6  # comment\n")
    np.testing.assert_array_equal(load_prompt_ids(text, 10), [[1, 2, 3], [4, 5, 6]])
    one = tmp_path / "one.json"
    one.write_text("[7, 8, 9, 0]")
    assert load_prompt_ids(one, 10).tolist() == [[7, 8, 9, 0]]
    two = tmp_path / "two.json"
    two.write_text("[[1, 2], [3, 4]]")
    assert load_prompt_ids(two, 10).dtype == np.int64


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("1 2\n3 x\n", "line 2: token 'x' is not an id in \\[0, 10\\)"),
        ("1 2\n3 10\n", "line 2: token '10' is not an id"),
        ("1 -1\n", "line 1: token '-1'"),
        ("1 2\n3\n", "line 2 has a different number of tokens than line 1"),
        ("# nothing\n\n", "no token ids"),
        ("[1, 2.5]", "sequence 1: token 2.5"),
        ("[[1, 2], [3]]", "sequence 2 has a different number"),
        ("[1, 2", "line 1: not valid JSON"),
    ],
)
def test_bad_prompt_files_name_the_line(tmp_path: Path, content: str, message: str) -> None:
    f = tmp_path / "ids.txt"
    f.write_text(content)
    with pytest.raises(TersimError, match=message):
        load_prompt_ids(f, 10)
    with pytest.raises(TersimError, match="cannot read"):
        load_prompt_ids(tmp_path / "absent.txt", 10)
