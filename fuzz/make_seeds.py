#!/usr/bin/env python3
"""Writes the seed corpus of the ONNX fuzz target: small static models, one or a few nodes each, over the ops
normrt implements (every attribute kind, initializers in raw and typed storage, several opsets), so that the
fuzzer starts next to every shape function and reference kernel instead of having to discover them.

    /usr/bin/python3 fuzz/make_seeds.py OUT_DIR

Needs only the onnx package (Debian's python3-onnx). scripts/fuzz.sh also builds an engine from each seed for
the engine targets. Deterministic: the same files every run.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT


def vi(name, shape, elem=F):
    # Outputs are declared without a type (shape None): normrt infers it.
    return helper.make_tensor_value_info(name, TensorProto.UNDEFINED if shape is None else elem, shape)


def init(name, array, raw=True):
    array = np.asarray(array)
    if raw:
        return numpy_helper.from_array(array, name)
    t = helper.make_tensor(name, helper.np_dtype_to_tensor_dtype(array.dtype) if hasattr(helper, "np_dtype_to_tensor_dtype")
                           else onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[array.dtype], array.shape, array.flatten().tolist())
    return t


def model(name, nodes, inputs, outputs, inits=(), opset=17, extra_opsets=()):
    graph = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    m = helper.make_model(graph, opset_imports=opsets, producer_name="normrt-fuzz-seeds")
    m.ir_version = 8
    return m


def unary(op, shape=(2, 3, 4), opset=17, **attrs):
    return model(op, [helper.make_node(op, ["x"], ["y"], **attrs)], [vi("x", shape)], [vi("y", None)], opset=opset)


def seeds():
    r = np.random.RandomState(7)
    w = lambda *s: r.uniform(-1, 1, s).astype(np.float32)
    out = {}
    for op in ["Relu", "Sigmoid", "Tanh", "Softplus", "Softsign", "Sqrt", "Erf", "Exp", "Log", "Sin", "Cos",
               "Reciprocal", "Floor", "Ceil", "Round", "Neg", "Abs", "Identity", "HardSwish", "GlobalAveragePool",
               "GlobalMaxPool", "Shape", "Size"]:
        out[op] = unary(op)
    out["Gelu"] = unary("Gelu", opset=20, approximate="tanh")
    out["LeakyRelu"] = unary("LeakyRelu", alpha=0.2)
    out["Elu"] = unary("Elu", alpha=0.7)
    out["Selu"] = unary("Selu")
    out["HardSigmoid"] = unary("HardSigmoid", alpha=0.3, beta=0.4)
    out["Softmax"] = unary("Softmax", axis=1)
    out["LogSoftmax"] = unary("LogSoftmax", axis=-1)
    out["Softmax11"] = unary("Softmax", opset=11, axis=1)
    out["Flatten"] = unary("Flatten", axis=2)
    out["Transpose"] = unary("Transpose", perm=[2, 0, 1])
    out["Cast"] = unary("Cast", to=TensorProto.FLOAT16)
    out["Dropout"] = unary("Dropout")
    out["ArgMax"] = unary("ArgMax", axis=1, keepdims=0)
    out["ArgMin"] = unary("ArgMin", axis=-1, select_last_index=1)
    out["DepthToSpace"] = unary("DepthToSpace", shape=(1, 8, 2, 3), blocksize=2, mode="CRD")
    out["SpaceToDepth"] = unary("SpaceToDepth", shape=(1, 2, 4, 6), blocksize=2)
    out["MaxPool"] = unary("MaxPool", shape=(1, 2, 7, 7), kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                           ceil_mode=1, dilations=[1, 2])
    out["AveragePool"] = unary("AveragePool", shape=(1, 2, 7, 7), kernel_shape=[3, 2], auto_pad="SAME_UPPER",
                               count_include_pad=1)
    for op in ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "PRelu"]:
        out[op] = model(op, [helper.make_node(op, ["a", "b"], ["y"])], [vi("a", (2, 3, 4)), vi("b", (3, 1))],
                        [vi("y", None)])
    out["Mod"] = model("Mod", [helper.make_node("Mod", ["a", "b"], ["y"], fmod=1)], [vi("a", (4,)), vi("b", (4,))],
                       [vi("y", None)])
    for op in ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"]:
        out[op] = model(op, [helper.make_node(op, ["a", "b"], ["c"]), helper.make_node("Not", ["c"], ["y"])],
                        [vi("a", (2, 3)), vi("b", (3,))], [vi("y", None)])
    for op in ["And", "Or", "Xor"]:
        out[op] = model(op, [helper.make_node(op, ["a", "b"], ["y"])],
                        [vi("a", (2, 3), TensorProto.BOOL), vi("b", (2, 3), TensorProto.BOOL)], [vi("y", None)])
    out["Where"] = model("Where", [helper.make_node("Where", ["c", "a", "b"], ["y"])],
                         [vi("c", (2, 1), TensorProto.BOOL), vi("a", (2, 3)), vi("b", (3,))], [vi("y", None)])
    out["Clip"] = model("Clip", [helper.make_node("Clip", ["x", "lo", "hi"], ["y"])], [vi("x", (2, 3))],
                        [vi("y", None)], [init("lo", np.float32(-0.5)), init("hi", np.float32(0.5))])
    out["CastLike"] = model("CastLike", [helper.make_node("CastLike", ["x", "t"], ["y"])], [vi("x", (2, 3))],
                            [vi("y", None)], [init("t", np.array([1], np.int64))], opset=15)
    out["Concat"] = model("Concat", [helper.make_node("Concat", ["a", "b", "c"], ["y"], axis=1)],
                          [vi("a", (2, 1)), vi("b", (2, 3))], [vi("y", None)], [init("c", w(2, 2))])
    out["Split"] = model("Split", [helper.make_node("Split", ["x", "s"], ["y", "z"], axis=1)], [vi("x", (2, 5))],
                         [vi("y", None), vi("z", None)], [init("s", np.array([2, 3], np.int64))], opset=13)
    out["Split11"] = model("Split11", [helper.make_node("Split", ["x"], ["y", "z"], axis=1, split=[1, 4])],
                           [vi("x", (2, 5))], [vi("y", None), vi("z", None)], opset=11)
    out["Conv"] = model("Conv", [helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1], strides=[1, 2],
                                                  dilations=[2, 1], group=2)],
                        [vi("x", (1, 4, 6, 6))], [vi("y", None)], [init("w", w(4, 2, 3, 3)), init("b", w(4))])
    out["Conv1d"] = model("Conv1d", [helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_LOWER")],
                          [vi("x", (2, 3, 9))], [vi("y", None)], [init("w", w(5, 3, 4))])
    out["ConvTranspose"] = model("ConvTranspose", [helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"],
                                                                    strides=[2, 2], output_padding=[1, 0],
                                                                    pads=[0, 1, 0, 1])],
                                 [vi("x", (1, 2, 3, 4))], [vi("y", None)], [init("w", w(2, 3, 3, 3)), init("b", w(3))])
    out["MatMul"] = model("MatMul", [helper.make_node("MatMul", ["a", "b"], ["y"])], [vi("a", (2, 3, 4))],
                          [vi("y", None)], [init("b", w(4, 5))])
    out["Gemm"] = model("Gemm", [helper.make_node("Gemm", ["a", "b", "c"], ["y"], alpha=0.5, beta=2.0, transB=1)],
                        [vi("a", (3, 4))], [vi("y", None)], [init("b", w(5, 4)), init("c", w(5))])
    out["InstanceNormalization"] = model(
        "InstanceNormalization", [helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"], epsilon=1e-3)],
        [vi("x", (2, 3, 5))], [vi("y", None)], [init("s", w(3)), init("b", w(3))])
    out["GroupNormalization18"] = model(
        "GroupNormalization18", [helper.make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=2)],
        [vi("x", (2, 4, 3, 3))], [vi("y", None)], [init("s", w(2)), init("b", w(2))], opset=18)
    out["GroupNormalization21"] = model(
        "GroupNormalization21", [helper.make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=2)],
        [vi("x", (2, 4, 3, 3))], [vi("y", None)], [init("s", w(4)), init("b", w(4))], opset=21)
    out["LayerNormalization"] = model(
        "LayerNormalization", [helper.make_node("LayerNormalization", ["x", "s", "b"], ["y", "m", "v"], axis=1)],
        [vi("x", (2, 3, 4))], [vi("y", None), vi("m", None), vi("v", None)], [init("s", w(3, 4)), init("b", w(4))])
    out["BatchNormalization"] = model(
        "BatchNormalization", [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"])],
        [vi("x", (2, 3, 4))], [vi("y", None)],
        [init("s", w(3)), init("b", w(3)), init("m", w(3)), init("v", np.abs(w(3)) + 0.5)])
    out["FusedGroupNorm"] = model(
        "FusedGroupNorm", [helper.make_node("GroupNorm", ["x", "s", "b", "r"], ["y"], domain="ai.normrt",
                                            num_groups=2, activation="Silu", epsilon=1e-5)],
        [vi("x", (2, 4, 5)), vi("r", (2, 4, 5))], [vi("y", None)], [init("s", w(4)), init("b", w(4))],
        extra_opsets=[("ai.normrt", 1)])
    out["FusedLayerNorm"] = model(
        "FusedLayerNorm", [helper.make_node("LayerNorm", ["x", "s"], ["y"], domain="ai.normrt", axis=-1,
                                            activation="LeakyRelu", alpha=0.1)],
        [vi("x", (3, 8))], [vi("y", None)], [init("s", w(8))], extra_opsets=[("ai.normrt", 1)])
    # The device passes' ops (ai.normrt), which an engine file or a hostile model may carry too.
    out["NhwcConvResidual"] = model(
        "NhwcConvResidual", [helper.make_node("NhwcConv", ["x", "w", "b", "r"], ["y"], domain="ai.normrt",
                                              pads=[1, 1, 1, 1])],
        [vi("x", (2, 5, 4, 3)), vi("r", (2, 5, 4, 6))], [vi("y", None)], [init("w", w(6, 3, 3, 3)), init("b", w(6))],
        extra_opsets=[("ai.normrt", 1)])
    out["MatMulGroup"] = model(
        "MatMulGroup", [helper.make_node("MatMulGroup", ["x", "w1", "w2", "w3"], ["q", "k", "v"], domain="ai.normrt")],
        [vi("x", (2, 3, 4))], [vi("q", None), vi("k", None), vi("v", None)],
        [init("w1", w(4, 5)), init("w2", w(4, 5)), init("w3", w(4, 5))], extra_opsets=[("ai.normrt", 1)])
    out["MatMulBiasResidual"] = model(
        "MatMulBiasResidual", [helper.make_node("MatMulBias", ["x", "w", "b", "r"], ["y"], domain="ai.normrt")],
        [vi("x", (2, 3, 4)), vi("r", (2, 3, 5))], [vi("y", None)], [init("w", w(4, 5)), init("b", w(5))],
        extra_opsets=[("ai.normrt", 1)])
    out["PermutedMatMul"] = model(
        "PermutedMatMul", [helper.make_node("PermutedMatMul", ["a", "b"], ["y"], domain="ai.normrt",
                                            perm_a=[0, 2, 1, 3], perm_b=[0, 2, 3, 1], perm_y=[0, 2, 1, 3])],
        [vi("a", (2, 3, 2, 4)), vi("b", (2, 3, 2, 4))], [vi("y", None)], extra_opsets=[("ai.normrt", 1)])
    out["Pad"] = model("Pad", [helper.make_node("Pad", ["x", "p", "v"], ["y"], mode="reflect")], [vi("x", (2, 3, 4))],
                       [vi("y", None)], [init("p", np.array([0, 1, 2, 0, 1, 1], np.int64)), init("v", np.float32(0))])
    out["PadEdge"] = model("PadEdge", [helper.make_node("Pad", ["x", "p"], ["y"], mode="edge")], [vi("x", (3, 4))],
                           [vi("y", None)], [init("p", np.array([2, 0, 0, 3], np.int64))])
    for op in ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare", "ReduceLogSum",
               "ReduceLogSumExp"]:
        if op == "ReduceSum":
            out[op] = model(op, [helper.make_node(op, ["x", "a"], ["y"], keepdims=0)], [vi("x", (2, 3, 4))],
                            [vi("y", None)], [init("a", np.array([0, -1], np.int64))])
        else:
            out[op] = model(op, [helper.make_node(op, ["x"], ["y"], axes=[1], keepdims=1)], [vi("x", (2, 3, 4))],
                            [vi("y", None)])
    out["Reshape"] = model("Reshape", [helper.make_node("Reshape", ["x", "s"], ["y"])], [vi("x", (2, 3, 4))],
                           [vi("y", None)], [init("s", np.array([0, -1], np.int64))])
    out["Squeeze"] = model("Squeeze", [helper.make_node("Squeeze", ["x", "a"], ["y"])], [vi("x", (2, 1, 4))],
                           [vi("y", None)], [init("a", np.array([1], np.int64))])
    out["Unsqueeze11"] = model("Unsqueeze11", [helper.make_node("Unsqueeze", ["x"], ["y"], axes=[0, 3])],
                               [vi("x", (2, 4))], [vi("y", None)], opset=11)
    out["Resize"] = model("Resize", [helper.make_node("Resize", ["x", "", "s"], ["y"], mode="linear",
                                                      coordinate_transformation_mode="align_corners")],
                          [vi("x", (1, 1, 3, 4))], [vi("y", None)], [init("s", np.array([1, 1, 2, 1.5], np.float32))])
    out["ResizeCubic"] = model("ResizeCubic", [helper.make_node("Resize", ["x", "", "", "z"], ["y"], mode="cubic")],
                               [vi("x", (1, 1, 4, 4))], [vi("y", None)], [init("z", np.array([1, 1, 3, 7], np.int64))])
    out["ConstantOfShape"] = model(
        "ConstantOfShape", [helper.make_node("ConstantOfShape", ["s"], ["y"],
                                             value=helper.make_tensor("v", F, [1], [2.5]))],
        [], [vi("y", None)], [init("s", np.array([2, 3], np.int64))])
    out["Range"] = model("Range", [helper.make_node("Range", ["a", "b", "c"], ["y"])], [], [vi("y", None)],
                         [init("a", np.float32(0)), init("b", np.float32(5)), init("c", np.float32(1.5))])
    out["Slice"] = model("Slice", [helper.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"])], [vi("x", (5, 6))],
                         [vi("y", None)], [init("s", np.array([4, 1], np.int64)), init("e", np.array([0, 100], np.int64)),
                                           init("a", np.array([0, 1], np.int64)), init("t", np.array([-1, 2], np.int64))])
    out["Gather"] = model("Gather", [helper.make_node("Gather", ["x", "i"], ["y"], axis=1)], [vi("x", (3, 4))],
                          [vi("y", None)], [init("i", np.array([[0, -1], [2, 1]], np.int64))])
    out["GatherElements"] = model("GatherElements", [helper.make_node("GatherElements", ["x", "i"], ["y"], axis=0)],
                                  [vi("x", (3, 2))], [vi("y", None)], [init("i", np.array([[2, 0]], np.int64), raw=False)])
    out["Expand"] = model("Expand", [helper.make_node("Expand", ["x", "s"], ["y"])], [vi("x", (3, 1))],
                          [vi("y", None)], [init("s", np.array([2, 1, 4], np.int64))])
    out["Tile"] = model("Tile", [helper.make_node("Tile", ["x", "r"], ["y"])], [vi("x", (2, 3))], [vi("y", None)],
                        [init("r", np.array([2, 1], np.int64))])
    # What the PyTorch exporter writes for GroupNorm (fused by normrt's pass) and a shape-arithmetic chain.
    out["ExportedGroupNorm"] = model("ExportedGroupNorm", [
        helper.make_node("Reshape", ["x", "s"], ["r"]),
        helper.make_node("InstanceNormalization", ["r", "ones", "zeros"], ["n"], epsilon=1e-5),
        helper.make_node("Shape", ["x"], ["xs"]),
        helper.make_node("Reshape", ["n", "xs"], ["back"]),
        helper.make_node("Mul", ["back", "g"], ["m"]),
        helper.make_node("Add", ["m", "b"], ["a"]),
        helper.make_node("Sigmoid", ["a"], ["sg"]),
        helper.make_node("Mul", ["a", "sg"], ["y"]),
    ], [vi("x", (2, 4, 3, 3))], [vi("y", None)], [
        init("s", np.array([0, 2, -1], np.int64)), init("ones", np.ones(2, np.float32)),
        init("zeros", np.zeros(2, np.float32)), init("g", w(4, 1, 1)), init("b", w(4, 1, 1))])
    out["ShapeArithmetic"] = model("ShapeArithmetic", [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["nu"]),
        helper.make_node("Concat", ["nu", "minus1"], ["target"], axis=0),
        helper.make_node("Cast", ["target"], ["t32"], to=TensorProto.INT32),
        helper.make_node("Cast", ["t32"], ["t64"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["x", "t64"], ["y"]),
    ], [vi("x", (2, 3, 4))], [vi("y", None)], [
        init("zero", np.array(0, np.int64)), init("axes", np.array([0], np.int64)),
        init("minus1", np.array([-1], np.int64))])
    return out


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    for name, m in sorted(seeds().items()):
        with open(os.path.join(out_dir, name + ".onnx"), "wb") as f:
            f.write(m.SerializeToString())
    print(f"wrote {len(seeds())} seed models to {out_dir}")


if __name__ == "__main__":
    main()
