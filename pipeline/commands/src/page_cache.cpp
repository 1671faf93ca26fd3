#include "page_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>

namespace imgprep {
namespace {

struct Residency {
  uint64_t resident = 0, total = 0;
};

// Adds one file's resident and total pages, after asking the kernel to drop its clean pages when
// `drop`; files that cannot be opened or mapped count nothing.
void count_file(const std::filesystem::path& path, bool drop, Residency& r,
                std::vector<unsigned char>& map) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return;
  if (drop) ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
    const size_t size = static_cast<size_t>(st.st_size);
    void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (mapped != MAP_FAILED) {
      const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
      const size_t pages = (size + page - 1) / page;
      map.resize(pages);
      if (::mincore(mapped, size, map.data()) == 0) {
        for (unsigned char m : map) r.resident += m & 1;
        r.total += pages;
      }
      ::munmap(mapped, size);
    }
  }
  ::close(fd);
}

double residency(const std::vector<InputItem>& items, bool drop) {
  Residency r;
  std::vector<unsigned char> map;
  for (const InputItem& item : items) count_file(item.path, drop, r, map);
  return r.total == 0 ? 1.0 : static_cast<double>(r.resident) / static_cast<double>(r.total);
}

}  // namespace

double page_cache_resident(const std::vector<InputItem>& items) { return residency(items, false); }

double drop_page_cache(const std::vector<InputItem>& items) { return residency(items, true); }

}  // namespace imgprep
