#include "harness/results/junit.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "harness/atomic_file.h"
#include "harness/json_reader.h"
#include "kernels/enum_names.h"

namespace lockstep::harness {
namespace {

constexpr const char* kReplacement = "\xEF\xBF\xBD";   // U+FFFD

// Markup characters as entities; tab, newline and return as character references (attribute values keep them).
constexpr kernels::Named<char> kXmlEscapes[] = {{'&', "&amp;"}, {'<', "&lt;"},  {'>', "&gt;"},  {'"', "&quot;"},
                                                {'\'', "&apos;"}, {'\t', "&#9;"}, {'\n', "&#10;"}, {'\r', "&#13;"}};

// Decodes one UTF-8 sequence at text[i]; returns its length, or 0 if the
// bytes there are not well-formed UTF-8 (overlong, surrogate, > U+10FFFF,
// truncated).
size_t utf8_sequence(std::string_view text, size_t i, uint32_t& code_point) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  size_t length;
  uint32_t min;
  if (lead < 0x80) {
    code_point = lead;
    return 1;
  } else if ((lead & 0xE0) == 0xC0) {
    length = 2, code_point = lead & 0x1F, min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, code_point = lead & 0x0F, min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, code_point = lead & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte(i + k) & 0x3F);
  }
  if (code_point < min || code_point > 0x10FFFF) return 0;
  if (code_point >= 0xD800 && code_point <= 0xDFFF) return 0;
  return length;
}

bool allowed_in_xml(uint32_t c) {
  // XML 1.0 Char production.
  return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
         (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

std::string seconds(double s) { return fmt::format("{:.3f}", s > 0 ? s : 0.0); }

const char* kReasons[][2] = {{"logits", "the step's logits digest differs"},
                             {"token", "same logits digest, other token"},
                             {"length", "one side stopped earlier"},
                             {"prompt", "different input ids"},
                             {"ids_sha256", "every step equal but the output-ids digest differs"},
                             {"canonical", "a candidate's logit moved beyond the canonical tolerance"}};

std::string reason_text(const std::string& reason) {
  for (const auto& [name, text] : kReasons) {
    if (reason == name) return text;
  }
  return "unknown";
}

// Whether a run shared at least one engine step with another request (a run
// alone in the engine has a batch of size 1 throughout: no place to name).
bool cobatched(const RunResult& run) {
  if (!run.batch) return false;
  const BatchPlace& b = *run.batch;
  return !b.neighbours.empty() || std::any_of(b.sizes.begin(), b.sizes.end(), [](int64_t s) { return s > 1; });
}

std::string run_message(const CaseResult& c, const RunResult& run) {
  const std::string head = fmt::format("case '{}' {}", c.id, run.label);
  if (!run.error.empty()) return head + " produced no record: " + run.error;
  if (!run.first_divergence) return head + " differs from run-1";
  std::string message = fmt::format("{} differs from run-1{} at {}", head, cobatched(run) ? where_in_batch(run) : "",
                                    describe(*run.first_divergence));
  if (run.first_divergent_activation && run.first_divergent_activation->found) {
    message += "; " + run.first_divergent_activation->what;
  }
  return message;
}

std::string golden_message(const CaseVerdict& v, const std::string& golden_path) {
  const std::string head = "case '" + v.id + "'";
  if (!v.note.empty()) return fmt::format("{} {} (golden file {})", head, v.note, golden_path);
  if (!v.divergence) return head + " differs from the golden file " + golden_path;
  return fmt::format("{} differs from the golden file {} at {}", head, golden_path, describe(*v.divergence));
}

// Every field of a divergence, one a line, with full digests (the message shortens them).
std::string divergence_lines(const std::optional<Divergence>& divergence) {
  if (!divergence) return "";
  const Divergence& d = *divergence;
  auto token = [](const std::optional<int32_t>& id, const std::string& text) {
    return id ? std::to_string(*id) + (text.empty() ? "" : " \"" + text + "\"") : std::string("no token");
  };
  auto sha = [](const std::string& s) { return s.empty() ? std::string("(none)") : s; };
  return fmt::format(
      "reason: {} ({})\nstep: {}\nexpected sha256: {}\nactual sha256:   {}\nexpected token: {}\nactual token:   {}\n",
      d.reason, reason_text(d.reason), d.step, sha(d.expected_sha256), sha(d.actual_sha256),
      token(d.expected_token, d.expected_text), token(d.actual_token, d.actual_text));
}

// The batch a co-batched run decoded in: its place at the divergent step,
// sizes and rows per step, joins, neighbours, and where inside the model it
// first parted from the solo run.
std::string batch_lines(const RunResult& run) {
  if (!cobatched(run)) return "";
  const BatchPlace& b = *run.batch;
  std::string out;
  if (run.first_divergence && run.first_divergence->step >= 0) {
    const auto step = static_cast<size_t>(run.first_divergence->step);
    if (step < b.sizes.size()) {
      out += fmt::format("divergent step {}: batch of {}, row {}\n", step, b.sizes[step],
                         step < b.rows.size() ? std::to_string(b.rows[step]) : "None");
    }
  }
  out += fmt::format("batch sizes per step: {}\nrows per step: {}\n", fmt::join(b.sizes, " "), fmt::join(b.rows, " "));
  out += fmt::format("joined a running batch: {}; joined by others while decoding: {}\n",
                     b.joined_running ? "yes" : "no", b.joined_by_others ? "yes" : "no");
  for (const Neighbour& n : b.neighbours) {
    out += fmt::format("neighbour: {}, prompt {} tokens, {} new tokens, {}, steps {}..{}\n", n.request, n.prompt_tokens,
                       n.new_tokens, n.sampling, n.first_step, n.last_step);
  }
  if (const auto& a = run.first_divergent_activation) {
    out += a->what + "\n";
    if (a->found) out += fmt::format("activation sha256 solo: {}\nactivation sha256 batch: {}\n", a->expected_sha256, a->actual_sha256);
  }
  return out;
}

// One <testsuite>: its checks as they are added, and their counts.
class JunitSuite {
 public:
  JunitSuite(std::string name, std::string timestamp = "", double time = 0.0)
      : name_(std::move(name)), timestamp_(std::move(timestamp)), time_(time) {}

  void property(const std::string& name, const std::string& value) {
    if (!value.empty()) {
      properties_ += fmt::format("      <property name=\"{}\" value=\"{}\"/>\n", xml_escape(name), xml_escape(value));
    }
  }
  void pass(const std::string& classname, const std::string& name, double time = 0.0) {
    open(classname, name, time);
    cases_ += "/>\n";
  }
  // result: "failure", "error" or "skipped"; a skipped check has a message only.
  void outcome(const std::string& classname, const std::string& name, double time, const std::string& result,
               const std::string& message, const std::string& type = "", const std::string& body = "") {
    (result == "failure" ? failures_ : result == "error" ? errors_ : skipped_) += 1;
    open(classname, name, time);
    cases_ += fmt::format(">\n      <{} message=\"{}\"", result, xml_escape(message));
    if (type.empty()) {
      cases_ += "/>\n";
    } else {
      cases_ += fmt::format(" type=\"{}\">{}</{}>\n", type, xml_escape(body), result);
    }
    cases_ += "    </testcase>\n";
  }

  int64_t tests() const { return tests_; }
  int64_t failures() const { return failures_; }
  int64_t errors() const { return errors_; }
  int64_t skipped() const { return skipped_; }
  double time() const { return time_; }

  std::string xml() const {
    std::string out = fmt::format(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\"",
        xml_escape(name_), tests_, failures_, errors_, skipped_, seconds(time_));
    if (!timestamp_.empty()) out += fmt::format(" timestamp=\"{}\"", xml_escape(timestamp_));
    out += ">\n";
    if (!properties_.empty()) out += "    <properties>\n" + properties_ + "    </properties>\n";
    return out + cases_ + "  </testsuite>\n";
  }

 private:
  void open(const std::string& classname, const std::string& name, double time) {
    ++tests_;
    cases_ += fmt::format("    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"", xml_escape(classname),
                          xml_escape(name), seconds(time));
  }

  std::string name_, timestamp_;
  double time_;
  std::string properties_, cases_;
  int64_t tests_ = 0, failures_ = 0, errors_ = 0, skipped_ = 0;
};

// "name", else "name #2", "name #3", ...: suite names stay unique.
std::string unique_name(const std::string& name, std::set<std::string>& taken) {
  std::string candidate = name;
  for (int n = 2; taken.count(candidate); ++n) candidate = name + " #" + std::to_string(n);
  taken.insert(candidate);
  return candidate;
}

JunitSuite results_suite(const VerifyResults& r, std::set<std::string>& taken) {
  const std::string prefix = r.suite_name.empty() ? "lockstep" : r.suite_name;
  const std::string& mode = r.environment.mode;
  const std::string name = mode.empty() || mode == "batch_invariant" ? prefix : prefix + " (mode " + mode + ")";
  JunitSuite suite(unique_name(name, taken), r.started_at, r.duration_s);
  std::vector<std::string> sizes;
  for (const auto& [size, tokens] : r.batch_sizes) sizes.push_back(fmt::format("{}:{}", size, tokens));
  const std::pair<const char*, std::string> properties[] = {
      {"suite", r.suite_name},
      {"suite_path", r.suite_path},
      {"model", r.model.name},
      {"model_path", r.model.path},
      {"model_sha256", r.model.file_sha256},
      {"mode", mode},
      {"lockstep_version", r.environment.lockstep_version},
      {"libtorch_version", r.environment.libtorch_version},
      {"cpu_model", r.environment.cpu_model},
      {"command", fmt::format("{}", fmt::join(r.command, " "))},
      {"runs", std::to_string(r.runs)},
      {"processes", std::to_string(r.processes)},
      {"batch_rounds", fmt::format("{}", fmt::join(r.batch_rounds, " "))},
      {"batch_sizes", fmt::format("{}", fmt::join(sizes, " "))}};
  for (const auto& [key, value] : properties) suite.property(key, value);
  for (const CaseResult& c : r.cases) {
    for (const RunResult& run : c.runs) {
      const std::string classname = prefix + "." + c.id;
      if (run.match) {
        suite.pass(classname, run.label, run.duration_s);
        continue;
      }
      const std::string message = run_message(c, run);
      const std::string body = fmt::format("{}\nrun kind: {}\n{}{}prompt: {}\nreference ids sha256: {}", message,
                                           to_string(run.kind), divergence_lines(run.first_divergence),
                                           batch_lines(run), c.prompt, c.reference.ids_sha256);
      const bool error = !run.error.empty();
      suite.outcome(classname, run.label, run.duration_s, error ? "error" : "failure", message,
                    error ? "worker-error" : "divergence", body);
    }
  }
  if (r.golden) {
    const GoldenCheck& g = *r.golden;
    if (g.written) {
      suite.outcome(prefix + ".golden", "update-golden", 0.0, "skipped",
                    "golden file written: " + g.path + " (nothing compared)");
    }
    for (const CaseVerdict& v : g.cases) {
      if (v.match) {
        suite.pass(prefix + "." + v.id, "golden");
        continue;
      }
      const std::string message = golden_message(v, g.path);
      suite.outcome(prefix + "." + v.id, "golden", 0.0, "failure", message, "golden-divergence",
                    message + "\nlevel: " + g.level + "\n" + divergence_lines(v.divergence));
    }
  }
  return suite;
}

// A compare.json: batch_invariant must give exactly one output of the request over every co-batched run.
JunitSuite compare_suite(const nlohmann::ordered_json& doc, std::set<std::string>& taken) {
  JunitSuite suite(unique_name("compare", taken));
  const nlohmann::ordered_json& modes = doc.at("modes");
  const nlohmann::ordered_json settings = doc.value("settings", nlohmann::ordered_json::object());
  auto text = [](const nlohmann::ordered_json& v) { return v.is_null() ? std::string() : v.is_string() ? v.get<std::string>() : v.dump(); };
  for (const auto& [name, mode] : modes.items()) suite.property(name + "_unique_outputs", text(mode.at("unique_outputs")));
  suite.property("runs", text(settings.value("runs", nlohmann::ordered_json())));
  suite.property("max_batch", text(settings.value("max_batch", nlohmann::ordered_json())));
  if (auto invariant = modes.find("batch_invariant"); invariant != modes.end()) {
    const int64_t unique = invariant->at("unique_outputs").get<int64_t>();
    if (unique == 1) {
      suite.pass("compare.target", "batch_invariant");
    } else {
      const std::string message = fmt::format(
          "compare: mode batch_invariant gave {} unique outputs of one request over {} co-batched runs (expected "
          "exactly 1)", unique, text(settings.value("runs", nlohmann::ordered_json())));
      std::string body = message;
      for (const auto& h : invariant->at("histogram")) {
        body += fmt::format("\n{}: {} runs", h.at("logits_sha256").get<std::string>(), text(h.at("runs")));
      }
      suite.outcome("compare.target", "batch_invariant", 0.0, "failure", message, "divergence", body);
    }
  }
  return suite;
}

}  // namespace

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    uint32_t c = 0;
    const size_t length = utf8_sequence(text, i, c);
    if (length == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    const char* entity = length == 1 ? kernels::name_of(kXmlEscapes, text[i], nullptr) : nullptr;
    if (!allowed_in_xml(c)) {
      out += kReplacement;
    } else if (entity) {
      out += entity;
    } else {
      out.append(text.substr(i, length));
    }
    i += length;
  }
  return out;
}

JunitInputs read_junit_inputs(const std::vector<std::string>& results_files,
                              const std::vector<std::string>& compare_files) {
  constexpr const char* kCompareSchema = "lockstep.compare/0";
  JunitInputs inputs;
  for (const std::string& path : results_files) {
    nlohmann::ordered_json doc = read_json_file(path, "file", 1024);
    if (doc.is_object() && doc.value("schema", "") == kCompareSchema) {
      inputs.compares.push_back(std::move(doc));
      continue;
    }
    try {
      inputs.results.push_back(results_from_json(doc));
    } catch (const nlohmann::ordered_json::exception& e) {
      throw bad_input(path + ": not a complete " + kResultsSchema + " document (" + e.what() + ")");
    } catch (const Error& e) {
      throw bad_input(path + ": " + e.what());
    }
  }
  for (const std::string& path : compare_files) {
    nlohmann::ordered_json doc = read_json_file(path, "file", 1024);
    if (!doc.is_object() || doc.value("schema", "") != kCompareSchema || !doc.contains("modes")) {
      throw bad_input(path + ": not a " + std::string(kCompareSchema) + " document");
    }
    inputs.compares.push_back(std::move(doc));
  }
  return inputs;
}

std::string junit_xml(const JunitInputs& inputs) {
  std::set<std::string> taken;
  std::vector<JunitSuite> suites;
  for (const VerifyResults& r : inputs.results) suites.push_back(results_suite(r, taken));
  for (const auto& doc : inputs.compares) suites.push_back(compare_suite(doc, taken));
  int64_t tests = 0, failures = 0, errors = 0, skipped = 0;
  double time = 0.0;
  std::string body;
  for (const JunitSuite& s : suites) {
    tests += s.tests(), failures += s.failures(), errors += s.errors(), skipped += s.skipped(), time += s.time();
    body += s.xml();
  }
  return fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"lockstep\" tests=\"{}\" failures=\"{}\" "
      "errors=\"{}\" skipped=\"{}\" time=\"{}\">\n{}</testsuites>\n",
      tests, failures, errors, skipped, seconds(time), body);
}

std::string junit_xml(const VerifyResults& results) { return junit_xml(JunitInputs{{results}, {}}); }

void write_junit(const std::string& path, const JunitInputs& inputs) { write_file_atomically(path, junit_xml(inputs)); }

void write_junit(const std::string& path, const VerifyResults& results) {
  write_file_atomically(path, junit_xml(results));
}

}  // namespace lockstep::harness
