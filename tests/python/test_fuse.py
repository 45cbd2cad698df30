"""`normrt fuse` checked from outside: the fused files of the PyTorch fixtures (and of extra PyTorch models
exported here, for the LayerNorm, GELU and HardSwish spellings and GroupNorm forms the fixtures lack) pass the
ONNX checker, hold one fused GroupNorm per nn.GroupNorm, keep genuine InstanceNorms, and give PyTorch's outputs
in ONNX Runtime within 1e-4 (max |ort - torch| / (1 + max |torch|), the measure of the C++ model tests).

Run by scripts/test.sh as `.venv/bin/python -m pytest -q tests/python`, after the build; the fixtures are
generated into build/fixtures when missing.
"""

import collections
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(REPO, "build")
NORMRT = os.path.join(BUILD, "normrt")
FIXTURES = os.path.join(BUILD, "fixtures")
TOLERANCE = 1e-4
# ONNX Runtime 1.24.4's CPU GroupNormalization-21 on inputs with a large mean and a small spread (measured by
# test_ort_group_normalization_21_precision): not normrt's to fix, but it bounds what --opset21 files give there.
ORT_GROUP_NORMALIZATION_TOLERANCE = 1e-3
NORMRT_DOMAIN = "ai.normrt"

# Counted from the module definitions in tests/fixtures/make_fixtures.py.
EXPECTED = {  # model: (nn.GroupNorm modules, InstanceNorm modules, nn.LayerNorm modules)
    "conv_gn_relu": (1, 0, 0),
    "resnet_gn": (8, 0, 0),
    "packnet": (10, 0, 0),
    "unet_block": (3, 0, 1),
    "style_transfer": (0, 9, 0),
    "audio1d": (3, 0, 0),
    "spatial_transformer": (1, 0, 2),
}


def _fixture_index():
    index = os.path.join(FIXTURES, "fixtures.json")
    if not os.path.exists(index):
        subprocess.run(["/usr/bin/python3", os.path.join(REPO, "tests", "fixtures", "make_fixtures.py"),
                        "--out", FIXTURES], check=True, stdout=subprocess.DEVNULL)
    with open(index) as f:
        return json.load(f)["models"]


FIXTURE_ENTRIES = _fixture_index()


def fuse(model, out, *flags):
    assert os.path.exists(NORMRT), "build normrt first (scripts/build.sh): %s is missing" % NORMRT
    r = subprocess.run([NORMRT, "fuse", model, "-o", out] + list(flags), capture_output=True, text=True)
    assert r.returncode == 0, "normrt fuse failed:\n" + r.stderr
    return r.stdout


def error(got, expected):
    return float(np.abs(got - expected).max() / (1.0 + np.abs(expected).max()))


def norm_counts(model):
    """(fused GroupNorms, GroupNormalization, InstanceNormalization, LayerNorms of either kind)."""
    c = collections.Counter()
    for n in model.graph.node:
        if n.domain == NORMRT_DOMAIN:
            c[n.op_type.split("_")[0]] += 1
        else:
            c[n.op_type] += 1
    return (c["GroupNorm"], c["GroupNormalization"], c["InstanceNormalization"],
            c["LayerNorm"] + c["LayerNormalization"])


def run_ort(path, feeds):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def fixture_cases(entry):
    mdir = os.path.join(FIXTURES, entry["dir"])
    for case in entry["cases"]:
        with open(os.path.join(mdir, case, "case.json")) as f:
            spec = json.load(f)
        feeds = {i["name"]: np.load(os.path.join(mdir, case, i["file"])) for i in spec["inputs"]}
        outs = [np.load(os.path.join(mdir, case, o["file"])) for o in spec["outputs"]]
        yield case, feeds, outs


@pytest.mark.parametrize("entry", FIXTURE_ENTRIES, ids=[e["dir"] for e in FIXTURE_ENTRIES])
def test_fixture_fused_file_is_valid_and_matches_pytorch(entry, tmp_path):
    fused = str(tmp_path / "fused.onnx")
    fuse(os.path.join(FIXTURES, entry["dir"], "model.onnx"), fused)
    onnx.checker.check_model(fused, full_check=True)
    model = onnx.load(fused)
    assert [(o.domain, o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")] == [("", entry["opset"])]
    group_norms, _, instance_norms, layer_norms = norm_counts(model)
    assert (group_norms, instance_norms, layer_norms) == EXPECTED[entry["model"]]
    if group_norms:
        assert model.ir_version >= 8
        assert {f.name for f in model.functions} == {n.op_type for n in model.graph.node if n.domain == NORMRT_DOMAIN}
    for case, feeds, expected in fixture_cases(entry):
        for got, want in zip(run_ort(fused, feeds), expected):
            assert error(got, want) <= TOLERANCE, (case, error(got, want))


@pytest.mark.parametrize("entry", FIXTURE_ENTRIES, ids=[e["dir"] for e in FIXTURE_ENTRIES])
def test_fixture_opset21_uses_standard_group_normalization(entry, tmp_path):
    fused = str(tmp_path / "fused21.onnx")
    fuse(os.path.join(FIXTURES, entry["dir"], "model.onnx"), fused, "--opset21")
    model = onnx.load(fused)  # Debian's onnx 1.12 checker stops at opset 17; ONNX Runtime checks the model
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [21]
    group_norms, standard, _, _ = norm_counts(model)
    assert (group_norms, standard) == (0, EXPECTED[entry["model"]][0])
    for case, feeds, expected in fixture_cases(entry):
        for got, want in zip(run_ort(fused, feeds), expected):
            assert error(got, want) <= TOLERANCE, (case, error(got, want))


def test_report_names_rewrites_and_refusals(tmp_path):
    out = fuse(os.path.join(FIXTURES, "resnet_gn_op13", "model.onnx"), str(tmp_path / "f.onnx"), "--report")
    lines = out.splitlines()
    rewrites = [l for l in lines if l.startswith("  rewrite  group_norm_fusion: GroupNorm(")]
    assert len(rewrites) == 8, out
    assert all("(InstanceNormalization)" in l and "-> ai.normrt::GroupNorm" in l for l in rewrites), out
    assert any(l.startswith("  refused  norm_activation_fusion: ") and "is not a fusable activation" in l
               for l in lines), out
    assert lines[-1].endswith("normalizations: ai.normrt::GroupNorm x8"), out


# ---------------------------------------------------------------------------------------------------------
# PyTorch models for the spellings the fixtures lack, exported here with torch 1.13's TorchScript exporter.


class TokenBlock(nn.Module):
    """Transformer MLP block: LayerNorm (written out below opset 17), tanh GELU, residual."""

    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm(16)
        self.fc1 = nn.Linear(16, 32)
        self.fc2 = nn.Linear(32, 16)

    def forward(self, x):
        return x + self.fc2(F.gelu(self.fc1(self.ln(x)), approximate="tanh"))


class LayerNorm2dGelu(nn.Module):
    """LayerNorm over two axes, then exact GELU straight after it (fused into the LayerNorm)."""

    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm([4, 5])

    def forward(self, x):
        return F.gelu(self.ln(x))


class ConvGnHardswish(nn.Module):
    """GroupNorm then Hardswish (HardSigmoid * x below opset 14), and a standalone Hardswish."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.gn = nn.GroupNorm(2, 8)
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        return F.hardswish(self.head(F.hardswish(self.gn(self.conv(x)))))


class GroupNormForms(nn.Module):
    """GroupNorm without affine on a 3-D input (G = 4), G = 1 and G = C on 1-D, each with an activation."""

    def __init__(self):
        super().__init__()
        self.conv3d = nn.Conv3d(2, 8, 3, padding=1)
        self.gn3d = nn.GroupNorm(4, 8, affine=False)
        self.conv1d = nn.Conv1d(8, 6, 1)
        self.gn_one = nn.GroupNorm(1, 6)
        self.gn_all = nn.GroupNorm(6, 6)

    def forward(self, x):
        h = F.silu(self.gn3d(self.conv3d(x)))
        h = h.mean(dim=(3, 4))
        h = torch.sigmoid(self.gn_one(self.conv1d(h)))
        return torch.tanh(self.gn_all(h))


VARIANTS = {  # name: (module factory, input shape at batch 2, opsets, (GroupNorms, LayerNorms))
    "token_block": (TokenBlock, [2, 7, 16], (11, 13, 17), (0, 1)),
    "layer_norm_2d_gelu": (LayerNorm2dGelu, [2, 3, 4, 5], (11, 13, 17), (0, 1)),
    "conv_gn_hardswish": (ConvGnHardswish, [2, 3, 6, 6], (11, 13, 14, 17), (1, 0)),
    "group_norm_forms": (GroupNormForms, [2, 2, 3, 4, 5], (11, 13, 17), (3, 0)),
}
VARIANT_CASES = [(name, opset) for name, v in VARIANTS.items() for opset in v[2]]


def _randomize(module):
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.GroupNorm, nn.LayerNorm)) and m.weight is not None:
                m.weight.copy_(torch.rand(m.weight.shape) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape) * 0.3)
    return module.eval()


@pytest.mark.parametrize("name,opset", VARIANT_CASES, ids=["%s_op%d" % c for c in VARIANT_CASES])
@pytest.mark.parametrize("opset21", [False, True], ids=["", "opset21"])
def test_pytorch_variant(name, opset, opset21, tmp_path):
    factory, shape, _, (group_norms, layer_norms) = VARIANTS[name]
    torch.manual_seed(7)
    module = _randomize(factory())
    x = torch.randn(*shape)
    with torch.no_grad():
        expected = module(x).numpy()
    raw = str(tmp_path / "model.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), raw, opset_version=opset, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    fused = str(tmp_path / "fused.onnx")
    report = fuse(raw, fused, "--report", *(["--opset21"] if opset21 else []))
    model = onnx.load(fused)
    fused_gn, standard_gn, _, fused_ln = norm_counts(model)
    assert (fused_gn + standard_gn, fused_ln) == (group_norms, layer_norms), report
    if opset21:
        assert fused_gn == 0, report
    else:
        onnx.checker.check_model(fused, full_check=True)
        if opset < 17:  # no standard LayerNormalization yet: the written-out form became normrt's own op
            assert sum(n.domain == NORMRT_DOMAIN for n in model.graph.node) == group_norms + layer_norms, report
    assert not any(n.op_type in ("ReduceMean",) for n in model.graph.node) or name == "group_norm_forms", report
    # group_norm_forms feeds a GroupNorm with sigmoid outputs (mean ~0.5, small spread); ONNX Runtime's
    # GroupNormalization-21 kernel loses precision there (test_ort_group_normalization_21_precision below),
    # while the opset < 21 form, through InstanceNormalization, keeps 1e-4.
    tolerance = ORT_GROUP_NORMALIZATION_TOLERANCE if opset21 and name == "group_norm_forms" else TOLERANCE
    (got,) = run_ort(fused, {"x": x.numpy()})
    assert error(got, expected) <= tolerance, (error(got, expected), report)
    # Batch 3 through the dynamic batch.
    x3 = torch.randn(3, *shape[1:])
    with torch.no_grad():
        expected3 = module(x3).numpy()
    (got3,) = run_ort(fused, {"x": x3.numpy()})
    assert error(got3, expected3) <= tolerance


def test_ort_group_normalization_21_precision():
    """Why --opset21 files get ORT_GROUP_NORMALIZATION_TOLERANCE on one variant: for the same GroupNorm with
    G = C on values 0.5 +- 0.01, ONNX Runtime's GroupNormalization-21 is off by more than 1e-4 where its
    InstanceNormalization (what normrt's function bodies use below opset 21) is within 1e-4."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    x = (0.5 + 0.01 * rng.standard_normal((3, 6, 3))).astype(np.float32)
    scale = rng.uniform(0.5, 1.5, 6).astype(np.float32)
    bias = rng.standard_normal(6).astype(np.float32)
    expected = F.group_norm(torch.from_numpy(x).double(), 6, torch.from_numpy(scale).double(),
                            torch.from_numpy(bias).double(), 1e-5).numpy()

    def ort_error(node, opset, ir_version):
        graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 6, 3])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 6, 3])],
                                  [numpy_helper.from_array(scale, "s"), numpy_helper.from_array(bias, "b")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = ir_version
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        return error(session.run(None, {"x": x})[0], expected)

    standard = ort_error(helper.make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=6), 21, 10)
    instance = ort_error(helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"]), 17, 8)
    assert instance <= TOLERANCE < standard <= ORT_GROUP_NORMALIZATION_TOLERANCE, (instance, standard)


def test_activation_fusions_are_reported(tmp_path):
    torch.manual_seed(3)
    module = _randomize(LayerNorm2dGelu())
    raw = str(tmp_path / "m.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.randn(2, 3, 4, 5),), raw, opset_version=13)
    report = fuse(raw, str(tmp_path / "f.onnx"), "--report")
    assert "rewrite  layer_norm_fusion: " in report and "over 2 last axes" in report, report
    assert "rewrite  gelu_fusion: " in report and "approximate = none" in report, report
    assert "activation Gelu" in report, report


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
