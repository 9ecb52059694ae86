// gloo over its TCP transport: allreduce (ring or bcube, below), a one-to-all broadcast and a
// dissemination barrier.
// Allreduce algorithm by size, as NCCL picks tree or ring: a ring moves each float 2(p-1)/p
// times (bandwidth per rank independent of p) but takes 2(p-1) dependent steps; bcube reaches
// every peer of its group at once, 2 steps for p <= its base. Messages up to kBcubeMaxBytes are
// latency-bound, so fewer steps win: measured with 3 ranks on 2 cores (`esync bench allreduce
// --ranks 3`, results/bench/allreduce_3ranks.txt), 256 KB took 0.97–1.2 ms with bcube against
// 1.5–2.2 ms with the ring, 512 KB 1.2–1.8 against 2.1–2.7 ms; at 1 MB the ring won twice
// (1.7 against 2.1 ms). Two ranks: the same algorithm either way.
// Ranks meet through our Store, adapted to gloo::rendezvous::Store below; each rank publishes
// its listening addresses under "<prefix>/<rank>" and connects to every other rank.
//
// Written against Debian's libgloo 0.0~git20220518 (gloo 0.5.0). What that version does that
// shapes this file:
//  - connectFullMesh() calls Store::get() without a wait first (for "rank_<i>" hostnames), so
//    the adapter's get() must itself block with the timeout.
//  - Every pair and operation timeout comes from Context::setTimeout(); we also pass it to each
//    operation explicitly. A timed-out operation poisons the whole context ("Application
//    timeout caused pair closure"), so after any failure this object refuses further calls.
//  - A peer that dies surfaces as gloo::IoException ("Connection closed by peer", "Read error",
//    "writev ... Broken pipe"); timeouts as IoException with "timeout"/"Timed out" in the text.
//  - gloo writes with writev(), not send(MSG_NOSIGNAL): if a write races with the peer's reset
//    (its event loop usually notices the close first), SIGPIPE would kill the survivor. We
//    therefore ignore SIGPIPE process-wide when nobody installed a handler, so that the write
//    fails with EPIPE and becomes PeerLostError. ZeroMQ never relies on SIGPIPE either.
#include <dlfcn.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/common/error.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <mutex>
#include <utility>

#include "esync/collective.hpp"
#include "esync/error.hpp"
#include "gloo_compat.hpp"

namespace esync::comm {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
constexpr std::size_t kBcubeMaxBytes = std::size_t{512} << 10;  // see the top of this file

// A PyTorch install's LibTorch carries a gloo of its own inside libtorch_cpu.so, its symbols
// exported. esync is compiled against Debian's gloo headers and must reach Debian's libgloo: had
// the loader resolved gloo's symbols into LibTorch (a link that put LibTorch before libgloo), the
// two versions' layouts would mix and corrupt memory. The link puts libgloo first
// (src/comm/CMakeLists.txt); this checks, once, where the loader found gloo, before any call.
void check_gloo_library() {
  static const std::string where = [] {
    void* sym = dlsym(RTLD_DEFAULT, "_ZN4gloo9transport3tcp12CreateDeviceERKNS1_4attrE");
    Dl_info info{};
    return sym && dladdr(sym, &info) && info.dli_fname ? std::string(info.dli_fname) : std::string();
  }();
  ESYNC_CHECK_T(ConfigError, where.empty() || where.find("libgloo") != std::string::npos, "gloo resolves to ",
                where,
                ", not to libgloo: this binary was linked with LibTorch before "
                "gloo; rebuild it with esync's CMake files (README, GPU hosts)");
}

void ignore_sigpipe_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction old {};
    if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) {
      struct sigaction ign {};
      ign.sa_handler = SIG_IGN;
      sigemptyset(&ign.sa_mask);
      sigaction(SIGPIPE, &ign, nullptr);
    }
  });
}

// gloo's messages start with "[/path/file.cc:123] " and may span lines; keep one clean line.
std::string one_line(std::string msg) {
  if (!msg.empty() && msg.front() == '[') {
    const auto close = msg.find("] ");
    if (close != std::string::npos) msg.erase(0, close + 2);
  }
  for (char& c : msg) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return msg;
}

bool mentions_timeout(const std::string& msg) {
  return msg.find("timeout") != std::string::npos || msg.find("Timed out") != std::string::npos;
}

// Our Store seen as gloo's: keys are namespaced by the group prefix, and every blocking call is
// bounded by the group timeout (gloo passes kNoTimeout = 0 for "unbounded"; we never allow that).
class StoreAdapter final : public gloo::rendezvous::Store {
 public:
  StoreAdapter(std::shared_ptr<comm::Store> store, std::string prefix, milliseconds timeout)
      : store_(std::move(store)), prefix_(std::move(prefix)), timeout_(timeout) {}

  void set(const std::string& key, const std::vector<char>& data) override { store_->set(full(key), data); }

  std::vector<char> get(const std::string& key) override { return store_->get(full(key), timeout_); }

  void wait(const std::vector<std::string>& keys) override { wait(keys, timeout_); }

  void wait(const std::vector<std::string>& keys, const milliseconds& timeout) override {
    // gloo passes its context's timeout here; ours (the rendezvous's, maybe shorter) bounds it too.
    const auto limit = timeout.count() > 0 ? std::min(timeout, timeout_) : timeout_;
    const auto deadline = Clock::now() + limit;
    for (const auto& key : keys) {
      const auto left = std::chrono::ceil<milliseconds>(deadline - Clock::now());
      store_->get(full(key), std::max(left, milliseconds(0)));
    }
  }

 private:
  std::string full(const std::string& key) const { return prefix_ + "/" + key; }

  std::shared_ptr<comm::Store> store_;
  std::string prefix_;
  milliseconds timeout_;
};

class GlooCollective final : public Collective {
 public:
  GlooCollective(const CollectiveOptions& opts, std::shared_ptr<Store> store)
      : rank_(opts.rank), size_(opts.size), timeout_(opts.timeout) {
    check_gloo_library();
    ignore_sigpipe_once();
    guarded("rendezvous", [&] {
      gloo::transport::tcp::attr attr;
      attr.hostname = opts.bind_host;
      device_ = gloo::transport::tcp::CreateDevice(attr);
      auto context = std::make_shared<gloo::rendezvous::Context>(rank_, size_);
      context->setTimeout(timeout_);
      const auto meet =
          opts.rendezvous_timeout.count() > 0 ? std::min(opts.rendezvous_timeout, timeout_) : timeout_;
      connect_full_mesh(*context, std::make_shared<StoreAdapter>(std::move(store), opts.prefix, meet),
                        device_);
      context_ = std::move(context);
    });
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "gloo"; }

  void allreduce_sum(float* data, std::size_t n) override {
    guarded("allreduce_sum", [&] {
      if (n == 0) return;
      gloo::AllreduceOptions o(context_);
      o.setOutput(data, n);  // no input: gloo reduces in place
      using ReduceFn = void (*)(void*, const void*, const void*, std::size_t);
      o.setReduceFunction(static_cast<ReduceFn>(&gloo::sum<float>));
      o.setTag(next_tag());
      o.setTimeout(timeout_);
      if (size_ > 2 && n * sizeof(float) <= kBcubeMaxBytes)
        o.setAlgorithm(gloo::AllreduceOptions::Algorithm::BCUBE);
      gloo::allreduce(o);
    });
  }

  void broadcast(float* data, std::size_t n, int root) override {
    if (root < 0 || root >= size_) {
      ESYNC_THROW(ConfigError, "gloo broadcast: root ", root, " is not in a world of size ", size_);
    }
    guarded("broadcast", [&] {
      if (n == 0 || size_ == 1) return;
      gloo::BroadcastOptions o(context_);
      o.setOutput(data, n);  // in place on every rank, root included
      o.setRoot(root);
      o.setTag(next_tag());
      o.setTimeout(timeout_);
      gloo::broadcast(o);
    });
  }

  void barrier() override {
    guarded("barrier", [&] {
      if (size_ == 1) return;
      gloo::BarrierOptions o(context_);
      o.setTag(next_tag());
      o.setTimeout(timeout_);
      gloo::barrier(o);
    });
  }

 private:
  // Every rank issues the same operations in the same order, so a per-object counter gives the
  // same tag on all of them, and no stray message of one operation can match another.
  std::uint32_t next_tag() { return tag_++; }

  // Runs one gloo call and turns whatever it throws into an esync exception with one line.
  template <typename F>
  void guarded(const char* what, F&& body) {
    if (failed_) {
      ESYNC_THROW(Error, "gloo ", what, " on rank ", rank_, ": this collective already failed (", broken_,
                  "); build a new one");
    }
    const auto ctx = [&] {
      return detail::concat("gloo ", what, " (rank ", rank_, " of ", size_, ", timeout ", timeout_.count(),
                            " ms): ");
    };
    try {
      body();
      return;
    } catch (const TimeoutError& e) {  // from our Store: add which rank and group waited
      failed_ = true;
      broken_ = e.what();
      ESYNC_THROW(TimeoutError, ctx(), broken_);
    } catch (const Error& e) {
      failed_ = true;
      broken_ = e.what();
      throw;
    } catch (const gloo::IoException& e) {
      failed_ = true;
      broken_ = one_line(e.what());
      if (mentions_timeout(broken_)) ESYNC_THROW(TimeoutError, ctx(), broken_);
      ESYNC_THROW(PeerLostError, ctx(), broken_);
    } catch (const std::exception& e) {  // gloo::EnforceNotMet (bad arguments), std::system_error
      broken_ = one_line(e.what());
    }
    failed_ = true;
    ESYNC_THROW(Error, ctx(), broken_);
  }

  int rank_, size_;
  milliseconds timeout_;
  std::shared_ptr<gloo::transport::Device> device_;
  std::shared_ptr<gloo::Context> context_;
  std::uint32_t tag_ = 0;
  bool failed_ = false;
  std::string broken_;  // why it failed, for the message of every later call
};

}  // namespace

std::unique_ptr<Collective> make_gloo_collective(const CollectiveOptions& opts,
                                                 std::shared_ptr<Store> store) {
  return std::make_unique<GlooCollective>(opts, std::move(store));
}

}  // namespace esync::comm
