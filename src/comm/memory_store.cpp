// The in-process rendezvous store: a map under one mutex, with a condition variable so that
// get() sleeps instead of polling until another thread sets the key.
#include <condition_variable>
#include <map>
#include <mutex>

#include "esync/collective.hpp"
#include "esync/error.hpp"

namespace esync::comm {
namespace {

class MemoryStore final : public Store {
 public:
  void set(const std::string& key, const std::vector<char>& value) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      kv_[key] = value;
    }
    changed_.notify_all();
  }

  std::vector<char> get(const std::string& key, std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> lock(mu_);
    const bool found = changed_.wait_for(lock, timeout, [&] { return kv_.count(key) != 0; });
    if (!found) {
      ESYNC_THROW(TimeoutError, "store: key '", key, "' did not appear within ", timeout.count(),
                  " ms (a rank never showed up?)");
    }
    return kv_.at(key);
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, std::vector<char>> kv_;
};

}  // namespace

std::shared_ptr<Store> make_memory_store() { return std::make_shared<MemoryStore>(); }

}  // namespace esync::comm
