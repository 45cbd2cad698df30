#include "engine/device_backend.h"

#include <dlfcn.h>

#include <mutex>

namespace normrt {

namespace {

struct BackendTable {
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<const DeviceBackend>> backends;
  std::map<std::string, std::string> load_errors;  // a library that failed once fails the same way again
};

BackendTable& table() {
  static BackendTable* t = new BackendTable;  // never destroyed: backends may be used from static destructors
  return *t;
}

// The directory libnormrt.so was loaded from, where its backend libraries sit beside it.
std::string library_directory() {
  Dl_info info{};
  if (!dladdr(reinterpret_cast<void*>(&device_backend), &info) || !info.dli_fname) return "";
  std::string path = info.dli_fname;
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

bool built_with(const std::string& device) {
#ifdef NORMRT_CUDA_BACKEND_BUILT
  if (device == "cuda") return true;
#endif
  return device == "cpu";
}

Error unavailable(const std::string& message) { return Error(ErrorCode::kDeviceUnavailable, message); }

// Loads the library (without the table's lock); returns the error message, or "" when it loaded.
std::string load_library(const std::string& device, const std::string& path) {
  // RTLD_GLOBAL: the backend's kernels register into registries its own symbols define, and tests that link it
  // directly must see the same ones.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!handle) {
    const char* why = dlerror();
    return "device '" + device + "' is unavailable: its backend library '" + path + "' failed to load: " + (why ? why : "unknown error") +
           ". Its GPU libraries (the CUDA runtime, cuBLAS, cuDNN) must be installed and on the library path "
           "(LD_LIBRARY_PATH); build for --device cpu otherwise";
  }
  return "";  // its static initializer has registered the backend
}

}  // namespace

void register_device_backend(std::shared_ptr<const DeviceBackend> backend) {
  // Runs from a library's static initializer inside dlopen, which device_backend() calls without this lock.
  std::lock_guard<std::mutex> lock(table().mutex);
  table().backends.emplace(backend->device(), std::move(backend));
}

void load_device_backend_library(const std::string& device, const std::string& path) {
  std::string error = load_library(device, path);
  if (!error.empty()) throw unavailable(error);
  std::lock_guard<std::mutex> lock(table().mutex);
  if (!table().backends.count(device))
    throw unavailable("the library '" + path + "' loaded but registered no " + device + " backend");
}

const DeviceBackend& device_backend(const std::string& device) {
  static std::mutex load_mutex;  // one thread loads a library at a time; the table lock is free meanwhile
  std::lock_guard<std::mutex> loading(load_mutex);
  {
    std::lock_guard<std::mutex> lock(table().mutex);
    auto it = table().backends.find(device);
    if (it != table().backends.end()) {
      it->second->require_device();
      return *it->second;
    }
    auto failed = table().load_errors.find(device);
    if (failed != table().load_errors.end()) throw unavailable(failed->second);
  }
  if (device != "cuda") {
    std::string known;
    for (const auto& d : known_devices()) known += (known.empty() ? "use --device " : " or --device ") + d;
    throw Error(ErrorCode::kInvalidArgument, "device '" + device + "' is unknown; " + known);
  }
  if (!built_with(device))
    throw unavailable("device 'cuda' is unavailable: this normrt was built without the CUDA backend (NORMRT_CUDA=OFF, or no CUDA toolkit was "
                      "found); rebuild normrt with -DNORMRT_CUDA=ON and the CUDA toolkit, or use --device cpu");
  std::string path = library_directory() + "libnormrt_" + device + ".so";
  std::string error = load_library(device, path);
  std::lock_guard<std::mutex> lock(table().mutex);
  if (error.empty() && !table().backends.count(device))
    error = "the library '" + path + "' loaded but registered no " + device + " backend";
  if (!error.empty()) {
    table().load_errors[device] = error;
    throw unavailable(error);
  }
  const DeviceBackend& backend = *table().backends.at(device);
  backend.require_device();
  return backend;
}

std::vector<std::string> known_devices() {
  std::vector<std::string> devices = {"cpu"};
  if (built_with("cuda")) devices.push_back("cuda");
  return devices;
}

}  // namespace normrt
