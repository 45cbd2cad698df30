#!/usr/bin/python3
"""A 512 MB model for engine load timing: eight MatMuls [N, 4096] x [4096, 4096] (fp32 weights, external data).
    /usr/bin/python3 bench/results/s19/make_big_engine_model.py /tmp/load   # writes big.onnx and big.data there
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1] if len(sys.argv) > 1 else "."
rng = np.random.default_rng(0)
nodes, weights, previous = [], [], "x"
for i in range(8):
    weights.append(numpy_helper.from_array(rng.random((4096, 4096), dtype=np.float32), f"w{i}"))
    nodes.append(helper.make_node("MatMul", [previous, f"w{i}"], [f"h{i}"]))
    previous = f"h{i}"
graph = helper.make_graph(nodes, "big", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4096])],
                          [helper.make_tensor_value_info(previous, TensorProto.FLOAT, ["N", 4096])], weights)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
onnx.save(model, f"{out}/big.onnx", save_as_external_data=True, location="big.data")
