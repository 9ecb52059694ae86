#pragma once
#include <memory>

#include "esync/collective.hpp"
#include "esync/coord_client.hpp"

namespace esync::coord {

// comm::Store over the state server's key-value rendezvous (see coord_store.cpp).
class CoordStore final : public comm::Store {
 public:
  explicit CoordStore(std::shared_ptr<CoordinatorClient> client);
  void set(const std::string& key, const std::vector<char>& value) override;
  std::vector<char> get(const std::string& key, std::chrono::milliseconds timeout) override;

 private:
  std::shared_ptr<CoordinatorClient> client_;
};

}  // namespace esync::coord
