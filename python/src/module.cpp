// normrt._normrt: the Python binding of normrt's public C++ API (pybind11). normrt/__init__.py is the
// documented surface; this module does the work: numpy and DLPack tensors in without copies where the memory
// allows, numpy arrays out that wrap the result buffers, the GIL released while an engine runs, and
// normrt::Error turned into the normrt.Error subclass of its code with the same message as the CLI prints.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <mutex>

#include "dlpack_abi.h"
#include "normrt/normrt.h"

namespace py = pybind11;

namespace normrt::python {

namespace {

// ---- errors ----

// The Python class for an error code, from normrt/_errors.py.
py::object error_class(ErrorCode code) {
  py::module_ errors = py::module_::import("normrt._errors");
  py::object cls = errors.attr("_BY_CODE").attr("get")(static_cast<int>(code));
  return cls.is_none() ? py::object(errors.attr("Error")) : cls;
}

// Messages quote file names and model strings, which need not be UTF-8.
py::object text(const std::string& s) {
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace");
  if (!o) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(o);
}

[[noreturn]] void raise(ErrorCode code, const std::string& message) { throw Error(code, message); }

// ---- dtypes ----

py::dtype numpy_dtype(DataType dtype, const std::string& what) {
  switch (dtype) {
    case DataType::kFloat32: return py::dtype("float32");
    case DataType::kFloat64: return py::dtype("float64");
    case DataType::kFloat16: return py::dtype("float16");
    case DataType::kInt8: return py::dtype("int8");
    case DataType::kInt16: return py::dtype("int16");
    case DataType::kInt32: return py::dtype("int32");
    case DataType::kInt64: return py::dtype("int64");
    case DataType::kUInt8: return py::dtype("uint8");
    case DataType::kUInt16: return py::dtype("uint16");
    case DataType::kUInt32: return py::dtype("uint32");
    case DataType::kUInt64: return py::dtype("uint64");
    case DataType::kBool: return py::dtype("bool");
    default: break;
  }
  raise(ErrorCode::kInvalidArgument, what + " is " + dtype_name(dtype) + ", which numpy has no type for");
}

// The normrt type of a numpy dtype, or kUndefined.
DataType from_numpy(const py::dtype& dt) {
  const char kind = dt.kind();
  const size_t size = static_cast<size_t>(dt.itemsize());
  switch (kind) {
    case 'f':
      return size == 4   ? DataType::kFloat32
             : size == 8 ? DataType::kFloat64
             : size == 2 ? DataType::kFloat16
                         : DataType::kUndefined;
    case 'i':
      return size == 1   ? DataType::kInt8
             : size == 2 ? DataType::kInt16
             : size == 4 ? DataType::kInt32
             : size == 8 ? DataType::kInt64
                         : DataType::kUndefined;
    case 'u':
      return size == 1   ? DataType::kUInt8
             : size == 2 ? DataType::kUInt16
             : size == 4 ? DataType::kUInt32
             : size == 8 ? DataType::kUInt64
                         : DataType::kUndefined;
    case 'b': return size == 1 ? DataType::kBool : DataType::kUndefined;
    default: return DataType::kUndefined;
  }
}

DataType from_dlpack(const dlpack::DataType& dt) {
  if (dt.lanes != 1) return DataType::kUndefined;
  switch (dt.code) {
    case dlpack::kFloat:
      return dt.bits == 32   ? DataType::kFloat32
             : dt.bits == 64 ? DataType::kFloat64
             : dt.bits == 16 ? DataType::kFloat16
                             : DataType::kUndefined;
    case dlpack::kBfloat: return dt.bits == 16 ? DataType::kBFloat16 : DataType::kUndefined;
    case dlpack::kInt:
      return dt.bits == 8    ? DataType::kInt8
             : dt.bits == 16 ? DataType::kInt16
             : dt.bits == 32 ? DataType::kInt32
             : dt.bits == 64 ? DataType::kInt64
                             : DataType::kUndefined;
    case dlpack::kUInt:
      return dt.bits == 8    ? DataType::kUInt8
             : dt.bits == 16 ? DataType::kUInt16
             : dt.bits == 32 ? DataType::kUInt32
             : dt.bits == 64 ? DataType::kUInt64
                             : DataType::kUndefined;
    case dlpack::kBool: return dt.bits == 8 ? DataType::kBool : DataType::kUndefined;
    default: return DataType::kUndefined;
  }
}

std::string device_name(int32_t type, int32_t id) {
  switch (type) {
    case dlpack::kCUDA: return "cuda:" + std::to_string(id);
    case dlpack::kCUDAManaged: return "cuda:" + std::to_string(id) + " (managed memory)";
    case dlpack::kROCM: return "rocm:" + std::to_string(id);
    case dlpack::kMetal: return "mps:" + std::to_string(id);
    default: return "device type " + std::to_string(type) + ":" + std::to_string(id);
  }
}

// ---- tensors in ----

// What an input tensor borrows from Python until the run is over.
struct Borrowed {
  std::vector<py::object> objects;              // arrays whose memory the tensors point into
  std::vector<dlpack::ManagedTensor*> managed;  // DLPack tensors taken over; their deleters run in release()
  void release() {
    for (auto* m : managed)
      if (m->deleter) m->deleter(m);
    managed.clear();
    objects.clear();
  }
  ~Borrowed() { release(); }
};

// A dense row-major copy of a strided tensor (the only copy on the way in, for non-contiguous memory).
Tensor strided_copy(DataType dtype, const Dims& dims, const char* base, const std::vector<int64_t>& byte_strides) {
  Tensor out(dtype, dims);
  const size_t item = dtype_size(dtype);
  char* dst = static_cast<char*>(out.raw());
  std::vector<int64_t> index(dims.size(), 0);
  for (int64_t n = 0; n < out.numel(); ++n) {
    int64_t offset = 0;
    for (size_t d = 0; d < dims.size(); ++d) offset += index[d] * byte_strides[d];
    std::memcpy(dst + static_cast<size_t>(n) * item, base + offset, item);
    for (size_t d = dims.size(); d-- > 0;) {
      if (++index[d] < dims[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

bool compact(const Dims& dims, const std::vector<int64_t>& byte_strides, size_t item) {
  int64_t expected = static_cast<int64_t>(item);
  for (size_t d = dims.size(); d-- > 0;) {
    if (dims[d] != 1 && byte_strides[d] != expected) return false;
    expected *= dims[d];
  }
  return true;
}

Tensor from_dlpack_object(const std::string& name, const py::object& obj, Borrowed& borrowed) {
  py::tuple device = obj.attr("__dlpack_device__")();
  const int32_t type = device[0].cast<int32_t>(), id = device[1].cast<int32_t>();
  if (type != dlpack::kCPU && type != dlpack::kCUDAHost)
    raise(ErrorCode::kInvalidArgument, "input '" + name + "' is a tensor on " + device_name(type, id) +
                                           ", which normrt cannot read; move it to the CPU first (PyTorch: x.cpu())");
  py::capsule capsule = obj.attr("__dlpack__")();
  if (std::strcmp(capsule.name(), "dltensor") != 0)
    raise(ErrorCode::kInvalidArgument, "input '" + name + "': __dlpack__() returned a capsule named '" +
                                           std::string(capsule.name()) + "', not 'dltensor' (already consumed?)");
  auto* managed = static_cast<dlpack::ManagedTensor*>(capsule.get_pointer());
  // Ours now: renamed so that the capsule's destructor leaves it alone, released after the run.
  if (PyCapsule_SetName(capsule.ptr(), "used_dltensor") != 0) throw py::error_already_set();
  borrowed.managed.push_back(managed);
  const dlpack::Tensor& t = managed->dl_tensor;
  DataType dtype = from_dlpack(t.dtype);
  if (dtype == DataType::kUndefined)
    raise(ErrorCode::kInvalidArgument, "input '" + name + "' has DLPack type code " + std::to_string(t.dtype.code) +
                                           ", " + std::to_string(t.dtype.bits) + " bits, " +
                                           std::to_string(t.dtype.lanes) + " lanes, which normrt has no type for");
  if (t.ndim < 0 || t.ndim > 64) raise(ErrorCode::kInvalidArgument, "input '" + name + "' has an invalid rank");
  Dims dims(t.shape, t.shape + t.ndim);
  const size_t item = dtype_size(dtype);
  std::vector<int64_t> byte_strides(dims.size());
  int64_t running = static_cast<int64_t>(item);
  for (size_t d = dims.size(); d-- > 0;) {
    byte_strides[d] = t.strides ? t.strides[d] * static_cast<int64_t>(item) : running;
    running *= dims[d];
  }
  char* data = static_cast<char*>(t.data) + t.byte_offset;
  if (compact(dims, byte_strides, item) && reinterpret_cast<uintptr_t>(data) % item == 0)
    return Tensor::wrap(dtype, dims, data);
  return strided_copy(dtype, dims, data, byte_strides);
}

Tensor to_tensor(const std::string& name, const py::handle& value, Borrowed& borrowed) {
  py::object obj = py::reinterpret_borrow<py::object>(value);
  if (!py::isinstance<py::array>(obj) && py::hasattr(obj, "__dlpack__") && py::hasattr(obj, "__dlpack_device__"))
    return from_dlpack_object(name, obj, borrowed);
  // Anything else numpy can view (arrays, scalars, lists). Lists become float64/int64 arrays, which the
  // runtime refuses for a float32 input with a message that says to convert.
  py::array array = py::array::ensure(obj);
  if (!array) {
    PyErr_Clear();
    raise(ErrorCode::kInvalidArgument, "input '" + name + "' is a " +
                                           std::string(py::str(obj.get_type().attr("__name__"))) +
                                           ", not an array; pass a numpy array or a CPU tensor with __dlpack__");
  }
  py::dtype dt = array.dtype();
  DataType dtype = from_numpy(dt);
  if (dtype == DataType::kUndefined)
    raise(ErrorCode::kInvalidArgument,
          "input '" + name + "' has numpy dtype " + std::string(py::str(dt)) + ", which normrt has no type for");
  if (dt.attr("byteorder").cast<std::string>() == ">")
    raise(ErrorCode::kInvalidArgument,
          "input '" + name + "' is big-endian; convert it with x.astype(x.dtype.newbyteorder('='))");
  const size_t item = dtype_size(dtype);
  Dims dims(array.shape(), array.shape() + array.ndim());
  const bool aligned = reinterpret_cast<uintptr_t>(array.data()) % item == 0;
  if (!(array.flags() & py::array::c_style) || !aligned) {
    std::vector<int64_t> strides(array.strides(), array.strides() + array.ndim());
    return strided_copy(dtype, dims, static_cast<const char*>(array.data()), strides);
  }
  borrowed.objects.push_back(array);
  return Tensor::wrap(dtype, dims, const_cast<void*>(array.data()));  // read, never written
}

// ---- tensors out ----

py::array to_numpy(const std::string& name, Tensor tensor) {
  py::dtype dtype = numpy_dtype(tensor.dtype(), "output '" + name + "'");
  std::vector<py::ssize_t> shape(tensor.dims().begin(), tensor.dims().end());
  auto* owned = new Tensor(std::move(tensor));
  py::capsule owner(owned, [](void* p) { delete static_cast<Tensor*>(p); });
  if (owned->numel() == 0) return py::array(dtype, shape);
  return py::array(dtype, shape, owned->raw(), owner);  // wraps the result buffer; the capsule frees it
}

// ---- GPU tensors (cuda engines) ----

// The DLPack device of an object that has one (not numpy arrays, which are always host memory).
bool dlpack_device_of(const py::handle& value, int32_t* type, int32_t* id) {
  if (py::isinstance<py::array>(value) || !py::hasattr(value, "__dlpack__") || !py::hasattr(value, "__dlpack_device__"))
    return false;
  py::tuple device = value.attr("__dlpack_device__")();
  *type = device[0].cast<int32_t>();
  *id = device[1].cast<int32_t>();
  return true;
}

bool on_gpu(const py::handle& value, std::string* where) {
  int32_t type = 0, id = 0;
  if (!dlpack_device_of(value, &type, &id) || type != dlpack::kCUDA) return false;
  *where = device_name(type, id);
  return true;
}

dlpack::DataType to_dlpack(DataType dtype, const std::string& what) {
  switch (dtype) {
    case DataType::kFloat32: return {dlpack::kFloat, 32, 1};
    case DataType::kFloat64: return {dlpack::kFloat, 64, 1};
    case DataType::kFloat16: return {dlpack::kFloat, 16, 1};
    case DataType::kBFloat16: return {dlpack::kBfloat, 16, 1};
    case DataType::kInt8: return {dlpack::kInt, 8, 1};
    case DataType::kInt16: return {dlpack::kInt, 16, 1};
    case DataType::kInt32: return {dlpack::kInt, 32, 1};
    case DataType::kInt64: return {dlpack::kInt, 64, 1};
    case DataType::kUInt8: return {dlpack::kUInt, 8, 1};
    case DataType::kUInt16: return {dlpack::kUInt, 16, 1};
    case DataType::kUInt32: return {dlpack::kUInt, 32, 1};
    case DataType::kUInt64: return {dlpack::kUInt, 64, 1};
    case DataType::kBool: return {dlpack::kBool, 8, 1};
    default: break;
  }
  raise(ErrorCode::kInvalidArgument, what + " is " + dtype_name(dtype) + ", which DLPack has no type for");
}

// The stream a GPU run is ordered on: the caller's `stream` (an int, a cudaStream_t), else PyTorch's current
// stream on the inputs' device when PyTorch is imported, else the default stream (0).
uintptr_t resolve_stream(const py::object& stream, int32_t device) {
  if (!stream.is_none()) {
    if (py::hasattr(stream, "cuda_stream")) return stream.attr("cuda_stream").cast<uintptr_t>();  // torch.cuda.Stream
    return stream.cast<uintptr_t>();
  }
  py::dict modules = py::module_::import("sys").attr("modules");
  if (!modules.contains("torch")) return 0;
  py::object torch = modules["torch"];
  return torch.attr("cuda").attr("current_stream")(device).attr("cuda_stream").cast<uintptr_t>();
}

// A GPU input read through DLPack: the producer orders its work before `stream` (DLPack's __dlpack__(stream=)
// contract; 1 names the legacy default stream), no copy. Only dense row-major tensors are taken.
GpuTensor gpu_tensor_from_dlpack(const std::string& name, const py::object& obj, uintptr_t stream,
                                 Borrowed& borrowed) {
  py::object result;
  try {
    result = obj.attr("__dlpack__")(py::arg("stream") = stream ? stream : uintptr_t{1});
  } catch (py::error_already_set& e) {
    if (!e.matches(PyExc_TypeError)) throw;
    result = obj.attr("__dlpack__")();  // a producer without the stream argument
  }
  py::capsule capsule = py::reinterpret_borrow<py::capsule>(result);
  if (std::strcmp(capsule.name(), "dltensor") != 0)
    raise(ErrorCode::kInvalidArgument, "input '" + name + "': __dlpack__() returned a capsule named '" +
                                           std::string(capsule.name()) + "', not 'dltensor' (already consumed?)");
  auto* managed = static_cast<dlpack::ManagedTensor*>(capsule.get_pointer());
  if (PyCapsule_SetName(capsule.ptr(), "used_dltensor") != 0) throw py::error_already_set();
  borrowed.managed.push_back(managed);
  const dlpack::Tensor& t = managed->dl_tensor;
  DataType dtype = from_dlpack(t.dtype);
  if (dtype == DataType::kUndefined)
    raise(ErrorCode::kInvalidArgument, "input '" + name + "' has DLPack type code " + std::to_string(t.dtype.code) +
                                           ", " + std::to_string(t.dtype.bits) + " bits, " +
                                           std::to_string(t.dtype.lanes) + " lanes, which normrt has no type for");
  if (t.ndim < 0 || t.ndim > 64) raise(ErrorCode::kInvalidArgument, "input '" + name + "' has an invalid rank");
  Dims dims(t.shape, t.shape + t.ndim);
  const size_t item = dtype_size(dtype);
  std::vector<int64_t> byte_strides(dims.size());
  int64_t running = static_cast<int64_t>(item);
  for (size_t d = dims.size(); d-- > 0;) {
    byte_strides[d] = t.strides ? t.strides[d] * static_cast<int64_t>(item) : running;
    running *= dims[d];
  }
  char* data = static_cast<char*>(t.data) + t.byte_offset;
  if (!compact(dims, byte_strides, item))
    raise(ErrorCode::kInvalidArgument, "input '" + name + "' is a GPU tensor that is not contiguous (strides " +
                                           dims_to_string(Dims(byte_strides.begin(), byte_strides.end())) +
                                           " bytes for shape " + dims_to_string(dims) +
                                           "); normrt reads GPU memory in place: pass x.contiguous()");
  if (reinterpret_cast<uintptr_t>(data) % item != 0)
    raise(ErrorCode::kInvalidArgument,
          "input '" + name + "' is a GPU tensor whose data is not aligned to its element size; pass x.clone()");
  GpuTensor g;
  g.dtype = dtype;
  g.dims = std::move(dims);
  g.data = data;
  g.device = t.device.device_id;
  return g;
}

// An output in GPU memory: speaks DLPack (torch.from_dlpack(out) takes it without a copy). Each __dlpack__()
// capsule shares ownership of the memory, so it outlives this object if the consumer keeps it.
class GpuArray {
 public:
  explicit GpuArray(GpuTensor tensor) : tensor_(std::move(tensor)) {}

  py::capsule dlpack(const py::object& /*stream*/, const py::object& /*max_version*/, const py::object& dl_device,
                     const py::object& copy) const {
    if (!copy.is_none() && copy.cast<bool>())
      raise(ErrorCode::kInvalidArgument, "normrt GPU outputs are exported without copies (copy=True is not supported)");
    if (!dl_device.is_none()) {
      py::tuple d = dl_device;
      if (d[0].cast<int32_t>() != dlpack::kCUDA || d[1].cast<int>() != tensor_.device)
        raise(ErrorCode::kInvalidArgument, "normrt GPU outputs live on cuda:" + std::to_string(tensor_.device) +
                                               " and are exported there only");
    }
    struct Holder {
      dlpack::ManagedTensor managed;
      GpuTensor tensor;
      std::vector<int64_t> shape;
    };
    auto* holder = new Holder{{}, tensor_, Dims(tensor_.dims.begin(), tensor_.dims.end())};
    dlpack::Tensor& t = holder->managed.dl_tensor;
    t.data = holder->tensor.data;
    t.device = {dlpack::kCUDA, holder->tensor.device};
    t.ndim = static_cast<int32_t>(holder->shape.size());
    t.dtype = to_dlpack(holder->tensor.dtype, "this output");
    t.shape = holder->shape.data();
    t.strides = nullptr;  // dense row-major
    t.byte_offset = 0;
    holder->managed.manager_ctx = holder;
    holder->managed.deleter = [](dlpack::ManagedTensor* self) { delete static_cast<Holder*>(self->manager_ctx); };
    // The consumer renames the capsule once it takes the tensor; an unconsumed one is freed here.
    PyObject* capsule = PyCapsule_New(&holder->managed, "dltensor", [](PyObject* c) {
      if (!PyCapsule_IsValid(c, "dltensor")) return;
      auto* m = static_cast<dlpack::ManagedTensor*>(PyCapsule_GetPointer(c, "dltensor"));
      if (m && m->deleter) m->deleter(m);
    });
    if (!capsule) {
      delete holder;
      throw py::error_already_set();
    }
    return py::reinterpret_steal<py::capsule>(capsule);
  }
  py::tuple dlpack_device() const { return py::make_tuple(static_cast<int>(dlpack::kCUDA), tensor_.device); }
  py::tuple shape() const { return py::tuple(py::cast(tensor_.dims)); }
  std::string dtype() const { return dtype_name(tensor_.dtype); }
  int device() const { return tensor_.device; }
  uintptr_t data_ptr() const { return reinterpret_cast<uintptr_t>(tensor_.data); }
  std::string repr() const {
    return "normrt.GpuArray(shape=" + dims_to_string(tensor_.dims) + ", dtype='" + dtype() + "', device='cuda:" +
           std::to_string(tensor_.device) + "')";
  }

 private:
  GpuTensor tensor_;
};

// ---- engines ----

py::object dim_value(const DimInfo& d) {
  if (d.known()) return py::int_(d.size);
  if (!d.symbol.empty()) return py::str(d.symbol);
  return py::none();
}

// An engine and a pool of execution contexts, so that Engine.run is safe from several threads at once and
// each context keeps its caches between runs.
class EngineHandle {
 public:
  explicit EngineHandle(Engine engine) : engine_(std::move(engine)) {}
  const Engine& engine() const { return engine_; }

  py::dict run(const py::dict& inputs, const py::object& stream) {
    std::unique_ptr<ExecutionContext> context;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!idle_.empty()) {
        context = std::move(idle_.back());
        idle_.pop_back();
      }
    }
    if (!context) context = std::make_unique<ExecutionContext>(engine_.create_execution_context());
    py::dict result = run_with(*context, engine_.device(), inputs, stream);
    std::lock_guard<std::mutex> lock(mutex_);
    idle_.push_back(std::move(context));
    return result;
  }

  static py::dict run_with(ExecutionContext& context, const std::string& device, const py::dict& inputs,
                           const py::object& stream) {
    // Host inputs (numpy, CPU DLPack) or GPU inputs (DLPack on cuda), never both.
    std::string first_host, first_gpu, gpu_where;
    for (const auto& [key, value] : inputs) {
      if (!py::isinstance<py::str>(key))
        raise(ErrorCode::kInvalidArgument,
              "input names must be strings; got a " + std::string(py::str(key.get_type().attr("__name__"))));
      std::string where;
      if (on_gpu(value, &where)) {
        if (first_gpu.empty()) {
          first_gpu = key.cast<std::string>();
          gpu_where = where;
        }
      } else if (first_host.empty()) {
        first_host = key.cast<std::string>();
      }
    }
    if (!first_gpu.empty()) {
      if (!first_host.empty())
        raise(ErrorCode::kInvalidArgument,
              "input '" + first_host + "' is in host memory and input '" + first_gpu + "' is a tensor on " +
                  gpu_where + "; pass all inputs on the GPU (PyTorch: x.cuda()) or all on the host (x.cpu())");
      if (device != "cuda")
        raise(ErrorCode::kInvalidArgument,
              "input '" + first_gpu + "' is a tensor on " + gpu_where + " and this engine runs on device '" + device +
                  "': move the inputs to the host (PyTorch: x.cpu()) or build the engine with device=\"cuda\" "
                  "(normrt's CUDA backend)");
      return run_on_gpu(context, inputs, stream);
    }
    if (!stream.is_none())
      raise(ErrorCode::kInvalidArgument, "stream= is for GPU tensors; these inputs are in host memory");
    Borrowed borrowed;
    std::map<std::string, Tensor> tensors;
    for (const auto& [key, value] : inputs) {
      std::string name = key.cast<std::string>();
      tensors[name] = to_tensor(name, value, borrowed);
    }
    NamedTensors outputs;
    {
      py::gil_scoped_release release;
      outputs = context.run(tensors);
    }
    tensors.clear();
    borrowed.release();
    py::dict result;  // insertion-ordered: the model's output order
    for (auto& [name, tensor] : outputs) result[py::str(name)] = to_numpy(name, std::move(tensor));
    return result;
  }

  // GPU tensors in, GpuArrays out, ordered on the stream (resolve_stream): the outputs are ready for work that
  // is queued on that stream after this call.
  static py::dict run_on_gpu(ExecutionContext& context, const py::dict& inputs, const py::object& stream) {
    int32_t type = 0, ordinal = 0;
    for (const auto& item : inputs) {
      dlpack_device_of(item.second, &type, &ordinal);
      break;
    }
    const uintptr_t handle = resolve_stream(stream, ordinal);
    Borrowed borrowed;
    std::map<std::string, GpuTensor> tensors;
    for (const auto& [key, value] : inputs) {
      std::string name = key.cast<std::string>();
      tensors[name] = gpu_tensor_from_dlpack(name, py::reinterpret_borrow<py::object>(value), handle, borrowed);
    }
    NamedGpuTensors outputs;
    {
      py::gil_scoped_release release;
      outputs = context.run_on_device(tensors, reinterpret_cast<void*>(handle));
    }
    // The run read the inputs on (or before the end of) `handle`; memory freed now is reused by the producer's
    // stream-ordered allocator only after that.
    tensors.clear();
    borrowed.release();
    py::dict result;
    for (auto& [name, tensor] : outputs) result[py::str(name)] = GpuArray(std::move(tensor));
    return result;
  }

 private:
  Engine engine_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<ExecutionContext>> idle_;
};

struct ContextHandle {
  std::shared_ptr<EngineHandle> engine;  // keeps the engine alive
  ExecutionContext context;
  std::mutex busy;  // one run at a time on a context
  py::dict run(const py::dict& inputs, const py::object& stream) {
    std::unique_lock<std::mutex> lock(busy, std::try_to_lock);
    if (!lock.owns_lock())
      raise(ErrorCode::kInvalidArgument,
            "this Context is running in another thread; a context runs one call at "
            "a time: create one per thread (engine.create_context()) or use engine.run");
    return EngineHandle::run_with(context, engine->engine().device(), inputs, stream);
  }
};

Precision precision_from(const std::string& name) {
  if (name == "float32") return Precision::kFloat32;
  if (name == "float16") return Precision::kFloat16;
  if (name == "bfloat16") return Precision::kBFloat16;
  if (name == "tf32") return Precision::kTF32;
  raise(ErrorCode::kInvalidArgument,
        "precision '" + name + "' is unknown; use float32 (float16, bfloat16 and tf32 need the CUDA backend)");
}

using Range = std::tuple<Dims, Dims, Dims>;

std::shared_ptr<EngineHandle> build(const py::object& model, const std::string& device,
                                    const std::vector<std::map<std::string, Range>>& profiles,
                                    const std::string& precision, const std::string& timing_cache) {
  Precision p = precision_from(precision);
  std::unique_ptr<Builder> builder;
  if (py::isinstance<py::bytes>(model)) {
    std::string bytes = model.cast<std::string>();
    builder = std::make_unique<Builder>(Builder::from_bytes(bytes.data(), bytes.size()));
  } else {
    std::string path = py::str(py::module_::import("os").attr("fspath")(model));
    builder = std::make_unique<Builder>(Builder::from_file(path));
  }
  builder->set_device(device).set_precision(p).set_timing_cache(timing_cache);
  for (const auto& profile : profiles) {
    std::map<std::string, ProfileRange> ranges;
    for (const auto& [name, range] : profile)
      ranges[name] = ProfileRange{std::get<0>(range), std::get<1>(range), std::get<2>(range)};
    builder->add_profile(ranges);
  }
  Engine engine = [&] {
    py::gil_scoped_release release;
    return builder->build();
  }();
  return std::make_shared<EngineHandle>(std::move(engine));
}

std::string info_repr(const TensorInfo& t) {
  return "TensorInfo(name='" + t.name + "', dtype='" + dtype_name(t.dtype) + "', shape=" + t.shape_string() + ")";
}

}  // namespace
}  // namespace normrt::python

PYBIND11_MODULE(_normrt, m) {
  using namespace normrt;
  using namespace normrt::python;
  m.doc() = "normrt's compiled core; use the normrt package (normrt/__init__.py)";

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      py::object cls = error_class(e.code());
      py::object instance = cls(text(e.what()));
      PyErr_SetObject(cls.ptr(), instance.ptr());
    }
  });

  py::class_<TensorInfo>(m, "TensorInfo", "An engine's (or model's) input or output")
      .def_readonly("name", &TensorInfo::name)
      .def_property_readonly("dtype", [](const TensorInfo& t) { return std::string(dtype_name(t.dtype)); })
      .def_property_readonly(
          "shape",
          [](const TensorInfo& t) -> py::object {
            if (!t.has_rank) return py::none();
            py::list dims;
            for (const auto& d : t.dims) dims.append(dim_value(d));
            return dims;
          },
          "one entry per axis: an int, the name of a dynamic dim, or None; None when the rank is unknown")
      .def_property_readonly(
          "profiles",
          [](const TensorInfo& t) {
            py::list out;
            for (const auto& r : t.profiles)
              out.append(
                  py::make_tuple(py::tuple(py::cast(r.min)), py::tuple(py::cast(r.opt)), py::tuple(py::cast(r.max))));
            return out;
          },
          "inputs of an engine: (min, opt, max) shapes per profile")
      .def("__repr__", &info_repr);

  py::class_<ContextHandle>(m, "Context", "One execution context: runs one call at a time, keeps its caches")
      .def("run", &ContextHandle::run, py::arg("inputs"), py::arg("stream") = py::none());

  py::class_<GpuArray>(m, "GpuArray",
                       "An output of a cuda engine in GPU memory; torch.from_dlpack(out) takes it without a copy")
      .def("__dlpack__", &GpuArray::dlpack, py::kw_only(), py::arg("stream") = py::none(),
           py::arg("max_version") = py::none(), py::arg("dl_device") = py::none(), py::arg("copy") = py::none())
      .def("__dlpack_device__", &GpuArray::dlpack_device)
      .def_property_readonly("shape", &GpuArray::shape)
      .def_property_readonly("dtype", &GpuArray::dtype)
      .def_property_readonly("device", &GpuArray::device, "the CUDA device ordinal")
      .def_property_readonly("data_ptr", &GpuArray::data_ptr)
      .def("__repr__", &GpuArray::repr);

  py::class_<EngineHandle, std::shared_ptr<EngineHandle>>(m, "Engine", "A built engine (normrt.build, normrt.load)")
      .def_property_readonly("inputs", [](const EngineHandle& e) { return e.engine().inputs(); })
      .def_property_readonly("outputs", [](const EngineHandle& e) { return e.engine().outputs(); })
      .def_property_readonly("device", [](const EngineHandle& e) { return e.engine().device(); })
      .def_property_readonly("num_profiles", [](const EngineHandle& e) { return e.engine().num_profiles(); })
      .def_property_readonly("plugin_ops",
                             [](const EngineHandle& e) {
                               py::list out;
                               for (const auto& op : e.engine().plugin_ops())
                                 out.append(py::make_tuple(op.domain, op.name, op.version, op.nodes));
                               return out;
                             })
      .def("save",
           [](const EngineHandle& e, const py::object& path) {
             e.engine().save(py::str(py::module_::import("os").attr("fspath")(path)));
           })
      .def("serialize", [](const EngineHandle& e) { return py::bytes(e.engine().serialize()); })
      .def("run", &EngineHandle::run, py::arg("inputs"), py::arg("stream") = py::none(),
           "Runs with {name: array}. Host inputs (numpy, CPU DLPack) give numpy outputs; GPU inputs (DLPack on "
           "cuda, e.g. torch.cuda tensors, contiguous) give GpuArray outputs on the device, ordered on `stream` "
           "(a torch.cuda.Stream or a cudaStream_t as int; default: PyTorch's current stream, or the default "
           "stream)")
      .def("create_context", [](const std::shared_ptr<EngineHandle>& e) {
        return std::unique_ptr<ContextHandle>(new ContextHandle{e, e->engine().create_execution_context(), {}});
      });

  m.def("_build", &build, py::arg("model"), py::arg("device"), py::arg("profiles"), py::arg("precision"),
        py::arg("timing_cache"));
  m.def("load", [](const py::object& path) {
    std::string p = py::str(py::module_::import("os").attr("fspath")(path));
    return std::make_shared<EngineHandle>(Engine::load(p));
  });
  m.def("deserialize", [](const py::bytes& data) {
    std::string bytes = data;
    return std::make_shared<EngineHandle>(Engine::load_from_memory(bytes.data(), bytes.size(), "engine bytes"));
  });
  m.def("load_plugin_library",
        [](const py::object& path) { load_plugin_library(py::str(py::module_::import("os").attr("fspath")(path))); });
  m.def("registered_plugin_ops", [] {
    py::list out;
    for (const auto& op : registered_plugin_ops())
      out.append(py::make_tuple(op.domain, op.name, op.version, op.origin));
    return out;
  });
  m.attr("__version__") = version();
}
