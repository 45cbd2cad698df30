// A complete program on normrt's installed C++ API: build an engine for a range of batch sizes, save it, load
// it back, and run it from two threads at once (one ExecutionContext per thread).
//
//   normrt_example MODEL.onnx INPUT.npy ENGINE.nrt [--plugins LIB.so]
//
// INPUT.npy is a float32 array for the model's first input at batch 1; the example runs batch 2 (the input
// twice). Every normrt failure is a normrt::Error with a code and a message that says what to do.
#include <normrt/normrt.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

namespace {

// Reads a little-endian float32 C-order .npy file (format 1.0/2.0): enough for the example.
normrt::Tensor read_float32_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream buffer;
  buffer << f.rdbuf();
  const std::string bytes = buffer.str();
  if (!f || bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0)
    throw std::runtime_error(path + " is no .npy file");
  const size_t header_length = bytes[6] == 1
                                   ? (static_cast<unsigned char>(bytes[8]) | static_cast<unsigned char>(bytes[9]) << 8)
                                   : *reinterpret_cast<const uint32_t*>(&bytes[8]);
  const size_t start = bytes[6] == 1 ? 10 : 12;
  const std::string header = bytes.substr(start, header_length);
  if (header.find("'<f4'") == std::string::npos || header.find("'fortran_order': False") == std::string::npos)
    throw std::runtime_error(path + " is not a C-order float32 array");
  normrt::Dims dims;
  std::stringstream shape(header.substr(header.find('(') + 1, header.find(')') - header.find('(') - 1));
  for (std::string item; std::getline(shape, item, ',');)
    if (item.find_first_not_of(' ') != std::string::npos) dims.push_back(std::stoll(item));
  normrt::Tensor t(normrt::DataType::kFloat32, dims);
  if (bytes.size() - start - header_length != t.nbytes()) throw std::runtime_error(path + " has the wrong size");
  std::memcpy(t.raw(), bytes.data() + start + header_length, t.nbytes());
  return t;
}

// Shapes for a profile: every dynamic dim from 1 (min) over 2 (opt) to 4 (max).
normrt::ProfileRange batch_range(const normrt::TensorInfo& input) {
  normrt::ProfileRange range;
  for (const normrt::DimInfo& d : input.dims) {
    range.min.push_back(d.known() ? d.size : 1);
    range.opt.push_back(d.known() ? d.size : 2);
    range.max.push_back(d.known() ? d.size : 4);
  }
  return range;
}

bool same(const normrt::NamedTensors& a, const normrt::NamedTensors& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].first != b[i].first || a[i].second.dims() != b[i].second.dims() ||
        std::memcmp(a[i].second.raw(), b[i].second.raw(), a[i].second.nbytes()) != 0)
      return false;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && !(argc == 6 && std::string(argv[4]) == "--plugins")) {
    std::cerr << "usage: " << argv[0] << " MODEL.onnx INPUT.npy ENGINE.nrt [--plugins LIB.so]\n";
    return 2;
  }
  try {
    std::cout << "normrt " << normrt::version() << "\n";
    if (argc == 6) normrt::load_plugin_library(argv[5]);

    normrt::Builder builder = normrt::Builder::from_file(argv[1]);
    const normrt::TensorInfo& input = builder.inputs().at(0);
    std::cout << "input '" << input.name << "' " << normrt::dtype_name(input.dtype) << " " << input.shape_string()
              << "\n";
    builder.add_profile({{input.name, batch_range(input)}});
    normrt::Engine built = builder.build();
    built.save(argv[3]);
    normrt::Engine engine = normrt::Engine::load(argv[3]);
    const normrt::ProfileRange& range = engine.inputs().at(0).profiles.at(0);
    std::cout << "engine " << argv[3] << ": device " << engine.device() << ", " << engine.num_profiles()
              << " profile, batch " << range.min[0] << " to " << range.max[0] << "\n";

    // Batch 2: the input twice.
    normrt::Tensor one = read_float32_npy(argv[2]);
    normrt::Dims dims = one.dims();
    dims.at(0) = 2;
    normrt::Tensor batch(normrt::DataType::kFloat32, dims);
    std::memcpy(batch.raw(), one.raw(), one.nbytes());
    std::memcpy(static_cast<char*>(batch.raw()) + one.nbytes(), one.raw(), one.nbytes());
    const std::map<std::string, normrt::Tensor> inputs = {{input.name, batch}};

    normrt::NamedTensors reference = built.create_execution_context().run(inputs);
    normrt::NamedTensors results[2];
    std::thread threads[2];
    for (int t = 0; t < 2; ++t)
      threads[t] = std::thread([&, t] {
        normrt::ExecutionContext context = engine.create_execution_context();  // one per thread
        results[t] = context.run(inputs);
      });
    for (auto& t : threads) t.join();

    for (const auto& [name, tensor] : reference) {
      const float* v = tensor.data<float>();
      double sum = 0, low = INFINITY, high = -INFINITY;
      for (int64_t i = 0; i < tensor.numel(); ++i) {
        sum += v[i];
        low = std::min<double>(low, v[i]);
        high = std::max<double>(high, v[i]);
      }
      std::string shape = "[";
      for (size_t d = 0; d < tensor.rank(); ++d) shape += (d ? "," : "") + std::to_string(tensor.dims()[d]);
      std::cout << "output '" << name << "' " << normrt::dtype_name(tensor.dtype()) << " " << shape << "]: mean "
                << sum / static_cast<double>(tensor.numel()) << ", min " << low << ", max " << high << "\n";
    }
    // The same engine built, saved and loaded, run from two threads: every result identical.
    if (!same(reference, results[0]) || !same(reference, results[1])) {
      std::cerr << "the runs disagree\n";
      return 1;
    }
    std::cout << "all runs agree (built engine, loaded engine on 2 threads)\n";

    // Errors are normrt::Error with a stable code; the message names the fix.
    try {
      engine.create_execution_context().run({{input.name + "s", batch}});
    } catch (const normrt::Error& e) {
      std::cout << "a misspelled input name gives: (" << normrt::error_code_name(e.code()) << ") " << e.what() << "\n";
    }
    return 0;
  } catch (const normrt::Error& e) {
    std::cerr << "normrt: error (" << normrt::error_code_name(e.code()) << "): " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
