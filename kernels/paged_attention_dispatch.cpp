// kernels/paged_attention.h: the step's view of the cache and the choice
// between the fused kernel and per-sequence SDPA.
#include "kernels/paged_attention.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <tuple>
#include <vector>

#include "kernels/cpu/ops.h"
#include "kernels/mode.h"
#ifdef LOCKSTEP_WITH_CUDA
#include "kernels/cuda/ops.h"
#endif
#ifdef LOCKSTEP_FAULT_INJECTION
#include "kernels/fault/fault.h"
#endif

namespace lockstep::kernels {
namespace {

// Row of (position, kv head) in a layer's cache seen as [blocks * Hkv * block, D].
int64_t cache_row(const std::vector<int32_t>& blocks, int64_t pos, int64_t head, int64_t kv_heads, int64_t block) {
  return (int64_t{blocks[static_cast<size_t>(pos / block)]} * kv_heads + head) * block + pos % block;
}

// aten SDPA over one sequence's keys: the definition the fused kernel
// matches. Query i sits at position pos0 + i and sees keys 0 .. pos0 + i
// (with a window w, only those less than w behind it). SDPA's is_causal is
// top-left aligned, right only when the queries start at 0; a single query
// sees every key it is given; otherwise an explicit mask.
at::Tensor sdpa_one(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t pos0, int64_t window,
                    std::optional<double> scale) {
  const int64_t t = q.size(2), total = k.size(2);
  std::optional<at::Tensor> mask;
  bool causal = false;
  if (window > 0 && total > window) {
    const at::Tensor rows = at::arange(pos0, total, at::kLong).unsqueeze(1);
    const at::Tensor cols = at::arange(0, total, at::kLong).unsqueeze(0);
    mask = ((cols <= rows) & (rows - cols < window)).to(q.device());
  } else if (t > 1 && pos0 == 0) {
    causal = true;
  } else if (t > 1) {
    mask = at::ones({t, total}, at::TensorOptions().dtype(at::kBool).device(q.device())).tril(pos0);
  }
  return at::scaled_dot_product_attention(q, k, v, mask, 0.0, causal, scale, /*enable_gqa=*/true);
}

// A sequence's keys 0 .. total-1 as [1, Hkv, total, D]: its blocks (a view
// when they are consecutive, else gathered by `gather`), heads first, cut to total.
at::Tensor keys_of(const at::Tensor& cache, const PagedStep::Sequence& s, const at::Tensor& gather, int64_t block,
                   int64_t total) {
  const int64_t nblocks = (total + block - 1) / block;
  const at::Tensor blocks = gather.defined() ? cache.index_select(0, gather) : cache.narrow(0, s.blocks[0], nblocks);
  // [nblocks, Hkv, block, D] -> [Hkv, nblocks * block, D]
  const at::Tensor heads = blocks.permute({1, 0, 2, 3}).reshape({cache.size(1), nblocks * block, cache.size(3)});
  return heads.narrow(1, 0, total).unsqueeze(0);
}

at::Tensor per_sequence(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                        const PagedStep& step, std::optional<double> scale) {
  std::vector<at::Tensor> outs;
  for (size_t i = 0; i < step.sequences().size(); ++i) {
    const PagedStep::Sequence& s = step.sequences()[i];
    const int64_t total = s.pos0 + s.length;
    const at::Tensor qs = q.narrow(0, s.offset, s.length).transpose(0, 1).unsqueeze(0);
    const at::Tensor k = keys_of(k_cache, s, step.gather(i), step.block(), total);
    const at::Tensor v = keys_of(v_cache, s, step.gather(i), step.block(), total);
    outs.push_back(sdpa_one(qs, k, v, s.pos0, step.window(), scale)[0].transpose(0, 1));
  }
  return outs.size() == 1 ? outs[0].contiguous() : at::cat(outs, 0);
}

}  // namespace

// Mode off on CUDA in half precision: one stock call per layer, FlashAttention
// 2's variable-length kernel (what torch's SDPA runs for these shapes) over
// the step's keys gathered from the blocks into one packed [keys, Hkv, D]
// tensor. Flash's causal mask is bottom-right aligned, which is what a chunk
// at pos0 needs; a window of w keys is flash's left window w - 1.
at::Tensor stock_varlen(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                        const PagedStep& step, std::optional<double> scale) {
  const int64_t hkv = k_cache.size(1), block = step.block();
  if (!step.stock_rows_.defined()) {
    std::vector<int64_t> rows;
    std::vector<int32_t> cum{0};   // cumulative keys per sequence, then cumulative queries
    for (const PagedStep::Sequence& s : step.sequences()) {
      const int64_t total = s.pos0 + s.length;
      for (int64_t j = 0; j < total; ++j) {
        for (int64_t h = 0; h < hkv; ++h) rows.push_back(cache_row(s.blocks, j, h, hkv, block));
      }
      step.stock_max_queries_ = std::max(step.stock_max_queries_, s.length);
      step.stock_max_keys_ = std::max(step.stock_max_keys_, total);
      cum.push_back(cum.back() + static_cast<int32_t>(total));
    }
    cum.push_back(0);
    for (const PagedStep::Sequence& s : step.sequences()) cum.push_back(cum.back() + static_cast<int32_t>(s.length));
    step.stock_rows_ = upload(at::tensor(rows, at::kLong), q.device());
    step.stock_cum_ = upload(at::tensor(cum, at::kInt), q.device());
  }
  const auto nseq = static_cast<int64_t>(step.sequences().size());
  const int64_t total_keys = step.stock_rows_.numel() / hkv;
  const at::Tensor k = k_cache.view({-1, k_cache.size(3)}).index_select(0, step.stock_rows_).view({total_keys, hkv, -1});
  const at::Tensor v = v_cache.view({-1, v_cache.size(3)}).index_select(0, step.stock_rows_).view({total_keys, hkv, -1});
  const at::Tensor cum_k = step.stock_cum_.narrow(0, 0, nseq + 1);
  const at::Tensor cum_q = step.stock_cum_.narrow(0, nseq + 1, nseq + 1);
  std::optional<int64_t> left, right;
  if (step.window() > 0) {
    left = step.window() - 1;
    right = 0;
  }
  return std::get<0>(at::_flash_attention_forward(q.contiguous(), k, v, cum_q, cum_k, step.stock_max_queries_,
                                                  step.stock_max_keys_, 0.0, /*is_causal=*/true,
                                                  /*return_debug_mask=*/false, scale, left, right));
}

PagedStep::PagedStep(std::vector<Sequence> sequences, int64_t block, int64_t window, int64_t kv_heads,
                     at::Device device, const Fixed* fixed)
    : seqs_(std::move(sequences)), block_(block), window_(window), kv_heads_(kv_heads), device_(device) {
  TORCH_CHECK(!seqs_.empty(), "PagedStep: no sequences");
  TORCH_CHECK(block_ > 0 && window_ >= 0 && kv_heads_ > 0, "PagedStep: block and kv_heads must be > 0, window >= 0");
  int64_t width = 1;
  for (const Sequence& s : seqs_) {
    TORCH_CHECK(s.offset == tokens_ && s.length > 0 && s.pos0 >= 0,
                "PagedStep: sequences must hold consecutive, non-empty runs of tokens");
    TORCH_CHECK(static_cast<int64_t>(s.blocks.size()) * block_ >= s.pos0 + s.length,
                "PagedStep: a block table is too short for its positions");
    tokens_ += s.length;
    width = std::max<int64_t>(width, static_cast<int64_t>(s.blocks.size()));
    max_keys_ = std::max(max_keys_, s.pos0 + s.length);
  }
  if (fixed != nullptr) {
    TORCH_CHECK(width <= fixed->table_width && max_keys_ <= fixed->max_keys,
                "PagedStep: a sequence does not fit the graph's fixed shapes");
    width = fixed->table_width;
    max_keys_ = fixed->max_keys;
  }
  const auto nseq = static_cast<int64_t>(seqs_.size());
  tables_ = at::zeros({nseq, width}, at::kInt);
  tok_seq_ = at::empty({tokens_}, at::kLong);
  tok_pos_ = at::empty({tokens_}, at::kLong);
  // What the device needs, in ONE int64 buffer copied once per step (pinned,
  // asynchronous: the host goes on building the step while it travels):
  // rows [N * Hkv] | positions [N] | tables [nseq, width] | seqs [nseq, 3].
  const int64_t nrows = tokens_ * kv_heads_;
  at::Tensor meta = at::zeros({meta_size(tokens_, nseq, width, kv_heads_)},
                              at::TensorOptions().dtype(at::kLong).pinned_memory(device.is_cuda()));
  int32_t* tab = tables_.data_ptr<int32_t>();
  int64_t* seq = tok_seq_.data_ptr<int64_t>();
  int64_t* pos = tok_pos_.data_ptr<int64_t>();
  int64_t* row = meta.data_ptr<int64_t>();
  int64_t* pos_dev = row + nrows;
  int64_t* tab64 = pos_dev + tokens_;
  int64_t* info = tab64 + nseq * width;
  for (size_t b = 0; b < seqs_.size(); ++b) {
    const Sequence& s = seqs_[b];
    const auto bi = static_cast<int64_t>(b);
    std::copy(s.blocks.begin(), s.blocks.end(), tab + bi * width);
    std::copy(s.blocks.begin(), s.blocks.end(), tab64 + bi * width);
    info[3 * bi] = s.offset;
    info[3 * bi + 1] = s.length;
    info[3 * bi + 2] = s.pos0;
    for (int64_t i = 0; i < s.length; ++i) {
      const int64_t n = s.offset + i, p = s.pos0 + i;
      seq[n] = bi;
      pos[n] = p;
      pos_dev[n] = p;
      for (int64_t h = 0; h < kv_heads_; ++h) {
        row[n * kv_heads_ + h] = cache_row(s.blocks, p, h, kv_heads_, block_);
      }
    }
  }
  at::Tensor dev;
  if (fixed != nullptr) {
    // Device types, not devices: a tensor on "cuda" reports "cuda:0".
    TORCH_CHECK(fixed->meta.numel() == meta.numel() && fixed->meta.device().type() == device.type(),
                "PagedStep: the graph's buffer does not fit (", fixed->meta.numel(), " elements on ",
                fixed->meta.device(), ", the step needs ", meta.numel(), " on ", device, ")");
    dev = fixed->meta;
    dev.copy_(meta, /*non_blocking=*/true);
  } else {
    dev = device.is_cpu() ? meta : meta.to(device, /*non_blocking=*/true);
  }
  rows_dev_ = dev.narrow(0, 0, nrows);
  tok_pos_dev_ = dev.narrow(0, nrows, tokens_);
  tables_dev_ = dev.narrow(0, nrows + tokens_, nseq * width).view({nseq, width});
  seqs_dev_ = dev.narrow(0, nrows + tokens_ + nseq * width, 3 * nseq);
  for (const Sequence& s : seqs_) {
    const int64_t nblocks = (s.pos0 + s.length + block_ - 1) / block_;
    bool consecutive = true;
    for (int64_t i = 1; i < nblocks && consecutive; ++i) consecutive = s.blocks[i] == s.blocks[0] + i;
    gathers_.push_back(consecutive ? at::Tensor()
                                   : tables_dev_[static_cast<int64_t>(gathers_.size())].narrow(0, 0, nblocks));
  }
}

void PagedStep::prepare_cuda(int64_t group) const {
#ifdef LOCKSTEP_WITH_CUDA
  if (cuda_tiles_.defined() && cuda_group_ == group) return;
  std::vector<int64_t> lengths;
  for (const Sequence& seq : seqs_) lengths.push_back(seq.length);
  cuda::PagedTiles tiles = cuda::paged_tiles(lengths, group, kv_heads_);
  cuda_tiles_ = upload(tiles.map, device_);
  cuda_row_tile_ = tiles.row_tile;
  cuda_group_ = group;
#else
  (void)group;
#endif
}

at::Tensor upload(const at::Tensor& host, at::Device device) {
  if (device.is_cpu()) return host;
  return host.pin_memory().to(device, /*non_blocking=*/true);
}

void PagedStep::write(const at::Tensor& cache, const at::Tensor& x) const {
  TORCH_CHECK(cache.dim() == 4 && cache.size(1) == kv_heads_ && cache.size(2) == block_ && cache.is_contiguous() &&
                  x.dim() == 3 && x.size(0) == tokens_ && x.size(1) == kv_heads_ && x.size(2) == cache.size(3),
              "PagedStep::write: cache ", cache.sizes(), " and rows ", x.sizes(), " do not fit the step");
  cache.view({-1, cache.size(3)}).index_copy_(0, rows_dev_, x.reshape({tokens_ * kv_heads_, x.size(2)}));
}

at::Tensor paged_attention(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                           const PagedStep& step, std::optional<double> scale) {
  TORCH_CHECK(q.dim() == 3 && q.size(0) == step.tokens(), "paged_attention: q must be [", step.tokens(),
              ", Hq, D], got ", q.sizes());
  const bool invariant = mode() == Mode::batch_invariant;
  const at::ScalarType t = q.scalar_type();
  bool fused = invariant && q.is_cpu() && (t == at::kFloat || t == at::kBFloat16);
#ifdef LOCKSTEP_WITH_CUDA
  const bool fused_cuda = invariant && q.is_cuda() && (t == at::kFloat || t == at::kBFloat16 || t == at::kHalf);
#else
  const bool fused_cuda = false;
#endif
#ifdef LOCKSTEP_FAULT_INJECTION
  if (fault::attention_kv_split() > 0) fused = false;   // the fault lives in the SDPA path
#endif
  const double s = scale.value_or(1.0 / std::sqrt(static_cast<double>(q.size(2))));
  if (fused) {
    return cpu::paged_attention(q.stride(2) == 1 ? q : q.contiguous(), k_cache, v_cache, step.tables_, step.tok_seq_,
                                step.tok_pos_, step.block_, step.window_, s);
  }
#ifdef LOCKSTEP_WITH_CUDA
  if (fused_cuda) {
    step.prepare_cuda(q.size(1) / std::max<int64_t>(1, k_cache.size(1)));
    return cuda::paged_attention(q.stride(2) == 1 ? q : q.contiguous(), k_cache, v_cache, step.tables_dev_,
                                 step.seqs_dev_, step.cuda_tiles_, step.cuda_row_tile_, step.block_, step.window_,
                                 step.max_keys_, s);
  }
  if (mode() == Mode::off && q.is_cuda() && (t == at::kBFloat16 || t == at::kHalf) && q.size(2) % 8 == 0 &&
      q.size(2) <= 256 && q.size(2) == v_cache.size(3)) {
    return stock_varlen(q, k_cache, v_cache, step, scale);
  }
#endif
  return per_sequence(q, k_cache, v_cache, step, scale);
}

}  // namespace lockstep::kernels
