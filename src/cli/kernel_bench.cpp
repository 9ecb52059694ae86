// esync bench kernels: GB/s of every CPU kernel next to memcpy measured in the same run.
// Bandwidth counts the bytes each kernel must move at minimum (reads + writes per element);
// the baseline is the better of libc memcpy and a memcpy split across the same threads.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <numeric>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "esync/bench_table.hpp"
#include "esync/clock.hpp"
#include "esync/error.hpp"
#include "esync/kernels.hpp"

namespace esync::cli {
namespace {

namespace k = esync::kernels;

// Median seconds of one call, repeated for at least min_s (and at least 5 times).
double time_call(const std::function<void()>& f, double min_s) {
  f();  // warm-up: page faults, caches
  std::vector<double> t;
  const double start = mono_s();
  while (t.size() < 5 || mono_s() - start < min_s) {
    const double t0 = mono_s();
    f();
    t.push_back(mono_s() - t0);
    if (t.size() > 100000) break;
  }
  std::nth_element(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(t.size() / 2), t.end());
  return t[t.size() / 2];
}

void parallel_memcpy(float* dst, const float* src, std::size_t n) {
  if (n < k::cpu::kParallelThreshold) {
    std::memcpy(dst, src, n * sizeof(float));
    return;
  }
#pragma omp parallel
  {
    const std::size_t nt = static_cast<std::size_t>(omp_get_num_threads());
    const std::size_t id = static_cast<std::size_t>(omp_get_thread_num());
    const std::size_t chunk = (n + nt - 1) / nt, b = std::min(n, id * chunk), e = std::min(n, b + chunk);
    std::memcpy(dst + b, src + b, (e - b) * sizeof(float));
  }
}

}  // namespace

int bench_kernels(int argc, char** argv) {
  cxxopts::Options o("esync bench kernels", "Kernel bandwidth against memcpy in the same run.");
  o.add_options()("sizes", "Element counts, comma-separated (powers of two written as 2^k allowed)",
                  cxxopts::value<std::string>()->default_value("2^10,2^16,2^20,2^24"))(
      "threads", "OpenMP threads (0: all cores)", cxxopts::value<int>()->default_value("0"))(
      "seconds", "Minimum measuring time per kernel and size",
      cxxopts::value<double>()->default_value("0.3"))(
      "device", "cpu (the CUDA kernels: tests/test_kernels_cuda.cpp, run by launch/device-check.sh)",
      cxxopts::value<std::string>()->default_value("cpu"));
  cxxopts::ParseResult r;
  if (!parse(o, argc, argv, r)) return 0;
  ESYNC_CHECK_T(ConfigError, r["device"].as<std::string>() == "cpu", "--device ",
                r["device"].as<std::string>(),
                ": this command benchmarks the CPU kernels; the CUDA kernels are checked against them by "
                "tests/test_kernels_cuda.cpp on a GPU host (launch/device-check.sh)");
  const int threads = r["threads"].as<int>() > 0 ? r["threads"].as<int>() : default_threads();
  omp_set_num_threads(threads);
  const double min_s = r["seconds"].as<double>();
  std::vector<std::size_t> sizes;
  std::string spec = r["sizes"].as<std::string>();
  for (std::size_t pos = 0; pos <= spec.size();) {
    const std::size_t comma = std::min(spec.find(',', pos), spec.size());
    const std::string tok = spec.substr(pos, comma - pos);
    try {
      sizes.push_back(tok.rfind("2^", 0) == 0 ? std::size_t{1} << std::stoi(tok.substr(2))
                                              : std::stoull(tok));
    } catch (const std::exception&) {
      ESYNC_THROW(ConfigError, "--sizes: '", tok, "' is not a size");
    }
    pos = comma + 1;
  }

  BenchTable t("kernels (cpu, " + std::to_string(threads) + " threads)",
               {"kernel", "n", "bytes", "time_us", "GB/s", "vs_memcpy"});
  for (const std::size_t n : sizes) {
    std::vector<float> a(n, 1.0f), b(n, 0.5f), c(n, 0.25f), d(n, 2.0f), e(n, 0.0f), f(n, 0.1f);
    std::vector<std::uint16_t> h(n, 0);
    const float* xs[4] = {b.data(), c.data(), d.data(), f.data()};
    const float ws[4] = {0.25f, 0.25f, 0.25f, 0.25f};
    k::SgdParams sgd{0.01f, 0.0f, 0.0f, false}, mom{0.01f, 0.9f, 1e-4f, false};
    k::AdamParams adam;
    std::int64_t adam_step = 0;
    const double bytes_copy = 8.0 * double(n);
    auto memcpy_threads = [&] { parallel_memcpy(e.data(), b.data(), n); };
    const double t_libc = time_call([&] { std::memcpy(e.data(), b.data(), n * sizeof(float)); }, min_s);
    const double t_par = time_call(memcpy_threads, min_s);
    const double t_memcpy = std::min(t_libc, t_par);
    t.add_row({"memcpy (libc)", n, bytes_copy, 1e6 * t_libc, bytes_copy / t_libc / 1e9, t_memcpy / t_libc});
    t.add_row({"memcpy (threads)", n, bytes_copy, 1e6 * t_par, bytes_copy / t_par / 1e9, t_memcpy / t_par});
    const std::vector<std::tuple<std::string, double, std::function<void()>>> kernels = {
        {"axpy", 12, [&] { k::cpu::axpy(a.data(), 1e-7f, b.data(), n); }},
        {"weighted_sum K=4", 20, [&] { k::cpu::weighted_sum(a.data(), xs, ws, 4, n); }},
        {"scale", 8, [&] { k::cpu::scale(a.data(), 0.9999f, n); }},
        {"sgd_update", 12, [&] { k::cpu::sgd_update(a.data(), b.data(), nullptr, n, sgd); }},
        {"sgd_update momentum", 20, [&] { k::cpu::sgd_update(a.data(), b.data(), e.data(), n, mom); }},
        {"adam_update", 28,
         [&] { k::cpu::adam_update(a.data(), b.data(), e.data(), f.data(), n, adam, ++adam_step); }},
        {"dc_compensate", 16,
         [&] { k::cpu::dc_compensate(e.data(), b.data(), c.data(), d.data(), n, 0.04f); }},
        {"dc_compensate_adaptive", 24,
         [&] {
           k::cpu::dc_compensate_adaptive(e.data(), b.data(), c.data(), d.data(), f.data(), n, 0.04f, 0.95f,
                                          1e-7f);
         }},
        {"esync_delta", 12, [&] { k::cpu::esync_delta(e.data(), b.data(), c.data(), 0.5f, n); }},
        {"esync_apply", 12, [&] { k::cpu::esync_apply(a.data(), c.data(), b.data(), 1.0f, n); }},
        {"delay_adaptive_apply", 12,
         [&] { k::cpu::delay_adaptive_apply(a.data(), b.data(), 0.01f, 4, 9, n); }},
        {"pack_fp16", 6, [&] { k::cpu::pack_fp16(h.data(), b.data(), n); }},
        {"unpack_fp16", 6, [&] { k::cpu::unpack_fp16(e.data(), h.data(), n); }},
        {"pack_bf16", 6, [&] { k::cpu::pack_bf16(h.data(), b.data(), n); }},
        {"unpack_bf16", 6, [&] { k::cpu::unpack_bf16(e.data(), h.data(), n); }},
    };
    for (const auto& [name, bpe, fn] : kernels) {
      // The baseline is re-measured next to each kernel: on a noisy machine a ratio of two
      // timings taken seconds apart says little.
      const double base = std::min(time_call(memcpy_threads, min_s / 2), t_libc);
      const double sec = time_call(fn, min_s), bytes = bpe * double(n);
      const double gbs = bytes / sec / 1e9;
      t.add_row({name, n, bytes, 1e6 * sec, gbs, gbs / (bytes_copy / base / 1e9)});
    }
  }
  t.set("threads", threads);
  t.print();
  return 0;
}

}  // namespace esync::cli
