//===- Npy.cpp - read and write .npy files --------------------------------===//

#include "kha/Runtime/Runtime.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

using namespace kha::runtime;

namespace {
/// Finds `'key': ` in a numpy header dict and returns the position after it.
size_t findKey(const std::string &header, const std::string &key) {
  size_t pos = header.find("'" + key + "'");
  if (pos == std::string::npos)
    return pos;
  pos = header.find(':', pos);
  if (pos == std::string::npos)
    return pos;
  ++pos;
  while (pos < header.size() && header[pos] == ' ')
    ++pos;
  return pos;
}
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
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  std::string bytes((std::istreambuf_iterator<char>(in)),
                    std::istreambuf_iterator<char>());
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
    error = path + ": unsupported .npy format version " +
            std::to_string(major);
    return false;
  }
  if (bytes.size() < headerStart + headerLen) {
    error = path + ": truncated .npy header";
    return false;
  }
  std::string header = bytes.substr(headerStart, headerLen);

  size_t pos = findKey(header, "descr");
  if (pos == std::string::npos || pos >= header.size() ||
      header[pos] != '\'') {
    error = path + ": malformed .npy header (no 'descr')";
    return false;
  }
  size_t end = header.find('\'', pos + 1);
  if (end == std::string::npos) {
    error = path + ": malformed .npy header (descr)";
    return false;
  }
  array.descr = header.substr(pos + 1, end - pos - 1);
  if (!array.descr.empty() && array.descr[0] == '>') {
    error = path + ": big-endian data (" + array.descr + ") is not supported";
    return false;
  }

  pos = findKey(header, "fortran_order");
  if (pos == std::string::npos) {
    error = path + ": malformed .npy header (no 'fortran_order')";
    return false;
  }
  if (header.compare(pos, 4, "True") == 0) {
    error = path + ": Fortran-order arrays are not supported (save a "
                   "C-contiguous array)";
    return false;
  }

  pos = findKey(header, "shape");
  if (pos == std::string::npos || header[pos] != '(') {
    error = path + ": malformed .npy header (no 'shape')";
    return false;
  }
  end = header.find(')', pos);
  if (end == std::string::npos) {
    error = path + ": malformed .npy header (shape)";
    return false;
  }
  array.shape.clear();
  std::string dims = header.substr(pos + 1, end - pos - 1);
  std::stringstream stream(dims);
  std::string item;
  int64_t count = 1;
  while (std::getline(stream, item, ',')) {
    size_t first = item.find_first_not_of(' ');
    if (first == std::string::npos)
      continue;
    item = item.substr(first, item.find_last_not_of(' ') - first + 1);
    if (item.empty() || item.size() > 12 ||
        !std::all_of(item.begin(), item.end(),
                     [](char c) { return std::isdigit(c); })) {
      error = path + ": malformed .npy shape (" + dims + ")";
      return false;
    }
    int64_t size = std::stoll(item);
    array.shape.push_back(size);
    count *= size;
    if (count > (int64_t(1) << 40)) {
      error = path + ": array too large";
      return false;
    }
  }

  int64_t itemSize = 0;
  if (array.descr.size() >= 3)
    itemSize = std::atoi(array.descr.c_str() + 2);
  if (itemSize <= 0) {
    error = path + ": unsupported dtype " + array.descr;
    return false;
  }
  size_t dataStart = headerStart + headerLen;
  size_t expected = static_cast<size_t>(count * itemSize);
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
  std::string header = "{'descr': '" + array.descr +
                       "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < array.shape.size(); ++i)
    header += std::to_string(array.shape[i]) + (array.shape.size() == 1 ? ","
                                                : i + 1 < array.shape.size()
                                                    ? ", "
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
  if (!out) {
    error = path + ": write failed";
    return false;
  }
  return true;
}
