// `lockstep tokenize`: token ids of text, for comparison with other tokenizers.
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/tokenizer/tokenizer.h"
#include "core/weights/gguf.h"
#include "harness/cli/command.h"
#include "harness/cli/exit_codes.h"
#include "harness/model_source.h"
#include "harness/results/results.h"

namespace lockstep::cli {
namespace {

struct TokenizeOptions {
  std::string model;
  std::string tokenizer;   // tokenizer.json or a folder holding one, instead of --model
  std::string text;
  std::string input;
  bool no_special = false;
  bool json = false;
};

std::vector<std::string> read_inputs(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw bad_input("--input " + path + ": cannot open the file");
  std::ostringstream text;
  text << in.rdbuf();
  nlohmann::ordered_json doc;
  try {
    doc = nlohmann::ordered_json::parse(text.str());
  } catch (const nlohmann::ordered_json::parse_error& e) {
    throw bad_input("--input " + path + ": invalid JSON: " + e.what());
  }
  if (!doc.is_array()) throw bad_input("--input " + path + ": expected a JSON array of strings");
  std::vector<std::string> texts;
  for (size_t i = 0; i < doc.size(); ++i) {
    if (!doc[i].is_string()) throw bad_input("--input " + path + ": element " + std::to_string(i) + " is not a string");
    texts.push_back(doc[i].get<std::string>());
  }
  return texts;
}

std::string joined(const std::vector<int32_t>& ids) {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) out += (i ? " " : "") + std::to_string(ids[i]);
  return out;
}

int tokenize(const TokenizeOptions& o, bool batch) {
  const std::vector<std::string> texts = batch ? read_inputs(o.input) : std::vector<std::string>{o.text};
  // Only the tokenizer's metadata is read; the weights stay unmapped.
  const Tokenizer tokenizer =
      o.tokenizer.empty() ? Tokenizer::from_gguf(gguf::File::open(harness::resolve_model_path(o.model)))
                          : Tokenizer::from_hf(o.tokenizer);

  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  for (const std::string& text : texts) {
    const std::vector<int32_t> ids = tokenizer.encode(text, !o.no_special);
    if (o.json) {
      all.push_back(ids);
    } else {
      std::cout << joined(ids) << "\n";
    }
  }
  if (o.json) std::cout << harness::dump_json(batch ? all : all[0], -1) << "\n";
  return kOk;
}

}  // namespace

Command add_tokenize_command(CLI::App& parent) {
  auto o = std::make_shared<TokenizeOptions>();
  CLI::App* app = parent.add_subcommand("tokenize", "Print the token ids of text (no BOS is added).");
  auto* model = app->add_option("--model", o->model, kModelHelp);
  app->add_option("--tokenizer", o->tokenizer,
                  "Hugging Face tokenizer.json, or a folder holding it (with tokenizer_config.json), "
                  "instead of the model's GGUF tokenizer")
      ->excludes(model);
  auto* text = app->add_option("--text", o->text, "Text to tokenize");
  auto* input = app->add_option("--input", o->input, "JSON file holding an array of strings; one id list each");
  text->excludes(input);
  app->add_flag("--no-special", o->no_special,
                "Tokenize special-token text such as <|im_start|> as plain text instead of its id");
  app->add_flag("--json", o->json, "Print JSON: an array of ids (with --input: an array of arrays)");
  return {app, [o, text, input] {
            if (text->count() == 0 && input->count() == 0) throw bad_input("give --text TEXT or --input FILE.json");
            return tokenize(*o, input->count() > 0);
          }};
}

}  // namespace lockstep::cli
