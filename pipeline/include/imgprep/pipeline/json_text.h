// JSON as text for the files imgprep writes. File and folder names need not be UTF-8: their bad
// bytes become U+FFFD in the text instead of making the dump throw.
#pragma once

#include <string>

namespace imgprep {

template <class Json>
std::string json_text(const Json& j, int indent = -1) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

}  // namespace imgprep
