module {
  func.func @f() {
