"""Every hardware axis finds one model per enum value, and nothing else."""

from __future__ import annotations

import enum
import subprocess
import sys

import pytest

from tersim.config.enums import PE_WEIGHT_FORMATS, Dataflow, DramModelKind, PEKind
from tersim.errors import DesignError
from tersim.hw.dataflow import DataflowModel, dataflow_model
from tersim.hw.dram import DramModel, dram_model
from tersim.hw.pe import PEModel, pe_model
from tersim.hw.plugin import load_model, module_name


@pytest.mark.parametrize("kind", list(PEKind))
def test_every_pe_kind_has_a_model(kind: PEKind) -> None:
    model = pe_model(kind)
    assert isinstance(model, PEModel) and model.kind is kind
    assert model.weight_formats == PE_WEIGHT_FORMATS[kind]


@pytest.mark.parametrize("kind", list(Dataflow))
def test_every_dataflow_has_a_model(kind: Dataflow) -> None:
    model = dataflow_model(kind)
    assert isinstance(model, DataflowModel) and model.dataflow is kind


@pytest.mark.parametrize("kind", list(DramModelKind))
def test_every_dram_kind_has_a_model(kind: DramModelKind) -> None:
    model = dram_model(kind)
    assert isinstance(model, DramModel) and model.kind is kind


def test_an_unknown_dataflow_is_an_error_not_a_fall_through() -> None:
    with pytest.raises(DesignError, match="dataflow must be one of"):
        dataflow_model("rs")  # type: ignore[arg-type]


def test_a_keyword_value_maps_to_a_trailing_underscore() -> None:
    assert module_name(Dataflow.IS) == "is_"
    assert module_name(Dataflow.OS) == "os"


def test_a_module_whose_model_is_of_another_kind_is_rejected() -> None:
    """The lookup checks what the module declares (a copy-pasted MODEL of the wrong kind)."""

    class Fake(enum.Enum):
        OS = "os"

    with pytest.raises(TypeError, match="is not the"):
        load_model("tersim.hw.dataflow", Fake.OS, DataflowModel)


def test_the_hardware_models_do_not_load_the_stepped_oracle() -> None:
    """Looking up every PE, dataflow and DRAM model (what a run does) leaves numba unloaded:
    only a ``stepped`` hook loads the oracle's kernels (numba costs ~0.3 s CPU to import)."""
    code = (
        "import sys\n"
        "from tersim.config.enums import Dataflow, DramModelKind, PEKind\n"
        "from tersim.hw.dataflow import dataflow_model\n"
        "from tersim.hw.dram import dram_model\n"
        "from tersim.hw.pe import pe_model\n"
        "models = [f(k) for f, e in ((pe_model, PEKind), (dataflow_model, Dataflow),"
        " (dram_model, DramModelKind)) for k in e]\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numba', 'llvmlite')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
