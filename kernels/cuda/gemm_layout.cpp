#include "kernels/cuda/gemm_layout.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <string>

namespace lockstep::kernels::cuda::gemm {

int alignment_bytes(std::initializer_list<uint64_t> values) {
  uint64_t align = 16;
  for (uint64_t v : values) {
    if (v == 0) continue;  // zero is divisible by anything
    align = std::min<uint64_t>(align, v & (~v + 1));  // lowest set bit
  }
  return static_cast<int>(align);
}

int promised_a_alignment(int64_t k, int64_t elem_bytes) {
  return alignment_bytes({static_cast<uint64_t>(std::max<int64_t>(k, 1) * elem_bytes)});
}

AMapping map_a(const MatrixView& a) {
  const int64_t m = a.rows, k = a.cols, e = a.elem_bytes;
  const int64_t kk = std::max<int64_t>(k, 1);
  const bool row_major = (k == 1 || a.col_stride == 1) && (m == 1 || a.row_stride >= kk);
  AMapping out;
  out.ld = (m == 1 || !row_major) ? kk : a.row_stride;
  out.batch_stride = a.batch == 1 ? 0 : a.batch_stride;
  const uint64_t need = static_cast<uint64_t>(promised_a_alignment(k, e));
  out.in_place = row_major && a.address % need == 0 && static_cast<uint64_t>(out.ld * e) % need == 0 &&
                 static_cast<uint64_t>(out.batch_stride * e) % need == 0;
  if (!out.in_place) {  // what the caller's contiguous copy looks like
    out.ld = kk;
    out.batch_stride = a.batch == 1 ? 0 : m * k;
  }
  return out;
}

BMapping map_b(const MatrixView& b) {
  const int64_t k = b.rows, n = b.cols, e = b.elem_bytes;
  const int64_t kk = std::max<int64_t>(k, 1), nn = std::max<int64_t>(n, 1);
  BMapping out;
  out.batch_stride = b.batch == 1 ? 0 : b.batch_stride;
  const bool row_major = (n == 1 || b.col_stride == 1) && (k == 1 || b.row_stride >= nn);
  const bool col_major = (k == 1 || b.row_stride == 1) && (n == 1 || b.col_stride >= kk);
  if (row_major) {
    out.in_place = true;
    out.order = BOrder::row_major;
    out.ld = k == 1 ? nn : b.row_stride;
  } else if (col_major) {
    out.in_place = true;
    out.order = BOrder::col_major;
    out.ld = n == 1 ? kk : b.col_stride;
  } else {
    out.in_place = false;
    out.order = BOrder::row_major;
    out.ld = nn;
    out.batch_stride = b.batch == 1 ? 0 : k * n;
    // A fresh allocation is 256-byte aligned; k*n*e is a multiple of n*e.
    out.align = alignment_bytes({static_cast<uint64_t>(nn * e)});
    return out;
  }
  out.align = alignment_bytes({b.address, static_cast<uint64_t>(out.ld * e),
                               static_cast<uint64_t>(out.batch_stride * e)});
  return out;
}

namespace {
uint32_t float_bits(float x) {   // keys compare scalars by their bits (NaN equals itself, -0 is not +0)
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}
}  // namespace

bool PlanKey::operator==(const PlanKey& o) const {
  return device == o.device && dtype == o.dtype && n == o.n && k == o.k && b_order == o.b_order &&
         b_ld == o.b_ld && b_align == o.b_align && with_c == o.with_c && batched == o.batched &&
         float_bits(alpha) == float_bits(o.alpha) && float_bits(beta) == float_bits(o.beta);
}

// Plain string building, no iostreams: see AlgoSignature::str().
std::string PlanKey::str() const {
  using std::to_string;
  return "dev" + to_string(device) + " dtype" + to_string(dtype) + " N=" + to_string(n) + " K=" + to_string(k) +
         (b_order == BOrder::row_major ? " B:row" : " B:col") + " ldb=" + to_string(b_ld) +
         " alignB=" + to_string(b_align) + (with_c ? " +C" : "") + (batched ? " batched" : "") +
         (alpha != 1.0f || beta != 1.0f ? " alpha=" + to_string(alpha) + " beta=" + to_string(beta) : "");
}

size_t PlanKeyHash::operator()(const PlanKey& key) const {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  };
  mix(static_cast<uint64_t>(key.device));
  mix(static_cast<uint64_t>(key.dtype));
  mix(static_cast<uint64_t>(key.n));
  mix(static_cast<uint64_t>(key.k));
  mix(static_cast<uint64_t>(key.b_order));
  mix(static_cast<uint64_t>(key.b_ld));
  mix(static_cast<uint64_t>(key.b_align));
  mix(static_cast<uint64_t>(key.with_c) * 2 + static_cast<uint64_t>(key.batched));
  mix((uint64_t{float_bits(key.alpha)} << 32) | float_bits(key.beta));
  return static_cast<size_t>(h);
}

bool AlgoSignature::operator==(const AlgoSignature& o) const {
  return id == o.id && tile == o.tile && stages == o.stages && splitk == o.splitk && reduction == o.reduction &&
         swizzle == o.swizzle && custom == o.custom && inner_shape == o.inner_shape &&
         cluster_shape == o.cluster_shape;
}

// No std::ostringstream here or anywhere in the plan code: inside a Python
// process (torch.ops.load_library) formatting an integer through an ostream
// in this library crashed in the locale machinery (H100 host, torch 2.11
// wheel, 2026-11-23), while std::to_string is plain snprintf.
std::string AlgoSignature::str() const {
  using std::to_string;
  return "algo" + to_string(id) + "/tile" + to_string(tile) + "/stages" + to_string(stages) + "/splitk" +
         to_string(splitk) + "/red" + to_string(reduction) + "/swz" + to_string(swizzle) + "/opt" +
         to_string(custom) + "/inner" + to_string(inner_shape) + "/cluster" + to_string(cluster_shape);
}

int rung_for_m(int64_t m) {
  for (int r = 0; r < kNumRungs; ++r) {
    if (kRungs[static_cast<size_t>(r)] >= m) return r;
  }
  return kNumRungs - 1;
}

std::vector<int64_t> probe_ms_for_rung(int r) {
  const int64_t hi = kRungs[static_cast<size_t>(r)];
  const int64_t lo = r == 0 ? 1 : kRungs[static_cast<size_t>(r - 1)] + 1;
  std::set<int64_t> ms = {lo, hi, std::min(hi, (lo + hi) / 2 | 1)};
  if (r == kNumRungs - 1) {
    for (int64_t big : {int64_t{4097}, int64_t{8191}, int64_t{65537}, int64_t{1} << 20}) ms.insert(big);
  }
  return {ms.begin(), ms.end()};
}

Plan choose_plan(const std::vector<std::vector<int>>& ranked_per_rung, int reference,
                 const std::function<bool(int, int)>& equivalent, int max_tried) {
  Plan plan;
  if (reference < 0) return plan;
  plan.empty = false;
  plan.reference = reference;
  for (int r = 0; r < kNumRungs; ++r) {
    int chosen = reference;
    if (static_cast<size_t>(r) < ranked_per_rung.size()) {
      const std::vector<int>& ranked = ranked_per_rung[static_cast<size_t>(r)];
      const int tries = std::min<int>(max_tried, static_cast<int>(ranked.size()));
      for (int i = 0; i < tries; ++i) {
        const int candidate = ranked[static_cast<size_t>(i)];
        if (candidate == reference || equivalent(candidate, reference)) {
          chosen = candidate;
          break;
        }
      }
    }
    plan.rung_algo[static_cast<size_t>(r)] = chosen;
  }
  return plan;
}

}  // namespace lockstep::kernels::cuda::gemm
