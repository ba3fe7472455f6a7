"""PyTorch (state_dict + trusted class path) and ONNX flavors, saved and loaded for real."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch
from onnx import TensorProto, helper

from modelkeep.errors import InvalidInput, PermissionDenied
from modelkeep.flavors import load_model, save_model
from modelkeep.flavors.signature import infer_signature
from modelkeep.services.workspace import Workspace

CLASS_PATH = f"{__name__}:TinyNet"


class TinyNet(torch.nn.Module):
    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(3, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.layer(x))


def test_pytorch_state_dict_with_trusted_class(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = TinyNet(width=5)
    sample = torch.randn(2, 3)
    save_model(net, tmp_path / "net", "pytorch", init_kwargs={"width": 5})
    with pytest.raises(PermissionDenied, match="imports"):
        load_model(tmp_path / "net")
    loaded = load_model(tmp_path / "net", trusted=[CLASS_PATH])
    assert torch.equal(loaded(sample), net(sample).detach())
    signature = infer_signature(sample, net)
    assert [c["type"] for c in signature["inputs"]] == ["double"] * 3 and len(signature["outputs"]) == 5


def _identity_onnx() -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_onnx_roundtrip_and_registration(workspace: Workspace, tmp_path: Path) -> None:
    model = _identity_onnx()
    save_model(model, tmp_path / "m", "onnx")
    assert load_model(tmp_path / "m").graph.node[0].op_type == "Identity"
    with pytest.raises(InvalidInput, match="ModelProto"):
        save_model(object(), tmp_path / "bad", "onnx")
    with workspace.runs.start("export") as run:
        run.seed(1)
        version = run.log_model(
            model,
            "identity",
            flavor="onnx",
            signature={"inputs": [{"name": "x", "type": "float"}], "outputs": [{"name": "y", "type": "float"}]},
        )
    out = workspace.store.materialize("tree", version.digest or "", tmp_path / "restored")
    assert load_model(out).graph.output[0].name == "y"
