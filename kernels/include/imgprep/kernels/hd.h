// Marks functions that run both on the host and on a CUDA device.
// Host-only compilers see plain inline functions.
#pragma once

#if defined(__CUDACC__)
#define IMGPREP_HD __host__ __device__
#else
#define IMGPREP_HD
#endif
