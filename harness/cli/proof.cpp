// `lockstep proof verify | diff`: check proof files on their own, and compare
// two of them (a CPU proof and a GPU one, yesterday's and today's).
#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "harness/cli/check.h"
#include "harness/cli/command.h"
#include "harness/cli/exit_codes.h"
#include "harness/paths.h"
#include "harness/atomic_file.h"
#include "harness/proofs/proof.h"
#include "harness/proofs/proof_merge.h"
#include "harness/results/results.h"

namespace lockstep::cli {
namespace {

struct ProofOptions {
  std::vector<std::string> files;   // verify
  std::string public_key;           // verify: require signatures by this key
  std::string sign_file, key;       // sign
  std::string expected, actual;     // diff
  std::vector<std::string> merge_files;   // merge
  std::string merge_out;
  bool force = false;
  std::string require = "none";
  std::string level = "bits";
  double tolerance = harness::kDefaultCanonicalTolerance;
  bool json = false;
};

int verify_files(const ProofOptions& o) {
  const std::string trusted = o.public_key.empty() ? "" : harness::public_key_of(o.public_key);
  for (const std::string& path : o.files) {
    const nlohmann::ordered_json doc = harness::read_proof_json(path);
    if (doc.is_object() && doc.value("schema", "") == harness::kProofSetSchema) {
      if (!trusted.empty()) throw bad_input(path + ": a proof set; --public-key applies to single proofs");
      const harness::ProofSet set = harness::proofset_from_json(doc, path);
      std::cout << fmt::format("{}: valid {} of {} proofs (each valid): suite '{}', {} cases, {} with identical bits "
                               "and {} with identical tokens across all\n",
                               path, harness::kProofSetSchema, set.sources.size(), set.sources.front().proof.suite_name,
                               set.cases.size(), set.identical_bits(), set.identical_tokens());
      continue;
    }
    const harness::Proof p = harness::proof_from_json(doc, path);   // throws bad_input on any defect
    if (!trusted.empty() && (!p.signature || p.signature->public_key != trusted)) {
      throw bad_input(path + ": " + (p.signature ? "signed by another key" : "not signed") + "; --public-key " +
                      o.public_key + " was required");
    }
    size_t steps = 0;
    for (const harness::ProofCase& c : p.cases) steps += c.record.step_logits_sha256.size();
    std::cout << fmt::format("{}: valid {} proof: model {} ({}…), suite '{}', {} cases, {} steps, mode {}, {} {}, {}\n",
                             path, harness::kProofSchema, p.model_name, p.model_sha256.substr(0, 12),
                             p.suite_name, p.cases.size(), steps, p.environment.mode, p.device, p.dtype,
                             p.signature ? "signed (ed25519 " + p.signature->public_key.substr(0, 12) + "…)" : "unsigned");
  }
  return kOk;
}

int diff(const ProofOptions& o) {
  const harness::ProofLevel level = harness::parse_proof_level(o.level);
  const harness::Proof expected = harness::read_proof(o.expected);
  const harness::Proof actual = harness::read_proof(o.actual);
  const std::vector<harness::CaseVerdict> verdicts = harness::compare_proofs(expected, actual, level, o.tolerance);
  int64_t differing = 0;
  for (const harness::CaseVerdict& v : verdicts) differing += !v.match;
  if (o.json) {
    std::cout << nlohmann::ordered_json{{"expected", o.expected},
                                        {"actual", o.actual},
                                        {"level", harness::to_string(level)},
                                        {"verdict", differing == 0 ? "same" : "differ"},
                                        {"cases", verdicts}}
                     .dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace)
              << "\n";
  }
  for (const harness::CaseVerdict& v : verdicts) {
    if (v.match) continue;
    std::cerr << "proof diff: case '" << v.id << "': " << (v.divergence ? harness::describe(*v.divergence) : v.note)
              << "\n";
  }
  std::cerr << fmt::format("proof diff ({}): {} of {} cases differ\n", harness::to_string(level), differing,
                           verdicts.size());
  return differing == 0 ? kOk : kDiverged;
}

std::string label_of(const std::string& path) {
  std::string name = path.substr(path.find_last_of('/') + 1);
  for (const char* suffix : {".proof.json", ".json"}) {
    const std::string sx = suffix;
    if (name.size() > sx.size() && name.compare(name.size() - sx.size(), sx.size(), sx) == 0) {
      return name.substr(0, name.size() - sx.size());
    }
  }
  return name;
}

int merge(const ProofOptions& o) {
  if (o.require != "none" && o.require != "bits" && o.require != "tokens") {
    throw bad_input("--require-identical must be none, bits or tokens, not '" + o.require + "'");
  }
  if (!o.force && harness::is_regular_file(o.merge_out)) {
    throw bad_input(o.merge_out + " exists; it is replaced only with --force");
  }
  harness::check_writable(o.merge_out);
  std::vector<harness::MergeSource> sources;
  for (const std::string& path : o.merge_files) sources.push_back({label_of(path), harness::read_proof(path)});
  const harness::ProofSet set = harness::merge_proofs(std::move(sources));
  const nlohmann::ordered_json doc = harness::proofset_to_json(set);
  harness::write_file_atomically(o.merge_out, doc.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n");
  if (o.json) std::cout << doc["summary"].dump(2) << "\n";
  bool ok = true;
  for (const harness::MergedCase& c : set.cases) {
    const bool bits_same = c.bit_classes.size() == 1 && c.missing_from.empty();
    const bool tokens_same = c.token_classes == 1 && c.missing_from.empty();
    if (bits_same) continue;
    std::string classes;
    for (const auto& group : c.bit_classes) {
      classes += classes.empty() ? "{" : " | {";
      for (size_t i = 0; i < group.size(); ++i) classes += (i ? ", " : "") + group[i];
      classes += "}";
    }
    std::cerr << fmt::format("proof merge: case '{}': {} bit variant(s) {}, {} token sequence(s){}\n", c.id,
                             c.bit_classes.size(), classes, c.token_classes,
                             c.missing_from.empty() ? "" : fmt::format(", missing from {}", fmt::join(c.missing_from, ", ")));
    if (o.require == "bits" || (o.require == "tokens" && !tokens_same)) ok = false;
  }
  std::cerr << fmt::format("proof merge: wrote {}: {} proofs, {} cases: {} identical in every bit, {} in tokens\n",
                           o.merge_out, set.sources.size(), set.cases.size(), set.identical_bits(),
                           set.identical_tokens());
  return ok ? kOk : kDiverged;
}

int sign(const ProofOptions& o) {
  harness::Proof p = harness::read_proof(o.sign_file);
  const std::string digest = harness::proof_to_json(p)["digest"]["value"].get<std::string>();
  p.signature = harness::sign_digest(digest, o.key);
  harness::write_proof(o.sign_file, p, /*overwrite=*/true, "");
  std::cerr << "proof sign: " << o.sign_file << " signed (ed25519 " << p.signature->public_key << ")\n";
  return kOk;
}

}  // namespace

Command add_proof_command(CLI::App& parent) {
  auto o = std::make_shared<ProofOptions>();
  CLI::App* app = parent.add_subcommand("proof", "Check and compare proof files (lockstep.proof/1).");
  app->require_subcommand(1);
  CLI::App* check = app->add_subcommand("verify", "Check proof files: schema, every field, and the digest.");
  check->add_option("files", o->files, "Proof files")->required()->check(CLI::ExistingFile);
  check->add_option("--public-key", o->public_key,
                    "PEM Ed25519 key (public or private): every file must carry a valid signature by it")
      ->check(CLI::ExistingFile);
  check->footer("Exit codes: 0 every file is a valid, untampered proof; 2 otherwise (the message says why).");
  CLI::App* compare = app->add_subcommand("diff", "Compare two proofs case by case; name the first divergence.");
  compare->add_option("expected", o->expected, "The reference proof (e.g. the golden file)")->required();
  compare->add_option("actual", o->actual, "The proof to compare with it")->required();
  compare->add_option("--level", o->level,
                      "bits (tokens and every step's logits digest), tokens (output ids only) or canonical "
                      "(tokens, and every step's top candidates' logits within --tolerance, rounded to 1/1024)")
      ->capture_default_str();
  compare->add_option("--tolerance", o->tolerance, "Largest logit difference the canonical level accepts (default 1/256)");
  compare->add_flag("--json", o->json, "Print the verdicts as JSON on stdout");
  compare->footer("Exit codes: 0 same, 1 a case differs, 2 bad input (invalid proof, different models).");
  CLI::App* merger = app->add_subcommand(
      "merge", "Merge proofs of one model and suite (several machines or GPU types) into one proof set.");
  merger->add_option("files", o->merge_files, "Proof files (each labelled by its file name)")
      ->required()
      ->check(CLI::ExistingFile);
  merger->add_option("--out", o->merge_out, "Proof set file to write (lockstep.proofset/1)")->required();
  merger->add_flag("--force", o->force, "Replace an existing --out file");
  merger->add_option("--require-identical", o->require,
                     "none (report only), bits (every case identical in every bit across all proofs: portable "
                     "mode's promise) or tokens")
      ->capture_default_str();
  merger->add_flag("--json", o->json, "Print the summary as JSON on stdout");
  merger->footer(
      "Writes the sources whole (each keeps its digest and signature) and, per case, which sources share the "
      "same bits and how many token sequences there are; `proof verify` checks a proof set.\n"
      "Exit codes: 0 written (and, with --require-identical, every case identical), 1 a case differs where "
      "required, 2 bad input (invalid proof, different models or suites).");
  CLI::App* signer = app->add_subcommand("sign", "Add an Ed25519 signature of the digest to a proof file.");
  signer->add_option("file", o->sign_file, "Proof file (rewritten atomically with the signature)")
      ->required()
      ->check(CLI::ExistingFile);
  signer->add_option("--key", o->key, "PEM Ed25519 private key (openssl genpkey -algorithm ed25519)")
      ->required()
      ->check(CLI::ExistingFile);
  signer->footer("Exit codes: 0 signed; 2 not a valid proof, or not an Ed25519 private key.");
  // export: one reference run of every case, written as a proof.
  auto e = std::make_shared<VerifyOptions>();
  auto force = std::make_shared<bool>(false);
  CLI::App* exporter = add_check(*app, "export", "Run every case once and write its proof file.",
                                 "Writes --out FILE atomically; an existing file is replaced only with --force. "
                                 "Compare proofs later with `proof diff` or `verify --golden`.",
                                 e);
  for (const char* name : {"--golden", "--update-golden", "--golden-level", "--golden-tolerance"}) exporter->get_option(name)->group("");
  exporter->add_option("--out", e->golden, "Proof file to write")->required();
  exporter->add_flag("--force", *force, "Replace an existing file");
  return {app, [o, check, compare, signer, merger, exporter, e, force] {
            if (check->parsed()) return verify_files(*o);
            if (merger->parsed()) return merge(*o);
            if (signer->parsed()) return sign(*o);
            if (exporter->parsed()) {
              if (!*force && harness::is_regular_file(e->golden)) {
                throw bad_input(e->golden + " exists; it is replaced only with --force");
              }
              if (e->update_golden) {
                throw bad_input("proof export always writes --out; --update-golden does not apply");
              }
              VerifyOptions run = *e;
              run.runs = 1;
              run.processes = 0;
              run.update_golden = true;
              run.create_golden_dir = true;   // --out names the file to make, folders included
              return run_check(run);
            }
            return diff(*o);
          }};
}

}  // namespace lockstep::cli
