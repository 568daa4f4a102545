//===- Npy.cpp - read and write .npy files --------------------------------===//

#include "kha/Runtime/Runtime.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <sys/stat.h>

using namespace kha::runtime;

namespace {
/// The header of an .npy file as numpy writes it: a Python dict literal with
/// exactly the keys 'descr' (a string), 'fortran_order' (True or False) and
/// 'shape' (a tuple of non-negative integers), then spaces and a newline.
/// Anything else (another key, a key twice, a NUL byte, a malformed value)
/// is refused rather than guessed at.
struct HeaderParser {
  const std::string &text;
  size_t pos = 0;

  void skipSpaces() {
    while (pos < text.size() && text[pos] == ' ')
      ++pos;
  }
  bool consume(char c) {
    skipSpaces();
    if (pos < text.size() && text[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }
  bool string(std::string &out) {
    skipSpaces();
    if (pos >= text.size() || (text[pos] != '\'' && text[pos] != '"'))
      return false;
    char quote = text[pos++];
    size_t end = text.find(quote, pos);
    if (end == std::string::npos)
      return false;
    out = text.substr(pos, end - pos);
    pos = end + 1;
    return std::all_of(out.begin(), out.end(), [](char c) {
      return std::isprint(static_cast<unsigned char>(c)) && c != '\\';
    });
  }
  bool word(const char *w) {
    skipSpaces();
    size_t n = std::strlen(w);
    if (text.compare(pos, n, w) != 0)
      return false;
    pos += n;
    return true;
  }
  /// A non-negative integer of at most 18 digits (no overflow), no sign.
  bool integer(int64_t &out) {
    skipSpaces();
    size_t start = pos;
    while (pos < text.size() &&
           std::isdigit(static_cast<unsigned char>(text[pos])))
      ++pos;
    if (pos == start || pos - start > 18)
      return false;
    out = std::stoll(text.substr(start, pos - start));
    return true;
  }
  bool shape(std::vector<int64_t> &out) {
    out.clear();
    if (!consume('('))
      return false;
    if (consume(')'))
      return true;
    while (true) {
      int64_t size;
      if (!integer(size))
        return false;
      out.push_back(size);
      if (consume(')'))
        return out.size() == 1 ? false : true; // (n) is not a tuple
      if (!consume(','))
        return false;
      if (consume(')'))
        return true;
    }
  }
  /// Parses the whole header into `array`; false with `what` on error.
  bool parse(NpyArray &array, bool &fortranOrder, std::string &what) {
    bool seenDescr = false, seenOrder = false, seenShape = false;
    if (!consume('{')) {
      what = "no '{'";
      return false;
    }
    while (!consume('}')) {
      std::string key;
      if (!string(key) || !consume(':')) {
        what = "expected 'key': value";
        return false;
      }
      if (key == "descr" && !seenDescr) {
        seenDescr = string(array.descr);
        if (!seenDescr) {
          what = "descr";
          return false;
        }
      } else if (key == "fortran_order" && !seenOrder) {
        seenOrder = true;
        if (word("True"))
          fortranOrder = true;
        else if (word("False"))
          fortranOrder = false;
        else {
          what = "fortran_order is neither True nor False";
          return false;
        }
      } else if (key == "shape" && !seenShape) {
        seenShape = shape(array.shape);
        if (!seenShape) {
          what = "shape";
          return false;
        }
      } else {
        what = (key == "descr" || key == "fortran_order" || key == "shape")
                   ? "key '" + key + "' twice"
                   : "unexpected key '" + key + "'";
        return false;
      }
      if (!consume(',')) {
        if (!consume('}')) {
          what = "expected ',' or '}'";
          return false;
        }
        break;
      }
    }
    if (!seenDescr || !seenOrder || !seenShape) {
      what = std::string("missing '") +
             (!seenDescr   ? "descr"
              : !seenOrder ? "fortran_order"
                           : "shape") +
             "'";
      return false;
    }
    skipSpaces();
    if (pos < text.size() && text[pos] == '\n')
      ++pos;
    if (pos != text.size()) {
      what = "bytes after the dict";
      return false;
    }
    return true;
  }
};
} // namespace

std::string kha::runtime::numpyTypeName(const std::string &descr) {
  static const char *const names[][2] = {
      {"<f4", "float32"}, {"<f2", "float16"}, {"<f8", "float64"},
      {"<i4", "int32"},   {"<i8", "int64"},   {"|b1", "bool"},
      {"|u1", "uint8"},   {"|i1", "int8"},    {"<u2", "uint16"}};
  for (auto &pair : names)
    if (descr == pair[0])
      return pair[1];
  return "'" + descr + "'";
}

bool kha::runtime::readNpy(const std::string &path, NpyArray &array,
                           std::string &error) {
  // Only regular files: a directory or a device (/dev/zero) is not an array.
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) {
    error = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  if (!S_ISREG(info.st_mode)) {
    error = path + ": not a regular file";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  std::string bytes((std::istreambuf_iterator<char>(in)),
                    std::istreambuf_iterator<char>());
  return parseNpy(bytes, path, array, error);
}

bool kha::runtime::parseNpy(const std::string &bytes, const std::string &path,
                            NpyArray &array, std::string &error) {
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) {
    error = path + ": not an .npy file (no \\x93NUMPY magic)";
    return false;
  }
  unsigned major = static_cast<unsigned char>(bytes[6]);
  size_t headerLen, headerStart;
  if (major == 1) {
    headerLen = static_cast<unsigned char>(bytes[8]) |
                static_cast<unsigned char>(bytes[9]) << 8;
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) {
      error = path + ": truncated .npy header";
      return false;
    }
    headerLen = 0;
    for (int i = 3; i >= 0; --i)
      headerLen = headerLen << 8 | static_cast<unsigned char>(bytes[8 + i]);
    headerStart = 12;
  } else {
    error = path + ": unsupported .npy format version " + std::to_string(major);
    return false;
  }
  if (bytes.size() < headerStart + headerLen) {
    error = path + ": truncated .npy header";
    return false;
  }
  std::string header = bytes.substr(headerStart, headerLen);
  bool fortranOrder = false;
  std::string what;
  HeaderParser parser{header};
  if (!parser.parse(array, fortranOrder, what)) {
    error = path + ": malformed .npy header (" + what + ")";
    return false;
  }
  if (!array.descr.empty() && array.descr[0] == '>') {
    error = path + ": big-endian data (" + array.descr + ") is not supported";
    return false;
  }
  if (fortranOrder) {
    error = path + ": Fortran-order arrays are not supported (save a "
                   "C-contiguous array)";
    return false;
  }
  // The element count, refused above 2^40 before it can overflow.
  const int64_t limit = int64_t(1) << 40;
  int64_t count = 1;
  for (int64_t size : array.shape) {
    if (size != 0 && count > limit / size) {
      error = path + ": array too large (" + formatShape(array.shape) + ")";
      return false;
    }
    count *= size;
  }

  // A simple numpy dtype: byte order, kind, item size in bytes ("<f4").
  const std::string &descr = array.descr;
  int64_t itemSize = 0;
  bool simple = descr.size() >= 3 && descr.size() <= 4 &&
                std::string("<>|=").find(descr[0]) != std::string::npos &&
                std::string("biufc").find(descr[1]) != std::string::npos &&
                std::all_of(descr.begin() + 2, descr.end(),
                            [](char c) { return c >= '0' && c <= '9'; });
  if (simple)
    itemSize = std::atoi(descr.c_str() + 2);
  if (itemSize != 1 && itemSize != 2 && itemSize != 4 && itemSize != 8 &&
      itemSize != 16) {
    error = path + ": unsupported dtype '" + descr + "'";
    return false;
  }
  size_t dataStart = headerStart + headerLen;
  // count <= 2^40 and itemSize <= 16: no overflow.
  size_t expected = static_cast<size_t>(count) * static_cast<size_t>(itemSize);
  if (bytes.size() - dataStart < expected) {
    error = path + ": truncated data: the header promises " +
            std::to_string(expected) + " bytes, the file holds " +
            std::to_string(bytes.size() - dataStart);
    return false;
  }
  if (bytes.size() - dataStart > expected) {
    error = path + ": " + std::to_string(bytes.size() - dataStart - expected) +
            " bytes of trailing data after the array";
    return false;
  }
  array.data.assign(bytes.begin() + dataStart, bytes.end());
  return true;
}

bool kha::runtime::writeNpy(const std::string &path, const NpyArray &array,
                            std::string &error) {
  std::string header =
      "{'descr': '" + array.descr + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < array.shape.size(); ++i)
    header +=
        std::to_string(array.shape[i]) + (array.shape.size() == 1      ? ","
                                          : i + 1 < array.shape.size() ? ", "
                                                                       : "");
  header += "), }";
  // Pad with spaces so that the data starts at a multiple of 64 bytes.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  if (!out) {
    error = path + ": cannot write: " + std::strerror(errno);
    return false;
  }
  out.write("\x93NUMPY\x01\x00", 8);
  char len[2] = {static_cast<char>(header.size() & 0xff),
                 static_cast<char>(header.size() >> 8)};
  out.write(len, 2);
  out << header;
  out.write(array.data.data(), array.data.size());
  // Buffered bytes reach the file (or fail to: /dev/full, a full disk) only
  // when the stream is flushed and closed.
  out.close();
  if (out.fail()) {
    error = path + ": write failed: " + std::strerror(errno);
    return false;
  }
  return true;
}
