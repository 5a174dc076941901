#include "core/weights/safetensors_source.h"

#include <map>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/util/path_kind.h"
#include "core/weights/safetensors.h"

namespace lockstep {
namespace {

constexpr const char* kIndexName = "model.safetensors.index.json";
constexpr const char* kSingleName = "model.safetensors";

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}
std::string folder_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
}
std::string join(const std::string& folder, const std::string& name) {
  return folder.empty() || folder.back() == '/' ? folder + name : folder + "/" + name;
}

class SafetensorsSource : public TensorSource {
 public:
  explicit SafetensorsSource(std::string origin) : origin_(std::move(origin)) {}

  const std::string& origin() const override { return origin_; }

  std::vector<std::string> names() const override {
    std::vector<std::string> out;
    out.reserve(entries_.size());
    for (const auto& [name, entry] : entries_) out.push_back(name);
    return out;
  }

  const TensorMeta* find(const std::string& name) const override {
    auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : &it->second.meta;
  }

  void read_f32(const std::string& name, float* out) const override {
    auto it = entries_.find(name);
    if (it == entries_.end()) throw bad_input(origin_ + ": no tensor named '" + name + "'");
    const Entry& e = it->second;
    files_[e.file].read_f32(*e.info, out);
  }

  // Adds every tensor of `file`; a name already added from another shard is
  // a bad_input naming both files.
  void add(safetensors::File file) {
    const size_t index = files_.size();
    files_.push_back(std::move(file));
    const safetensors::File& f = files_.back();
    for (const safetensors::TensorInfo& info : f.tensors()) {
      TensorMeta meta{info.shape, std::string(safetensors::dtype_name(info.dtype))};
      auto [it, inserted] = entries_.emplace(info.name, Entry{index, &info, std::move(meta)});
      if (!inserted) {
        throw bad_input(origin_ + ": tensor '" + info.name + "' is in both " +
                        files_[it->second.file].path() + " and " + f.path());
      }
    }
  }

  const safetensors::File& file_of(const std::string& name) const {
    return files_[entries_.at(name).file];
  }

 private:
  struct Entry {
    size_t file;
    const safetensors::TensorInfo* info;  // owned by files_[file]'s Impl, stable across moves
    TensorMeta meta;
  };
  std::string origin_;
  std::vector<safetensors::File> files_;
  std::map<std::string, Entry> entries_;
};

std::unique_ptr<TensorSource> open_sharded(const std::string& index_path) {
  const safetensors::ShardIndex index = safetensors::read_shard_index(index_path);
  const std::string folder = folder_of(index_path);
  auto source = std::make_unique<SafetensorsSource>(index_path);
  const std::vector<std::string> shards = index.shards();
  for (const std::string& shard : shards) {
    const std::string shard_path = join(folder, shard);
    if (path_kind(shard_path) != PathKind::file) {
      throw bad_input(index_path + ": names shard '" + shard + "', but " + shard_path +
                      " does not exist (incomplete download?)");
    }
    source->add(safetensors::File::open(shard_path));
  }
  for (const auto& [name, shard] : index.weight_map) {
    const TensorMeta* meta = source->find(name);
    const std::string shard_path = join(folder, shard);
    if (meta == nullptr) {
      throw bad_input(index_path + ": tensor '" + name + "' is mapped to " + shard_path +
                      ", which does not hold it");
    }
    const std::string& actual = source->file_of(name).path();
    if (actual != shard_path) {
      throw bad_input(index_path + ": tensor '" + name + "' is mapped to " + shard_path +
                      " but is in " + actual);
    }
  }
  // A tensor a shard holds but the index does not map: the index and the
  // shards disagree, so neither can be trusted to be the checkpoint meant.
  for (const std::string& name : source->names()) {
    if (index.weight_map.count(name) == 0) {
      throw bad_input(index_path + ": tensor '" + name + "' is in " +
                      source->file_of(name).path() + " but not in the weight_map");
    }
  }
  return source;
}

}  // namespace

std::unique_ptr<TensorSource> open_safetensors(const std::string& path) {
  if (path_kind(path) == PathKind::directory) {
    const std::string index = join(path, kIndexName);
    if (path_kind(index) == PathKind::file) return open_sharded(index);
    const std::string single = join(path, kSingleName);
    if (path_kind(single) == PathKind::file) return open_safetensors(single);
    throw environment_error(path + ": folder has neither " + std::string(kIndexName) + " nor " +
                            kSingleName);
  }
  if (ends_with(path, ".index.json")) return open_sharded(path);
  auto source = std::make_unique<SafetensorsSource>(path);
  source->add(safetensors::File::open(path));
  return source;
}

}  // namespace lockstep
