// meterd — tests/net/protocol/frame_test.cc
#include "net/protocol/frame.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "net/protocol/messages.h"

namespace meterd::net {
namespace frame_test {

std::vector<uint8_t> PingFrame(uint64_t id) {
  flatbuffers::FlatBufferBuilder fbb(64);
  return FinishFrame(fbb, wire::CreatePing(fbb, id));
}

std::vector<uint8_t> HelloFrame(const std::string& key) {
  flatbuffers::FlatBufferBuilder fbb(128);
  auto k = fbb.CreateString(key);
  return FinishFrame(fbb, wire::CreateHello(fbb, kProtocolVersion, k, 0));
}

TEST(FrameTest, RoundTripThroughTheDecoder) {
  FrameDecoder d;
  auto hello = HelloFrame("mk_x");
  d.Append(hello);
  const wire::Envelope* env = nullptr;
  ASSERT_TRUE(d.Next(&env));
  ASSERT_EQ(env->message_type(), wire::Message::Hello);
  EXPECT_EQ(View(env->message_as_Hello()->api_key()), "mk_x");
  EXPECT_EQ(env->message_as_Hello()->protocol_version(), kProtocolVersion);
  EXPECT_FALSE(d.Next(&env));
  EXPECT_TRUE(d.status().ok());
  EXPECT_EQ(d.buffered_bytes(), 0u);
}

TEST(FrameTest, ByteAtATimeAndManyFramesInOneBuffer) {
  std::vector<uint8_t> stream;
  for (uint64_t i = 1; i <= 50; ++i) {
    auto f = i % 2 ? PingFrame(i) : HelloFrame(std::string(i, 'k'));  // sizes vary
    stream.insert(stream.end(), f.begin(), f.end());
  }
  for (bool one_byte : {true, false}) {
    FrameDecoder d;
    size_t frames = 0;
    const wire::Envelope* env;
    if (one_byte) {
      for (uint8_t b : stream) {
        d.Append(std::span<const uint8_t>(&b, 1));
        while (d.Next(&env)) ++frames;
      }
    } else {
      d.Append(stream);
      while (d.Next(&env)) ++frames;
    }
    EXPECT_EQ(frames, 50u);
    EXPECT_TRUE(d.status().ok());
  }
}

TEST(FrameTest, AMisalignedPayloadIsStillReadCorrectly) {
  // A hand-made frame whose payload is 4 bytes longer than the builder made it (valid: the
  // verifier ignores trailing bytes), so the next frame's payload is not 8-aligned in place.
  auto first = PingFrame(1);
  uint32_t len;
  std::memcpy(&len, first.data(), 4);
  len += 4;
  std::memcpy(first.data(), &len, 4);
  first.insert(first.end(), {0, 0, 0, 0});
  auto second = PingFrame(2);
  std::vector<uint8_t> stream = first;
  stream.insert(stream.end(), second.begin(), second.end());
  FrameDecoder d;
  d.Append(stream);
  const wire::Envelope* env;
  ASSERT_TRUE(d.Next(&env));
  EXPECT_EQ(env->message_as_Ping()->request_id(), 1u);
  ASSERT_TRUE(d.Next(&env));
  EXPECT_EQ(env->message_as_Ping()->request_id(), 2u);
}

TEST(FrameTest, OversizeLengthStopsTheStream) {
  FrameDecoder d(1024);
  const uint8_t header[] = {0x01, 0x04, 0x00, 0x00};  // 1025
  d.Append(header);
  const wire::Envelope* env;
  EXPECT_FALSE(d.Next(&env));
  EXPECT_EQ(d.status().code(), Status::Code::kOutOfRange);
  d.Append(PingFrame(1));
  EXPECT_FALSE(d.Next(&env));  // no recovery: the connection is closed
  // The limit can be raised after a handshake.
  FrameDecoder d2(16);
  d2.set_max_frame_bytes(kDefaultMaxFrameBytes);
  d2.Append(PingFrame(3));
  EXPECT_TRUE(d2.Next(&env));
}

TEST(FrameTest, GarbageWrongIdentifierAndShortFramesAreCorruption) {
  const std::vector<std::vector<uint8_t>> bad = {
      {4, 0, 0, 0, 1, 2, 3, 4},                                               // too short
      {16, 0, 0, 0, 8, 0, 0, 0, 'N', 'O', 'P', 'E', 0, 0, 0, 0, 0, 0, 0, 0},  // identifier
      {12, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F, 'M', 'T', 'R', '1', 1, 2, 3, 4},  // bad root
  };
  for (const auto& frame : bad) {
    FrameDecoder d;
    d.Append(frame);
    const wire::Envelope* env;
    EXPECT_FALSE(d.Next(&env));
    EXPECT_EQ(d.status().code(), Status::Code::kCorruption) << d.status().ToString();
  }
}

TEST(FrameTest, ReleaseIfEmptyFreesTheBufferOnlyWhenEmpty) {
  FrameDecoder d;
  auto f = PingFrame(1);
  d.Append(std::span<const uint8_t>(f.data(), 3));
  d.ReleaseIfEmpty();
  EXPECT_EQ(d.buffered_bytes(), 3u);  // a partial frame stays
  d.Append(std::span<const uint8_t>(f.data() + 3, f.size() - 3));
  const wire::Envelope* env;
  ASSERT_TRUE(d.Next(&env));
  d.ReleaseIfEmpty();
  EXPECT_EQ(d.capacity(), 0u);
}

TEST(FrameTest, PropertyMutatedFramesYieldVerifiedEnvelopesOrAnError) {
  std::mt19937_64 rng(99);
  for (int i = 0; i < 5000; ++i) {
    auto f = i % 2 ? PingFrame(rng()) : HelloFrame(std::string(rng() % 40, 'x'));
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < flips; ++k) f[4 + rng() % (f.size() - 4)] ^= 1 + rng() % 255;
    FrameDecoder d;
    d.Append(f);
    const wire::Envelope* env;
    while (d.Next(&env)) {
      // A verified envelope is safe to read whatever the flips did.
      (void)RequestIdOf(*env);
      if (env->message_type() == wire::Message::Hello)
        (void)View(env->message_as_Hello()->api_key());
    }
  }
}

TEST(MessagesTest, StatusCodesMapToWireCodesAndBack) {
  for (const Status& s :
       {Status::NotFound("x"), Status::InvalidArgument("y"), Status::PermissionDenied("z"),
        Status::OutOfRange("w"), Status::AlreadyExists("v"), Status::Unauthenticated("u"),
        Status::Unavailable("t"), Status::ResourceExhausted("s")}) {
    EXPECT_EQ(FromWire(ToWireCode(s), s.message()).code(), s.code());
  }
  // A closed store travels as code 11 (docs/protocol.md); a draining server's connection-level
  // ShuttingDown means the same to a client: resend later.
  EXPECT_EQ(static_cast<int>(ToWireCode(Status::Unavailable("store is closed"))), 11);
  EXPECT_EQ(FromWire(wire::ErrorCode::ShuttingDown, "").code(), Status::Code::kUnavailable);
  EXPECT_EQ(FromWire(wire::ErrorCode::FrameTooLarge, "").code(), Status::Code::kOutOfRange);
  // A full disk travels as code 12; the client resends the batch later (never drops it).
  EXPECT_EQ(static_cast<int>(ToWireCode(Status::ResourceExhausted("disk full"))), 12);
}

}  // namespace frame_test
}  // namespace meterd::net
