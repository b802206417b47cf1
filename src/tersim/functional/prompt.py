"""Token ids of a measured run's prompt, from a file (no tokenizer needed).

A prompt file holds one sequence per non-empty line, token ids separated by spaces or commas
(``#`` starts a comment), or a JSON array: a list of ids (one sequence) or a list of lists.
Every sequence must have the same length: the batch is the number of sequences and the prompt
length their length. Ids must be integers in ``[0, vocab)``. Tokenize with any tokenizer and
write its ids, e.g. ``tokenizer(text)["input_ids"]`` from ``transformers``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tersim.errors import FileError, WorkloadError
from tersim.files import read_bounded

MAX_PROMPT_BYTES = 1 << 28  # 256 MiB of token ids: tens of millions of tokens


def _json_rows(path: Path, doc: object) -> list[list[object]]:
    if isinstance(doc, list) and doc and all(isinstance(r, list) for r in doc):
        return doc
    if isinstance(doc, list):
        return [doc]
    raise WorkloadError(f"{path}: expected a JSON list of token ids or a list of such lists")


def _text_rows(path: Path, text: str) -> tuple[list[list[object]], list[int]]:
    rows: list[list[object]] = []
    lines: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        body = line.split("#", 1)[0].replace(",", " ").split()
        if body:
            rows.append(list(body))
            lines.append(number)
    return rows, lines


def load_prompt_ids(path: str | Path, vocab: int) -> np.ndarray:
    """The prompt in ``path`` as int64 token ids of shape (batch, prompt_tokens).

    Raises:
        WorkloadError: the file cannot be read, is empty, has a token that is not an integer in
            ``[0, vocab)`` (naming its line), or sequences of different lengths.
    """
    p = Path(path)
    try:
        text = read_bounded(p, MAX_PROMPT_BYTES, "a file of token ids").decode("utf-8")
    except FileError as exc:
        raise WorkloadError(f"{p}: cannot read the prompt ids: {exc.reason}") from None
    except UnicodeDecodeError as exc:
        raise WorkloadError(f"{p}: cannot read the prompt ids ({exc})") from None
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            rows = _json_rows(p, json.loads(text))
        except json.JSONDecodeError as exc:
            raise WorkloadError(f"{p}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
        except (ValueError, RecursionError):  # a 4,300-digit integer; nesting past ~1,000
            raise WorkloadError(f"{p}: not usable JSON (a huge number or deep nesting)") from None
        lines = list(range(1, len(rows) + 1))
        where = "sequence"
    else:
        rows, lines = _text_rows(p, text)
        where = "line"
    if not rows or not any(rows):
        raise WorkloadError(f"{p}: no token ids (expected one sequence of ids per line)")
    ids: list[list[int]] = []
    for row, number in zip(rows, lines, strict=True):
        seq = []
        for tok in row:
            value: int | None = None
            if isinstance(tok, int) and not isinstance(tok, bool):
                value = tok
            elif isinstance(tok, str) and tok.lstrip("-").isdigit():
                value = int(tok)
            if value is None or not 0 <= value < vocab:
                raise WorkloadError(
                    f"{p}: {where} {number}: token {tok!r} is not an id in [0, {vocab}) "
                    f"(expected integer ids of this workload's vocabulary)"
                )
            seq.append(value)
        ids.append(seq)
    lengths = {len(s) for s in ids}
    if len(lengths) != 1:
        first = len(ids[0])
        bad = next(n for s, n in zip(ids, lines, strict=True) if len(s) != first)
        raise WorkloadError(
            f"{p}: {where} {bad} has a different number of tokens than {where} {lines[0]} "
            f"({first}); every sequence of a batch must have the same length"
        )
    return np.asarray(ids, dtype=np.int64)
