#include "imgprep/core/json_text.h"

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <stdexcept>

namespace imgprep {
namespace {

// The length of the well-formed UTF-8 character at text[at] (RFC 3629: no overlong forms, no
// surrogates, nothing past U+10FFFF), or 0.
size_t utf8_length(std::string_view text, size_t at) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[at + i]); };
  const auto follows = [&](size_t i, uint8_t lo = 0x80, uint8_t hi = 0xBF) {
    return at + i < text.size() && byte(i) >= lo && byte(i) <= hi;
  };
  const uint8_t b = byte(0);
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return follows(1) ? 2 : 0;
  if (b == 0xE0) return follows(1, 0xA0) && follows(2) ? 3 : 0;
  if (b == 0xED) return follows(1, 0x80, 0x9F) && follows(2) ? 3 : 0;
  if (b >= 0xE1 && b <= 0xEF) return follows(1) && follows(2) ? 3 : 0;
  if (b == 0xF0) return follows(1, 0x90) && follows(2) && follows(3) ? 4 : 0;
  if (b >= 0xF1 && b <= 0xF3) return follows(1) && follows(2) && follows(3) ? 4 : 0;
  if (b == 0xF4) return follows(1, 0x80, 0x8F) && follows(2) && follows(3) ? 4 : 0;
  return 0;
}

void append_escape(std::string& out, const char* format, unsigned value) {
  char escape[8];
  std::snprintf(escape, sizeof escape, format, value);
  out += escape;
}

}  // namespace

std::string json_string_keeping_bytes(std::string_view text) {
  std::string out = "\"";
  out.reserve(text.size() + 2);
  for (size_t at = 0; at < text.size();) {
    const size_t n = utf8_length(text, at);
    const auto c = static_cast<unsigned char>(text[at]);
    if (n == 0) {
      append_escape(out, "\\udc%02x", c);
      at += 1;
      continue;
    }
    if (n > 1) {
      out.append(text, at, n);
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      switch (c) {
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default: append_escape(out, "\\u%04x", c);
      }
    } else {
      out += static_cast<char>(c);
    }
    at += n;
  }
  out += '"';
  return out;
}

std::string json_string_bytes(std::string_view literal, size_t* end) {
  const auto bad = [] { return std::invalid_argument("not a string imgprep writes"); };
  if (literal.empty() || literal[0] != '"') throw bad();
  std::string bytes;
  for (size_t at = 1; at < literal.size(); ++at) {
    const char c = literal[at];
    if (c == '"') {
      if (end) *end = at + 1;
      return bytes;
    }
    if (c != '\\') {
      bytes += c;
      continue;
    }
    if (++at == literal.size()) break;
    switch (literal[at]) {
      case '"': bytes += '"'; break;
      case '\\': bytes += '\\'; break;
      case 'b': bytes += '\b'; break;
      case 'f': bytes += '\f'; break;
      case 'n': bytes += '\n'; break;
      case 'r': bytes += '\r'; break;
      case 't': bytes += '\t'; break;
      case 'u': {
        // Only a control character (\u00XX) or a byte that is not UTF-8 (\udcXX).
        unsigned code = 0;
        const std::string_view hex = literal.substr(at + 1, 4);
        if (hex.size() != 4 ||
            std::from_chars(hex.data(), hex.data() + 4, code, 16).ptr != hex.data() + 4 ||
            (code >= 0x20 && (code < 0xdc80 || code > 0xdcff)))
          throw bad();
        bytes += static_cast<char>(code & 0xff);
        at += 4;
        break;
      }
      default: throw bad();
    }
  }
  throw bad();
}

}  // namespace imgprep
