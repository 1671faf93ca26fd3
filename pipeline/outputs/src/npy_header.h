// The .npy (format 1.0) header that the shards and the output size estimate share. Private to
// outputs/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "imgprep/kernels/output_spec.h"

namespace imgprep {

// The numpy dtype string of a tensor's elements ("<f4", "<f2", "|u1").
const char* npy_descr(DType dtype);
// A tensor's shape, without a shard's row dimension.
std::vector<int64_t> npy_item_shape(const OutputSpec& spec);

// The header for an array, padded with spaces so that its length is a multiple of 64 and at
// least min_size bytes.
std::string npy_header(const std::string& descr, const std::vector<int64_t>& shape,
                       size_t min_size = 0);

}  // namespace imgprep
