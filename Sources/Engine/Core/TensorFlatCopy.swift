/// Copies between a tensor and a slice of a flat float array, so that several tensors can travel
/// in one buffer (a data-parallel gradient bucket) without unsafe code outside the engine.
extension Tensor {
  /// Writes this tensor's elements into `buffer[offset ..< offset + count]`.
  public func write(into buffer: inout [Float], at offset: Int) {
    precondition(offset >= 0 && offset + count <= buffer.count, "write(into:): \(count) values at \(offset) of \(buffer.count)")
    let n = count, source = pointer
    buffer.withUnsafeMutableBufferPointer { $0.baseAddress!.advanced(by: offset).update(from: source, count: n) }
  }

  /// Fills this tensor with `buffer[offset ..< offset + count]`.
  public func read(from buffer: [Float], at offset: Int) {
    precondition(offset >= 0 && offset + count <= buffer.count, "read(from:): \(count) values at \(offset) of \(buffer.count)")
    let n = count, destination = pointer
    buffer.withUnsafeBufferPointer { destination.update(from: $0.baseAddress!.advanced(by: offset), count: n) }
  }

  /// A new tensor of `shape` holding `buffer[offset ..< offset + count]`.
  public init(shape: [Int], from buffer: [Float], at offset: Int) {
    self.init(uninitialized: shape)
    read(from: buffer, at: offset)
  }
}
