// meterd — net/meterctl/compressed_input.h: a file read as text, plain or compressed.
//
// OpenTextInput opens a file for `meterctl backfill` (and any command reading a large text
// file) and decompresses it on the fly when its first bytes are a gzip (1f 8b) or zstd
// (28 b5 2f fd) magic, whatever its name: zlib and libzstd (Debian's zlib1g-dev, libzstd-dev),
// streaming, so memory is two buffers of kCompressedInputBuffer bytes whatever the size of the
// file. Concatenated gzip members and zstd frames are read one after the other, as gzip -dc and
// zstd -dc do. A corrupt or truncated stream sets the stream's badbit; error() says why.
//
// Thread-safety: a TextInput is used by one thread.
#pragma once

#include <cstdint>
#include <istream>
#include <memory>
#include <streambuf>
#include <string>

#include "storage/base/result.h"

namespace meterd::cli {

enum class TextCompression { kNone, kGzip, kZstd };
const char* TextCompressionName(TextCompression c);
// What the first bytes of a file say it is (kNone for anything but the two magics).
TextCompression DetectTextCompression(const unsigned char* head, size_t n);

inline constexpr size_t kCompressedInputBuffer = 1 << 18;

class TextInput {
 public:
  virtual ~TextInput() = default;
  virtual std::istream& stream() = 0;
  virtual TextCompression compression() const = 0;
  // Bytes of the file consumed so far (compressed bytes for a compressed file): progress
  // against the file's size.
  virtual uint64_t file_bytes_read() const = 0;
  // Why reading failed (empty while it has not).
  virtual std::string error() const = 0;
};

// NotFound when the file cannot be opened.
Result<std::unique_ptr<TextInput>> OpenTextInput(const std::string& path);

}  // namespace meterd::cli
