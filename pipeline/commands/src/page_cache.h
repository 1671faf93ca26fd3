// Whether input files are in the kernel's page cache, and dropping them from it (per file, with
// posix_fadvise, which any user may do for files they can open: no root needed).
#pragma once

#include <vector>

#include "imgprep/datasets/input_list.h"

namespace imgprep {

// The fraction of the files' bytes resident in the page cache (mincore), 0..1; 1 for no bytes.
double page_cache_resident(const std::vector<InputItem>& items);
// Asks the kernel to drop the files' clean pages; returns page_cache_resident afterwards.
double drop_page_cache(const std::vector<InputItem>& items);

}  // namespace imgprep
