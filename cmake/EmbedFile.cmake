# Writes the text of INPUT into OUTPUT as a C++ raw string literal, so that a
# source file can `#include` it as the initialiser of a char array:
#   cmake -DINPUT=in.mlir -DOUTPUT=out.inc -P EmbedFile.cmake
file(READ "${INPUT}" content)
string(FIND "${content}" ")kha_embedded\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw string's delimiter")
endif()
file(WRITE "${OUTPUT}" "R\"kha_embedded(${content})kha_embedded\"\n")
