"""GPU tensors through DLPack (cuda engines): torch.cuda tensors in, normrt.GpuArray out (torch.from_dlpack gives
torch.cuda tensors without a copy), in ONNX output order, ordered on PyTorch's current stream or stream=; the
errors for non-contiguous GPU tensors, host and GPU inputs mixed, and GPU tensors given to a cpu engine.

The GPU tests skip without a CUDA device (torch.cuda.is_available()); the error tests run everywhere, with
objects that only pretend to be GPU tensors (they fail the test if normrt consumes them)."""
import os
import pathlib

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import normrt

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("NORMRT_BUILD_DIR", REPO / "build"))
EXAMPLE_PLUGIN = BUILD / "libnormrt_example_plugin.so"
MODEL = REPO / "examples" / "models" / "conv_gn_relu" / "model.onnx"
SHAPES = {"input": [(1, 3, 32, 32), (2, 3, 32, 32), (4, 3, 32, 32)]}


def torch_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return torch


class FakeCudaTensor:
    """Says it lives on a GPU; normrt must refuse it before reading it."""

    def __init__(self, device=0):
        self.device = device

    def __dlpack_device__(self):
        return (2, self.device)

    def __dlpack__(self, stream=None, **kwargs):
        raise AssertionError("this tensor must not be consumed")


def two_output_model(tmp_path):
    """a, b -> s = a + b, p = a * b; outputs in the order p, s (not alphabetical, not node order)."""
    nodes = [helper.make_node("Add", ["a", "b"], ["s"]), helper.make_node("Mul", ["a", "b"], ["p"])]
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", 5]) for n in ("a", "b")]
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", 5]) for n in ("p", "s")]
    graph = helper.make_graph(nodes, "two", inputs, outputs)
    path = tmp_path / "two.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


TWO_SHAPES = {"a": [(1, 5), (2, 5), (8, 5)], "b": [(1, 5), (2, 5), (8, 5)]}


# ---- errors (run without a GPU) ----

def test_cpu_engine_refuses_gpu_tensors_naming_the_fix():
    eng = normrt.build(MODEL, device="cpu", shapes=SHAPES)
    with pytest.raises(normrt.InvalidArgumentError,
                       match=r"input 'input' is a tensor on cuda:1 and this engine runs on device 'cpu'.*x\.cpu\(\)"
                             r".*device=\"cuda\""):
        eng.run({"input": FakeCudaTensor(1)})


def test_mixing_host_and_gpu_inputs_names_both(tmp_path):
    eng = normrt.build(two_output_model(tmp_path), device="cpu", shapes=TWO_SHAPES)
    host = np.zeros((2, 5), np.float32)
    # Checked before the engine's device: the message names both inputs whatever the engine.
    with pytest.raises(normrt.InvalidArgumentError) as e:
        eng.run({"a": host, "b": FakeCudaTensor()})
    message = str(e.value)
    assert "'a'" in message and "'b'" in message and "cuda:0" in message, message


def test_stream_is_refused_for_host_inputs(tmp_path):
    eng = normrt.build(two_output_model(tmp_path), device="cpu", shapes=TWO_SHAPES)
    x = np.ones((2, 5), np.float32)
    with pytest.raises(normrt.InvalidArgumentError, match="stream= is for GPU tensors"):
        eng.run({"a": x, "b": x}, stream=0)


def test_gpu_array_is_exported():
    assert normrt.GpuArray.__name__ == "GpuArray"
    assert hasattr(normrt.GpuArray, "__dlpack__") and hasattr(normrt.GpuArray, "__dlpack_device__")


# ---- on the GPU ----

@pytest.fixture(scope="module")
def cuda_engine():
    torch_cuda()
    return normrt.build(MODEL, device="cuda", shapes=SHAPES)


def test_torch_cuda_tensors_in_and_out_without_copies(cuda_engine):
    torch = torch_cuda()
    cpu = normrt.build(MODEL, device="cpu", shapes=SHAPES)
    for n in (1, 3, 4):
        x = torch.randn(n, 3, 32, 32, device="cuda")
        outs = cuda_engine.run({"input": x})
        assert list(outs) == [o.name for o in cuda_engine.outputs]
        out = outs["output"]
        assert isinstance(out, normrt.GpuArray)
        assert out.__dlpack_device__() == (2, x.device.index or 0)
        y = torch.from_dlpack(out)
        assert y.is_cuda and tuple(y.shape) == out.shape
        assert y.data_ptr() == out.data_ptr, "torch.from_dlpack must not copy"
        want = cpu.run({"input": x.cpu().numpy()})["output"]
        np.testing.assert_allclose(y.cpu().numpy(), want, rtol=1e-2, atol=1e-2)  # cuDNN may use TF32


def test_outputs_outlive_the_gpu_array_and_the_engine(tmp_path):
    torch = torch_cuda()
    eng = normrt.build(two_output_model(tmp_path), device="cuda", shapes=TWO_SHAPES)
    a = torch.randn(3, 5, device="cuda")
    b = torch.randn(3, 5, device="cuda")
    outs = eng.run({"a": a, "b": b})
    assert list(outs) == ["p", "s"], "ONNX output order"
    p = torch.from_dlpack(outs["p"])
    s = torch.from_dlpack(outs["s"])
    del outs, eng
    torch.cuda.synchronize()
    torch.testing.assert_close(p, a * b)
    torch.testing.assert_close(s, a + b)


def test_runs_on_the_current_torch_stream_and_on_stream_argument(tmp_path):
    torch = torch_cuda()
    eng = normrt.build(two_output_model(tmp_path), device="cuda", shapes=TWO_SHAPES)
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        a = torch.randn(8, 5, device="cuda")
        b = torch.randn(8, 5, device="cuda")
        s = torch.from_dlpack(eng.run({"a": a, "b": b})["s"])  # ordered on `side` after a and b
        t = s * 2
    side.synchronize()
    torch.testing.assert_close(t, (a + b) * 2)
    out = eng.run({"a": a, "b": b}, stream=side)["p"]
    side.synchronize()
    torch.testing.assert_close(torch.from_dlpack(out), a * b)
    out = eng.run({"a": a, "b": b}, stream=side.cuda_stream)["p"]
    side.synchronize()
    torch.testing.assert_close(torch.from_dlpack(out), a * b)


def test_non_contiguous_gpu_tensor_names_the_fix(cuda_engine):
    torch = torch_cuda()
    x = torch.randn(2, 3, 32, 32, device="cuda").transpose(2, 3)
    with pytest.raises(normrt.InvalidArgumentError, match=r"input 'input' is a GPU tensor that is not contiguous"
                                                          r".*x\.contiguous\(\)"):
        cuda_engine.run({"input": x})
    out = torch.from_dlpack(cuda_engine.run({"input": x.contiguous()})["output"])
    assert out.shape == (2, 16, 32, 32)


def test_mixing_numpy_and_torch_cuda_names_both(tmp_path):
    torch = torch_cuda()
    eng = normrt.build(two_output_model(tmp_path), device="cuda", shapes=TWO_SHAPES)
    with pytest.raises(normrt.InvalidArgumentError, match=r"input 'a' is in host memory and input 'b' is a tensor "
                                                          r"on cuda:\d"):
        eng.run({"a": np.zeros((2, 5), np.float32), "b": torch.zeros(2, 5, device="cuda")})


def test_host_inputs_still_give_numpy_outputs_on_a_cuda_engine(cuda_engine):
    torch_cuda()
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    out = cuda_engine.run({"input": x})["output"]
    assert isinstance(out, np.ndarray) and out.shape == (2, 16, 32, 32)


def test_plugin_op_runs_on_the_gpu_with_torch_tensors(tmp_path):
    torch = torch_cuda()
    normrt.load_plugins(str(EXAMPLE_PLUGIN))
    node = helper.make_node("Clamp01", ["x"], ["y"], domain="com.example", name="clamp")
    graph = helper.make_graph([node], "clamp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 7])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 7])])
    path = tmp_path / "clamp.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    onnx.save(model, str(path))
    eng = normrt.build(path, device="cuda", shapes={"x": [(1, 7), (2, 7), (8, 7)]})
    x = torch.randn(5, 7, device="cuda") * 3
    y = torch.from_dlpack(eng.run({"x": x})["y"])
    torch.testing.assert_close(y, x.clamp(0, 1), rtol=0, atol=0)
