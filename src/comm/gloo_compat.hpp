// gloo's rendezvous across the versions Debian ships: gloo 0.5.0 (bookworm's
// 0.0~git20220518) takes the store of Context::connectFullMesh by reference, later gloo
// (trixie, sid) by shared_ptr. A template, so that only the call the installed gloo has is
// checked; the shared_ptr keeps the store alive as long as either version needs it.
#pragma once

#include <gloo/rendezvous/context.h>
#include <gloo/transport/device.h>

#include <memory>
#include <utility>

namespace esync::comm {

template <class Context, class Store>
void connect_full_mesh(Context& context, std::shared_ptr<Store> store,
                       std::shared_ptr<gloo::transport::Device>& device) {
  if constexpr (requires { context.connectFullMesh(store, device); })
    context.connectFullMesh(std::move(store), device);
  else
    context.connectFullMesh(*store, device);
}

}  // namespace esync::comm
