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

}  // namespace
}  // namespace imgprep
