// JSON writer: structure, commas, and escaping of hostile strings.
#include "core/json.h"

#include <gtest/gtest.h>

using imageinit::core::json_quote;
using imageinit::core::JsonWriter;

TEST(Json, NestedStructureHasCommasInTheRightPlaces) {
    JsonWriter w;
    w.begin_object()
        .key("a")
        .value(1)
        .key("b")
        .begin_array()
        .value("x")
        .value(true)
        .null()
        .end_array()
        .key("c")
        .begin_object()
        .end_object()
        .end_object();
    EXPECT_EQ(w.str(), R"({"a":1,"b":["x",true,null],"c":{}})");
}

TEST(Json, ControlCharactersQuotesAndBackslashesAreEscaped) {
    EXPECT_EQ(json_quote("a\"b\\c\nd\te\x01"), R"("a\"b\\c\nd\te\u0001")");
}

TEST(Json, InvalidUtf8BytesBecomeEscapes) {
    EXPECT_EQ(json_quote("\xff\xc3\xa9"), "\"\\u00ff\xc3\xa9\"");
    EXPECT_EQ(json_quote("\xc3"), R"("\u00c3")");
}
