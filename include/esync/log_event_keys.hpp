#pragma once
// The machinery behind log_events.hpp: ESYNC_EVENT_KEYS(Type, keys...) gives an event struct a
// to_json (every member under its own name; an empty std::optional is left out) and a tolerant
// read (a key that is missing or holds another JSON type leaves the member at its default, so a
// log cut short by a killed process or edited by hand is still read).
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <type_traits>

namespace esync::logev {

using nlohmann::json;

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class T>
void put(json& j, const char* key, const T& v) {
  if constexpr (is_optional<T>::value) {
    if (v) j[key] = *v;
  } else {
    j[key] = v;
  }
}

// true when v held a T (then out is set).
template <class T>
bool get_value(const json& v, T& out) {
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) return false;
    out = v.get<bool>();
  } else if constexpr (std::is_arithmetic_v<T>) {
    if (!v.is_number()) return false;
    out = v.get<T>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) return false;
    out = v.get<std::string>();
  } else if constexpr (std::is_same_v<T, json>) {
    out = v;
  } else {  // a nested event struct
    if (!v.is_object()) return false;
    read(v, out);
  }
  return true;
}

template <class T>
void get(const json& j, const char* key, T& out) {
  const auto it = j.find(key);
  if (it == j.end()) return;
  if constexpr (is_optional<T>::value) {
    typename T::value_type v{};
    if (get_value(*it, v)) out = std::move(v);
  } else {
    get_value(*it, out);
  }
}

}  // namespace esync::logev

#define ESYNC_EV_PUT(f) ::esync::logev::put(j, #f, e.f);
#define ESYNC_EV_GET(f) ::esync::logev::get(j, #f, e.f);
// The keys of an event: to_json (writing, and nlohmann's conversions) and a tolerant read.
#define ESYNC_EVENT_KEYS(Type, ...)                                      \
  inline void to_json(::nlohmann::json& j, const Type& e) {              \
    NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(ESYNC_EV_PUT, __VA_ARGS__)) \
  }                                                                      \
  inline void read(const ::nlohmann::json& j, Type& e) {                 \
    if (!j.is_object()) return;                                          \
    NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(ESYNC_EV_GET, __VA_ARGS__)) \
  }
