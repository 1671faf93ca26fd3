// The .npy (format 1.0) header that the shards and the output size estimate share. Private to
// outputs/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "imgprep/core/options.h"

namespace imgprep {

// numpy's dtype string of a tensor element: "<f4", "<f2" or "|u1".
const char* npy_descr(DType dtype);

// The header for an array, padded with spaces so that its length is a multiple of 64 and at
// least min_size bytes.
std::string npy_header(const std::string& descr, const std::vector<int64_t>& shape,
                       size_t min_size = 0);

}  // namespace imgprep
