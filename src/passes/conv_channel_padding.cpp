// Pass "conv_channel_padding" (device engines, after the layout pass): a float16 channels-last convolution whose
// output channels are not a multiple of 8 (a UNet's or VAE's last conv to 3 or 4 channels, a detection head's
// odd class count) gets its weight and bias padded with zero filters up to the next multiple, and a Slice takes
// the real channels back. cuDNN's tensor-core kernels want 8 fp16 channels; below that it falls back to slow
// ones (H100, 320 -> 4 channels, 3x3 at 32x32: 34 us per call, against 12 us for 320 -> 8).
//
//   y = ai.normrt::NhwcConv(x, W [M, kH, kW, C], B [M])      M % 8 != 0, one group, W and B initializers
//   ==>  y8 = ai.normrt::NhwcConv(x, W8 [M8, kH, kW, C], B8 [M8]);  y = Slice(y8, [0], [M], axes [3])
//
// The padded filters are zeros, so y is exactly what it was. Records each padded convolution.
#include <cstring>

#include "passes/pass.h"
#include "passes/rewrite_util.h"

namespace normrt {
namespace {

constexpr const char* kPass = "conv_channel_padding";
constexpr int64_t kChannelMultiple = 8;

// `t` with its axis 0 grown to `rows`, the new rows zero.
Tensor zero_padded_rows(const Tensor& t, int64_t rows) {
  Dims dims = t.dims();
  dims[0] = rows;
  Tensor out(t.dtype(), dims);
  std::memset(out.raw(), 0, out.nbytes());
  std::memcpy(out.raw(), t.raw(), t.nbytes());
  return out;
}

}  // namespace

void pad_conv_channels(Graph& graph, PassReport& report, const NodeAccept& accept) {
  if (graph.opset("") < 10) return;  // Slice with input starts and ends
  const GraphTypes types = infer_types_tolerant(graph);
  std::vector<Node> nodes;
  nodes.reserve(graph.nodes.size());
  for (Node& conv : graph.nodes) {
    const bool candidate = conv.domain == kNormrtDomain && conv.op_type == "NhwcConv" && conv.inputs.size() >= 2 &&
                           conv.inputs.size() <= 3 && conv.outputs.size() == 1 && conv.attr_int("group", 1) == 1 &&
                           graph.is_initializer(conv.input(1)) &&
                           (conv.inputs.size() < 3 || conv.input(2).empty() || graph.is_initializer(conv.input(2)));
    const Tensor* w = candidate ? &graph.initializers.at(conv.input(1)) : nullptr;
    if (!w || w->dtype() != DataType::kFloat16 || w->rank() != 4 || w->dims()[0] % kChannelMultiple == 0) {
      nodes.push_back(std::move(conv));
      continue;
    }
    const int64_t m = w->dims()[0];
    const int64_t padded = (m + kChannelMultiple - 1) / kChannelMultiple * kChannelMultiple;
    const bool has_bias = conv.inputs.size() == 3 && !conv.input(2).empty();
    // Ask the device first, with the padded types; nothing is written to the graph for a refused candidate.
    std::vector<TypeShape> wide_types = node_input_types(graph, types, conv);
    wide_types[1].shape.dims[0] = Dim(padded);
    if (has_bias) wide_types[2].shape.dims[0] = Dim(padded);
    TypeShape slice_input{w->dtype(), Shape()};
    const std::string& y = conv.outputs[0];
    auto yt = types.types.find(y);
    if (yt != types.types.end() && yt->second.shape.has_rank && yt->second.shape.rank() == 4) {
      slice_input = yt->second;
      slice_input.shape.dims[3] = Dim(padded);
    }
    const TypeShape index{DataType::kInt64, Shape::from_dims({1})};
    Node slice;
    slice.name = conv.name + "/channels";
    slice.op_type = "Slice";
    slice.inputs = {"", "", "", ""};  // named below, once accepted
    slice.outputs = {y};
    Node wide = conv;
    wide.name = conv.name + "/padded";
    if (!accept(wide, wide_types) || !accept(slice, {slice_input, index, index, index})) {
      report.refused(kPass, conv.describe() + " keeps " + std::to_string(m) +
                                " output channels: the device has no kernel for the padded form");
      nodes.push_back(std::move(conv));
      continue;
    }
    wide.inputs[1] = fresh_value_name(graph, conv.input(1) + "/padded");
    graph.initializers[wide.inputs[1]] = zero_padded_rows(*w, padded);
    if (has_bias) {
      wide.inputs[2] = fresh_value_name(graph, conv.input(2) + "/padded");
      graph.initializers[wide.inputs[2]] = zero_padded_rows(graph.initializers.at(conv.input(2)), padded);
    }
    wide.outputs = {fresh_value_name(graph, y + "/padded")};
    slice.inputs[0] = wide.outputs[0];
    const std::vector<int64_t> bounds[] = {{0}, {m}, {3}};  // starts, ends, axes
    const char* suffixes[] = {"/starts", "/ends", "/axes"};
    for (size_t k = 0; k < 3; ++k) {
      slice.inputs[k + 1] = fresh_value_name(graph, y + suffixes[k]);
      graph.initializers[slice.inputs[k + 1]] = int64_vector(bounds[k]);
    }
    report.applied(kPass, conv.describe() + ": " + std::to_string(m) + " output channels padded to " +
                              std::to_string(padded) + " zero filters, then sliced back");
    nodes.push_back(std::move(wide));
    nodes.push_back(std::move(slice));
  }
  graph.nodes = std::move(nodes);
  eliminate_dead_nodes(graph, report);  // drops the unpadded weights from the initializers when unused
}

}  // namespace normrt
