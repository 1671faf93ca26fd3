// The C interface between the pipeline and its OpenCV-imgcodecs plugin
// (libimgprep_opencv_codecs.so). imgcodecs drags in ~140 shared libraries, so it is loaded only
// when a BMP/WebP/TIFF file or an image output needs it. Each call is thread-safe. Once loaded,
// it keeps what OpenCV writes to std::cerr during its calls off the terminal.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" {

// Gives the plugin memory to write its result into; returns nullptr to refuse.
typedef uint8_t* (*imgprep_alloc_fn)(void* context, size_t size);

// Decodes an image to 8-bit RGBX (16-bit samples keep their high byte, alpha lands in X).
// Returns 0, or non-zero with a message in error.
int imgprep_cv_decode(const uint8_t* data, size_t size, imgprep_alloc_fn alloc, void* context,
                      int* width, int* height, char* error, size_t error_size);

// Encodes 8-bit BGR pixels (rows of width * 3 bytes) as ext (".jpg", ".png", ".webp"); sizes
// over the format's limit (WebP 16383, JPEG 65500 pixels a side) fail with a message naming it.
int imgprep_cv_encode(const uint8_t* bgr, int width, int height, const char* ext, int quality,
                      imgprep_alloc_fn alloc, void* context, char* error, size_t error_size);
}
