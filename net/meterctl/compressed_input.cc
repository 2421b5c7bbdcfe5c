// meterd — net/meterctl/compressed_input.cc
#include "net/meterctl/compressed_input.h"

#include <zlib.h>
#include <zstd.h>

#include <cstdio>
#include <cstring>
#include <vector>

namespace meterd::cli {
namespace {

// The decompressors behind one streambuf: fill `out` with up to `cap` bytes; 0 at the end.
class TextDecoder {
 public:
  virtual ~TextDecoder() = default;
  // Returns the bytes produced; 0 with error() empty: the end of the stream.
  virtual size_t Read(FILE* f, char* out, size_t cap) = 0;
  std::string error;
  uint64_t consumed = 0;  // file bytes consumed
};

class PlainTextDecoder final : public TextDecoder {
 public:
  size_t Read(FILE* f, char* out, size_t cap) override {
    const size_t n = std::fread(out, 1, cap, f);
    if (n == 0 && std::ferror(f)) error = "read error";
    consumed += n;
    return n;
  }
};

class GzipTextDecoder final : public TextDecoder {
 public:
  GzipTextDecoder() : in_(kCompressedInputBuffer) {
    std::memset(&z_, 0, sizeof(z_));
    ok_ = inflateInit2(&z_, 15 + 16) == Z_OK;  // gzip wrapper only
    if (!ok_) error = "zlib: inflateInit2 failed";
  }
  ~GzipTextDecoder() override {
    if (ok_) inflateEnd(&z_);
  }
  size_t Read(FILE* f, char* out, size_t cap) override {
    if (!ok_ || !error.empty()) return 0;
    z_.next_out = reinterpret_cast<Bytef*>(out);
    z_.avail_out = static_cast<uInt>(cap);
    while (z_.avail_out == cap) {
      if (z_.avail_in == 0) {
        const size_t n = std::fread(in_.data(), 1, in_.size(), f);
        consumed += n;
        if (n == 0) {
          if (std::ferror(f))
            error = "read error";
          else if (!ended_)
            error = "gzip stream is truncated";
          return 0;
        }
        z_.next_in = reinterpret_cast<Bytef*>(in_.data());
        z_.avail_in = static_cast<uInt>(n);
      }
      if (ended_) {
        // Another gzip member follows the one that ended (gzip -dc reads them all).
        inflateReset(&z_);
        ended_ = false;
      }
      const int rc = inflate(&z_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        ended_ = true;
        if (z_.avail_out != cap) break;
        continue;
      }
      if (rc != Z_OK && rc != Z_BUF_ERROR) {
        error = std::string("gzip: ") + (z_.msg ? z_.msg : "corrupt stream");
        return 0;
      }
    }
    return cap - z_.avail_out;
  }

 private:
  z_stream z_;
  bool ok_ = false;
  bool ended_ = false;
  std::vector<char> in_;
};

class ZstdTextDecoder final : public TextDecoder {
 public:
  ZstdTextDecoder() : ctx_(ZSTD_createDCtx()), in_(kCompressedInputBuffer) {
    if (ctx_ == nullptr) error = "zstd: ZSTD_createDCtx failed";
  }
  ~ZstdTextDecoder() override { ZSTD_freeDCtx(ctx_); }
  size_t Read(FILE* f, char* out, size_t cap) override {
    if (ctx_ == nullptr || !error.empty()) return 0;
    ZSTD_outBuffer o{out, cap, 0};
    while (o.pos == 0) {
      if (in_pos_ == in_len_) {
        in_len_ = std::fread(in_.data(), 1, in_.size(), f);
        in_pos_ = 0;
        consumed += in_len_;
        if (in_len_ == 0) {
          if (std::ferror(f))
            error = "read error";
          else if (!frame_done_)
            error = "zstd stream is truncated";
          return 0;
        }
      }
      ZSTD_inBuffer i{in_.data(), in_len_, in_pos_};
      const size_t rc = ZSTD_decompressStream(ctx_, &o, &i);
      in_pos_ = i.pos;
      if (ZSTD_isError(rc)) {
        error = std::string("zstd: ") + ZSTD_getErrorName(rc);
        return 0;
      }
      frame_done_ = rc == 0;  // 0: a frame ended here (another may follow)
    }
    return o.pos;
  }

 private:
  ZSTD_DCtx* ctx_;
  std::vector<char> in_;
  size_t in_len_ = 0, in_pos_ = 0;
  bool frame_done_ = true;
};

class TextDecodingBuf final : public std::streambuf {
 public:
  TextDecodingBuf(FILE* f, std::unique_ptr<TextDecoder> d)
      : f_(f), d_(std::move(d)), buf_(kCompressedInputBuffer) {}
  ~TextDecodingBuf() override { std::fclose(f_); }
  const TextDecoder& decoder() const { return *d_; }

 protected:
  int_type underflow() override {
    if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
    const size_t n = d_->Read(f_, buf_.data(), buf_.size());
    if (n == 0) return traits_type::eof();
    setg(buf_.data(), buf_.data(), buf_.data() + n);
    return traits_type::to_int_type(*gptr());
  }

 private:
  FILE* const f_;
  std::unique_ptr<TextDecoder> d_;
  std::vector<char> buf_;
};

class FileTextInput final : public TextInput {
 public:
  FileTextInput(FILE* f, TextCompression c, std::unique_ptr<TextDecoder> d)
      : compression_(c), buf_(f, std::move(d)), stream_(&buf_) {}
  std::istream& stream() override { return stream_; }
  TextCompression compression() const override { return compression_; }
  uint64_t file_bytes_read() const override { return buf_.decoder().consumed; }
  std::string error() const override { return buf_.decoder().error; }

 private:
  const TextCompression compression_;
  TextDecodingBuf buf_;
  std::istream stream_;
};

}  // namespace

const char* TextCompressionName(TextCompression c) {
  switch (c) {
    case TextCompression::kGzip:
      return "gzip";
    case TextCompression::kZstd:
      return "zstd";
    case TextCompression::kNone:
      break;
  }
  return "none";
}

TextCompression DetectTextCompression(const unsigned char* head, size_t n) {
  if (n >= 2 && head[0] == 0x1f && head[1] == 0x8b) return TextCompression::kGzip;
  if (n >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd) {
    return TextCompression::kZstd;
  }
  return TextCompression::kNone;
}

Result<std::unique_ptr<TextInput>> OpenTextInput(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return Status::NotFound("cannot open " + path + ": " + std::strerror(errno));
  unsigned char head[4] = {};
  const size_t n = std::fread(head, 1, sizeof(head), f);
  std::rewind(f);
  const TextCompression c = DetectTextCompression(head, n);
  std::unique_ptr<TextDecoder> d;
  switch (c) {
    case TextCompression::kGzip:
      d = std::make_unique<GzipTextDecoder>();
      break;
    case TextCompression::kZstd:
      d = std::make_unique<ZstdTextDecoder>();
      break;
    case TextCompression::kNone:
      d = std::make_unique<PlainTextDecoder>();
      break;
  }
  return std::unique_ptr<TextInput>(new FileTextInput(f, c, std::move(d)));
}

}  // namespace meterd::cli
