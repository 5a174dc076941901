#include "harness/results/junit.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "harness/atomic_file.h"

namespace lockstep::harness {
namespace {

constexpr const char* kReplacement = "\xEF\xBF\xBD";   // U+FFFD

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

std::string seconds(double s) { return fmt::format("{:.3f}", s); }

std::string failure_message(const CaseResult& c, const RunResult& run) {
  if (!run.error.empty()) return fmt::format("case '{}' {}: {}", c.id, run.label, run.error);
  if (run.first_divergence) {
    std::string message = fmt::format("case '{}' {} differs from run-1{} at {}", c.id, run.label, where_in_batch(run),
                                      describe(*run.first_divergence));
    if (run.first_divergent_activation && run.first_divergent_activation->found) {
      message += "; " + run.first_divergent_activation->what;
    }
    return message;
  }
  return fmt::format("case '{}' {} differs from run-1", c.id, run.label);
}

// The batch a co-batched run decoded in: sizes and rows per step, joins, and its neighbours.
std::string batch_details(const RunResult& run) {
  if (!run.batch) return "";
  const BatchPlace& b = *run.batch;
  std::string out = fmt::format("batch sizes per step: {}\nrows per step: {}\n", fmt::join(b.sizes, " "),
                                fmt::join(b.rows, " "));
  if (b.joined_running) out += "joined a batch that was already decoding\n";
  if (b.joined_by_others) out += "others joined while it decoded\n";
  for (const Neighbour& n : b.neighbours) {
    out += fmt::format("neighbour: {}, prompt {} tokens, {} new tokens, {}, steps {}..{}\n", n.request, n.prompt_tokens,
                       n.new_tokens, n.sampling, n.first_step, n.last_step);
  }
  return out;
}

// The failure element's body: everything needed to start debugging, with
// full digests (the message shortens them).
std::string failure_details(const CaseResult& c, const RunResult& run) {
  std::string out = failure_message(c, run) + "\n";
  if (run.first_divergence) {
    const Divergence& d = *run.first_divergence;
    auto token = [](const std::optional<int32_t>& id) { return id ? std::to_string(*id) : std::string("(none)"); };
    out += fmt::format("reason: {}\nstep: {}\nexpected sha256: {}\nactual sha256:   {}\n", d.reason, d.step,
                       d.expected_sha256, d.actual_sha256);
    out += fmt::format("expected token: {} {}\nactual token:   {} {}\n", token(d.expected_token), d.expected_text,
                       token(d.actual_token), d.actual_text);
  }
  out += batch_details(run);
  if (const auto& a = run.first_divergent_activation) {
    out += a->what + "\n";
    if (a->found) out += fmt::format("activation sha256 solo: {}\nactivation sha256 batch: {}\n", a->expected_sha256, a->actual_sha256);
  }
  out += fmt::format("prompt: {}\nreference ids sha256: {}\n", c.prompt, c.reference.ids_sha256);
  return out;
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
    if (!allowed_in_xml(c)) {
      out += kReplacement;
    } else {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&apos;"; break;
        case '\t': out += "&#9;"; break;
        case '\n': out += "&#10;"; break;
        case '\r': out += "&#13;"; break;
        default: out.append(text.substr(i, length));
      }
    }
    i += length;
  }
  return out;
}

// The golden suite: one testcase per case of the proof file.
static std::string golden_suite(const GoldenCheck& g, const std::string& timestamp) {
  int64_t failures = 0;
  for (const CaseVerdict& v : g.cases) failures += !v.match;
  std::string out = fmt::format(
      "  <testsuite name=\"golden\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\" time=\"0\" "
      "timestamp=\"{}\">\n",
      g.cases.size(), failures, xml_escape(timestamp));
  out += fmt::format("    <properties>\n      <property name=\"golden\" value=\"{}\"/>\n"
                     "      <property name=\"level\" value=\"{}\"/>\n    </properties>\n",
                     xml_escape(g.path), xml_escape(g.level));
  for (const CaseVerdict& v : g.cases) {
    out += fmt::format("    <testcase classname=\"golden\" name=\"{}\" time=\"0\"", xml_escape(v.id));
    if (v.match) {
      out += "/>\n";
      continue;
    }
    const std::string message =
        "case '" + v.id + "' differs from " + g.path + ": " + (v.divergence ? describe(*v.divergence) : v.note);
    out += fmt::format(">\n      <failure message=\"{}\" type=\"golden-divergence\">{}</failure>\n    </testcase>\n",
                       xml_escape(message), xml_escape(message));
  }
  return out + "  </testsuite>\n";
}

std::string junit_xml(const VerifyResults& r) {
  const Counts counts = r.counts();
  int64_t tests = counts.comparisons, failures = counts.comparisons_failed;
  if (r.golden) {
    tests += static_cast<int64_t>(r.golden->cases.size());
    for (const CaseVerdict& v : r.golden->cases) failures += !v.match;
  }
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += fmt::format("<testsuites name=\"lockstep\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{}\">\n",
                     tests, failures, seconds(r.duration_s));
  out += fmt::format(
      "  <testsuite name=\"verify\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\" time=\"{}\" "
      "timestamp=\"{}\">\n",
      counts.comparisons, counts.comparisons_failed, seconds(r.duration_s), xml_escape(r.started_at));
  out += "    <properties>\n";
  auto property = [&](const std::string& name, const std::string& value) {
    out += fmt::format("      <property name=\"{}\" value=\"{}\"/>\n", xml_escape(name), xml_escape(value));
  };
  property("suite", r.suite_name);
  property("model", r.model.path);
  property("model_sha256", r.model.file_sha256);
  property("lockstep_version", r.environment.lockstep_version);
  property("libtorch_version", r.environment.libtorch_version);
  property("runs", std::to_string(r.runs));
  property("processes", std::to_string(r.processes));
  out += "    </properties>\n";
  for (const CaseResult& c : r.cases) {
    for (const RunResult& run : c.runs) {
      out += fmt::format("    <testcase classname=\"verify.{}\" name=\"{}\" time=\"{}\"", xml_escape(c.id),
                         xml_escape(run.label), seconds(run.duration_s));
      if (run.match) {
        out += "/>\n";
        continue;
      }
      out += ">\n";
      out += fmt::format("      <failure message=\"{}\" type=\"{}\">{}</failure>\n",
                         xml_escape(failure_message(c, run)), run.error.empty() ? "divergence" : "run-error",
                         xml_escape(failure_details(c, run)));
      out += "    </testcase>\n";
    }
  }
  out += "  </testsuite>\n";
  if (r.golden) out += golden_suite(*r.golden, r.started_at);
  out += "</testsuites>\n";
  return out;
}

void write_junit(const std::string& path, const VerifyResults& results) {
  write_file_atomically(path, junit_xml(results));
}

}  // namespace lockstep::harness
