"""The normrt Python package: build/run/save/load, output order, errors (the CLI's messages), dtypes,
threads, DLPack (PyTorch CPU tensors), plugins, and results equal to the command line's.

Needs the CMake build in build/ (the CLI and the example plugin; NORMRT_BUILD_DIR overrides) and the package
installed (scripts/install_deps.sh puts it into .venv)."""
import os
import pathlib
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import normrt

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("NORMRT_BUILD_DIR", REPO / "build"))
CLI = BUILD / "normrt"
EXAMPLE_PLUGIN = BUILD / "libnormrt_example_plugin.so"
PLUGIN_COPY = BUILD / "test_plugins" / "libnormrt_test_clamp01_copy.so"
MODEL = REPO / "examples" / "models" / "conv_gn_relu" / "model.onnx"
INPUT = REPO / "examples" / "models" / "conv_gn_relu" / "input.npy"
SHAPES = {"input": [(1, 3, 32, 32), (2, 3, 32, 32), (4, 3, 32, 32)]}


def require(path):
    assert path.exists(), f"{path} is missing: build normrt first (scripts/build.sh)"
    return str(path)


@pytest.fixture(scope="module")
def engine():
    return normrt.build(MODEL, device="cpu", shapes=SHAPES)


def batch(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3, 32, 32)).astype(np.float32)


def save_model(tmp_path, nodes, inputs, outputs, initializers=(), domains=()):
    graph = helper.make_graph(nodes, "test", inputs, outputs, list(initializers))
    opsets = [helper.make_opsetid("", 17)] + [helper.make_opsetid(d, v) for d, v in domains]
    path = tmp_path / "model.onnx"
    onnx.save(helper.make_model(graph, opset_imports=opsets), str(path))
    return path


def run_cli(*args):
    return subprocess.run([require(CLI), *map(str, args)], capture_output=True, text=True)


# ---- build, run, save, load ----

def test_build_describes_inputs_outputs_and_profiles(engine):
    assert engine.device == "cpu" and engine.num_profiles == 1
    (x,) = engine.inputs
    assert (x.name, x.dtype, x.shape) == ("input", "float32", ["batch", 3, 32, 32])
    assert x.profiles == [((1, 3, 32, 32), (2, 3, 32, 32), (4, 3, 32, 32))]
    (y,) = engine.outputs
    assert (y.name, y.dtype, y.shape, y.profiles) == ("output", "float32", ["batch", 16, 32, 32], [])
    assert "TensorInfo(name='input', dtype='float32', shape=[batch,3,32,32])" == repr(x)


def test_run_save_load_and_serialize(engine, tmp_path):
    x = batch(3)
    out = engine.run({"input": x})
    assert list(out) == ["output"]
    y = out["output"]
    assert y.shape == (3, 16, 32, 32) and y.dtype == np.float32
    assert np.all(y >= 0) and np.isfinite(y).all()  # ReLU after GroupNorm
    path = tmp_path / "model.nrt"
    engine.save(path)
    loaded = normrt.load(path)
    np.testing.assert_array_equal(loaded.run({"input": x})["output"], y)
    again = normrt.deserialize(engine.serialize())
    np.testing.assert_array_equal(again.run({"input": x})["output"], y)
    assert engine.serialize() == path.read_bytes()


def test_build_from_bytes_and_several_profiles():
    eng = normrt.build(MODEL.read_bytes(), profiles=[{"input": [(1, 3, 32, 32)] * 3},
                                                     {"input": [(2, 3, 32, 32), (3, 3, 32, 32), (4, 3, 32, 32)]}])
    assert eng.num_profiles == 2
    assert eng.inputs[0].profiles[1] == ((2, 3, 32, 32), (3, 3, 32, 32), (4, 3, 32, 32))
    assert eng.run({"input": batch(4)})["output"].shape == (4, 16, 32, 32)


def test_outputs_come_back_in_onnx_order(tmp_path):
    # Declared order: c, a, b; the nodes compute a, b, c.
    path = save_model(
        tmp_path,
        [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Neg", ["x"], ["b"]),
         helper.make_node("Add", ["a", "b"], ["c"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("c", "a", "b")])
    eng = normrt.build(path, shapes={"x": [(1, 2), (2, 2), (3, 2)]})
    assert [o.name for o in eng.outputs] == ["c", "a", "b"]
    x = np.array([[-1, 2], [3, -4]], dtype=np.float32)
    out = eng.run({"x": x})
    assert list(out) == ["c", "a", "b"]
    np.testing.assert_array_equal(out["a"], np.maximum(x, 0))
    np.testing.assert_array_equal(out["b"], -x)
    np.testing.assert_array_equal(out["c"], np.maximum(x, 0) - x)


def test_outputs_wrap_the_result_buffer_and_inputs_are_not_written(engine):
    x = batch(2)
    before = x.copy()
    x.flags.writeable = False  # read in place: a read-only array is fine
    y = engine.run({"input": x})["output"]
    np.testing.assert_array_equal(x, before)
    assert not y.flags.owndata and type(y.base).__name__ == "PyCapsule"  # no copy out
    assert y.flags.writeable and y.flags.c_contiguous
    y[...] = 0  # the caller owns it


def test_non_contiguous_inputs_are_copied_correctly(engine):
    x = batch(2)
    wide = np.zeros((2, 3, 32, 64), dtype=np.float32)
    wide[..., ::2] = x
    strided = wide[..., ::2]
    assert not strided.flags.c_contiguous
    fortran = np.asfortranarray(x)
    expected = engine.run({"input": x})["output"]
    np.testing.assert_array_equal(engine.run({"input": strided})["output"], expected)
    np.testing.assert_array_equal(engine.run({"input": fortran})["output"], expected)


def test_results_equal_the_clis(engine, tmp_path):
    path = tmp_path / "model.nrt"
    engine.save(path)
    x = np.load(INPUT)
    result = run_cli("run", path, "--input", f"input={INPUT}", "--output-dir", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "output.npy"), engine.run({"input": x})["output"])


# ---- errors ----

def test_misspelled_input_name_gives_the_clis_message(engine, tmp_path):
    path = tmp_path / "model.nrt"
    engine.save(path)
    with pytest.raises(normrt.InvalidArgumentError) as caught:
        engine.run({"inptu": np.load(INPUT)})
    message = str(caught.value)
    assert "input 'inptu' was given" in message and "did you mean 'input'" in message
    assert caught.value.code == 1 and caught.value.code_name == "invalid argument"
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, normrt.Error)
    cli = run_cli("run", path, "--input", f"inptu={INPUT}", "--output-dir", tmp_path / "out")
    assert cli.returncode == 1
    assert cli.stderr == f"normrt: error (invalid argument): {message}\n"


def test_misspelled_profile_input_name():
    with pytest.raises(normrt.InvalidArgumentError, match="did you mean 'input'"):
        normrt.build(MODEL, shapes={"inputs": SHAPES["input"]})
    with pytest.raises(normrt.InvalidArgumentError, match="three shapes"):
        normrt.build(MODEL, shapes={"input": [(1, 3, 32, 32)]})
    with pytest.raises(normrt.InvalidArgumentError, match="sequence of ints"):
        normrt.build(MODEL, shapes={"input": [(1, 3, 32, 32), "2x3x32x32", (4, 3, 32, 32)]})
    with pytest.raises(normrt.ShapeError, match="dynamic inputs"):
        normrt.build(MODEL)


def test_a_timing_cache_on_the_cpu_names_the_fix(tmp_path):
    cache = tmp_path / "t.cache"
    with pytest.raises(normrt.InvalidArgumentError, match=r"is for GPU builds.*--device cuda"):
        normrt.build(MODEL, shapes=SHAPES, timing_cache=cache)
    assert not cache.exists()


def test_dtype_errors(engine):
    x = batch(1)
    with pytest.raises(normrt.InvalidArgumentError, match=r"must be float32 but is float64.*astype\(numpy.float32\)"):
        engine.run({"input": x.astype(np.float64)})
    with pytest.raises(normrt.InvalidArgumentError, match="must be float32 but is int32"):
        engine.run({"input": x.astype(np.int32)})
    with pytest.raises(normrt.InvalidArgumentError, match="complex64, which normrt has no type for"):
        engine.run({"input": x.astype(np.complex64)})
    with pytest.raises(normrt.InvalidArgumentError, match="big-endian"):
        engine.run({"input": x.astype(">f4")})
    with pytest.raises(normrt.InvalidArgumentError, match="input names must be strings"):
        engine.run({0: x})


def test_shape_and_build_errors(engine, tmp_path):
    with pytest.raises(normrt.ShapeError, match="outside the range"):
        engine.run({"input": batch(5)})
    with pytest.raises(normrt.InvalidArgumentError, match="float32 only"):
        normrt.build(MODEL, shapes=SHAPES, precision="float16")
    with pytest.raises(normrt.InvalidArgumentError, match="precision 'fp8' is unknown"):
        normrt.build(MODEL, shapes=SHAPES, precision="fp8")
    with pytest.raises(normrt.InvalidArgumentError, match="device 'tpu' is unknown"):
        normrt.build(MODEL, shapes=SHAPES, device="tpu")
    with pytest.raises(normrt.IoError) as caught:
        normrt.load(tmp_path / "missing.nrt")
    assert isinstance(caught.value, OSError)
    damaged = bytearray(engine.serialize())
    damaged[len(damaged) // 2] ^= 1
    with pytest.raises(normrt.CorruptEngineError, match="checksum"):
        normrt.deserialize(bytes(damaged))
    with pytest.raises(normrt.InvalidModelError):
        normrt.build(b"not a model")


# ---- threads ----

def test_concurrent_runs_from_threads_match_sequential_runs(engine):
    inputs = [batch(n, seed=n) for n in (1, 2, 3, 4)]
    expected = [engine.run({"input": x})["output"] for x in inputs]
    errors = []

    def worker(k):
        try:
            for i in range(8):
                j = (k + i) % len(inputs)
                np.testing.assert_array_equal(engine.run({"input": inputs[j]})["output"], expected[j])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_contexts_run_one_call_at_a_time(engine):
    context = engine.create_context()
    np.testing.assert_array_equal(context.run({"input": batch(2)})["output"],
                                  engine.run({"input": batch(2)})["output"])


def test_the_gil_is_released_while_running(tmp_path):
    # A run long enough to notice (20 chained 256x256 matmuls on 512 rows), and a Python thread that counts
    # while it runs. With a huge switch interval the main thread keeps the GIL unless run() lets it go.
    w = np.eye(256, dtype=np.float32)
    nodes = [helper.make_node("MatMul", ["x" if i == 0 else f"h{i}", "w"], [f"h{i + 1}" if i < 19 else "y"])
             for i in range(20)]
    path = save_model(tmp_path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [512, 256])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [512, 256])],
                      [helper.make_tensor("w", TensorProto.FLOAT, w.shape, w.flatten())])
    eng = normrt.build(path)
    x = np.ones((512, 256), dtype=np.float32)
    eng.run({"x": x})
    count, done = [0], threading.Event()

    def counter():
        while not done.is_set():
            count[0] += 1
            time.sleep(0.0001)

    old = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    thread = threading.Thread(target=counter)
    try:
        thread.start()
        time.sleep(0.05)
        before = count[0]
        for _ in range(5):
            eng.run({"x": x})
        during = count[0] - before
    finally:
        done.set()
        sys.setswitchinterval(old)
        thread.join()
    assert during > 0, "no Python code ran while the engine ran: the GIL was held"


# ---- DLPack ----

def test_torch_cpu_tensors_go_in_through_dlpack(engine):
    torch = pytest.importorskip("torch")
    x = batch(2)
    expected = engine.run({"input": x})["output"]
    t = torch.from_numpy(x.copy())
    np.testing.assert_array_equal(engine.run({"input": t})["output"], expected)
    np.testing.assert_array_equal(t.numpy(), x)  # read, not written
    # A transposed view (not contiguous) is copied into place correctly.
    view = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 1, 3, 2))).transpose(2, 3)
    assert not view.is_contiguous()
    np.testing.assert_array_equal(engine.run({"input": view})["output"], expected)
    with pytest.raises(normrt.InvalidArgumentError, match="must be float32 but is float64"):
        engine.run({"input": t.double()})
    # Outputs go back to torch without a copy.
    out = torch.from_numpy(engine.run({"input": t})["output"])
    assert out.shape == (2, 16, 32, 32)


def test_gpu_tensors_are_refused_naming_the_device(engine):
    class FakeCudaTensor:
        def __dlpack_device__(self):
            return (2, 1)

        def __dlpack__(self, stream=None):
            raise AssertionError("a GPU tensor must not be consumed")

    with pytest.raises(normrt.InvalidArgumentError, match=r"input 'input' is a tensor on cuda:1.*CUDA backend"):
        engine.run({"input": FakeCudaTensor()})


# ---- plugins ----

def clamp_model(tmp_path):
    return save_model(
        tmp_path,
        [helper.make_node("Clamp01", ["x"], ["y"], domain="com.example", name="clamp")],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])],
        domains=[("com.example", 1)])


def test_missing_plugin_is_named_before_anything_runs(tmp_path):
    # A fresh interpreter: this one may have loaded the plugin already.
    path = clamp_model(tmp_path)
    script = textwrap.dedent(f"""
        import normrt
        try:
            normrt.build({str(path)!r}, shapes={{"x": [(1, 3), (1, 3), (2, 3)]}})
        except normrt.UnsupportedOpError as e:
            print("BUILD:", e)
        normrt.load_plugins({require(EXAMPLE_PLUGIN)!r})
        normrt.build({str(path)!r}, shapes={{"x": [(1, 3), (1, 3), (2, 3)]}}).save({str(tmp_path / "c.nrt")!r})
    """)
    first = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "'Clamp01' (domain com.example, opset 1)" in first.stdout and "normrt.load_plugins" in first.stdout
    script = textwrap.dedent(f"""
        import normrt
        try:
            normrt.load({str(tmp_path / "c.nrt")!r})
        except normrt.PluginMissingError as e:
            print("LOAD:", e.code, e)
    """)
    second = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    for part in ("LOAD: 7", "op 'Clamp01' (domain com.example, version 1)", "used by node 'clamp'", "--plugins",
                 "normrt.load_plugins(path)"):
        assert part in second.stdout, second.stdout


def test_plugin_op_builds_and_runs(tmp_path):
    normrt.load_plugins(require(EXAMPLE_PLUGIN))
    normrt.load_plugins(require(EXAMPLE_PLUGIN))  # again: nothing happens
    ops = normrt.registered_plugin_ops()
    assert [op[:3] for op in ops if op[1] == "Clamp01"] == [("com.example", "Clamp01", 1)]
    eng = normrt.build(clamp_model(tmp_path), shapes={"x": [(1, 3), (2, 3), (4, 3)]})
    assert eng.plugin_ops == [("com.example", "Clamp01", 1, 1)]
    assert eng.outputs[0].shape == ["n", 3]
    x = np.array([[-2, 0.5, 3], [0.25, 1, -0.0]], dtype=np.float32)
    np.testing.assert_array_equal(eng.run({"x": x})["y"], np.clip(x, 0, 1))
    np.testing.assert_array_equal(normrt.deserialize(eng.serialize()).run({"x": x})["y"], np.clip(x, 0, 1))


def test_two_plugins_with_the_same_op_are_an_error_naming_both():
    normrt.load_plugins(require(EXAMPLE_PLUGIN))
    with pytest.raises(normrt.InvalidArgumentError) as caught:
        normrt.load_plugins(require(PLUGIN_COPY))
    assert str(PLUGIN_COPY) in str(caught.value) and str(EXAMPLE_PLUGIN) in str(caught.value)


def test_plugin_loader_messages(tmp_path):
    with pytest.raises(normrt.IoError, match="No such file"):
        normrt.load_plugins(tmp_path / "missing.so")
    with pytest.raises(normrt.IoError, match="undefined symbol"):
        normrt.load_plugins(require(BUILD / "test_plugins" / "libnormrt_test_undefined_symbol.so"))


def test_cuda_device_names_why_it_is_unavailable():
    # Without a GPU (CI), or in a normrt built without CUDA, device="cuda" says why; with one, it builds.
    try:
        eng = normrt.build(MODEL, shapes=SHAPES, device="cuda")
    except normrt.DeviceUnavailableError as e:
        assert "device 'cuda' is unavailable" in str(e)
        return
    assert eng.device == "cuda"
