// meterd — net/ingest/body_codec.h
//
// Request body decompression for HTTP ingest: gzip (Content-Encoding: gzip, zlib) and snappy's
// block format (Prometheus remote_write, libsnappy). Both refuse output above `max_bytes`, so a
// small compressed body cannot make meterd allocate without bound (a "zip bomb").
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace meterd::net::ingest {

enum class DecodeResult { kOk, kMalformed, kTooLarge };

// gzip (RFC 1952; several members in a row are read as one stream, as gunzip does).
DecodeResult Gunzip(std::string_view in, size_t max_bytes, std::string* out, std::string* why);
// snappy block format (not the framing format).
DecodeResult SnappyUncompress(std::string_view in, size_t max_bytes, std::string* out,
                              std::string* why);

// Compression, for tests and benchmarks.
std::string GzipCompress(std::string_view in);
std::string SnappyCompress(std::string_view in);

}  // namespace meterd::net::ingest
