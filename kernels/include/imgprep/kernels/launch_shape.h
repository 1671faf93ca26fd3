// How a kernel is launched over a batch of images: a grid of blocks of threads, as CUDA's dim3.
// CUDA caps a grid's y and z at 65,535 blocks (x at 2^31 - 1), so the grid is the batch's extent
// (widest image, tallest image, image count) clamped to those limits, and each thread loops
// (grid-stride) over the images, rows and columns that the clamped grid does not cover: any
// image size and batch size launch.
#pragma once

#include <cstdint>

namespace imgprep {

struct LaunchDim {
  unsigned x = 1, y = 1, z = 1;
};
struct LaunchShape {
  LaunchDim grid, block;
};
constexpr unsigned kMaxGridX = 2147483647u, kMaxGridYZ = 65535u;

// Blocks of 32 x 8 threads (a warp across a row, 8 rows) over width x height x count.
inline LaunchShape batch_launch_shape(uint64_t max_width, uint64_t max_height, uint64_t count) {
  constexpr unsigned kBlockX = 32, kBlockY = 8;
  const auto blocks = [](uint64_t extent, unsigned per_block, unsigned limit) {
    const uint64_t n = (extent + per_block - 1) / per_block;
    return static_cast<unsigned>(n < 1 ? 1 : (n > limit ? limit : n));
  };
  LaunchShape shape;
  shape.block = {kBlockX, kBlockY, 1};
  shape.grid = {blocks(max_width, kBlockX, kMaxGridX), blocks(max_height, kBlockY, kMaxGridYZ),
                blocks(count, 1, kMaxGridYZ)};
  return shape;
}

// Calls body(block, thread) for every thread of every block of a launch of `shape`: a kernel's
// per-thread body run on the host as the GPU would run it (the tests, the fake CUDA runtime).
template <class Body>
void for_each_launch_thread(const LaunchShape& shape, const Body& body) {
  for (unsigned bz = 0; bz < shape.grid.z; ++bz)
    for (unsigned by = 0; by < shape.grid.y; ++by)
      for (unsigned bx = 0; bx < shape.grid.x; ++bx)
        for (unsigned tz = 0; tz < shape.block.z; ++tz)
          for (unsigned ty = 0; ty < shape.block.y; ++ty)
            for (unsigned tx = 0; tx < shape.block.x; ++tx)
              body(LaunchDim{bx, by, bz}, LaunchDim{tx, ty, tz});
}

}  // namespace imgprep
