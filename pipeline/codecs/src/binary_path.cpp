#include "imgprep/codecs/binary_path.h"

#include <dlfcn.h>

#include <string>
#include <system_error>

namespace imgprep {

std::filesystem::path this_binary() {
  std::error_code ec;
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&this_binary), &info) != 0 && info.dli_fname) {
    const std::string name = info.dli_fname;
    if (name.ends_with(".so") || name.find(".so.") != std::string::npos) {
      const std::filesystem::path path = std::filesystem::canonical(name, ec);
      if (!ec) return path;
    }
  }
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path() : exe;
}

}  // namespace imgprep
