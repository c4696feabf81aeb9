/// Index arithmetic for strided views into a storage, with overflow checks throughout.
enum TensorView {
  /// Storage index of the view's last element (offset + Σ (size−1)·stride), or nil on overflow.
  /// Only meaningful for non-empty views.
  static func lastElementIndex(shape: [Int], strides: [Int], offset: Int) -> Int? {
    var last = offset
    for (size, stride) in zip(shape, strides) where size > 0 {
      let (step, o1) = (size - 1).multipliedReportingOverflow(by: stride)
      let (sum, o2) = last.addingReportingOverflow(step)
      guard !o1, !o2 else { return nil }
      last = sum
    }
    return last
  }

  /// Copies a strided view out of `span`, whose first element is storage element `base`, into
  /// row-major order. `span` must contain every element the view touches (checked by the caller
  /// with `lastElementIndex`), which also keeps the index arithmetic below from overflowing.
  static func gather(_ span: [UInt8], elementSize: Int, shape: [Int], strides: [Int], offset: Int, base: Int,
                     elementCount: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: elementCount * elementSize)
    guard elementCount > 0 else { return out }
    let rank = shape.count
    // A dimension of size 1 never moves the index, whatever its stride says.
    let steps = zip(shape, strides).map { $0 == 1 ? 0 : $1 }
    var index = [Int](repeating: 0, count: rank)
    var source = offset - base  // in elements, relative to the span
    span.withUnsafeBytes { from in
      out.withUnsafeMutableBytes { to in
        guard let origin = from.baseAddress, let destination = to.baseAddress else { return }
        for element in 0..<elementCount {
          (destination + element * elementSize).copyMemory(from: origin + source * elementSize, byteCount: elementSize)
          // Advance the multi-index like an odometer, last dimension fastest.
          var d = rank - 1
          while d >= 0 {
            index[d] += 1
            source += steps[d]
            if index[d] < shape[d] { break }
            source -= steps[d] * shape[d]
            index[d] = 0
            d -= 1
          }
        }
      }
    }
    return out
  }
}
