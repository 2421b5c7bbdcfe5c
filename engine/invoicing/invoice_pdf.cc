// meterd — engine/invoicing/invoice_pdf.cc
#include "engine/invoicing/invoice_pdf.h"

#include <hpdf.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/invoicing/invoice_layout.h"
#include "storage/base/calendar.h"

namespace meterd::engine::invoicing {
namespace {

// The single-byte code pages tried in order for a non-ASCII character (libharu's encoders).
constexpr std::array<const char*, 6> kCodePages = {"CP1252", "CP1250", "CP1251",
                                                   "CP1253", "CP1254", "CP1257"};
constexpr int kUtf8 = static_cast<int>(kCodePages.size());  // the CID font fallback
constexpr int kEncodings = kUtf8 + 1;

enum Style { kRegular = 0, kBold = 1 };

// Page geometry (points; A4 is 595.28 x 841.89).
constexpr float kLeft = 42;
constexpr float kRight = 553;
constexpr float kTop = 800;
constexpr float kBottom = 52;  // the lowest baseline of content; the page number sits below
constexpr float kBodySize = 9;
constexpr float kRowHeight = 12.5f;
// Right edges of the amount columns of a table, and the widest the first column may be.
constexpr std::array<float, 3> kColumnRight = {382, 468, kRight};
constexpr float kFirstColumnWidth = 272;

void OnError(HPDF_STATUS error, HPDF_STATUS detail, void* user);

// One run of text in one encoding: the bytes to show.
struct Run {
  int encoding = 0;
  std::string bytes;
};

// A thread's libharu document, reused from one PDF to the next (see invoice_pdf.h).
class Context {
 public:
  Status Init() {
    doc_ = HPDF_New(OnError, this);
    if (!doc_) return Status::IOError("libharu: cannot create a document");
    HPDF_UseUTFEncodings(doc_);
    regular_ = HPDF_LoadTTFontFromFile(doc_, kInvoiceFontPath, HPDF_TRUE);
    if (!regular_) return FontError(kInvoiceFontPath);
    // Unicode -> byte of each code page, from libharu's own encoder tables.
    for (size_t e = 0; e < kCodePages.size(); ++e) {
      HPDF_Encoder enc = HPDF_GetEncoder(doc_, kCodePages[e]);
      if (!enc) return Error("encoder " + std::string(kCodePages[e]));
      maps_[e].assign(0x10000, 0);
      for (int b = 0x20; b < 0x100; ++b) {
        const HPDF_UNICODE u = HPDF_Encoder_GetUnicode(enc, static_cast<HPDF_UINT16>(b));
        if (u != 0 && maps_[e][u] == 0) maps_[e][u] = static_cast<uint8_t>(b);
      }
      // Code page 1253 names these glyphs Delta, Omega and mu, which readers (poppler's
      // pdftotext) map to the increment, ohm and micro signs; shown through the UTF-8 font,
      // whose ToUnicode map is exact, they read back as the Greek letters.
      for (char32_t greek : {U'\u0394', U'\u03A9', U'\u03BC'}) maps_[e][greek] = 0;
    }
    return Check("loading the font");
  }
  ~Context() {
    if (doc_) HPDF_Free(doc_);
  }

  // Starts a new document (the first one was started by HPDF_New).
  Status Begin(const PdfOptions& options) {
    if (used_ && HPDF_NewDoc(doc_) != HPDF_OK) return Check("HPDF_NewDoc");
    used_ = true;
    error_ = HPDF_OK;
    fonts_ = {};
    options_ = options;
    if (options.bold_font && !bold_) {
      bold_ = HPDF_LoadTTFontFromFile(doc_, kInvoiceBoldFontPath, HPDF_TRUE);
      if (!bold_) return FontError(kInvoiceBoldFontPath);
    }
    HPDF_SetCompressionMode(doc_, options.compress_fonts ? HPDF_COMP_ALL : HPDF_COMP_TEXT);
    return Check("starting a document");
  }

  HPDF_Doc doc() const { return doc_; }

  HPDF_Font Font(Style style, int encoding) {
    HPDF_Font& f = fonts_[style][encoding];
    if (!f) {
      const char* name = style == kBold && options_.bold_font ? bold_ : regular_;
      f = HPDF_GetFont(doc_, name, encoding == kUtf8 ? "UTF-8" : kCodePages[encoding]);
    }
    return f;
  }
  // Whether bold text is the regular font stroked.
  bool fake_bold() const { return !options_.bold_font; }

  // UTF-8 text as runs of encodings: control characters print as "?", a byte that is not
  // UTF-8 and a character beyond U+FFFF as U+FFFD (the replacement character).
  std::vector<Run> Segment(std::string_view text) const {
    std::vector<Run> runs;
    size_t i = 0;
    while (i < text.size()) {
      char32_t cp = Decode(text, i);
      if (cp < 0x20 || cp == 0x7F) cp = '?';
      // libharu's UTF-8 font is the Basic Multilingual Plane's (it drops an emoji silently).
      if (cp >= 0x10000 || (cp >= 0xD800 && cp < 0xE000)) cp = 0xFFFD;
      int enc;
      uint8_t byte = 0;
      if (cp < 0x80) {
        enc = runs.empty() ? 0 : runs.back().encoding;
        byte = static_cast<uint8_t>(cp);
      } else {
        enc = -1;
        if (!runs.empty() && runs.back().encoding != kUtf8 && cp < 0x10000 &&
            maps_[runs.back().encoding][cp] != 0) {
          enc = runs.back().encoding;
        }
        for (int e = 0; enc < 0 && e < kUtf8; ++e) {
          if (cp < 0x10000 && maps_[e][cp] != 0) enc = e;
        }
        if (enc < 0) enc = kUtf8;
        if (enc != kUtf8) byte = maps_[enc][cp];
      }
      if (runs.empty() || runs.back().encoding != enc) runs.push_back(Run{enc, {}});
      if (enc == kUtf8) {
        AppendUtf8(runs.back().bytes, cp);
      } else {
        runs.back().bytes += static_cast<char>(byte);
      }
    }
    return runs;
  }

  // The first error libharu reported since Begin, as a Status.
  Status Check(std::string_view what) const {
    if (error_ == HPDF_OK) return Status::OK();
    char buf[96];
    std::snprintf(buf, sizeof buf, "libharu error 0x%04X (detail %u) ",
                  static_cast<unsigned>(error_), static_cast<unsigned>(detail_));
    return Status::IOError(std::string(buf) + std::string(what));
  }
  void Record(HPDF_STATUS error, HPDF_STATUS detail) {
    if (error_ == HPDF_OK) {
      error_ = error;
      detail_ = detail;
    }
  }

 private:
  static void AppendUtf8(std::string& out, char32_t cp) {  // REQUIRES: cp < 0x10000
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  // The code point at s[i], advancing i; U+FFFD for a byte that does not start a whole UTF-8
  // character (advancing one byte).
  static char32_t Decode(std::string_view s, size_t& i) {
    const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) {
      ++i;
      return 0xFFFD;
    }
    char32_t cp = len == 1 ? c : c & (0x7F >> len);
    for (int k = 1; k < len; ++k) {
      if ((b(i + k) & 0xC0) != 0x80) {
        ++i;
        return 0xFFFD;
      }
      cp = (cp << 6) | (b(i + k) & 0x3F);
    }
    i += len;
    return cp;
  }
  Status FontError(const char* path) const {
    if (error_ == HPDF_FILE_OPEN_ERROR) {
      return Status::NotFound(std::string("invoice font ") + path +
                              " not found (Debian package fonts-dejavu-core)");
    }
    return Check(std::string("loading ") + path);
  }
  Status Error(const std::string& what) const {
    Status s = Check(what);
    return s.ok() ? Status::IOError("libharu: " + what) : s;
  }

  HPDF_Doc doc_ = nullptr;
  bool used_ = false;
  const char* regular_ = nullptr;
  const char* bold_ = nullptr;
  PdfOptions options_;
  std::array<std::array<HPDF_Font, kEncodings>, 2> fonts_{};
  std::array<std::vector<uint8_t>, kCodePages.size()> maps_;
  HPDF_STATUS error_ = HPDF_OK;
  HPDF_STATUS detail_ = 0;
};

void OnError(HPDF_STATUS error, HPDF_STATUS detail, void* user) {
  static_cast<Context*>(user)->Record(error, detail);
}

// Lays the printed invoice out on pages.
class Writer {
 public:
  Writer(Context& ctx, const PrintedInvoice& p) : ctx_(ctx), p_(p) {}

  void Write() {
    NewPage();
    Header();
    for (const PrintedTable& t : p_.tables) Table(t);
    Totals();
    Notes();
    PageNumbers();
  }

 private:
  enum Align { kLeftAlign, kRightAlign, kCenter };

  float Width(std::string_view text, Style style, float size) {
    float w = 0;
    for (const Run& r : ctx_.Segment(text)) {
      HPDF_TextWidth tw = HPDF_Font_TextWidth(ctx_.Font(style, r.encoding),
                                              reinterpret_cast<const HPDF_BYTE*>(r.bytes.data()),
                                              static_cast<HPDF_UINT>(r.bytes.size()));
      w += static_cast<float>(tw.width) * size / 1000.0f;
    }
    return w;
  }

  // Draws text with its left edge, right edge or centre at x.
  void Text(float x, float y, std::string_view text, Style style = kRegular, float size = kBodySize,
            Align align = kLeftAlign) {
    if (text.empty()) return;
    if (align != kLeftAlign) {
      const float w = Width(text, style, size);
      x -= align == kRightAlign ? w : w / 2;
    }
    const bool stroke = style == kBold && ctx_.fake_bold();
    HPDF_Page_BeginText(page_);
    if (stroke) HPDF_Page_SetTextRenderingMode(page_, HPDF_FILL_THEN_STROKE);
    HPDF_Page_MoveTextPos(page_, x, y);
    for (const Run& r : ctx_.Segment(text)) {
      HPDF_Page_SetFontAndSize(page_, ctx_.Font(style, r.encoding), size);
      HPDF_Page_ShowText(page_, r.bytes.c_str());
    }
    if (stroke) HPDF_Page_SetTextRenderingMode(page_, HPDF_FILL);
    HPDF_Page_EndText(page_);
  }

  // Text cut with an ellipsis to fit `width`.
  std::string Fit(const std::string& text, float width, Style style = kRegular,
                  float size = kBodySize) {
    if (Width(text, style, size) <= width) return text;
    std::string cut = text;
    while (!cut.empty()) {
      // Drop one UTF-8 character.
      size_t k = cut.size() - 1;
      while (k > 0 && (static_cast<unsigned char>(cut[k]) & 0xC0) == 0x80) --k;
      cut.resize(k);
      if (Width(cut + "\u2026", style, size) <= width) break;
    }
    return cut + "\u2026";
  }

  void Rule(float y, float x0 = kLeft, float x1 = kRight) {
    HPDF_Page_GSave(page_);  // keeps the thin line of stroked bold text
    HPDF_Page_SetLineWidth(page_, 0.5f);
    HPDF_Page_MoveTo(page_, x0, y);
    HPDF_Page_LineTo(page_, x1, y);
    HPDF_Page_Stroke(page_);
    HPDF_Page_GRestore(page_);
  }

  void NewPage() {
    page_ = HPDF_AddPage(ctx_.doc());
    HPDF_Page_SetSize(page_, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
    pages_.push_back(page_);
    y_ = kTop;
    if (ctx_.fake_bold()) HPDF_Page_SetLineWidth(page_, 0.3f);
    if (!p_.watermark.empty()) Watermark();
  }

  // Large light-grey diagonal capitals under the content, drawn as strokes rather than text
  // so that text extraction (pdftotext, search, screen readers) reads the invoice undisturbed;
  // the state is also printed as text in the header ("Status: DRAFT").
  void Watermark() {
    const float unit = 17;           // one grid step of the stroke font
    const float advance = 6 * unit;  // per letter: 4 wide + 2 apart
    const float w = advance * static_cast<float>(p_.watermark.size()) - 2 * unit;
    const float scale = std::min(1.0f, 640 / w);  // fits the page's diagonal
    const float c = 0.70710678f * scale;          // 45 degrees
    HPDF_Page_GSave(page_);
    HPDF_Page_SetGrayStroke(page_, 0.86f);
    HPDF_Page_SetLineWidth(page_, 2.2f * unit / 4);
    HPDF_Page_SetLineCap(page_, HPDF_ROUND_END);
    HPDF_Page_SetLineJoin(page_, HPDF_ROUND_JOIN);
    // Centre the word (w x 6 units) on the page's centre.
    const float cx = (kLeft + kRight) / 2, cy = 421;
    const float hx = w / 2, hy = 3 * unit;
    HPDF_Page_Concat(page_, c, c, -c, c, cx - (c * hx - c * hy), cy - (c * hx + c * hy));
    float x = 0;
    for (char ch : p_.watermark) {
      for (const auto& stroke : StrokeLetter(ch)) {
        for (size_t i = 0; i < stroke.size(); ++i) {
          const float px = x + stroke[i].first * unit, py = stroke[i].second * unit;
          if (i == 0) {
            HPDF_Page_MoveTo(page_, px, py);
          } else {
            HPDF_Page_LineTo(page_, px, py);
          }
        }
      }
      x += advance;
    }
    HPDF_Page_Stroke(page_);
    HPDF_Page_GRestore(page_);
  }

  // Polylines of a capital on a 4 x 6 grid (the letters of DRAFT, PROVISIONAL and VOID).
  using Stroke = std::vector<std::pair<float, float>>;
  static std::vector<Stroke> StrokeLetter(char c) {
    switch (c) {
      case 'A':
        return {{{0, 0}, {2, 6}, {4, 0}}, {{0.67f, 2}, {3.33f, 2}}};
      case 'D':
        return {{{0, 0}, {0, 6}, {2.5f, 6}, {4, 4.5f}, {4, 1.5f}, {2.5f, 0}, {0, 0}}};
      case 'F':
        return {{{4, 6}, {0, 6}, {0, 0}}, {{0, 3}, {3, 3}}};
      case 'I':
        return {{{2, 0}, {2, 6}}, {{1, 0}, {3, 0}}, {{1, 6}, {3, 6}}};
      case 'L':
        return {{{0, 6}, {0, 0}, {4, 0}}};
      case 'N':
        return {{{0, 0}, {0, 6}, {4, 0}, {4, 6}}};
      case 'O':
        return {{{1, 0}, {0, 1}, {0, 5}, {1, 6}, {3, 6}, {4, 5}, {4, 1}, {3, 0}, {1, 0}}};
      case 'P':
        return {{{0, 0}, {0, 6}, {3, 6}, {4, 5}, {4, 4}, {3, 3}, {0, 3}}};
      case 'R':
        return {{{0, 0}, {0, 6}, {3, 6}, {4, 5}, {4, 4}, {3, 3}, {0, 3}}, {{2, 3}, {4, 0}}};
      case 'S':
        return {{{4, 5},
                 {3, 6},
                 {1, 6},
                 {0, 5},
                 {0, 4},
                 {1, 3},
                 {3, 3},
                 {4, 2},
                 {4, 1},
                 {3, 0},
                 {1, 0},
                 {0, 1}}};
      case 'T':
        return {{{0, 6}, {4, 6}}, {{2, 6}, {2, 0}}};
      case 'V':
        return {{{0, 6}, {2, 0}, {4, 6}}};
      default:
        return {};
    }
  }

  // Moves down by `h`, starting a new page when the content would pass the bottom margin.
  // Returns whether a page was started.
  bool Advance(float h) {
    if (y_ - h < kBottom) {
      NewPage();
      y_ -= h;
      return true;
    }
    y_ -= h;
    return false;
  }

  void Header() {
    // Left: the issuer. Right: the title and the document's facts.
    float yl = y_;
    for (size_t i = 0; i < p_.issuer.size(); ++i) {
      const bool name = i == 0;
      Text(kLeft, yl, Fit(p_.issuer[i], 280, name ? kBold : kRegular, name ? 12 : kBodySize),
           name ? kBold : kRegular, name ? 12 : kBodySize);
      yl -= name ? 15 : 11;
    }
    float yr = y_ - 4;
    Text(kRight, yr, p_.title, kBold, 20, kRightAlign);
    yr -= 20;
    for (const auto& [label, value] : p_.facts) {
      Text(kRight, yr, label + ": " + value, kRegular, kBodySize, kRightAlign);
      yr -= 11;
    }
    y_ = std::min(yl, yr) - 12;
    Text(kLeft, y_, "Bill to", kBold);
    y_ -= 12;
    for (size_t i = 0; i < p_.customer.size(); ++i) {
      Text(kLeft, y_, Fit(p_.customer[i], kRight - kLeft), i == 0 ? kBold : kRegular);
      y_ -= 11;
    }
    y_ -= 10;
    // The period line, made smaller rather than cut when it is wide.
    float size = kBodySize;
    const float w = Width(p_.period_line, kRegular, size);
    if (w > kRight - kLeft) size = std::max(5.0f, size * (kRight - kLeft) / w);
    Text(kLeft, y_, p_.period_line, kRegular, size);
    y_ -= 8;
  }

  void Row(const std::vector<std::string>& cells, Style style) {
    if (!cells.empty() && !cells[0].empty()) {
      // A long name is set smaller (down to 7 pt) before it is cut.
      float size = kBodySize;
      const float w = Width(cells[0], style, size);
      if (w > kFirstColumnWidth) size = std::max(7.0f, size * kFirstColumnWidth / w);
      Text(kLeft, y_, Fit(cells[0], kFirstColumnWidth, style, size), style, size);
    }
    for (size_t i = 1; i < cells.size() && i <= kColumnRight.size(); ++i) {
      Text(kColumnRight[i - 1], y_, cells[i], style, kBodySize, kRightAlign);
    }
  }

  void TableHeader(const PrintedTable& t) {
    Row(t.header, kBold);
    Rule(y_ - 3.5f);
  }

  void Table(const PrintedTable& t) {
    // Room for the gap, the header and one row; else the table starts on the next page.
    if (y_ - (10 + 2 * kRowHeight) < kBottom) {
      NewPage();
    } else {
      y_ -= 10;
    }
    y_ -= kRowHeight;
    TableHeader(t);
    for (const auto& row : t.rows) {
      if (Advance(kRowHeight)) {
        TableHeader(t);
        y_ -= kRowHeight;
      }
      Row(row, kRegular);
    }
    if (!t.footer.empty()) {
      if (Advance(kRowHeight + 2)) {
        TableHeader(t);
        y_ -= kRowHeight;
      }
      Rule(y_ + kRowHeight - 3.5f, kColumnRight[1] + 10, kRight);
      Row(t.footer, kBold);
    }
  }

  void Totals() {
    // The totals stay together: on the next page when they do not fit below the tables.
    const float height = 8 + kRowHeight * static_cast<float>(p_.totals.size()) + 4;
    if (y_ - height < kBottom) {
      NewPage();
    } else {
      y_ -= 8;
    }
    for (size_t i = 0; i < p_.totals.size(); ++i) {
      const auto& [label, amount] = p_.totals[i];
      const bool last = i + 1 == p_.totals.size();
      const bool strong = last || label == "Total";
      Advance(last ? kRowHeight + 4 : kRowHeight);
      if (last) Rule(y_ + kRowHeight - 3.5f, kColumnRight[0], kRight);
      Text(kColumnRight[1], y_, label, strong ? kBold : kRegular, kBodySize, kRightAlign);
      Text(kRight, y_, amount, strong ? kBold : kRegular, kBodySize, kRightAlign);
    }
  }

  void Notes() {
    if (p_.notes.empty()) return;
    y_ -= 8;
    if (y_ - kRowHeight - 10.5f < kBottom) NewPage();  // the heading with its first line
    Advance(kRowHeight);
    Text(kLeft, y_, "Notes", kBold);
    const float size = 8;
    for (const std::string& note : p_.notes) {
      // Word-wrap to the page width.
      size_t start = 0;
      while (start < note.size()) {
        size_t end = note.size();
        while (end > start && Width(std::string_view(note).substr(start, end - start), kRegular,
                                    size) > kRight - kLeft) {
          const size_t space = note.rfind(' ', end - 1);
          end = space == std::string::npos || space <= start ? end - 1 : space;
        }
        if (end == start) end = note.size();  // cannot happen with a positive width; be safe
        Advance(10.5f);
        Text(kLeft, y_, std::string_view(note).substr(start, end - start), kRegular, size);
        start = end;
        while (start < note.size() && note[start] == ' ') ++start;
      }
    }
  }

  void PageNumbers() {
    const std::string total = std::to_string(pages_.size());
    for (size_t i = 0; i < pages_.size(); ++i) {
      page_ = pages_[i];
      Text(kRight, 28, "Page " + std::to_string(i + 1) + " of " + total, kRegular, 8, kRightAlign);
    }
  }

  Context& ctx_;
  const PrintedInvoice& p_;
  HPDF_Page page_ = nullptr;
  std::vector<HPDF_Page> pages_;
  float y_ = kTop;
};

HPDF_Date PdfDate(int64_t t) {
  const int64_t day = base::DayOf(t);
  const base::CivilDate c = base::CivilFromDays(day);
  const int64_t s = t - day * base::kSecondsPerDay;
  HPDF_Date d{};
  d.year = static_cast<HPDF_INT>(std::clamp<int64_t>(c.year, 1, 9999));
  d.month = static_cast<HPDF_INT>(c.month);
  d.day = static_cast<HPDF_INT>(c.day);
  d.hour = static_cast<HPDF_INT>(s / 3600);
  d.minutes = static_cast<HPDF_INT>(s / 60 % 60);
  d.seconds = static_cast<HPDF_INT>(s % 60);
  d.ind = 'Z';
  return d;
}

thread_local std::unique_ptr<Context> t_context;

}  // namespace

Result<std::string> RenderInvoicePdf(const Invoice& invoice) {
  return RenderInvoicePdf(invoice, PdfOptions{});
}

Result<std::string> RenderInvoicePdf(const Invoice& invoice, const PdfOptions& options) {
  const PrintedInvoice printed = PrintInvoice(invoice);
  if (!t_context) {
    auto ctx = std::make_unique<Context>();
    if (Status s = ctx->Init(); !s.ok()) return s;
    t_context = std::move(ctx);
  }
  Context& ctx = *t_context;
  // Any failure drops the thread's document: the next PDF starts from a fresh one.
  auto fail = [](Status s) -> Result<std::string> {
    t_context.reset();
    return s;
  };
  if (Status s = ctx.Begin(options); !s.ok()) return fail(s);
  HPDF_Doc doc = ctx.doc();
  const int64_t when = invoice.issued_at != 0 ? invoice.issued_at : invoice.created_at;
  HPDF_SetInfoDateAttr(doc, HPDF_INFO_CREATION_DATE, PdfDate(when));
  HPDF_SetInfoAttr(doc, HPDF_INFO_CREATOR, "meterd");
  Writer(ctx, printed).Write();
  if (Status s = ctx.Check("rendering the invoice"); !s.ok()) return fail(s);
  if (HPDF_SaveToStream(doc) != HPDF_OK) return fail(ctx.Check("saving the PDF"));
  HPDF_UINT32 size = HPDF_GetStreamSize(doc);
  std::string out(size, '\0');
  HPDF_UINT32 read = size;
  if (size == 0 ||
      HPDF_ReadFromStream(doc, reinterpret_cast<HPDF_BYTE*>(out.data()), &read) != HPDF_OK) {
    // ReadFromStream answers HPDF_STREAM_EOF having read everything.
    if (read != size) return fail(ctx.Check("reading the PDF"));
  }
  out.resize(read);
  return out;
}

}  // namespace meterd::engine::invoicing
