//===- InputGuard.cpp - keep pathological input from crashing tools -------===//

#include "kha/Support/InputGuard.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Support/thread.h"

#include <cstdio>
#include <unistd.h>

using namespace mlir;

std::optional<size_t> kha::findExcessiveNesting(llvm::StringRef text,
                                                unsigned maxDepth) {
  unsigned depth = 0;
  for (size_t i = 0, e = text.size(); i < e; ++i) {
    char c = text[i];
    if (c == '"') {
      // Skip the string, honouring escapes.
      for (++i; i < e && text[i] != '"'; ++i)
        if (text[i] == '\\')
          ++i;
      continue;
    }
    if (c == '/' && i + 1 < e && text[i + 1] == '/') {
      i = text.find('\n', i);
      if (i == llvm::StringRef::npos)
        break;
      continue;
    }
    if (c == '(' || c == '[' || c == '{' || c == '<') {
      if (++depth > maxDepth)
        return i;
    } else if (c == ')' || c == ']' || c == '}' ||
               (c == '>' && (i == 0 || text[i - 1] != '-'))) {
      // Unbalanced closers (`>=` in affine sets) only make the count lower.
      if (depth > 0)
        --depth;
    }
  }
  return std::nullopt;
}

std::pair<unsigned, unsigned> kha::getLineAndColumn(llvm::StringRef text,
                                                    size_t offset) {
  llvm::StringRef before = text.take_front(offset);
  size_t lineStart = before.rfind('\n');
  unsigned column =
      lineStart == llvm::StringRef::npos ? offset + 1 : offset - lineStart;
  return {static_cast<unsigned>(before.count('\n')) + 1, column};
}

/// Puts `text` back as the process's standard input, through a temporary file,
/// after it was read for checking.
static bool restoreStdin(llvm::StringRef text) {
  std::FILE *file = std::tmpfile();
  if (!file)
    return false;
  bool ok = std::fwrite(text.data(), 1, text.size(), file) == text.size() &&
            std::fflush(file) == 0 && std::fseek(file, 0, SEEK_SET) == 0 &&
            ::dup2(fileno(file), STDIN_FILENO) >= 0;
  std::fclose(file); // fd 0 keeps the (already unlinked) file open.
  return ok;
}

bool kha::checkInputNesting(llvm::StringRef filename, unsigned maxDepth) {
  bool isStdin = filename == "-";
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      isStdin ? llvm::MemoryBuffer::getSTDIN()
              : llvm::MemoryBuffer::getFile(filename, /*IsText=*/true);
  if (!buffer)
    return true; // The tool reports unreadable files itself.
  llvm::StringRef text = (*buffer)->getBuffer();
  std::optional<size_t> offset = findExcessiveNesting(text, maxDepth);
  if (!offset) {
    if (isStdin && !restoreStdin(text)) {
      llvm::WithColor::error(llvm::errs(), "", /*DisableColors=*/true)
          << "cannot buffer standard input\n";
      return false;
    }
    return true;
  }
  auto [line, column] = getLineAndColumn(text, *offset);
  llvm::errs() << (isStdin ? "<stdin>" : filename) << ":" << line << ":"
               << column << ": ";
  llvm::WithColor::error(llvm::errs(), "", /*DisableColors=*/true)
      << "input nested more than " << maxDepth << " levels deep\n";
  return false;
}

int kha::runWithLargeStack(llvm::function_ref<int()> body,
                           unsigned stackBytes) {
  int result = 1;
  llvm::thread worker(std::optional<unsigned>(stackBytes),
                      [&] { result = body(); });
  worker.join();
  return result;
}
