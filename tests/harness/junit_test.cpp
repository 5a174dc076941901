#include "harness/results/junit.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "expect_error.h"
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
  EXPECT_EQ(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"lockstep\" tests=\"4\" "
                      "failures=\"1\" errors=\"1\" skipped=\"0\"", 0), 0u) << xml;
  EXPECT_EQ(occurrences(xml, "<testsuite "), 1u);
  EXPECT_NE(xml.find("<testsuite name=\"sample\" tests=\"4\" failures=\"1\" errors=\"1\" skipped=\"0\" time=\"12.500\" "
                     "timestamp=\"2025-01-02T03:04:05Z\">"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<property name=\"suite_path\" value=\"/s/sample.json\"/>"), std::string::npos) << xml;
  EXPECT_EQ(xml.find("<property name=\"mode\""), std::string::npos);   // no value, no property
  EXPECT_EQ(occurrences(xml, "<testcase "), 4u);
  EXPECT_EQ(occurrences(xml, "<failure "), 1u);
  EXPECT_EQ(occurrences(xml, "<error "), 1u);
  EXPECT_NE(xml.find("<testcase classname=\"sample.capital\" name=\"run-2\" time=\"0.400\"/>"), std::string::npos);
  EXPECT_NE(xml.find("<testcase classname=\"sample.capital\" name=\"process-1\" time=\"0.600\"/>"), std::string::npos);
  EXPECT_NE(xml.find("</testsuite>\n</testsuites>\n"), std::string::npos);
}

TEST(Junit, FailureNamesCaseRunAndStep) {
  const std::string xml = junit_xml(testing::sample_results());
  const std::string id = "sample.odd &lt;id&gt; &amp; &quot;quotes&quot;";
  EXPECT_NE(xml.find("<testcase classname=\"" + id + "\" name=\"run-2\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("type=\"divergence\""), std::string::npos);
  EXPECT_NE(xml.find("run-2 differs from run-1 at step 0"), std::string::npos) << xml;
  EXPECT_NE(xml.find("reason: logits (the step&apos;s logits digest differs)"), std::string::npos) << xml;
  // A crashed worker produced no record: an <error>, not a <failure>.
  EXPECT_NE(xml.find("<error message=\"case &apos;odd &lt;id&gt; &amp; &quot;quotes&quot;&apos; process-1 produced no "
                     "record: worker process-1 killed by signal 6 (Aborted); stderr tail:&#10;boom\" type=\"worker-error\""),
            std::string::npos) << xml;
  // The prompt's control character and the text's torn UTF-8 never reach the file raw.
  EXPECT_EQ(xml.find('\x01'), std::string::npos);
  EXPECT_EQ(xml.find("\xe6\x97<"), std::string::npos);
  EXPECT_NE(xml.find("tab&#9;here" + kFffd + " bell"), std::string::npos) << xml;
}

TEST(Junit, ACoBatchedFailureNamesItsBatchAndNeighbours) {
  VerifyResults r = testing::sample_results();
  r.batch_rounds = {"batch-8"};
  r.batch_sizes = {{7, 1}, {8, 2}};
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
  EXPECT_NE(xml.find("divergent step 0: batch of 8, row 3&#10;batch sizes per step: 8 8 7&#10;rows per step: 3 3 2"),
            std::string::npos) << xml;
  EXPECT_NE(xml.find("joined a running batch: no; joined by others while decoding: yes"), std::string::npos);
  EXPECT_NE(xml.find("neighbour: filler, prompt 300 tokens, 12 new tokens, temperature 0.7"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<property name=\"batch_rounds\" value=\"batch-8\"/>"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<property name=\"batch_sizes\" value=\"7:1 8:2\"/>"), std::string::npos) << xml;
}

TEST(Junit, ARunAloneInTheEngineNamesNoBatch) {
  VerifyResults r = testing::sample_results();
  BatchPlace alone;
  alone.sizes = {1};
  alone.rows = {0};
  r.cases[1].runs[0].batch = alone;
  const std::string xml = junit_xml(r);
  EXPECT_EQ(xml.find("in a batch of"), std::string::npos) << xml;
  EXPECT_EQ(xml.find("batch sizes per step"), std::string::npos) << xml;
}

TEST(Junit, GoldenCasesAreChecksOfTheirCaseAndAWrittenGoldenIsSkipped) {
  VerifyResults r = testing::sample_results();
  r.cases.pop_back();
  r.environment.mode = "off";
  Divergence d;
  d.step = 2;
  d.reason = "token";
  r.golden = GoldenCheck{"g.proof.json", "bits", false, {{"capital", false, d, ""}, {"other", false, std::nullopt,
                                                                                      "missing from the run"}}};
  std::string xml = junit_xml(r);
  EXPECT_NE(xml.find("<testsuite name=\"sample (mode off)\" tests=\"4\" failures=\"2\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("<testcase classname=\"sample.capital\" name=\"golden\" time=\"0.000\">\n      <failure "
                     "message=\"case &apos;capital&apos; differs from the golden file g.proof.json at step 2"),
            std::string::npos) << xml;
  EXPECT_NE(xml.find("case &apos;other&apos; missing from the run (golden file g.proof.json)\" type=\"golden-divergence\""),
            std::string::npos) << xml;
  r.golden = GoldenCheck{"g.proof.json", "bits", true, {{"capital", true, std::nullopt, ""}}};
  xml = junit_xml(r);
  EXPECT_NE(xml.find("<testcase classname=\"sample.golden\" name=\"update-golden\" time=\"0.000\">\n      <skipped "
                     "message=\"golden file written: g.proof.json (nothing compared)\"/>"), std::string::npos) << xml;
  EXPECT_NE(xml.find("skipped=\"1\""), std::string::npos);
}

TEST(Junit, OneSuiteAFileAndACompareSuite) {
  JunitInputs inputs{{testing::sample_results(), testing::sample_results()}, {}};
  inputs.compares.push_back(nlohmann::ordered_json::parse(R"({"schema": "lockstep.compare/0",
      "settings": {"runs": 8, "max_batch": 6},
      "modes": {"off": {"unique_outputs": 3, "histogram": []},
                "batch_invariant": {"unique_outputs": 2, "histogram": [{"logits_sha256": "ab", "runs": 5}]}}})"));
  const std::string xml = junit_xml(inputs);
  EXPECT_NE(xml.find("<testsuites name=\"lockstep\" tests=\"9\" failures=\"3\" errors=\"2\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("<testsuite name=\"sample\" "), std::string::npos);
  EXPECT_NE(xml.find("<testsuite name=\"sample #2\" "), std::string::npos);
  EXPECT_NE(xml.find("<property name=\"off_unique_outputs\" value=\"3\"/>"), std::string::npos) << xml;
  EXPECT_NE(xml.find("compare: mode batch_invariant gave 2 unique outputs of one request over 8 co-batched runs"),
            std::string::npos) << xml;
  EXPECT_NE(xml.find("&#10;ab: 5 runs</failure>"), std::string::npos) << xml;
}

TEST(Junit, PassingRunHasNoFailures) {
  VerifyResults r = testing::sample_results();
  r.cases.pop_back();
  const std::string xml = junit_xml(r);
  EXPECT_NE(xml.find("tests=\"2\" failures=\"0\" errors=\"0\""), std::string::npos);
  EXPECT_EQ(occurrences(xml, "<failure"), 0u);
}

TEST(Junit, WriteAndUnwritable) {
  const testing::TempDir dir;
  write_junit(dir / "out/junit.xml", testing::sample_results());
  EXPECT_EQ(testing::read_file(dir / "out/junit.xml"), junit_xml(testing::sample_results()));
  testing::expect_error([&] { write_junit(dir / "out/junit.xml/x.xml", testing::sample_results()); },
                        ErrorKind::environment);
}

}  // namespace
}  // namespace lockstep::harness
