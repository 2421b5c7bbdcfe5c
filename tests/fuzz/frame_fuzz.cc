// meterd — tests/fuzz/frame_fuzz.cc: libFuzzer target for the frame decoder.
//
// The input is a byte stream as a hostile peer would send it. It is fed to a FrameDecoder in
// chunks whose sizes come from the input itself (so frame boundaries land anywhere), and every
// envelope the decoder yields is read field by field, as the server would. Any out-of-bounds
// read is the sanitizer's to catch; a decoder that yields an unverified frame or loops is a bug.
//
// Build with clang: cmake -DCMAKE_CXX_COMPILER=clang++ -DMETERD_FUZZ=ON; run
// build-fuzz/bin/frame_fuzz -max_total_time=60. g++ builds run the same function over a seeded
// corpus in frame_fuzz_replay_test.
#include <cstddef>
#include <cstdint>

#include "net/protocol/frame.h"
#include "net/protocol/messages.h"

namespace {

uint64_t Touch(const flatbuffers::String* s) {
  uint64_t h = 0;
  for (char c : meterd::net::View(s)) h = h * 31 + static_cast<unsigned char>(c);
  return h;
}

template <typename T>
uint64_t Touch(const flatbuffers::Vector<T>* v) {
  uint64_t h = 0;
  if (v) {
    for (auto x : *v) h += static_cast<uint64_t>(x);
  }
  return h;
}

uint64_t Walk(const meterd::wire::Envelope& env) {
  namespace wire = meterd::wire;
  uint64_t h = meterd::net::RequestIdOf(env);
  switch (env.message_type()) {
    case wire::Message::Hello: {
      auto* m = env.message_as_Hello();
      return h + Touch(m->api_key()) + Touch(m->client()) + m->protocol_version();
    }
    case wire::Message::IngestBatch: {
      auto* m = env.message_as_IngestBatch();
      return h + Touch(m->agent()) + Touch(m->series()) + Touch(m->offsets()) + Touch(m->values()) +
             static_cast<uint64_t>(m->base_time());
    }
    case wire::Message::DefineSeries: {
      auto* m = env.message_as_DefineSeries();
      if (m->series()) {
        for (auto* d : *m->series()) h += d->id() + Touch(d->resource()) + Touch(d->metric());
      }
      return h;
    }
    case wire::Message::RegisterResources: {
      auto* m = env.message_as_RegisterResources();
      if (m->resources()) {
        for (auto* r : *m->resources()) {
          h += Touch(r->id()) + Touch(r->type()) + Touch(r->account()) + Touch(r->project()) +
               Touch(r->location()) + Touch(r->plan());
        }
      }
      return h;
    }
    case wire::Message::ExportRequest: {
      auto* m = env.message_as_ExportRequest();
      return h + Touch(m->resource()) + Touch(m->metric());
    }
    case wire::Message::DefineMetric: {
      auto* m = env.message_as_DefineMetric();
      return m->metric() ? h + Touch(m->metric()->name()) + Touch(m->metric()->unit()) : h;
    }
    case wire::Message::CreateKey: {
      auto* m = env.message_as_CreateKey();
      return h + Touch(m->hypervisor()) + Touch(m->name());
    }
    case wire::Message::RevokeKey:
      return h + Touch(env.message_as_RevokeKey()->id());
    default:
      return h;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  meterd::net::FrameDecoder decoder(1u << 20);
  size_t pos = 0;
  size_t step = size ? 1 + data[0] % 97 : 1;
  volatile uint64_t sink = 0;
  while (pos < size) {
    const size_t n = std::min(step, size - pos);
    decoder.Append(std::span<const uint8_t>(data + pos, n));
    pos += n;
    step = 1 + (step * 31 + 7) % 4096;
    const meterd::wire::Envelope* env = nullptr;
    while (decoder.Next(&env)) sink = sink + Walk(*env);
    if (!decoder.status().ok()) break;  // the server closes the connection here
  }
  (void)sink;
  return 0;
}
