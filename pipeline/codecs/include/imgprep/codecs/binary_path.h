// Where imgprep's code lives on disk, to find the files installed beside it (the OpenCV codecs
// plugin, nvJPEG).
#pragma once

#include <filesystem>

namespace imgprep {

// The real path of the file holding imgprep's code: the shared library that links it (the
// Python module), else the executable; empty when unknown. (For code in the executable itself,
// dladdr names argv[0], which may be relative to another folder: /proc/self/exe is used.)
std::filesystem::path this_binary();

}  // namespace imgprep
