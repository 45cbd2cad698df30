// One plugin node's op instance: the plugin's object made from the node's attributes (build) or from the
// fields an engine file recorded (load), and the calls into the plugin's shape function and kernels. Every call
// across the C boundary checks the status and what the plugin wrote before normrt uses it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ops/op.h"
#include "plugin/plugin_registry.h"

namespace normrt {

class PluginInstance {
 public:
  // From the node's attributes. The fields are serialized and the instance made again from them, so that an
  // engine that was just built runs exactly like one loaded from its file.
  static std::shared_ptr<const PluginInstance> from_node(const PluginOp& op, const Node& node);
  // From recorded fields; `where` names the node for messages.
  static std::shared_ptr<const PluginInstance> from_fields(const PluginOp& op, const std::string& fields,
                                                           const std::string& where);
  ~PluginInstance();
  PluginInstance(const PluginInstance&) = delete;
  PluginInstance& operator=(const PluginInstance&) = delete;

  const PluginOp& op() const { return *op_; }
  const std::string& fields() const { return fields_; }

  // The plugin's shape function on the context's inputs (symbolic dims keep their names).
  void infer(InferContext& ctx) const;
  // Runs the device's kernel into the context's allocated outputs (host memory: the CPU kernel).
  void run_kernel(const KernelContext& ctx, const std::string& device) const;
  // Runs the device's kernel on tensors the caller describes (device memory for a GPU kernel, outputs already
  // allocated); `stream` becomes args.stream (a cudaStream_t for "cuda"). `where` names the node for messages.
  void run_kernel(const std::string& where, const std::string& device, const std::vector<normrt_tensor>& inputs,
                  const std::vector<normrt_tensor>& outputs, void* stream) const;
  // Shapes from the concrete inputs, allocates the outputs, runs the kernel.
  std::vector<Tensor> run(const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                          const std::string& device) const;

 private:
  PluginInstance(const PluginOp* op, void* handle) : op_(op), handle_(handle) {}
  const PluginOp* op_;
  void* handle_;
  std::string fields_;
};

// The schema functions of plugin ops as the op registry sees them (used while building: shape inference,
// constant folding): each makes an instance from the node's attributes.
void plugin_schema_infer(InferContext& ctx);
void plugin_schema_reference(KernelContext& ctx);

// The device kernel name a device engine records for a plugin node that runs on the device with the plugin's
// own kernel ("plugin:cuda"; `normrt inspect` prints it). Plugin nodes without one run on the CPU.
inline std::string plugin_device_kernel(const std::string& device) { return "plugin:" + device; }

// Plugin fields larger than this are refused (a hostile engine file must not make us allocate more).
constexpr size_t kMaxPluginFieldBytes = size_t{64} << 20;

}  // namespace normrt
