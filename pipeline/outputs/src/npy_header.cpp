#include "npy_header.h"

#include <algorithm>
#include <cstdint>

namespace imgprep {

const char* npy_descr(DType dtype) {
  switch (dtype) {
    case DType::float32: return "<f4";
    case DType::float16: return "<f2";
    case DType::uint8: return "|u1";
  }
  return "<f4";
}

std::vector<int64_t> npy_item_shape(const OutputSpec& s) {
  if (s.layout == Layout::nchw) return {OutputSpec::kChannels, s.height, s.width};
  return {s.height, s.width, OutputSpec::kChannels};
}

std::string npy_header(const std::string& descr, const std::vector<int64_t>& shape,
                       size_t min_size) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) {
    dict += std::to_string(shape[i]);
    if (i + 1 < shape.size() || shape.size() == 1) dict += ", ";
  }
  dict += "), }";
  size_t total = 10 + dict.size() + 1;  // magic, version, length, dict, '\n'
  total = std::max(total, min_size);
  total = (total + 63) / 64 * 64;
  dict.append(total - 10 - dict.size() - 1, ' ');
  dict += '\n';
  const auto len = static_cast<uint16_t>(dict.size());
  std::string header = "\x93NUMPY";
  header += '\x01';
  header += '\x00';
  header += static_cast<char>(len & 0xff);
  header += static_cast<char>(len >> 8);
  return header + dict;
}

}  // namespace imgprep
