#include "kernels/cuda/cublaslt_pinned.h"
#include "kernels/cuda/gemm_small_m.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/util/Exception.h>
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

namespace lockstep::kernels::cuda::gemm {
namespace {

#define LOCKSTEP_LT_CHECK(expr)                                                                      \
  do {                                                                                               \
    const cublasStatus_t lockstep_status_ = (expr);                                                  \
    TORCH_CHECK(lockstep_status_ == CUBLAS_STATUS_SUCCESS, "cuBLASLt: ", #expr, " failed with status ", \
                static_cast<int>(lockstep_status_));                                                 \
  } while (0)

constexpr int kHeuristicCount = 8;
constexpr int64_t kProbeM = 67;            // ragged: partial tiles in M on purpose
constexpr int64_t kSelectionBatch = 8;     // batched keys: heuristic asked at this batch count
constexpr int64_t kMaxBatchPerCall = 4096; // larger batches run in chunks (same bits per matrix)

cudaDataType_t lt_type(int dtype) {
  switch (static_cast<at::ScalarType>(dtype)) {
    case at::kFloat: return CUDA_R_32F;
    case at::kHalf: return CUDA_R_16F;
    case at::kBFloat16: return CUDA_R_16BF;
    default: TORCH_CHECK(false, "pinned GEMM: unsupported dtype ", static_cast<at::ScalarType>(dtype));
  }
}

// Descriptors of one call, in pre-allocated opaque storage (no heap work per
// call). Lt's A is our B, Lt's B our A, Lt's C = D our out (see gemm_layout.h).
struct Descriptors {
  cublasLtMatmulDescOpaque_t op;
  cublasLtMatrixLayoutOpaque_t lt_a, lt_b, lt_c;

  Descriptors(const PlanKey& key, int64_t m, int64_t batch, int64_t a_ld, int64_t a_batch_stride,
              int64_t b_batch_stride) {
    const cudaDataType_t type = lt_type(key.dtype);
    LOCKSTEP_LT_CHECK(cublasLtMatmulDescInit(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t trans_a = key.b_order == BOrder::row_major ? CUBLAS_OP_N : CUBLAS_OP_T;
    const cublasOperation_t trans_b = CUBLAS_OP_N;
    LOCKSTEP_LT_CHECK(cublasLtMatmulDescSetAttribute(&op, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof(trans_a)));
    LOCKSTEP_LT_CHECK(cublasLtMatmulDescSetAttribute(&op, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof(trans_b)));
    const uint64_t n = static_cast<uint64_t>(key.n), k = static_cast<uint64_t>(key.k);
    const uint64_t mm = static_cast<uint64_t>(m);
    if (key.b_order == BOrder::row_major) {
      LOCKSTEP_LT_CHECK(cublasLtMatrixLayoutInit(&lt_a, type, n, k, key.b_ld));
    } else {
      LOCKSTEP_LT_CHECK(cublasLtMatrixLayoutInit(&lt_a, type, k, n, key.b_ld));
    }
    LOCKSTEP_LT_CHECK(cublasLtMatrixLayoutInit(&lt_b, type, k, mm, a_ld));
    LOCKSTEP_LT_CHECK(cublasLtMatrixLayoutInit(&lt_c, type, n, mm, key.n));
    if (key.batched) {
      const int32_t count = static_cast<int32_t>(batch);
      const int64_t c_stride = m * key.n;
      set_batch(&lt_a, count, b_batch_stride);
      set_batch(&lt_b, count, a_batch_stride);
      set_batch(&lt_c, count, c_stride);
    }
  }

  static void set_batch(cublasLtMatrixLayoutOpaque_t* layout, int32_t count, int64_t stride) {
    LOCKSTEP_LT_CHECK(
        cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
    LOCKSTEP_LT_CHECK(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                                       &stride, sizeof(stride)));
  }
};

// What selection assumes about our A (canonical, contiguous) and B's batch stride.
Descriptors selection_descriptors(const PlanKey& key, int64_t m, int64_t batch) {
  const int64_t b_outer = key.b_order == BOrder::row_major ? key.k : key.n;
  return Descriptors(key, m, batch, key.k, m * key.k, b_outer * key.b_ld);
}

template <typename T>
T read_config(const cublasLtMatmulAlgo_t& algo, cublasLtMatmulAlgoConfigAttributes_t attr, T fallback) {
  T value = fallback;
  size_t written = 0;
  if (cublasLtMatmulAlgoConfigGetAttribute(&algo, attr, &value, sizeof(value), &written) != CUBLAS_STATUS_SUCCESS) {
    return fallback;
  }
  return value;
}

AlgoSignature signature_of(const cublasLtMatmulAlgo_t& algo) {
  AlgoSignature s;
  s.id = read_config<int32_t>(algo, CUBLASLT_ALGO_CONFIG_ID, -1);
  s.tile = read_config<uint32_t>(algo, CUBLASLT_ALGO_CONFIG_TILE_ID, 0);
  s.stages = read_config<uint32_t>(algo, CUBLASLT_ALGO_CONFIG_STAGES_ID, 0);
  s.splitk = read_config<int32_t>(algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, 1);
  s.reduction = read_config<uint32_t>(algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, 0);
  s.swizzle = read_config<uint32_t>(algo, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, 0);
  s.custom = read_config<uint32_t>(algo, CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION, 0);
  s.inner_shape = read_config<uint16_t>(algo, CUBLASLT_ALGO_CONFIG_INNER_SHAPE_ID, 0);
  s.cluster_shape = read_config<uint16_t>(algo, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID, 0);
  return s;
}

// Split-K off: each output element's K reduction runs in one sequence.
bool force_single_k_pass(cublasLtMatmulAlgo_t* algo) {
  const int32_t one = 1;
  const uint32_t none = CUBLASLT_REDUCTION_SCHEME_NONE;
  return cublasLtMatmulAlgoConfigSetAttribute(algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &one, sizeof(one)) ==
             CUBLAS_STATUS_SUCCESS &&
         cublasLtMatmulAlgoConfigSetAttribute(algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &none, sizeof(none)) ==
             CUBLAS_STATUS_SUCCESS;
}

bool accepts(cublasLtHandle_t handle, Descriptors& d, const cublasLtMatmulAlgo_t& algo) {
  cublasLtMatmulHeuristicResult_t result{};
  if (cublasLtMatmulAlgoCheck(handle, &d.op, &d.lt_a, &d.lt_b, &d.lt_c, &d.lt_c, &algo, &result) !=
      CUBLAS_STATUS_SUCCESS) {
    return false;
  }
  return result.workspaceSize <= kWorkspaceBytes;
}

struct Candidate {
  cublasLtMatmulAlgo_t algo;
  AlgoSignature sig;
};

struct PinnedPlan {
  Plan plan;
  std::vector<Candidate> candidates;
  bool small_m = false;  // M <= kSmallMaxM runs gemm_small_m.cu (probed: the plan's bits)
  std::string description;
};

// The workspace of one (device, stream): allocated once, reused in stream
// order, never freed (a static destructor would run after the allocator's).
void* workspace_for(int device, cudaStream_t stream) {
  thread_local std::map<std::pair<int, cudaStream_t>, void*> seen;  // the per-call path takes no lock
  if (auto hit = seen.find({device, stream}); hit != seen.end()) return hit->second;
  static std::mutex mutex;
  static auto* spaces = new std::map<std::pair<int, cudaStream_t>, c10::DataPtr>();
  std::lock_guard<std::mutex> lock(mutex);
  auto it = spaces->find({device, stream});
  if (it == spaces->end()) {
    c10::DataPtr space = c10::cuda::CUDACachingAllocator::get()->allocate(kWorkspaceBytes);
    it = spaces->emplace(std::make_pair(device, stream), std::move(space)).first;
  }
  return seen[{device, stream}] = it->second.get();
}

cublasStatus_t run_algo(cublasLtHandle_t handle, Descriptors& d, const cublasLtMatmulAlgo_t& algo, const void* a,
                        const void* b, void* out, float alpha, float beta, int device, cudaStream_t stream) {
  void* workspace = workspace_for(device, stream);
  // Lt's A pointer is our B and Lt's B pointer our A; C and D are `out`.
  return cublasLtMatmul(handle, &d.op, &alpha, b, &d.lt_a, a, &d.lt_b, &beta, out, &d.lt_c, out, &d.lt_c, &algo,
                        workspace, kWorkspaceBytes, stream);
}

at::Tensor random_tensor(int64_t count, at::ScalarType dtype, int device, uint64_t seed) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn({count}, gen, at::TensorOptions().dtype(at::kFloat))
      .to(dtype)
      .to(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device)));
}

// Do `x` and `y` give the same bits? One ragged GEMM with random data in the
// key's exact K and B layout (N shortened for very wide B, keeping N and ld
// modulo 16 so the alignment class stays). A real difference in K order shows
// up in almost every element of such a probe.
bool same_bits(cublasLtHandle_t handle, const PlanKey& key, const cublasLtMatmulAlgo_t& x,
               const cublasLtMatmulAlgo_t& y) {
  PlanKey probe = key;
  if (key.n > 2048 + 15) probe.n = 2048 + key.n % 16;
  if (key.b_order == BOrder::row_major) probe.b_ld = key.b_ld - key.n + probe.n;
  const int64_t batch = key.batched ? 2 : 1;
  const int64_t b_outer = key.b_order == BOrder::row_major ? key.k : probe.n;
  const int64_t b_stride = (b_outer * probe.b_ld + 15) / 16 * 16;
  const at::ScalarType dtype = static_cast<at::ScalarType>(key.dtype);
  Descriptors d(probe, kProbeM, batch, key.k, kProbeM * key.k, b_stride);
  if (!accepts(handle, d, x) || !accepts(handle, d, y)) return false;
  const at::Tensor b = random_tensor(batch * b_stride, dtype, key.device, 0x5eed0001);
  const at::Tensor a = random_tensor(batch * kProbeM * key.k, dtype, key.device, 0x5eed0002);
  const at::Tensor c = random_tensor(batch * kProbeM * probe.n, dtype, key.device, 0x5eed0003);
  at::Tensor out_x = c.clone(), out_y = c.clone();
  const float beta = key.with_c ? key.beta : 0.0f;
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  if (run_algo(handle, d, x, a.const_data_ptr(), b.const_data_ptr(), out_x.data_ptr(), key.alpha, beta, key.device,
               stream) != CUBLAS_STATUS_SUCCESS ||
      run_algo(handle, d, y, a.const_data_ptr(), b.const_data_ptr(), out_y.data_ptr(), key.alpha, beta, key.device,
               stream) != CUBLAS_STATUS_SUCCESS) {
    return false;
  }
  const at::ScalarType bits = dtype == at::kFloat ? at::kInt : at::kShort;
  return at::equal(out_x.view(bits), out_y.view(bits));
}

// Does gemm_small_m.cu give the plan's bits for `key`? One probe per M of
// 1, 7 and 16 rows against the rung's algorithm, on random data in the key's
// exact K and B layout (N shortened as in same_bits). Only asked with
// LOCKSTEP_GEMM_SMALL_M=1: v2 had the bits but not the speed (H100: 1.29 ms
// of GEMMs a 1.07B decode step against cuBLASLt's 0.91); v3 (sm_90 only) is
// not yet measured (core/PERF.md), so by default every M runs cuBLASLt.
bool small_m_agrees(cublasLtHandle_t handle, const PlanKey& key, const PinnedPlan& pinned) {
  if (pinned.plan.empty || !small_m_fits(key)) return false;
  if (const char* v = std::getenv("LOCKSTEP_GEMM_SMALL_M"); v == nullptr || std::string(v) != "1") return false;
  PlanKey probe = key;
  if (key.n > 2048 + 15) probe.n = 2048 + key.n % 16;
  const at::ScalarType dtype = static_cast<at::ScalarType>(key.dtype);
  const at::Tensor b = random_tensor(probe.n * key.b_ld, dtype, key.device, 0x5eed0011);
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  for (const int64_t m : {int64_t{1}, int64_t{7}, kSmallMaxM}) {
    const at::Tensor a = random_tensor(m * key.k, dtype, key.device, 0x5eed0012 + static_cast<uint64_t>(m));
    at::Tensor ref = at::empty({m * probe.n}, a.options()), own = at::empty({m * probe.n}, a.options());
    const Candidate& algo =
        pinned.candidates[static_cast<size_t>(pinned.plan.rung_algo[static_cast<size_t>(rung_for_m(m))])];
    Descriptors d(probe, m, 1, key.k, m * key.k, 0);
    if (!accepts(handle, d, algo.algo) || run_algo(handle, d, algo.algo, a.const_data_ptr(), b.const_data_ptr(),
                                                   ref.data_ptr(), 1.0f, 0.0f, key.device, stream) != CUBLAS_STATUS_SUCCESS) {
      return false;
    }
    small_m_gemm(a.const_data_ptr(), key.k, b.const_data_ptr(), key.b_ld, own.data_ptr(), m, probe.n, key.k, stream);
    if (!at::equal(ref.view(at::kShort), own.view(at::kShort))) return false;
  }
  return true;
}

PinnedPlan build_plan(const PlanKey& key) {
  cublasLtHandle_t handle = at::cuda::getCurrentCUDABlasLtHandle();
  PinnedPlan pinned;

  cublasLtMatmulPreferenceOpaque_t pref;
  LOCKSTEP_LT_CHECK(cublasLtMatmulPreferenceInit(&pref));
  const uint64_t workspace = kWorkspaceBytes;
  LOCKSTEP_LT_CHECK(cublasLtMatmulPreferenceSetAttribute(&pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                         &workspace, sizeof(workspace)));
  const int64_t elem = static_cast<int64_t>(c10::elementSize(static_cast<at::ScalarType>(key.dtype)));
  // Lt's A is our B; Lt's B our A (promise depends on K); C and D our out (N).
  const uint32_t align_a = static_cast<uint32_t>(key.b_align);
  const uint32_t align_b = static_cast<uint32_t>(promised_a_alignment(key.k, elem));
  const uint32_t align_c = static_cast<uint32_t>(alignment_bytes({static_cast<uint64_t>(key.n * elem)}));
  LOCKSTEP_LT_CHECK(cublasLtMatmulPreferenceSetAttribute(&pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                                         &align_a, sizeof(align_a)));
  LOCKSTEP_LT_CHECK(cublasLtMatmulPreferenceSetAttribute(&pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                                         &align_b, sizeof(align_b)));
  LOCKSTEP_LT_CHECK(cublasLtMatmulPreferenceSetAttribute(&pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                                         &align_c, sizeof(align_c)));
  LOCKSTEP_LT_CHECK(cublasLtMatmulPreferenceSetAttribute(&pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                                         &align_c, sizeof(align_c)));
  // True fp32 for fp32 (no TF32 inputs) and fp32 accumulation for everything.
  const uint64_t impl_mask = ~(static_cast<uint64_t>(CUBLASLT_NUMERICAL_IMPL_FLAGS_INPUT_TF32) |
                               static_cast<uint64_t>(CUBLASLT_NUMERICAL_IMPL_FLAGS_ACCUMULATOR_16F));
  LOCKSTEP_LT_CHECK(
      cublasLtMatmulPreferenceSetAttribute(&pref, CUBLASLT_MATMUL_PREF_IMPL_MASK, &impl_mask, sizeof(impl_mask)));

  const int64_t selection_batch = key.batched ? kSelectionBatch : 1;
  std::vector<std::vector<int>> ranked(kNumRungs);
  std::map<std::pair<int, int>, bool> applicable_cache;
  auto applicable = [&](int cand, int rung) {
    auto found = applicable_cache.find({cand, rung});
    if (found != applicable_cache.end()) return found->second;
    bool ok = true;
    for (int64_t m : probe_ms_for_rung(rung)) {
      // Batched keys: also the largest batch of one call, up to M = 4096.
      std::vector<int64_t> batches = {1};
      if (key.batched) batches = m <= 4096 ? std::vector<int64_t>{1, 7, kMaxBatchPerCall} : std::vector<int64_t>{1, 7};
      for (int64_t batch : batches) {
        Descriptors d = selection_descriptors(key, m, batch);
        ok = ok && accepts(handle, d, pinned.candidates[static_cast<size_t>(cand)].algo);
      }
    }
    applicable_cache[{cand, rung}] = ok;
    return ok;
  };

  for (int rung = 0; rung < kNumRungs; ++rung) {
    Descriptors d = selection_descriptors(key, kRungs[static_cast<size_t>(rung)], selection_batch);
    cublasLtMatmulHeuristicResult_t results[kHeuristicCount] = {};
    int returned = 0;
    const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(handle, &d.op, &d.lt_a, &d.lt_b, &d.lt_c, &d.lt_c,
                                                                 &pref, kHeuristicCount, results, &returned);
    if (status != CUBLAS_STATUS_SUCCESS) continue;  // no heuristic for this shape: rung uses the reference
    for (int i = 0; i < returned; ++i) {
      if (results[i].state != CUBLAS_STATUS_SUCCESS) continue;
      cublasLtMatmulAlgo_t algo = results[i].algo;
      if (!force_single_k_pass(&algo)) continue;
      const AlgoSignature sig = signature_of(algo);
      if (sig.splitk != 1 || sig.reduction != CUBLASLT_REDUCTION_SCHEME_NONE) continue;
      int id = -1;
      for (size_t c = 0; c < pinned.candidates.size(); ++c) {
        if (pinned.candidates[c].sig == sig) id = static_cast<int>(c);
      }
      if (id < 0) {
        id = static_cast<int>(pinned.candidates.size());
        pinned.candidates.push_back({algo, sig});
      }
      std::vector<int>& list = ranked[static_cast<size_t>(rung)];
      bool seen = false;
      for (int c : list) seen = seen || c == id;
      if (!seen && applicable(id, rung)) list.push_back(id);
    }
  }

  // The reference serves every rung: the best accepted at M = 4096, else the
  // best of the next lower rung that is, and so on.
  int reference = -1;
  for (int rung = kNumRungs - 1; rung >= 0 && reference < 0; --rung) {
    for (int cand : ranked[static_cast<size_t>(rung)]) {
      bool everywhere = true;
      for (int r = 0; r < kNumRungs && everywhere; ++r) everywhere = applicable(cand, r);
      if (everywhere) {
        reference = cand;
        break;
      }
    }
  }

  std::map<std::pair<int, int>, bool> equal_cache;
  std::string why;  // plain strings, no iostreams (see AlgoSignature::str)
  auto equivalent = [&](int x, int y) {
    auto found = equal_cache.find({x, y});
    if (found != equal_cache.end()) return found->second;
    const bool same = same_bits(handle, key, pinned.candidates[static_cast<size_t>(x)].algo,
                                pinned.candidates[static_cast<size_t>(y)].algo);
    equal_cache[{x, y}] = same;
    why += "    probe " + pinned.candidates[static_cast<size_t>(x)].sig.str() + (same ? " == " : " != ") +
           "reference\n";
    return same;
  };
  pinned.plan = choose_plan(ranked, reference, equivalent);

  std::string text = "gemm plan " + key.str() + ": ";
  if (pinned.plan.empty) {
    text += "no cuBLASLt algorithm applies; own kernel\n";
  } else {
    text += "reference " + pinned.candidates[static_cast<size_t>(reference)].sig.str() + "\n";
    for (int r = 0; r < kNumRungs; ++r) {
      const int c = pinned.plan.rung_algo[static_cast<size_t>(r)];
      text += "  M<=" + std::to_string(kRungs[static_cast<size_t>(r)]) + (r == kNumRungs - 1 ? "+" : "") + ": " +
              pinned.candidates[static_cast<size_t>(c)].sig.str() + (c == reference ? " (reference)" : "") + "\n";
    }
    text += why;
    pinned.small_m = small_m_agrees(handle, key, pinned);
    if (small_m_fits(key)) {
      text += std::string("  M<=") + std::to_string(kSmallMaxM) + ": " +
              (pinned.small_m ? "gemm_small_m (probed: the same bits)\n" : "cuBLASLt (gemm_small_m not used)\n");
    }
  }
  pinned.description = text;
  if (const char* log = std::getenv("LOCKSTEP_GEMM_LOG"); log != nullptr && log[0] == '1') {
    std::fputs(pinned.description.c_str(), stderr);
  }
  return pinned;
}

struct PlanCache {
  std::mutex mutex;
  std::unordered_map<PlanKey, std::shared_ptr<const PinnedPlan>, PlanKeyHash> plans;
  std::vector<PlanKey> order;
};

PlanCache& cache() {
  static auto* instance = new PlanCache();  // never destroyed: see workspace_for
  return *instance;
}

std::shared_ptr<const PinnedPlan> plan_for(const PlanKey& key) {
  PlanCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  auto it = c.plans.find(key);
  if (it != c.plans.end()) return it->second;
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  C10_CUDA_CHECK(cudaStreamIsCapturing(at::cuda::getCurrentCUDAStream(), &capture));
  TORCH_CHECK(capture == cudaStreamCaptureStatusNone, "lockstep GEMM: first use of shape ", key.str(),
              " inside CUDA graph capture; run it once before capturing (its plan is built with probes)");
  auto plan = std::make_shared<const PinnedPlan>(build_plan(key));
  c.plans.emplace(key, plan);
  c.order.push_back(key);
  return plan;
}

// The per-call host path, off the plan cache's mutex: each thread keeps its
// own map from key to plan (plans live as long as the process, so a raw
// pointer is safe) and the cuBLASLt descriptors of each (plan, M, batch,
// strides) it has run (workspace_for keeps the workspaces per thread too).
// A call that hits takes no lock and initialises nothing (issue 20: ~1.5 us of host
// time per call went to the lookup under the mutex and the descriptor set-up).
struct CallShape {
  const PinnedPlan* plan;
  int64_t m, batch, a_ld, a_batch_stride, b_batch_stride;
  bool operator==(const CallShape& o) const {
    return plan == o.plan && m == o.m && batch == o.batch && a_ld == o.a_ld && a_batch_stride == o.a_batch_stride &&
           b_batch_stride == o.b_batch_stride;
  }
};
struct CallShapeHash {
  size_t operator()(const CallShape& s) const {
    size_t h = std::hash<const void*>()(s.plan);
    for (int64_t v : {s.m, s.batch, s.a_ld, s.a_batch_stride, s.b_batch_stride}) {
      h = h * 1000003u ^ std::hash<int64_t>()(v);
    }
    return h;
  }
};
struct ThreadCalls {
  std::unordered_map<PlanKey, const PinnedPlan*, PlanKeyHash> plans;
  std::unordered_map<CallShape, Descriptors, CallShapeHash> descriptors;  // nodes never move
};
constexpr size_t kMaxCachedDescriptors = 4096;  // a thread that sees ever new shapes starts over

ThreadCalls& thread_calls() {
  thread_local ThreadCalls calls;
  return calls;
}

const PinnedPlan& thread_plan(ThreadCalls& calls, const PlanKey& key) {
  auto it = calls.plans.find(key);
  if (it == calls.plans.end()) it = calls.plans.emplace(key, plan_for(key).get()).first;
  return *it->second;
}

Descriptors& thread_descriptors(ThreadCalls& calls, const PinnedPlan& plan, const LtCall& call, int64_t count) {
  const CallShape shape{&plan, call.m, count, call.a_ld, call.a_batch_stride, call.b_batch_stride};
  auto it = calls.descriptors.find(shape);
  if (it != calls.descriptors.end()) return it->second;
  if (calls.descriptors.size() >= kMaxCachedDescriptors) calls.descriptors.clear();
  return calls.descriptors
      .try_emplace(shape, call.key, call.m, count, call.a_ld, call.a_batch_stride, call.b_batch_stride)
      .first->second;
}

}  // namespace

bool run_pinned(const LtCall& call) {
  ThreadCalls& calls = thread_calls();
  const PinnedPlan& pinned = thread_plan(calls, call.key);
  if (pinned.plan.empty) return false;
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  if (pinned.small_m && call.m <= kSmallMaxM && call.batch == 1 && call.alpha == 1.0f && call.beta == 0.0f &&
      small_m_a_fits(call.a, call.a_ld)) {
    small_m_gemm(call.a, call.a_ld, call.b, call.key.b_ld, call.out, call.m, call.key.n, call.key.k, stream);
    return true;
  }
  const int rung = rung_for_m(call.m);
  const Candidate& chosen = pinned.candidates[static_cast<size_t>(pinned.plan.rung_algo[static_cast<size_t>(rung)])];
  cublasLtHandle_t handle = at::cuda::getCurrentCUDABlasLtHandle();
  const int64_t elem = static_cast<int64_t>(c10::elementSize(static_cast<at::ScalarType>(call.key.dtype)));
  for (int64_t first = 0; first < call.batch; first += kMaxBatchPerCall) {
    const int64_t count = std::min(kMaxBatchPerCall, call.batch - first);
    Descriptors& d = thread_descriptors(calls, pinned, call, count);
    const char* a = static_cast<const char*>(call.a) + first * call.a_batch_stride * elem;
    const char* b = static_cast<const char*>(call.b) + first * call.b_batch_stride * elem;
    char* out = static_cast<char*>(call.out) + first * call.m * call.key.n * elem;
    // cublasLtMatmul validates the algorithm itself; a refusal is an error,
    // never a silent switch to another algorithm (that would change bits).
    const cublasStatus_t status =
        run_algo(handle, d, chosen.algo, a, b, out, call.alpha, call.beta, call.key.device, stream);
    TORCH_CHECK(status == CUBLAS_STATUS_SUCCESS, "lockstep GEMM: pinned algorithm ", chosen.sig.str(),
                " failed for M=", call.m, ", batch ", count, ", ", call.key.str(), " (cuBLAS status ",
                static_cast<int>(status), ")");
  }
  return true;
}

std::string describe_plans() {
  PlanCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  std::string text;
  for (const PlanKey& key : c.order) text += c.plans.at(key)->description;
  return text;
}

std::vector<std::string> plan_rung_signatures(const PlanKey& key) {
  const std::shared_ptr<const PinnedPlan> pinned = plan_for(key);
  std::vector<std::string> out(kNumRungs);
  if (pinned->plan.empty) return out;
  for (int r = 0; r < kNumRungs; ++r) {
    out[static_cast<size_t>(r)] =
        pinned->candidates[static_cast<size_t>(pinned->plan.rung_algo[static_cast<size_t>(r)])].sig.str();
  }
  return out;
}

bool plan_uses_small_m(const PlanKey& key) { return plan_for(key)->small_m; }

}  // namespace lockstep::kernels::cuda::gemm
