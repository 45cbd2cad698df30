// NumPy .npy files: the input and output format of `normrt run`. Versions 1.0, 2.0 and 3.0, little-endian,
// C order; everything else is refused with a message that says what to change.
#pragma once

#include <string>

#include "normrt/tensor.h"

namespace normrt {

Tensor read_npy(const std::string& path);
Tensor parse_npy(const std::string& bytes, const std::string& what);
void write_npy(const std::string& path, const Tensor& tensor);
std::string serialize_npy(const Tensor& tensor);

}  // namespace normrt
