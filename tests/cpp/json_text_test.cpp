// json_string_keeping_bytes: JSON string literals that keep every byte of a name.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "imgprep/core/json_text.h"

namespace imgprep {
namespace {

TEST(JsonStringKeepingBytes, Utf8AndEscapesAsNlohmannWritesThem) {
  for (const std::string text :
       {"", "plain.jpg", "a \"quoted\" back\\slash", "new\nline\ttab\rcr\b\f", "\x01\x1f\x7f",
        "ünïcødé-日本-😀.jpg", "/slash/kept"}) {
    EXPECT_EQ(json_string_keeping_bytes(text), nlohmann::json(text).dump()) << text;
  }
}

TEST(JsonStringKeepingBytes, BytesThatAreNotUtf8BecomeLowSurrogateEscapes) {
  EXPECT_EQ(json_string_keeping_bytes("caf\xe9.jpg"), R"("caf\udce9.jpg")");
  // A lead byte without its continuation, a lone continuation, an overlong form, an encoded
  // surrogate and a code point past U+10FFFF: each byte on its own.
  EXPECT_EQ(json_string_keeping_bytes("\xe6\x97x"), R"("\udce6\udc97x")");
  EXPECT_EQ(json_string_keeping_bytes("\x80"), R"("\udc80")");
  EXPECT_EQ(json_string_keeping_bytes("\xc0\xaf"), R"("\udcc0\udcaf")");
  EXPECT_EQ(json_string_keeping_bytes("\xed\xa0\x80"), R"("\udced\udca0\udc80")");
  EXPECT_EQ(json_string_keeping_bytes("\xf4\x90\x80\x80"), R"("\udcf4\udc90\udc80\udc80")");
  EXPECT_EQ(json_string_keeping_bytes("\xff" "\xc3\xa9"), "\"\\udcff\xc3\xa9\"");
}

TEST(JsonStringBytes, GivesBackEveryByteJsonStringKeepingBytesWrote) {
  for (const std::string& text :
       {std::string(), std::string("plain.jpg"), std::string("a \"quoted\" back\\slash"),
        std::string("new\nline\ttab\rcr\b\f\x01\x1f\x7f"), std::string("caf\xe9-\x80\xff.jpg"),
        std::string("\xed\xa0\x80 \xc3\xa9 \xf0\x9f\x98\x80"), std::string("nul\0inside", 11)}) {
    const std::string literal = json_string_keeping_bytes(text);
    size_t end = 0;
    EXPECT_EQ(json_string_bytes(literal + ",\"next\":1", &end), text);
    EXPECT_EQ(end, literal.size());
  }
}

TEST(JsonStringBytes, RefusesWhatJsonStringKeepingBytesNeverWrites) {
  for (const std::string literal :
       {"plain", "\"unterminated", "\"bad \\x escape\"", "\"\\ud83d\\ude00\"", "\"\\u00e9\"",
        "\"\\udc7f\"", "\"\\u12\""})
    EXPECT_THROW(json_string_bytes(literal), std::invalid_argument) << literal;
}

}  // namespace
}  // namespace imgprep
