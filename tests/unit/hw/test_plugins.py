"""Every hardware axis finds one model per enum value, and nothing else."""

from __future__ import annotations

import enum

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
