#include "harness/results/junit.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "results_fixture.h"
#include "temp_dir.h"

namespace lockstep::harness {
namespace {

size_t occurrences(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++count;
  return count;
}

const std::string kFffd = "\xEF\xBF\xBD";

TEST(XmlEscape, MarkupCharacters) {
  EXPECT_EQ(xml_escape("a&b<c>d\"e'f"), "a&amp;b&lt;c&gt;d&quot;e&apos;f");
  EXPECT_EQ(xml_escape(""), "");
  EXPECT_EQ(xml_escape("plain text 123"), "plain text 123");
}

TEST(XmlEscape, WhitespaceBecomesCharacterReferences) {
  EXPECT_EQ(xml_escape("a\tb\nc\rd"), "a&#9;b&#10;c&#13;d");
}

TEST(XmlEscape, ControlCharactersAreReplaced) {
  EXPECT_EQ(xml_escape(std::string("a\x01" "b\x1f" "c", 5)), "a" + kFffd + "b" + kFffd + "c");
  EXPECT_EQ(xml_escape(std::string("\0", 1)), kFffd);
  EXPECT_EQ(xml_escape("\x7f"), "\x7f");   // DEL is a legal XML 1.0 Char
}

TEST(XmlEscape, ValidUtf8IsKept) {
  EXPECT_EQ(xml_escape("日本語 é 😀"), "日本語 é 😀");
}

TEST(XmlEscape, InvalidUtf8AndNonCharactersAreReplaced) {
  EXPECT_EQ(xml_escape("a\xff" "b"), "a" + kFffd + "b");           // not a lead byte
  EXPECT_EQ(xml_escape("a\xe6\x97"), "a" + kFffd + kFffd);         // truncated
  EXPECT_EQ(xml_escape("\xc0\xaf"), kFffd + kFffd);                 // overlong '/'
  EXPECT_EQ(xml_escape("\xed\xa0\x80"), kFffd + kFffd + kFffd);     // a UTF-16 surrogate
  EXPECT_EQ(xml_escape("\xef\xbf\xbe"), kFffd);                     // U+FFFE
  EXPECT_EQ(xml_escape("\xef\xbf\xbf"), kFffd);                     // U+FFFF
}

TEST(Junit, Structure) {
  const std::string xml = junit_xml(testing::sample_results());
  EXPECT_EQ(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites", 0), 0u);
  EXPECT_EQ(occurrences(xml, "<testsuite "), 1u);
  EXPECT_NE(xml.find("<testsuite name=\"verify\" tests=\"4\" failures=\"2\""), std::string::npos) << xml;
  EXPECT_EQ(occurrences(xml, "<testcase "), 4u);
  EXPECT_EQ(occurrences(xml, "<failure "), 2u);
  EXPECT_NE(xml.find("<testcase classname=\"verify.capital\" name=\"run-2\" time=\"0.400\"/>"), std::string::npos);
  EXPECT_NE(xml.find("<testcase classname=\"verify.capital\" name=\"process-1\" time=\"0.600\"/>"), std::string::npos);
  EXPECT_NE(xml.find("</testsuite>\n</testsuites>\n"), std::string::npos);
}

TEST(Junit, FailureNamesCaseRunAndStep) {
  const std::string xml = junit_xml(testing::sample_results());
  const std::string id = "verify.odd &lt;id&gt; &amp; &quot;quotes&quot;";
  EXPECT_NE(xml.find("<testcase classname=\"" + id + "\" name=\"run-2\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("type=\"divergence\""), std::string::npos);
  EXPECT_NE(xml.find("run-2 differs from run-1 at step 0"), std::string::npos) << xml;
  EXPECT_NE(xml.find("type=\"run-error\""), std::string::npos);
  EXPECT_NE(xml.find("killed by signal 6 (Aborted); stderr tail:&#10;boom"), std::string::npos) << xml;
  // The prompt's control character and the text's torn UTF-8 never reach the file raw.
  EXPECT_EQ(xml.find('\x01'), std::string::npos);
  EXPECT_EQ(xml.find("\xe6\x97<"), std::string::npos);
  EXPECT_NE(xml.find("tab&#9;here" + kFffd + " bell"), std::string::npos) << xml;
}

TEST(Junit, ACoBatchedFailureNamesItsBatchAndNeighbours) {
  VerifyResults r = testing::sample_results();
  RunResult& run = r.cases[1].runs[0];
  run.label = "batch-8";
  run.kind = RunKind::batch;
  BatchPlace place;
  place.sizes = {8, 8, 7};
  place.rows = {3, 3, 2};
  place.joined_by_others = true;
  place.neighbours.push_back(Neighbour{"filler", 300, 12, "temperature 0.7, top_k 20, top_p 1, seed 2", 0, 11});
  run.batch = place;
  const std::string xml = junit_xml(r);
  EXPECT_NE(xml.find("batch-8 differs from run-1 in a batch of 8 (row 3) at step 0"), std::string::npos) << xml;
  EXPECT_NE(xml.find("batch sizes per step: 8 8 7&#10;rows per step: 3 3 2"), std::string::npos) << xml;
  EXPECT_NE(xml.find("others joined while it decoded"), std::string::npos);
  EXPECT_NE(xml.find("neighbour: filler, prompt 300 tokens, 12 new tokens, temperature 0.7"), std::string::npos) << xml;
}

TEST(Junit, PassingRunHasNoFailures) {
  VerifyResults r = testing::sample_results();
  r.cases.pop_back();
  const std::string xml = junit_xml(r);
  EXPECT_NE(xml.find("tests=\"2\" failures=\"0\""), std::string::npos);
  EXPECT_EQ(occurrences(xml, "<failure"), 0u);
}

TEST(Junit, WriteAndUnwritable) {
  const testing::TempDir dir;
  write_junit(dir / "out/junit.xml", testing::sample_results());
  EXPECT_EQ(testing::read_file(dir / "out/junit.xml"), junit_xml(testing::sample_results()));
  try {
    write_junit(dir / "out/junit.xml/x.xml", testing::sample_results());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::environment);
  }
}

}  // namespace
}  // namespace lockstep::harness
