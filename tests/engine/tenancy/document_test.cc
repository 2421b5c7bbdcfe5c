// meterd — tests/engine/tenancy/document_test.cc
#include "engine/tenancy/document.h"

#include <gtest/gtest.h>

namespace meterd::engine::tenancy {
namespace document_test {

TEST(DocumentTest, YamlKeepsLinesAndExactText) {
  const char* text =
      "plans:\n"             // 1
      "  - id: copper\n"     // 2
      "    vcpus: 1\n"       // 3
      "    price: 0.0069\n"  // 4
      "    name: \"x\"\n";   // 5
  auto doc = ParseDocument(text, DocFormat::kYaml);
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  const DocNode* plans = doc->Find("plans");
  ASSERT_NE(plans, nullptr);
  ASSERT_TRUE(plans->is_sequence());
  const DocNode& p = plans->items.at(0);
  EXPECT_EQ(p.line, 2);
  EXPECT_EQ(p.Find("vcpus")->line, 3);
  EXPECT_EQ(p.Find("price")->scalar, "0.0069");
  EXPECT_EQ(p.Find("price")->line, 4);
  EXPECT_FALSE(p.Find("price")->quoted);
  EXPECT_TRUE(p.Find("name")->quoted);
}

TEST(DocumentTest, JsonKeepsLinesAndNumberDigits) {
  const char* text =
      "{\n"                         // 1
      "  \"plans\": [\n"            // 2
      "    {\"id\": \"copper\",\n"  // 3
      "     \"vcpus\": 1,\n"        // 4
      "     \"price\": 0.0069\n"    // 5
      "    }\n"                     // 6
      "  ]\n"
      "}\n";
  auto doc = ParseDocument(text, DocFormat::kAuto);
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  const DocNode& p = doc->Find("plans")->items.at(0);
  EXPECT_EQ(p.Find("id")->line, 3);
  EXPECT_EQ(p.Find("vcpus")->line, 4);
  EXPECT_EQ(p.Find("price")->line, 5);
  // The digits as written, not 0.0069 read through a double and printed back.
  EXPECT_EQ(p.Find("price")->scalar, "0.0069");
  EXPECT_EQ(p.Find("vcpus")->scalar, "1");
}

TEST(DocumentTest, SyntaxErrorsNameTheLine) {
  auto yaml = ParseDocument("a: 1\nb: [1, 2\nc: 3\n", DocFormat::kYaml);
  ASSERT_FALSE(yaml.ok());
  EXPECT_NE(yaml.status().message().find("line "), std::string::npos) << yaml.status().ToString();
  auto json = ParseDocument("{\n\"a\": 1,\n\"b\": ]\n}", DocFormat::kJson);
  ASSERT_FALSE(json.ok());
  EXPECT_EQ(json.status().message().substr(0, 7), "line 3:") << json.status().ToString();
}

TEST(DocumentTest, DuplicateKeysAndNonMapTopLevelAreRefused) {
  auto yaml = ParseDocument("a: 1\nb: 2\na: 3\n", DocFormat::kYaml);
  ASSERT_FALSE(yaml.ok());
  EXPECT_EQ(yaml.status().message(), "line 3: duplicate key \"a\"");
  auto json = ParseDocument("{\"a\": 1,\n \"a\": 2}", DocFormat::kJson);
  ASSERT_FALSE(json.ok());
  EXPECT_NE(json.status().message().find("duplicate key"), std::string::npos);
  EXPECT_FALSE(ParseDocument("- 1\n- 2\n", DocFormat::kYaml).ok());
  auto empty = ParseDocument("  \n", DocFormat::kYaml);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->is_map());
}

TEST(DocumentTest, Times) {
  EXPECT_EQ(ParseTime("1486425600"), 1486425600);
  EXPECT_EQ(ParseTime("2017-02-01T00:00:00Z"), 1485907200);
  EXPECT_EQ(ParseTime("2017-02-01"), 1485907200);
  EXPECT_EQ(ParseTime("2017-02-01T01:00:00+01:00"), 1485907200);
  EXPECT_EQ(ParseTime("2017-02-10T14:00:00.000Z"), 1486735200);
  EXPECT_FALSE(ParseTime("2017-02-30T00:00:00Z"));
  EXPECT_FALSE(ParseTime("2017-02-01T00:00:00"));  // no zone
  EXPECT_FALSE(ParseTime("2017-02-01T00:00:00.5Z"));
  EXPECT_FALSE(ParseTime("yesterday"));
  EXPECT_EQ(FormatTime(1486735200), "2017-02-10T14:00:00Z");
}

TEST(DocumentTest, FieldReaderReportsPathLineAndUnknownFields) {
  auto doc = ParseDocument(
      "plans:\n"
      "  - id: copper\n"
      "    vcpus: lots\n"
      "    colour: red\n",
      DocFormat::kYaml);
  ASSERT_TRUE(doc.ok());
  DocErrors errors;
  FieldReader r(doc->Find("plans")->items[0], "plans[0]", &errors);
  EXPECT_EQ(r.Id("id", true), "copper");
  EXPECT_FALSE(r.Int("vcpus", false, 0, 100));
  EXPECT_FALSE(r.String("name", true));
  r.Finish();
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors.list()[0].ToString(),
            "line 3: plans[0].vcpus must be a whole number, not \"lots\"");
  EXPECT_EQ(errors.list()[1].ToString(), "line 2: plans[0].name is required");
  EXPECT_EQ(errors.list()[2].ToString(), "line 4: plans[0].colour is not a known field");
}

TEST(DocumentTest, Ids) {
  EXPECT_TRUE(IsValidId("bu1.corporate.com"));
  EXPECT_TRUE(IsValidId("vm-1001"));
  EXPECT_TRUE(IsValidId("user@example.com"));
  EXPECT_FALSE(IsValidId(""));
  EXPECT_FALSE(IsValidId("-x"));
  EXPECT_FALSE(IsValidId("a b"));
  EXPECT_FALSE(IsValidId(std::string(129, 'a')));
}

}  // namespace document_test
}  // namespace meterd::engine::tenancy
