// JSON as text for the files imgprep writes. File and folder names need not be UTF-8.
#pragma once

#include <string>
#include <string_view>

namespace imgprep {

// The whole document; bytes that are not UTF-8 become U+FFFD instead of making the dump throw.
template <class Json>
std::string json_text(const Json& j, int indent = -1) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

// One JSON string literal, quotes included, that keeps every byte: UTF-8 as it is, and each
// byte that is not part of a UTF-8 character as the escape \udcXX (a lone low surrogate: the
// "surrogateescape" of PEP 383, so Python's os.fsencode(json.loads(...)) gives the bytes back).
std::string json_string_keeping_bytes(std::string_view text);

// The bytes of a string literal that json_string_keeping_bytes wrote: `literal` starts at its
// opening quote; `end` is left just past the closing one. Throws std::invalid_argument for an
// escape that function never writes.
std::string json_string_bytes(std::string_view literal, size_t* end = nullptr);

}  // namespace imgprep
