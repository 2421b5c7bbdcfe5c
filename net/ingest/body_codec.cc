// meterd — net/ingest/body_codec.cc
#include "net/ingest/body_codec.h"

#include <snappy.h>
#include <zlib.h>

namespace meterd::net::ingest {

DecodeResult Gunzip(std::string_view in, size_t max_bytes, std::string* out, std::string* why) {
  out->clear();
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
    *why = "zlib could not start";
    return DecodeResult::kMalformed;
  }
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  char buf[64 * 1024];
  DecodeResult result = DecodeResult::kOk;
  for (;;) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    const size_t produced = sizeof(buf) - zs.avail_out;
    if (out->size() + produced > max_bytes) {
      *why = "the body inflates to more than " + std::to_string(max_bytes) + " bytes";
      result = DecodeResult::kTooLarge;
      break;
    }
    out->append(buf, produced);
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0) break;
      // Another gzip member follows.
      if (inflateReset(&zs) != Z_OK) {
        *why = "zlib could not continue";
        result = DecodeResult::kMalformed;
        break;
      }
      continue;
    }
    if (rc != Z_OK) {
      *why = std::string("the body is not valid gzip: ") + (zs.msg ? zs.msg : "truncated");
      result = DecodeResult::kMalformed;
      break;
    }
    if (zs.avail_in == 0 && produced == 0) {
      *why = "the body is not valid gzip: truncated";
      result = DecodeResult::kMalformed;
      break;
    }
  }
  inflateEnd(&zs);
  return result;
}

DecodeResult SnappyUncompress(std::string_view in, size_t max_bytes, std::string* out,
                              std::string* why) {
  size_t length = 0;
  if (!snappy::GetUncompressedLength(in.data(), in.size(), &length)) {
    *why = "the body is not valid snappy (block format)";
    return DecodeResult::kMalformed;
  }
  if (length > max_bytes) {
    *why = "the body uncompresses to " + std::to_string(length) + " bytes, over " +
           std::to_string(max_bytes);
    return DecodeResult::kTooLarge;
  }
  if (!snappy::Uncompress(in.data(), in.size(), out)) {
    *why = "the body is not valid snappy (block format)";
    return DecodeResult::kMalformed;
  }
  return DecodeResult::kOk;
}

std::string GzipCompress(std::string_view in) {
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, in.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string SnappyCompress(std::string_view in) {
  std::string out;
  snappy::Compress(in.data(), in.size(), &out);
  return out;
}

}  // namespace meterd::net::ingest
