/* normrt plugins: custom ops outside ONNX's and normrt's own op sets.
 *
 * A plugin op has a shape function, a kernel per device it supports ("cpu", "cuda"), and fields: what the op
 * keeps from its node's attributes, serialized into the engine file so that a loaded engine needs neither the
 * ONNX model nor the attributes. The boundary between normrt and a plugin is this C interface: plain structs,
 * function pointers and status codes, so that a plugin built with another compiler or standard library works
 * and no C++ exception ever crosses it (a C++ plugin catches everything at the boundary; the C++ layer at the
 * end of this file does that for you).
 *
 * Two ways in:
 *  - a shared library that exports normrt_plugin_get_library() (NORMRT_PLUGIN_DEFINE_LIBRARY below), loaded
 *    by the user with `normrt ... --plugins lib.so`, normrt::load_plugin_library(path) or
 *    normrt.load_plugins(path). An engine file never names a library: it records the ops it uses, and loading
 *    it fails before anything runs when one is not registered.
 *  - code linked into the program, registered at start-up with NORMRT_PLUGIN_REGISTER_OP.
 *
 * Rules the host enforces: an op is identified by (domain, name, version); two registrations of the same
 * triple are an error naming both origins; plugin ops cannot use the ONNX domains or ai.normrt, nor replace a
 * built-in op. A node uses the registered version closest to, and not above, the model's opset for the domain.
 * Loaded libraries stay loaded for the life of the process (engines may still refer to their code).
 */
#ifndef NORMRT_PLUGIN_H_
#define NORMRT_PLUGIN_H_

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change of the structs or function signatures below. */
#define NORMRT_PLUGIN_ABI_VERSION 1u
/* Plugin shapes carry at most this many dimensions (a larger input is refused with a message naming the op). */
#define NORMRT_PLUGIN_MAX_RANK 16
/* The symbol a plugin library exports. */
#define NORMRT_PLUGIN_ENTRY_SYMBOL "normrt_plugin_get_library"

#if defined(_WIN32)
#define NORMRT_PLUGIN_EXPORT __declspec(dllexport)
#else
#define NORMRT_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* Status codes: 0 is success; the others are normrt::ErrorCode's values. */
typedef int32_t normrt_status;
#define NORMRT_OK 0
#define NORMRT_STATUS_INVALID_ARGUMENT 1
#define NORMRT_STATUS_INVALID_MODEL 2
#define NORMRT_STATUS_UNSUPPORTED 3
#define NORMRT_STATUS_SHAPE_ERROR 4
#define NORMRT_STATUS_CORRUPT_FIELDS 5
#define NORMRT_STATUS_IO 6
#define NORMRT_STATUS_INTERNAL 8

/* Where a failing call explains itself. The host prefixes the node and the op, so say what is wrong with the
 * input and what would be right ("input 0 must be float32 but is int64"). */
typedef struct normrt_error {
  char message[1024];
} normrt_error;

/* Data types: the values of ONNX's TensorProto.DataType (1 float32, 6 int32, 7 int64, 9 bool, 10 float16...). */
#define NORMRT_DTYPE_UNDEFINED 0
#define NORMRT_DTYPE_FLOAT32 1
#define NORMRT_DTYPE_INT32 6
#define NORMRT_DTYPE_INT64 7
#define NORMRT_DTYPE_BOOL 9
#define NORMRT_DTYPE_FLOAT16 10

/* One dimension in a shape function. At build time a size may not be known yet (value -1); when the model
 * named it ("batch") the host gives it a nonzero symbol id. Copy the whole struct to say "this output dim is
 * that input dim" and the name survives; set value -1, symbol 0 for a size that is unknown and unnamed. */
typedef struct normrt_dim {
  int64_t value;
  int64_t symbol;
} normrt_dim;

typedef struct normrt_shape {
  int32_t dtype; /* NORMRT_DTYPE_UNDEFINED for an omitted optional input */
  int32_t rank;  /* -1 when not known yet (inputs only; outputs must set a rank) */
  normrt_dim dims[NORMRT_PLUGIN_MAX_RANK];
} normrt_shape;

/* A dense, row-major tensor in the kernel's device memory (host memory for "cpu", device pointers of the current
 * CUDA device for "cuda"). Inputs are read-only; outputs are allocated by the host with the shapes the shape
 * function gave, before the kernel runs. */
typedef struct normrt_tensor {
  int32_t dtype;
  int32_t rank;
  const int64_t* dims;
  void* data; /* NULL for an omitted optional input */
} normrt_tensor;

typedef struct normrt_kernel_args {
  const normrt_tensor* inputs;
  size_t num_inputs;
  const normrt_tensor* outputs;
  size_t num_outputs;
  void* stream; /* "cuda": the cudaStream_t to enqueue the work on; NULL on the CPU */
} normrt_kernel_args;

/* A node attribute as given to create(). Tensor- and graph-valued attributes are not passed. */
#define NORMRT_ATTRIBUTE_FLOAT 1
#define NORMRT_ATTRIBUTE_INT 2
#define NORMRT_ATTRIBUTE_STRING 3
#define NORMRT_ATTRIBUTE_FLOATS 6
#define NORMRT_ATTRIBUTE_INTS 7
#define NORMRT_ATTRIBUTE_STRINGS 8
typedef struct normrt_attribute {
  const char* name;
  int32_t type;
  float f;
  int64_t i;
  const char* s; /* type STRING: s_length bytes, not necessarily NUL-terminated */
  size_t s_length;
  const float* floats;        /* type FLOATS: count values */
  const int64_t* ints;        /* type INTS: count values */
  const char* const* strings; /* type STRINGS: count NUL-terminated strings */
  size_t count;
} normrt_attribute;

/* A kernel for one device.
 *
 * "cpu": runs the op on host memory and returns when done.
 *
 * "cuda": an engine built for device cuda runs the op on the GPU with this kernel (`normrt inspect` shows the
 * node as plugin:cuda); without one the node runs on the CPU, through host copies. The kernel gets device
 * pointers and args->stream, the execution context's cudaStream_t, and must only ENQUEUE work on that stream
 * (kernel launches, cudaMemsetAsync/cudaMemcpyAsync device to device) and return: the runtime records whole
 * networks into CUDA graphs and replays them, so the kernel is called while the stream is being captured and
 * is not called at all on replays. Never synchronize (cudaStreamSynchronize, cudaDeviceSynchronize, a
 * blocking cudaMemcpy), never allocate or free memory (cudaMalloc, cudaFree), never read results on the host,
 * never use another stream or the default stream, and keep no state that changes from call to call (a
 * replay repeats exactly the work of the captured call). Return an error only for what the launch itself
 * reports (cudaGetLastError). Build the library against the same CUDA major version as normrt, with the
 * shared CUDA runtime. */
typedef struct normrt_plugin_kernel {
  const char* device; /* "cpu" or "cuda" */
  /* Runs the op. Called concurrently from several execution contexts with the same instance: treat the
   * instance as read-only. */
  normrt_status (*run)(const void* instance, const normrt_kernel_args* args, normrt_error* error);
} normrt_plugin_kernel;

typedef struct normrt_plugin_op {
  uint32_t struct_size; /* sizeof(normrt_plugin_op) */
  const char* domain;   /* e.g. "com.example" */
  const char* name;     /* the ONNX op_type, e.g. "Clamp01" */
  int32_t version;      /* >= 1; used for models that import the domain at this opset or above */
  void* op_data;        /* passed back to create and deserialize */

  /* Makes an instance from a node's attributes (build time). Unknown or invalid attributes are errors. */
  normrt_status (*create)(void* op_data, const normrt_attribute* attributes, size_t num_attributes, void** instance,
                          normrt_error* error);
  /* Makes an instance from fields that serialize() wrote (engine load). */
  normrt_status (*deserialize)(void* op_data, const void* fields, size_t size, void** instance, normrt_error* error);
  /* The exact number of bytes serialize() writes. */
  size_t (*serialized_size)(const void* instance);
  normrt_status (*serialize)(const void* instance, void* fields, size_t size, normrt_error* error);
  void (*destroy)(void* instance);

  /* Output dtypes and shapes from the input dtypes and shapes; runs at build time (sizes possibly unknown)
   * and before every run (all sizes known). */
  normrt_status (*infer_shapes)(const void* instance, const normrt_shape* inputs, size_t num_inputs,
                                normrt_shape* outputs, size_t num_outputs, normrt_error* error);

  const normrt_plugin_kernel* kernels; /* one per supported device */
  size_t num_kernels;
} normrt_plugin_op;

typedef struct normrt_plugin_library {
  uint32_t abi_version; /* NORMRT_PLUGIN_ABI_VERSION as the library was compiled */
  const char* name;     /* for messages, e.g. "normrt example plugin" */
  const normrt_plugin_op* ops;
  size_t num_ops;
} normrt_plugin_library;

/* The entry point of a plugin library. Returns NULL when it cannot serve a host of that ABI version. */
typedef const normrt_plugin_library* (*normrt_plugin_entry)(uint32_t host_abi_version);

/* Registers an op from code linked into the program (libnormrt exports this). `origin` names the code for
 * messages ("linked into the program (my_ops.cpp)"). On failure the message goes into `error`; with error NULL
 * (what NORMRT_PLUGIN_REGISTER_OP passes: nobody is there to look at a status during start-up) it is kept and
 * raised by every later build, engine load and plugin load, so that the failure cannot go unnoticed. */
normrt_status normrt_register_plugin_op(const normrt_plugin_op* op, const char* origin, normrt_error* error);

/* Writes a message into `error` (truncated to fit) and returns `status`: `return normrt_fail(e, 4, "...");` */
static inline normrt_status normrt_fail(normrt_error* error, normrt_status status, const char* message) {
  if (error) {
    size_t n = strlen(message);
    if (n >= sizeof(error->message)) n = sizeof(error->message) - 1;
    memcpy(error->message, message, n);
    error->message[n] = '\0';
  }
  return status;
}

#ifdef __cplusplus
} /* extern "C" */

/* ---- C++ convenience layer (header-only: a plugin library needs no normrt library to link against) ----
 *
 * Write the op as a class:
 *
 *   struct Clamp01 {
 *     static constexpr const char* kDomain = "com.example";
 *     static constexpr const char* kName = "Clamp01";
 *     static constexpr int32_t kVersion = 1;
 *     static Clamp01 create(const normrt::plugin::Attributes& attributes);
 *     static Clamp01 deserialize(normrt::plugin::FieldReader& fields);
 *     void serialize(normrt::plugin::FieldWriter& fields) const;
 *     void infer_shapes(const normrt::plugin::Shapes& inputs, const normrt::plugin::OutputShapes& outputs) const;
 *     void run_cpu(const normrt_kernel_args& args) const;
 *     void run_cuda(const normrt_kernel_args& args) const;  // optional: the GPU kernel (see normrt_plugin_kernel)
 *   };
 *
 * The op gets a kernel for each of run_cpu and run_cuda it declares (at least one).
 *
 * Throw normrt::plugin::Failure (or any std::exception) to fail; the layer turns it into a status. Then either
 * NORMRT_PLUGIN_DEFINE_LIBRARY("my plugins", Clamp01, OtherOp) in a shared library, or
 * NORMRT_PLUGIN_REGISTER_OP(Clamp01) in code linked into the program. */
#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace normrt {
namespace plugin {

class Failure : public std::runtime_error {
 public:
  Failure(normrt_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  normrt_status status() const { return status_; }

 private:
  normrt_status status_;
};

class Attributes {
 public:
  Attributes(const normrt_attribute* attributes, size_t count) : attributes_(attributes), count_(count) {}
  size_t size() const { return count_; }
  const normrt_attribute& operator[](size_t i) const { return attributes_[i]; }
  const normrt_attribute* find(const char* name) const {
    for (size_t i = 0; i < count_; ++i)
      if (strcmp(attributes_[i].name, name) == 0) return &attributes_[i];
    return nullptr;
  }
  float get_float(const char* name, float fallback) const {
    const normrt_attribute* a = typed(name, NORMRT_ATTRIBUTE_FLOAT, "a float");
    return a ? a->f : fallback;
  }
  int64_t get_int(const char* name, int64_t fallback) const {
    const normrt_attribute* a = typed(name, NORMRT_ATTRIBUTE_INT, "an int");
    return a ? a->i : fallback;
  }
  std::string get_string(const char* name, const std::string& fallback) const {
    const normrt_attribute* a = typed(name, NORMRT_ATTRIBUTE_STRING, "a string");
    return a ? std::string(a->s, a->s_length) : fallback;
  }
  // Fails naming every attribute outside `known` (a misspelled attribute must not be ignored).
  void allow_only(const std::vector<std::string>& known) const {
    for (size_t i = 0; i < count_; ++i) {
      bool ok = false;
      for (const auto& k : known) ok = ok || k == attributes_[i].name;
      if (!ok) {
        std::string list;
        for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
        throw Failure(NORMRT_STATUS_INVALID_MODEL, std::string("unknown attribute '") + attributes_[i].name +
                                                       "'; this op takes " + (list.empty() ? "no attributes" : list));
      }
    }
  }

 private:
  const normrt_attribute* typed(const char* name, int32_t type, const char* what) const {
    const normrt_attribute* a = find(name);
    if (a && a->type != type)
      throw Failure(NORMRT_STATUS_INVALID_MODEL, std::string("attribute '") + name + "' must be " + what);
    return a;
  }
  const normrt_attribute* attributes_;
  size_t count_;
};

// Little-endian field serialization; the reader fails on a short or over-long field blob.
class FieldWriter {
 public:
  void i64(int64_t v) { raw(&v, sizeof v); }
  void f32(float v) { raw(&v, sizeof v); }
  void str(const std::string& s) {
    i64(static_cast<int64_t>(s.size()));
    raw(s.data(), s.size());
  }
  void raw(const void* p, size_t n) { bytes_.append(static_cast<const char*>(p), n); }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

class FieldReader {
 public:
  FieldReader(const void* data, size_t size) : data_(static_cast<const char*>(data)), size_(size) {}
  int64_t i64() { return load<int64_t>(); }
  float f32() { return load<float>(); }
  std::string str() {
    int64_t n = i64();
    if (n < 0 || static_cast<uint64_t>(n) > size_ - pos_) short_read();
    std::string s(data_ + pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }
  // Call when done: leftover bytes mean the fields were written by something else.
  void finish() const {
    if (pos_ != size_)
      throw Failure(NORMRT_STATUS_CORRUPT_FIELDS, "the fields have " + std::to_string(size_ - pos_) + " unread bytes");
  }

 private:
  template <typename T>
  T load() {
    T v;
    if (sizeof(T) > size_ - pos_) short_read();
    memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  [[noreturn]] void short_read() const { throw Failure(NORMRT_STATUS_CORRUPT_FIELDS, "the fields end early"); }
  const char* data_;
  size_t size_;
  size_t pos_ = 0;
};

struct Shapes {
  const normrt_shape* data;
  size_t count;
  size_t size() const { return count; }
  const normrt_shape& operator[](size_t i) const { return data[i]; }
};
struct OutputShapes {
  normrt_shape* data;
  size_t count;
  size_t size() const { return count; }
  normrt_shape& operator[](size_t i) const { return data[i]; }
};

namespace detail {

// Whether Op declares run_cpu / run_cuda (const, taking the kernel args).
template <typename Op, typename = void>
struct HasRunCpu : std::false_type {};
template <typename Op>
struct HasRunCpu<Op, decltype(void(std::declval<const Op&>().run_cpu(std::declval<const normrt_kernel_args&>())))>
    : std::true_type {};
template <typename Op, typename = void>
struct HasRunCuda : std::false_type {};
template <typename Op>
struct HasRunCuda<Op, decltype(void(std::declval<const Op&>().run_cuda(std::declval<const normrt_kernel_args&>())))>
    : std::true_type {};

template <typename Fn>
normrt_status guard(normrt_error* error, Fn&& fn) noexcept {
  try {
    fn();
    return NORMRT_OK;
  } catch (const Failure& f) {
    return normrt_fail(error, f.status(), f.what());
  } catch (const std::bad_alloc&) {
    return normrt_fail(error, NORMRT_STATUS_INTERNAL, "out of memory");
  } catch (const std::exception& e) {
    return normrt_fail(error, NORMRT_STATUS_INTERNAL, e.what());
  } catch (...) {
    return normrt_fail(error, NORMRT_STATUS_INTERNAL, "unknown C++ exception");
  }
}

template <typename Op>
struct Adapter {
  static normrt_status create(void*, const normrt_attribute* attributes, size_t count, void** instance,
                              normrt_error* error) {
    return guard(error, [&] { *instance = new Op(Op::create(Attributes(attributes, count))); });
  }
  static normrt_status deserialize(void*, const void* fields, size_t size, void** instance, normrt_error* error) {
    return guard(error, [&] {
      FieldReader reader(fields, size);
      Op op = Op::deserialize(reader);
      reader.finish();
      *instance = new Op(std::move(op));
    });
  }
  static size_t serialized_size(const void* instance) {
    // Computed by serializing: one code path for the size and the bytes, so they cannot disagree.
    size_t size = 0;
    normrt_error ignored;
    guard(&ignored, [&] {
      FieldWriter writer;
      static_cast<const Op*>(instance)->serialize(writer);
      size = writer.bytes().size();
    });
    return size;
  }
  static normrt_status serialize(const void* instance, void* fields, size_t size, normrt_error* error) {
    return guard(error, [&] {
      FieldWriter writer;
      static_cast<const Op*>(instance)->serialize(writer);
      if (writer.bytes().size() != size)
        throw Failure(NORMRT_STATUS_INTERNAL, "serialize wrote " + std::to_string(writer.bytes().size()) +
                                                  " bytes, serialized_size said " + std::to_string(size));
      if (size) memcpy(fields, writer.bytes().data(), size);
    });
  }
  static void destroy(void* instance) { delete static_cast<Op*>(instance); }
  static normrt_status infer_shapes(const void* instance, const normrt_shape* inputs, size_t num_inputs,
                                    normrt_shape* outputs, size_t num_outputs, normrt_error* error) {
    return guard(error, [&] {
      static_cast<const Op*>(instance)->infer_shapes(Shapes{inputs, num_inputs}, OutputShapes{outputs, num_outputs});
    });
  }
  static normrt_status run_cpu(const void* instance, const normrt_kernel_args* args, normrt_error* error) {
    return guard(error, [&] { static_cast<const Op*>(instance)->run_cpu(*args); });
  }
  static normrt_status run_cuda(const void* instance, const normrt_kernel_args* args, normrt_error* error) {
    return guard(error, [&] { static_cast<const Op*>(instance)->run_cuda(*args); });
  }
  static_assert(HasRunCpu<Op>::value || HasRunCuda<Op>::value,
                "a plugin op declares run_cpu, run_cuda or both (void run_cpu(const normrt_kernel_args&) const)");
  // Only the overload chosen is instantiated, so run_cpu/run_cuda above are only compiled when Op has them.
  static void add_cpu(normrt_plugin_kernel* kernels, size_t* count, std::true_type) {
    kernels[(*count)++] = normrt_plugin_kernel{"cpu", &run_cpu};
  }
  static void add_cpu(normrt_plugin_kernel*, size_t*, std::false_type) {}
  static void add_cuda(normrt_plugin_kernel* kernels, size_t* count, std::true_type) {
    kernels[(*count)++] = normrt_plugin_kernel{"cuda", &run_cuda};
  }
  static void add_cuda(normrt_plugin_kernel*, size_t*, std::false_type) {}
  static normrt_plugin_op describe() {
    normrt_plugin_op op;
    memset(&op, 0, sizeof op);
    op.struct_size = sizeof(normrt_plugin_op);
    op.domain = Op::kDomain;
    op.name = Op::kName;
    op.version = Op::kVersion;
    op.op_data = nullptr;
    op.create = &create;
    op.deserialize = &deserialize;
    op.serialized_size = &serialized_size;
    op.serialize = &serialize;
    op.destroy = &destroy;
    op.infer_shapes = &infer_shapes;
    static normrt_plugin_kernel kernels[2];
    size_t count = 0;
    add_cpu(kernels, &count, HasRunCpu<Op>());
    add_cuda(kernels, &count, HasRunCuda<Op>());
    op.kernels = kernels;
    op.num_kernels = count;
    return op;
  }
};

template <typename... Ops>
const normrt_plugin_library* library(const char* name, uint32_t host_abi_version) {
  if (host_abi_version != NORMRT_PLUGIN_ABI_VERSION) return nullptr;
  static const normrt_plugin_op ops[] = {Adapter<Ops>::describe()...};
  static const normrt_plugin_library lib = {NORMRT_PLUGIN_ABI_VERSION, name, ops, sizeof...(Ops)};
  return &lib;
}

struct StaticRegistration {
  StaticRegistration(const normrt_plugin_op& op, const char* origin) {
    // No error struct: a failure is kept by the registry and raised at the next build or load (an exception
    // during start-up would end the program before main).
    normrt_register_plugin_op(&op, origin, nullptr);
  }
};

}  // namespace detail
}  // namespace plugin
}  // namespace normrt

#define NORMRT_PLUGIN_CONCAT_INNER(a, b) a##b
#define NORMRT_PLUGIN_CONCAT(a, b) NORMRT_PLUGIN_CONCAT_INNER(a, b)

/* In a plugin shared library: NORMRT_PLUGIN_DEFINE_LIBRARY("my plugins", OpA, OpB); */
#define NORMRT_PLUGIN_DEFINE_LIBRARY(library_name, ...)                                                       \
  extern "C" NORMRT_PLUGIN_EXPORT const normrt_plugin_library* normrt_plugin_get_library(uint32_t host_abi) { \
    return ::normrt::plugin::detail::library<__VA_ARGS__>(library_name, host_abi);                            \
  }

/* In code linked into a program that links libnormrt: NORMRT_PLUGIN_REGISTER_OP(Clamp01); */
#define NORMRT_PLUGIN_REGISTER_OP(OpClass)                                                              \
  static const ::normrt::plugin::detail::StaticRegistration NORMRT_PLUGIN_CONCAT(                       \
      normrt_plugin_registration_, __COUNTER__)(::normrt::plugin::detail::Adapter<OpClass>::describe(), \
                                                "linked into the program (" __FILE__ ")")

/* ---- host API (libnormrt) ---- */
#include <cstdint>

namespace normrt {

struct PluginOpInfo {
  std::string domain;
  std::string name;
  int64_t version = 0;
  std::string origin;  // the library's path, or "linked into the program (file.cpp)"
};

// Loads a plugin library (a file path; it is not searched for on the library path) and registers its ops.
// Loading the same library again does nothing. Throws normrt::Error: kIo when the file cannot be loaded (with
// the dynamic loader's message), kInvalidArgument when it is no normrt plugin, has another ABI version, or
// registers an op that another library or the program already registered (naming both). On an error none of
// the library's ops are registered.
void load_plugin_library(const std::string& path);

// Every registered plugin op, sorted by domain, name and version.
std::vector<PluginOpInfo> registered_plugin_ops();

}  // namespace normrt

#endif /* __cplusplus */

#endif /* NORMRT_PLUGIN_H_ */
